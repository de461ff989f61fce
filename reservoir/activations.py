"""Activation functions and their derivatives, by name, on any array namespace.

Shared by the reservoirs (which need only f) and the gradient-trained
networks (which also need f'). Each derivative is written in terms of the
activation's *output* where that is cheaper and is what backpropagation has
at hand: tanh'(z) = 1 - tanh(z)^2, sigmoid'(z) = s (1 - s).
"""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["ACTIVATIONS", "Activation", "get_activation"]


class Activation(NamedTuple):
    """An activation bound to one array namespace.

    Attributes
    ----------
    name : str
    function : callable
        f(z), elementwise.
    derivative_from_output : callable
        f'(z) expressed through a = f(z): the form backpropagation uses.
    """

    name: str
    function: object
    derivative_from_output: object


ACTIVATIONS = ("tanh", "identity", "relu", "sigmoid")


def get_activation(name, xp):
    """Return the :class:`Activation` called ``name`` for namespace ``xp``.

    Parameters
    ----------
    name : {"tanh", "identity", "relu", "sigmoid"}
    xp : array namespace

    Examples
    --------
    >>> import numpy as np
    >>> from reservoir.activations import get_activation
    >>> act = get_activation("tanh", np)
    >>> float(act.derivative_from_output(act.function(np.float64(0.0))))
    1.0
    """
    if name == "tanh":
        return Activation(name, xp.tanh, lambda a: 1.0 - a * a)
    if name == "identity":
        return Activation(name, lambda z: z, lambda a: xp.ones_like(a))
    if name == "relu":
        return Activation(
            name,
            lambda z: xp.where(z > 0, z, xp.zeros_like(z)),
            lambda a: xp.astype(a > 0, a.dtype),
        )
    if name == "sigmoid":
        # 0.5 (1 + tanh(z/2)) is the logistic function without exp overflow.
        return Activation(name, lambda z: 0.5 * (1.0 + xp.tanh(0.5 * z)), lambda a: a * (1.0 - a))
    raise ValueError(f"activation must be one of {ACTIVATIONS}, got {name!r}")
