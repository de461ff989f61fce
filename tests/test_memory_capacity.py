"""Memory capacity: exact cases, reservoirs built from the initializers, the estimator."""

import numpy as np
import pytest

from reservoir import ReservoirTransformer
from reservoir.initializers import input_weights, recurrent_weights
from reservoir.metrics import memory_capacity, memory_capacity_from_states


def _run(W, W_in, u, activation):
    """States x(t) = f(W x(t-1) + W_in u(t)) from x = 0, written out independently of esn.py."""
    x = np.zeros(W.shape[0])
    drive = np.outer(u, np.asarray(W_in)[:, 0])
    states = np.empty((len(u), W.shape[0]))
    for t in range(len(u)):
        x = activation(W @ x + drive[t])
        states[t] = x
    return states


@pytest.fixture(scope="module")
def iid_input():
    return np.random.default_rng(0).uniform(-0.8, 0.8, 7200)


def test_a_delay_line_remembers_exactly_its_length(iid_input):
    u = iid_input
    states = np.stack([np.roll(u, k) for k in range(6)], axis=1)  # u(t), ..., u(t-5)
    mc, curve = memory_capacity_from_states(states, u, max_delay=12, return_curve=True)
    np.testing.assert_allclose(curve[:5], 1.0, atol=1e-12)
    # delays 6-12 are not in the states: only chance correlations (~1/n_test) remain
    np.testing.assert_allclose(curve[5:], 0.0, atol=2e-3)
    assert mc == pytest.approx(5.0, abs=0.01)


def test_states_unrelated_to_the_input_have_no_memory(iid_input):
    noise = np.random.default_rng(1).normal(size=(len(iid_input), 20))
    assert memory_capacity_from_states(noise, iid_input, max_delay=40, washout=100) < 0.2


def test_linear_orthogonal_reservoir_reaches_nearly_n_units(iid_input):
    # Jaeger: MC <= N, approached by a linear reservoir whose W is orthogonal.
    W = recurrent_weights(100, spectral_radius=0.99, topology="orthogonal", random_state=1)
    W_in = input_weights(100, 1, random_state=2)
    states = _run(W, W_in, iid_input, lambda z: z)
    mc = memory_capacity_from_states(states, iid_input, max_delay=200, washout=200, test_size=2000)
    assert 90 <= mc <= 100


def test_tanh_reservoir_memory_in_the_published_range(iid_input):
    # spectral radius 0.9, input scaling 0.1, no bias: 20-45 is what the
    # literature reports for 100 tanh units (Jaeger 2001 and later work).
    W = recurrent_weights(100, spectral_radius=0.9, random_state=0)
    W_in = input_weights(100, 1, input_scaling=0.1, random_state=100)
    states = _run(W, W_in, iid_input, np.tanh)
    mc, curve = memory_capacity_from_states(states, iid_input, max_delay=200, washout=200,
                                            test_size=2000, return_curve=True)
    assert 20 <= mc <= 45
    assert curve[0] > 0.95 and curve[-1] < 0.01  # remembers the last input, forgets old ones


def test_held_out_scoring_removes_the_training_bias(iid_input):
    # Scored on its own training data, a readout finds "memory" in pure noise.
    noise = np.random.default_rng(2).normal(size=(600, 50))
    u = iid_input[:600]
    held_out = memory_capacity_from_states(noise, u, max_delay=40, test_size=0.5)
    assert held_out < 2.0  # about max_delay / n_test
    X = noise[40:340] - noise[40:340].mean(axis=0)
    in_sample = sum(
        np.corrcoef(X @ np.linalg.lstsq(X, u[40 - k:340 - k] - u[40 - k:340 - k].mean(), rcond=None)[0],
                    u[40 - k:340 - k])[0, 1] ** 2
        for k in range(1, 41)
    )
    assert in_sample > 5 * held_out


@pytest.mark.parametrize("kwargs, message", [
    ({"inputs": np.zeros(99)}, "same number of time steps, got 100 and 99"),
    ({"inputs": np.zeros((100, 2))}, "inputs must have shape (n_timesteps,) or (n_timesteps, 1)"),
    ({"states": np.zeros(100)}, "states must have shape (n_timesteps, n_units)"),
    ({"max_delay": 0}, "max_delay must be in [1, inf], got 0"),
    ({"max_delay": 95}, "leave 5 after dropping max(washout, max_delay)=95"),
    ({"alpha": -1.0}, "alpha must be in [0, inf], got -1.0"),
    ({"test_size": 1.5}, "test_size must be in (0, 1), got 1.5"),
    ({"states": np.full((100, 3), np.nan)}, "states and inputs must be finite"),
])
def test_bad_input(kwargs, message):
    rng = np.random.default_rng(0)
    args = {"states": rng.normal(size=(100, 3)), "inputs": rng.uniform(size=100), "max_delay": 5}
    args.update(kwargs)
    with pytest.raises(ValueError) as info:
        memory_capacity_from_states(**args)
    assert message in str(info.value)


# -- with the estimator ---------------------------------------------------------------

def test_estimator_linear_orthogonal_reservoir():
    esn = ReservoirTransformer(100, spectral_radius=0.99, topology="orthogonal",
                               activation="identity", random_state=0)
    mc, curve = memory_capacity(esn, random_state=0, return_curve=True)
    assert 90 <= mc <= 100
    assert curve.shape == (200,)
    assert not hasattr(esn, "W_")  # the estimator given is cloned, never fitted


@pytest.mark.parametrize("seed", [0, 1])
def test_estimator_tanh_reservoir(seed):
    esn = ReservoirTransformer(100, spectral_radius=0.9, input_scaling=0.1, bias_scaling=0.0,
                               random_state=seed)
    assert 20 <= memory_capacity(esn, random_state=seed) <= 45


def test_estimator_agrees_with_states_collected_by_hand():
    esn = ReservoirTransformer(30, spectral_radius=0.8, input_scaling=0.5, bias_scaling=0.0,
                               random_state=3)
    u = np.random.default_rng(4).uniform(-0.8, 0.8, (3000, 1))
    fitted = esn.fit(u)
    by_hand = _run(np.asarray(fitted.W_.toarray() if hasattr(fitted.W_, "toarray") else fitted.W_),
                   fitted.W_in_, u[:, 0], np.tanh)
    expected = memory_capacity_from_states(by_hand, u, max_delay=60, washout=200, test_size=1000)
    got = memory_capacity(esn, max_delay=60, n_timesteps=3000, test_size=1000, random_state=4)
    assert got == pytest.approx(expected, rel=1e-8)
