"""The host BLAS thread policy and the ridge statistics added on a background thread."""

import threading

import numpy as np
import pytest
from threadpoolctl import threadpool_info

from reservoir import ESNClassifier, ESNRegressor, _overlap, _states, runtime
from reservoir._backend import _SINGLE_THREAD_MAX_UNITS
from reservoir.readout import _ridge


def blas_threads():
    return sorted({lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"})


def spy_on(monkeypatch, owner, name):
    """Record the BLAS thread counts in force at every call of ``owner.name``."""
    record = []
    original = getattr(owner, name)

    def spy(*args, **kwargs):
        record.append(blas_threads())
        return original(*args, **kwargs)

    monkeypatch.setattr(owner, name, spy)
    return record


def test_small_fit_runs_blas_on_one_thread_and_restores_it(monkeypatch):
    """The solve, after the harvest and its background updates, is where the policy shows."""
    before = blas_threads()
    if before == [1]:
        pytest.skip("BLAS runs on one thread in this process already")
    updates = spy_on(monkeypatch, _ridge.GramAccumulator, "update")
    solves = spy_on(monkeypatch, _ridge.GramAccumulator, "solve")
    series = np.sin(0.1 * np.arange(300))[:, None]
    ESNRegressor(n_units=50, random_state=0).fit(series[:-1], series[1:])
    assert updates and all(threads == [1] for threads in updates)
    assert solves == [[1]]
    assert blas_threads() == before


def test_large_model_solves_with_the_blas_threads(monkeypatch):
    """Above the policy's size only the harvest (beside the background updates) is limited."""
    before = blas_threads()
    if before == [1]:
        pytest.skip("BLAS runs on one thread in this process already")
    solves = spy_on(monkeypatch, _ridge.GramAccumulator, "solve")
    series = np.sin(0.1 * np.arange(120))[:, None]
    ESNRegressor(n_units=_SINGLE_THREAD_MAX_UNITS + 1, density=0.02, random_state=0).fit(
        series[:-1], series[1:])
    assert solves == [before]
    assert blas_threads() == before


def test_classifier_fit_and_scoring_follow_the_policy(monkeypatch):
    """Threads in force whenever the reservoir runs, in fit and in decision_function."""
    runs = spy_on(monkeypatch, runtime, "iter_states")
    rng = np.random.default_rng(0)
    X = [rng.standard_normal((20, 2)) for _ in range(6)]
    y = [0, 1] * 3
    model = ESNClassifier(n_units=30, random_state=0).fit(X, y)
    fitted = len(runs)
    model.decision_function(X)
    assert fitted >= 1 and len(runs) > fitted
    assert all(threads == [1] for threads in runs)


def test_background_updates_give_the_sequential_statistics_bit_for_bit(monkeypatch):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((8, 3000, 2))
    y = np.roll(X[..., :1], 2, axis=1)
    fits = []
    for cpus in (1, 2):
        monkeypatch.setattr(_overlap, "_usable_cpus", lambda cpus=cpus: cpus)
        # Small chunks, so that several updates queue behind each other.
        monkeypatch.setattr(_states, "_CHUNK_ELEMENTS", 8 * 40 * 256)
        fits.append(ESNRegressor(n_units=40, washout=5, random_state=0).fit(X, y))
    np.testing.assert_array_equal(fits[0].readout_.coef_, fits[1].readout_.coef_)
    np.testing.assert_array_equal(fits[0].readout_.intercept_, fits[1].readout_.intercept_)


def test_an_error_in_a_background_update_reaches_the_caller(monkeypatch):
    monkeypatch.setattr(_overlap, "_usable_cpus", lambda: 2)

    def broken(self, X, Y):
        raise FloatingPointError("update failed")

    monkeypatch.setattr(_ridge.GramAccumulator, "update", broken)
    series = np.sin(0.1 * np.arange(200))[:, None]
    with pytest.raises(FloatingPointError, match="update failed"):
        ESNRegressor(n_units=20, random_state=0).fit(series[:-1], series[1:])
    assert not any(t.name.startswith("reservoir-ridge") for t in threading.enumerate())
