"""Fitting from Dask collections, and the package's parallel work on a Dask cluster.

The references are the in-memory fits: the ridge statistics are sums over
series, so the map-reduce over a cluster must give the in-memory fit's
coefficients to rounding. The cluster is a LocalCluster of two worker
processes on the loopback interface, started once for the module; tests that
need no cluster run first, on Dask's local scheduler.
"""

import logging
import os
import subprocess
import sys
import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from reservoir import (
    DeepESNRegressor,
    ESNClassifier,
    ESNRegressor,
    ParallelESNRegressor,
    ReservoirEnsembleClassifier,
)
from reservoir.readout import GramAccumulator, RLSReadout

DASK_REASON = "fitting from Dask collections needs the dask extra: pip install 'reservoir-esn[dask]'"


def relative_error(a, b):
    return float(np.max(np.abs(np.asarray(a) - np.asarray(b))) / np.max(np.abs(np.asarray(b))))


def assert_same_fit(model, reference, *, rtol=1e-10):
    """Coefficients to ``rtol`` relative, and what the model keeps of the data's end."""
    assert relative_error(model.readout_.coef_, reference.readout_.coef_) < rtol
    assert_allclose(model.readout_.intercept_, reference.readout_.intercept_, rtol=rtol,
                    atol=rtol * np.max(np.abs(reference.readout_.coef_)))
    assert_allclose(model.final_state_, reference.final_state_, rtol=0, atol=1e-12)
    assert model._fit_layout == reference._fit_layout
    assert model._one_step_ahead == reference._one_step_ahead
    assert model.n_features_in_ == reference.n_features_in_
    for name in ("_final_target", "_target_range"):
        if hasattr(reference, name):
            assert_array_equal(getattr(model, name), getattr(reference, name))


@pytest.fixture(scope="module")
def da():
    return pytest.importorskip("dask.array", reason=DASK_REASON)


@pytest.fixture(scope="module")
def series():
    """12 series of 150 steps, 3 inputs, 2 targets (a delay and a product)."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((12, 150, 3))
    y = np.stack([np.roll(X[..., 0], 2, axis=1), X[..., 1] * X[..., 2]], axis=-1)
    return X, y


MODEL = dict(n_units=40, washout=10, alpha=1e-3, random_state=0)


# --------------------------------------------------------------------- without Dask


def test_merged_statistics_equal_one_accumulator_and_the_closed_form():
    rng = np.random.default_rng(1)
    # Means far from zero: raw sums would cancel, the centred merge must not.
    X = 1e3 + rng.standard_normal((200, 4))
    Y = X @ rng.standard_normal((4, 2)) - 5e2 + rng.standard_normal((200, 2))
    for fit_intercept in (True, False):
        whole = GramAccumulator(4, 2, np, fit_intercept=fit_intercept).update(X, Y)
        pieces = [GramAccumulator(4, 2, np, fit_intercept=fit_intercept).update(X[a:b], Y[a:b])
                  for a, b in ((0, 13), (13, 13), (13, 90), (90, 91), (91, 200))]
        # A tree: ((0 + 1) + (2 + 3)) + 4, with an empty piece in it.
        left = pieces[0].merge(pieces[1])
        right = pieces[2].merge(pieces[3])
        merged = left.merge(right).merge(pieces[4])
        assert merged.n_samples == 200
        if fit_intercept:
            Xc, Yc = X - X.mean(axis=0), Y - Y.mean(axis=0)
            assert_allclose(merged.xx, Xc.T @ Xc, rtol=1e-10)
            assert_allclose(merged.xy, Xc.T @ Yc, rtol=1e-10)
            assert_allclose(merged.mean_x, X.mean(axis=0), rtol=1e-14)
            coef, intercept = merged.solve(1e-3)
            coef_whole, intercept_whole = whole.solve(1e-3)
            assert_allclose(coef, coef_whole, rtol=1e-10)
            assert_allclose(intercept, intercept_whole, rtol=1e-10)
        else:
            # Raw moments add up, with nothing to centre.
            assert_allclose(merged.xx, X.T @ X, rtol=1e-14)
            assert_allclose(merged.xy, X.T @ Y, rtol=1e-14)


def test_merging_into_an_empty_accumulator_and_a_shallow_copy_leaves_the_original():
    rng = np.random.default_rng(2)
    X, Y = rng.standard_normal((30, 3)), rng.standard_normal((30, 1))
    full = GramAccumulator(3, 1, np).update(X, Y)
    empty = GramAccumulator(3, 1, np)
    assert_array_equal(empty.merge(full).xx, full.xx)
    import copy

    original = GramAccumulator(3, 1, np).update(X[:10], Y[:10])
    before = original.xx.copy()
    copy.copy(original).merge(GramAccumulator(3, 1, np).update(X[10:], Y[10:]))
    assert_array_equal(original.xx, before)
    assert original.n_samples == 10


@pytest.mark.parametrize("other, message", [
    (GramAccumulator(4, 1, np), "different shapes"),
    (GramAccumulator(3, 2, np), "different shapes"),
    (GramAccumulator(3, 1, np, fit_intercept=False), "intercept"),
])
def test_merging_mismatched_statistics_is_a_clear_error(other, message):
    with pytest.raises(ValueError, match=message):
        GramAccumulator(3, 1, np).merge(other)


def test_the_package_imports_and_fits_when_dask_cannot_be_imported():
    code = """
import sys
sys.modules["dask"] = None          # any `import dask` now raises ImportError
sys.modules["distributed"] = None
import numpy as np
import reservoir
assert sys.modules["dask"] is None, "the package replaced the blocked dask"
rng = np.random.default_rng(0)
X = rng.standard_normal((4, 60, 2))
model = reservoir.ESNRegressor(n_units=20, washout=5, random_state=0).fit(X, X[..., :1])
assert model.predict(X).shape == (4, 60, 1)
reservoir.ESNClassifier(n_units=20, random_state=0).fit(X, np.array([0, 1, 0, 1]))
reservoir.ParallelESNRegressor(n_units=10, shared_weights=False, random_state=0).fit(X[0], X[0])
assert not reservoir.distributed.is_dask_collection(X)
"""
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_importing_the_package_never_imports_dask():
    code = "import sys, reservoir; assert 'dask' not in sys.modules, 'dask was imported'"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


# --------------------------------------------------------------------- Dask's local scheduler


def _no_client():
    distributed = sys.modules.get("distributed")
    if distributed is not None:
        try:
            distributed.default_client()
        except ValueError:
            return
        pytest.skip("a Dask client is active; this test runs on Dask's local scheduler")


def mackey_glass_pairs(mackey_glass_series, n_steps=3000):
    s = np.reshape(mackey_glass_series, (-1, 1))[:n_steps + 1]
    return s[:-1], s[1:]


def test_one_series_in_time_chunks_with_the_whole_past_as_overlap_is_exact(
        da, mackey_glass_series):
    from reservoir.distributed import fit

    _no_client()
    X, y = mackey_glass_pairs(mackey_glass_series)
    params = dict(n_units=50, washout=100, alpha=1e-2, random_state=0)
    reference = ESNRegressor(**params).fit(X, y)
    # Every chunk runs from the series' start: the sequential fit's states.
    model = fit(ESNRegressor(**params), da.from_array(X, chunks=(700, 1)), y, overlap=len(X))
    assert_same_fit(model, reference)
    assert model._one_step_ahead


def test_time_chunk_error_falls_with_the_overlap(da, mackey_glass_series):
    from reservoir.distributed import fit

    _no_client()
    X, y = mackey_glass_pairs(mackey_glass_series)
    params = dict(n_units=50, washout=100, alpha=1e-4, spectral_radius=0.9, random_state=0)
    reference = ESNRegressor(**params).fit(X, y)
    errors = [relative_error(fit(ESNRegressor(**params), da.from_array(X, chunks=(500, 1)), y,
                                 overlap=overlap).readout_.coef_, reference.readout_.coef_)
              for overlap in (2, 20, 200)]
    # The state forgets the chunk's zero start geometrically (the echo state property).
    assert errors[0] > 10 * errors[1] > 100 * errors[2]
    assert errors[0] > 1e-3 and errors[2] < 1e-6


def test_fit_of_one_series_uses_the_washout_as_overlap(da, mackey_glass_series):
    from reservoir.distributed import fit

    _no_client()
    X, y = mackey_glass_pairs(mackey_glass_series, 1000)
    params = dict(n_units=30, washout=60, alpha=1e-4, random_state=0)
    chunked = da.from_array(X, chunks=(300, 1))
    by_fit = ESNRegressor(**params).fit(chunked, y)
    explicit = fit(ESNRegressor(**params), chunked, y, overlap=60)
    assert_array_equal(by_fit.readout_.coef_, explicit.readout_.coef_)
    with pytest.raises(ValueError, match="needs an overlap"):
        ESNRegressor(n_units=30, washout=0).fit(chunked, y)


def test_per_step_classification_of_one_series_in_time_chunks(da):
    from reservoir.distributed import fit

    _no_client()
    rng = np.random.default_rng(5)
    labels = np.repeat(rng.integers(0, 3, size=40), 25)            # 1000 steps, runs of 25
    X = np.eye(3)[labels] + 0.3 * rng.standard_normal((1000, 3))
    params = dict(n_units=30, washout=10, alpha=1e-2, random_state=0)
    reference = ESNClassifier(**params).fit(X, labels)
    chunked = da.from_array(X, chunks=(250, 3))
    exact = fit(ESNClassifier(**params), chunked, labels, overlap=1000)
    assert relative_error(exact.readout_.coef_, reference.readout_.coef_) < 1e-10
    approximate = ESNClassifier(**params).fit(chunked, labels)     # overlap = washout = 10
    assert 1e-8 < relative_error(approximate.readout_.coef_, reference.readout_.coef_) < 0.5
    assert_array_equal(exact.predict(X), reference.predict(X))
    with pytest.raises(ValueError, match="bidirectional"):
        ESNClassifier(**params, bidirectional=True).fit(chunked, labels)


def test_training_noise_is_drawn_per_block_and_reproducible(da, series):
    _no_client()
    X, y = series
    chunked = da.from_array(X, chunks=(4, 150, 3))
    noisy = [ESNRegressor(**MODEL, noise_level=1e-2, input_noise=1e-2).fit(chunked, y)
             for _ in range(2)]
    assert_array_equal(noisy[0].readout_.coef_, noisy[1].readout_.coef_)
    clean = ESNRegressor(**MODEL).fit(chunked, y)
    assert relative_error(noisy[0].readout_.coef_, clean.readout_.coef_) > 1e-4


@pytest.mark.parametrize("make, message", [
    (lambda da, X, y: (ESNRegressor(readout=RLSReadout()), da.from_array(X), y), "step after step"),
    (lambda da, X, y: (ESNRegressor(washout=5), da.from_array(X[0]), y[0, :100]), "150 time steps"),
    (lambda da, X, y: (ESNRegressor(), da.from_array(X), y[:5]), "12 series"),
    (lambda da, X, y: (ESNRegressor(washout=200), da.from_array(X), y), "fewer than the 201"),
    (lambda da, X, y: (ESNRegressor(), da.from_array(X[..., None]), y), "must be 3-D"),
])
def test_bad_collections_are_clear_errors(da, series, make, message):
    _no_client()
    X, y = series
    estimator, Xd, yd = make(da, X, y)
    with pytest.raises(ValueError, match=message):
        estimator.fit(Xd, yd)


def test_one_series_in_one_chunk_is_the_in_memory_fit(da, series):
    _no_client()
    X, y = series
    model = ESNRegressor(**MODEL).fit(da.from_array(X[0]), y[0])
    assert_same_fit(model, ESNRegressor(**MODEL).fit(X[0], y[0]))
    assert model.final_state_.shape == (40,)


def test_overlap_is_refused_for_whole_series(da, series):
    from reservoir.distributed import fit

    X, y = series
    with pytest.raises(ValueError, match="overlap=5 applies to one series"):
        fit(ESNRegressor(), da.from_array(X), y, overlap=5)


# --------------------------------------------------------------------- a cluster


@pytest.fixture(scope="module")
def client(request):
    """Two worker processes on 127.0.0.1, one thread each, no dashboards."""
    pytest.importorskip("distributed", reason=DASK_REASON)
    from distributed import Client, LocalCluster

    with warnings.catch_warnings():
        # With the dashboard off, a health-check HTTP server still listens on
        # 127.0.0.1, and moves off a busy port 8787 with a warning.
        warnings.simplefilter("ignore", UserWarning)
        cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                               host="127.0.0.1", dashboard_address=None,
                               silence_logs=logging.CRITICAL, death_timeout=30,
                               memory_limit="2GiB")
    client = Client(cluster, timeout=30)

    def close():
        client.close(timeout=20)
        cluster.close(timeout=20)

    request.addfinalizer(close)
    return client


@pytest.mark.parametrize("params", [
    MODEL,
    {**MODEL, "feedback_scaling": 0.5, "readout_features": ("constant", "state", "squared_state")},
], ids=["plain", "feedback"])
def test_fit_from_an_array_chunked_along_series_matches_the_in_memory_fit(
        client, da, series, params):
    X, y = series
    reference = ESNRegressor(**params).fit(X, y)
    model = ESNRegressor(**params).fit(da.from_array(X, chunks=(5, 75, 3)), da.from_array(y))
    assert_same_fit(model, reference)
    assert isinstance(model.readout_.coef_, np.ndarray)
    assert_allclose(model.predict(X[:, :20]), reference.predict(X[:, :20]), rtol=1e-9, atol=1e-9)


def test_the_model_goes_to_every_worker_once_and_tasks_refer_to_it(client, da, series,
                                                                   monkeypatch):
    from distributed import Client, Future

    scattered = []
    original = Client.scatter

    def recording_scatter(self, data, **kwargs):
        future = original(self, data, **kwargs)
        scattered.append((data, kwargs, future, self.who_has(future)))
        return future

    monkeypatch.setattr(Client, "scatter", recording_scatter)
    X, y = series
    model = ESNRegressor(**MODEL).fit(da.from_array(X, chunks=(2, 150, 3)), y)
    ((data, kwargs, future, who_has),) = scattered       # once for six tasks
    assert data is model and kwargs["broadcast"] and isinstance(future, Future)
    assert set(who_has[future.key]) == set(client.scheduler_info()["workers"])


def test_deep_esn_and_one_dimensional_targets_from_a_cluster(client, da, series):
    X, y = series
    params = dict(n_layers=2, n_units=20, washout=5, alpha=1e-3, random_state=1)
    reference = DeepESNRegressor(**params).fit(X, y[..., 1])
    model = DeepESNRegressor(**params).fit(da.from_array(X, chunks=(4, 150, 3)), y[..., 1])
    assert_same_fit(model, reference)
    assert model.readout_.coef_.ndim == 1


def test_partial_fit_continues_a_distributed_fit_as_it_continues_an_in_memory_one(
        client, da, series):
    X, y = series
    reference = ESNRegressor(**MODEL).fit(X[:, :100], y[:, :100]).partial_fit(X[:, 100:],
                                                                             y[:, 100:])
    model = ESNRegressor(**MODEL).fit(da.from_array(X[:, :100], chunks=(6, 100, 3)), y[:, :100])
    model.partial_fit(X[:, 100:], y[:, 100:])
    assert_same_fit(model, reference)


def test_ragged_series_from_a_bag_and_from_a_list_of_delayed(client, series):
    db = pytest.importorskip("dask.bag", reason=DASK_REASON)
    from dask import delayed

    X, y = series
    lengths = [150, 60, 90, 150, 31, 120, 77, 150, 100, 45, 12, 150]
    Xs = [X[i, :n] for i, n in enumerate(lengths)]
    ys = [y[i, :n] for i, n in enumerate(lengths)]
    reference = ESNRegressor(**MODEL).fit(Xs, ys)
    from_bag = ESNRegressor(**MODEL).fit(db.from_sequence(Xs, npartitions=4),
                                         db.from_sequence(ys, npartitions=4))
    assert_same_fit(from_bag, reference)
    from_list = ESNRegressor(**MODEL).fit([delayed(np.asarray)(x) for x in Xs], ys)
    assert_same_fit(from_list, reference)
    assert_allclose(from_list.predict(Xs)[4], reference.predict(Xs)[4], rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("params", [{}, {"bidirectional": True, "pooling": "last"}],
                         ids=["mean", "bidirectional-last"])
def test_classifier_from_a_cluster_with_per_series_and_per_step_labels(client, da, params):
    rng = np.random.default_rng(3)
    t = np.linspace(0, 6 * np.pi, 80)[:, None]
    X = np.stack([np.sin(t * (1 + k % 3)) + 0.2 * rng.standard_normal(t.shape) for k in range(30)])
    labels = np.array(["low", "mid", "high"])[np.arange(30) % 3]
    params = dict(n_units=30, washout=8, alpha=1e-2, random_state=0, **params)
    reference = ESNClassifier(**params).fit(X, labels)
    model = ESNClassifier(**params).fit(da.from_array(X, chunks=(7, 80, 1)), labels)
    assert_array_equal(model.classes_, reference.classes_)
    assert relative_error(model.readout_.coef_, reference.readout_.coef_) < 1e-10
    assert_array_equal(model.predict(X), reference.predict(X))
    per_step = np.repeat(labels[:, None], 80, axis=1)
    reference = ESNClassifier(**params).fit(X, per_step)
    model = ESNClassifier(**params).fit(da.from_array(X, chunks=(10, 80, 1)), per_step)
    assert relative_error(model.readout_.coef_, reference.readout_.coef_) < 1e-10
    assert model._per_series is False


def test_a_worker_killed_mid_fit_is_replaced_and_its_task_rerun_exactly(
        client, da, series, tmp_path):
    """The first statistics task to start kills its worker process; Dask reruns it."""
    X, y = series
    killed, runs = tmp_path / "killed", tmp_path / "runs"

    class KillsItsWorkerOnce(ESNRegressor):
        def _run_states(self, *args, **kwargs):
            from distributed import get_worker

            get_worker()                # a ValueError, not an exit, outside a worker
            with open(runs, "a") as log:
                log.write("run\n")
            try:
                # Exactly one task, whichever starts first, creates the marker.
                os.close(os.open(killed, os.O_CREAT | os.O_EXCL))
            except FileExistsError:
                return super()._run_states(*args, **kwargs)
            os._exit(1)

    reference = ESNRegressor(**MODEL).fit(X, y)
    n_workers = len(client.scheduler_info()["workers"])
    model = KillsItsWorkerOnce(**MODEL).fit(da.from_array(X, chunks=(3, 150, 3)), y)
    assert killed.exists()
    assert len(runs.read_text().splitlines()) >= 4 + 1   # four blocks and one rerun
    assert_same_fit(model, reference)
    # The nanny restarts the worker, for the tests after this one.
    client.wait_for_workers(n_workers, timeout=30)


def _searches(n_jobs):
    from sklearn.model_selection import GridSearchCV, TimeSeriesSplit

    from reservoir.model_selection import washout_scorer

    return GridSearchCV(ESNRegressor(n_units=30, washout=20, random_state=0),
                        {"spectral_radius": [0.3, 0.9, 1.3], "alpha": [1e-8, 1e-2]},
                        cv=TimeSeriesSplit(n_splits=3), scoring=washout_scorer(), n_jobs=n_jobs)


def test_grid_search_on_the_dask_joblib_backend_equals_the_sequential_search(
        client, mackey_glass_series):
    import joblib
    from distributed import get_task_stream

    X, y = mackey_glass_pairs(mackey_glass_series, 1200)
    sequential = _searches(n_jobs=1).fit(X, y)
    with get_task_stream(client) as stream, joblib.parallel_config(backend="dask"):
        on_cluster = _searches(n_jobs=-1).fit(X, y)
    # The fits ran on the workers (joblib batches them into tasks as it sees fit).
    assert stream.data and {t["worker"] for t in stream.data} <= set(client.scheduler_info()["workers"])
    assert on_cluster.best_params_ == sequential.best_params_
    for key in ("mean_test_score", *(f"split{i}_test_score" for i in range(3))):
        assert_allclose(on_cluster.cv_results_[key], sequential.cv_results_[key], rtol=1e-12)
    # No ties: agreeing on the best candidate means agreeing on every score's rank.
    scores = sequential.cv_results_["mean_test_score"]
    assert np.min(np.diff(np.sort(scores))) > 1e-6


def test_parallel_groups_and_ensemble_members_fit_on_the_dask_backend(client):
    import joblib
    from distributed import get_task_stream

    rng = np.random.default_rng(4)
    field = np.cumsum(rng.standard_normal((300, 8)), axis=0) * 0.1
    params = dict(n_units=20, n_groups=4, locality=1, washout=10, shared_weights=False,
                  random_state=0)
    sequential = ParallelESNRegressor(**params).fit(field[:-1], field[1:])
    with get_task_stream(client) as stream, joblib.parallel_config(backend="dask"):
        on_cluster = ParallelESNRegressor(**params, n_jobs=-1).fit(field[:-1], field[1:])
    assert stream.data                         # the groups' fits ran on the workers
    for a, b in zip(on_cluster.estimators_, sequential.estimators_, strict=True):
        assert_array_equal(a.readout_.coef_, b.readout_.coef_)
    assert_array_equal(on_cluster.forecast(5), sequential.forecast(5))

    X = [field[i:i + 40] for i in range(0, 240, 20)]
    labels = np.arange(len(X)) % 2
    member = ESNClassifier(n_units=10, washout=5)
    sequential = ReservoirEnsembleClassifier(member, n_estimators=3, random_state=0).fit(X, labels)
    with joblib.parallel_config(backend="dask"):
        on_cluster = ReservoirEnsembleClassifier(member, n_estimators=3, random_state=0,
                                                 n_jobs=-1).fit(X, labels)
    assert_array_equal(on_cluster.decision_function(X), sequential.decision_function(X))
