"""NVARRegressor: the delay line, the features by hand, exact maps, closed loop, state rules."""

import math

import numpy as np
import pytest

from reservoir import NVARRegressor
from reservoir.datasets import lorenz63
from reservoir.nvar import delay_line, n_nvar_features


@pytest.mark.parametrize("d, k, p, expected", [
    (3, 2, 2, 27),                       # Gauthier et al.: 6 linear + 21 quadratic (+ constant = 28)
    (1, 1, 1, 1),
    (2, 3, 3, 6 + 21 + 56),
    (1, 4, 2, 4 + 10),
])
def test_feature_count(d, k, p, expected):
    assert n_nvar_features(d, k, p) == expected
    assert expected == d * k + sum(math.comb(d * k + q - 1, q) for q in range(2, p + 1))


def test_delay_line_holds_the_past_inputs_exactly():
    rng = np.random.default_rng(0)
    u = rng.standard_normal((50, 2))
    states = delay_line(2, 3, 2).run(u)            # blocks u(t), u(t-1), ..., u(t-4)
    assert states.shape == (50, 10)
    for lag in range(5):
        expected = np.vstack([np.zeros((lag, 2)), u[:50 - lag]])
        np.testing.assert_array_equal(states[:, 2 * lag:2 * lag + 2], expected)


def test_features_and_prediction_of_a_small_case_by_hand():
    """d = 1, k = 2, s = 2, degree 2: features [u(t), u(t-2), u(t)^2, u(t) u(t-2), u(t-2)^2]."""
    u = np.array([[1.0], [2.0], [3.0], [-1.0], [0.5], [2.5], [1.5], [-2.0], [0.0], [1.0]])
    rng = np.random.default_rng(1)
    w = rng.standard_normal(5)
    feats = np.array([[u[t, 0], u[t - 2, 0], u[t, 0] ** 2, u[t, 0] * u[t - 2, 0], u[t - 2, 0] ** 2]
                      for t in range(2, 10)])
    y = np.full(10, np.nan)
    y[2:] = feats @ w + 0.7
    y[:2] = 0.0                                    # the washout (k - 1) s = 2 is not trained on
    model = NVARRegressor(n_delays=2, stride=2, degree=2, alpha=1e-12).fit(u, y)
    assert model.n_features_out_ == 5
    np.testing.assert_allclose(model.readout_.coef_[0], w, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(model.readout_.intercept_, [0.7], atol=1e-8)
    np.testing.assert_allclose(model.predict(u)[2:], y[2:], atol=1e-8)


def _logistic(n, x0=0.3):
    x = np.empty((n, 1))
    x[0] = x0
    for t in range(n - 1):
        x[t + 1] = 3.9 * x[t] * (1 - x[t])
    return x


def test_an_exactly_quadratic_map_is_learned_and_forecast_by_hand():
    x = _logistic(400)
    model = NVARRegressor(n_delays=1, degree=2, alpha=1e-12, increment=True).fit(x[:299], x[1:300])
    # increment: y - u = 2.9 u - 3.9 u^2
    np.testing.assert_allclose(model.readout_.coef_[0], [2.9, -3.9], atol=1e-7)
    forecast = model.forecast(5)
    by_hand = [x[299, 0]]
    for _ in range(5):
        v = by_hand[-1]
        by_hand.append(v + model.readout_.intercept_[0] + model.readout_.coef_[0] @ [v, v * v])
    np.testing.assert_allclose(forecast[:, 0], by_hand[1:], rtol=1e-12)
    np.testing.assert_allclose(forecast, x[300:305], atol=1e-6)


def test_forecast_after_contexts_equals_continuation_and_predict_is_causal():
    s = lorenz63(1200, dt=0.025, random_state=0)
    s = (s - s.mean(0)) / s.std(0)
    model = NVARRegressor(alpha=1e-6, increment=True).fit(s[:799], s[1:800])
    # Continuing the fitted data = a context that ends with the last fitted target.
    np.testing.assert_allclose(model.forecast(30), model.forecast(30, context=s[700:800]),
                               rtol=1e-10, atol=1e-12)
    # Several contexts at once, of different lengths.
    both = model.forecast(20, context=[s[600:701], s[650:800]])
    np.testing.assert_allclose(both[1], model.forecast(20), rtol=1e-10, atol=1e-12)
    # Causal: outputs up to t do not depend on inputs after t.
    changed = s[800:900].copy()
    changed[60:] += 1.0
    np.testing.assert_array_equal(model.predict(s[800:900])[:60], model.predict(changed)[:60])
    # "continue" picks up the last fitted inputs: the same as predicting the whole series.
    np.testing.assert_allclose(model.predict(s[799:900], initial_state="continue"),
                               model.predict(s[:900])[799:], rtol=1e-12, atol=1e-12)


def test_one_step_error_on_lorenz63_is_small_and_score_leaves_the_washout_out():
    s = lorenz63(801, dt=0.025, random_state=1)
    s = (s - s.mean(0)) / s.std(0)
    model = NVARRegressor(alpha=2.5e-6, increment=True).fit(s[:400], s[1:401])
    assert model.score(s[400:-1], s[401:]) > 0.9999
    assert model.get_params()["washout"] is None
    # With a washout of 0 the first step (zero past input) is scored too, and costs.
    zero = NVARRegressor(alpha=2.5e-6, increment=True, washout=0).fit(s[:400], s[1:401])
    assert zero.score(s[400:-1], s[401:]) < model.score(s[400:-1], s[401:])


@pytest.mark.parametrize("kw, fit_args, match", [
    (dict(increment=True), (np.zeros((10, 2)), np.zeros(10)), "increment=True fits y\\(t\\) - u\\(t\\)"),
    (dict(n_delays=0), (np.zeros((10, 1)), np.zeros(10)), "n_delays must be in \\[1, inf\\]"),
    (dict(n_delays=3, stride=2), (np.zeros((4, 1)), np.zeros(4)), "fewer than the 5 needed"),
    (dict(increment="yes"), (np.zeros((10, 1)), np.zeros(10)), "increment must be a bool"),
])
def test_bad_arguments(kw, fit_args, match):
    with pytest.raises((ValueError, TypeError), match=match):
        NVARRegressor(**kw).fit(*fit_args)
