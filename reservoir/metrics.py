"""The field's metrics: normalised error, valid prediction time, memory capacity.

Each metric states its normalisation, because results are only comparable
when it is the same: an NRMSE divided by the standard deviation is not one
divided by the range (and one "divided by the variance" is not an NRMSE at
all); a valid prediction time depends on its threshold; a memory capacity
on its delays, its input law and whether r² was measured on the data the
readouts were trained on.

:func:`nrmse` and :func:`valid_prediction_time` work on arrays of any
Array-API library (NumPy, CuPy, ...); the memory capacity is a host-side
diagnostic (NumPy and SciPy).

References
----------
H. Jaeger (2001). Short term memory in echo state networks. GMD Report 152.
J. Pathak, B. Hunt, M. Girvan, Z. Lu and E. Ott (2018). Model-free prediction
of large spatiotemporally chaotic systems from data: a reservoir computing
approach. Physical Review Letters 120, 024102.
P. R. Vlachas et al. (2020). Backpropagation algorithms and reservoir
computing in recurrent neural networks for the forecasting of complex
spatiotemporal dynamics. Neural Networks 126, 191-217.
J. A. Platt, S. G. Penny, T. A. Smith, T.-C. Chen and H. D. I. Abarbanel
(2022). A systematic exploration of reservoir computing for forecasting
complex spatiotemporal dynamics. Neural Networks 153, 530-552.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ._backend import get_namespace, to_numpy
from ._validation import check_generator, check_interval
from .readout import RidgeReadout

__all__ = [
    "ValidPredictionTime",
    "memory_capacity",
    "memory_capacity_from_states",
    "nrmse",
    "valid_prediction_time",
]

NORMALIZATIONS = ("std", "range", "mean")
MULTIOUTPUT = ("uniform_average", "raw_values", "pooled")


def _as_float_array(name, a, xp):
    a = a if hasattr(a, "shape") and hasattr(a, "dtype") else xp.asarray(np.asarray(a, dtype=np.float64))
    if not xp.isdtype(a.dtype, "real floating"):
        if not xp.isdtype(a.dtype, ("integral", "bool")):
            raise TypeError(f"{name} must hold real numbers, got dtype {a.dtype}")
        a = xp.astype(a, xp.float64)
    return a


def _paired(y_true, y_pred, *, ndims=(1, 2)):
    """Validate two arrays of the same shape; 1-D becomes one column."""
    xp = get_namespace(y_true, y_pred)
    y_true = _as_float_array("y_true", y_true, xp)
    y_pred = _as_float_array("y_pred", y_pred, xp)
    if tuple(y_true.shape) != tuple(y_pred.shape):
        raise ValueError(
            f"y_true and y_pred must have the same shape, got {tuple(y_true.shape)} and "
            f"{tuple(y_pred.shape)}"
        )
    if y_true.ndim not in ndims:
        raise ValueError(
            f"y_true must have {' or '.join(map(str, ndims))} dimensions, got shape {tuple(y_true.shape)}"
        )
    if y_true.ndim == 1:
        y_true, y_pred = xp.reshape(y_true, (-1, 1)), xp.reshape(y_pred, (-1, 1))
    if y_true.shape[-2] == 0:
        raise ValueError("y_true is empty: found 0 time steps, expected at least 1")
    return y_true, y_pred, xp


def nrmse(y_true, y_pred, *, normalization="std", multioutput="uniform_average"):
    """Normalised root-mean-square error.

    For each output dimension i,

        NRMSE_i = sqrt(mean_t (ŷ_i(t) - y_i(t))²) / s_i,

    where s_i is, by ``normalization``, the standard deviation of y_i
    (population, ddof=0), its range max - min, or the absolute value of its
    mean, all computed on ``y_true``. Note that s_i is a standard
    deviation, never a variance: the square of the NRMSE with "std" is the
    NMSE.

    Parameters
    ----------
    y_true, y_pred : array of shape (n_timesteps,) or (n_timesteps, n_outputs)
    normalization : {"std", "range", "mean"}, default="std"
    multioutput : {"uniform_average", "raw_values", "pooled"}, default="uniform_average"
        "raw_values" returns NRMSE_i per dimension; "uniform_average" their
        mean; "pooled" one error over all dimensions,
        sqrt(mean_i MSE_i) / sqrt(mean_i s_i²) (with "std": the square root
        of the total squared error over the total variance).

    Returns
    -------
    float, or array of shape (n_outputs,) for "raw_values"

    Raises
    ------
    ValueError
        If shapes differ or a normaliser s_i is zero (a constant target).

    Examples
    --------
    >>> import numpy as np
    >>> from reservoir.metrics import nrmse
    >>> y = np.sin(2 * np.pi * np.arange(1000) / 100)   # ten periods: std 1/sqrt(2)
    >>> round(nrmse(y, y + 0.01), 4)
    0.0141
    >>> round(nrmse(y, np.zeros_like(y)), 4)   # predicting the mean of a zero-mean signal
    1.0
    """
    if normalization not in NORMALIZATIONS:
        raise ValueError(f"normalization must be one of {NORMALIZATIONS}, got {normalization!r}")
    if multioutput not in MULTIOUTPUT:
        raise ValueError(f"multioutput must be one of {MULTIOUTPUT}, got {multioutput!r}")
    y_true, y_pred, xp = _paired(y_true, y_pred)
    mse = xp.mean((y_pred - y_true) ** 2, axis=0)
    if normalization == "std":
        scale = xp.std(y_true, axis=0)
    elif normalization == "range":
        scale = xp.max(y_true, axis=0) - xp.min(y_true, axis=0)
    else:
        scale = xp.abs(xp.mean(y_true, axis=0))
    zero = to_numpy(scale == 0)
    if np.any(zero):
        raise ValueError(
            f"cannot normalise by the {normalization} of y_true: it is 0 for output dimension(s) "
            f"{np.flatnonzero(zero).tolist()}"
        )
    if multioutput == "raw_values":
        return xp.sqrt(mse) / scale
    if multioutput == "pooled":
        return float(xp.sqrt(xp.mean(mse)) / xp.sqrt(xp.mean(scale ** 2)))
    return float(xp.mean(xp.sqrt(mse) / scale))


@dataclass(frozen=True, eq=False)
class ValidPredictionTime:
    """Valid prediction time of one forecast (or of several windows), with its settings.

    ``float(vpt)`` is ``vpt.lyapunov_times`` for a single forecast.

    Attributes
    ----------
    lyapunov_times : float or ndarray of shape (n_windows,)
        VPT in Lyapunov times: λ₁ × the time before the error first exceeds
        the threshold.
    time : float or ndarray
        The same in the system's time units.
    n_valid_steps : int or ndarray
        Forecast steps before the first one whose error exceeds the threshold.
    reached_horizon : bool or ndarray
        True where the error never exceeded the threshold: the VPT is then
        the horizon, a lower bound of the true one.
    threshold : float
        ε, the error threshold.
    dt : float
    lyapunov_exponent : float
    errors : ndarray of shape (horizon,) or (n_windows, horizon)
        The normalised error e(t) of every step.
    """

    lyapunov_times: object
    time: object
    n_valid_steps: object
    reached_horizon: object
    threshold: float
    dt: float
    lyapunov_exponent: float
    errors: np.ndarray = field(repr=False)

    def __float__(self):
        if np.ndim(self.lyapunov_times) != 0:
            raise TypeError(
                f"this VPT holds {np.size(self.lyapunov_times)} windows; use .lyapunov_times"
            )
        return float(self.lyapunov_times)


def valid_prediction_time(y_true, y_pred, *, dt, lyapunov_exponent, threshold, y_train=None,
                          scale=None):
    """Valid prediction time (VPT) of a free-running forecast, in Lyapunov times.

    The error at forecast step t is

        e(t) = sqrt( mean_i ((ŷ_i(t) - y_i(t)) / σ_i)² ),

    with σ_i the standard deviation of component i over the training data
    (``y_train``) when given, the given ``scale`` when that is, else over
    ``y_true``. The VPT is the time
    before e first exceeds the threshold ε, times the largest Lyapunov
    exponent λ₁: n_valid × dt × λ₁, where steps 1 .. n_valid are the valid
    ones (a NaN error, from a diverged forecast, counts as exceeding). A
    forecast that stays valid over the whole horizon gets the horizon, with
    ``reached_horizon`` set.

    The threshold is the caller's choice, and is recorded in the result:
    ε = 0.3 (Platt et al. 2022), 0.4, and 0.5 (Vlachas et al. 2020) are all
    in use, and VPTs at different thresholds are not comparable.

    Parameters
    ----------
    y_true, y_pred : array of shape (horizon,), (horizon, n_features) or
        (n_windows, horizon, n_features)
        The true continuation and the forecast, step 1 first. With a 3-D
        array, each window gets its own VPT.
    dt : float
        Time between steps.
    lyapunov_exponent : float
        λ₁ of the system, per time unit (see
        :data:`reservoir.datasets.LYAPUNOV_EXPONENTS`).
    threshold : float
        ε > 0.
    y_train : array of shape (n_timesteps, n_features), optional
        Training data, for σ_i.
    scale : float or array-like of shape (n_features,), optional
        σ_i given directly, instead of ``y_train``.

    Returns
    -------
    ValidPredictionTime

    Examples
    --------
    >>> import numpy as np
    >>> from reservoir.datasets import lorenz63
    >>> from reservoir.metrics import valid_prediction_time
    >>> y = lorenz63(500, random_state=0)
    >>> vpt = valid_prediction_time(y, y, dt=0.01, lyapunov_exponent=0.9056, threshold=0.3)
    >>> round(float(vpt), 4), vpt.reached_horizon   # perfect: the whole horizon
    (4.528, True)
    """
    y_true, y_pred, xp = _paired(y_true, y_pred, ndims=(1, 2, 3))
    dt = float(check_interval("dt", dt, low=0, low_inclusive=False))
    lam = float(check_interval("lyapunov_exponent", lyapunov_exponent, low=0, low_inclusive=False))
    threshold = float(check_interval("threshold", threshold, low=0, low_inclusive=False))
    n_features = y_true.shape[-1]
    if y_train is not None and scale is not None:
        raise ValueError("give y_train or scale (the standard deviations themselves), not both")
    if scale is not None:
        sigma = np.broadcast_to(np.asarray(scale, dtype=float), (n_features,))
        if not np.all(np.isfinite(sigma)) or np.any(sigma <= 0):
            raise ValueError(f"scale must hold positive finite standard deviations, got {scale!r}")
    elif y_train is not None:
        xp_train = get_namespace(y_train)
        train = _as_float_array("y_train", y_train, xp_train)
        if train.ndim == 1:
            train = xp_train.reshape(train, (-1, 1))
        if train.shape[-1] != n_features or train.ndim not in (2, 3):
            raise ValueError(
                f"y_train must have shape (n_timesteps, {n_features}), got {tuple(train.shape)}"
            )
        sigma = np.std(to_numpy(train).reshape(-1, n_features), axis=0)
    else:
        sigma = to_numpy(xp.std(xp.reshape(y_true, (-1, n_features)), axis=0))
    if np.any(sigma == 0):
        raise ValueError(
            f"component(s) {np.flatnonzero(sigma == 0).tolist()} of the "
            f"{'training data' if y_train is not None else 'y_true'} are constant (sigma = 0); "
            "their error cannot be normalised"
        )
    errors = to_numpy(xp.sqrt(xp.mean(((y_pred - y_true) / xp.asarray(sigma)) ** 2, axis=-1)))
    exceeded = ~(errors <= threshold)
    horizon = errors.shape[-1]
    reached = ~np.any(exceeded, axis=-1)
    n_valid = np.where(reached, horizon, np.argmax(exceeded, axis=-1))
    time = n_valid * dt
    if errors.ndim == 1:
        n_valid, time, reached = int(n_valid), float(time), bool(reached)
    return ValidPredictionTime(
        lyapunov_times=time * lam, time=time, n_valid_steps=n_valid, reached_horizon=reached,
        threshold=threshold, dt=dt, lyapunov_exponent=lam, errors=errors,
    )


# --------------------------------------------------------------------------
# Memory capacity
# --------------------------------------------------------------------------

def _count(name, size, n):
    if isinstance(size, (int, np.integer)) and not isinstance(size, bool):
        return int(check_interval(name, size, low=2, high=n - 2, integer=True))
    check_interval(name, size, low=0, high=1, low_inclusive=False, high_inclusive=False)
    return int(round(size * n))


def memory_capacity_from_states(states, inputs, *, max_delay, washout=0, test_size=0.25,
                                alpha=1e-8, return_curve=False):
    """Memory capacity (Jaeger 2001) from collected reservoir states.

    For each delay k = 1 .. ``max_delay`` a linear readout ŷ_k (with an
    intercept, ridge penalty ``alpha``) is trained to recall u(t-k) from the
    state x(t); its score is the squared correlation coefficient

        MC_k = corr(u(t-k), ŷ_k(t))²

    measured on held-out time steps, and MC = Σ_k MC_k. Jaeger's definition
    uses the correlation on the training data; measuring it on the last
    ``test_size`` steps instead removes the upward bias of fitting N weights
    to finite data (about N/T per delay, which summed over 2N delays adds
    2N²/T: 4 units of capacity for N = 100 and T = 5000). For i.i.d. input
    MC <= N.

    Parameters
    ----------
    states : array of shape (n_timesteps, n_units)
        x(t) after the input u(t) has entered (the usual reservoir update).
    inputs : array of shape (n_timesteps,) or (n_timesteps, 1)
        The i.i.d. input that drove the reservoir.
    max_delay : int
        Largest delay k; Jaeger uses about 2 n_units.
    washout : int, default=0
        Steps dropped at the start; steps before ``max_delay`` are dropped
        too, so that every delay of every used step exists.
    test_size : float or int, default=0.25
        Held-out steps at the end (fraction of the used steps, or a count).
    alpha : float, default=1e-8
        Ridge penalty of the readout (:class:`reservoir.RidgeReadout`,
        unpenalised intercept); all delays are one multi-output fit.
    return_curve : bool, default=False
        Also return MC_k for every delay (the "forgetting curve").

    Returns
    -------
    mc : float
    curve : ndarray of shape (max_delay,)
        Only with ``return_curve``; ``curve[k - 1]`` is MC_k.

    Examples
    --------
    >>> import numpy as np
    >>> from reservoir.metrics import memory_capacity_from_states
    >>> u = np.random.default_rng(0).uniform(-0.8, 0.8, 3000)
    >>> states = np.stack([np.roll(u, k) for k in range(5)], axis=1)  # a perfect delay line
    >>> mc, curve = memory_capacity_from_states(states, u, max_delay=10, return_curve=True)
    >>> curve[:5].round(6)   # delays 1-4 recalled exactly, the rest only by chance
    array([1.      , 1.      , 1.      , 1.      , 0.001575])
    >>> round(mc, 2)
    4.0
    """
    X = np.asarray(to_numpy(states), dtype=np.float64)
    u = np.asarray(to_numpy(inputs), dtype=np.float64)
    if u.ndim == 2 and u.shape[1] == 1:
        u = u[:, 0]
    if X.ndim != 2:
        raise ValueError(f"states must have shape (n_timesteps, n_units), got shape {X.shape}")
    if u.ndim != 1:
        raise ValueError(f"inputs must have shape (n_timesteps,) or (n_timesteps, 1), got shape {u.shape}")
    if u.shape[0] != X.shape[0]:
        raise ValueError(
            f"states and inputs must have the same number of time steps, got {X.shape[0]} and {u.shape[0]}"
        )
    if not (np.all(np.isfinite(X)) and np.all(np.isfinite(u))):
        raise ValueError("states and inputs must be finite")
    check_interval("max_delay", max_delay, low=1, integer=True)
    check_interval("washout", washout, low=0, integer=True)
    check_interval("alpha", alpha, low=0)
    start = max(washout, max_delay)
    n_used = X.shape[0] - start
    if n_used < 10:
        raise ValueError(
            f"{X.shape[0]} time steps leave {n_used} after dropping max(washout, max_delay)={start}; "
            "provide longer sequences"
        )
    n_test = _count("test_size", test_size, n_used)
    n_train = n_used - n_test
    if n_test < 2 or n_train < 2:
        raise ValueError(f"test_size={test_size} leaves {n_train} training and {n_test} test steps")

    rows = np.arange(start, X.shape[0])
    train, test = rows[:n_train], rows[n_train:]
    delays = np.arange(1, max_delay + 1)
    # One multi-output ridge readout recalls every delay: a single factorisation.
    readout = RidgeReadout(alpha=alpha).fit(X[train], u[train[:, None] - delays[None, :]])
    P = readout.predict(X[test])
    T = u[test[:, None] - delays[None, :]]
    P = P - P.mean(axis=0)
    T = T - T.mean(axis=0)
    cov = np.sum(P * T, axis=0)
    var = np.sum(P * P, axis=0) * np.sum(T * T, axis=0)
    curve = np.divide(cov * cov, var, out=np.zeros_like(cov), where=var > 0)
    mc = float(curve.sum())
    return (mc, curve) if return_curve else mc


def memory_capacity(reservoir, *, max_delay=None, n_timesteps=7200, washout=200, test_size=2000,
                    input_range=(-0.8, 0.8), alpha=1e-8, random_state=None, return_curve=False):
    """Memory capacity (Jaeger 2001) of a reservoir estimator.

    Protocol: a single-feature i.i.d. input u(t), uniform on
    ``input_range``, of ``n_timesteps`` steps, drives a clone of
    ``reservoir`` (fitted on it, so its weights come from the reservoir's
    own ``random_state``) from a zero state; ``fit_transform`` gives the states;
    :func:`memory_capacity_from_states` then trains one ridge readout per
    delay k = 1 .. ``max_delay`` on the steps after the washout and scores
    it on the last ``test_size`` steps. With the defaults and 100 units:
    200 delays, 200 washout steps, 5000 training and 2000 test steps.

    Parameters
    ----------
    reservoir : estimator
        Unfitted, with ``fit_transform(X)`` returning states of
        shape (n_timesteps, n_units), such as
        :class:`reservoir.ReservoirTransformer`. It is cloned, never
        modified.
    max_delay : int, optional
        2 n_units when None (n_units from the fitted clone's ``W_``, or the
        width of the states).
    n_timesteps : int, default=7200
    washout : int, default=200
    test_size : int or float, default=2000
    input_range : tuple of float, default=(-0.8, 0.8)
    alpha : float, default=1e-8
    random_state : int, numpy.random.Generator or None, default=None
        Draws the input (the reservoir's weights follow its own
        ``random_state``).
    return_curve : bool, default=False

    Returns
    -------
    mc : float
    curve : ndarray of shape (max_delay,), only with ``return_curve``

    Examples
    --------
    >>> from reservoir import ReservoirTransformer
    >>> from reservoir.metrics import memory_capacity
    >>> esn = ReservoirTransformer(50, spectral_radius=0.9, input_scaling=0.1, random_state=0)
    >>> 10 < memory_capacity(esn, n_timesteps=3000, test_size=1000, random_state=0) <= 50
    True
    """
    from sklearn.base import clone

    check_interval("n_timesteps", n_timesteps, low=1, integer=True)
    try:
        low, high = (float(v) for v in input_range)
    except (TypeError, ValueError):
        raise ValueError(f"input_range must be a pair (low, high), got {input_range!r}") from None
    if not (np.isfinite(low) and np.isfinite(high) and low < high):
        raise ValueError(f"input_range must be a pair (low, high) with low < high, got {input_range!r}")
    u = check_generator(random_state).uniform(low, high, (n_timesteps, 1))
    estimator = clone(reservoir)
    if "washout" in estimator.get_params():
        # This protocol's own washout applies; the states must align with u.
        estimator.set_params(washout=0)
    states = estimator.fit_transform(u)
    if max_delay is None:
        W = getattr(estimator, "W_", None)
        max_delay = 2 * (W.shape[0] if W is not None else int(states.shape[1]))
    return memory_capacity_from_states(states, u, max_delay=max_delay, washout=washout,
                                       test_size=test_size, alpha=alpha,
                                       return_curve=return_curve)
