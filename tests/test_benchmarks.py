"""The benchmark entry points run end to end (on a small budget) and produce their outputs."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytest.importorskip("matplotlib")
pytest.importorskip("tqdm")


def _run(*args, timeout=120):
    return subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout, check=False)


def test_quick_lorenz63_esn_writes_table_json_and_plots(tmp_path):
    out = tmp_path / "results"
    proc = _run("-m", "benchmarks", "quick", "--tasks", "lorenz63", "--models", "esn",
                "--out", str(out), "--no-progress")
    assert proc.returncode == 0, proc.stderr[-3000:]
    header = proc.stdout.splitlines()[0].split()
    assert header[:4] == ["task", "model", "units", "metric"]
    assert any(line.startswith("lorenz63") and " esn " in line for line in proc.stdout.splitlines())

    doc = json.loads((out / "results.json").read_text())
    assert doc["mode"] == "quick"
    assert {"cpu", "cores", "memory_gib", "python", "numpy", "scipy"} <= set(doc["machine"])
    (row,) = doc["results"]
    assert (row["task"], row["model"]) == ("lorenz63", "esn")
    assert row["n"] == 10 and len(row["values"]) == 10
    # A tuned reservoir forecasts Lorenz-63 for several Lyapunov times.
    assert row["mean"] > 3
    assert row["fit_time_s"] > 0 and row["predict_time_s"] > 0

    for name in ("lorenz63_forecast.png", "vpt_distribution.png"):
        assert name in doc["plots"]
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_bad_arguments_are_reported():
    proc = _run("-m", "benchmarks", "quick", "--tasks", "lorenz64")
    assert proc.returncode == 2
    assert "lorenz64" in proc.stderr and "lorenz63" in proc.stderr


def test_search_entry_runs_without_writing():
    configs = sorted(p.read_text() for p in (ROOT / "benchmarks" / "configs").glob("*.json"))
    proc = _run("-m", "benchmarks.search", "narma10", "--n-iter", "2", "--n-keep", "1",
                "--n-reseeds", "1")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "best:" in proc.stdout
    assert sorted(p.read_text() for p in (ROOT / "benchmarks" / "configs").glob("*.json")) == configs


def test_search_perturbation_stays_in_range_and_reaches_every_neighbour():
    import numpy as np
    from scipy.stats import loguniform, randint, uniform

    from benchmarks import search

    rng = np.random.default_rng(0)
    logs = [search._perturb(0.02, loguniform(0.01, 1.0), rng) for _ in range(400)]
    linear = [search._perturb(1.5, uniform(0.3, 1.3), rng) for _ in range(400)]
    ints = [search._perturb(3, randint(1, 4), rng) for _ in range(400)]
    choices = [search._perturb("a", ["a", "b", "c"], rng) for _ in range(600)]
    assert min(logs) >= 0.01 and max(logs) <= 1.0
    assert min(linear) >= 0.3 and max(linear) <= 1.6
    # A log-normal step of spread 0.5 around 0.02: half the steps go down (clipped at 0.01).
    assert 0.35 < np.mean(np.array(logs) < 0.02) < 0.65
    # A relative step of 15% around 1.5, clipped at the upper end 1.6.
    assert np.mean(np.array(linear) == 1.6) == pytest.approx(0.33, abs=0.08)
    # An integer moves to a neighbour: 2 or 3 (4 is clipped to 3), half each.
    assert set(ints) == {2, 3} and 0.4 < np.mean(np.array(ints) == 2) < 0.6
    # A categorical choice is a fresh uniform draw.
    counts = [choices.count(c) for c in "abc"]
    assert all(150 < n < 250 for n in counts), counts


def test_search_refinement_keeps_the_best_point_it_scored(monkeypatch):
    """On a known objective, refinement returns the best of the start and every point it scored."""
    import numpy as np
    from scipy.stats import loguniform, uniform

    from benchmarks import search

    seen = []

    def score_points(estimator, points, problem, *, n_jobs):
        # Best at alpha = 1e-6 and spectral_radius = 0.9; the seed shifts every score alike.
        scores = [-(np.log10(p["alpha"]) + 6) ** 2 - (p["spectral_radius"] - 0.9) ** 2
                  - 0.01 * p["random_state"] for p in points]
        seen.append(({k: v for k, v in points[0].items() if k != "random_state"}, np.mean(scores)))
        return scores

    class Problem:
        @staticmethod
        def value(score):
            return -score

    monkeypatch.setattr(search, "_score_points", score_points)
    space = {"alpha": loguniform(1e-9, 1e-2), "spectral_radius": uniform(0.5, 1.0),
             "washout": [100]}
    start = search._summarise(dict(params={"alpha": 1e-3, "spectral_radius": 1.4}, scores=[-9.81],
                                   values=[9.81], error=None, seconds=None))
    best = search._refine(start, 30, space=space, estimator=None, problem=Problem(), seeds=[0, 1],
                          seed=0, n_jobs=None)
    # The start was scored again on both seeds, then 30 refinement steps.
    assert len(seen) == 31
    best_seen = max(seen, key=lambda item: item[1])
    assert best["mean_score"] == best_seen[1]
    assert best["params"] == best_seen[0]
    assert best["refined"] and best["mean_score"] > seen[0][1] + 1.0
    assert 1e-9 <= best["params"]["alpha"] <= 1e-2 and 0.5 <= best["params"]["spectral_radius"] <= 1.5


def test_search_with_refinement_never_ranks_below_the_plain_search():
    kwargs = dict(n_iter=2, n_keep=1, n_reseeds=1, units=30, progress=False, cache_dir=None)
    from benchmarks import search

    plain, _ = search.search("narma10", **kwargs)
    best, ranked = search.search("narma10", refine=3, **kwargs)
    assert best is ranked[0]
    assert len(best["values"]) == 2
    assert best["mean_score"] >= plain["mean_score"]
    assert plain["params"] in [entry["params"] for entry in ranked]


def test_search_scores_narma10_after_the_washout_and_reseeds_the_reservoir():
    import numpy as np

    from benchmarks import search
    from benchmarks.models import make_model
    from benchmarks.tasks import narma_data
    from reservoir.metrics import nrmse

    best, _ = search.search("narma10", n_iter=1, n_keep=1, n_reseeds=1, units=30, start=False,
                            progress=False, cache_dir=None)
    # The second score is the reservoir of seed 1000 + 100 on the same data: fitted on the
    # training part, the test part predicted from the zero state, its washout left out.
    data = narma_data(1000)
    n_fit = data["n_fit"]
    model, _ = make_model("esn", "narma10", mode="quick", seed=1100,
                          overrides={"washout": 200, **best["params"]})
    X, Y = data["X"].reshape(-1, 1), data["Y"].reshape(-1, 1)
    model.fit(X[:n_fit], Y[:n_fit])
    pred = model.predict(X[n_fit:])
    expected = nrmse(Y[n_fit + 200:], pred[200:])
    assert best["values"][1] == pytest.approx(expected, rel=1e-9)
    assert best["scores"][1] == pytest.approx(-np.log10(expected), rel=1e-9)


def test_search_validation_score_is_the_benchmark_protocols_metric(tmp_path):
    from sklearn.model_selection import cross_validate

    from benchmarks import search
    from benchmarks.models import make_model
    from benchmarks.tasks import Backend, run_task

    # Mackey-Glass NRMSE84 of one candidate on the validation seed: the search's
    # splitter and scorer against the benchmark's own loop on the same trajectory.
    problem = search.validation_problem("mackey_glass", 1000, cache_dir=tmp_path)
    overrides = {"n_units": 60, "alpha": 1e-8}
    model, _ = make_model("esn", "mackey_glass", mode="quick", seed=1000,
                          overrides={"washout": problem.spinup, **overrides})
    score = cross_validate(model, problem.X, problem.y, cv=problem.cv, scoring=problem.scoring,
                           error_score="raise")["test_score"][0]
    (row, _) = run_task("mackey_glass", "esn", "quick", 1000, backend=Backend(), cache_dir=tmp_path,
                        overrides=overrides)
    assert row["metric"] == "NRMSE84"
    assert problem.value(score) == pytest.approx(row["mean"], rel=1e-9)


def test_every_model_is_a_scikit_learn_estimator_that_searches_can_tune():
    from sklearn.base import clone

    from benchmarks.models import make_model, reservoirpy_available
    from benchmarks.tasks import DETERMINISTIC_MODELS, TASK_MODELS
    from reservoir import ESNRegressor, ParallelESNRegressor

    for task, names in TASK_MODELS.items():
        if task == "memory_capacity":     # a fixed reservoir's property: no model is fitted
            continue
        # The online readouts' task builds fixed protocol models (benchmarks/online.py);
        # the classifiers are checked in test_benchmark_tasks.py.
        if task in ("online_readouts", "japanese_vowels"):
            continue
        for name in names:
            if name == "reservoirpy" and not reservoirpy_available():
                continue
            model, params = make_model(name, task, mode="quick", seed=3, overrides=None)
            assert clone(model).get_params() == model.get_params()
            if name not in DETERMINISTIC_MODELS:     # NVAR draws nothing at random
                assert model.get_params()["random_state"] == 3
            if name == "esn":
                spatial = task in ("lorenz96", "kuramoto_sivashinsky")
                assert type(model) is (ParallelESNRegressor if spatial else ESNRegressor)
                assert {k: v for k, v in model.get_params().items() if k in params} == params
    # The spatially extended tasks: one reservoir per site, shared weights, and
    # the configuration's neighbourhood and training noise as parameters.
    model, params = make_model("esn", "lorenz96", mode="quick", seed=0,
                               overrides={"locality": 2, "n_units": 20, "washout": 10})
    assert (model.n_groups, model.shared_weights, model.boundary) == (None, True, "periodic")
    assert model.locality == 2 and model.input_noise > 0
    model.set_params(locality=1, input_noise=0.0)
    from reservoir.datasets import lorenz96

    series = lorenz96(300, dimension=8, random_state=0)
    series = (series - series.mean()) / series.std()
    model.fit(series[:-1], series[1:])
    assert model.n_groups_ == 8 and model.neighbourhoods_.shape == (8, 3)
    assert model.forecast(5, context=series[None, -50:]).shape == (1, 5, 8)


def test_reservoirpy_adapter_is_a_scikit_learn_estimator():
    pytest.importorskip("reservoirpy")
    import numpy as np
    from sklearn.base import clone

    from benchmarks.models import ReservoirPyESN

    model = ReservoirPyESN(n_units=20, spectral_radius=0.9, washout=10, random_state=0)
    twin = clone(model).set_params(alpha=1e-4)
    assert twin.alpha == 1e-4 and model.alpha == 1e-6
    t = np.arange(301) * 0.1
    series = np.column_stack([np.sin(t), np.cos(t)])
    model.fit(series[:-1], series[1:])
    assert model.predict(series[:50]).shape == (50, 2)
    assert model.forecast(4, context=series[None, :40]).shape == (1, 4, 2)
    assert not hasattr(twin, "model_")


def test_speed_suite_floor_writes_the_machine_rates_and_per_step_costs(tmp_path, capsys):
    from benchmarks import speed

    assert speed.main(["quick", "--workloads", "floor", "--no-reference", "--out", str(tmp_path)]) == 0
    result = json.loads((tmp_path / "speed.json").read_text())
    floor = result["floor"]
    assert floor["bandwidth_gb_s"] > 0.1 and floor["gemm_gflops"] > 0.1
    assert [r["n_units"] for r in floor["steps"]] == [100, 300, 1000]
    for r in floor["steps"]:
        # Density 0.1: about N^2 / 10 non-zeros; the statistics update costs 2 N^2 flops.
        assert 0.08 * r["n_units"] ** 2 < r["nnz"] < 0.12 * r["n_units"] ** 2
        assert r["gram_flops_per_step"] == 2 * r["n_units"] ** 2
        assert r["product_us"] > 0 and r["gram_us"] > 0
    # The larger reservoir costs more per step, in both parts.
    assert floor["steps"][2]["gram_us"] > floor["steps"][0]["gram_us"]
    assert "machine" in result and result["rows"] == []
    assert "floor: memory bandwidth" in capsys.readouterr().out
