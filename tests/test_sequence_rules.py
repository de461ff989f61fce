"""Time-series rules at the edges of the scikit-learn API: scoring, layouts, continuation."""

import warnings

import numpy as np
import pytest
import sklearn
from sklearn.linear_model import Ridge
from sklearn.metrics import r2_score
from sklearn.pipeline import make_pipeline

from reservoir import ESNClassifier, ESNRegressor, ReservoirTransformer
from reservoir.datasets import to_forecasting
from reservoir.metrics import nrmse
from reservoir.rnn import ElmanRegressor


@pytest.fixture(scope="module")
def series():
    rng = np.random.default_rng(0)
    t = np.arange(400) * 0.1
    return [np.column_stack([np.sin(t * f), np.cos(0.5 * t * f)]) + 0.05 * rng.standard_normal((400, 2))
            for f in (1.0, 1.3, 0.8)]


def pooled_r2(model, X_list, y_list, washout):
    """R^2 over the steps after the washout of every series, pooled by hand."""
    preds = [model.predict(x) for x in X_list]
    true = np.concatenate([y[washout:].reshape(len(y) - washout, -1) for y in y_list])
    pred = np.concatenate([p[washout:].reshape(len(p) - washout, -1) for p in preds])
    return r2_score(true, pred)


@pytest.mark.parametrize("two_outputs", [False, True])
def test_score_of_a_batch_is_the_pooled_r2_after_the_washout(series, two_outputs):
    X = [s[:-1] for s in series]
    y = [s[1:] if two_outputs else s[1:, 0] for s in series]
    esn = ESNRegressor(n_units=30, washout=40, random_state=0).fit(X, y)
    expected = pooled_r2(esn, X, y, 40)
    assert esn.score(np.stack(X), np.stack(y)) == pytest.approx(expected, rel=1e-12)
    # A ragged list: the same rule, each series its own washout.
    ragged_X = [X[0], X[1][:250], X[2][:120]]
    ragged_y = [y[0], y[1][:250], y[2][:120]]
    assert esn.score(ragged_X, ragged_y) == pytest.approx(pooled_r2(esn, ragged_X, ragged_y, 40), rel=1e-12)
    # The old per-series reading (series as samples, steps as outputs) is a different number.
    if not two_outputs:
        per_series = r2_score(np.stack(y), esn.predict(np.stack(X)))
        assert abs(per_series - expected) > 1e-3


def test_score_leaves_the_transient_out_and_not_a_continued_run(series):
    X, y = series[0][:-1], series[0][1:, 0]
    esn = ESNRegressor(n_units=30, washout=50, random_state=0).fit(X[:300], y[:300])
    assert esn.score(X[300:], y[300:]) == pytest.approx(r2_score(y[350:], esn.predict(X[300:])[50:]))
    continued = esn.predict(X[300:], initial_state="continue")
    assert esn.score(X[300:], y[300:], initial_state="continue") == pytest.approx(r2_score(y[300:], continued))
    with pytest.raises(ValueError, match="series 0 has 50 time steps, not more than washout=50"):
        esn.score(X[300:350], y[300:350])


def test_score_with_sample_weight_per_step(series):
    X, y = series[0][:-1], series[0][1:, 0]
    esn = ESNRegressor(n_units=30, washout=10, random_state=0).fit(X, y)
    w = np.linspace(0.1, 2.0, len(y))
    expected = r2_score(y[10:], esn.predict(X)[10:], sample_weight=w[10:])
    assert esn.score(X, y, sample_weight=w) == pytest.approx(expected, rel=1e-12)


def test_recurrent_regressors_score_the_same_way(series):
    X = [s[:-1] for s in series]
    y = [s[1:, 0] for s in series]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rnn = ElmanRegressor(n_units=6, washout=20, max_iter=3, sequence_length=50, random_state=0).fit(X, y)
    assert rnn.score(X, y) == pytest.approx(pooled_r2(rnn, X, y, 20), rel=1e-12)


def test_a_list_of_univariate_sequences_is_a_list_of_series():
    rng = np.random.default_rng(1)
    X = [np.sin(np.arange(50) * (0.2 + 0.2 * (k % 2))) + 0.1 * rng.standard_normal(50) for k in range(200)]
    y = np.array([k % 2 for k in range(200)])
    clf = ESNClassifier(n_units=30, washout=5, random_state=0).fit(X[:150], y[:150])
    assert clf.n_features_in_ == 1
    assert clf.predict(X[150:]).shape == (50,)
    assert clf.score(X[150:], y[150:]) > 0.9
    # Unequal lengths: the same rule, no "inhomogeneous shape" error.
    clf.fit([x[: 30 + k % 20] for k, x in enumerate(X[:150])], y[:150])
    assert clf.n_features_in_ == 1
    reg = ESNRegressor(n_units=20, random_state=0).fit(X[:3], [x * 2 for x in X[:3]])
    assert reg.n_features_in_ == 1 and reg.predict(X[:3])[0].shape == (50,)


def test_a_nested_list_of_numbers_is_one_series_as_in_numpy():
    X = np.random.default_rng(2).standard_normal((60, 3))
    y = X[:, 0]
    a = ESNRegressor(n_units=20, random_state=0).fit(X.tolist(), y.tolist())
    b = ESNRegressor(n_units=20, random_state=0).fit(X, y)
    assert a.n_features_in_ == 3
    np.testing.assert_array_equal(a.predict(X), b.predict(X))


def test_transform_continue_equals_transforming_the_concatenation(series):
    X1, X2 = series[0][:250], series[0][250:]
    tr = ReservoirTransformer(n_units=40, leak_rate=0.5, random_state=0).fit(X1)
    whole = tr.transform(series[0])
    np.testing.assert_allclose(tr.transform(X2, initial_state="continue"), whole[250:], rtol=1e-12, atol=1e-12)
    # With a washout, the zero-state runs leave their first steps out; the continued run has none.
    trw = ReservoirTransformer(n_units=40, leak_rate=0.5, washout=30, random_state=0).fit(X1)
    assert trw.transform(X1).shape == (220, 40)
    np.testing.assert_allclose(trw.transform(X2, initial_state="continue"), trw.transform(series[0])[250 - 30:],
                               rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(trw.fit_transform(X1), trw.transform(X1), rtol=0, atol=0)


def test_pipeline_continues_through_metadata_routing(mackey_glass_series):
    s = mackey_glass_series[:, 0]
    train, test = s[:2000], s[2000:2600]
    X_test = np.concatenate([train[-1:], test[:-1]])[:, None]
    with sklearn.config_context(enable_metadata_routing=True):
        tr = ReservoirTransformer(n_units=200, random_state=0).set_transform_request(initial_state=True)
        pipe = make_pipeline(tr, Ridge(alpha=1e-6)).fit(train[:-1, None], train[1:])
        fresh = pipe.predict(X_test)
        continued = pipe.predict(X_test, initial_state="continue")
    assert nrmse(test, continued.ravel()) < 2e-3
    assert nrmse(test, fresh.ravel()) > 10 * nrmse(test, continued.ravel())  # the zero start's transient


def test_continuing_with_a_skipped_step_warns(mackey_glass_series):
    s = mackey_glass_series[:, 0]
    train, test = s[:2000], s[2000:2400]
    esn = ESNRegressor(n_units=200, washout=100, random_state=0).fit(*to_forecasting(train[:, None]))
    with pytest.warns(UserWarning, match="skips a step of the series"):
        skipped = esn.predict(test[:-1, None], initial_state="continue")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        aligned = esn.predict(np.concatenate([train[-1:], test[:-1]])[:, None], initial_state="continue")
    assert nrmse(test, aligned.ravel()) < 0.1 * nrmse(test[1:], skipped.ravel())
    # Not a one-step-ahead fit (targets are not the next inputs): nothing to check.
    other = ESNRegressor(n_units=50, random_state=0).fit(train[:-1, None], 2 * train[1:])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        other.predict(test[:-1, None], initial_state="continue")


def test_classifier_score_is_pooled_per_step_after_the_washout():
    rng = np.random.default_rng(3)
    labels = [np.repeat(rng.integers(0, 2, 10), 15) for _ in range(3)]
    X = [np.eye(2)[lab] + 0.4 * rng.standard_normal((150, 2)) for lab in labels]
    clf = ESNClassifier(n_units=40, washout=10, random_state=0).fit(X, labels)
    pred = clf.predict(X)
    expected = np.mean(np.concatenate([p[10:] == t[10:] for p, t in zip(pred, labels, strict=True)]))
    assert clf.score(X, labels) == pytest.approx(expected)
