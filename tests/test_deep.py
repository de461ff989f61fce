"""Deep ESNs: one layer is the ESN to the bit; more layers against the layers run by hand."""

import numpy as np
import pytest

from reservoir import (
    DeepESNClassifier,
    DeepESNRegressor,
    ESNClassifier,
    ESNRegressor,
    RLSReadout,
)
from reservoir.datasets import lorenz63


@pytest.fixture(scope="module")
def series():
    s = lorenz63(1500, random_state=0)
    return (s - s.mean(0)) / s.std(0)


ESN_KW = dict(n_units=40, spectral_radius=0.8, leak_rate=0.6, input_scaling=0.5, bias_scaling=0.3,
              washout=50, noise_level=1e-3, input_noise=1e-3, random_state=7)


@pytest.mark.parametrize("readout", [None, RLSReadout(alpha=1e-2)])
def test_one_layer_is_the_esn_regressor_exactly(series, readout):
    X, y = series[:-1], series[1:]
    esn = ESNRegressor(**ESN_KW, readout=readout).fit(X, y)
    deep = DeepESNRegressor(n_layers=1, **ESN_KW, readout=readout).fit(X, y)
    np.testing.assert_array_equal(deep.reservoirs_[0].W_in, esn.W_in_)
    np.testing.assert_array_equal(deep.readout_.coef_, esn.readout_.coef_)
    np.testing.assert_array_equal(deep.final_state_, esn.final_state_)
    np.testing.assert_array_equal(deep.predict(X[:300]), esn.predict(X[:300]))
    np.testing.assert_array_equal(deep.forecast(100), esn.forecast(100))
    contexts = [X[:200], X[300:450]]
    np.testing.assert_array_equal(deep.forecast(40, context=contexts)[1],
                                  esn.forecast(40, context=contexts)[1])
    # and along a stream
    esn.partial_fit(X[:100], y[:100])
    deep.partial_fit(X[:100], y[:100])
    np.testing.assert_array_equal(deep.readout_.coef_, esn.readout_.coef_)


def test_one_layer_is_the_esn_classifier_exactly(series):
    X = [series[i:i + 60] for i in range(0, 1200, 60)]
    y = np.arange(len(X)) % 3
    for kw in (dict(), dict(bidirectional=True), dict(pooling="last")):
        a = ESNClassifier(n_units=25, washout=5, random_state=1, **kw).fit(X, y)
        b = DeepESNClassifier(n_layers=1, n_units=25, washout=5, random_state=1, **kw).fit(X, y)
        np.testing.assert_array_equal(a.decision_function(X), b.decision_function(X))


@pytest.mark.parametrize("input_to_all_layers", [False, True])
def test_layers_are_fed_by_the_layer_below_at_the_same_step(series, input_to_all_layers):
    """Each layer's states equal its Reservoir run by hand over the states below (and u)."""
    X, y = series[:400], series[1:401]
    deep = DeepESNRegressor(n_layers=3, n_units=[30, 20, 10], leak_rate=[1.0, 0.5, 0.3],
                            spectral_radius=[0.9, 0.8, 0.7], inter_scaling=[1.0, 0.4, 0.6],
                            input_to_all_layers=input_to_all_layers, random_state=0).fit(X, y)
    r1, r2, r3 = deep.reservoirs_
    assert (r2.n_features, r3.n_features) == ((30, 20) if not input_to_all_layers else (33, 23))
    assert (r2.leak_rate, r3.leak_rate) == (0.5, 0.3)
    assert np.max(np.abs(r2.W_in[:, :30])) <= 0.4 and np.max(np.abs(r3.W_in[:, :20])) <= 0.6
    s1 = r1.run(X)
    s2 = r2.run(np.hstack([s1, X]) if input_to_all_layers else s1)
    s3 = r3.run(np.hstack([s2, X]) if input_to_all_layers else s2)
    full = np.hstack([s1, s2, s3])
    np.testing.assert_allclose(deep.final_state_, full[-1], rtol=1e-12, atol=1e-14)
    F = np.hstack([X, full])
    np.testing.assert_allclose(deep.predict(X), F @ deep.readout_.coef_.T + deep.readout_.intercept_,
                               rtol=1e-10, atol=1e-10)


def test_step_predict_and_closed_loop_agree(series):
    X, y = series[:-1], series[1:]
    deep = DeepESNRegressor(n_layers=2, n_units=[40, 30], leak_rate=[0.8, 0.4], washout=100,
                            alpha=1e-8, random_state=0).fit(X[:1000], y[:1000])
    state, outputs = None, []
    for t in range(50):
        out, state = deep.step(X[t], state)
        outputs.append(out)
    np.testing.assert_allclose(np.array(outputs), deep.predict(X[:50]), rtol=1e-12, atol=1e-12)
    # The closed loop by hand: step, feed the output back as the next input.
    forecast = deep.forecast(20)
    state, u, by_hand = deep.final_state_, y[999], []
    for _ in range(20):
        u, state = deep.step(u, state)
        by_hand.append(u)
    np.testing.assert_allclose(forecast, np.array(by_hand), rtol=1e-10, atol=1e-12)
    assert np.max(np.abs(forecast[:5] - y[1000:1005])) < 0.05


def test_deep_is_causal_and_scores_like_the_esn(series):
    X, y = series[:600], series[1:601]
    deep = DeepESNRegressor(n_layers=2, n_units=30, washout=50, random_state=0).fit(X, y)
    changed = X.copy()
    changed[300:] += 1.0
    np.testing.assert_array_equal(deep.predict(X)[:300], deep.predict(changed)[:300])
    assert deep.score(X, y) > 0.99


@pytest.mark.parametrize("kw, match", [
    (dict(n_layers=2, n_units=[10, 10, 10]), "n_units must be one value or a list of n_layers=2"),
    (dict(n_layers=0), "n_layers must be in \\[1, inf\\]"),
    (dict(n_layers=2, leak_rate=[1.0, 0.0]), "layer 2: leak_rate must be in \\(0, 1\\]"),
    (dict(n_layers=2, inter_scaling=-1.0), "layer 1: inter_scaling must be in \\[0, inf\\]"),
])
def test_bad_layer_parameters_are_named(kw, match):
    with pytest.raises(ValueError, match=match):
        DeepESNRegressor(**kw).fit(np.zeros((20, 1)), np.zeros(20))
