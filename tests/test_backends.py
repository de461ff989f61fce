"""The same estimators on NumPy, array-api-strict (the CPU stand-in that rejects
NumPy-only calls) and CuPy: same seed, same weights, same results to float tolerance."""

import numpy as np
import pytest

from reservoir import ESNClassifier, ESNRegressor, ReservoirTransformer, RidgeReadout
from reservoir._backend import to_numpy

# Different solvers (SciPy Cholesky against xp.linalg.solve) round differently.
TOLERANCE = {"float64": 1e-8, "float32": 2e-4}
# A closed loop feeds rounding differences back into the reservoir, where they
# grow from step to step: forecasts are compared more loosely.
FORECAST_TOLERANCE = {"float64": 1e-7, "float32": 1e-2}


@pytest.fixture(params=["array_api_strict", pytest.param("cupy", marks=pytest.mark.gpu)])
def xp(request):
    if request.param == "cupy":
        return request.getfixturevalue("cupy")
    return pytest.importorskip("array_api_strict")


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    t = np.arange(600) * 0.1
    X = np.column_stack([np.sin(t), np.cos(0.7 * t)]) + 0.01 * rng.standard_normal((600, 2))
    return X


def close(a, b, dtype, tolerance=TOLERANCE):
    np.testing.assert_allclose(to_numpy(a), b, rtol=tolerance[dtype], atol=tolerance[dtype])


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("density", [None, 1.0])
def test_transformer_states_agree(xp, data, dtype, density):
    params = dict(n_units=250, density=density, leak_rate=0.7, random_state=0, dtype=dtype)
    expected = ReservoirTransformer(**params).fit_transform(data)
    states = ReservoirTransformer(**params).fit_transform(xp.asarray(data))
    assert type(states).__module__.split(".")[0] == xp.__name__.split(".")[0]
    assert str(states.dtype).endswith(dtype)
    close(states, expected, dtype)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize(
    "extra",
    [{}, {"feedback_scaling": 0.1}, {"readout_features": ("input", "state", "squared_state")}],
)
def test_regressor_predict_and_forecast_agree(xp, data, dtype, extra):
    X, y = data[:-1], data[1:]
    params = dict(n_units=80, washout=20, alpha=1e-4, random_state=0, dtype=dtype, **extra)
    ref = ESNRegressor(**params).fit(X, y)
    est = ESNRegressor(**params).fit(xp.asarray(X), xp.asarray(y))
    close(est.predict(xp.asarray(X)), ref.predict(X), dtype)
    close(est.forecast(25), ref.forecast(25), dtype, FORECAST_TOLERANCE)
    contexts = np.stack([data[:300], data[100:400]])
    close(est.forecast(10, context=xp.asarray(contexts)), ref.forecast(10, context=contexts), dtype,
          FORECAST_TOLERANCE)


def test_several_ragged_series_agree(xp, data):
    series = [data[:200], data[200:450]]
    targets = [s[:, 0] for s in series]
    ref = ESNRegressor(n_units=40, washout=10, random_state=1).fit(series, targets)
    est = ESNRegressor(n_units=40, washout=10, random_state=1).fit(
        [xp.asarray(s) for s in series], [xp.asarray(t) for t in targets])
    for a, b in zip(est.predict([xp.asarray(s) for s in series]), ref.predict(series), strict=True):
        close(a, b, "float64")


def test_classifier_agrees(xp, data):
    labels = (data[:, 0] > 0).astype(int)
    ref = ESNClassifier(n_units=40, random_state=0).fit(data, labels)
    est = ESNClassifier(n_units=40, random_state=0).fit(xp.asarray(data), labels)
    predicted = est.predict(xp.asarray(data))
    # Numeric labels come back in the input's namespace, like decision_function.
    assert type(predicted).__module__.split(".")[0] == xp.__name__.split(".")[0]
    np.testing.assert_array_equal(to_numpy(predicted), ref.predict(data))
    close(est.predict_proba(xp.asarray(data)), ref.predict_proba(data), "float64")


def test_ridge_readout_agrees_and_stays_on_its_namespace(xp, data):
    ref = RidgeReadout(alpha=1e-3).fit(data, data[:, ::-1])
    est = RidgeReadout(alpha=1e-3).fit(xp.asarray(data), xp.asarray(data[:, ::-1]))
    assert type(est.coef_).__module__.split(".")[0] == xp.__name__.split(".")[0]
    close(est.coef_, ref.coef_, "float64")
    close(est.predict(xp.asarray(data)), ref.predict(data), "float64")


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_runtime_run_step_and_generate_agree(xp, data, dtype):
    ref = ESNRegressor(n_units=120, leak_rate=0.6, random_state=0, dtype=dtype).fit(data[:-1], data[1:])
    res = ref.reservoir_
    states = res.run(xp.asarray(data))
    assert type(states).__module__.split(".")[0] == xp.__name__.split(".")[0]
    close(states, res.run(data), dtype)
    x = res.step(xp.asarray(data[0]))
    close(x, res.step(data[0]), dtype)
    y, state = ref.step(xp.asarray(data[:3]))
    y_ref, _ = ref.step(data[:3])
    close(y, y_ref, dtype)
    out, _ = res.generate(10, readout=ref.readout_function(xp.asarray(data)),
                          initial_state=xp.asarray(ref.final_state_), previous_output=xp.asarray(data[-1]))
    ref_out, _ = res.generate(10, readout=ref.readout_function(), initial_state=ref.final_state_,
                              previous_output=data[-1])
    close(out, ref_out, dtype, FORECAST_TOLERANCE)


def test_mixing_namespaces_is_a_clear_error(xp, data):
    with pytest.raises(TypeError, match="cannot be mixed"):
        ESNRegressor(n_units=10).fit(xp.asarray(data), data[:, 0])


def test_importing_the_package_never_imports_cupy():
    import subprocess
    import sys

    code = "import sys, reservoir; assert 'cupy' not in sys.modules, 'cupy was imported'"
    subprocess.run([sys.executable, "-c", code], check=True)
