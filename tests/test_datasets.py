"""Tests of reservoir.datasets: equations, integrators, golden values, bad input."""

import inspect
import math

import numpy as np
import pytest

from reservoir.datasets import (
    LYAPUNOV_EXPONENTS,
    double_scroll,
    forecast_windows,
    henon_map,
    kuramoto_sivashinsky,
    logistic_map,
    lorenz63,
    lorenz96,
    lyapunov_time,
    mackey_glass,
    multiple_superimposed_oscillators,
    narma,
    rossler,
    split_series,
    to_forecasting,
    vector_field,
)

# Short, cheap calls of every generator: (function, kwargs, n_features).
GENERATORS = [
    (lorenz63, {"transient": 5.0}, 3),
    (rossler, {"transient": 5.0}, 3),
    (double_scroll, {"transient": 5.0}, 3),
    (lorenz96, {"dimension": 10, "transient": 5.0}, 10),
    (mackey_glass, {"transient": 20.0}, 1),
    (kuramoto_sivashinsky, {"transient": 5.0, "n_points": 32}, 32),
    (henon_map, {}, 2),
    (logistic_map, {}, 1),
    (multiple_superimposed_oscillators, {}, 1),
]


@pytest.mark.parametrize("func, kwargs, n_features", GENERATORS, ids=lambda p: getattr(p, "__name__", ""))
def test_shape_dtype_and_determinism(func, kwargs, n_features):
    seeded = "random_state" in inspect.signature(func).parameters
    extra = {"random_state": 3} if seeded else {}
    X = func(50, **kwargs, **extra)
    assert X.shape == (50, n_features)
    assert X.dtype == np.float64
    assert X.flags.c_contiguous
    assert np.all(np.isfinite(X))
    np.testing.assert_array_equal(X, func(50, **kwargs, **extra))
    if seeded and func is not mackey_glass:  # Mackey-Glass draws only without a history
        assert not np.allclose(X, func(50, **kwargs, random_state=4))


# -- golden values (fixed seeds) -----------------------------------------------

def test_lorenz63_golden_values():
    X = lorenz63(1000, random_state=0)
    np.testing.assert_allclose(
        X[:2], [[-1.639157, -1.883083, 17.727383], [-1.669743, -2.036963, 17.292878]], atol=1e-6
    )


def test_lorenz63_attractor_statistics():
    # Moments of the Lorenz attractor over 400 time units: <z> = 23.55,
    # std(x) = 7.92, <x> = 0 by symmetry (statistics: a looser tolerance suffices).
    X = lorenz63(8000, dt=0.05, random_state=1, rtol=1e-8, atol=1e-8)
    assert abs(X[:, 2].mean() - 23.55) < 0.3
    assert abs(X[:, 0].std() - 7.92) < 0.15
    assert abs(X[:, 0].mean()) < 0.8


def test_mackey_glass_golden_and_invariants():
    x = mackey_glass(5000)
    np.testing.assert_allclose(x[:3, 0], [1.06345, 1.01092, 0.960632], atol=1e-6)
    # Invariants of the tau = 17 attractor sampled every time unit.
    assert abs(x.mean() - 0.930) < 0.01
    assert abs(x.std() - 0.226) < 0.01


def test_narma_golden_values():
    u, y = narma(300, order=10, random_state=0)
    np.testing.assert_allclose(y[:4, 0], [0.44073688, 0.39367587, 0.34011673, 0.29639007], atol=1e-8)
    np.testing.assert_allclose(u[:2, 0], [0.15984082, 0.09375386], atol=1e-8)
    _, y30 = narma(300, order=30, random_state=0)
    np.testing.assert_allclose(y30[:4, 0], [0.13038013, 0.14858162, 0.05550139, 0.05907625], atol=1e-8)


def test_maps_golden_values():
    np.testing.assert_allclose(henon_map(3, x0=[0.0, 0.0], transient=0), [[0, 0], [1, 0], [-0.4, 0.3]])
    np.testing.assert_allclose(
        henon_map(2, random_state=0), [[-0.51592307, 0.3217824], [0.94913513, -0.15477692]], atol=1e-8
    )
    np.testing.assert_allclose(logistic_map(3, x0=0.25, transient=0).ravel(), [0.25, 0.75, 0.75])
    x = logistic_map(100_000, random_state=0)
    # Invariant density of r = 4: mean 1/2, variance 1/8.
    assert abs(x.mean() - 0.5) < 0.01
    assert abs(x.var() - 0.125) < 0.005


def test_multiple_superimposed_oscillators():
    t = np.arange(100.0)
    expected = np.sin(0.2 * t) + np.sin(0.311 * t) + np.sin(0.42 * t)
    np.testing.assert_allclose(multiple_superimposed_oscillators(100, n_oscillators=3)[:, 0], expected)
    custom = multiple_superimposed_oscillators(10, frequencies=[1.0], dt=0.5, start=2)
    np.testing.assert_allclose(custom[:, 0], np.sin((2 + np.arange(10)) * 0.5))


# -- integrators -----------------------------------------------------------------

def _rk4(fun, x0, h, n_steps, every):
    """Classical RK4 at a fixed step: independent of SciPy and of the dense output."""
    x = np.array(x0, dtype=float)
    out = [x.copy()]
    for i in range(n_steps):
        k1 = fun(x)
        k2 = fun(x + 0.5 * h * k1)
        k3 = fun(x + 0.5 * h * k2)
        k4 = fun(x + h * k3)
        x = x + h / 6.0 * (k1 + 2 * k2 + 2 * k3 + k4)
        if (i + 1) % every == 0:
            out.append(x.copy())
    return np.array(out)


def _lorenz(s, sigma=10.0, rho=28.0, beta=8.0 / 3.0):
    x, y, z = s
    return np.array([sigma * (y - x), x * (rho - z) - y, x * y - beta * z])


def test_lorenz63_matches_independent_high_accuracy_integration():
    X = lorenz63(101, dt=0.01, random_state=7)  # the first time unit after the transient
    reference = _rk4(_lorenz, X[0], 1e-4, 10_000, every=100)  # RK4 error ~1e-12 at this step
    np.testing.assert_allclose(X, reference, rtol=0, atol=1e-8)


def test_coarse_integration_would_fail_the_accuracy_check():
    # The check above can fail: a coarse solver is far from the reference.
    X = lorenz63(101, dt=0.01, random_state=7, rtol=1e-4, atol=1e-4)
    reference = _rk4(_lorenz, X[0], 1e-4, 10_000, every=100)
    assert np.max(np.abs(X - reference)) > 1e-6


@pytest.mark.parametrize("system, params", [
    ("lorenz63", {}), ("rossler", {}), ("double_scroll", {}), ("lorenz96", {"dimension": 7}),
])
def test_jvp_is_the_jacobian(system, params):
    field = vector_field(system, **params)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4, field.dimension)) * (0.3 if system == "double_scroll" else 3.0)
    v = rng.normal(size=x.shape)
    h = 1e-6
    fd = (field.fun(x + h * v) - field.fun(x - h * v)) / (2 * h)
    np.testing.assert_allclose(field.jvp(x, v), fd, rtol=1e-6, atol=1e-6)
    # a single state (as solve_ivp passes it) gives the same as a batch row
    np.testing.assert_allclose(field.fun(x[0]), field.fun(x)[0], rtol=1e-14)


def test_lorenz96_vector_field_is_the_time_derivative():
    # Against the equation written site by site ...
    D, F = 8, 8.0
    x = np.random.default_rng(1).normal(size=D) + F
    explicit = np.array([(x[(i + 1) % D] - x[i - 2]) * x[i - 1] - x[i] + F for i in range(D)])
    np.testing.assert_allclose(vector_field("lorenz96", dimension=D, forcing=F).fun(x), explicit)
    # ... and against the generated samples: a central difference of the
    # trajectory is dX/dt itself (a generator that applied the time step
    # twice would be off by a factor dt).
    dt = 1e-4
    X = lorenz96(3, dimension=40, dt=dt, random_state=0, transient=10.0)
    derivative = (X[2] - X[0]) / (2 * dt)
    np.testing.assert_allclose(derivative, vector_field("lorenz96").fun(X[1]), rtol=1e-5, atol=1e-5)


def test_flow_x0_and_zero_transient():
    X = lorenz63(3, x0=[1.0, 2.0, 3.0], transient=0.0)
    np.testing.assert_array_equal(X[0], [1.0, 2.0, 3.0])
    assert lorenz63(1, x0=[1.0, 2.0, 3.0], transient=0.0).shape == (1, 3)


def test_mackey_glass_integrator_is_fourth_order():
    # Halving the internal step divides the error by 2^4 = 16 (RK4 with a
    # 4th-order Hermite interpolant of the delayed value).
    reference = mackey_glass(150, integration_step=0.1 / 32, transient=0)
    errors = [np.max(np.abs(mackey_glass(150, integration_step=h, transient=0) - reference))
              for h in (0.2, 0.1, 0.05)]
    ratios = np.array(errors[:-1]) / np.array(errors[1:])
    assert np.all((ratios > 12) & (ratios < 20)), ratios
    assert errors[1] < 1e-8  # the default step


def test_mackey_glass_histories():
    constant = mackey_glass(100, history=1.2, transient=0)
    np.testing.assert_array_equal(constant, mackey_glass(100, history=lambda t: 1.2, transient=0))
    assert constant[0, 0] == 1.2
    random_a = mackey_glass(10, history=None, random_state=0, transient=0)
    random_b = mackey_glass(10, history=None, random_state=1, transient=0)
    assert 0.5 <= random_a[0, 0] <= 1.5 and random_a[0, 0] != random_b[0, 0]
    # with tau = 30 the sampling step of 3 used by some works
    assert mackey_glass(20, tau=30.0, dt=3.0, transient=0).shape == (20, 1)


def test_kuramoto_sivashinsky_etdrk4_converges_at_high_order():
    # ETDRK4 reaches its 4th order (error / 16 per halving) only at small
    # steps on this stiff problem; at the default step 0.05 halving divides
    # the error by about 10, and the error is already below 1e-6.
    u0 = kuramoto_sivashinsky(1, random_state=0)[0]
    reference = kuramoto_sivashinsky(9, x0=u0, transient=0, integration_step=0.25 / 128)
    errors = [np.max(np.abs(kuramoto_sivashinsky(9, x0=u0, transient=0, integration_step=h) - reference))
              for h in (0.25, 0.05, 0.025)]
    assert 8 < errors[1] / errors[2] < 20
    assert errors[1] < 1e-6 < errors[0]


def test_kuramoto_sivashinsky_bounded_and_mean_conserved():
    U = kuramoto_sivashinsky(4000, dt=0.25, random_state=1)  # 1000 time units
    energy = np.sqrt(np.mean(U ** 2, axis=1))
    assert np.all(np.abs(U) < 5)
    assert 0.8 < energy.mean() < 1.6  # about 1.2 for L = 22
    assert energy.std() > 0.02  # not a steady state
    np.testing.assert_allclose(U.mean(axis=1), 0.0, atol=1e-12)


def test_kuramoto_sivashinsky_nearby_trajectories_separate_at_its_lyapunov_rate():
    # Six pairs of trajectories 1e-9 apart: the mean log-separation grows
    # linearly at about lambda_1 = 0.048 and stays far from saturation
    # (e^(0.05 * 150) = 2e3). Over 150 time units (7 Lyapunov times) the
    # fitted rate scatters by about 25% from seed to seed (0.033-0.074 over
    # ten seeds, mean 0.046), hence the bounds; a stable or mis-signed
    # equation gives a rate <= 0.
    lam = LYAPUNOV_EXPONENTS["kuramoto_sivashinsky"].value
    rng = np.random.default_rng(0)
    starts = kuramoto_sivashinsky(6, dt=50.0, random_state=2)
    logs = []
    for u0 in starts:
        delta = rng.normal(size=u0.shape)
        delta = 1e-9 * (delta - delta.mean()) / np.linalg.norm(delta - delta.mean())
        a = kuramoto_sivashinsky(151, dt=1.0, x0=u0, transient=0)
        b = kuramoto_sivashinsky(151, dt=1.0, x0=u0 + delta, transient=0)
        logs.append(np.log(np.linalg.norm(a - b, axis=1)))
    mean_log = np.mean(logs, axis=0)
    t = np.arange(151.0)
    slope = np.polyfit(t[20:], mean_log[20:], 1)[0]
    assert 0.5 * lam < slope < 2.0 * lam, slope
    assert np.exp(mean_log[-1]) < 1e-4


# -- NARMA ---------------------------------------------------------------------------

@pytest.mark.parametrize("order, coefficients", [
    (10, (0.3, 0.05, 1.5, 0.1)),
    (30, (0.2, 0.004, 1.5, 0.001)),
])
def test_narma_satisfies_its_recurrence(order, coefficients):
    alpha, beta, gamma, delta = coefficients
    u, y = narma(3000, order=order, random_state=1)
    u, y = u[:, 0], y[:, 0]
    assert u.min() >= 0 and u.max() < 0.5
    t = np.arange(order - 1, len(y) - 1)
    window = np.lib.stride_tricks.sliding_window_view(y, order)  # window[s] = y[s .. s+order-1]
    expected = (alpha * y[t] + beta * y[t] * window[t - order + 1].sum(axis=1)
                + gamma * u[t - order + 1] * u[t] + delta)
    np.testing.assert_allclose(y[t + 1], expected, rtol=1e-14, atol=0)
    # The wrong window (y(t-n) .. y(t-1)) or the wrong input lag would not fit.
    shifted = (alpha * y[t] + beta * y[t] * window[t - order].sum(axis=1)
               + gamma * u[t - order] * u[t] + delta)
    assert np.max(np.abs(y[t + 1] - shifted)) > 1e-6


def test_narma_transient_gives_a_window_of_the_same_realisation():
    u0, y0 = narma(400, transient=0, random_state=5)
    u1, y1 = narma(300, transient=100, random_state=5)
    np.testing.assert_array_equal(u0[100:], u1)
    np.testing.assert_array_equal(y0[100:], y1)


def test_narma_divergence_is_reported():
    with pytest.raises(RuntimeError, match="NARMA10 diverged"):
        narma(2000, order=10, random_state=83)


# -- metadata ------------------------------------------------------------------------

GENERATOR_OF = {
    "lorenz63": lorenz63, "rossler": rossler, "double_scroll": double_scroll, "lorenz96": lorenz96,
    "kuramoto_sivashinsky": kuramoto_sivashinsky, "mackey_glass": mackey_glass,
    "henon_map": henon_map, "logistic_map": logistic_map,
}


@pytest.mark.parametrize("system", sorted(LYAPUNOV_EXPONENTS))
def test_lyapunov_metadata_matches_generator_defaults(system):
    entry = LYAPUNOV_EXPONENTS[system]
    assert entry.value > 0 and entry.source and entry.estimate
    assert entry.time_unit in ("time unit", "iteration")
    defaults = {name: p.default for name, p in inspect.signature(GENERATOR_OF[system]).parameters.items()}
    for name, value in entry.parameters.items():
        assert defaults[name] == pytest.approx(value), name
    assert lyapunov_time(system) == pytest.approx(1 / entry.value)


def test_lyapunov_metadata_values():
    assert LYAPUNOV_EXPONENTS["lorenz63"].value == 0.9056
    assert round(LYAPUNOV_EXPONENTS["lorenz63"].lyapunov_time, 3) == 1.104
    assert LYAPUNOV_EXPONENTS["logistic_map"].value == pytest.approx(math.log(2))
    with pytest.raises(ValueError, match="system must be one of"):
        lyapunov_time("lorenz84")
    with pytest.raises(TypeError):
        LYAPUNOV_EXPONENTS["new"] = None


# -- forecasting helpers ---------------------------------------------------------------

def test_to_forecasting():
    series = np.arange(12.0).reshape(6, 2)
    X, y = to_forecasting(series, horizon=2)
    np.testing.assert_array_equal(X, series[:4])
    np.testing.assert_array_equal(y, series[2:])
    X1, y1 = to_forecasting(np.arange(4.0))
    assert X1.shape == (3, 1) and y1[0, 0] == 1.0


def test_split_series():
    X, y = np.arange(10.0)[:, None], np.arange(10.0, 20.0)
    X_train, X_test, y_train, y_test = split_series(X, y, train_size=6)
    np.testing.assert_array_equal(X_train[:, 0], np.arange(6.0))
    np.testing.assert_array_equal(y_test, np.arange(16.0, 20.0))
    train, test = split_series(np.arange(10), train_size=0.5, test_size=0.2)
    np.testing.assert_array_equal(test, [5, 6])


def test_forecast_windows():
    series = np.arange(40.0).reshape(20, 2)
    contexts, targets = forecast_windows(series, n_windows=3, horizon=3, warmup=2, stride=5, start=1)
    assert contexts.shape == (3, 2, 2) and targets.shape == (3, 3, 2)
    np.testing.assert_array_equal(contexts[1, :, 0], [12.0, 14.0])
    np.testing.assert_array_equal(targets[2, :, 0], [26.0, 28.0, 30.0])  # rows 13, 14, 15


def test_helpers_keep_the_array_namespace():
    xp = pytest.importorskip("array_api_strict")
    series = xp.asarray(np.arange(20.0).reshape(10, 2))
    X, y = to_forecasting(series, horizon=1)
    contexts, targets = forecast_windows(series, n_windows=2, horizon=2, warmup=1)
    assert type(X) is type(series) and type(targets) is type(series)
    assert targets.shape == (2, 2, 2)


# -- bad input -------------------------------------------------------------------------

BAD_INPUT = [
    (lorenz63, {"n_timesteps": 0}, ValueError, "n_timesteps must be in [1, inf], got 0"),
    (lorenz63, {"n_timesteps": -5}, ValueError, "n_timesteps must be in [1, inf], got -5"),
    (lorenz63, {"n_timesteps": 2.5}, TypeError, "n_timesteps must be an int, got 2.5"),
    (lorenz63, {"n_timesteps": 10, "dt": 0.0}, ValueError, "dt must be in (0, inf], got 0.0"),
    (lorenz63, {"n_timesteps": 10, "transient": -1.0}, ValueError, "transient must be in [0, inf], got -1.0"),
    (lorenz63, {"n_timesteps": 10, "x0": [1.0, 2.0]}, ValueError, "x0 must have shape (3,), got an array of shape (2,)"),
    (lorenz63, {"n_timesteps": 10, "x0": [1.0, np.nan, 2.0]}, ValueError, "x0 must be finite"),
    (lorenz63, {"n_timesteps": 10, "rtol": 0.0}, ValueError, "rtol must be in (0, inf], got 0.0"),
    (lorenz63, {"n_timesteps": 10, "sigma": "ten"}, TypeError, "sigma must be a real number, got 'ten'"),
    (lorenz96, {"n_timesteps": 10, "dimension": 3}, ValueError, "dimension must be in [4, inf], got 3"),
    (mackey_glass, {"n_timesteps": 10, "tau": 0.0}, ValueError, "tau must be in (0, inf], got 0.0"),
    (mackey_glass, {"n_timesteps": 10, "tau": -17.0}, ValueError, "tau must be in (0, inf], got -17.0"),
    (mackey_glass, {"n_timesteps": 10, "integration_step": 0}, ValueError, "integration_step must be in (0, inf], got 0"),
    (kuramoto_sivashinsky, {"n_timesteps": 10, "n_points": 33}, ValueError, "n_points must be even, got 33"),
    (kuramoto_sivashinsky, {"n_timesteps": 10, "domain_length": -22.0}, ValueError, "domain_length must be in (0, inf], got -22.0"),
    (kuramoto_sivashinsky, {"n_timesteps": 10, "x0": np.zeros(10)}, ValueError, "x0 must have shape (64,)"),
    (narma, {"n_timesteps": 10, "order": 20}, ValueError, "order must be one of (10, 30), got 20"),
    (narma, {"n_timesteps": 0}, ValueError, "n_timesteps must be in [1, inf], got 0"),
    (narma, {"n_timesteps": 10, "transient": -1}, ValueError, "transient must be in [0, inf], got -1"),
    (logistic_map, {"n_timesteps": 10, "r": 4.5}, ValueError, "r must be in (0, 4], got 4.5"),
    (logistic_map, {"n_timesteps": 10, "x0": 1.0}, ValueError, "x0 must be in (0, 1), got 1.0"),
    (henon_map, {"n_timesteps": 10, "x0": [0.0]}, ValueError, "x0 must have shape (2,)"),
    (multiple_superimposed_oscillators, {"n_timesteps": 10, "n_oscillators": 9}, ValueError, "n_oscillators must be in [1, 8], got 9"),
    (to_forecasting, {"series": np.zeros(5), "horizon": 5}, ValueError, "horizon must be less than the series length 5, got 5"),
    (to_forecasting, {"series": np.zeros(5), "horizon": 0}, ValueError, "horizon must be in [1, inf], got 0"),
    (to_forecasting, {"series": np.zeros((2, 2, 2))}, ValueError, "series must have shape (n_timesteps, n_features)"),
    (forecast_windows, {"series": np.zeros(10), "n_windows": 3, "horizon": 4}, ValueError, "need 12 time steps, but the series has 10"),
    (forecast_windows, {"series": np.zeros(10), "n_windows": 0, "horizon": 4}, ValueError, "n_windows must be in [1, inf], got 0"),
]


@pytest.mark.parametrize("func, kwargs, error, message", BAD_INPUT,
                         ids=[f"{f.__name__}-{sorted(k)[-1]}" for f, k, _, _ in BAD_INPUT])
def test_bad_input(func, kwargs, error, message):
    kwargs = dict(kwargs)
    args = []
    if "n_timesteps" in kwargs:
        args.append(kwargs.pop("n_timesteps"))
    if "series" in kwargs:
        args.append(kwargs.pop("series"))
    with pytest.raises(error) as info:
        func(*args, **kwargs)
    assert message in str(info.value)


def test_split_series_bad_input():
    with pytest.raises(ValueError, match="same number of time steps, got \\[4, 5\\]"):
        split_series(np.zeros(5), np.zeros(4), train_size=2)
    with pytest.raises(ValueError, match="ask for 4 \\+ 3 time steps, but the series have 5"):
        split_series(np.zeros(5), train_size=4, test_size=3)
    with pytest.raises(ValueError, match="train_size must be in"):
        split_series(np.zeros(5), train_size=1.5)


def test_vector_field_bad_input():
    with pytest.raises(ValueError, match="system must be one of .* got 'lorenz84'"):
        vector_field("lorenz84")
    with pytest.raises(TypeError, match=r"unknown parameter\(s\) \['gamma'\] for lorenz63"):
        vector_field("lorenz63", gamma=1.0)
