"""Online readouts, FORCE, NVAR, deep and bidirectional reservoirs on array-api-strict (the CPU
stand-in that rejects NumPy-only calls) and CuPy: the NumPy results to float tolerance."""

import numpy as np
import pytest

from reservoir import (
    DeepESNRegressor,
    ESNClassifier,
    ESNRegressor,
    FORCEReadout,
    LMSReadout,
    NVARRegressor,
    ReservoirEnsembleClassifier,
    RLSReadout,
)
from reservoir._backend import to_numpy


@pytest.fixture(params=["array_api_strict", pytest.param("cupy", marks=pytest.mark.gpu)])
def xp(request):
    if request.param == "cupy":
        return request.getfixturevalue("cupy")
    return pytest.importorskip("array_api_strict")


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    t = np.arange(400) * 0.1
    return np.column_stack([np.sin(t), np.cos(0.7 * t)]) + 0.01 * rng.standard_normal((400, 2))


def _in(xp, a):
    return type(a).__module__.split(".")[0] == xp.__name__.split(".")[0]


def close(a, b, tol=1e-8):
    np.testing.assert_allclose(to_numpy(a), b, rtol=tol, atol=tol)


@pytest.mark.parametrize("readout", [RLSReadout(alpha=1e-2, forgetting_factor=0.99), LMSReadout()])
def test_online_readouts_and_partial_fit_agree(xp, data, readout):
    X, y = data[:-1], data[1:]
    params = dict(n_units=30, washout=20, readout=readout, random_state=0)
    ref = ESNRegressor(**params).partial_fit(X[:200], y[:200]).partial_fit(X[200:], y[200:])
    est = ESNRegressor(**params).partial_fit(xp.asarray(X[:200]), xp.asarray(y[:200]))
    est.partial_fit(xp.asarray(X[200:]), xp.asarray(y[200:]))
    out = est.predict(xp.asarray(X[:50]))
    assert _in(xp, out)
    close(out, ref.predict(X[:50]))


def test_force_agrees(xp):
    y = np.sin(np.arange(300) / 5.0)[:, None]
    params = dict(n_units=30, spectral_radius=1.3, leak_rate=0.5, feedback_scaling=1.0,
                  readout=FORCEReadout(), washout=20, random_state=0)
    ref = ESNRegressor(**params).fit(np.zeros((300, 1)), y)
    est = ESNRegressor(**params).fit(xp.asarray(np.zeros((300, 1))), xp.asarray(y))
    close(est.readout_.coef_, ref.readout_.coef_, 1e-7)
    close(est.predict(xp.asarray(np.zeros((40, 1))), initial_state="continue"),
          ref.predict(np.zeros((40, 1)), initial_state="continue"), 1e-7)


def test_nvar_agrees(xp, data):
    X, y = data[:-1], data[1:]
    ref = NVARRegressor(n_delays=3, stride=2, degree=3, increment=True).fit(X, y)
    est = NVARRegressor(n_delays=3, stride=2, degree=3, increment=True).fit(xp.asarray(X),
                                                                         xp.asarray(y))
    close(est.predict(xp.asarray(X)), ref.predict(X), 1e-7)
    close(est.forecast(20), ref.forecast(20), 1e-6)


def test_deep_agrees(xp, data):
    X, y = data[:-1], data[1:]
    params = dict(n_layers=2, n_units=[30, 20], leak_rate=[1.0, 0.5], washout=20,
                  input_to_all_layers=True, random_state=0)
    ref = DeepESNRegressor(**params).fit(X, y)
    est = DeepESNRegressor(**params).fit(xp.asarray(X), xp.asarray(y))
    close(est.predict(xp.asarray(X)), ref.predict(X))
    close(est.forecast(15), ref.forecast(15), 1e-7)


def test_bidirectional_and_ensemble_classifiers_agree(xp, data):
    series = [data[i:i + 25 + i % 7] for i in range(0, 360, 30)]
    labels = np.arange(len(series)) % 2
    for model in (ESNClassifier(n_units=20, bidirectional=True, random_state=0),
                  ReservoirEnsembleClassifier(ESNClassifier(n_units=10), n_estimators=2,
                                              random_state=0)):
        ref = model.fit(series, labels).decision_function(series)
        est = model.fit([xp.asarray(s) for s in series], labels)
        out = est.decision_function([xp.asarray(s) for s in series])
        assert _in(xp, out)
        close(out, ref)
    # per-step labels, bidirectional
    steps = (data[:, 0] > 0).astype(int)
    ref = ESNClassifier(n_units=20, bidirectional=True, random_state=0).fit(data, steps)
    est = ESNClassifier(n_units=20, bidirectional=True, random_state=0).fit(xp.asarray(data), steps)
    close(est.decision_function(xp.asarray(data)), ref.decision_function(data))


def test_ridge_path_and_its_batched_forecasts_agree(xp, data):
    X, y = data[:-1], data[1:]
    params = dict(n_units=30, washout=20, random_state=0,
                  readout_features=("constant", "input", "state", "squared_state"))
    ref = ESNRegressor(**params).fit(X[:300], y[:300])
    est = ESNRegressor(**params).fit(xp.asarray(X[:300]), xp.asarray(y[:300]))
    alphas = [1e-8, 1e-2]
    contexts = np.stack([data[300:350], data[320:370]])
    paths = est.forecast_ridge_path(alphas, 20, context=xp.asarray(contexts))
    for path, expected in zip(paths, ref.forecast_ridge_path(alphas, 20, context=contexts),
                              strict=True):
        assert _in(xp, path)
        close(path, expected, 1e-7)
