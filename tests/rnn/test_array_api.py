"""The recurrent networks on NumPy, array-api-strict and (with a GPU) CuPy.

array-api-strict implements only the standard, so any NumPy-only call in the
cells, the training loop or the estimators fails here. The weights are drawn
on the host from the same seed, so every backend computes the same numbers.
"""

import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

from reservoir._backend import to_numpy
from reservoir.diagnostics import gradient_norm_by_lag
from reservoir.rnn import (
    ElmanRegressor,
    GRUClassifier,
    GRURegressor,
    IndRNNRegressor,
    LSTMClassifier,
    LSTMRegressor,
)
from reservoir.rnn._cells import CELLS
from reservoir.rnn._network import NetworkSpec, draw_noise, initialize_parameters
from reservoir.rnn._objectives import loss_and_gradient
from reservoir.rnn._rtrl import rtrl_loss_and_gradient

xps = pytest.importorskip("array_api_strict")
StrictArray = type(xps.asarray(0.0))

ESTIMATORS = [ElmanRegressor, LSTMRegressor, GRURegressor, IndRNNRegressor]


def _data(n=60, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, 2)), rng.standard_normal((n, 2))


def _agree(ref, strict):
    loss, grads = ref[0], ref[1]
    loss_s, grads_s = strict[0], strict[1]
    assert loss_s == pytest.approx(loss, rel=1e-12)
    for name in grads:
        assert isinstance(grads_s[name], StrictArray)
        np.testing.assert_allclose(to_numpy(grads_s[name]), grads[name], rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize(("loss", "pooling"), [("squared_error", None), ("log_loss", "last")])
@pytest.mark.parametrize("cell", CELLS)
def test_loss_and_gradient_agree(cell, loss, pooling):
    """Bidirectional, padded, with dropout and zoneout masks: every path of the network."""
    rng = np.random.default_rng(0)
    spec = NetworkSpec(cell, 2, 4, 2, n_layers=2, bidirectional=True, zoneout=0.2)
    params = initialize_parameters(spec, rng)
    X = rng.standard_normal((3, 7, 2))
    Y = rng.standard_normal((3, 7, 2)) if pooling is None else np.eye(2)[[0, 1, 1]]
    mask = np.ones((3, 7))
    mask[:, :2] = 0
    mask[1, 5:] = 0
    noise = draw_noise(spec, 3, 7, np.random.default_rng(1), dropout=0.2, input_dropout=0.2,
                       like=X)
    kwargs = dict(lengths=[7, 5, 7], loss=loss, pooling=pooling)
    ref = loss_and_gradient(spec, params, X, Y, mask, noise=noise, **kwargs)
    strict_noise = draw_noise(spec, 3, 7, np.random.default_rng(1), dropout=0.2,
                              input_dropout=0.2, like=xps.asarray(X))
    strict = {k: xps.asarray(v) for k, v in params.items()}
    _agree(ref, loss_and_gradient(spec, strict, xps.asarray(X), xps.asarray(Y),
                                  xps.asarray(mask), noise=strict_noise, **kwargs))


@pytest.mark.parametrize("cell", ["elman", "indrnn"])
def test_rtrl_agrees(cell):
    rng = np.random.default_rng(0)
    spec = NetworkSpec(cell, 2, 4, 2, zoneout=0.2)
    params = initialize_parameters(spec, rng)
    X, Y = rng.standard_normal((3, 7, 2)), rng.standard_normal((3, 7, 2))
    ref = rtrl_loss_and_gradient(spec, params, X, Y, lengths=[7, 4, 6])
    strict = {k: xps.asarray(v) for k, v in params.items()}
    _agree(ref, rtrl_loss_and_gradient(spec, strict, xps.asarray(X), xps.asarray(Y),
                                       lengths=[7, 4, 6]))


def _fit_both(cls, dtype, **extra):
    X, y = _data()
    kwargs = dict(n_units=4, n_layers=2, washout=2, sequence_length=20, batch_size=2, max_iter=3,
                  random_state=0, dtype=dtype, **extra)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        a = cls(**kwargs).fit(X, y)
        b = cls(**kwargs).fit(xps.asarray(X), xps.asarray(y))
    return a, b, X


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("cls", ESTIMATORS)
def test_estimators_agree(cls, dtype):
    a, b, X = _fit_both(cls, dtype)
    rtol = 1e-10 if dtype == "float64" else 1e-4
    np.testing.assert_allclose(b.loss_curve_, a.loss_curve_, rtol=rtol)
    for name in a.params_:
        assert b.params_[name].dtype == np.dtype(dtype)
        np.testing.assert_allclose(b.params_[name], a.params_[name], rtol=rtol, atol=rtol)
    pred = b.predict(xps.asarray(X))
    assert isinstance(pred, StrictArray) and pred.dtype == getattr(xps, dtype)
    np.testing.assert_allclose(to_numpy(pred), a.predict(X), rtol=rtol, atol=rtol)
    forecast = b.forecast(4)
    assert isinstance(forecast, StrictArray) and forecast.shape == (4, 2)
    np.testing.assert_allclose(to_numpy(forecast), a.forecast(4), rtol=rtol, atol=rtol)
    context = b.forecast(3, context=[xps.asarray(X[:10]), xps.asarray(X[10:25])])
    assert context.shape == (2, 3, 2)
    np.testing.assert_allclose(to_numpy(context), a.forecast(3, context=[X[:10], X[10:25]]),
                               rtol=rtol, atol=rtol)


@pytest.mark.parametrize("cls", ESTIMATORS)
def test_truncated_bptt_and_early_stopping_agree(cls):
    a, b, _ = _fit_both(cls, "float64", bptt_steps=6, early_stopping=True, solver="sgd",
                        learning_rate_init=0.01)
    np.testing.assert_allclose(b.validation_scores_, a.validation_scores_, rtol=1e-10)
    np.testing.assert_allclose(b.params_["W_hh_1"], a.params_["W_hh_1"], rtol=1e-10)


@pytest.mark.parametrize("cls", [LSTMClassifier, GRUClassifier])
def test_classifiers_agree(cls):
    rng = np.random.default_rng(0)
    X = [rng.standard_normal((n, 2)) for n in (12, 9, 15, 10)]
    y = np.array([0, 1, 2, 1])
    kwargs = dict(n_units=4, bidirectional=True, max_iter=3, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        a = cls(**kwargs).fit(X, y)
        b = cls(**kwargs).fit([xps.asarray(x) for x in X], xps.asarray(y))
    for name in a.params_:
        np.testing.assert_allclose(b.params_[name], a.params_[name], rtol=1e-10, atol=1e-12)
    proba = b.predict_proba([xps.asarray(x) for x in X])
    assert isinstance(proba, StrictArray)
    np.testing.assert_allclose(to_numpy(proba), a.predict_proba(X), rtol=1e-10)
    labels = b.predict([xps.asarray(x) for x in X])
    np.testing.assert_array_equal(to_numpy(labels), a.predict(X))


def test_gradient_norm_by_lag_agrees():
    X, y = _data(30)
    model = LSTMRegressor(n_units=5, random_state=0)
    _, ref = gradient_norm_by_lag(model, X, y, clip_norm=0.1)
    _, strict = gradient_norm_by_lag(model, xps.asarray(X), xps.asarray(y), clip_norm=0.1)
    assert isinstance(strict, np.ndarray)
    np.testing.assert_allclose(strict, ref, rtol=1e-10)


@pytest.mark.gpu
@pytest.mark.parametrize("cls", ESTIMATORS)
def test_cupy_matches_numpy(cls, cupy):
    X, y = _data()
    kwargs = dict(n_units=8, n_layers=2, sequence_length=20, max_iter=3, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ref = cls(**kwargs).fit(X, y)
        gpu = cls(**kwargs).fit(cupy.asarray(X), cupy.asarray(y))
    pred = gpu.predict(cupy.asarray(X))
    assert isinstance(pred, cupy.ndarray)
    np.testing.assert_allclose(cupy.asnumpy(pred), ref.predict(X), rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(cupy.asnumpy(gpu.forecast(5)), ref.forecast(5), rtol=1e-7,
                               atol=1e-9)
    _, g_ref = gradient_norm_by_lag(ref, X, y)
    _, g_gpu = gradient_norm_by_lag(gpu, cupy.asarray(X), cupy.asarray(y))
    np.testing.assert_allclose(g_gpu, g_ref, rtol=1e-8)
