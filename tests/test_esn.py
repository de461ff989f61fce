"""ESN estimators: scikit-learn integration, state rules, forecasting, accuracy."""

import pickle

import joblib
import numpy as np
import pytest
from sklearn.base import clone
from sklearn.linear_model import Ridge
from sklearn.model_selection import GridSearchCV, TimeSeriesSplit
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import reservoir._states
from reservoir import ESNClassifier, ESNRegressor, ReservoirTransformer
from reservoir.metrics import nrmse


@pytest.fixture(scope="module")
def sine():
    t = np.arange(1500) * 0.1
    return np.column_stack([np.sin(t), np.cos(0.5 * t)])


def test_mackey_glass_one_step_ahead_with_300_units(mackey_glass_series):
    z = mackey_glass_series
    X_train, y_train = z[:3000], z[1:3001, 0]
    X_test, y_test = z[3000:-1], z[3001:, 0]
    esn = ESNRegressor(n_units=300, washout=100, random_state=0).fit(X_train, y_train)
    y_pred = esn.predict(X_test, initial_state="continue")
    assert nrmse(y_test, y_pred) <= 1e-3


def test_pipeline_with_scaler_and_esn(sine):
    X, y = 5.0 * sine[:-1] + 3.0, sine[1:, 0]
    model = make_pipeline(StandardScaler(), ESNRegressor(washout=50, random_state=0)).fit(X, y)
    assert model.predict(X).shape == y.shape
    assert model.score(X[200:], y[200:]) > 0.999


def test_pipeline_with_reservoir_transformer_and_ridge(sine):
    X, y = sine[:-1], sine[1:, 0]
    model = make_pipeline(ReservoirTransformer(n_units=80, include_input=True, random_state=0),
                          Ridge(alpha=1e-6)).fit(X, y)
    assert model.score(X[100:], y[100:]) > 0.999


def test_grid_search_with_time_series_split(sine):
    """The search's scores and choice equal a fold-by-fold evaluation written out here."""
    X, y = sine[:-1], sine[1:, 0] + 0.5 * sine[:-1, 1] ** 2     # a target that needs memory
    grid = [0.3, 0.9, 1.3]
    cv = TimeSeriesSplit(n_splits=3)
    base = ESNRegressor(n_units=50, washout=20, random_state=0)
    search = GridSearchCV(base, {"spectral_radius": grid}, cv=cv).fit(X, y)
    by_hand = []
    for rho in grid:
        fold_scores = []
        for train, test in cv.split(X):
            model = clone(base).set_params(spectral_radius=rho).fit(X[train], y[train])
            # R^2 of the test fold from the zero state, its washout left out.
            pred = model.predict(X[test])[20:]
            truth = y[test][20:]
            fold_scores.append(1 - np.sum((truth - pred) ** 2) / np.sum((truth - truth.mean()) ** 2))
        by_hand.append(np.mean(fold_scores))
    np.testing.assert_allclose(search.cv_results_["mean_test_score"], by_hand, rtol=1e-10)
    assert search.best_params_ == {"spectral_radius": grid[int(np.argmax(by_hand))]}
    assert search.best_score_ == pytest.approx(max(by_hand), rel=1e-10)
    # The grid is not flat: the worst choice leaves ten times the error unexplained.
    assert 1 - min(by_hand) > 10 * (1 - max(by_hand))


def test_same_seed_same_predictions_other_seed_other_predictions(sine):
    X, y = sine[:-1], sine[1:]
    p1 = ESNRegressor(random_state=7).fit(X, y).predict(X)
    p2 = ESNRegressor(random_state=7).fit(X, y).predict(X)
    p3 = ESNRegressor(random_state=8).fit(X, y).predict(X)
    np.testing.assert_array_equal(p1, p2)
    assert not np.allclose(p1, p3)


def test_refit_is_idempotent_and_weights_do_not_depend_on_input_width(sine):
    esn = ESNRegressor(n_units=40, random_state=3)
    W1 = esn.fit(sine[:, :1], sine[:, 0]).W_.toarray()
    W2 = esn.fit(sine, sine[:, 0]).W_.toarray()
    np.testing.assert_array_equal(W1, W2)


@pytest.mark.parametrize("roundtrip", ["clone", "pickle", "joblib"])
def test_round_trips_give_identical_predictions(sine, tmp_path, roundtrip):
    X, y = sine[:-1], sine[1:]
    esn = ESNRegressor(n_units=60, leak_rate=0.5, washout=10, random_state=0).fit(X, y)
    if roundtrip == "clone":
        other = clone(esn).fit(X, y)
        assert other.get_params() == esn.get_params()
    elif roundtrip == "pickle":
        esn.predict(X[:5])  # device copies in the reservoir's cache
        other = pickle.loads(pickle.dumps(esn))
        assert esn.reservoir_._cache  # pickling leaves the original's copies in place
        assert not other.reservoir_._cache  # and does not carry them
    else:
        joblib.dump(esn, tmp_path / "esn.joblib")
        other = joblib.load(tmp_path / "esn.joblib")
    np.testing.assert_array_equal(other.predict(X), esn.predict(X))
    np.testing.assert_array_equal(other.forecast(20), esn.forecast(20))


def test_set_params_changes_the_model(sine):
    X, y = sine[:-1], sine[1:]
    esn = ESNRegressor(n_units=30, random_state=0)
    esn.set_params(n_units=50, spectral_radius=0.5).fit(X, y)
    assert esn.W_.shape == (50, 50)


def test_each_call_starts_from_zero_unless_told_otherwise(sine):
    X, y = sine[:-1], sine[1:]
    esn = ESNRegressor(n_units=60, random_state=0).fit(X[:1000], y[:1000])
    fresh = esn.predict(X[1000:])
    np.testing.assert_array_equal(fresh, esn.predict(X[1000:]))  # predict changes nothing
    continued = esn.predict(X[1000:], initial_state="continue")
    whole = esn.predict(X)
    np.testing.assert_allclose(continued, whole[1000:], rtol=1e-12, atol=1e-12)
    explicit = esn.predict(X[1000:], initial_state=esn.final_state_)
    np.testing.assert_array_equal(explicit, continued)
    assert not np.allclose(fresh[:5], continued[:5])


def test_forecast_continues_the_fitted_series(sine):
    X, y = sine[:-1], sine[1:]
    esn = ESNRegressor(n_units=200, washout=100, alpha=1e-9, random_state=0).fit(X[:1200], y[:1200])
    forecast = esn.forecast(100)
    assert forecast.shape == (100, 2)
    # The first value predicts the step after the last fitted target.
    np.testing.assert_allclose(forecast, sine[1201:1301], atol=5e-3)
    # Continuing from the end of fit is the same as a context of every known value.
    np.testing.assert_allclose(esn.forecast(100, context=sine[:1201]), forecast, rtol=1e-12, atol=1e-12)


def test_forecast_from_several_contexts_at_once(sine):
    X, y = sine[:-1], sine[1:]
    esn = ESNRegressor(n_units=100, washout=100, random_state=0).fit(X[:1000], y[:1000])
    contexts = np.stack([sine[1000:1200], sine[1100:1300]])
    batched = esn.forecast(30, context=contexts)
    assert batched.shape == (2, 30, 2)
    for i in range(2):
        np.testing.assert_allclose(batched[i], esn.forecast(30, context=contexts[i]),
                                   rtol=1e-12, atol=1e-12)
    ragged = esn.forecast(30, context=[sine[1000:1200], sine[1000:1150]])
    np.testing.assert_allclose(ragged[1], esn.forecast(30, context=sine[1000:1150]),
                               rtol=1e-12, atol=1e-12)


def test_forecast_needs_outputs_matching_inputs(sine):
    esn = ESNRegressor(n_units=20, random_state=0).fit(sine, sine[:, 0])
    with pytest.raises(ValueError, match="as many outputs as input features"):
        esn.forecast(5)


def test_output_feedback_is_teacher_forced_in_fit_and_generative_in_predict(sine):
    X, y = sine[:-1], sine[1:]
    esn = ESNRegressor(n_units=100, washout=50, feedback_scaling=0.2, random_state=0).fit(X, y)
    assert esn.W_fb_.shape == (100, 2)
    assert nrmse(y[100:], esn.predict(X)[100:]) < 1e-2
    # The forecast feeds each output back both as the next input and through
    # W_fb: the same loop written with step() from the end of the fitted data.
    forecast = esn.forecast(50)
    state, previous = esn.final_state_, y[-1]
    by_hand = []
    for _ in range(50):
        previous, state = esn.step(previous, state, previous_output=previous)
        by_hand.append(previous)
    np.testing.assert_allclose(forecast, np.array(by_hand), rtol=1e-10, atol=1e-12)
    # And it continues the two waves: the steps after the fitted series.
    t = (np.arange(1500, 1550)) * 0.1
    assert nrmse(np.column_stack([np.sin(t), np.cos(0.5 * t)]), forecast) < 0.05


def test_refit_without_feedback_forgets_the_feedback_weights(sine):
    X, y = sine[:-1], sine[1:]
    esn = ESNRegressor(n_units=50, feedback_scaling=0.2, random_state=0).fit(X, y)
    esn.set_params(feedback_scaling=None).fit(X, y)
    assert not hasattr(esn, "W_fb_")
    fresh = ESNRegressor(n_units=50, random_state=0).fit(X, y)
    np.testing.assert_array_equal(esn.forecast(20), fresh.forecast(20))


def test_several_series_train_one_readout():
    rng = np.random.default_rng(0)
    series = [np.cumsum(rng.standard_normal((n, 1)), axis=0) * 0.05 for n in (300, 300)]
    targets = [np.roll(s, -1)[:, 0] for s in series]
    a = ESNRegressor(n_units=40, washout=20, random_state=0).fit(series, targets)
    b = ESNRegressor(n_units=40, washout=20, random_state=0).fit(np.stack(series), np.stack(targets))
    np.testing.assert_allclose(a.readout_.coef_, b.readout_.coef_, rtol=1e-10)
    assert isinstance(a.predict(series), list)
    assert b.predict(np.stack(series)).shape == (2, 300)


def test_streaming_does_not_depend_on_chunk_size(sine, monkeypatch):
    X, y = sine[:-1], sine[1:]
    whole = ESNRegressor(n_units=50, washout=30, random_state=0).fit(X, y)
    monkeypatch.setattr(reservoir._states, "_CHUNK_ELEMENTS", 50 * 7)  # 7 steps per chunk
    monkeypatch.setattr(reservoir._states, "_CHUNK_MIN_ROWS", 1)
    assert reservoir._states.chunk_length(1, 50) == 7
    chunked = ESNRegressor(n_units=50, washout=30, random_state=0).fit(X, y)
    # The accumulated statistics agree to rounding; the solved coefficients of
    # this nearly collinear problem amplify rounding, the predictions do not.
    for name in ("xx", "xy", "mean_x", "mean_y"):
        np.testing.assert_allclose(getattr(chunked.readout_._accumulator, name),
                                   getattr(whole.readout_._accumulator, name), rtol=1e-10, atol=1e-9)
    np.testing.assert_allclose(chunked.predict(X), whole.predict(X), rtol=0, atol=1e-7)


@pytest.mark.parametrize(
    "features, width",
    [(("constant", "state"), 30), (("input", "state"), 32), (("state", "squared_state"), 60),
     (("input",), 2)],
)
def test_readout_features_select_what_the_readout_sees(sine, features, width):
    esn = ESNRegressor(n_units=30, readout_features=features, random_state=0).fit(sine[:-1], sine[1:])
    assert esn.readout_.coef_.shape == (2, width)
    intercept = np.asarray(esn.readout_.intercept_)
    assert np.any(intercept != 0) == ("constant" in features)


def test_noise_is_reproducible_and_only_in_fit(sine):
    X, y = sine[:-1], sine[1:]
    a = ESNRegressor(n_units=40, noise_level=1e-3, random_state=0).fit(X, y)
    b = ESNRegressor(n_units=40, noise_level=1e-3, random_state=0).fit(X, y)
    c = ESNRegressor(n_units=40, random_state=0).fit(X, y)
    np.testing.assert_array_equal(a.readout_.coef_, b.readout_.coef_)
    assert not np.allclose(a.readout_.coef_, c.readout_.coef_)


def _two_class_series(n_series, rng):
    t = np.linspace(0, 6 * np.pi, 80)[:, None]
    X = [np.sin(t * (1.0 + 0.8 * (k % 2))) + 0.2 * rng.standard_normal(t.shape) for k in range(n_series)]
    return X, np.array(["slow" if k % 2 == 0 else "fast" for k in range(n_series)])


@pytest.mark.parametrize("pooling", ["mean", "last"])
def test_classifier_per_series_labels(pooling):
    X, y = _two_class_series(60, np.random.default_rng(0))
    clf = ESNClassifier(n_units=60, washout=10, pooling=pooling, random_state=0).fit(X[:40], y[:40])
    assert list(clf.classes_) == ["fast", "slow"]
    assert clf.score(X[40:], y[40:]) >= 0.95
    proba = clf.predict_proba(X[40:])
    assert proba.shape == (20, 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    np.testing.assert_array_equal(clf.classes_[np.argmax(proba, axis=1)], clf.predict(X[40:]))


def test_classifier_per_step_labels_three_classes():
    rng = np.random.default_rng(1)
    labels = np.repeat(rng.integers(0, 3, 60), 20)
    X = np.eye(3)[labels] + 0.3 * rng.standard_normal((labels.size, 3))
    clf = ESNClassifier(n_units=50, random_state=0).fit(X[:900], labels[:900])
    assert clf.decision_function(X[900:]).shape == (300, 3)
    assert clf.score(X[900:], labels[900:]) > 0.9


def test_classifier_rejects_per_series_model_on_one_series():
    X, y = _two_class_series(10, np.random.default_rng(0))
    clf = ESNClassifier(n_units=20, random_state=0).fit(X, y)
    with pytest.raises(ValueError, match="one label per series"):
        clf.predict(X[0])


@pytest.mark.parametrize("feedback", [None, 0.1])
def test_float32_model_computes_and_returns_float32(sine, feedback):
    X, y = sine[:-1], sine[1:]
    esn = ESNRegressor(n_units=300, dtype="float32", feedback_scaling=feedback, washout=50,
                       random_state=0).fit(X, y)
    assert esn.readout_.coef_.dtype == np.float32
    assert esn.predict(X).dtype == np.float32
    assert esn.forecast(10).dtype == np.float32
    reference = ESNRegressor(n_units=300, feedback_scaling=feedback, washout=50, random_state=0).fit(X, y)
    np.testing.assert_allclose(esn.predict(X[:200]), reference.predict(X[:200]), atol=1e-3)
