"""Closed-loop forecasts that diverge: cut at the first invalid step, with one warning."""

import json
import warnings
from pathlib import Path

import numpy as np
import pytest

from reservoir import ESNRegressor, ForecastDivergenceWarning
from reservoir.datasets import double_scroll
from reservoir.model_selection import forecast_scorer

CONFIGS = Path(__file__).resolve().parent.parent / "benchmarks" / "configs"


def _doubling_model():
    """A model whose readout is y = 2 u: its closed loop doubles each step, a closed form."""
    u = np.random.default_rng(0).uniform(-1, 1, (400, 1))
    return ESNRegressor(n_units=5, readout_features=("input",), alpha=1e-12,
                        random_state=0).fit(u, 2 * u)


def _caught(call):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = call()
    divergence = [w for w in caught if issubclass(w.category, ForecastDivergenceWarning)]
    return out, divergence, caught


def test_doubling_loop_is_cut_where_it_leaves_the_bound():
    model = _doubling_model()
    # Fitted targets span about [-2, 2] (width about 4): the bound at 10 widths
    # outside it is |y| > about 42. From a last context value c the forecast
    # is c 2^(k+1) at step k: 0.5 -> 1, 2, ..., 64 at step 6; -1 -> -64 at
    # step 5; 0 stays 0.
    low, high = model._target_range[:, 0]
    limit = (high - low) * 10.5
    assert 41 < limit < 42
    contexts = np.array([0.5, -1.0, 0.0])[:, None, None] * np.ones((3, 4, 1))
    out, divergence, caught = _caught(lambda: model.forecast(12, context=contexts))
    assert len(divergence) == 1 and len(caught) == 1
    warning = divergence[0].message
    np.testing.assert_array_equal(warning.steps, [6, 5, -1])
    assert "2 of 3 window(s)" in str(warning) and "window 0 at step 6" in str(warning)
    assert "window 1 at step 5" in str(warning)
    k = np.arange(12)
    expected = np.array([0.5, -1.0, 0.0])[:, None] * 2.0 ** (k + 1)
    valid = k[None, :] < np.array([6, 5, 12])[:, None]
    np.testing.assert_allclose(out[..., 0][valid], expected[valid], rtol=1e-6)
    assert np.all(np.isnan(out[..., 0][~valid]))


def test_without_a_range_bound_only_non_finite_steps_are_cut():
    model = _doubling_model()
    context = np.full((4, 1), 0.5)
    # The loop multiplies by the fitted coefficient (2 less a ridge shrinkage
    # of about 1e-14) each step: 0.5 c^(k+1) overflows to inf near step 1024.
    c = float(model.readout_.coef_.ravel()[0])
    y, expected_step = 0.5, None
    with np.errstate(over="ignore"):
        for k in range(1100):
            y = np.float64(c) * y
            if not np.isfinite(y):
                expected_step = k
                break
    assert expected_step in (1023, 1024, 1025)
    out, divergence, _ = _caught(lambda: model.forecast(1100, context=context, divergence_bound=None))
    assert len(divergence) == 1
    (step,) = divergence[0].message.steps
    assert step == expected_step
    assert np.all(np.isfinite(out[:step])) and np.all(np.isnan(out[step:]))
    # A model pickled before the range was recorded checks finiteness only.
    del model._target_range
    out_old, divergence, _ = _caught(lambda: model.forecast(1100, context=context))
    assert divergence[0].message.steps[0] == expected_step
    np.testing.assert_array_equal(out_old, out)


def test_bounded_forecast_is_untouched_and_silent():
    t = np.arange(1500) * 0.05
    s = np.sin(t)[:, None]
    model = ESNRegressor(n_units=50, washout=100, random_state=0).fit(s[:-1], s[1:])
    out, divergence, _ = _caught(lambda: model.forecast(300))
    assert divergence == []
    out_unbounded, _, _ = _caught(lambda: model.forecast(300, divergence_bound=None))
    np.testing.assert_array_equal(out, out_unbounded)
    np.testing.assert_allclose(out[:, 0], np.sin(t[-1] + 0.05 * np.arange(1, 301)), atol=0.05)


@pytest.mark.parametrize("bound, error", [(-1.0, ValueError), (np.inf, ValueError), ("10", TypeError)])
def test_divergence_bound_is_checked(bound, error):
    with pytest.raises(error, match="divergence_bound"):
        _doubling_model().forecast(3, divergence_bound=bound)


def test_double_scroll_with_the_lorenz63_configuration_warns_once_with_the_step():
    """The issue's case: Lorenz-63's tuned configuration forecasting the double scroll."""
    params = json.loads((CONFIGS / "lorenz63.json").read_text())["params"]
    train = double_scroll(1000, random_state=0)
    model = ESNRegressor(**params, random_state=0).fit(train[:-1], train[1:])
    out, divergence, caught = _caught(lambda: model.forecast(200))
    assert len(divergence) == 1 and len(caught) == 1
    (step,) = divergence[0].message.steps
    assert f"window 0 at step {step}" in str(divergence[0].message)
    # Independently: the first step outside 10 widths of the training range,
    # from the uncut forecast (finite here: it grows about tenfold a step).
    raw, _, _ = _caught(lambda: model.forecast(200, divergence_bound=None))
    low, high = train[1:].min(axis=0), train[1:].max(axis=0)
    outside = np.any((raw < low - 10 * (high - low)) | (raw > high + 10 * (high - low)), axis=1)
    assert outside.any() and step == np.argmax(outside | ~np.all(np.isfinite(raw), axis=1))
    assert step < 50
    np.testing.assert_array_equal(out[:step], raw[:step])
    assert np.all(np.isnan(out[step:]))


def test_forecast_scorer_scores_a_diverging_model_without_the_warning():
    model = _doubling_model()
    u = np.random.default_rng(1).uniform(-1, 1, (40, 1))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        score = forecast_scorer("nrmse", context=10, horizon=30, scale=1.0)(model, u)
    assert np.isfinite(score) and score < -1e3
