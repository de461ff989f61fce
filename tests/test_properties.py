"""Property-based tests (hypothesis): whatever the input, the estimators keep their contracts.

* valid input never raises, and gives outputs of the documented shape;
* invalid parameters and data raise only ``ValueError`` or ``TypeError``,
  with the argument's name in the message;
* finite input gives finite output for a contracting reservoir;
* a forecast is NaN only from a window's first invalid step on;
* a model file loads back to the same predictions.

The examples are bounded and derandomized (the same examples on every run,
so CI never flakes), and each has a deadline, so nothing hangs.
"""

import os
import tempfile
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from reservoir import (
    ESNClassifier,
    ESNRegressor,
    ForecastDivergenceWarning,
    Reservoir,
    ReservoirTransformer,
    load,
    save,
)
from reservoir.initializers import input_weights, recurrent_weights

BOUNDED = settings(max_examples=15, deadline=2000, derandomize=True,
                   suppress_health_check=[HealthCheck.too_slow])
# Warnings are part of a valid answer (an ill-conditioned readout, a diverged
# forecast); what these properties forbid is an exception.
WARNINGS_ALLOWED = pytest.mark.filterwarnings("ignore")

finite = st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False, width=64)


@st.composite
def series(draw, min_length=1, max_length=40, max_features=3):
    n = draw(st.integers(min_length, max_length))
    d = draw(st.integers(1, max_features))
    return draw(arrays(np.float64, (n, d), elements=finite))


@st.composite
def esn_params(draw):
    return dict(
        n_units=draw(st.integers(1, 30)),
        spectral_radius=draw(st.floats(0.01, 2.0)),
        leak_rate=draw(st.floats(0.01, 1.0)),
        input_scaling=draw(st.floats(0.0, 5.0)),
        bias_scaling=draw(st.floats(0.0, 2.0)),
        alpha=draw(st.floats(1e-8, 10.0)),
        washout=draw(st.integers(0, 5)),
        readout_features=draw(st.sampled_from([
            ("constant", "input", "state"), ("state",), ("input",),
            ("constant", "state", "squared_state")])),
        topology=draw(st.sampled_from(["random", "ring", "delay_line", "orthogonal"])),
        activation=draw(st.sampled_from(["tanh", "identity", "relu", "sigmoid"])),
        random_state=draw(st.integers(0, 2**16)),
    )


@WARNINGS_ALLOWED
@BOUNDED
@given(params=esn_params(), X=series(min_length=6))
def test_valid_input_never_raises_and_keeps_the_shape(params, X):
    y = np.roll(X, -1, axis=0)
    with np.errstate(over="ignore", invalid="ignore"):   # identity/relu reservoirs may grow
        model = ESNRegressor(**params).fit(X, y)
        out = model.predict(X)
        forecast = model.forecast(3)
    assert out.shape == X.shape
    assert forecast.shape == (3, X.shape[1])


@WARNINGS_ALLOWED
@BOUNDED
@given(params=esn_params(), X=series(min_length=6))
def test_contracting_tanh_reservoir_gives_finite_output(params, X):
    params = dict(params, activation="tanh", spectral_radius=min(params["spectral_radius"], 0.99))
    y = X[:, :1] * 2.0 - 1.0
    model = ESNRegressor(**params).fit(X, y)
    assert np.all(np.isfinite(model.predict(X)))
    states = model.reservoir_.run(X * 1e6)           # saturated, still bounded
    assert np.all(np.abs(states) <= 1.0)


@BOUNDED
@given(X=series(min_length=1, max_length=60), n_units=st.integers(1, 40),
       rho=st.floats(0.0, 0.999), leak=st.floats(0.01, 1.0), seed=st.integers(0, 1000))
def test_reservoir_run_is_bounded_and_equals_its_steps(X, n_units, rho, leak, seed):
    W = recurrent_weights(n_units, spectral_radius=rho, random_state=seed) if rho > 0 else np.zeros((n_units, n_units))
    res = Reservoir(W, input_weights(n_units, X.shape[1], random_state=seed + 1),
                    leak_rate=leak)
    states = res.run(X)
    assert states.shape == (X.shape[0], n_units) and np.all(np.abs(states) <= 1.0)
    x = None
    for t in range(X.shape[0]):
        x = res.step(X[t], x)
    np.testing.assert_allclose(x, states[-1], rtol=1e-10, atol=1e-12)


# -- invalid input ----------------------------------------------------------------------------

INVALID_PARAMS = {
    "n_units": st.one_of(st.integers(-5, 0), st.floats(0.5, 5.5), st.text(max_size=3)),
    "spectral_radius": st.one_of(st.floats(-5, 0), st.just(float("nan")), st.just(float("inf")), st.text(max_size=3)),
    "leak_rate": st.one_of(st.floats(-1, 0), st.floats(1.0001, 10), st.just(float("nan"))),
    "alpha": st.one_of(st.floats(-10, -1e-9), st.just(float("inf")), st.none()),
    "washout": st.one_of(st.integers(-10, -1), st.floats(0.5, 3.5)),
    "input_scaling": st.one_of(st.floats(-5, -1e-6), st.just([[1.0]]), st.text(min_size=1, max_size=3)),
    "readout_features": st.one_of(st.just(()), st.just(("constant",)),
                                  st.text(min_size=1, max_size=5).filter(lambda s: s not in ("input", "state"))),
    "activation": st.text(max_size=6).filter(lambda s: s not in ("tanh", "identity", "relu", "sigmoid")),
    "topology": st.text(max_size=6).filter(lambda s: s not in ("random", "ring", "delay_line", "orthogonal")),
    "dtype": st.sampled_from(["float16", "int32", "complex", "f8x"]),
}


@BOUNDED
@given(data=st.data(), name=st.sampled_from(sorted(INVALID_PARAMS)))
def test_invalid_parameter_raises_value_or_type_error_naming_it(data, name):
    value = data.draw(INVALID_PARAMS[name])
    X = np.sin(np.arange(40.0))[:, None]
    with pytest.raises((ValueError, TypeError)) as info:
        ESNRegressor(n_units=5, **{name: value}).fit(X[:-1], X[1:])
    assert name in str(info.value)


@st.composite
def bad_data(draw):
    X = np.sin(np.arange(30.0))[:, None] * np.ones((1, 2))
    y = X[:, :1].copy()
    kind = draw(st.sampled_from(["nan", "inf", "short y", "3-D y", "strings", "empty"]))
    if kind == "nan":
        X = X.copy()
        X[draw(st.integers(0, 29)), draw(st.integers(0, 1))] = np.nan
    elif kind == "inf":
        y = y.copy()
        y[draw(st.integers(0, 29)), 0] = draw(st.sampled_from([np.inf, -np.inf]))
    elif kind == "short y":
        y = y[:draw(st.integers(1, 28))]
    elif kind == "3-D y":
        y = y[None, :, :, None]
    elif kind == "strings":
        X = X.astype(str)
        X[0, 0] = "a"
    else:
        X, y = X[:0], y[:0]
    return kind, X, y


@BOUNDED
@given(case=bad_data())
def test_invalid_data_raises_value_or_type_error_naming_the_argument(case):
    kind, X, y = case
    with pytest.raises((ValueError, TypeError)) as info:
        ESNRegressor(n_units=5).fit(X, y)
    message = str(info.value)
    assert ("X" in message or "y" in message), message


@BOUNDED
@given(n_series=st.integers(2, 5), n_steps=st.integers(1, 20), growth=st.floats(0.5, 4.0),
       starts=st.lists(st.floats(-1, 1), min_size=5, max_size=5))
def test_forecast_is_nan_only_after_the_first_invalid_step(n_series, n_steps, growth, starts):
    u = np.random.default_rng(0).uniform(-1, 1, (200, 1))
    model = ESNRegressor(n_units=3, readout_features=("input",), alpha=1e-12,
                         random_state=0).fit(u, growth * u)
    contexts = np.array(starts[:n_series])[:, None, None] * np.ones((1, 2, 1))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ForecastDivergenceWarning)
        out = model.forecast(n_steps, context=contexts)[..., 0]
    for window in out:
        bad = np.isnan(window)
        first = np.argmax(bad) if bad.any() else n_steps
        assert not bad[:first].any() and bad[first:].all()
        assert np.all(np.abs(window[:first]) <= growth * 10.5 * 2 + 1e-9)


@WARNINGS_ALLOWED
@BOUNDED
@given(params=esn_params(), X=series(min_length=6, max_length=30))
def test_model_file_round_trip(params, X):
    y = np.roll(X, -1, axis=0)
    with np.errstate(over="ignore", invalid="ignore"):
        model = ESNRegressor(**params).fit(X, y)
        expected = model.predict(X)
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "m.rsv")
        save(model, path)
        loaded = load(path)
    with np.errstate(over="ignore", invalid="ignore"):
        np.testing.assert_array_equal(loaded.predict(X), expected)


@WARNINGS_ALLOWED
@BOUNDED
@given(n_series=st.integers(2, 6), length=st.integers(5, 20), n_units=st.integers(2, 20),
       seed=st.integers(0, 100))
def test_classifier_and_transformer_on_ragged_lists(n_series, length, n_units, seed):
    rng = np.random.default_rng(seed)
    X = [rng.standard_normal((length + k, 2)) for k in range(n_series)]
    labels = np.arange(n_series) % 2
    clf = ESNClassifier(n_units=n_units, random_state=seed).fit(X, labels)
    assert clf.predict(X).shape == (n_series,)
    proba = clf.predict_proba(X)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    states = ReservoirTransformer(n_units=n_units, random_state=seed).fit(X).transform(X)
    assert [s.shape for s in states] == [(length + k, n_units) for k in range(n_series)]
