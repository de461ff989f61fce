"""Gradient-descent optimizers, learning-rate schedules and gradient clipping.

Parameters and gradients are dicts of arrays of one namespace. Updates build
new arrays (no in-place arithmetic), so they run unchanged on NumPy, CuPy and
array-api-strict. The optimizers follow the layout of scikit-learn's
``sklearn/neural_network/_stochastic_optimizers.py``: an object that holds
the moment estimates and turns gradients into new parameters.

Weight decay is decoupled from the gradient (Loshchilov & Hutter 2019): each
step also shrinks the decayed weights by ``learning_rate * weight_decay``
times themselves. For SGD without momentum this is an L2 penalty
``weight_decay / 2 * ||w||^2``; for Adam it is not, since Adam would rescale
a penalty's gradient along with the loss's, decaying weights with small
gradients the most.
"""

from __future__ import annotations

import math

from .._backend import get_namespace

__all__ = [
    "LEARNING_RATE_SCHEDULES",
    "SOLVERS",
    "AdamOptimizer",
    "SGDOptimizer",
    "clip_gradient_norm",
    "gradient_norm",
    "scheduled_learning_rate",
]

SOLVERS = ("adam", "sgd")
LEARNING_RATE_SCHEDULES = ("constant", "invscaling", "cosine")


class SGDOptimizer:
    """Stochastic gradient descent with (heavy-ball) momentum.

    v <- momentum v - lr g;  w <- w + v.

    Parameters
    ----------
    params : dict of str to array
        Used for the shapes of the velocities.
    momentum : float in [0, 1)
    weight_decay : float, default=0.0
    decayed : collection of str, optional
        Names of the parameters that decay (all when omitted).
    """

    def __init__(self, params, *, momentum=0.9, weight_decay=0.0, decayed=None):
        self.momentum = momentum
        self.weight_decay = weight_decay
        self.decayed = set(params if decayed is None else decayed)
        self.velocities = {name: _zeros_like(p) for name, p in params.items()}

    def update(self, params, grads, learning_rate):
        """Return the parameters after one step."""
        new = {}
        for name, p in params.items():
            v = self.momentum * self.velocities[name] - learning_rate * grads[name]
            self.velocities[name] = v
            new[name] = _decay(p, name, self, learning_rate) + v
        return new


class AdamOptimizer:
    """Adam (Kingma & Ba 2015), with bias-corrected moment estimates.

    m <- b1 m + (1 - b1) g;  v <- b2 v + (1 - b2) g^2;
    w <- w - lr sqrt(1 - b2^t) / (1 - b1^t) m / (sqrt(v) + eps).

    Parameters
    ----------
    params : dict of str to array
    beta_1, beta_2 : float in [0, 1)
    epsilon : float > 0
    weight_decay : float, default=0.0
        Decoupled weight decay (AdamW).
    decayed : collection of str, optional
        Names of the parameters that decay (all when omitted).
    """

    def __init__(self, params, *, beta_1=0.9, beta_2=0.999, epsilon=1e-8, weight_decay=0.0,
                 decayed=None):
        self.beta_1, self.beta_2, self.epsilon = beta_1, beta_2, epsilon
        self.weight_decay = weight_decay
        self.decayed = set(params if decayed is None else decayed)
        self.t = 0
        self.first = {name: _zeros_like(p) for name, p in params.items()}
        self.second = {name: _zeros_like(p) for name, p in params.items()}

    def update(self, params, grads, learning_rate):
        """Return the parameters after one step."""
        xp = get_namespace(*params.values())
        self.t += 1
        b1, b2 = self.beta_1, self.beta_2
        step = learning_rate * math.sqrt(1.0 - b2**self.t) / (1.0 - b1**self.t)
        new = {}
        for name, p in params.items():
            g = grads[name]
            m = b1 * self.first[name] + (1.0 - b1) * g
            v = b2 * self.second[name] + (1.0 - b2) * (g * g)
            self.first[name], self.second[name] = m, v
            new[name] = _decay(p, name, self, learning_rate) - step * m / (xp.sqrt(v) + self.epsilon)
        return new


def _decay(p, name, optimizer, learning_rate):
    if optimizer.weight_decay == 0 or name not in optimizer.decayed:
        return p
    return p * (1.0 - learning_rate * optimizer.weight_decay)


def _zeros_like(a):
    return get_namespace(a).zeros_like(a)


def scheduled_learning_rate(schedule, learning_rate_init, epoch, *, max_iter, power_t=0.5):
    """Learning rate for ``epoch`` (counted from 0) under a schedule.

    ``"constant"``: lr0; ``"invscaling"``: lr0 / (epoch + 1)^power_t (as in
    scikit-learn's MLP); ``"cosine"``: lr0 (1 + cos(pi epoch / max_iter)) / 2,
    annealing to zero over ``max_iter`` epochs (Loshchilov & Hutter 2017,
    without restarts).
    """
    if schedule == "constant":
        return learning_rate_init
    if schedule == "invscaling":
        return learning_rate_init / (epoch + 1) ** power_t
    if schedule == "cosine":
        return 0.5 * learning_rate_init * (1.0 + math.cos(math.pi * epoch / max_iter))
    raise ValueError(f"learning_rate must be one of {LEARNING_RATE_SCHEDULES}, got {schedule!r}")


def gradient_norm(grads):
    """Global L2 norm of all gradient arrays together, as a Python float."""
    xp = get_namespace(*grads.values())
    return math.sqrt(sum(float(xp.sum(g * g)) for g in grads.values()))


def clip_gradient_norm(grads, max_norm):
    """Rescale ``grads`` so that their global norm is at most ``max_norm``.

    Rescaling the whole gradient keeps its direction (Pascanu, Mikolov &
    Bengio 2013), unlike clipping each entry. ``max_norm=None`` only measures.

    Returns
    -------
    grads : dict of str to array
    norm : float
        The norm before clipping (``inf`` or ``nan`` if the gradient is not finite).
    """
    norm = gradient_norm(grads)
    if max_norm is None or not norm > max_norm or not math.isfinite(norm):
        return grads, norm
    scale = max_norm / norm
    return {name: g * scale for name, g in grads.items()}, norm
