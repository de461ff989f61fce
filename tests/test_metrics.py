"""Tests of nrmse and valid_prediction_time (memory capacity: test_memory_capacity.py)."""

import numpy as np
import pytest

from reservoir.datasets import LYAPUNOV_EXPONENTS, lorenz63
from reservoir.metrics import ValidPredictionTime, nrmse, valid_prediction_time

LORENZ_LAMBDA = LYAPUNOV_EXPONENTS["lorenz63"].value

# -- nrmse ---------------------------------------------------------------------------

Y = np.array([[0.0, 10.0], [1.0, 14.0], [2.0, 12.0], [3.0, 16.0]])
E = np.array([[0.5, 1.0], [-0.5, -1.0], [0.5, 1.0], [-0.5, -1.0]])  # RMSE 0.5 and 1.0
STD = Y.std(axis=0)  # population std: sqrt(1.25), sqrt(5)
NRMSE_CASES = [
    ("std", "raw_values", [0.5 / STD[0], 1.0 / STD[1]]),
    ("range", "raw_values", [0.5 / 3.0, 1.0 / 6.0]),
    ("mean", "raw_values", [0.5 / 1.5, 1.0 / 13.0]),
    ("std", "uniform_average", np.mean([0.5 / STD[0], 1.0 / STD[1]])),
    ("std", "pooled", np.sqrt((0.25 + 1.0) / 2) / np.sqrt((1.25 + 5.0) / 2)),
    ("range", "pooled", np.sqrt((0.25 + 1.0) / 2) / np.sqrt((9.0 + 36.0) / 2)),
]


@pytest.mark.parametrize("normalization, multioutput, expected", NRMSE_CASES)
def test_nrmse_values(normalization, multioutput, expected):
    got = nrmse(Y, Y + E, normalization=normalization, multioutput=multioutput)
    np.testing.assert_allclose(got, expected, rtol=1e-12)


def test_nrmse_is_not_normalised_by_the_variance():
    y = 3.0 * np.sin(np.linspace(0, 30, 3000))
    pred = y + 0.3
    # std of y is 3/sqrt(2): NRMSE = 0.3 / 2.121 = 0.1414; dividing by the
    # variance (4.5) would give 0.0667.
    assert nrmse(y, pred) == pytest.approx(0.3 / y.std(), rel=1e-12)
    assert nrmse(y, pred) == pytest.approx(0.1414, abs=1e-3)


def test_nrmse_one_dimensional_and_lists():
    assert nrmse([1.0, 2.0, 3.0], [1.0, 2.0, 3.0]) == 0.0
    assert nrmse(np.arange(4), np.arange(4) + 1) == pytest.approx(1 / np.arange(4).std())
    assert isinstance(nrmse(Y, Y + E), float)


@pytest.mark.parametrize("kwargs, error, message", [
    ({"normalization": "var"}, ValueError, "normalization must be one of ('std', 'range', 'mean'), got 'var'"),
    ({"multioutput": "mean"}, ValueError, "multioutput must be one of"),
])
def test_nrmse_bad_options(kwargs, error, message):
    with pytest.raises(error) as info:
        nrmse(Y, Y, **kwargs)
    assert message in str(info.value)


def test_nrmse_bad_input():
    with pytest.raises(ValueError, match=r"same shape, got \(4, 2\) and \(4, 1\)"):
        nrmse(Y, Y[:, :1])
    with pytest.raises(ValueError, match=r"std of y_true: it is 0 for output dimension\(s\) \[1\]"):
        nrmse(np.c_[np.arange(3.0), np.ones(3)], np.zeros((3, 2)))
    with pytest.raises(ValueError, match="mean of y_true"):
        nrmse(np.array([-1.0, 1.0]), np.zeros(2), normalization="mean")
    with pytest.raises(ValueError, match="0 time steps"):
        nrmse(np.zeros((0, 2)), np.zeros((0, 2)))


def test_nrmse_array_api_strict():
    xp = pytest.importorskip("array_api_strict")
    got = nrmse(xp.asarray(Y), xp.asarray(Y + E), multioutput="pooled")
    assert got == pytest.approx(nrmse(Y, Y + E, multioutput="pooled"), rel=1e-12)
    raw = nrmse(xp.asarray(Y), xp.asarray(Y + E), normalization="range", multioutput="raw_values")
    np.testing.assert_allclose(np.asarray(raw), [0.5 / 3.0, 1.0 / 6.0])


# -- valid prediction time --------------------------------------------------------------

@pytest.fixture(scope="module")
def lorenz():
    series = lorenz63(3000, dt=0.01, random_state=0)
    return series[:2000], series[2000:]


def test_vpt_of_a_perfect_prediction_is_the_whole_horizon(lorenz):
    train, test = lorenz
    vpt = valid_prediction_time(test, test.copy(), dt=0.01, lyapunov_exponent=LORENZ_LAMBDA,
                                threshold=0.3, y_train=train)
    assert vpt.reached_horizon
    assert vpt.n_valid_steps == 1000
    assert float(vpt) == pytest.approx(1000 * 0.01 * LORENZ_LAMBDA)
    assert vpt.threshold == 0.3 and vpt.dt == 0.01 and vpt.lyapunov_exponent == LORENZ_LAMBDA
    np.testing.assert_array_equal(vpt.errors, 0.0)


@pytest.mark.parametrize("threshold", [0.3, 0.5])
def test_vpt_of_a_constant_prediction_is_near_zero(lorenz, threshold):
    train, test = lorenz
    constant = np.broadcast_to(train.mean(axis=0), test.shape)
    vpt = valid_prediction_time(test, constant, dt=0.01, lyapunov_exponent=LORENZ_LAMBDA,
                                threshold=threshold, y_train=train)
    assert not vpt.reached_horizon
    assert float(vpt) < 0.1
    assert vpt.threshold == threshold


def test_vpt_counts_the_steps_before_the_first_exceedance():
    y = np.zeros((10, 2))
    y[:, 0] = np.arange(10.0)
    y_train = np.c_[np.array([-1.0, 1.0] * 5), np.array([-2.0, 2.0] * 5)]  # sigma = (1, 2)
    pred = y.copy()
    # normalised error: e(t) = sqrt(((d/1)^2 + (2d/2)^2) / 2) = d for an offset d on both
    offsets = np.array([0.0, 0.1, 0.2, 0.29, 0.31, 0.1, 0, 0, 0, 0])
    pred[:, 0] += offsets
    pred[:, 1] += 2 * offsets
    vpt = valid_prediction_time(y, pred, dt=0.5, lyapunov_exponent=2.0, threshold=0.3, y_train=y_train)
    np.testing.assert_allclose(vpt.errors, offsets, atol=1e-12)
    assert vpt.n_valid_steps == 4  # steps 1-4 are valid, step 5 is not; later recovery does not count
    assert vpt.time == 2.0 and vpt.lyapunov_times == 4.0
    assert "threshold=0.3" in repr(vpt)


def test_vpt_sigma_comes_from_the_training_data_when_given():
    y = np.c_[np.linspace(-1, 1, 50)]  # std 0.58: an offset of 0.1 is an error of 0.17
    pred = y + 0.1
    narrow = valid_prediction_time(y, pred, dt=1, lyapunov_exponent=1, threshold=0.3,
                                   y_train=0.1 * y)  # sigma 10x smaller: error 10x larger
    wide = valid_prediction_time(y, pred, dt=1, lyapunov_exponent=1, threshold=0.3)
    assert narrow.n_valid_steps == 0 and wide.reached_horizon


def test_vpt_nan_forecast_counts_as_invalid():
    y = np.c_[np.sin(np.arange(20.0))]
    pred = y.copy()
    pred[3:] = np.nan
    vpt = valid_prediction_time(y, pred, dt=1, lyapunov_exponent=1, threshold=0.5)
    assert vpt.n_valid_steps == 3


def test_vpt_per_window():
    rng = np.random.default_rng(0)
    y = rng.normal(size=(3, 20, 2))
    pred = y.copy()
    pred[0, 5:] += 10.0
    pred[1, 12:] += 10.0
    vpt = valid_prediction_time(y, pred, dt=0.1, lyapunov_exponent=0.5, threshold=0.4)
    np.testing.assert_array_equal(vpt.n_valid_steps, [5, 12, 20])
    np.testing.assert_allclose(vpt.lyapunov_times, [0.25, 0.6, 1.0])
    np.testing.assert_array_equal(vpt.reached_horizon, [False, False, True])
    assert vpt.errors.shape == (3, 20)
    with pytest.raises(TypeError, match="holds 3 windows"):
        float(vpt)


@pytest.mark.parametrize("kwargs, error, message", [
    ({"threshold": 0.0}, ValueError, "threshold must be in (0, inf], got 0.0"),
    ({"threshold": -0.3}, ValueError, "threshold must be in (0, inf], got -0.3"),
    ({"dt": 0}, ValueError, "dt must be in (0, inf], got 0"),
    ({"lyapunov_exponent": -0.9}, ValueError, "lyapunov_exponent must be in (0, inf], got -0.9"),
    ({"y_train": np.zeros((5, 3))}, ValueError, "y_train must have shape (n_timesteps, 2), got (5, 3)"),
    ({"y_train": np.ones((5, 2))}, ValueError, "component(s) [0, 1] of the training data are constant"),
    ({"y_pred": np.zeros((10, 3))}, ValueError, "same shape, got (10, 2) and (10, 3)"),
])
def test_vpt_bad_input(kwargs, error, message):
    args = {"y_true": np.random.default_rng(0).normal(size=(10, 2)), "y_pred": np.zeros((10, 2)),
            "dt": 0.01, "lyapunov_exponent": 0.9, "threshold": 0.3}
    args.update(kwargs)
    with pytest.raises(error) as info:
        valid_prediction_time(**args)
    assert message in str(info.value)


def test_vpt_threshold_is_required():
    with pytest.raises(TypeError):
        valid_prediction_time(np.zeros(3), np.zeros(3), dt=1, lyapunov_exponent=1)


def test_vpt_array_api_strict(lorenz):
    xp = pytest.importorskip("array_api_strict")
    train, test = lorenz
    pred = test + np.linspace(0, 5, len(test))[:, None]
    expected = valid_prediction_time(test, pred, dt=0.01, lyapunov_exponent=LORENZ_LAMBDA,
                                     threshold=0.3, y_train=train)
    got = valid_prediction_time(xp.asarray(test), xp.asarray(pred), dt=0.01,
                                lyapunov_exponent=LORENZ_LAMBDA, threshold=0.3,
                                y_train=xp.asarray(train))
    assert isinstance(got, ValidPredictionTime)
    assert got.n_valid_steps == expected.n_valid_steps and 0 < got.n_valid_steps < len(test)


def test_vpt_with_given_standard_deviations_equals_vpt_normalised_by_the_training_data():
    rng = np.random.default_rng(11)
    train = rng.standard_normal((500, 3)) * np.array([1.0, 2.0, 0.5])
    truth = rng.standard_normal((4, 60, 3))
    forecast = truth + np.linspace(0, 1, 60)[None, :, None] * rng.standard_normal((4, 1, 3))
    by_train = valid_prediction_time(truth, forecast, dt=0.1, lyapunov_exponent=0.9, threshold=0.3,
                                     y_train=train)
    by_scale = valid_prediction_time(truth, forecast, dt=0.1, lyapunov_exponent=0.9, threshold=0.3,
                                     scale=train.std(axis=0))
    np.testing.assert_array_equal(by_scale.n_valid_steps, by_train.n_valid_steps)
    assert not np.all(by_scale.reached_horizon)
    with pytest.raises(ValueError, match="give y_train or scale"):
        valid_prediction_time(truth, forecast, dt=0.1, lyapunov_exponent=0.9, threshold=0.3,
                              y_train=train, scale=1.0)
    with pytest.raises(ValueError, match="scale must hold positive finite standard deviations"):
        valid_prediction_time(truth, forecast, dt=0.1, lyapunov_exponent=0.9, threshold=0.3,
                              scale=[1.0, 0.0, 1.0])
