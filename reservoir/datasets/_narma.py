"""NARMA benchmark: a nonlinear autoregressive moving-average system driven by noise."""

from __future__ import annotations

import math

import numpy as np

from .._validation import check_generator, check_interval
from ._common import check_length

__all__ = ["narma"]

# order -> (alpha, beta, gamma, delta) of
# y(t+1) = alpha y(t) + beta y(t) sum_{i=0}^{order-1} y(t-i) + gamma u(t-order+1) u(t) + delta
NARMA_COEFFICIENTS = {
    10: (0.3, 0.05, 1.5, 0.1),
    30: (0.2, 0.004, 1.5, 0.001),
}


def narma(n_timesteps, *, order=10, transient=200, random_state=None):
    """NARMA system of order 10 or 30 (Atiya & Parlos 2000), driven by u ~ U[0, 0.5].

    The output y obeys, for every t >= order - 1,

    .. math::

        y(t+1) = \\alpha\\, y(t) + \\beta\\, y(t) \\sum_{i=0}^{n-1} y(t-i)
                 + \\gamma\\, u(t-n+1)\\, u(t) + \\delta

    with n = ``order`` and

    ========  =======  ========  =======  ========
    order     alpha    beta      gamma    delta
    ========  =======  ========  =======  ========
    10        0.3      0.05      1.5      0.1
    30        0.2      0.004     1.5      0.001
    ========  =======  ========  =======  ========

    The sum covers the n most recent outputs y(t), ..., y(t-n+1), and the
    input product couples u(t) with u(t-n+1): the system remembers exactly
    n steps. (Some implementations sum y(t-n) ... y(t-1) instead, or pair
    u(t) with u(t-n): a different system with one more step of memory.)
    Order 30 uses beta = 0.004 as in Atiya & Parlos (2000); some libraries
    use 0.04, a system closer to divergence.

    The recurrence starts from y = 0 at t = 0 .. order-1; the first
    ``transient`` steps of both u and y are then dropped, so the returned
    arrays are a contiguous window of one realisation and satisfy the
    recurrence from row order-1 on. The usual task feeds u(t) and asks for
    y(t+1) (``u[:-1]`` against ``y[1:]``), which needs a memory of n steps.

    Parameters
    ----------
    n_timesteps : int
        Number of rows returned.
    order : {10, 30}, default=10
    transient : int, default=200
        Steps generated and dropped before the first row.
    random_state : int, numpy.random.Generator or None, default=None
        Draws u.

    Returns
    -------
    u : ndarray of shape (n_timesteps, 1)
        The input, i.i.d. uniform on [0, 0.5].
    y : ndarray of shape (n_timesteps, 1)
        The output, aligned with u (row t holds u(t) and y(t)).

    Raises
    ------
    RuntimeError
        If y diverges, which NARMA10 does for a few inputs in a hundred
        (for 2000 steps); the message asks for another ``random_state``.

    References
    ----------
    A. F. Atiya and A. G. Parlos (2000). New results on recurrent network
    training: unifying the algorithms and accelerating convergence. IEEE
    Transactions on Neural Networks 11(3), 697-709.
    H. Jaeger (2003). Adaptive nonlinear system identification with echo
    state networks. NIPS 15, 593-600 (NARMA10 for echo state networks).

    Examples
    --------
    >>> from reservoir.datasets import narma
    >>> u, y = narma(1000, order=10, random_state=0)
    >>> u.shape, y.shape
    ((1000, 1), (1000, 1))
    >>> import numpy as np
    >>> t = 500
    >>> rhs = 0.3 * y[t] + 0.05 * y[t] * y[t - 9:t + 1].sum() + 1.5 * u[t - 9] * u[t] + 0.1
    >>> bool(np.isclose(y[t + 1, 0], rhs[0], rtol=1e-14, atol=0))
    True
    """
    check_length("n_timesteps", n_timesteps)
    if isinstance(order, bool) or order not in NARMA_COEFFICIENTS:
        raise ValueError(f"order must be one of {tuple(NARMA_COEFFICIENTS)}, got {order!r}")
    check_interval("transient", transient, low=0, integer=True)
    alpha, beta, gamma, delta = NARMA_COEFFICIENTS[order]
    total = transient + n_timesteps
    u = check_generator(random_state).uniform(0.0, 0.5, total)
    y = [0.0] * total
    us = u.tolist()
    for t in range(order - 1, total - 1):
        # The correctly rounded sum of the window: no drift of a running sum.
        window = math.fsum(y[t - order + 1:t + 1])
        y[t + 1] = alpha * y[t] + beta * y[t] * window + gamma * us[t - order + 1] * us[t] + delta
        if not math.isfinite(y[t + 1]) or abs(y[t + 1]) > 1e6:
            raise RuntimeError(
                f"NARMA{order} diverged at step {t + 1} for this input (|y| = {abs(y[t + 1]):.3g}); "
                "draw another input with a different random_state"
            )
    return u[transient:].reshape(-1, 1), np.asarray(y[transient:], dtype=np.float64).reshape(-1, 1)
