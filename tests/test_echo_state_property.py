"""The echo state property diagnostic: contracting reservoirs forget, expanding ones need not."""

import numpy as np
import pytest

from reservoir import ESNRegressor, ReservoirTransformer
from reservoir.diagnostics import echo_state_property

u = np.random.default_rng(0).uniform(-1, 1, (600, 1))


def test_contracting_reservoir_forgets_its_initial_state():
    tr = ReservoirTransformer(n_units=200, spectral_radius=0.8, random_state=0).fit(u)
    converged, forgetting_time, distance = echo_state_property(tr, u, random_state=1)
    assert converged
    assert 10 < forgetting_time < 300
    assert distance[0] > 1.0 and distance[-1] < 1e-8


def test_strongly_expanding_reservoir_with_weak_input_keeps_its_memory():
    # rho(W) = 3 and a faint input: the autonomous dynamics dominate and runs
    # from different initial states stay apart.
    tr = ReservoirTransformer(n_units=200, spectral_radius=3.0, input_scaling=0.01,
                              bias_scaling=0.0, random_state=0).fit(u)
    converged, forgetting_time, distance = echo_state_property(tr, u, random_state=1)
    assert not converged and forgetting_time is None
    assert distance[-1] > 1.0


def test_works_on_a_fitted_regressor_and_slower_leak_forgets_slower():
    fast = ESNRegressor(n_units=100, spectral_radius=0.9, random_state=0).fit(u, u[:, 0])
    slow = ESNRegressor(n_units=100, spectral_radius=0.9, leak_rate=0.2, random_state=0).fit(u, u[:, 0])
    _, t_fast, _ = echo_state_property(fast, u, random_state=0)
    _, t_slow, _ = echo_state_property(slow, u, random_state=0)
    assert t_slow > 2 * t_fast


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(n_initial_states=1), ValueError, r"n_initial_states must be in \[2, inf\]"),
        (dict(threshold=0.0), ValueError, "threshold must be in"),
        (dict(state_scale=-1.0), ValueError, "state_scale must be in"),
    ],
)
def test_bad_arguments(kwargs, error, match):
    tr = ReservoirTransformer(n_units=10, random_state=0).fit(u)
    with pytest.raises(error, match=match):
        echo_state_property(tr, u, **kwargs)


def test_needs_a_fitted_reservoir():
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        echo_state_property(ReservoirTransformer(), u)
