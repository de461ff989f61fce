"""Washout and closed-loop scorers and the forecast-window splitter, in scikit-learn's searches.

References are computed independently of the module: metrics by their
formulas on predictions made series by series, valid prediction times by
:func:`reservoir.metrics.valid_prediction_time` on forecasts made window by
window, split indices written out by hand or taken from TimeSeriesSplit.
"""

import warnings

import numpy as np
import pytest
from scipy.stats import loguniform, uniform
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.experimental import enable_halving_search_cv  # noqa: F401
from sklearn.model_selection import (
    GridSearchCV,
    HalvingRandomSearchCV,
    RandomizedSearchCV,
    TimeSeriesSplit,
    cross_validate,
)
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from reservoir import ESNClassifier, ESNRegressor, ForecastDivergenceWarning
from reservoir.datasets import forecast_windows, lorenz63, mackey_glass
from reservoir.metrics import nrmse, valid_prediction_time
from reservoir.model_selection import ForecastWindowSplit, forecast_scorer, washout_scorer

DT = 0.02
LAMBDA = 0.9056


# --------------------------------------------------------------------------
# Washout scorer
# --------------------------------------------------------------------------

def _r2(t, p):
    return np.mean(1 - ((t - p) ** 2).sum(0) / ((t - t.mean(0)) ** 2).sum(0))


HAND_METRICS = {
    "r2": _r2,
    "neg_mean_squared_error": lambda t, p: -np.mean((t - p) ** 2),
    "neg_root_mean_squared_error": lambda t, p: -np.mean(np.sqrt(np.mean((t - p) ** 2, axis=0))),
    "neg_mean_absolute_error": lambda t, p: -np.mean(np.abs(t - p)),
    "neg_nrmse": lambda t, p: -np.mean(np.sqrt(np.mean((t - p) ** 2, axis=0)) / t.std(0)),
}


@pytest.fixture(scope="module")
def sine_series():
    """Three two-feature series of different lengths and the model fitted on the first."""
    t = np.arange(400) * 0.1
    series = [np.column_stack([np.sin(t[:n] * w), np.cos(t[:n] * w) ** 3])
              for n, w in ((400, 1.0), (300, 1.3), (250, 0.7))]
    esn = ESNRegressor(n_units=40, washout=30, random_state=0)
    esn.fit(series[0][:-1], series[0][1:])
    return series, esn


@pytest.mark.parametrize("metric", sorted(HAND_METRICS))
@pytest.mark.parametrize("layout", ["one series", "list", "3-D batch"])
def test_washout_scorer_equals_the_metric_on_the_pooled_steps(sine_series, metric, layout):
    series, esn = sine_series
    if layout == "one series":
        pairs = [(series[0][:-1], series[0][1:])]
        X, y = pairs[0]
    elif layout == "list":
        pairs = [(s[:-1], s[1:]) for s in series]
        X, y = [p[0] for p in pairs], [p[1] for p in pairs]
    else:
        pairs = [(s[:249], s[1:250]) for s in series]
        X, y = np.stack([p[0] for p in pairs]), np.stack([p[1] for p in pairs])
    # Reference: each series predicted on its own from the zero state, its first
    # washout=30 steps dropped by slicing, the rest stacked.
    true = np.concatenate([yi[30:] for _, yi in pairs])
    pred = np.concatenate([esn.predict(Xi)[30:] for Xi, _ in pairs])
    expected = HAND_METRICS[metric](true, pred)
    assert washout_scorer(metric)(esn, X, y) == pytest.approx(expected, rel=1e-10)


def test_washout_scorer_takes_the_estimators_washout_unless_given(sine_series):
    series, esn = sine_series
    X, y = series[1][:-1], series[1][1:]
    pred = esn.predict(X)
    assert washout_scorer()(esn, X, y) == pytest.approx(_r2(y[30:], pred[30:]), rel=1e-12)
    assert washout_scorer(washout=100)(esn, X, y) == pytest.approx(_r2(y[100:], pred[100:]),
                                                                   rel=1e-12)
    # The estimator's own score is the same washout-aware R^2.
    assert esn.score(X, y) == pytest.approx(washout_scorer()(esn, X, y), rel=1e-12)


def test_washout_scorer_reads_the_washout_of_a_pipeline_step(sine_series):
    series, _ = sine_series
    X, y = series[0][:-1], series[0][1:]
    model = make_pipeline(StandardScaler(), ESNRegressor(n_units=30, washout=50, random_state=0))
    model.fit(X, y)
    pred = model.predict(X)
    assert washout_scorer()(model, X, y) == pytest.approx(_r2(y[50:], pred[50:]), rel=1e-12)


def test_washout_scorer_with_a_callable_metric_follows_its_direction(sine_series):
    series, esn = sine_series
    X, y = series[0][:-1], series[0][1:]
    pred = esn.predict(X)[30:]
    worst = lambda t, p: float(np.max(np.abs(t - p)))  # noqa: E731
    assert washout_scorer(worst, greater_is_better=False)(esn, X, y) == -np.max(np.abs(y[30:] - pred))
    assert washout_scorer(worst, greater_is_better=True)(esn, X, y) == np.max(np.abs(y[30:] - pred))


@pytest.mark.parametrize("kwargs, error, words", [
    (dict(metric="mse"), ValueError, ["metric", "'mse'", "neg_mean_squared_error"]),
    (dict(metric=lambda t, p: 0.0), ValueError, ["greater_is_better", "callable"]),
    (dict(metric="r2", greater_is_better=True), ValueError, ["greater_is_better", "'r2'"]),
    (dict(metric=3), TypeError, ["metric", "callable", "3"]),
    (dict(washout=-1), ValueError, ["washout", "-1"]),
])
def test_washout_scorer_rejects_bad_arguments(kwargs, error, words):
    with pytest.raises(error) as info:
        washout_scorer(**kwargs)
    for word in words:
        assert word in str(info.value)


def test_washout_scorer_asks_for_a_washout_the_estimator_lacks(sine_series):
    series, _ = sine_series
    X, y = series[0][:-1], series[0][1:]
    model = make_pipeline(StandardScaler(), StandardScaler()).fit(X, y)
    model.predict = model.transform
    with pytest.raises(ValueError, match="washout=<steps>"):
        washout_scorer()(model, X, y)


def test_washout_scorer_accuracy_per_step_and_per_series():
    rng = np.random.default_rng(0)
    t = np.linspace(0, 8 * np.pi, 80)[:, None]
    X = [np.sin(t * (1 + k % 2)) + 0.1 * rng.standard_normal(t.shape) for k in range(30)]
    labels = np.array([k % 2 for k in range(30)])
    per_series = ESNClassifier(n_units=30, washout=10, random_state=0).fit(X[:20], labels[:20])
    expected = np.mean(per_series.predict(X[20:]) == labels[20:])
    assert washout_scorer("accuracy")(per_series, X[20:], labels[20:]) == expected
    # Per-step labels: the sign of the first feature one step ahead.
    steps = [x[:-1] for x in X]
    step_labels = [(x[1:, 0] > 0).astype(int) for x in X]
    per_step = ESNClassifier(n_units=30, washout=10, random_state=0).fit(steps[:20], step_labels[:20])
    hits = np.concatenate([per_step.predict(s)[10:] == lab[10:]
                           for s, lab in zip(steps[20:], step_labels[20:], strict=True)])
    assert washout_scorer("accuracy")(per_step, steps[20:], step_labels[20:]) == np.mean(hits)


# --------------------------------------------------------------------------
# Mackey-Glass: the acceptance test
# --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def mackey_glass_pairs():
    series = mackey_glass(2001, random_state=0, history=None)
    series = (series - series.mean()) / series.std()
    return series[:-1], series[1:]


def _held_out_pick(X, y, grid, n_train):
    """The configuration with the lowest RMSE on the held-out part, the state continued."""
    rmse = {}
    for params in grid:
        model = ESNRegressor(washout=100, random_state=0, **params).fit(X[:n_train], y[:n_train])
        assert np.array_equal(X[n_train], y[n_train - 1])   # the held-out X continues the series
        pred = model.predict(X[n_train:], initial_state="continue")
        rmse[tuple(sorted(params.items()))] = np.sqrt(np.mean((pred - y[n_train:]) ** 2))
    return dict(min(rmse, key=rmse.get))


@pytest.mark.parametrize("scoring", [None, washout_scorer(), washout_scorer("neg_root_mean_squared_error")],
                         ids=["estimator score", "washout r2", "washout rmse"])
def test_grid_search_on_mackey_glass_picks_the_held_out_choice(mackey_glass_pairs, scoring):
    X, y = mackey_glass_pairs
    grid = {"spectral_radius": [0.8, 1.1], "leak_rate": [0.5, 1.0]}
    search = GridSearchCV(ESNRegressor(washout=100, random_state=0), grid, cv=TimeSeriesSplit(),
                          scoring=scoring)
    search.fit(X[:1500], y[:1500])
    expected = _held_out_pick(X, y, search.cv_results_["params"], n_train=1500)
    assert search.best_params_ == expected
    # Scored with its transient (washout=0), the same search picks another configuration:
    # the washout is what makes the agreement.
    naive = GridSearchCV(ESNRegressor(washout=100, random_state=0), grid, cv=TimeSeriesSplit(),
                         scoring=washout_scorer(washout=0)).fit(X[:1500], y[:1500])
    assert naive.best_params_ != expected


# --------------------------------------------------------------------------
# Forecast scorer
# --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def lorenz():
    series = lorenz63(1601, dt=DT, random_state=0)
    series = (series - series.mean(0)) / series.std(0)
    return series


@pytest.fixture(scope="module")
def lorenz_model(lorenz):
    # Small and strongly regularised, so that some windows lose track before the horizon.
    esn = ESNRegressor(n_units=20, washout=50, spectral_radius=0.9, leak_rate=0.6,
                       input_scaling=0.2, bias_scaling=1.0, alpha=1e-4,
                       readout_features=("constant", "input", "state", "squared_state"),
                       random_state=0)
    return esn.fit(lorenz[:1000], lorenz[1:1001])


def _window_by_window(model, series, start, *, n_windows, context, horizon, stride=None):
    contexts, truth = forecast_windows(series, n_windows=n_windows, horizon=horizon, warmup=context,
                                       stride=stride, start=start)
    # The small model loses track in some windows, as the scorer expects:
    # those forecasts are NaN from the step they diverge, in both computations.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ForecastDivergenceWarning)
        forecasts = np.stack([model.forecast(horizon, context=c) for c in contexts])
    return truth, forecasts


def test_forecast_scorer_vpt_equals_valid_prediction_time(lorenz, lorenz_model):
    X_test = lorenz[1000:1600]          # 3 windows of 60 + 140 rows
    truth, forecasts = _window_by_window(lorenz_model, lorenz, 1000, n_windows=3, context=60,
                                         horizon=140)
    reference = valid_prediction_time(truth, forecasts, dt=DT, lyapunov_exponent=LAMBDA,
                                      threshold=0.3, y_train=lorenz[:1000])
    scale = lorenz[:1000].std(0)
    scorer = forecast_scorer(context=60, horizon=140, dt=DT, lyapunov_exponent=LAMBDA, scale=scale)
    assert scorer(lorenz_model, X_test, None) == pytest.approx(np.mean(reference.lyapunov_times),
                                                                rel=1e-12)
    # Without a Lyapunov exponent: time units, steps x dt.
    in_time = forecast_scorer(context=60, horizon=140, dt=DT, scale=scale, threshold=0.5)
    reference = valid_prediction_time(truth, forecasts, dt=DT, lyapunov_exponent=1.0,
                                      threshold=0.5, y_train=lorenz[:1000])
    assert in_time(lorenz_model, X_test, None) == pytest.approx(np.mean(reference.time), rel=1e-12)
    assert 0 < min(reference.n_valid_steps) < 140    # a window that ends before the horizon


def test_forecast_scorer_default_scale_is_the_std_of_the_test_rows(lorenz, lorenz_model):
    X_test = lorenz[1000:1600]
    truth, forecasts = _window_by_window(lorenz_model, lorenz, 1000, n_windows=3, context=60,
                                         horizon=140)
    reference = valid_prediction_time(truth, forecasts, dt=DT, lyapunov_exponent=LAMBDA,
                                      threshold=0.3, y_train=X_test)
    scorer = forecast_scorer(context=60, horizon=140, dt=DT, lyapunov_exponent=LAMBDA)
    assert scorer(lorenz_model, X_test) == pytest.approx(np.mean(reference.lyapunov_times),
                                                         rel=1e-12)


def test_forecast_scorer_nrmse_and_callable_metrics(lorenz, lorenz_model):
    X_test = lorenz[1000:1600]
    truth, forecasts = _window_by_window(lorenz_model, lorenz, 1000, n_windows=3, context=60,
                                         horizon=140)
    scale = np.array([1.0, 2.0, 0.5])
    expected = np.sqrt(np.mean(((forecasts - truth) / scale) ** 2))
    scorer = forecast_scorer("nrmse", context=60, horizon=140, scale=scale)
    assert scorer(lorenz_model, X_test) == pytest.approx(-expected, rel=1e-10)
    # One feature normalised by the std of its truth: the package's NRMSE.
    one = forecast_scorer(lambda t, f: nrmse(t[..., 0].ravel(), f[..., 0].ravel()),
                          context=60, horizon=140, greater_is_better=False)
    assert one(lorenz_model, X_test) == pytest.approx(
        -nrmse(truth[..., 0].ravel(), forecasts[..., 0].ravel()), rel=1e-10)
    shapes = []
    last_step = forecast_scorer(lambda t, f: shapes.append((t.shape, f.shape)) or
                                float(np.abs(f[:, -1] - t[:, -1]).mean()),
                                context=60, horizon=140, greater_is_better=True)
    assert last_step(lorenz_model, X_test) == pytest.approx(
        np.abs(forecasts[:, -1] - truth[:, -1]).mean(), rel=1e-10)
    assert shapes == [((3, 140, 3), (3, 140, 3))]


class GrowingForecast(RegressorMixin, BaseEstimator):
    """A fitted ESN whose closed loop is multiplied by ``growth`` per step: it overflows."""

    def __init__(self, growth=1.0, n_units=40):
        self.growth = growth
        self.n_units = n_units

    def fit(self, X, y):
        self.esn_ = ESNRegressor(n_units=self.n_units, washout=50, alpha=1e-8,
                                 readout_features=("constant", "input", "state", "squared_state"),
                                 random_state=0).fit(X, y)
        return self

    def predict(self, X):
        return self.esn_.predict(X)

    def forecast(self, n_steps, *, context):
        out = self.esn_.forecast(n_steps, context=context)
        factor = np.float64(self.growth) ** np.arange(1, n_steps + 1)   # inf after a few hundred
        return out * factor[:, None]                                     # inf, and nan where out = 0


def test_a_diverging_forecast_scores_finite_and_worse_without_warnings(lorenz):
    X, y = lorenz[:-1], lorenz[1:]
    train, test = X[:1000], X[1000:1600]
    stable = GrowingForecast(1.0).fit(train, y[:1000])
    diverging = GrowingForecast(1e3).fit(train, y[:1000])
    with np.errstate(over="ignore"):
        assert not np.all(np.isfinite(diverging.forecast(140, context=test[None, :60])))
    for metric in ("vpt", "nrmse"):
        scorer = forecast_scorer(metric, context=60, horizon=140, dt=DT, lyapunov_exponent=LAMBDA)
        good, bad = scorer(stable, test), scorer(diverging, test)
        assert np.isfinite(bad) and bad < good
    # Growth 1000 per step leaves the truth's range at the first step: no valid step at all.
    assert forecast_scorer(context=60, horizon=140)(diverging, test) == 0.0
    # In a search the diverging candidate gets a finite mean score and loses.
    cv = ForecastWindowSplit(n_splits=2, context=60, horizon=140, n_windows=1)
    search = GridSearchCV(GrowingForecast(), {"growth": [1e3, 1.0]}, cv=cv,
                          scoring=cv.scorer("nrmse"), error_score="raise").fit(X, y)
    assert np.all(np.isfinite(search.cv_results_["mean_test_score"]))
    assert np.isfinite(search.cv_results_["std_test_score"]).all()
    assert search.best_params_ == {"growth": 1.0}


def test_forecast_scorer_rejects_a_block_that_is_not_whole_windows(lorenz, lorenz_model):
    scorer = forecast_scorer(context=60, horizon=140)
    with pytest.raises(ValueError, match=r"599 rows.*context=60 \+ horizon=140 = 200 rows"):
        scorer(lorenz_model, lorenz[1000:1599])
    with pytest.raises(TypeError, match="forecast"):
        scorer(make_pipeline(StandardScaler()).fit(lorenz), lorenz[1000:1600])


@pytest.mark.parametrize("kwargs, error, words", [
    (dict(metric="rmse"), ValueError, ["'rmse'", "vpt", "nrmse"]),
    (dict(metric=np.mean), ValueError, ["greater_is_better"]),
    (dict(context=0), ValueError, ["context", "0"]),
    (dict(horizon=2.5), TypeError, ["horizon", "2.5"]),
    (dict(threshold=0.0), ValueError, ["threshold"]),
    (dict(scale=[1.0, -1.0]), ValueError, ["scale", "positive"]),
])
def test_forecast_scorer_rejects_bad_arguments(kwargs, error, words):
    arguments = {"context": 10, "horizon": 10, **kwargs}
    with pytest.raises(error) as info:
        forecast_scorer(**arguments)
    for word in words:
        assert word in str(info.value)


# --------------------------------------------------------------------------
# Forecast-window splitter
# --------------------------------------------------------------------------

SPLITS = [
    # windows side by side, two per block
    (16, dict(n_splits=2, context=2, horizon=1, n_windows=2),
     [(range(0, 4), [4, 5, 6, 7, 8, 9]), (range(0, 10), [10, 11, 12, 13, 14, 15])]),
    # overlapping windows (stride 2 < 4 rows): shared rows appear once per window
    (14, dict(n_splits=2, context=2, horizon=2, n_windows=2, stride=2),
     [(range(0, 4), [4, 5, 6, 7, 6, 7, 8, 9]), (range(0, 8), [8, 9, 10, 11, 10, 11, 12, 13])]),
    # spaced windows (stride 4 > 2 rows)
    (17, dict(n_splits=1, context=1, horizon=1, n_windows=3, stride=4),
     [(range(0, 7), [7, 8, 11, 12, 15, 16])]),
    # a gap and a bounded training window
    (20, dict(n_splits=3, context=3, horizon=2, gap=1, max_train_size=4),
     [(range(0, 4), range(5, 10)), (range(5, 9), range(10, 15)), (range(10, 14), range(15, 20))]),
]


@pytest.mark.parametrize("n_rows, kwargs, expected", SPLITS)
def test_split_indices_equal_hand_written_ones(n_rows, kwargs, expected):
    cv = ForecastWindowSplit(**kwargs)
    splits = list(cv.split(np.zeros((n_rows, 2))))
    assert cv.get_n_splits() == len(splits) == len(expected)
    for (train, test), (train_expected, test_expected) in zip(splits, expected, strict=True):
        assert train.tolist() == list(train_expected)
        assert test.tolist() == list(test_expected)


@pytest.mark.parametrize("kwargs", [dict(), dict(gap=3), dict(max_train_size=25),
                                    dict(gap=2, max_train_size=10)])
def test_one_window_per_block_is_time_series_split(kwargs):
    X = np.zeros((100, 1))
    ours = ForecastWindowSplit(n_splits=4, context=5, horizon=7, **kwargs).split(X)
    reference = TimeSeriesSplit(n_splits=4, test_size=12, **kwargs).split(X)
    for (train, test), (train_ref, test_ref) in zip(ours, reference, strict=True):
        np.testing.assert_array_equal(train, train_ref)
        np.testing.assert_array_equal(test, test_ref)


def test_split_says_how_many_rows_it_needs():
    cv = ForecastWindowSplit(n_splits=2, context=2, horizon=1, n_windows=2)
    assert len(list(cv.split(np.zeros(13)))) == 2       # one training row in the first split
    with pytest.raises(ValueError, match="needs at least 13 rows.*the series has 12"):
        list(cv.split(np.zeros(12)))
    with pytest.raises(ValueError, match="n_windows must be in"):
        list(ForecastWindowSplit(context=2, horizon=1, n_windows=0).split(np.zeros(50)))


def test_splitter_scorer_carries_context_and_horizon():
    cv = ForecastWindowSplit(context=30, horizon=70)
    scorer = cv.scorer("nrmse", scale=2.0)
    assert (scorer.context, scorer.horizon, scorer.scale, scorer.sign) == (30, 70, 2.0, -1.0)
    with pytest.raises(TypeError, match="horizon=70"):
        cv.scorer(horizon=50)


# --------------------------------------------------------------------------
# scikit-learn's searches with the splitter and the closed-loop scorer
# --------------------------------------------------------------------------

BASE = dict(washout=50, alpha=1e-8, bias_scaling=1.0, input_scaling=0.2,
            readout_features=("constant", "input", "state", "squared_state"), random_state=0)
CV = dict(n_splits=2, context=50, horizon=150, n_windows=2)


def _direct_scores(series, candidates):
    """Mean VPT over windows and splits of each candidate, fitted and forecast one by one."""
    X, y = series[:-1], series[1:]
    cv = ForecastWindowSplit(**CV)
    scores = []
    for params in candidates:
        per_split = []
        for train, test in cv.split(X):
            model = ESNRegressor(**{**BASE, **params}).fit(X[train], y[train])
            truth, forecasts = _window_by_window(model, X, test[0], n_windows=2, context=50,
                                                 horizon=150, stride=200)
            vpt = valid_prediction_time(truth, forecasts, dt=DT, lyapunov_exponent=LAMBDA,
                                        threshold=0.3, y_train=series)
            per_split.append(np.mean(vpt.lyapunov_times))
        scores.append(np.mean(per_split))
    return np.array(scores)


def _search_scorer(series):
    return ForecastWindowSplit(**CV).scorer(dt=DT, lyapunov_exponent=LAMBDA,
                                            scale=series.std(0))


def _check_search(search, series):
    params = search.cv_results_["params"]
    direct = _direct_scores(series, [{"n_units": 40, **p} for p in params])
    np.testing.assert_allclose(search.cv_results_["mean_test_score"], direct, rtol=1e-12)
    assert len(set(np.round(direct, 9))) > 1              # the candidates differ
    best = direct[params.index(search.best_params_)]
    assert best == direct.max()


def test_grid_search_with_windows_picks_the_directly_evaluated_best(lorenz):
    search = GridSearchCV(ESNRegressor(n_units=40, **BASE),
                          {"spectral_radius": [0.3, 1.2], "leak_rate": [0.2, 1.0]},
                          cv=ForecastWindowSplit(**CV), scoring=_search_scorer(lorenz))
    search.fit(lorenz[:-1], lorenz[1:])
    _check_search(search, lorenz)


def test_randomized_search_with_windows_picks_the_directly_evaluated_best(lorenz):
    search = RandomizedSearchCV(ESNRegressor(n_units=40, **BASE),
                                {"spectral_radius": uniform(0.1, 1.2), "leak_rate": uniform(0.1, 0.9),
                                 "alpha": loguniform(1e-9, 1e-3)},
                                n_iter=5, cv=ForecastWindowSplit(**CV),
                                scoring=_search_scorer(lorenz), random_state=0)
    search.fit(lorenz[:-1], lorenz[1:])
    _check_search(search, lorenz)


def test_halving_search_over_units_keeps_the_directly_evaluated_best(lorenz):
    # Resource n_units: every rung trains on the same rows in time order (the
    # default resource, n_samples, would train on rows drawn at random). Training
    # rows are not forecast windows, so no train score (the halving default).
    search = HalvingRandomSearchCV(ESNRegressor(**BASE),
                                   {"spectral_radius": uniform(0.1, 1.2),
                                    "leak_rate": uniform(0.1, 0.9)},
                                   n_candidates=4, factor=2, resource="n_units", min_resources=20,
                                   max_resources=80, cv=ForecastWindowSplit(**CV),
                                   return_train_score=False,
                                   scoring=_search_scorer(lorenz), random_state=0)
    search.fit(lorenz[:-1], lorenz[1:])
    results = search.cv_results_
    assert list(search.n_resources_) == [20, 40, 80]
    assert all(p["n_units"] == n for p, n in zip(results["params"], results["n_resources"], strict=True))
    direct = _direct_scores(lorenz, results["params"])
    np.testing.assert_allclose(results["mean_test_score"], direct, rtol=1e-12)
    # Each rung promotes candidates scored at least as well as those it drops.
    name = lambda i: str(sorted((k, v) for k, v in results["params"][i].items() if k != "n_units"))  # noqa: E731
    for rung in range(2):
        promoted = {name(i) for i in np.flatnonzero(results["iter"] == rung + 1)}
        here = np.flatnonzero(results["iter"] == rung)
        kept = [direct[i] for i in here if name(i) in promoted]
        dropped = [direct[i] for i in here if name(i) not in promoted]
        assert len(kept) == len(promoted) and min(kept) >= max(dropped)
    last = np.flatnonzero(results["iter"] == 2)
    assert search.best_params_ in [results["params"][i] for i in last]
    assert direct[results["params"].index(search.best_params_)] == direct[last].max()


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")    # 2 epochs on purpose
def test_cross_validate_with_windows_accepts_rnn_regressors(lorenz):
    from reservoir.rnn import ElmanRegressor

    cv = ForecastWindowSplit(n_splits=2, context=30, horizon=20)
    model = ElmanRegressor(n_units=8, max_iter=2, sequence_length=50, washout=5, random_state=0)
    result = cross_validate(model, lorenz[:300], lorenz[1:301], cv=cv,
                            scoring=cv.scorer("nrmse"), error_score="raise")
    assert np.all(np.isfinite(result["test_score"])) and np.all(result["test_score"] < 0)


def test_forecast_scorer_on_a_parallel_esn_equals_valid_prediction_time():
    from reservoir import ParallelESNRegressor
    from reservoir.datasets import lorenz96

    series = lorenz96(700, dimension=8, random_state=0)
    series = (series - series.mean()) / series.std()
    X, y = series[:-1], series[1:]
    cv = ForecastWindowSplit(n_splits=2, context=30, horizon=40, n_windows=2)
    model = ParallelESNRegressor(n_units=20, locality=1, washout=20, random_state=0)
    scores = cross_validate(model, X, y, cv=cv, error_score="raise",
                            scoring=cv.scorer("vpt", dt=0.01, lyapunov_exponent=1.7, threshold=0.5,
                                              scale=X.std(axis=0)))["test_score"]
    for (train, test), score in zip(cv.split(X), scores, strict=True):
        fitted = ParallelESNRegressor(n_units=20, locality=1, washout=20, random_state=0)
        fitted.fit(X[train], y[train])
        truth, forecasts = _window_by_window(fitted, X, test[0], n_windows=2, context=30, horizon=40)
        reference = valid_prediction_time(truth, forecasts, dt=0.01, lyapunov_exponent=1.7,
                                          threshold=0.5, y_train=X)
        assert score == pytest.approx(np.mean(reference.lyapunov_times), rel=1e-12)


def test_the_model_selection_page_examples_run():
    import doctest
    from pathlib import Path

    page = Path(__file__).resolve().parents[1] / "docs" / "model_selection.rst"
    result = doctest.testfile(str(page), module_relative=False,
                              optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0
    assert result.failed == 0
