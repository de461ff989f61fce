"""AutoESNForecaster: the search's budget, reproducibility, scores, errors and use."""

import time
import warnings

import numpy as np
import pytest

from reservoir import AutoESNForecaster, ESNRegressor, NVARRegressor, load, save
from reservoir.auto import ALPHAS, window_scores
from reservoir.datasets import lorenz63

SMALL = dict(n_units=40, n_iter=5, n_windows=4, initial_horizon=20)


@pytest.fixture(scope="module")
def lorenz():
    """A Lorenz-63 trajectory in its own units (not standardised), 25 steps per Lyapunov time."""
    return lorenz63(3000, dt=0.04, random_state=0) * 3.0 + 10.0


@pytest.fixture(scope="module")
def fitted(lorenz):
    return AutoESNForecaster(**SMALL, random_state=0).fit(lorenz[:2500])


# ---------------------------------------------------------------------------- scores

def test_window_scores_count_valid_steps_then_rank_windows_valid_to_the_end():
    truth = np.zeros((3, 10, 2))
    forecast = np.zeros((3, 10, 2))
    forecast[0, 4:] = 1.0          # exceeds 0.3 from step index 4: 4 valid steps
    forecast[1] = 1e-3             # valid to the end, error 1e-3
    forecast[2] = 1e-6             # valid to the end, smaller error: ranked higher
    scores = window_scores(truth, forecast, metric="vpt", threshold=0.3)
    assert scores[0] == 4
    assert 10 < scores[1] < scores[2] <= 20
    # A perfect window gets the full extra horizon.
    assert window_scores(truth[:1], truth[:1], metric="vpt", threshold=0.3)[0] == 20


def test_window_scores_treat_a_diverged_forecast_as_invalid_from_its_first_step():
    truth = np.zeros((1, 5, 1))
    forecast = np.full((1, 5, 1), np.nan)
    assert window_scores(truth, forecast, metric="vpt", threshold=0.3)[0] == 0
    nrmse = window_scores(truth, forecast, metric="nrmse", threshold=0.3)[0]
    assert np.isfinite(nrmse) and nrmse <= -1e5


def test_window_scores_nrmse_is_minus_the_rms_error():
    truth = np.zeros((1, 4, 2))
    forecast = np.ones((1, 4, 2)) * np.array([3.0, 4.0])   # e(t) = sqrt((9 + 16) / 2)
    assert window_scores(truth, forecast, metric="nrmse", threshold=0.3)[0] == pytest.approx(-np.sqrt(12.5))


# ---------------------------------------------------------------------------- search

def test_forecasts_lorenz_in_its_own_units(fitted, lorenz):
    """The chosen model forecasts beyond a Lyapunov time (25 steps), in the data's units."""
    forecast = fitted.forecast(50)
    truth = lorenz[2500:2550]
    error = np.sqrt(np.mean(((forecast - truth) / lorenz[:2500].std(axis=0)) ** 2, axis=1))
    assert forecast.shape == (50, 3)
    assert np.argmax(error > 0.3) >= 25
    # The same from a context: the last 200 fitted rows continue as the fit did.
    from_context = fitted.forecast(50, context=lorenz[2300:2500])
    assert np.argmax(np.sqrt(np.mean(((from_context - truth) / lorenz.std(axis=0)) ** 2, axis=1)) > 0.3) >= 25


def test_search_results_describe_every_candidate(fitted):
    r = fitted.cv_results_
    n = SMALL["n_iter"]
    assert len(r["params"]) == n and sorted(r["rank_test_score"]) == list(range(1, n + 1))
    assert r["rank_test_score"][fitted.best_index_] == 1
    assert fitted.best_params_ == r["params"][fitted.best_index_]
    assert fitted.best_score_ == r["mean_test_score"][fitted.best_index_]
    assert set(r["alpha"]) <= set(ALPHAS)
    # Halving: each rung keeps a third (rounded up) and triples the horizon.
    assert fitted.n_candidates_[0] == n
    assert all(b == -(-a // 3) for a, b in zip(fitted.n_candidates_, fitted.n_candidates_[1:]))
    assert fitted.horizons_ == [SMALL["initial_horizon"] * 3**k for k in range(len(fitted.horizons_))]
    # Candidates of the last rung rank first.
    last = r["iter"] == r["iter"].max()
    assert r["rank_test_score"][last].max() == last.sum()
    best = fitted.best_estimator_
    assert isinstance(best, (ESNRegressor, NVARRegressor))
    assert best.alpha == fitted.best_params_["alpha"]
    assert {"esn", "nvar"} == set(r["model"])


def test_best_estimator_works_in_standard_units(fitted, lorenz):
    scaled = (lorenz[:2500] - fitted.mean_) / fitted.scale_
    np.testing.assert_allclose(fitted.mean_, lorenz[:2500].mean(axis=0))
    direct = fitted.best_estimator_.forecast(20) * fitted.scale_ + fitted.mean_
    np.testing.assert_allclose(fitted.forecast(20), direct)
    np.testing.assert_allclose(fitted.predict(lorenz[:100]),
                               fitted.best_estimator_.predict(scaled[:100]) * fitted.scale_ + fitted.mean_)


def test_reproducible_with_random_state_and_n_jobs(lorenz):
    kwargs = dict(SMALL, n_iter=4, random_state=3)
    a = AutoESNForecaster(**kwargs).fit(lorenz[:1500])
    b = AutoESNForecaster(**kwargs, n_jobs=2).fit(lorenz[:1500])
    assert a.best_params_ == b.best_params_
    np.testing.assert_array_equal(a.cv_results_["mean_test_score"], b.cv_results_["mean_test_score"])
    np.testing.assert_array_equal(a.forecast(30), b.forecast(30))
    c = AutoESNForecaster(**dict(kwargs, random_state=4)).fit(lorenz[:1500])
    assert c.best_params_ != a.best_params_


def test_time_budget_stops_the_search(lorenz):
    """The search stops before a candidate that its rung's mean time says would overrun."""
    auto = AutoESNForecaster(n_units=300, n_iter=200, n_windows=4, initial_horizon=20, time_budget=1.5,
                             include_nvar=False, random_state=0)
    start = time.perf_counter()
    auto.fit(lorenz)
    elapsed = time.perf_counter() - start
    r = auto.cv_results_
    scored = r["iter"] >= 0
    assert scored.sum() < 200
    slowest = float(np.max(r["mean_fit_time"][scored] + r["mean_score_time"][scored]))
    assert elapsed <= 1.5 + 2 * slowest + 0.5
    assert auto.search_time_ <= elapsed
    assert np.all(r["rank_test_score"][~scored] > scored.sum())


def test_fixed_horizon_scores_the_error_over_it(lorenz):
    auto = AutoESNForecaster(**dict(SMALL, n_iter=3), horizon=15, random_state=0).fit(lorenz[:1500])
    assert auto.horizons_ == [15] and auto.n_candidates_ == [3]
    assert auto.best_score_ < 0          # minus an RMS error
    assert set(auto.cv_results_["horizon"]) == {15}


def test_one_step_ahead_pairs_are_the_series_itself(lorenz):
    a = AutoESNForecaster(**SMALL, random_state=0).fit(lorenz[:1200])
    b = AutoESNForecaster(**SMALL, random_state=0).fit(lorenz[:1199], lorenz[1:1200])
    assert a.best_params_ == b.best_params_
    np.testing.assert_array_equal(a.forecast(10), b.forecast(10))


def test_univariate_series_forecasts_one_dimensional():
    t = np.arange(2000) * 0.1
    series = np.sin(t) + 0.5 * np.sin(np.sqrt(2) * t)
    auto = AutoESNForecaster(**SMALL, random_state=0).fit(series)
    forecast = auto.forecast(40)
    assert forecast.shape == (40,)
    truth = np.sin(t[-1] + 0.1 * np.arange(1, 41)) + 0.5 * np.sin(np.sqrt(2) * (t[-1] + 0.1 * np.arange(1, 41)))
    assert np.abs(forecast - truth).max() < 0.1


def test_exogenous_targets_give_a_one_step_regressor():
    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, (600, 2))
    y = np.convolve(X[:, 0], [0.5, 0.3, 0.2])[:600] - X[:, 1]
    auto = AutoESNForecaster(n_units=30, n_iter=3, random_state=0).fit(X, y)
    assert auto.predict(X).shape == (600,)
    assert auto.score(X, y) > 0.9
    with pytest.raises(ValueError, match="fitted on a series alone"):
        auto.forecast(5)


def test_saved_and_loaded_forecasts_the_same(fitted, tmp_path):
    path = tmp_path / "auto.rsv"
    save(fitted, path)
    loaded = load(path)
    np.testing.assert_array_equal(loaded.forecast(30), fitted.forecast(30))
    assert loaded.best_params_ == fitted.best_params_


# ---------------------------------------------------------------------------- errors

@pytest.mark.parametrize("n, kwargs, match", [
    (100, {}, r"100 steps, too few .* at least 220 steps"),
    (100, dict(horizon=80), r"100 steps, too few .*horizon"),
])
def test_series_too_short_for_its_validation(n, kwargs, match):
    series = np.sin(0.1 * np.arange(n))
    with pytest.raises(ValueError, match=match):
        AutoESNForecaster(**dict(SMALL, initial_horizon=100), **kwargs).fit(series)


@pytest.mark.parametrize("X, match", [
    ([np.zeros((500, 2)), np.zeros((400, 2))], "fits one series; X is a list of 2 series"),
    (np.zeros((3, 500, 2)), "fits one series; X has shape"),
])
def test_several_series_are_refused(X, match):
    with pytest.raises(ValueError, match=match):
        AutoESNForecaster(**SMALL).fit(X)


def test_missing_values_are_refused():
    series = np.sin(0.1 * np.arange(1000))
    series[500] = np.nan
    with pytest.raises(ValueError, match="X contains NaN"):
        AutoESNForecaster(**SMALL).fit(series)


@pytest.mark.parametrize("params, error, match", [
    (dict(n_iter=0), ValueError, r"n_iter must be in \[1, inf\], got 0"),
    (dict(time_budget=0.0), ValueError, r"time_budget must be in \(0, inf\]"),
    (dict(threshold=-1.0), ValueError, "threshold"),
    (dict(include_nvar="yes"), TypeError, "include_nvar must be a bool"),
])
def test_bad_parameters(params, error, match):
    with pytest.raises(error, match=match):
        AutoESNForecaster(**params).fit(np.sin(0.1 * np.arange(1000)))


def test_context_with_other_features_is_refused(fitted):
    with pytest.raises(ValueError, match="context has 2 features, but AutoESNForecaster is expecting 3"):
        fitted.forecast(5, context=np.zeros((100, 2)))


def test_divergence_is_a_score_not_a_warning(lorenz):
    """Candidates whose closed loops diverge are scored, silently; the search still returns."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        AutoESNForecaster(n_units=20, n_iter=3, n_windows=3, initial_horizon=20, random_state=1,
                          include_nvar=False).fit(lorenz[:1000])
