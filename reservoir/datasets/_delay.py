"""Mackey-Glass delay differential equation.

SciPy has no solver for delay equations, so this module integrates one
itself: the classical 4th-order Runge-Kutta method on a fine grid of step
h <= 0.1, with the delayed values that fall between grid points taken from
the cubic Hermite interpolant of the computed solution (values and
derivatives at the two neighbouring grid points). The interpolant is
4th-order accurate like the step itself, so the scheme keeps order 4; the
tests check that halving h divides the error by about 16. Linear
interpolation of the delayed value, or a step of 1 (as in some libraries),
would make the benchmark depend on the integrator.
"""

from __future__ import annotations

import math

import numpy as np

from .._validation import check_generator
from ._common import check_length, check_real

__all__ = ["mackey_glass"]


def _hermite_weights(theta):
    """Cubic Hermite basis at theta in [0, 1]: weights of x0, h f0, x1, h f1."""
    t2, t3 = theta * theta, theta * theta * theta
    return (2 * t3 - 3 * t2 + 1, t3 - 2 * t2 + theta, -2 * t3 + 3 * t2, t3 - t2)


def _delayed_points(delay_in_steps):
    """For the three RK4 stages (offsets 0, 1/2, 1 of a step), where the delayed time lies.

    Returns, per stage, (offset of the left grid point relative to the
    current one, Hermite weights); the delayed time of stage c at step i is
    (i + c - delay_in_steps) h.
    """
    points = []
    for c in (0.0, 0.5, 1.0):
        position = c - delay_in_steps
        left = math.floor(position + 1e-9)
        theta = max(position - left, 0.0)
        if theta < 1e-9:
            theta = 0.0
        points.append((left, theta, _hermite_weights(theta)))
    return points


def _substeps(dt, tau, h_max):
    """Number k of internal steps per sample, h = dt / k <= min(h_max, tau).

    The solution's derivative jumps at t = 0 (where the history meets the
    equation), and this kink reappears, smoothed, at t = tau, 2 tau, ...
    A step that straddles one loses the order of RK4, so k is raised (up to
    four times its minimum) until tau is a whole number of steps and every
    kink falls on the grid.
    """
    k_min = math.ceil(dt / min(h_max, tau) - 1e-9)
    for k in range(k_min, 4 * k_min + 1):
        ratio = tau * k / dt
        if abs(ratio - round(ratio)) <= 1e-9 * max(1.0, ratio):
            return k
    return k_min


def mackey_glass(n_timesteps, *, tau=17.0, a=0.2, b=0.1, n=10, dt=1.0, integration_step=0.1,
                 history=1.2, transient=500.0, random_state=None):
    """Mackey-Glass (1977) delay equation, sampled every ``dt``.

    .. math::

        \\frac{dx}{dt} = \\frac{a \\, x(t - \\tau)}{1 + x(t - \\tau)^n} - b \\, x(t),
        \\qquad x(t) = \\phi(t) \\text{ for } -\\tau \\le t \\le 0.

    With a = 0.2, b = 0.1, n = 10 the solution is chaotic for tau = 17
    (mildly: largest Lyapunov exponent about 0.005 per time unit, see
    :data:`LYAPUNOV_EXPONENTS`) and more so for tau = 30. Sampled every
    time unit after the transient, the tau = 17 series has mean 0.930 and
    standard deviation 0.226.

    Integration: RK4 on a grid of step h = dt / k, not above
    ``integration_step`` nor tau, and dividing tau when a k at most four
    times the smallest one allows it (the kinks of the solution at
    multiples of tau then fall on the grid). The delayed value at a stage
    between grid points is the cubic Hermite interpolant of the computed
    solution, and before time 0 the history function itself.

    Parameters
    ----------
    n_timesteps : int
        Number of samples.
    tau : float, default=17.0
        Delay (> 0).
    a, b : float, default=0.2, 0.1
    n : float, default=10
        Exponent of the feedback nonlinearity.
    dt : float, default=1.0
        Sampling step (1 is the usual choice; some works sample every 3).
    integration_step : float, default=0.1
        Largest internal step h.
    history : float, callable or None, default=1.2
        The history phi on [-tau, 0]: a constant (1.2 is the customary
        choice), a function of time ``phi(t)``, or None to draw a constant
        uniformly in [0.5, 1.5] from ``random_state``.
    transient : float, default=500.0
        Time integrated and discarded before the first sample (rounded to
        the internal grid).
    random_state : int, numpy.random.Generator or None, default=None
        Used only when ``history`` is None.

    Returns
    -------
    ndarray of shape (n_timesteps, 1)
        x(transient + i dt).

    References
    ----------
    M. C. Mackey and L. Glass (1977). Oscillation and chaos in physiological
    control systems. Science 197(4300), 287-289.
    J. D. Farmer (1982). Chaotic attractors of an infinite-dimensional
    dynamical system. Physica D 4, 366-393.

    Examples
    --------
    >>> from reservoir.datasets import mackey_glass
    >>> x = mackey_glass(2000)
    >>> x.shape
    (2000, 1)
    >>> x[:3, 0].round(6)
    array([1.06345 , 1.01092 , 0.960632])
    """
    check_length("n_timesteps", n_timesteps)
    tau = check_real("tau", tau, low=0, low_inclusive=False)
    a, b, n = check_real("a", a), check_real("b", b), check_real("n", n)
    dt = check_real("dt", dt, low=0, low_inclusive=False)
    h_max = check_real("integration_step", integration_step, low=0, low_inclusive=False)
    transient = check_real("transient", transient, low=0)
    if history is None:
        constant = float(check_generator(random_state).uniform(0.5, 1.5))
        phi = lambda t: constant  # noqa: E731
    elif callable(history):
        phi = history
    else:
        constant = check_real("history", history)
        phi = lambda t: constant  # noqa: E731

    substeps = _substeps(dt, tau, h_max)
    h = dt / substeps
    start = round(transient / h)
    total = start + (n_timesteps - 1) * substeps
    stages = _delayed_points(tau / h)

    def rate(x, delayed):
        return a * delayed / (1.0 + delayed ** n) - b * x

    xs = [float(phi(0.0))]
    fs = []  # f at each grid point, known once the delayed value there is

    def delayed_value(i, left, theta, weights):
        j = i + left
        if j < 0:
            return float(phi((j + theta) * h))
        if theta == 0.0:
            return xs[j]
        w0, w1, w2, w3 = weights
        return w0 * xs[j] + w1 * h * fs[j] + w2 * xs[j + 1] + w3 * h * fs[j + 1]

    for i in range(total):
        x = xs[i]
        k1 = rate(x, delayed_value(i, *stages[0]))
        fs.append(k1)  # the later stages may interpolate up to this grid point
        d_half = delayed_value(i, *stages[1])
        d1 = delayed_value(i, *stages[2])
        k2 = rate(x + 0.5 * h * k1, d_half)
        k3 = rate(x + 0.5 * h * k2, d_half)
        k4 = rate(x + h * k3, d1)
        xs.append(x + h * (k1 + 2.0 * k2 + 2.0 * k3 + k4) / 6.0)
    out = np.asarray(xs[start::substeps], dtype=np.float64)[:n_timesteps]
    if not np.all(np.isfinite(out)):
        raise RuntimeError(f"the Mackey-Glass integration diverged for a={a}, b={b}, n={n}, tau={tau}")
    return out.reshape(-1, 1)
