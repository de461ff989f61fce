"""The host BLAS thread policy: small models run NumPy's and SciPy's BLAS on one thread."""

import numpy as np
import pytest
from threadpoolctl import threadpool_info

from reservoir import ESNClassifier, ESNRegressor
from reservoir._backend import _SINGLE_THREAD_MAX_UNITS
from reservoir.readout import _ridge


def blas_threads():
    return sorted({lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"})


@pytest.fixture
def seen(monkeypatch):
    """Record the BLAS thread counts in force at every update of the ridge statistics."""
    record = []
    update = _ridge.GramAccumulator.update

    def spy(self, X, Y):
        record.append(blas_threads())
        return update(self, X, Y)

    monkeypatch.setattr(_ridge.GramAccumulator, "update", spy)
    return record


def test_small_fit_runs_blas_on_one_thread_and_restores_it(seen):
    before = blas_threads()
    series = np.sin(0.1 * np.arange(300))[:, None]
    ESNRegressor(n_units=50, random_state=0).fit(series[:-1], series[1:])
    assert seen and all(threads == [1] for threads in seen)
    assert blas_threads() == before


def test_large_model_keeps_the_blas_threads(seen):
    before = blas_threads()
    if before == [1]:
        pytest.skip("BLAS runs on one thread in this process already")
    series = np.sin(0.1 * np.arange(120))[:, None]
    ESNRegressor(n_units=_SINGLE_THREAD_MAX_UNITS + 1, density=0.02, random_state=0).fit(
        series[:-1], series[1:])
    assert seen and all(threads == before for threads in seen)


def test_classifier_fit_and_scoring_follow_the_policy(seen):
    rng = np.random.default_rng(0)
    X = [rng.standard_normal((20, 2)) for _ in range(6)]
    y = [0, 1] * 3
    model = ESNClassifier(n_units=30, random_state=0).fit(X, y)
    model.predict(X)
    assert seen and all(threads == [1] for threads in seen)
