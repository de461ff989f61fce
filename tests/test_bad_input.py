"""Bad input gets a clear error naming the argument, the value and what was expected."""

import numpy as np
import pytest
import scipy.sparse

from reservoir import ESNClassifier, ESNRegressor, ReservoirTransformer

rng = np.random.default_rng(0)
X = rng.standard_normal((50, 2))
y = rng.standard_normal(50)


@pytest.mark.parametrize(
    "params, error, match",
    [
        (dict(spectral_radius=0.0), ValueError, r"spectral_radius must be in \(0, inf\], got 0.0"),
        (dict(spectral_radius=-0.5), ValueError, r"spectral_radius must be in \(0, inf\], got -0.5"),
        (dict(leak_rate=0.0), ValueError, r"leak_rate must be in \(0, 1\], got 0.0"),
        (dict(leak_rate=1.5), ValueError, r"leak_rate must be in \(0, 1\], got 1.5"),
        (dict(density=0.0), ValueError, r"density must be in \(0, 1\], got 0.0"),
        (dict(density=1.2), ValueError, r"density must be in \(0, 1\], got 1.2"),
        (dict(input_density=0.0), ValueError, r"input_density must be in \(0, 1\]"),
        (dict(alpha=-1e-3), ValueError, r"alpha must be in \[0, inf\], got -0.001"),
        (dict(n_units=0), ValueError, r"n_units must be in \[1, inf\], got 0"),
        (dict(n_units=10.5), TypeError, "n_units must be an int, got 10.5"),
        (dict(washout=-1), ValueError, r"washout must be in \[0, inf\], got -1"),
        (dict(bias_scaling=-1.0), ValueError, "bias_scaling must be in"),
        (dict(noise_level=-1.0), ValueError, "noise_level must be in"),
        (dict(input_scaling=-1.0), ValueError, "input_scaling must be a non-negative number"),
        (dict(input_scaling=[1.0, 2.0, 3.0]), ValueError, "input_scaling has 3 values, but there are 2 features"),
        (dict(activation="softsign"), ValueError, "activation must be one of"),
        (dict(topology="torus"), ValueError, "topology must be one of"),
        (dict(readout_features=("state", "cubes")), ValueError, "readout_features must be"),
        (dict(readout_features=("constant",)), ValueError, "readout_features must be"),
        (dict(dtype="float16"), ValueError, "dtype must be 'float32' or 'float64', got 'float16'"),
        (dict(dtype="int32"), ValueError, "dtype must be 'float32' or 'float64'"),
        (dict(feedback_scaling=-1.0), ValueError, "feedback_scaling must be in"),
        (dict(random_state=-3), ValueError, "random_state must be a non-negative int"),
        (dict(spectral_radius=float("nan")), ValueError, "spectral_radius must be finite"),
    ],
)
def test_invalid_parameters(params, error, match):
    with pytest.raises(error, match=match):
        ESNRegressor(**{"n_units": 10, **params}).fit(X, y)


@pytest.mark.parametrize(
    "X_bad, y_bad, error, match",
    [
        (X[:, 0], y, ValueError, r"X is 1-D with shape \(50,\); one series must be 2-D, of shape \(n_timesteps, n_features\). Reshape your data with X.reshape\(-1, 1\)"),
        (X[None, None], y, ValueError, r"X must be 2-D .* or 3-D .*, got shape \(1, 1, 50, 2\)"),
        (np.where(np.arange(100).reshape(50, 2) == 7, np.nan, X), y, ValueError, "X contains NaN at time step 3, feature 1. A reservoir steps through every time step in order and cannot skip a missing value: fill or interpolate"),
        (np.where(np.arange(100).reshape(50, 2) == 7, np.inf, X), y, ValueError, "X contains infinity at time step 3, feature 1"),
        (X, np.where(np.arange(50) == 3, np.nan, y), ValueError, "y contains NaN at time step 3"),
        (X, y[:40], ValueError, "X and y have different numbers of time steps: 50 and 40"),
        (X[:0], y[:0], ValueError, "0 sample"),
        (X.astype(complex), y, ValueError, "Complex data not supported"),
        (np.array([["a", "b"]] * 50), y, TypeError, "X must hold real numbers, got dtype <U1"),
        (scipy.sparse.csr_matrix(X), y, TypeError, "Sparse data was passed"),
        (None, y, ValueError, "X is None; expected an array"),
        ([X[:30], X[:20, :1]], [y[:30], y[:20]], ValueError, "same number of features, got \\[1, 2\\]"),
        ([X[:30], X[:20]], [y[:30]], ValueError, "X has 2 series but y has 1"),
        ([X[:30], X[:20]], [y[:30], y[:19]], ValueError, r"X\[1\] and y\[1\] have different numbers of time steps: 20 and 19"),
        ([], [], ValueError, "empty list of series"),
        (np.stack([X[:30], X[:30]]), np.ones((2, 29)), ValueError, r"y must have shape \(2, 30\) or \(2, 30, n_outputs\)"),
        (np.zeros((0, 30, 2)), np.zeros((0, 30)), ValueError, "0 sample|no series"),
        (np.stack([X[:30], X[:30]]).astype(complex), np.ones((2, 30)), ValueError, "Complex data not supported"),
        ([X[:30], np.full((20, 2), np.nan)], [y[:30], y[:20]], ValueError, r"X\[1\] contains NaN at time step 0, feature 0"),
        (np.stack([X[:30], np.where(np.arange(60).reshape(30, 2) == 9, np.nan, X[:30])]), np.ones((2, 30)), ValueError, "X contains NaN at series 1, time step 4, feature 1"),
    ],
)
def test_invalid_data(X_bad, y_bad, error, match):
    with pytest.raises(error, match=match):
        ESNRegressor(n_units=10).fit(X_bad, y_bad)


def test_series_shorter_than_washout():
    with pytest.raises(ValueError, match=r"X has 50 time steps, fewer than the 61 needed \(washout=60"):
        ESNRegressor(n_units=10, washout=60).fit(X, y)
    with pytest.raises(ValueError, match=r"series \[1\] of X have \[20\] time steps, fewer than the 26"):
        ESNRegressor(n_units=10, washout=25).fit([X[:30], X[:20]], [y[:30], y[:20]])


def test_predict_checks_fitted_state_and_width():
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        ESNRegressor().predict(X)
    esn = ESNRegressor(n_units=10).fit(X, y)
    with pytest.raises(ValueError, match="X has 3 features, but ESNRegressor is expecting 2"):
        esn.predict(np.ones((5, 3)))


@pytest.mark.parametrize(
    "initial_state, match",
    [
        ("restart", "initial_state must be None, 'continue' or an array, got 'restart'"),
        (np.zeros(7), r"initial_state must have shape \(10,\) or \(1, 10\), got \(1, 7\)"),
        (np.full(10, np.nan), "initial_state contains NaN"),
    ],
)
def test_bad_initial_state(initial_state, match):
    esn = ESNRegressor(n_units=10).fit(X, y)
    with pytest.raises(ValueError, match=match):
        esn.predict(X, initial_state=initial_state)


@pytest.mark.parametrize("n_steps, error", [(0, ValueError), (-5, ValueError), (2.5, TypeError)])
def test_bad_forecast_horizon(n_steps, error):
    esn = ESNRegressor(n_units=10).fit(X[:-1], X[1:])
    with pytest.raises(error, match="n_steps must be"):
        esn.forecast(n_steps)


def test_transformer_rejects_unknown_initial_state():
    tr = ReservoirTransformer(n_units=10).fit(X)
    with pytest.raises(ValueError, match="initial_state must be None, 'continue' or an array, got 'resume'"):
        tr.transform(X, initial_state="resume")


@pytest.mark.parametrize(
    "y_bad, match",
    [
        (np.zeros(50), "at least 2 classes"),
        (rng.standard_normal(50), "Unknown label type"),
        (np.zeros((50, 2)), "y should be a 1d array|y must be 1-D"),
    ],
)
def test_classifier_bad_labels(y_bad, match):
    with pytest.raises(ValueError, match=match):
        ESNClassifier(n_units=10).fit(X, y_bad)


def test_classifier_bad_pooling():
    series = [X[:20], X[20:40]]
    with pytest.raises(ValueError, match="pooling must be 'mean' or 'last', got 'max'"):
        ESNClassifier(n_units=10, pooling="max").fit(series, [0, 1])
