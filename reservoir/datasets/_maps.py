"""Chaotic maps: iterated exactly, one time step per iteration."""

from __future__ import annotations

import numpy as np

from .._validation import check_generator, check_interval
from ._common import check_initial_condition, check_length, check_real

__all__ = ["henon_map", "logistic_map"]


def henon_map(n_timesteps, *, a=1.4, b=0.3, x0=None, transient=100, random_state=None):
    """Hénon (1976) map.

    .. math::

        x(t+1) = 1 - a\\, x(t)^2 + y(t), \\qquad y(t+1) = b\\, x(t)

    At a = 1.4, b = 0.3 the orbit settles on the Hénon attractor, whose
    largest Lyapunov exponent is 0.419 per iteration (Sprott 2003). The map
    is exactly known, so noise-free one-step prediction is nearly trivial:
    add observation noise for a meaningful benchmark.

    Parameters
    ----------
    n_timesteps : int
    a, b : float, default=1.4, 0.3
    x0 : array-like of shape (2,), optional
        (x, y) at iteration 0. When None, drawn uniformly in [-0.1, 0.1]^2
        (inside the basin of the attractor) from ``random_state``.
    transient : int, default=100
        Iterations discarded before the first row.
    random_state : int, numpy.random.Generator or None, default=None

    Returns
    -------
    ndarray of shape (n_timesteps, 2)
        Columns x, y.

    References
    ----------
    M. Hénon (1976). A two-dimensional mapping with a strange attractor.
    Communications in Mathematical Physics 50, 69-77.

    Examples
    --------
    >>> from reservoir.datasets import henon_map
    >>> henon_map(3, x0=[0.0, 0.0], transient=0)
    array([[ 0. ,  0. ],
           [ 1. ,  0. ],
           [-0.4,  0.3]])
    """
    check_length("n_timesteps", n_timesteps)
    a, b = check_real("a", a), check_real("b", b)
    check_interval("transient", transient, low=0, integer=True)
    if x0 is None:
        state = check_generator(random_state).uniform(-0.1, 0.1, 2)
    else:
        state = check_initial_condition("x0", x0, 2)
    x, y = state.tolist()
    out = np.empty((n_timesteps, 2))
    for t in range(transient + n_timesteps):
        if t >= transient:
            out[t - transient] = x, y
        x, y = 1.0 - a * x * x + y, b * x
    if not np.all(np.isfinite(out)):
        raise RuntimeError(f"the Hénon orbit from x0={state.tolist()} escaped to infinity")
    return out


def logistic_map(n_timesteps, *, r=4.0, x0=None, transient=100, random_state=None):
    """Logistic map.

    .. math::

        x(t+1) = r\\, x(t)\\, (1 - x(t))

    For r = 4 the map is conjugate to the tent map: its Lyapunov exponent is
    exactly ln 2 per iteration and its invariant density is
    1 / (pi sqrt(x (1 - x))), of mean 1/2 and variance 1/8.

    Parameters
    ----------
    n_timesteps : int
    r : float in (0, 4], default=4.0
    x0 : float in (0, 1), optional
        When None, drawn uniformly in (0, 1) from ``random_state``.
    transient : int, default=100
    random_state : int, numpy.random.Generator or None, default=None

    Returns
    -------
    ndarray of shape (n_timesteps, 1)

    References
    ----------
    R. M. May (1976). Simple mathematical models with very complicated
    dynamics. Nature 261, 459-467.

    Examples
    --------
    >>> from reservoir.datasets import logistic_map
    >>> logistic_map(3, x0=0.25, transient=0).ravel()
    array([0.25, 0.75, 0.75])
    """
    check_length("n_timesteps", n_timesteps)
    r = check_real("r", r, low=0, high=4, low_inclusive=False)
    check_interval("transient", transient, low=0, integer=True)
    if x0 is None:
        x = float(check_generator(random_state).uniform(0.0, 1.0))
    else:
        x = check_real("x0", x0, low=0, high=1, low_inclusive=False, high_inclusive=False)
    out = np.empty(n_timesteps)
    for t in range(transient + n_timesteps):
        if t >= transient:
            out[t - transient] = x
        x = r * x * (1.0 - x)
    return out.reshape(-1, 1)
