"""An automatic forecaster: reservoirs searched on their closed-loop forecasts of the series itself.

:class:`AutoESNForecaster` is what a user reaches for who has one series and
no time to tune: ``fit(series)`` standardises it, draws echo state networks
(and NVAR models) from ranges stated in standard units, fits each on one
half of the series and scores it by closed-loop forecasts from windows of
the other half (a blocked two-fold cross-validation after Racca & Magri
2021), every ridge penalty at once
(:meth:`reservoir.ESNRegressor.forecast_ridge_path`).
Successive halving lengthens the forecast horizon for the better third at
each rung, so that the many short forecasts sort out the poor candidates and
the long ones separate the good.
"""

from __future__ import annotations

import copy
import math
import time
import warnings

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.utils.validation import check_is_fitted

from ._base import ForecastDivergenceWarning
from ._validation import check_generator, check_interval
from .esn import ESNRegressor
from .nvar import NVARRegressor

__all__ = ["AutoESNForecaster", "SEARCH_SPACE"]

# Ranges of the search, in the units of the standardised series (every
# feature of mean 0 and standard deviation 1), so that they hold for any
# series whatever its scale. Log-uniform laws span the two regimes of the
# spectral radius that work for chaotic flows (small radii with a strong
# input, radii near 1 with a weak one; Hurley & Shaheen 2025) and the decades
# of the leak rate and the input scaling that the development systems of
# benchmarks/zoo.py needed.
SEARCH_SPACE = {
    "spectral_radius": ("loguniform", 0.05, 1.5),
    "leak_rate": ("loguniform", 0.05, 1.0),
    "input_scaling": ("loguniform", 0.02, 2.0),
    "bias_scaling": ("uniform", 0.0, 2.0),
}
# Every candidate's readout is scored at each of these penalties for the
# price of one (the ridge path); the search keeps the best.
ALPHAS = tuple(float(a) for a in np.logspace(-10, 2, 13))
# NVAR candidates: delays and strides, quadratic monomials, increments fitted
# (Gauthier et al. 2021).
NVAR_DELAYS = (1, 2, 3, 4)
NVAR_STRIDES = (1, 2, 4, 8, 16)
# An error beyond this many standard deviations (or not finite) counts as
# this many: a diverging candidate scores worst, with a finite score.
_ERROR_CAP = 1e6
# The smallest error the valid-time score tells apart from a perfect forecast.
_ERROR_FLOOR = 1e-8


def _draw(rng, law, low, high):
    if law == "loguniform":
        return float(np.exp(rng.uniform(np.log(low), np.log(high))))
    return float(rng.uniform(low, high))


def _window_errors(truth, forecast):
    """e(t) per window, (n_windows, horizon): the RMS over features of the forecast's error.

    On the standardised series, so in standard deviations; diverged steps
    (NaN) and overflows count as the cap.
    """
    with np.errstate(over="ignore", invalid="ignore"):
        e = np.sqrt(np.mean((np.asarray(forecast, dtype=float) - truth) ** 2, axis=-1))
    return np.where(np.isfinite(e), np.minimum(e, _ERROR_CAP), _ERROR_CAP)


def window_scores(truth, forecast, *, metric, threshold):
    """One score per forecast window; higher is better.

    ``"vpt"``: the valid time in steps, n_valid, the steps before e(t) first
    exceeds ``threshold``. A window valid to its end is ranked further by
    how far its largest error stayed below the threshold, on a log scale
    (up to one more horizon for an error of 1e-8): a small error at the
    horizon predicts a long valid time (Hurley & Shaheen 2025), and this
    keeps short first rungs of the halving from ending in ties.
    ``"nrmse"``: minus the root mean square of e(t) over the window.

    Parameters
    ----------
    truth, forecast : arrays of shape (n_windows, horizon, n_features)
    metric : {"vpt", "nrmse"}
    threshold : float

    Returns
    -------
    scores : array of shape (n_windows,)
    """
    e = _window_errors(truth, forecast)
    horizon = e.shape[1]
    if metric == "nrmse":
        return -np.sqrt(np.mean(e**2, axis=1))
    above = e > threshold
    valid = np.where(above.any(axis=1), above.argmax(axis=1), horizon).astype(float)
    reached = valid == horizon
    margin = np.log(threshold / np.maximum(e.max(axis=1), _ERROR_FLOOR)) / np.log(threshold / _ERROR_FLOOR)
    return valid + np.where(reached, horizon * np.clip(margin, 0.0, 1.0), 0.0)


def _standardisation(series):
    """Per-feature mean and standard deviation of a series (a constant feature: scale 1)."""
    scale = series.std(axis=0)
    return series.mean(axis=0), np.where(scale > 0, scale, 1.0)


class _Candidate:
    """One configuration of the search, its fitted model and its scores per rung."""

    def __init__(self, index, params):
        self.index = index
        self.params = params
        self.model = None
        self.scores = []        # (rung, horizon, mean score, std over windows, best alpha)
        self.fit_time = 0.0
        self.score_time = 0.0


class AutoESNForecaster(RegressorMixin, BaseEstimator):
    """Echo state network forecaster that tunes itself on the series it is given.

    ``fit(series)`` searches reservoir hyperparameters on closed-loop
    forecast quality, within ``n_iter`` candidates and, optionally, a time
    budget; ``forecast`` then continues the series (or any context) in
    closed loop with the best model, in the series' own units.

    The search, step by step:

    1. The series is standardised (per feature, by the training series'
       mean and standard deviation); every range below is in those units.
    2. ``n_iter`` candidates are drawn: echo state networks of ``n_units``
       units with squared states in the readout, spectral radius, leak
       rate and input scaling log-uniform over [0.05, 1.5], [0.05, 1] and
       [0.02, 2], bias scaling uniform over [0, 2] (``SEARCH_SPACE``), and,
       with ``include_nvar``, one in five an :class:`NVARRegressor` (1 to 4
       delays, strides 1 to 16, quadratic monomials, fitted on increments).
    3. Each candidate is fitted one step ahead on each half of the series
       (the first ``context`` steps of a half as washout) and run closed
       loop from windows spread evenly across the *other* half: ``context``
       steps teacher forced, then ``horizon`` steps forecast. Every window
       is out of sample (two blocked folds, the chaotic k-fold of Racca &
       Magri 2021 with k = 2); ``validation="recycle"`` instead fits once on
       the whole series and forecasts windows of the same rows, which is
       cheaper and, on noisy series, picks penalties too small. The readout
       is re-solved for 13 ridge penalties, 1e-10 to 1e2, and every penalty
       forecasts in the same batch (:meth:`ESNRegressor.forecast_ridge_path`);
       a candidate's score is its best penalty's mean window score
       (:func:`window_scores`).
    4. Without a fixed ``horizon``, the score is the valid time (the steps
       before the forecast's error, in standard deviations, first exceeds
       ``threshold``), and the search is a successive halving on the
       horizon: the first rung forecasts ``initial_horizon`` steps, and each
       rung keeps the best third of the candidates and triples the horizon,
       up to what the series holds. With a fixed ``horizon`` (a real series
       forecast over a known horizon) the score is minus the error's root
       mean square over that horizon, and every candidate is scored once.

    The best candidate, at its best penalty, is refitted on the whole series
    (in standard units) as ``best_estimator_``; ``predict``, ``forecast`` and
    ``score`` take and return the series' own units.

    Given a target ``y`` that is not the series one step ahead (inputs X
    driving outputs y), there is no closed loop to score: candidates are
    fitted on the first three quarters of the rows and scored by their
    one-step R² on the rest, continuing the state, and the best is refitted
    on all rows.

    Parameters
    ----------
    n_units : int, default=500
        Reservoir size of the echo state network candidates.
    n_iter : int, default=40
        Number of candidates drawn.
    time_budget : float or None, default=45.0
        Seconds the search may take. A candidate is not started when the
        time it is expected to take (the median of its rung's latest five) would
        overrun the budget; rung r stops at 1 - 2^-(r + 1) of it (half for
        the first rung), so that the longer horizons keep their share. The
        best of what was scored is kept. None: no limit, and the result
        depends only on ``random_state`` (with a budget, a slower machine
        may score fewer candidates).
    horizon : int, optional
        Forecast steps scored per window. None: successive halving on the
        valid time (see above); an int: the error over that horizon.
    initial_horizon : int, default=100
        The first rung's horizon, without a fixed ``horizon``.
    context : int, optional
        Teacher-forced steps before each validation forecast, and the
        candidates' washout. None: min(200, n_timesteps // 20), at least 10.
    n_windows : int, default=16
        Validation windows, spread evenly across the series (half of them in
        each half with ``validation="folds"``).
    validation : {"folds", "recycle"}, default="folds"
        Out-of-sample windows of two blocked folds, or windows of the rows
        the model was fitted on (see above).
    threshold : float, default=0.3
        The valid time's error threshold ε, in standard deviations (Platt et
        al. 2022).
    include_nvar : bool, default=True
        Draw NVAR candidates too, compared on the same windows.
    n_jobs : int, optional
        Candidates scored in parallel (joblib); None: one at a time. The
        result does not depend on it.
    random_state : int, numpy.random.Generator or None, default=None
        Seeds the draws of the candidates and their reservoirs.
    verbose : int, default=0
        1: one line per rung; 2: one line per candidate.

    Attributes
    ----------
    best_estimator_ : ESNRegressor or NVARRegressor
        The chosen model, fitted on the standardised series.
    best_params_ : dict
        Its parameters: ``"model"`` (``"esn"`` or ``"nvar"``), the drawn
        hyperparameters, ``alpha`` and its reservoir's ``random_state``.
    best_score_ : float
        Its mean window score at the last rung it reached.
    best_index_ : int
        Its row in ``cv_results_``.
    cv_results_ : dict of arrays
        One row per candidate: ``params``, ``model``, ``param_<name>``
        (NaN where a name does not apply), ``iter`` (the last rung the
        candidate reached), ``horizon`` (its forecast steps), ``alpha``
        (its best penalty there), ``mean_test_score`` and
        ``std_test_score`` (over windows, at that rung), ``rank_test_score``
        (candidates of later rungs rank first, as in scikit-learn's
        halving searches), ``mean_fit_time`` and ``mean_score_time``.
    n_candidates_ : list of int
        Candidates scored at each rung.
    horizons_ : list of int
        The horizon of each rung.
    mean_, scale_ : arrays of shape (n_features,)
        The standardisation of the series (a constant feature has scale 1).
    search_time_ : float
        Seconds the search took.
    n_features_in_ : int
    n_outputs_ : int

    Examples
    --------
    >>> import numpy as np
    >>> from reservoir import AutoESNForecaster
    >>> t = np.arange(3000) * 0.05
    >>> series = np.column_stack([np.sin(t), np.cos(0.5 * t)]) * 10 + 5
    >>> auto = AutoESNForecaster(n_units=50, n_iter=4, n_windows=4, random_state=0)
    >>> auto = auto.fit(series)
    >>> auto.forecast(50).shape
    (50, 2)
    >>> future = np.column_stack([np.sin(t[-1] + 0.05 * np.arange(1, 51)),
    ...                           np.cos(0.5 * (t[-1] + 0.05 * np.arange(1, 51)))]) * 10 + 5
    >>> bool(np.abs(auto.forecast(50) - future).max() < 0.5)
    True
    """

    def __init__(self, n_units=500, *, n_iter=40, time_budget=45.0, horizon=None, initial_horizon=100,
                 context=None, n_windows=16, validation="folds", threshold=0.3, include_nvar=True,
                 n_jobs=None, random_state=None, verbose=0):
        self.n_units = n_units
        self.n_iter = n_iter
        self.time_budget = time_budget
        self.horizon = horizon
        self.initial_horizon = initial_horizon
        self.context = context
        self.n_windows = n_windows
        self.validation = validation
        self.threshold = threshold
        self.include_nvar = include_nvar
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.verbose = verbose

    # ------------------------------------------------------------------ parameters

    def _validate_params(self):
        check_interval("n_units", self.n_units, low=1, integer=True)
        check_interval("n_iter", self.n_iter, low=1, integer=True)
        check_interval("time_budget", self.time_budget, low=0, low_inclusive=False, allow_none=True)
        check_interval("horizon", self.horizon, low=1, integer=True, allow_none=True)
        check_interval("initial_horizon", self.initial_horizon, low=1, integer=True)
        check_interval("context", self.context, low=1, integer=True, allow_none=True)
        check_interval("n_windows", self.n_windows, low=1, integer=True)
        check_interval("threshold", self.threshold, low=0, low_inclusive=False)
        check_interval("n_jobs", self.n_jobs, integer=True, allow_none=True)
        check_interval("verbose", self.verbose, low=0, integer=True)
        if self.validation not in ("folds", "recycle"):
            raise ValueError(f"validation must be 'folds' or 'recycle', got {self.validation!r}")
        if not isinstance(self.include_nvar, (bool, np.bool_)):
            raise TypeError(f"include_nvar must be a bool, got {self.include_nvar!r}")

    # ------------------------------------------------------------------ data

    def _series(self, X, name, *, reset, univariate_ok=True):
        """X as one 2-D float64 series (a 1-D array is one feature, where allowed), checked."""
        from sklearn.utils.validation import validate_data

        if isinstance(X, (list, tuple)) and any(hasattr(s, "shape") for s in X):
            # A list of arrays is a list of series, as everywhere in the package.
            raise ValueError(f"{type(self).__name__} fits one series; {name} is a list of "
                             f"{len(X)} series. Fit one forecaster per series.")
        import scipy.sparse

        if scipy.sparse.issparse(X):
            # validate_data says that sparse series are not supported.
            return validate_data(self, X, reset=reset)
        if not hasattr(X, "columns"):
            X = np.asarray(X)
        if np.ndim(X) == 1:
            if not univariate_ok:
                raise ValueError(
                    f"{name} is 1-D with shape {np.shape(X)}; with targets y, X must be 2-D, of "
                    f"shape (n_timesteps, n_features). Reshape your data with {name}.reshape(-1, 1) "
                    "for one input feature.")
            X = np.reshape(X, (-1, 1))
        if np.ndim(X) == 3:
            raise ValueError(f"{type(self).__name__} fits one series; {name} has shape "
                             f"{np.shape(X)}, a batch of {np.shape(X)[0]} series. Fit one "
                             "forecaster per series.")
        if not reset and np.ndim(X) == 2 and np.shape(X)[1] != self.n_features_in_:
            raise ValueError(f"{name} has {np.shape(X)[1]} features, but {type(self).__name__} "
                             f"is expecting {self.n_features_in_} features as input (the series "
                             "it was fitted on)")
        return validate_data(self, X, reset=reset, dtype=np.float64, ensure_min_samples=1)

    def _context_length(self, n_timesteps):
        if self.context is not None:
            return int(self.context)
        return max(10, min(200, n_timesteps // 20))

    # ------------------------------------------------------------------ candidates

    def _draw_candidates(self, rng, context):
        candidates = []
        for i in range(self.n_iter):
            seed = int(rng.integers(2**31 - 1))
            nvar = self.include_nvar and (i % 5 == 4)
            if nvar:
                delays = int(rng.choice(NVAR_DELAYS))
                strides = [s for s in NVAR_STRIDES if (delays - 1) * s < context]
                params = dict(model="nvar", n_delays=delays, stride=int(rng.choice(strides)))
            else:
                params = dict(model="esn")
                for name, (law, low, high) in SEARCH_SPACE.items():
                    params[name] = _draw(rng, law, low, high)
                params["random_state"] = seed
            candidates.append(_Candidate(i, params))
        return candidates

    def _new_model(self, params, context, alpha=ALPHAS[0]):
        params = dict(params)
        kind = params.pop("model")
        if kind == "nvar":
            return NVARRegressor(degree=2, increment=True, alpha=alpha, **params)
        return ESNRegressor(n_units=self.n_units, washout=context, alpha=alpha,
                            readout_features=("constant", "input", "state", "squared_state"),
                            **params)

    # ------------------------------------------------------------------ fit

    def fit(self, X, y=None):
        """Search the candidates on the series and keep the best.

        Parameters
        ----------
        X : array-like of shape (n_timesteps, n_features) or (n_timesteps,)
            One series, oldest row first, in any units and with any
            sampling step.
        y : array-like, optional
            None (the usual call): the model forecasts X itself, fitted one
            step ahead. X's rows one step ahead (``fit(s[:-1], s[1:])``) is
            the same. Any other targets, aligned with X's rows, make a
            one-step regressor of y from X (see the class description).

        Returns
        -------
        self
        """
        self._validate_params()
        start = time.perf_counter()
        series = self._series(X, "X", reset=True, univariate_ok=y is None)
        rng = check_generator(self.random_state)
        autonomous = y is None
        if y is not None:
            from sklearn.utils.validation import check_array

            target = check_array(y, ensure_2d=False, dtype=np.float64, input_name="y")
            self._y_one_d = target.ndim == 1
            target = target[:, None] if target.ndim == 1 else target
            if target.ndim != 2 or target.shape[0] != series.shape[0]:
                raise ValueError(f"y must have one row per time step of X ({series.shape[0]}), got "
                                 f"shape {np.shape(y)}")
            one_ahead = (target.shape == series.shape and series.shape[0] > 1
                         and np.array_equal(series[1:], target[:-1]))
            if one_ahead:
                series = np.concatenate([series, target[-1:]], axis=0)
                autonomous = True
        else:
            self._y_one_d = np.ndim(X) == 1
        if not np.all(np.isfinite(series)):
            raise ValueError("the series holds NaN or infinite values; a forecaster needs every "
                             "step observed (interpolate or cut the gaps first)")
        self._autonomous = autonomous
        if autonomous:
            self.n_outputs_ = series.shape[1]
            self.mean_, self.scale_ = _standardisation(series)
            self._target_mean, self._target_scale = self.mean_, self.scale_
            self._search_closed_loop((series - self.mean_) / self.scale_, rng, start)
        else:
            self.n_outputs_ = target.shape[1]
            self.mean_, self.scale_ = _standardisation(series)
            self._target_mean, self._target_scale = _standardisation(target)
            self._search_one_step((series - self.mean_) / self.scale_,
                                  (target - self._target_mean) / self._target_scale, rng, start)
        self.search_time_ = time.perf_counter() - start
        return self

    def _out_of_time(self, start, expected, share=1.0):
        """Whether ``expected`` more seconds would overrun ``share`` of the time budget."""
        if self.time_budget is None:
            return False
        return time.perf_counter() - start + expected > share * self.time_budget

    def _folds(self, n, context, longest):
        """[(first, stop, starts)]: each model's training rows and its windows' starts.

        ``"folds"``: two blocked folds, each half of the series trained on
        and the other half's windows forecast (Racca & Magri's chaotic
        k-fold with k = 2), so every window is out of sample; ``"recycle"``:
        one model on the whole series, its windows across the same rows.
        """
        def spread(first, stop, count):
            last = stop - context - longest
            return np.unique(np.linspace(first, last, count).round().astype(int))

        if self.validation == "recycle":
            return [(0, n, spread(context, n, self.n_windows))]
        half = n // 2
        per_fold = max(1, self.n_windows // 2)
        return [(0, half, spread(half, n, per_fold)), (half, n, spread(0, half, per_fold))]

    def _search_closed_loop(self, series, rng, start):
        n = series.shape[0]
        context = self._context_length(n)
        fixed = self.horizon is not None
        metric = "nrmse" if fixed else "vpt"
        # Each model trains on a block (the whole series, or half of it with
        # folds) whose first ``context`` steps are its washout; each window is
        # a context and a horizon inside a block.
        block = n if self.validation == "recycle" else n // 2
        room = block - 2 * context - 1 if self.validation == "recycle" else block - context
        first = int(self.horizon) if fixed else int(self.initial_horizon)
        if room < first:
            need = (2 * context + first + 1) if self.validation == "recycle" else 2 * (context + first)
            raise ValueError(
                f"the series has {n} steps, too few for its validation: a forecast window needs "
                f"{first} steps ({'horizon' if fixed else 'initial_horizon'}) after a context of "
                f"{context} steps, inside "
                f"{'the series after a washout of as many' if self.validation == 'recycle' else 'each half of the series'}"
                f"; at least {need} steps are needed (or lower context / "
                f"{'horizon' if fixed else 'initial_horizon'})")
        horizons = [first]
        while not fixed and horizons[-1] * 3 <= room // 2:
            horizons.append(horizons[-1] * 3)
        # The same windows at every rung, placed for the longest horizon so
        # that every rung forecasts from the same contexts.
        folds = self._folds(n, context, horizons[-1])
        candidates = self._draw_candidates(rng, context)
        self.horizons_, self.n_candidates_ = [], []
        alive = candidates
        for rung, horizon in enumerate(horizons):
            scored = self._score_rung(alive, rung, len(horizons), horizon, series, context, folds,
                                      metric, start)
            if not scored:
                break
            self.horizons_.append(horizon)
            self.n_candidates_.append(len(scored))
            if self.verbose:
                best = max(scored, key=lambda c: c.scores[-1][2])
                print(f"[AutoESNForecaster] rung {rung}: {len(scored)} candidates, horizon {horizon}, "
                      f"best mean score {best.scores[-1][2]:.4g} ({time.perf_counter() - start:.1f} s)")
            scored.sort(key=lambda c: c.scores[-1][2], reverse=True)
            keep = max(1, math.ceil(len(scored) / 3))
            for c in scored[keep:]:
                c.model = None      # statistics of a dropped candidate are not kept
            alive = scored[:keep]
            if len(alive) == 1:
                break
        self._finish(candidates, series, context)

    def _score_rung(self, alive, rung, n_rungs, horizon, series, context, folds, metric, start):
        """Score ``alive`` at ``horizon``; the candidates scored (the budget may stop it early)."""
        scored, spent = [], []
        pending = list(alive)
        n_jobs = 1 if self.n_jobs is None else self.n_jobs
        if n_jobs != 1:
            from joblib import Parallel, delayed, effective_n_jobs

            n_jobs = effective_n_jobs(n_jobs)
        # Rung r may run until 1 - 2^-(r+1) of the budget has gone (half for
        # the first), so that a budget that cuts the first rung short still
        # leaves the longer horizons their turn.
        share = 1.0 - 0.5 ** (rung + 1) if rung + 1 < n_rungs else 1.0
        args = (series, context, folds, horizon, metric)
        while pending:
            # The median of the latest few: the first candidate of a process
            # also pays for compiling the loops, which must not stop the rest.
            expected = float(np.median(spent[-5:])) if spent else 0.0
            if self._out_of_time(start, expected, share):
                break
            batch, pending = pending[:n_jobs], pending[n_jobs:]
            t0 = time.perf_counter()
            if n_jobs == 1:
                results = [_score_candidate(self, c, *args) for c in batch]
            else:
                results = Parallel(n_jobs=n_jobs)(delayed(_score_candidate)(self, c, *args)
                                                  for c in batch)
            spent.append(time.perf_counter() - t0)
            for c, (model, fit_time, score_time, mean, std, alpha) in zip(batch, results, strict=True):
                c.model = model
                c.fit_time += fit_time
                c.score_time += score_time
                c.scores.append((rung, horizon, mean, std, alpha))
                scored.append(c)
                if self.verbose > 1:
                    print(f"[AutoESNForecaster] rung {rung} candidate {c.index}: score {mean:.4g} "
                          f"(alpha {alpha:.1e}) {c.params}")
        return scored

    def _finish(self, candidates, series, context):
        """best_* and cv_results_ from the candidates' last scores; the best refitted if need be."""
        best, alpha = self._best(candidates)
        if best.model is None:
            raise ValueError("no candidate could be fitted on this series (every fit failed); "
                             "check that the series varies and holds no extreme outliers")
        if self.validation == "recycle":
            self.best_estimator_ = _at_alpha(best.model[0], alpha)
        else:
            # The folds' models saw half the series each: the chosen
            # configuration is fitted again on all of it.
            self.best_estimator_ = self._new_model(best.params, context, alpha).fit(series[:-1],
                                                                                    series[1:])

    def _best(self, candidates):
        """The best candidate of the latest rung and its penalty; sets best_* and cv_results_."""
        reached = [c for c in candidates if c.scores]
        if not reached:
            raise ValueError("the time budget ran out before one candidate was scored; raise "
                             "time_budget")
        best = max(reached, key=lambda c: (c.scores[-1][0], c.scores[-1][2]))
        alpha = best.scores[-1][4]
        self.best_params_ = {**best.params, "alpha": alpha}
        self.best_score_ = float(best.scores[-1][2])
        self.best_index_ = best.index
        self.cv_results_ = _results_table(candidates)
        return best, alpha

    def _search_one_step(self, X, Y, rng, start):
        n = X.shape[0]
        context = min(self._context_length(n), max(0, n // 4 - 1))
        split = max(context + 1, (3 * n) // 4)
        if split >= n:
            split = n - 1
        candidates = self._draw_candidates(rng, max(context, 1))
        from sklearn.metrics import r2_score

        spent = []
        for c in candidates:
            expected = float(np.median(spent[-5:])) if spent else 0.0
            if self._out_of_time(start, expected):
                break
            t0 = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ForecastDivergenceWarning)
                try:
                    model = self._new_model(c.params, context).fit(X[:split], Y[:split])
                    scores = []
                    for m in _alpha_path(model, X[:split], Y[:split]):
                        pred = m.predict(X[split:], initial_state="continue")
                        pred = np.asarray(pred, dtype=float).reshape(n - split, -1)
                        ok = np.all(np.isfinite(pred))
                        scores.append(r2_score(Y[split:], pred) if ok and n - split > 1 else
                                      (-float(np.mean((Y[split:] - pred) ** 2)) if ok else -np.inf))
                except (ValueError, np.linalg.LinAlgError):
                    scores = [-np.inf] * len(ALPHAS)
            i = int(np.argmax(scores))
            elapsed = time.perf_counter() - t0
            spent.append(elapsed)
            c.fit_time = elapsed
            c.scores.append((0, n - split, float(scores[i]), 0.0, ALPHAS[i]))
        best, alpha = self._best(candidates)
        self.best_estimator_ = self._new_model(best.params, context, alpha).fit(X, Y)
        self.horizons_, self.n_candidates_ = [n - split], [int(sum(bool(c.scores) for c in candidates))]

    # ------------------------------------------------------------------ use

    def _check_forecasting(self):
        check_is_fitted(self)
        if not self._autonomous:
            raise ValueError("forecast feeds each prediction back as the next input: it needs a "
                             "forecaster fitted on a series alone (fit(series)), and this one was "
                             "fitted on targets that are not the series one step ahead")

    def forecast(self, n_steps, *, context=None):
        """Closed-loop forecast with the best model, in the series' units.

        Parameters
        ----------
        n_steps : int
            Steps to forecast.
        context : array-like of shape (n_timesteps, n_features), optional
            Recent rows of the series, oldest first, that the model is run
            over (teacher forced) before it forecasts the step after the
            last one; at least ``best_estimator_``'s washout long for the
            state to forget its start. None continues the fitted series.

        Returns
        -------
        forecast : array of shape (n_steps, n_features), or (n_steps,) for a
            1-D series; NaN from the step a forecast diverges on (with a
            :class:`reservoir.ForecastDivergenceWarning`).
        """
        self._check_forecasting()
        if context is None:
            out = self.best_estimator_.forecast(n_steps)
        else:
            ctx = (self._series(context, "context", reset=False) - self.mean_) / self.scale_
            out = self.best_estimator_.forecast(n_steps, context=ctx)
        out = np.asarray(out).reshape(-1, self.n_features_in_) * self.scale_ + self.mean_
        return out[:, 0] if self._y_one_d else out

    def _univariate_ok(self):
        """A 1-D X is one series of one feature for a forecaster of a univariate series."""
        return self._autonomous and self.n_features_in_ == 1

    def predict(self, X, *, initial_state=None):
        """One-step-ahead predictions for every row of X, from the zero state.

        Parameters
        ----------
        X : array-like of shape (n_timesteps, n_features) or (n_timesteps,)
        initial_state : None or "continue"
            "continue" starts from the state at the end of the fitted series.

        Returns
        -------
        y : array of shape (n_timesteps, n_outputs), or (n_timesteps,) for 1-D targets
        """
        check_is_fitted(self)
        arr = self._series(X, "X", reset=False, univariate_ok=self._univariate_ok())
        pred = self.best_estimator_.predict((arr - self.mean_) / self.scale_,
                                            initial_state=initial_state)
        pred = np.asarray(pred).reshape(arr.shape[0], -1) * self._target_scale + self._target_mean
        return pred[:, 0] if self._y_one_d else pred

    def score(self, X, y, sample_weight=None):
        """R² of the one-step predictions of X against y, leaving out the washout.

        As :meth:`reservoir.ESNRegressor.score`: predictions from the zero
        state, the first washout steps (the transient) left out, R²
        averaged over outputs.
        """
        check_is_fitted(self)
        arr = self._series(X, "X", reset=False, univariate_ok=self._univariate_ok())
        target = np.asarray(y, dtype=np.float64).reshape(arr.shape[0], -1)
        # R² is unchanged by each output's affine standardisation.
        return self.best_estimator_.score((arr - self.mean_) / self.scale_,
                                          (target - self._target_mean) / self._target_scale,
                                          sample_weight=sample_weight)

    def _check_consistency(self):
        """Raise a ValueError unless parameters and fitted state agree (what load checks).

        The chosen model is checked by its own class; here, that it reads and
        writes as many features as the standardisation describes.
        """
        from ._schema import StateCheck

        self._validate_params()
        check = StateCheck(self)
        if not check.together("best_estimator_", "best_params_", "best_score_", "best_index_",
                              "cv_results_", "mean_", "scale_", "n_features_in_", "n_outputs_",
                              "horizons_", "n_candidates_", "search_time_", "_autonomous",
                              "_y_one_d", "_target_mean", "_target_scale"):
            return
        check.features_in()
        check.sizes["n_outputs_"] = check.integer("n_outputs_", low=1)
        if check.boolean("_autonomous"):
            check.integer("n_outputs_", equal=check.sizes["n_features_in_"])
        check.boolean("_y_one_d")
        for name, size in (("mean_", "n_features_in_"), ("scale_", "n_features_in_"),
                           ("_target_mean", "n_outputs_"), ("_target_scale", "n_outputs_")):
            # fit keeps them in float64, and forecasts are rescaled by them.
            a = check.array(name, (size,), dtype=np.dtype("float64"))
            if "scale" in name and not np.all(a > 0):
                check.fail(name, "positive standard deviations", "a value <= 0")
        best = check.instance("best_estimator_", (ESNRegressor, NVARRegressor))
        check.integer("best_estimator_.n_features_in_", equal=check.sizes["n_features_in_"],
                      value=getattr(best, "n_features_in_", None))
        check.integer("best_estimator_.n_outputs_", equal=check.sizes["n_outputs_"],
                      value=getattr(best, "n_outputs_", None))
        check.instance("best_params_", dict)
        check.instance("cv_results_", dict)
        check.integer("best_index_", low=0, high=len(check.get("cv_results_").get("params", [])) - 1)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        tags.target_tags.required = False
        return tags

    def __sklearn_is_fitted__(self):
        return hasattr(self, "best_estimator_")


def _alpha_path(model, X, Y):
    """Fitted copies of ``model`` at every penalty of ALPHAS."""
    if hasattr(model, "ridge_path"):
        return model.ridge_path(ALPHAS)
    return [copy.deepcopy(model).set_params(alpha=a).fit(X, Y) for a in ALPHAS]


def _at_alpha(model, alpha):
    """A fold's fitted model of a candidate at penalty ``alpha``."""
    if isinstance(model, list):      # NVAR: its kept (alpha, model) pair
        return model[0][1]
    return model.ridge_path([alpha])[0]


def _score_candidate(auto, candidate, series, context, folds, horizon, metric):
    """Fit (once per fold) and score one candidate at one horizon.

    An echo state network keeps one fitted model per fold, whose ridge path
    gives every penalty; an NVAR candidate is fitted per penalty at its
    first rung and keeps only its best penalty's models after it. Returns
    (models, fit seconds, score seconds, mean score, std over windows, best
    alpha).
    """
    nvar = candidate.params["model"] == "nvar"
    t0 = time.perf_counter()
    models = candidate.model
    alphas = ALPHAS if models is None or not nvar else [a for a, _ in models[0]]
    with warnings.catch_warnings():
        # Divergence is a score here, not news: a diverged window scores worst.
        warnings.simplefilter("ignore", ForecastDivergenceWarning)
        warnings.simplefilter("ignore", RuntimeWarning)
        try:
            if models is None:
                models = []
                for first, stop, _ in folds:
                    block = series[first:stop]
                    if nvar:
                        models.append([(a, auto._new_model(candidate.params, context, a)
                                        .fit(block[:-1], block[1:])) for a in alphas])
                    else:
                        models.append(auto._new_model(candidate.params, context)
                                      .fit(block[:-1], block[1:]))
            fit_time = time.perf_counter() - t0
            t1 = time.perf_counter()
            per_alpha = [[] for _ in alphas]
            for model, (_, _, starts) in zip(models, folds, strict=True):
                contexts = np.stack([series[s:s + context] for s in starts])
                truth = np.stack([series[s + context:s + context + horizon] for s in starts])
                if nvar:
                    forecasts = [m.forecast(horizon, context=contexts) for _, m in model]
                else:
                    forecasts = model.forecast_ridge_path(alphas, horizon, context=contexts)
                for i, f in enumerate(forecasts):
                    per_alpha[i].append(window_scores(truth, f, metric=metric,
                                                      threshold=auto.threshold))
            per_alpha = [np.concatenate(s) for s in per_alpha]
        except (ValueError, np.linalg.LinAlgError):
            # A configuration the data cannot support (a singular fit): last place.
            fit_time = time.perf_counter() - t0
            t1 = time.perf_counter()
            models, alphas = None, [ALPHAS[0]]
            per_alpha = [np.full(1, -np.inf)]
    means = [float(np.mean(s)) for s in per_alpha]
    i = int(np.argmax(means))
    if nvar and models is not None:
        models = [[model[i]] for model in models]
    return (models, fit_time, time.perf_counter() - t1, means[i], float(np.std(per_alpha[i])),
            alphas[i])


def _results_table(candidates):
    """scikit-learn-style ``cv_results_`` of the candidates' last scores."""
    names = sorted({k for c in candidates for k in c.params if k != "model"} | {"alpha"})
    n = len(candidates)
    results = {"params": [], "model": np.array([c.params["model"] for c in candidates])}
    for name in names:
        # NaN where a parameter does not apply (NVAR has no spectral radius).
        results[f"param_{name}"] = np.array([float(c.params.get(name, np.nan)) for c in candidates])
    last = [c.scores[-1] if c.scores else (-1, 0, -np.inf, np.nan, np.nan) for c in candidates]
    results["iter"] = np.array([s[0] for s in last])
    results["horizon"] = np.array([s[1] for s in last])
    results["alpha"] = np.array([s[4] for s in last], dtype=float)
    results["mean_test_score"] = np.array([s[2] for s in last], dtype=float)
    results["std_test_score"] = np.array([s[3] for s in last], dtype=float)
    order = sorted(range(n), key=lambda i: (-last[i][0], -last[i][2]))
    rank = np.empty(n, dtype=np.int32)
    rank[order] = np.arange(1, n + 1)
    results["rank_test_score"] = rank
    results["mean_fit_time"] = np.array([c.fit_time for c in candidates])
    results["mean_score_time"] = np.array([c.score_time for c in candidates])
    for i, c in enumerate(candidates):
        results["param_alpha"][i] = last[i][4] if c.scores else np.nan
        results["params"].append({**c.params, **({"alpha": last[i][4]} if c.scores else {})})
    return results

