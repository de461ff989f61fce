"""Kuramoto-Sivashinsky equation on a periodic domain, by ETDRK4.

The equation is stiff (the fourth derivative damps wavenumber k at rate
k^4), which rules out explicit solvers such as DOP853. It is solved in
Fourier space with the exponential time-differencing fourth-order
Runge-Kutta scheme of Cox & Matthews (2002), whose coefficients are
evaluated by the contour-integral means of Kassam & Trefethen (2005) to
avoid the cancellation of their closed forms at small |hL|. The linear part
is then integrated exactly and the nonlinear part to fourth order.
"""

from __future__ import annotations

import math

import numpy as np

from .._validation import check_generator
from ._common import check_initial_condition, check_length, check_real

__all__ = ["kuramoto_sivashinsky"]

# Points on the contour of the Kassam-Trefethen means (upper half circle;
# the lower half gives the complex conjugates, hence the real part).
_CONTOUR_POINTS = 64


def _etdrk4_coefficients(linear, h):
    """E, E2, Q, f1, f2, f3 of ETDRK4 for the diagonal linear operator ``linear`` and step h."""
    roots = np.exp(1j * np.pi * (np.arange(1, _CONTOUR_POINTS + 1) - 0.5) / _CONTOUR_POINTS)
    LR = h * linear[:, None] + roots[None, :]
    eLR = np.exp(LR)
    Q = h * np.real(np.mean((np.exp(LR / 2) - 1) / LR, axis=1))
    f1 = h * np.real(np.mean((-4 - LR + eLR * (4 - 3 * LR + LR ** 2)) / LR ** 3, axis=1))
    f2 = h * np.real(np.mean((2 + LR + eLR * (LR - 2)) / LR ** 3, axis=1))
    f3 = h * np.real(np.mean((-4 - 3 * LR - LR ** 2 + eLR * (4 - LR)) / LR ** 3, axis=1))
    return np.exp(h * linear), np.exp(h * linear / 2), Q, f1, f2, f3


class _KSStepper:
    """Advances the Fourier coefficients (rfft) of u by one ETDRK4 step of size h."""

    def __init__(self, domain_length, n_points, h):
        self.n_points = n_points
        k = 2 * np.pi / domain_length * np.arange(n_points // 2 + 1)
        linear = k ** 2 - k ** 4
        # The Nyquist mode has no well-defined first derivative: zero it in
        # the nonlinear term (it is damped at rate k^4 anyway).
        derivative = 1j * k
        derivative[-1] = 0.0
        self.g = -0.5 * derivative  # N(v) = -(1/2) d/dx (u^2) in Fourier space
        self.E, self.E2, self.Q, self.f1, self.f2, self.f3 = _etdrk4_coefficients(linear, h)

    def nonlinear(self, v):
        u = np.fft.irfft(v, n=self.n_points)
        return self.g * np.fft.rfft(u * u)

    def __call__(self, v):
        Nv = self.nonlinear(v)
        a = self.E2 * v + self.Q * Nv
        Na = self.nonlinear(a)
        b = self.E2 * v + self.Q * Na
        Nb = self.nonlinear(b)
        c = self.E2 * a + self.Q * (2 * Nb - Nv)
        Nc = self.nonlinear(c)
        return self.E * v + Nv * self.f1 + 2 * (Na + Nb) * self.f2 + Nc * self.f3


def kuramoto_sivashinsky(n_timesteps, *, domain_length=22.0, n_points=64, dt=0.25,
                         integration_step=0.05, x0=None, transient=200.0, random_state=None):
    """Kuramoto-Sivashinsky equation on a periodic domain, sampled every ``dt``.

    .. math::

        u_t + u u_x + u_{xx} + u_{xxxx} = 0, \\qquad x \\in [0, L), \\;
        u(x + L, t) = u(x, t),

    discretised on ``n_points`` equispaced points (a Fourier pseudo-spectral
    method) and integrated with ETDRK4 (Kassam & Trefethen 2005) at an
    internal step of at most ``integration_step``. The spatial mean of u is
    conserved; the random initial conditions have mean 0. For L = 22 the
    dynamics is chaotic with a largest Lyapunov exponent of about 0.043-0.05
    per time unit (see :data:`LYAPUNOV_EXPONENTS`); larger L gives more
    positive exponents (extensive chaos).

    Parameters
    ----------
    n_timesteps : int
        Number of samples.
    domain_length : float, default=22.0
        Period L of the domain.
    n_points : int, default=64
        Grid points (even, at least 8); 64 resolves L = 22 to round-off.
    dt : float, default=0.25
        Sampling step.
    integration_step : float, default=0.05
        Largest internal ETDRK4 step; the step used is dt / k for the
        smallest integer k that satisfies it.
    x0 : array-like of shape (n_points,), optional
        u at time 0 on the grid x_j = j L / n_points. When None, the sum of
        the four longest Fourier modes with amplitudes drawn from
        ``random_state`` (normal, standard deviation 0.5).
    transient : float, default=200.0
        Time integrated and discarded before the first sample (rounded to
        the internal step), long enough to forget a smooth initial state.
    random_state : int, numpy.random.Generator or None, default=None
        Draws x0 when it is not given.

    Returns
    -------
    ndarray of shape (n_timesteps, n_points)
        u(x_j, transient + i dt).

    References
    ----------
    Y. Kuramoto and T. Tsuzuki (1976). Persistent propagation of
    concentration waves in dissipative media far from thermal equilibrium.
    Progress of Theoretical Physics 55(2), 356-369.
    G. I. Sivashinsky (1977). Nonlinear analysis of hydrodynamic instability
    in laminar flames. Acta Astronautica 4, 1177-1206.
    S. M. Cox and P. C. Matthews (2002). Exponential time differencing for
    stiff systems. Journal of Computational Physics 176, 430-455.
    A.-K. Kassam and L. N. Trefethen (2005). Fourth-order time-stepping for
    stiff PDEs. SIAM Journal on Scientific Computing 26(4), 1214-1233.

    Examples
    --------
    >>> from reservoir.datasets import kuramoto_sivashinsky
    >>> U = kuramoto_sivashinsky(400, random_state=0)
    >>> U.shape
    (400, 64)
    """
    check_length("n_timesteps", n_timesteps)
    length = check_real("domain_length", domain_length, low=0, low_inclusive=False)
    check_length("n_points", n_points, low=8)
    if n_points % 2:
        raise ValueError(f"n_points must be even, got {n_points}")
    dt = check_real("dt", dt, low=0, low_inclusive=False)
    h_max = check_real("integration_step", integration_step, low=0, low_inclusive=False)
    transient = check_real("transient", transient, low=0)
    if x0 is None:
        rng = check_generator(random_state)
        grid = length * np.arange(n_points) / n_points
        modes = np.arange(1, 5)[:, None] * (2 * np.pi / length) * grid[None, :]
        amp = 0.5 * rng.standard_normal((2, 4))
        u0 = amp[0] @ np.cos(modes) + amp[1] @ np.sin(modes)
    else:
        u0 = check_initial_condition("x0", x0, n_points)

    substeps = math.ceil(dt / h_max - 1e-9)
    h = dt / substeps
    step = _KSStepper(length, n_points, h)
    v = np.fft.rfft(u0)
    for _ in range(round(transient / h)):
        v = step(v)
    out = np.empty((n_timesteps, n_points))
    out[0] = np.fft.irfft(v, n=n_points)
    for i in range(1, n_timesteps):
        for _ in range(substeps):
            v = step(v)
        out[i] = np.fft.irfft(v, n=n_points)
    if not np.all(np.isfinite(out)):
        raise RuntimeError(
            f"the Kuramoto-Sivashinsky integration diverged (L={length}, n_points={n_points}, "
            f"step={h}); use a smaller integration_step or more points"
        )
    return out
