"""Chaotic flows: vector fields and sampled trajectories.

Each system is written once as a vector field f(x) and its Jacobian-vector
product J(x) v, both vectorised over leading axes (x of shape (..., d)), so
that the same code drives the generators here and the tangent-space Lyapunov
estimator of :mod:`reservoir.lyapunov`.

Trajectories are integrated by SciPy (``scipy.integrate.solve_ivp`` with the
8th-order Dormand-Prince method DOP853) at rtol = atol = 1e-12 by default and
read off at the requested sampling step ``dt`` through the method's own
7th-order dense output. Benchmark data must not depend on the integrator:
at these tolerances a Lorenz-63 trajectory agrees with an independent RK4
integration at step 1e-4 to about 1e-10 over one time unit, while
``solve_ivp`` at its default tolerances (RK45, rtol = 1e-3) is already off
by 0.2 there.

Initial conditions are drawn from ``random_state`` (or given as ``x0``),
then a ``transient`` (in the system's time units) is integrated and
discarded, so that the first sample lies on the attractor.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import NamedTuple

import numpy as np
from scipy.integrate import solve_ivp

from .._validation import check_generator
from ._common import check_initial_condition, check_length, check_real

__all__ = ["VectorField", "double_scroll", "lorenz63", "lorenz96", "rossler", "vector_field"]


class VectorField(NamedTuple):
    """An autonomous flow dx/dt = f(x) with its tangent map.

    Attributes
    ----------
    system : str
        Name of the system, a key of :data:`reservoir.datasets.LYAPUNOV_EXPONENTS`.
    fun : callable
        ``fun(x)`` returns f(x); ``x`` has shape (..., dimension) and the
        leading axes are independent trajectories.
    jvp : callable
        ``jvp(x, v)`` returns J(x) v, the Jacobian of f at x applied to v,
        with the same broadcasting.
    dimension : int
        Number of state variables.
    parameters : dict
        The parameters the field was built with.
    """

    system: str
    fun: Callable
    jvp: Callable
    dimension: int
    parameters: dict


# --------------------------------------------------------------------------
# Vector fields
# --------------------------------------------------------------------------

def _componentwise(rhs, tangent):
    """Wrap formulas written per component into ``fun(x)`` and ``jvp(x, v)``.

    A single state (x of shape (d,)), which is what ``solve_ivp`` passes,
    takes a path through Python floats: it halves the cost of an
    integration, most of which is spent in these calls.
    """

    def assemble(components, like):
        out = np.empty(like.shape)
        for i, component in enumerate(components):
            out[..., i] = component
        return out

    def fun(x):
        if x.ndim == 1:
            return np.array(rhs(*x.tolist()))
        return assemble(rhs(*(x[..., i] for i in range(x.shape[-1]))), x)

    def jvp(x, v):
        d = x.shape[-1]
        return assemble(tangent(*(x[..., i] for i in range(d)), *(v[..., i] for i in range(d))), x)

    return fun, jvp


def _lorenz63_field(sigma, rho, beta):
    def rhs(x, y, z):
        return sigma * (y - x), x * (rho - z) - y, x * y - beta * z

    def tangent(x, y, z, a, b, c):
        return sigma * (b - a), (rho - z) * a - b - x * c, y * a + x * b - beta * c

    return _componentwise(rhs, tangent)


def _rossler_field(a, b, c):
    def rhs(x, y, z):
        return -y - z, x + a * y, b + z * (x - c)

    def tangent(x, y, z, p, q, r):
        return -q - r, p + a * q, z * p + (x - c) * r

    return _componentwise(rhs, tangent)


def _double_scroll_field(r1, r2, r4, ir, beta):
    def rhs(v1, v2, i):
        dv = v1 - v2
        g = dv / r2 + 2.0 * ir * np.sinh(beta * dv)
        return v1 / r1 - g, g - i, v2 - r4 * i

    def tangent(v1, v2, i, a, b, c):
        dg = (1.0 / r2 + 2.0 * ir * beta * np.cosh(beta * (v1 - v2))) * (a - b)
        return a / r1 - dg, dg - c, b - r4 * c

    return _componentwise(rhs, tangent)


def _lorenz96_field(dimension, forcing):
    # Indices of x_{i+1}, x_{i-1}, x_{i-2} on the ring: a gather is cheaper than np.roll.
    sites = np.arange(dimension)
    ahead, back1, back2 = (sites + 1) % dimension, (sites - 1) % dimension, (sites - 2) % dimension

    def fun(x):
        return (x[..., ahead] - x[..., back2]) * x[..., back1] - x + forcing

    def jvp(x, v):
        return ((v[..., ahead] - v[..., back2]) * x[..., back1]
                + (x[..., ahead] - x[..., back2]) * v[..., back1] - v)

    return fun, jvp


def _lorenz63_params(sigma=10.0, rho=28.0, beta=8.0 / 3.0):
    return {"sigma": check_real("sigma", sigma), "rho": check_real("rho", rho),
            "beta": check_real("beta", beta)}


def _rossler_params(a=0.2, b=0.2, c=5.7):
    return {"a": check_real("a", a), "b": check_real("b", b), "c": check_real("c", c)}


def _double_scroll_params(r1=1.2, r2=3.44, r4=0.193, ir=2.25e-5, beta=11.6):
    return {"r1": check_real("r1", r1, low=0, low_inclusive=False),
            "r2": check_real("r2", r2, low=0, low_inclusive=False),
            "r4": check_real("r4", r4), "ir": check_real("ir", ir), "beta": check_real("beta", beta)}


def _lorenz96_params(dimension=40, forcing=8.0):
    check_length("dimension", dimension, low=4)
    return {"dimension": int(dimension), "forcing": check_real("forcing", forcing)}


# name -> (parameter checker, field builder, dimension of the state)
_SYSTEMS = {
    "lorenz63": (_lorenz63_params, lambda p: _lorenz63_field(p["sigma"], p["rho"], p["beta"]),
                 lambda p: 3),
    "rossler": (_rossler_params, lambda p: _rossler_field(p["a"], p["b"], p["c"]), lambda p: 3),
    "double_scroll": (_double_scroll_params,
                      lambda p: _double_scroll_field(p["r1"], p["r2"], p["r4"], p["ir"], p["beta"]),
                      lambda p: 3),
    "lorenz96": (_lorenz96_params, lambda p: _lorenz96_field(p["dimension"], p["forcing"]),
                 lambda p: p["dimension"]),
}


def vector_field(system, **parameters):
    """The vector field and tangent map of a chaotic flow of this package.

    Parameters
    ----------
    system : {"lorenz63", "rossler", "double_scroll", "lorenz96"}
    **parameters
        The system's parameters, by the names of its generator
        (``sigma``, ``rho``, ``beta`` for Lorenz-63; ``dimension`` and
        ``forcing`` for Lorenz-96; ...). Missing ones take the generator's
        defaults.

    Returns
    -------
    VectorField

    Examples
    --------
    >>> import numpy as np
    >>> from reservoir.datasets import vector_field
    >>> field = vector_field("lorenz63")
    >>> field.fun(np.array([1.0, 1.0, 1.0]))
    array([ 0.        , 26.        , -1.66666667])
    """
    if system not in _SYSTEMS:
        raise ValueError(f"system must be one of {tuple(_SYSTEMS)}, got {system!r}")
    check_params, build, dimension = _SYSTEMS[system]
    known = tuple(inspect.signature(check_params).parameters)
    unknown = sorted(set(parameters) - set(known))
    if unknown:
        raise TypeError(f"unknown parameter(s) {unknown} for {system}; its parameters are {known}")
    params = check_params(**parameters)
    fun, jvp = build(params)
    return VectorField(system, fun, jvp, dimension(params), params)


# --------------------------------------------------------------------------
# Sampling a trajectory
# --------------------------------------------------------------------------

def _check_sampling(n_timesteps, dt, transient, rtol, atol):
    check_length("n_timesteps", n_timesteps)
    return (check_real("dt", dt, low=0, low_inclusive=False),
            check_real("transient", transient, low=0),
            check_real("rtol", rtol, low=0, low_inclusive=False),
            check_real("atol", atol, low=0, low_inclusive=False))


def integrate_flow(field, x0, n_timesteps, *, dt, transient, rtol, atol):
    """Samples x(transient + i dt), i = 0 .. n_timesteps - 1, of dx/dt = f(x), x(0) = x0.

    One ``solve_ivp(method="DOP853")`` call over the whole span; the samples
    come from the solver's dense output, so ``dt`` does not limit its steps.
    """
    t_eval = transient + dt * np.arange(n_timesteps)
    if t_eval[-1] == 0.0:
        return x0[None, :].copy()
    fun = field.fun
    sol = solve_ivp(lambda t, y: fun(y), (0.0, float(t_eval[-1])), x0, method="DOP853",
                    t_eval=t_eval, rtol=rtol, atol=atol)
    if sol.status != 0 or sol.y.shape[1] != n_timesteps or not np.all(np.isfinite(sol.y)):
        raise RuntimeError(
            f"integration of {field.system} failed ({sol.message}); the trajectory from "
            f"x0={x0!r} may escape to infinity for parameters {field.parameters}"
        )
    return np.ascontiguousarray(sol.y.T)


def _initial_condition(x0, random_state, dimension, center, scale):
    if x0 is not None:
        return check_initial_condition("x0", x0, dimension)
    rng = check_generator(random_state)
    return np.asarray(center, dtype=np.float64) + np.asarray(scale) * rng.standard_normal(dimension)


def _generate(system, params, n_timesteps, dt, transient, x0, random_state, rtol, atol, center, scale):
    dt, transient, rtol, atol = _check_sampling(n_timesteps, dt, transient, rtol, atol)
    field = vector_field(system, **params)
    start = _initial_condition(x0, random_state, field.dimension, center, scale)
    return integrate_flow(field, start, n_timesteps, dt=dt, transient=transient, rtol=rtol,
                          atol=atol)


_SAMPLING_DOC = """
    x0 : array-like of shape ({dim},), optional
        State at time 0. When None, drawn from ``random_state`` as
        {draw}.
    transient : float, default={transient}
        Time integrated from x0 and discarded: the first sample is
        x(transient). 0 returns x0 as the first sample.
    random_state : int, numpy.random.Generator or None, default=None
        Draws x0 when it is not given.
    rtol, atol : float, default=1e-12
        Tolerances of ``scipy.integrate.solve_ivp(method="DOP853")``."""


def lorenz63(n_timesteps, *, dt=0.01, sigma=10.0, rho=28.0, beta=8.0 / 3.0, x0=None,
             transient=50.0, random_state=None, rtol=1e-12, atol=1e-12):
    """Lorenz (1963) system, sampled every ``dt``.

    .. math::

        \\dot x = \\sigma (y - x), \\quad
        \\dot y = x (\\rho - z) - y, \\quad
        \\dot z = x y - \\beta z

    At the classical parameters (sigma=10, rho=28, beta=8/3) the largest
    Lyapunov exponent is 0.9056 per time unit (a Lyapunov time of 1.104),
    see :data:`LYAPUNOV_EXPONENTS`.

    Parameters
    ----------
    n_timesteps : int
        Number of samples.
    dt : float, default=0.01
        Sampling step in time units (Platt et al. 2022 use 0.01; the NG-RC
        papers 0.025).
    sigma, rho, beta : float, default=10, 28, 8/3
    {sampling}

    Returns
    -------
    ndarray of shape (n_timesteps, 3)
        Columns x, y, z at times transient + i dt.

    References
    ----------
    E. N. Lorenz (1963). Deterministic nonperiodic flow. Journal of the
    Atmospheric Sciences 20(2), 130-141.

    Examples
    --------
    >>> from reservoir.datasets import lorenz63
    >>> X = lorenz63(1000, random_state=0)
    >>> X.shape
    (1000, 3)
    >>> X[:2].round(6)
    array([[-1.639157, -1.883083, 17.727383],
           [-1.669743, -2.036963, 17.292878]])
    """
    params = {"sigma": sigma, "rho": rho, "beta": beta}
    return _generate("lorenz63", params, n_timesteps, dt, transient, x0, random_state, rtol, atol,
                     center=(0.0, 0.0, 25.0), scale=8.0)


def rossler(n_timesteps, *, dt=0.1, a=0.2, b=0.2, c=5.7, x0=None, transient=200.0,
            random_state=None, rtol=1e-12, atol=1e-12):
    """Rössler (1976) system, sampled every ``dt``.

    .. math::

        \\dot x = -y - z, \\quad \\dot y = x + a y, \\quad \\dot z = b + z (x - c)

    At a = b = 0.2, c = 5.7 the largest Lyapunov exponent is about 0.0714
    per time unit (Sprott 2003); one turn of the attractor takes about 6
    time units.

    Parameters
    ----------
    n_timesteps : int
    dt : float, default=0.1
    a, b, c : float, default=0.2, 0.2, 5.7
    {sampling}

    Returns
    -------
    ndarray of shape (n_timesteps, 3)

    References
    ----------
    O. E. Rössler (1976). An equation for continuous chaos. Physics Letters A
    57(5), 397-398.

    Examples
    --------
    >>> from reservoir.datasets import rossler
    >>> rossler(500, random_state=0).shape
    (500, 3)
    """
    params = {"a": a, "b": b, "c": c}
    return _generate("rossler", params, n_timesteps, dt, transient, x0, random_state, rtol, atol,
                     center=(0.0, 0.0, 0.0), scale=(1.0, 1.0, 0.1))


def double_scroll(n_timesteps, *, dt=0.25, r1=1.2, r2=3.44, r4=0.193, ir=2.25e-5, beta=11.6,
                  x0=None, transient=200.0, random_state=None, rtol=1e-12, atol=1e-12):
    """Double-scroll electronic circuit, sampled every ``dt``.

    Two capacitor voltages V1, V2 and an inductor current I, coupled by a
    pair of anti-parallel diodes:

    .. math::

        \\dot V_1 = V_1 / R_1 - \\Delta V / R_2 - 2 I_r \\sinh(\\beta \\Delta V), \\\\
        \\dot V_2 = \\Delta V / R_2 + 2 I_r \\sinh(\\beta \\Delta V) - I, \\\\
        \\dot I = V_2 - R_4 I, \\qquad \\Delta V = V_1 - V_2,

    in the dimensionless form and with the parameters of Gauthier et al.
    (2021), who sample it every 0.25 time units.

    Parameters
    ----------
    n_timesteps : int
    dt : float, default=0.25
    r1, r2, r4 : float, default=1.2, 3.44, 0.193
        Resistances R1, R2, R4.
    ir : float, default=2.25e-5
        Diode reverse current I_r.
    beta : float, default=11.6
        Diode exponent.
    {sampling}

    Returns
    -------
    ndarray of shape (n_timesteps, 3)
        Columns V1, V2, I.

    References
    ----------
    D. J. Gauthier, E. Bollt, A. Griffith and W. A. S. Barbosa (2021). Next
    generation reservoir computing. Nature Communications 12, 5564.

    Examples
    --------
    >>> from reservoir.datasets import double_scroll
    >>> double_scroll(400, random_state=0).shape
    (400, 3)
    """
    params = {"r1": r1, "r2": r2, "r4": r4, "ir": ir, "beta": beta}
    return _generate("double_scroll", params, n_timesteps, dt, transient, x0, random_state, rtol,
                     atol, center=(0.0, 0.0, 0.0), scale=0.1)


def lorenz96(n_timesteps, *, dimension=40, forcing=8.0, dt=0.01, x0=None, transient=50.0,
             random_state=None, rtol=1e-12, atol=1e-12):
    """Lorenz (1996) model on a ring of ``dimension`` sites, sampled every ``dt``.

    .. math::

        \\dot x_i = (x_{i+1} - x_{i-2}) x_{i-1} - x_i + F, \\qquad i = 1..D,

    with cyclic indices. The right-hand side is the time derivative itself:
    the solver, not this function, multiplies it by a time step (a generator
    that scales it by ``dt`` before handing it to an ODE solver integrates a
    different, slower system). For D = 40, F = 8 the largest Lyapunov
    exponent is about 1.68 per time unit.

    Parameters
    ----------
    n_timesteps : int
    dimension : int, default=40
        Number of sites D (at least 4).
    forcing : float, default=8.0
        Constant forcing F; chaotic for F = 8.
    dt : float, default=0.01
    {sampling}

    Returns
    -------
    ndarray of shape (n_timesteps, dimension)

    References
    ----------
    E. N. Lorenz (1996). Predictability: a problem partly solved. Proc.
    ECMWF Seminar on Predictability, vol. 1, 1-18.

    Examples
    --------
    >>> from reservoir.datasets import lorenz96
    >>> lorenz96(300, dimension=10, random_state=0).shape
    (300, 10)
    """
    params = {"dimension": dimension, "forcing": forcing}
    check_length("dimension", dimension, low=4)
    center = np.full(int(dimension), check_real("forcing", forcing))
    return _generate("lorenz96", params, n_timesteps, dt, transient, x0, random_state, rtol, atol,
                     center=center, scale=1.0)


_DRAWS = {
    lorenz63: ("3", "(0, 0, 25) + 8 N(0, I)", "50.0"),
    rossler: ("3", "(0, 0, 0) + (1, 1, 0.1) N(0, I)", "200.0"),
    double_scroll: ("3", "0.1 N(0, I)", "200.0"),
    lorenz96: ("dimension", "F + N(0, I)", "50.0"),
}
for _func, (_dim, _draw, _tr) in _DRAWS.items():
    _func.__doc__ = _func.__doc__.replace(
        "{sampling}", _SAMPLING_DOC.format(dim=_dim, draw=_draw, transient=_tr).strip("\n").lstrip()
    )
del _func, _dim, _draw, _tr
