"""The ridge path: every penalty from one harvest, and its forecasts in one batch."""

import warnings

import numpy as np
import pytest

from reservoir import DeepESNRegressor, ESNRegressor, ForecastDivergenceWarning
from reservoir.readout import GramAccumulator, ReadoutFunction, ReadoutPath, RLSReadout

ALPHAS = [1e-9, 1e-4, 1e-1, 10.0]


def sine(n=1600):
    t = 0.1 * np.arange(n)
    return np.column_stack([np.sin(t), np.cos(0.7 * t)])


def fitted(cls=ESNRegressor, **kw):
    series = sine()
    params = dict(n_units=40, washout=100, random_state=0, alpha=1e-6)
    params.update(kw)
    return cls(**params).fit(series[:1200], series[1:1201]), series


def test_solve_path_equals_one_solve_per_penalty():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((500, 12))
    Y = X @ rng.standard_normal((12, 2)) + 0.1 * rng.standard_normal((500, 2)) + 3.0
    acc = GramAccumulator(12, 2, np)
    acc.update(X[:200], Y[:200])
    acc.update(X[200:], Y[200:])
    for alpha, (coef, intercept) in zip(ALPHAS, acc.solve_path(ALPHAS), strict=True):
        ref_coef, ref_intercept = acc.solve(alpha)
        np.testing.assert_allclose(coef, ref_coef, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(intercept, ref_intercept, rtol=1e-9, atol=1e-12)


def test_solve_path_without_penalty_gives_the_minimum_norm_solution_for_collinear_features():
    rng = np.random.default_rng(1)
    a = rng.standard_normal((300, 3))
    X = np.column_stack([a, a[:, 0] + a[:, 1]])  # the last column repeats a sum: rank 3
    y = a @ np.array([1.0, -2.0, 0.5])
    acc = GramAccumulator(4, 1, np)
    acc.update(X, y[:, None])
    (coef, intercept), = acc.solve_path([0.0])
    Xc, yc = X - X.mean(axis=0), y - y.mean()
    expected = np.linalg.lstsq(Xc, yc, rcond=None)[0]
    assert np.all(np.isfinite(coef))
    np.testing.assert_allclose(coef[:, 0], expected, atol=1e-8)


def test_ridge_path_models_equal_fresh_fits_with_each_penalty():
    esn, series = fitted()
    models = esn.ridge_path(ALPHAS)
    assert [m.alpha for m in models] == ALPHAS
    assert esn.alpha == 1e-6  # the original is left as it was
    for model, alpha in zip(models, ALPHAS, strict=True):
        fresh, _ = fitted(alpha=alpha)
        np.testing.assert_allclose(model.readout_.coef_, fresh.readout_.coef_, rtol=1e-7, atol=1e-9)
        np.testing.assert_allclose(model.predict(series[1200:1400], initial_state="continue"),
                                   fresh.predict(series[1200:1400], initial_state="continue"),
                                   rtol=1e-7, atol=1e-9)


def test_ridge_path_needs_a_ridge_readout():
    esn, _ = fitted(readout=RLSReadout())
    with pytest.raises(TypeError, match="ridge readout"):
        esn.ridge_path([1e-3])
    with pytest.raises(TypeError, match="ridge readout"):
        esn.forecast_ridge_path([1e-3], 10)


@pytest.mark.parametrize("cls", [ESNRegressor, DeepESNRegressor])
@pytest.mark.parametrize("features", [("constant", "state"),
                                      ("constant", "input", "state", "squared_state")])
def test_forecast_ridge_path_equals_one_forecast_per_model(cls, features):
    esn, series = fitted(cls, readout_features=features)
    contexts = np.stack([series[s:s + 150] for s in (1200, 1250, 1300)])
    paths = esn.forecast_ridge_path(ALPHAS, 60, context=contexts)
    continued = esn.forecast_ridge_path(ALPHAS, 60)
    one = esn.forecast_ridge_path(ALPHAS, 60, context=series[1200:1350])
    assert len(paths) == len(ALPHAS)
    for model, path, cont, single in zip(esn.ridge_path(ALPHAS), paths, continued, one, strict=True):
        assert path.shape == (3, 60, 2) and cont.shape == (60, 2) and single.shape == (60, 2)
        # The batch runs in another loop (compiled or not) than a lone forecast.
        np.testing.assert_allclose(path, model.forecast(60, context=contexts), rtol=0, atol=1e-9)
        np.testing.assert_allclose(cont, model.forecast(60), rtol=0, atol=1e-9)
        np.testing.assert_allclose(single, path[0], rtol=0, atol=1e-9)
    # The penalties differ, and so do their forecasts.
    assert np.abs(paths[0] - paths[-1]).max() > 1e-3


def test_forecast_ridge_path_of_a_one_dimensional_target():
    series = sine()[:, 0]
    esn = ESNRegressor(n_units=30, washout=100, random_state=0).fit(series[:1200, None],
                                                                     series[1:1201])
    paths = esn.forecast_ridge_path([1e-8, 1.0], 40)
    assert [p.shape for p in paths] == [(40,), (40,)]
    np.testing.assert_allclose(paths[1], esn.ridge_path([1.0])[0].forecast(40), atol=1e-9)


def test_forecast_ridge_path_cuts_and_warns_per_penalty():
    esn, series = fitted()
    contexts = np.stack([series[s:s + 150] for s in (1200, 1300)])
    # A bound of 0 counts any step beyond the fitted targets' range widened by
    # half a width as diverged: the nearly unpenalised readout leaves it
    # within 200 steps, the heavily penalised one shrinks towards the mean.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        paths = esn.forecast_ridge_path([1e-9, 1e9], 200, context=contexts, divergence_bound=0.0)
        expected = [m.forecast(200, context=contexts, divergence_bound=0.0)
                    for m in esn.ridge_path([1e-9, 1e9])]
    assert np.isnan(expected[0]).any() and not np.isnan(expected[1]).any()
    for path, ref in zip(paths, expected, strict=True):
        np.testing.assert_array_equal(np.isnan(path), np.isnan(ref))
    # One warning for the diverged penalty from the path, one from its lone forecast.
    assert sum(isinstance(w.message, ForecastDivergenceWarning) for w in caught) == 2


@pytest.mark.parametrize("bad", [[], [-1.0]])
def test_forecast_ridge_path_rejects_bad_penalties(bad):
    esn, _ = fitted()
    with pytest.raises(ValueError, match="alpha"):
        esn.forecast_ridge_path(bad, 10)


def test_readout_path_reads_each_block_with_its_own_readout():
    rng = np.random.default_rng(2)
    features = ("input", "state", "squared_state")
    readouts = [ReadoutFunction(rng.standard_normal((2, 3 + 5 + 5)), rng.standard_normal(2),
                                features) for _ in range(3)]
    states, inputs = rng.standard_normal((12, 5)), rng.standard_normal((12, 3))
    out = ReadoutPath(readouts)(states, inputs)
    for k, readout in enumerate(readouts):
        block = slice(4 * k, 4 * (k + 1))
        np.testing.assert_allclose(out[block], readout(states[block], inputs[block]), rtol=1e-13)
    with pytest.raises(ValueError, match="at least one readout"):
        ReadoutPath([])


def test_divergence_warning_points_at_the_callers_line():
    esn, series = fitted()
    for call in (lambda: esn.forecast(200, divergence_bound=0.0),
                 lambda: esn.forecast_ridge_path([1e-9], 200, divergence_bound=0.0)):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            call()
        ours = [w for w in caught if isinstance(w.message, ForecastDivergenceWarning)]
        assert len(ours) == 1 and ours[0].filename == __file__


def test_continuation_warning_points_at_the_callers_line():
    """The 'continue' warning names the user's line through predict's decorator and helpers."""
    esn, series = fitted()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        esn.predict(series[:10] + 1.0, initial_state="continue")
    ours = [w for w in caught if "initial_state='continue'" in str(w.message)]
    assert len(ours) == 1 and ours[0].filename == __file__
