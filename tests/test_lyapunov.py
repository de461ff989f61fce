"""Largest Lyapunov exponents: flows and maps against the metadata, driven reservoirs.

Reference values (reservoir.datasets.LYAPUNOV_EXPONENTS): Lorenz-63 0.9056
(Sprott 2003), Lorenz-96 with 40 sites and F = 8 about 1.68 (Vlachas et al.
2020), Hénon 0.41922 (Sprott 2003), logistic map at r = 4 ln 2 (exact).
The runs are short, so each tolerance is set from the seed-to-seed scatter
of the estimate at that length (standard deviation about 1% for the
Lorenz-63 and Lorenz-96 settings below), with a margin of 2.5 or more.
"""

import math

import numpy as np
import pytest
import scipy.sparse

from reservoir.datasets import (
    LYAPUNOV_EXPONENTS,
    double_scroll,
    henon_map,
    logistic_map,
    lorenz63,
    lorenz96,
    rossler,
    vector_field,
)
from reservoir.initializers import input_weights, recurrent_weights
from reservoir.lyapunov import (
    driven_lyapunov_exponent,
    flow_lyapunov_exponent,
    map_lyapunov_exponent,
    reservoir_lyapunov_exponent,
)

try:
    from reservoir import ReservoirTransformer
except ImportError:
    ReservoirTransformer = None


# -- flows ---------------------------------------------------------------------------

@pytest.mark.parametrize("method", ["tangent", "two_trajectory"])
def test_lorenz63_within_3_percent(method):
    # 32 trajectories x 60 time units, integrated as one batch: errors of
    # -0.6% to +0.7% over three seeds for either method.
    x0 = lorenz63(32, dt=5.0, random_state=0)
    lam = flow_lyapunov_exponent(vector_field("lorenz63"), x0, method=method, n_intervals=60,
                                 random_state=0)
    assert lam == pytest.approx(0.9056, rel=0.03)


@pytest.mark.slow
def test_lorenz96_within_5_percent():
    # 16 trajectories x 50 time units: 1.66-1.72 over seeds 0-7 (mean 1.69,
    # standard deviation 0.02); 16 x 500 time units give 1.689.
    reference = LYAPUNOV_EXPONENTS["lorenz96"]
    assert dict(reference.parameters) == {"dimension": 40, "forcing": 8.0}
    x0 = lorenz96(16, dt=5.0, transient=20.0, random_state=0)
    lam = flow_lyapunov_exponent(vector_field("lorenz96"), x0, method="two_trajectory",
                                 renormalization_interval=0.5, n_intervals=100, random_state=0)
    assert lam == pytest.approx(1.68, rel=0.05)


@pytest.mark.slow
def test_rossler_near_the_published_value():
    # 16 trajectories x 300 time units (about 20 Lyapunov times each): the
    # estimate scatters by about 5% over seeds (-7% to +3% over three).
    x0 = rossler(16, dt=50.0, random_state=0)
    lam = flow_lyapunov_exponent(vector_field("rossler"), x0, method="two_trajectory",
                                 renormalization_interval=5.0, n_intervals=60, random_state=0)
    assert lam == pytest.approx(LYAPUNOV_EXPONENTS["rossler"].value, rel=0.15)


@pytest.mark.slow
def test_double_scroll_matches_its_recorded_estimate():
    x0 = double_scroll(8, dt=50.0, random_state=0)
    lam = flow_lyapunov_exponent(vector_field("double_scroll"), x0, method="two_trajectory",
                                 renormalization_interval=2.0, n_intervals=150, random_state=0)
    assert lam == pytest.approx(LYAPUNOV_EXPONENTS["double_scroll"].value, rel=0.1)


def test_tangent_without_jvp_uses_finite_differences():
    # Over a few time units the two runs follow the same trajectory (later,
    # chaos would amplify their round-off differences), so the central
    # difference of f must reproduce the exact tangent map's growth closely.
    x0 = lorenz63(4, dt=5.0, random_state=2)
    field = vector_field("lorenz63")
    exact = flow_lyapunov_exponent(field.fun, x0, jvp=field.jvp, n_intervals=4, transient=0,
                                   random_state=0)
    approx = flow_lyapunov_exponent(field.fun, x0, n_intervals=4, transient=0, random_state=0)
    assert approx == pytest.approx(exact, rel=1e-6)


def test_stable_flow_has_a_negative_exponent():
    # Linear flow dx/dt = A x with eigenvalues -1, -2: lambda_1 = -1 exactly.
    A = np.array([[-1.0, 0.0], [0.0, -2.0]])
    lam = flow_lyapunov_exponent(lambda x: x @ A.T, [1.0, 1.0], jvp=lambda x, v: v @ A.T,
                                 n_intervals=20, transient=5.0, random_state=0)
    assert lam == pytest.approx(-1.0, abs=1e-5)


@pytest.mark.parametrize("kwargs, error, message", [
    ({"method": "qr"}, ValueError, "method must be one of ('tangent', 'two_trajectory'), got 'qr'"),
    ({"x0": np.zeros((2, 2, 3))}, ValueError, "x0 must have shape (dimension,) or (n_trajectories, dimension)"),
    ({"fun": lambda x: x[..., :2]}, ValueError, "fun(x) must return an array of shape (1, 3), got (1, 2)"),
    ({"renormalization_interval": 0}, ValueError, "renormalization_interval must be in (0, inf], got 0"),
    ({"n_intervals": 0}, ValueError, "n_intervals must be in [1, inf], got 0"),
    ({"perturbation": 0.5}, ValueError, "perturbation must be in (0, 0.01], got 0.5"),
    ({"fun": "lorenz63"}, TypeError, "fun must be callable, got 'lorenz63'"),
])
def test_flow_bad_input(kwargs, error, message):
    args = {"fun": vector_field("lorenz63"), "x0": [1.0, 1.0, 20.0], "n_intervals": 1}
    args.update(kwargs)
    with pytest.raises(error) as info:
        flow_lyapunov_exponent(**args)
    assert message in str(info.value)


# -- maps ----------------------------------------------------------------------------

def test_henon_map_through_the_generator():
    # Two-trajectory estimate using the generator itself as the step.
    step = lambda x: henon_map(2, x0=x, transient=0)[1]  # noqa: E731
    lam = map_lyapunov_exponent(step, henon_map(1, random_state=0)[0], n_steps=20_000,
                                random_state=0)
    assert lam == pytest.approx(LYAPUNOV_EXPONENTS["henon_map"].value, rel=0.03)


def test_logistic_map_tangent():
    step = lambda x: logistic_map(2, x0=float(x[0]), transient=0)[1]  # noqa: E731
    jvp = lambda x, v: 4.0 * (1.0 - 2.0 * x) * v  # noqa: E731
    lam = map_lyapunov_exponent(step, logistic_map(1, random_state=0)[0], jvp=jvp, n_steps=20_000,
                                random_state=0)
    assert lam == pytest.approx(math.log(2.0), rel=0.01)


def test_map_per_unit_time():
    # x -> 2x (mod nothing): growth ln 2 per step, ln 2 / 0.5 per time unit at dt = 0.5.
    lam = map_lyapunov_exponent(lambda x: 2.0 * x, [1e-3], n_steps=5, transient=0, dt=0.5,
                                random_state=0)
    assert lam == pytest.approx(2 * math.log(2.0), rel=1e-9)


# -- driven reservoirs ---------------------------------------------------------------------

@pytest.mark.parametrize("method", ["tangent", "two_trajectory"])
def test_linear_orthogonal_reservoir_contracts_at_log_rho(method):
    # x(t) = rho Q x(t-1) + ...: every perturbation shrinks by exactly rho per step.
    W = recurrent_weights(50, spectral_radius=0.8, topology="orthogonal", random_state=0)
    W_in = input_weights(50, 1, random_state=1)
    u = np.random.default_rng(2).uniform(-1, 1, (300, 1))
    lam = driven_lyapunov_exponent(W, W_in, np.zeros(50), u, activation="identity", method=method,
                                   washout=10, random_state=0)
    assert lam == pytest.approx(math.log(0.8), abs=1e-6)


def test_leaky_linear_reservoir():
    # J = (1 - a) I + a W with W = rho I: growth (1 - a + a rho) per step.
    W = 1.5 * np.eye(4)
    lam = driven_lyapunov_exponent(W, np.ones((4, 1)), np.zeros(4), np.zeros((50, 1)),
                                   leak_rate=0.2, activation="identity", washout=0, random_state=0)
    assert lam == pytest.approx(math.log(0.8 + 0.2 * 1.5), rel=1e-12)


def test_tanh_reservoir_methods_agree_and_scale_with_spectral_radius():
    u = np.random.default_rng(0).uniform(-1, 1, (1500, 1))
    W_in = input_weights(100, 1, input_scaling=0.5, random_state=1)
    results = {}
    for rho in (0.5, 0.95, 3.0):
        W = recurrent_weights(100, spectral_radius=rho, random_state=2)
        tangent = driven_lyapunov_exponent(W, W_in, np.zeros(100), u, random_state=0)
        two = driven_lyapunov_exponent(W, W_in, np.zeros(100), u, method="two_trajectory",
                                       random_state=0)
        assert two == pytest.approx(tangent, abs=0.01)
        results[rho] = tangent
    assert results[0.5] < results[0.95] < 0 < results[3.0]  # echo states, then chaos


def test_sparse_and_dense_w_agree():
    W = recurrent_weights(60, spectral_radius=1.2, density=0.2, random_state=3)
    assert scipy.sparse.issparse(W)
    W_in = input_weights(60, 2, random_state=4)
    u = np.random.default_rng(5).normal(size=(400, 2))
    b = np.full(60, 0.1)
    a = driven_lyapunov_exponent(W, W_in, b, u, leak_rate=0.5, random_state=0)
    d = driven_lyapunov_exponent(W.toarray(), W_in, b, u, leak_rate=0.5, random_state=0)
    assert a == pytest.approx(d, rel=1e-10)


@pytest.mark.parametrize("kwargs, message", [
    ({"W": np.zeros((3, 4))}, "W must be a square (n_units, n_units) matrix, got shape (3, 4)"),
    ({"W_in": np.zeros((5, 2))}, "W_in must have shape (4, n_features)"),
    ({"bias": np.zeros(3)}, "bias must have shape (4,), got shape (3,)"),
    ({"inputs": np.zeros((5, 1))}, "inputs has 5 time steps, which must exceed washout=10"),
    ({"leak_rate": 0.0}, "leak_rate must be in (0, 1], got 0.0"),
    ({"activation": "softplus"}, "activation must be one of"),
    ({"initial_state": np.zeros(2)}, "initial_state must have shape (4,), got shape (2,)"),
])
def test_driven_bad_input(kwargs, message):
    args = {"W": 0.5 * np.eye(4), "W_in": np.ones((4, 1)), "bias": np.zeros(4),
            "inputs": np.zeros((20, 1)), "washout": 10}
    args.update(kwargs)
    with pytest.raises(ValueError) as info:
        driven_lyapunov_exponent(**args)
    assert message in str(info.value)


@pytest.mark.skipif(ReservoirTransformer is None, reason="reservoir.ReservoirTransformer is not importable")
def test_reservoir_estimator_uses_its_fitted_weights():
    u = np.random.default_rng(0).uniform(-1, 1, (800, 1))
    esn = ReservoirTransformer(40, spectral_radius=0.9, leak_rate=0.7, random_state=0)
    unfitted = reservoir_lyapunov_exponent(esn, u, random_state=0)  # fits a clone
    assert not hasattr(esn, "W_")
    esn.fit(u)
    expected = driven_lyapunov_exponent(esn.W_, esn.W_in_, esn.bias_, u, leak_rate=0.7,
                                        random_state=0)
    assert reservoir_lyapunov_exponent(esn, u, random_state=0) == pytest.approx(expected, rel=1e-12)
    assert unfitted == pytest.approx(expected, rel=1e-12)
    assert expected < 0
