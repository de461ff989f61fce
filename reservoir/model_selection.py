"""Time-series model selection with scikit-learn's own searches.

scikit-learn's :class:`~sklearn.model_selection.GridSearchCV`,
:class:`~sklearn.model_selection.RandomizedSearchCV`,
:class:`~sklearn.model_selection.HalvingRandomSearchCV` and
:func:`~sklearn.model_selection.cross_validate` accept any cross-validator and
any scorer ``scorer(estimator, X, y) -> float`` (higher is better). This
module gives them what time series need, so that the searching itself stays
scikit-learn's:

* :func:`washout_scorer`: a one-step score that, like ``fit``, leaves out the
  transient of a run from the zero state (the first ``washout`` steps of
  each series) and pools all remaining steps;
* :func:`forecast_scorer`: a closed-loop score (valid prediction time, or the
  normalised error of free-running forecasts) over test windows of a series;
* :class:`ForecastWindowSplit`: a cross-validator for one series whose test
  folds are blocks of forecast windows at the end of the series, trained on
  everything before them, as :class:`~sklearn.model_selection.TimeSeriesSplit`
  does for one-step scores.

Two of scikit-learn's defaults mislead on series. A test fold scored from the
zero state includes the reservoir's transient, which rewards whichever
configuration forgets its start fastest rather than the one that predicts
best; the washout scorer (and the estimators' own ``score``) leave it out.
And :class:`~sklearn.model_selection.HalvingRandomSearchCV`'s default
resource, ``n_samples``, trains early rungs on rows drawn at random, which
breaks time order: use a model size as the resource instead
(``resource="n_units"``).
"""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.metrics import (
    accuracy_score,
    mean_absolute_error,
    mean_squared_error,
    r2_score,
    root_mean_squared_error,
)
from sklearn.model_selection import BaseCrossValidator

from ._backend import get_namespace, is_numpy, to_numpy
from ._base import ForecastDivergenceWarning, labels_per_series, pooled_steps
from ._validation import check_interval, is_multi_series
from .metrics import nrmse, valid_prediction_time

__all__ = ["ForecastWindowSplit", "forecast_scorer", "washout_scorer"]

# A forecast error larger than this many standard deviations, or one that is
# not a number at all (a diverged closed loop), counts as exactly this large.
# The score of a diverged forecast is then finite, worse than that of any
# forecast that stays in range, and its squares (which scikit-learn takes for
# the spread of fold scores) are far from overflowing.
DIVERGED_ERROR = 1e6

# name -> (metric(y_true, y_pred), greater_is_better)
STEP_METRICS = {
    "r2": (r2_score, True),
    "neg_mean_squared_error": (mean_squared_error, False),
    "neg_root_mean_squared_error": (root_mean_squared_error, False),
    "neg_mean_absolute_error": (mean_absolute_error, False),
    "neg_nrmse": (nrmse, False),
    "accuracy": (accuracy_score, True),
}

FORECAST_METRICS = {"vpt": True, "nrmse": False}


def _sign(metric, greater_is_better, table):
    """+1 or -1: scorers are higher-is-better, so lower-is-better metrics are negated."""
    if isinstance(metric, str):
        if metric not in table:
            raise ValueError(
                f"metric must be one of {sorted(table)} or a callable metric(y_true, y_pred), "
                f"got {metric!r}"
            )
        if greater_is_better is not None:
            raise ValueError(
                f"greater_is_better applies to a callable metric; the named metric {metric!r} "
                f"already has its direction, got greater_is_better={greater_is_better!r}"
            )
        return 1.0 if table[metric] else -1.0
    if not callable(metric):
        raise TypeError(
            f"metric must be a name from {sorted(table)} or a callable, got {metric!r} of type "
            f"{type(metric).__name__}"
        )
    if greater_is_better not in (True, False):
        raise ValueError(
            "a callable metric needs greater_is_better=True (a score, such as R^2) or False (an "
            f"error, which the scorer negates), got greater_is_better={greater_is_better!r}"
        )
    return 1.0 if greater_is_better else -1.0


def _metric_name(metric):
    return repr(metric) if isinstance(metric, str) else getattr(metric, "__name__", repr(metric))


# --------------------------------------------------------------------------
# One-step scores after the washout
# --------------------------------------------------------------------------

def _estimator_washout(estimator):
    """The ``washout`` parameter of an estimator, or of the one step of a pipeline that has one."""
    params = estimator.get_params(deep=True)
    if "washout" in params:
        return params["washout"]
    nested = [k for k in params if k.endswith("__washout")]
    if len(nested) == 1:
        return params[nested[0]]
    found = f"parameters {nested}" if nested else "no washout parameter"
    raise ValueError(
        f"washout_scorer(washout=None) reads the estimator's washout, but "
        f"{type(estimator).__name__} has {found}; pass washout=<steps> to washout_scorer"
    )


def _one_output(a):
    return a.reshape(-1) if a.ndim == 2 and a.shape[1] == 1 else a


class WashoutScorer:
    """Scorer of :func:`washout_scorer`; see there."""

    def __init__(self, metric, washout, sign):
        self.metric = metric
        self.washout = washout
        self.sign = sign

    def __call__(self, estimator, X, y):
        """Score of ``estimator`` on inputs X and step-aligned targets y (higher is better)."""
        y_pred = estimator.predict(X)
        if labels_per_series(X, y):
            # One label per series: the classifier pooled each series after its own
            # washout already, so there are no steps to leave out here.
            y_true, y_pred = np.asarray(to_numpy(y) if hasattr(y, "shape") else y), to_numpy(y_pred)
        else:
            washout = _estimator_washout(estimator) if self.washout is None else self.washout
            y_true, y_pred, _ = pooled_steps(X, y, y_pred, washout=washout)
        metric = STEP_METRICS[self.metric][0] if isinstance(self.metric, str) else self.metric
        return self.sign * float(metric(_one_output(y_true), _one_output(y_pred)))

    def __repr__(self):
        return f"washout_scorer(metric={_metric_name(self.metric)}, washout={self.washout!r})"


def washout_scorer(metric="r2", *, washout=None, greater_is_better=None):
    """A one-step scorer that leaves out each series' transient, for scikit-learn's searches.

    The returned callable ``scorer(estimator, X, y)`` predicts X from the zero
    state, leaves out the first ``washout`` steps of each series (the
    reservoir forgetting its start, as in ``fit``), and applies ``metric``
    to all remaining steps of all series pooled together (one 2-D series, a
    list of series or a 3-D batch; :func:`reservoir._base.pooled_steps`).
    Pass it as ``scoring=`` to ``GridSearchCV``, ``RandomizedSearchCV`` or
    ``cross_validate``. With labels per series (a sequence classifier),
    ``metric`` compares the labels directly.

    Parameters
    ----------
    metric : str or callable, default="r2"
        One of "r2", "neg_mean_squared_error", "neg_root_mean_squared_error",
        "neg_mean_absolute_error", "neg_nrmse" (:func:`reservoir.metrics.nrmse`
        negated) or "accuracy" (the scikit-learn metrics of the same names),
        or a callable ``metric(y_true, y_pred)`` on arrays of shape
        (n_rows,) for one output and (n_rows, n_outputs) for several.
    washout : int, optional
        Leading steps of each series left out. None: the estimator's own
        ``washout`` parameter (or that of the one pipeline step that has
        one), so that the score leaves out what ``fit`` left out.
    greater_is_better : bool, optional
        For a callable metric only, and required there: False for an error
        (the scorer returns it negated, scikit-learn's convention that
        higher scores are better), True for a score.

    Returns
    -------
    scorer : callable ``scorer(estimator, X, y) -> float``

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.model_selection import GridSearchCV, TimeSeriesSplit
    >>> from reservoir import ESNRegressor
    >>> from reservoir.model_selection import washout_scorer
    >>> series = np.sin(0.2 * np.arange(1201))[:, None]
    >>> search = GridSearchCV(ESNRegressor(n_units=30, washout=50, random_state=0),
    ...                       {"leak_rate": [0.1, 1.0]}, cv=TimeSeriesSplit(n_splits=3),
    ...                       scoring=washout_scorer("neg_nrmse"))
    >>> search.fit(series[:-1], series[1:]).best_params_
    {'leak_rate': 1.0}
    """
    sign = _sign(metric, greater_is_better, {k: v[1] for k, v in STEP_METRICS.items()})
    check_interval("washout", washout, low=0, integer=True, allow_none=True)
    return WashoutScorer(metric, washout, sign)


# --------------------------------------------------------------------------
# Closed-loop scores over forecast windows
# --------------------------------------------------------------------------

def _check_scale(scale, n_features):
    values = np.asarray(scale, dtype=float)
    if values.ndim > 1 or (values.ndim == 1 and values.shape[0] != n_features):
        raise ValueError(
            f"scale must be a number or an array of shape ({n_features},), one standard deviation "
            f"per feature, got shape {values.shape}"
        )
    if not np.all(np.isfinite(values)) or np.any(values <= 0):
        raise ValueError(f"scale must hold positive finite standard deviations, got {scale!r}")
    return np.broadcast_to(values, (n_features,))


def _bounded_errors(truth, forecasts, scale):
    """forecasts - truth, with non-finite and huge errors set to ``DIVERGED_ERROR`` deviations."""
    limit = DIVERGED_ERROR * scale
    with np.errstate(over="ignore", invalid="ignore"):
        error = forecasts - truth
        return np.where(np.isfinite(error), np.clip(error, -limit, limit), limit)


class ForecastScorer:
    """Scorer of :func:`forecast_scorer`; see there."""

    def __init__(self, metric, *, context, horizon, dt, lyapunov_exponent, threshold, scale, sign):
        self.metric = metric
        self.context = context
        self.horizon = horizon
        self.dt = dt
        self.lyapunov_exponent = lyapunov_exponent
        self.threshold = threshold
        self.scale = scale
        self.sign = sign

    def windows(self, X):
        """(contexts, truth) of the test rows X: arrays (n_windows, context | horizon, n_features)."""
        xp = get_namespace(X)
        if is_numpy(xp):    # lists and pandas frames too
            X = np.asarray(X)
        if X.ndim == 1:
            X = xp.reshape(X, (-1, 1))
        if X.ndim != 2:
            raise ValueError(
                f"forecast_scorer expects the test rows of one series, an array of shape "
                f"(n_rows, n_features), got shape {tuple(X.shape)}"
            )
        width = self.context + self.horizon
        n_rows = X.shape[0]
        if n_rows == 0 or n_rows % width:
            raise ValueError(
                f"the test block has {n_rows} rows, which is not a whole number of forecast windows "
                f"of context={self.context} + horizon={self.horizon} = {width} rows; split the "
                f"series with ForecastWindowSplit(context={self.context}, horizon={self.horizon}) "
                "and take its scorer()"
            )
        blocks = xp.reshape(X, (n_rows // width, width, X.shape[1]))
        return blocks[:, :self.context, :], blocks[:, self.context:, :]

    def __call__(self, estimator, X, y=None):
        """Closed-loop score of ``estimator`` on the test rows X (higher is better); y is unused."""
        if not callable(getattr(estimator, "forecast", None)):
            raise TypeError(
                "forecast_scorer needs an estimator with a closed-loop forecast(n_steps, context=...) "
                f"method, got {type(estimator).__name__}"
            )
        contexts, truth = self.windows(X)
        # A closed loop that diverges overflows on the way; that is a score, not an error.
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"), \
                warnings.catch_warnings():
            warnings.simplefilter("ignore", ForecastDivergenceWarning)
            forecasts = estimator.forecast(self.horizon, context=contexts)
        truth = to_numpy(truth).astype(float, copy=False)
        forecasts = to_numpy(forecasts).astype(float, copy=False).reshape(truth.shape)
        n_features = truth.shape[2]
        if self.scale is None:
            rows = np.concatenate([to_numpy(contexts), truth], axis=1).reshape(-1, n_features)
            scale = np.std(rows, axis=0)
            if np.any(scale == 0):
                raise ValueError(
                    f"feature(s) {np.flatnonzero(scale == 0).tolist()} are constant over the test "
                    "rows, so their errors cannot be normalised; pass scale= (for instance the "
                    "standard deviation of the training data)"
                )
        else:
            scale = _check_scale(self.scale, n_features)
        error = _bounded_errors(truth, forecasts, scale)
        return self.sign * float(self._value(truth, error, scale))

    def _value(self, truth, error, scale):
        if callable(self.metric):
            return self.metric(truth, truth + error)
        if self.metric == "nrmse":
            return np.sqrt(np.mean((error / scale) ** 2))
        # Without an exponent, lambda = 1 makes the VPT a time: valid steps x dt.
        vpt = valid_prediction_time(
            truth, truth + error, dt=self.dt, threshold=self.threshold, scale=scale,
            lyapunov_exponent=1.0 if self.lyapunov_exponent is None else self.lyapunov_exponent)
        return np.mean(vpt.lyapunov_times)

    def __repr__(self):
        return (f"forecast_scorer(metric={_metric_name(self.metric)}, context={self.context}, "
                f"horizon={self.horizon}, dt={self.dt}, lyapunov_exponent={self.lyapunov_exponent}, "
                f"threshold={self.threshold}, scale={self.scale!r})")


def forecast_scorer(metric="vpt", *, context, horizon, dt=1.0, lyapunov_exponent=None,
                    threshold=0.3, scale=None, greater_is_better=None):
    """A closed-loop scorer over forecast windows, for scikit-learn's searches.

    The returned callable ``scorer(estimator, X_test, y_test)`` reads X_test
    as consecutive forecast windows of ``context + horizon`` rows each (the
    test rows that :class:`ForecastWindowSplit` yields for a series X fitted
    one step ahead, ``fit(X[:-1], X[1:])``, so that rows are the series'
    values). In every window the first ``context`` rows teacher-force the
    model and the next ``horizon`` rows are the truth: all windows run as one
    batch, ``estimator.forecast(horizon, context=contexts)``, each forecast
    starting at the step after its context. y_test is not used.

    Errors are normalised per feature by ``scale``. An error that is not a
    number (a diverged, overflowing closed loop) or exceeds 10^6 standard
    deviations counts as 10^6 standard deviations, so a diverging model gets
    a finite score worse than any forecast that stays in range, without a
    warning.

    Parameters
    ----------
    metric : {"vpt", "nrmse"} or callable, default="vpt"
        "vpt": the valid prediction time, averaged over windows: the time
        before the normalised error e(t) = sqrt(mean_i (error_i(t) /
        scale_i)²) first exceeds ``threshold`` (as in
        :func:`reservoir.metrics.valid_prediction_time`), in Lyapunov times
        when ``lyapunov_exponent`` is given, else in the series' time units
        (steps × ``dt``; steps with the default dt=1). A window valid to its
        end scores the horizon.
        "nrmse": the root mean square of e(t) over every step of every
        window, negated.
        A callable ``metric(truth, forecasts)`` gets two arrays of shape
        (n_windows, horizon, n_features), forecasts bounded as above; give
        ``greater_is_better`` with it.
    context : int
        Teacher-forced rows at the start of each window (at least the
        model's washout, for its state to forget its zero start).
    horizon : int
        Closed-loop steps scored in each window.
    dt : float, default=1.0
        Time between rows (for "vpt").
    lyapunov_exponent : float, optional
        Largest Lyapunov exponent per time unit (for "vpt"; see
        :data:`reservoir.datasets.LYAPUNOV_EXPONENTS`).
    threshold : float, default=0.3
        ε of the valid prediction time (0.3 as Platt et al. 2022; 0.5 as
        Vlachas et al. 2020).
    scale : float or array of shape (n_features,), optional
        Standard deviation of each feature. None: that of all the test rows
        the scorer is given (contexts and truth); pass the training data's
        to score as :func:`reservoir.metrics.valid_prediction_time` with
        ``y_train``.
    greater_is_better : bool, optional
        For a callable metric only, and required there.

    Returns
    -------
    scorer : callable ``scorer(estimator, X_test, y_test=None) -> float``

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.model_selection import cross_validate
    >>> from reservoir import ESNRegressor
    >>> from reservoir.model_selection import ForecastWindowSplit
    >>> series = np.sin(0.2 * np.arange(1501))[:, None]
    >>> cv = ForecastWindowSplit(n_splits=2, context=100, horizon=50, n_windows=2)
    >>> esn = ESNRegressor(n_units=50, washout=100, alpha=1e-8, random_state=0)
    >>> result = cross_validate(esn, series[:-1], series[1:], cv=cv, scoring=cv.scorer("vpt"))
    >>> result["test_score"]          # valid over the whole horizon of 50 steps
    array([50., 50.])
    """
    sign = _sign(metric, greater_is_better, FORECAST_METRICS)
    check_interval("context", context, low=1, integer=True)
    check_interval("horizon", horizon, low=1, integer=True)
    check_interval("dt", dt, low=0, low_inclusive=False)
    check_interval("lyapunov_exponent", lyapunov_exponent, low=0, low_inclusive=False,
                   allow_none=True)
    check_interval("threshold", threshold, low=0, low_inclusive=False)
    if scale is not None:
        _check_scale(scale, np.size(scale))
    return ForecastScorer(metric, context=int(context), horizon=int(horizon), dt=float(dt),
                          lyapunov_exponent=lyapunov_exponent, threshold=float(threshold),
                          scale=scale, sign=sign)


# --------------------------------------------------------------------------
# Cross-validation over forecast windows
# --------------------------------------------------------------------------

class ForecastWindowSplit(BaseCrossValidator):
    """Time-series cross-validator whose test folds are blocks of forecast windows.

    For one series, split k tests on a block of ``n_windows`` windows of
    ``context + horizon`` rows, window starts ``stride`` rows apart, and
    trains on the rows before the block. The blocks lie at the end of the
    series, as :class:`~sklearn.model_selection.TimeSeriesSplit` lays its
    test folds: the last window of the last block ends at the last row, and
    all windows of all blocks are ``stride`` rows apart, so later splits
    train on more of the past. Test indices are the windows' rows in time
    order (a row shared by overlapping windows appears once per window), the
    layout :func:`forecast_scorer` reads; take it from :meth:`scorer` so that
    the two agree.

    Parameters
    ----------
    n_splits : int, default=5
        Number of blocks (at least 1).
    context : int
        Teacher-forced rows at the start of each window.
    horizon : int
        Closed-loop rows scored in each window.
    n_windows : int, default=1
        Windows per block.
    stride : int, optional
        Rows between window starts; ``context + horizon`` (windows side by
        side) when None. A smaller stride overlaps the windows.
    max_train_size : int, optional
        Train on at most the last ``max_train_size`` rows before the block.
    gap : int, default=0
        Rows left out between the training rows and the block.

    Examples
    --------
    >>> import numpy as np
    >>> from reservoir.model_selection import ForecastWindowSplit
    >>> cv = ForecastWindowSplit(n_splits=2, context=2, horizon=1, n_windows=2)
    >>> for train, test in cv.split(np.zeros((16, 1))):
    ...     print(train, test)
    [0 1 2 3] [4 5 6 7 8 9]
    [0 1 2 3 4 5 6 7 8 9] [10 11 12 13 14 15]
    """

    def __init__(self, n_splits=5, *, context, horizon, n_windows=1, stride=None,
                 max_train_size=None, gap=0):
        self.n_splits = n_splits
        self.context = context
        self.horizon = horizon
        self.n_windows = n_windows
        self.stride = stride
        self.max_train_size = max_train_size
        self.gap = gap

    def _check_params(self):
        check_interval("n_splits", self.n_splits, low=1, integer=True)
        check_interval("context", self.context, low=1, integer=True)
        check_interval("horizon", self.horizon, low=1, integer=True)
        check_interval("n_windows", self.n_windows, low=1, integer=True)
        check_interval("stride", self.stride, low=1, integer=True, allow_none=True)
        check_interval("max_train_size", self.max_train_size, low=1, integer=True, allow_none=True)
        check_interval("gap", self.gap, low=0, integer=True)
        width = self.context + self.horizon
        return width, width if self.stride is None else int(self.stride)

    def split(self, X, y=None, groups=None):
        """Train and test indices of each split, earliest block first.

        Parameters
        ----------
        X : array-like of shape (n_timesteps, n_features)
            The rows of one series (only its length is read).
        y, groups : ignored

        Yields
        ------
        train : ndarray of int
        test : ndarray of int
            The rows of the block's windows, one window after the other.
        """
        width, stride = self._check_params()
        if is_multi_series(X):
            raise ValueError("ForecastWindowSplit splits one series: X must be 2-D (n_timesteps, "
                             "n_features), not a list of series or a 3-D array")
        n_rows = int(X.shape[0]) if hasattr(X, "shape") else len(X)
        span = (self.n_windows - 1) * stride + width
        first = n_rows - span - (self.n_splits - 1) * self.n_windows * stride
        if first - self.gap < 1:
            needed = n_rows - first + self.gap + 1
            raise ValueError(
                f"ForecastWindowSplit needs at least {needed} rows for n_splits={self.n_splits} "
                f"blocks of n_windows={self.n_windows} windows (context={self.context} + "
                f"horizon={self.horizon} rows, stride={stride}) after gap={self.gap} and at least "
                f"one training row, but the series has {n_rows}"
            )
        offsets = np.arange(width)
        for k in range(self.n_splits):
            start = first + k * self.n_windows * stride
            end = start - self.gap
            begin = 0 if self.max_train_size is None else max(0, end - self.max_train_size)
            test = np.concatenate([start + w * stride + offsets for w in range(self.n_windows)])
            yield np.arange(begin, end), test

    def get_n_splits(self, X=None, y=None, groups=None):
        """The number of splits, ``n_splits``."""
        check_interval("n_splits", self.n_splits, low=1, integer=True)
        return int(self.n_splits)

    def scorer(self, metric="vpt", **kwargs):
        """A :func:`forecast_scorer` with this splitter's ``context`` and ``horizon``.

        Parameters
        ----------
        metric : {"vpt", "nrmse"} or callable, default="vpt"
        **kwargs
            The other arguments of :func:`forecast_scorer` (``dt``,
            ``lyapunov_exponent``, ``threshold``, ``scale``,
            ``greater_is_better``).

        Returns
        -------
        scorer : callable ``scorer(estimator, X_test, y_test=None) -> float``
        """
        for name in ("context", "horizon"):
            if name in kwargs:
                raise TypeError(
                    f"scorer() takes {name} from the splitter ({name}={getattr(self, name)}); "
                    f"got {name}={kwargs[name]!r} as well"
                )
        return forecast_scorer(metric, context=self.context, horizon=self.horizon, **kwargs)
