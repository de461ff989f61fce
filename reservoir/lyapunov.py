"""Largest Lyapunov exponent of flows, maps and driven reservoirs.

The largest Lyapunov exponent λ₁ is the mean exponential rate at which an
infinitesimal perturbation of a trajectory grows,

    λ₁ = lim_{T→∞} (1/T) log(|δx(T)| / |δx(0)|),

for almost every initial perturbation δx(0). Every estimator here follows
Benettin et al. (1980): carry one perturbation along the trajectory, let it
grow for a fixed renormalisation interval, add the logarithm of its growth
to a running sum, rescale it back to its initial size (which keeps it
infinitesimal and avoids overflow), and divide the sum by the time elapsed.
The first intervals, while the perturbation turns towards the most unstable
direction, are not counted.

Two ways of carrying the perturbation are offered:

* ``"tangent"``: integrate the variational equation dδ/dt = J(x) δ along
  with the trajectory (exact linearisation; needs J(x) v, or uses a central
  finite difference of f when none is given);
* ``"two_trajectory"``: integrate a second trajectory started at a small
  distance d₀ and renormalise the separation to d₀ (Benettin's original
  scheme; needs only f).

Flows are integrated with ``scipy.integrate.solve_ivp(method="DOP853")``.
Several trajectories can be integrated as one batch: the estimate is their
average, and its statistical error shrinks like 1/sqrt(total time) for
about the cost of one.

References
----------
G. Benettin, L. Galgani, A. Giorgilli and J.-M. Strelcyn (1980). Lyapunov
characteristic exponents for smooth dynamical systems and for Hamiltonian
systems; a method for computing all of them. Meccanica 15, 9-20.
A. Wolf, J. B. Swift, H. L. Swinney and J. A. Vastano (1985). Determining
Lyapunov exponents from a time series. Physica D 16, 285-317.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.integrate import solve_ivp

from ._backend import to_numpy
from ._validation import check_generator, check_interval
from .runtime import Reservoir

__all__ = [
    "driven_lyapunov_exponent",
    "flow_lyapunov_exponent",
    "map_lyapunov_exponent",
    "reservoir_lyapunov_exponent",
]

_METHODS = ("tangent", "two_trajectory")


def _check_method(method):
    if method not in _METHODS:
        raise ValueError(f"method must be one of {_METHODS}, got {method!r}")


def _check_states(name, x0):
    arr = np.array(x0, dtype=np.float64)
    if arr.ndim not in (1, 2) or arr.shape[-1] == 0 or arr.size == 0:
        raise ValueError(
            f"{name} must have shape (dimension,) or (n_trajectories, dimension), got shape {arr.shape}"
        )
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite, got {x0!r}")
    return np.atleast_2d(arr)


def _unit_rows(rng, shape):
    v = rng.standard_normal(shape)
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def _finite_difference_jvp(fun):
    """J(x) v by a central difference of f, with a step relative to x and v."""
    eps = np.cbrt(np.finfo(np.float64).eps)

    def jvp(x, v):
        scale = 1.0 + np.linalg.norm(x, axis=-1, keepdims=True)
        h = eps * scale / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-300)
        return (fun(x + h * v) - fun(x - h * v)) / (2.0 * h)

    return jvp


def flow_lyapunov_exponent(fun, x0, *, jvp=None, method="tangent", renormalization_interval=1.0,
                           n_intervals=500, transient=10.0, perturbation=1e-8, rtol=1e-9,
                           atol=1e-9, random_state=None):
    """Largest Lyapunov exponent of an autonomous flow dx/dt = f(x).

    Benettin's method with periodic renormalisation: the trajectory and one
    perturbation are integrated with ``scipy.integrate.solve_ivp``
    (DOP853) for ``renormalization_interval`` time units at a time; the
    growth of the perturbation over each interval is logged and the
    perturbation rescaled to its initial size.

    Parameters
    ----------
    fun : callable or VectorField
        ``fun(x)`` returns f(x) for x of shape (n_trajectories, dimension)
        (and of shape (dimension,)). A
        :class:`reservoir.datasets.VectorField` brings its own ``jvp``.
    x0 : array-like of shape (dimension,) or (n_trajectories, dimension)
        Initial states, preferably on the attractor (the first sample of a
        :mod:`reservoir.datasets` generator is). Several rows are
        integrated together and their estimates averaged.
    jvp : callable, optional
        ``jvp(x, v)`` returns J(x) v. Without one, the tangent method uses a
        central finite difference of ``fun``.
    method : {"tangent", "two_trajectory"}, default="tangent"
        Integrate the variational equation (tangent space), or a second
        trajectory at distance ``perturbation`` (relative to the size of the
        state).
    renormalization_interval : float, default=1.0
        Time between renormalisations. It should be shorter than a few
        Lyapunov times so that a two-trajectory separation stays small.
    n_intervals : int, default=500
        Intervals counted in the estimate: each trajectory contributes
        ``n_intervals * renormalization_interval`` time units.
    transient : float, default=10.0
        Time integrated first and not counted, while the perturbation
        aligns with the most unstable direction.
    perturbation : float, default=1e-8
        Initial separation of the two trajectories, relative to the RMS
        size of the state (``"two_trajectory"`` only).
    rtol, atol : float, default=1e-9
        Tolerances of the integrator. The exponent is a time average, so it
        needs the statistics of the flow rather than a trajectory accurate to
        the last digit.
    random_state : int, numpy.random.Generator or None, default=None
        Draws the initial perturbation direction.

    Returns
    -------
    float
        λ₁ in inverse time units of the flow (the Lyapunov time is 1/λ₁).

    Examples
    --------
    >>> from reservoir.datasets import lorenz63, vector_field
    >>> x0 = lorenz63(8, dt=5.0, random_state=0)  # eight points on the attractor
    >>> lam = flow_lyapunov_exponent(vector_field("lorenz63"), x0, n_intervals=40,
    ...                              random_state=0)
    >>> abs(lam - 0.9056) < 0.1
    True
    """
    if jvp is None and hasattr(fun, "jvp"):
        jvp = fun.jvp
    if hasattr(fun, "fun"):
        fun = fun.fun
    if not callable(fun):
        raise TypeError(f"fun must be callable, got {fun!r}")
    _check_method(method)
    X = _check_states("x0", x0)
    tau = float(check_interval("renormalization_interval", renormalization_interval, low=0,
                               low_inclusive=False))
    check_interval("n_intervals", n_intervals, low=1, integer=True)
    check_interval("transient", transient, low=0)
    check_interval("perturbation", perturbation, low=0, high=1e-2, low_inclusive=False)
    check_interval("rtol", rtol, low=0, low_inclusive=False)
    check_interval("atol", atol, low=0, low_inclusive=False)
    rng = check_generator(random_state)
    B, d = X.shape
    probe = np.asarray(fun(X))
    if probe.shape != X.shape:
        raise ValueError(f"fun(x) must return an array of shape {X.shape}, got {probe.shape}")

    V = _unit_rows(rng, (B, d))
    if method == "tangent":
        tangent = jvp if jvp is not None else _finite_difference_jvp(fun)

        def rhs(t, y):
            x, v = y[: B * d].reshape(B, d), y[B * d:].reshape(B, d)
            out = np.empty_like(y)
            out[: B * d] = fun(x).ravel()
            out[B * d:] = tangent(x, v).ravel()
            return out

        size = np.ones(B)
    else:
        size = perturbation * np.sqrt(np.mean(X * X, axis=1) + 1.0)
        V = V * size[:, None]

        def rhs(t, y):
            return fun(y.reshape(2 * B, d)).ravel()

    def offset(x, v):
        # The perturbation as stored in the integrated vector.
        return v if method == "tangent" else x + v

    n_transient = math.ceil(transient / tau)
    log_growth = np.zeros(B)
    for k in range(n_transient + n_intervals):
        y0 = np.concatenate([X.ravel(), offset(X, V).ravel()])
        sol = solve_ivp(rhs, (0.0, tau), y0, method="DOP853", rtol=rtol, atol=atol)
        if sol.status != 0 or not np.all(np.isfinite(sol.y[:, -1])):
            raise RuntimeError(f"integration failed after {k} intervals: {sol.message}")
        y = sol.y[:, -1]
        X = y[: B * d].reshape(B, d)
        V = y[B * d:].reshape(B, d) - (0.0 if method == "tangent" else X)
        norm = np.linalg.norm(V, axis=1)
        if np.any(norm == 0):
            raise RuntimeError("the perturbation vanished; the trajectory may sit on a fixed point")
        if k >= n_transient:
            log_growth += np.log(norm / size)
        V = V * (size / norm)[:, None]
    return float(np.mean(log_growth) / (n_intervals * tau))


def map_lyapunov_exponent(step, x0, *, n_steps=10_000, jvp=None, dt=1.0, transient=100,
                          perturbation=1e-8, random_state=None):
    """Largest Lyapunov exponent of a map x(t+1) = F(x(t)).

    The perturbation is renormalised after every step. With ``jvp`` it is
    propagated by the tangent map DF(x) v, otherwise by a second orbit at
    distance ``perturbation`` (relative to the size of the state). The
    second way works with any step function, for instance one sampling
    step of a generator of :mod:`reservoir.datasets`.

    Parameters
    ----------
    step : callable
        ``step(x)`` returns F(x) for x of shape (dimension,).
    x0 : array-like of shape (dimension,)
    n_steps : int, default=10000
        Steps counted in the estimate.
    jvp : callable, optional
        ``jvp(x, v)`` returns DF(x) v.
    dt : float, default=1.0
        Time per step: the result is per unit time, log growth / (n_steps dt).
    transient : int, default=100
        Steps taken first and not counted.
    perturbation : float, default=1e-8
    random_state : int, numpy.random.Generator or None, default=None
        Draws the initial perturbation direction.

    Returns
    -------
    float

    Examples
    --------
    >>> import numpy as np
    >>> henon = lambda s: np.array([1.0 - 1.4 * s[0] ** 2 + s[1], 0.3 * s[0]])
    >>> lam = map_lyapunov_exponent(henon, [0.1, 0.1], n_steps=20_000, random_state=0)
    >>> round(lam, 2)
    0.42
    """
    if not callable(step):
        raise TypeError(f"step must be callable, got {step!r}")
    x = _check_states("x0", x0)
    if x.shape[0] != 1:
        raise ValueError(f"x0 must have shape (dimension,), got shape {np.shape(x0)}")
    x = x[0]
    check_interval("n_steps", n_steps, low=1, integer=True)
    check_interval("transient", transient, low=0, integer=True)
    dt = float(check_interval("dt", dt, low=0, low_inclusive=False))
    check_interval("perturbation", perturbation, low=0, high=1e-2, low_inclusive=False)
    rng = check_generator(random_state)
    v = _unit_rows(rng, x.shape)
    size = 1.0 if jvp is not None else perturbation * math.sqrt(float(np.mean(x * x)) + 1.0)
    v = v * size
    total = 0.0
    for k in range(transient + n_steps):
        if jvp is not None:
            v_next = np.asarray(jvp(x, v), dtype=np.float64)
            x = np.asarray(step(x), dtype=np.float64)
        else:
            x_next = np.asarray(step(x), dtype=np.float64)
            v_next = np.asarray(step(x + v), dtype=np.float64) - x_next
            x = x_next
        norm = float(np.linalg.norm(v_next))
        if not (np.isfinite(norm) and norm > 0):
            raise RuntimeError(f"the perturbation became {norm} at step {k}")
        if k >= transient:
            total += math.log(norm / size)
        v = v_next * (size / norm)
    return total / (n_steps * dt)


def driven_lyapunov_exponent(W, W_in, bias, inputs, *, leak_rate=1.0, activation="tanh",
                             washout=100, initial_state=None, method="tangent",
                             perturbation=1e-8, random_state=None):
    """Largest Lyapunov exponent of a reservoir driven by an input sequence.

    Along the driven trajectory

        z(t) = W x(t-1) + W_in u(t) + b,   x(t) = (1 - a) x(t-1) + a f(z(t)),

    a perturbation of the state is carried by the Jacobian of one step,
    J(t) = (1 - a) I + a diag(f'(z(t))) W (``"tangent"``), or by a second
    reservoir started nearby and driven by the same input
    (``"two_trajectory"``), and renormalised after every step. The result
    is per time step. A negative value means that the driven reservoir
    forgets perturbations of its state (the echo state property along this
    input); a value near 0 is the "edge of chaos"; a positive one, that two
    copies of the reservoir driven by the same input drift apart.

    Parameters
    ----------
    W : ndarray or scipy.sparse matrix of shape (n_units, n_units)
    W_in : ndarray or scipy.sparse matrix of shape (n_units, n_features)
    bias : array-like of shape (n_units,)
    inputs : array-like of shape (n_timesteps, n_features)
        The drive u(t); a 1-D array is one feature.
    leak_rate : float in (0, 1], default=1.0
    activation : {"tanh", "identity", "relu", "sigmoid"}, default="tanh"
    washout : int, default=100
        Steps run first and not counted, while the state forgets its start
        and the perturbation aligns.
    initial_state : array-like of shape (n_units,), optional
        Zeros when None.
    method : {"tangent", "two_trajectory"}, default="tangent"
    perturbation : float, default=1e-8
        Size of the separation of the two reservoirs (``"two_trajectory"``).
    random_state : int, numpy.random.Generator or None, default=None
        Draws the initial perturbation direction.

    Returns
    -------
    float
        λ₁ per time step.

    Examples
    --------
    >>> import numpy as np
    >>> from reservoir.initializers import input_weights, recurrent_weights
    >>> W = recurrent_weights(100, spectral_radius=0.5, random_state=0)
    >>> W_in = input_weights(100, 1, random_state=1)
    >>> u = np.random.default_rng(2).uniform(-1, 1, (1000, 1))
    >>> driven_lyapunov_exponent(W, W_in, np.zeros(100), u, random_state=0) < 0
    True
    """
    _check_method(method)
    check_interval("washout", washout, low=0, integer=True)
    check_interval("perturbation", perturbation, low=0, high=1e-2, low_inclusive=False)
    reservoir = Reservoir(W, W_in, bias, leak_rate=leak_rate, activation=activation)
    return _driven_exponent(reservoir, inputs, washout=washout, initial_state=initial_state,
                            method=method, perturbation=perturbation, random_state=random_state)


def _driven_exponent(reservoir, inputs, *, washout, initial_state, method, perturbation,
                     random_state):
    """Benettin's estimate along the run of ``reservoir`` driven by ``inputs`` (host float64)."""
    N = reservoir.n_units
    U = np.asarray(to_numpy(inputs), dtype=np.float64)
    if U.ndim == 1:
        U = U[:, None]
    if U.ndim != 2 or U.shape[1] != reservoir.n_features:
        raise ValueError(
            f"inputs must have shape (n_timesteps, {reservoir.n_features}) for W_in of shape "
            f"{reservoir.W_in.shape}, got shape {U.shape}"
        )
    if U.shape[0] <= washout:
        raise ValueError(
            f"inputs has {U.shape[0]} time steps, which must exceed washout={washout}"
        )
    if not np.all(np.isfinite(U)):
        raise ValueError("inputs contains NaN or infinity")
    x = np.zeros(N) if initial_state is None else np.asarray(initial_state, dtype=np.float64)
    if x.shape != (N,):
        raise ValueError(f"initial_state must have shape ({N},), got shape {x.shape}")
    rng = check_generator(random_state)
    v = _unit_rows(rng, (N,))
    size = 1.0 if method == "tangent" else perturbation * max(1.0, float(np.linalg.norm(x)))
    v = v * size
    total = 0.0
    for t in range(U.shape[0]):
        if method == "tangent":
            x, v = reservoir.step(U[t], x, tangent=v)
        else:
            # The reference and the perturbed reservoir, driven by the same input, as one batch.
            pair = reservoir.step(np.stack([U[t], U[t]]), np.stack([x, x + v]))
            x, v = pair[0], pair[1] - pair[0]
        norm = float(np.linalg.norm(v))
        if norm == 0.0:
            # A dead perturbation (relu units all off): no growth at all.
            return -math.inf
        if t >= washout:
            total += math.log(norm / size)
        v = v * (size / norm)
    return total / (U.shape[0] - washout)


def reservoir_lyapunov_exponent(reservoir, X, *, washout=100, method="tangent",
                                random_state=None):
    """Largest Lyapunov exponent of a reservoir estimator driven by X.

    Uses the fitted reservoir (``reservoir_``, a :class:`reservoir.Reservoir`)
    of a :class:`reservoir.ReservoirTransformer`, :class:`reservoir.ESNRegressor`
    or :class:`reservoir.ESNClassifier`; an unfitted one is cloned and fitted
    on X first. The computation is :func:`driven_lyapunov_exponent`, from a
    zero initial state, without output feedback.

    Parameters
    ----------
    reservoir : estimator
    X : array-like of shape (n_timesteps, n_features)
    washout : int, default=100
    method : {"tangent", "two_trajectory"}, default="tangent"
    random_state : int, numpy.random.Generator or None, default=None
        Draws the initial perturbation direction (the reservoir's weights
        come from its own ``random_state``).

    Returns
    -------
    float
        λ₁ per time step.
    """
    X = np.asarray(to_numpy(X), dtype=np.float64)
    if X.ndim == 1:
        X = X[:, None]
    if not hasattr(reservoir, "reservoir_"):
        from sklearn.base import clone

        reservoir = clone(reservoir).fit(X)
    _check_method(method)
    check_interval("washout", washout, low=0, integer=True)
    res = reservoir.reservoir_
    # Without its feedback weights: the reservoir driven by X alone, in float64.
    plain = Reservoir(res.W, res.W_in, res.bias, leak_rate=res.leak_rate,
                      activation=res.activation)
    return _driven_exponent(plain, X, washout=washout, initial_state=None, method=method,
                            perturbation=1e-8, random_state=random_state)
