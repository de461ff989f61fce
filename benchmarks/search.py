"""Hyperparameter search that regenerates ``benchmarks/configs/*.json``, on scikit-learn's searches.

``python -m benchmarks.search TASK [--model esn|reservoirpy] [--n-iter N] [--units N]
[--no-start] [--n-keep K] [--n-reseeds R] [--refine N] [--seed S] [--n-jobs J]
[--test quick|full] [--write]``

The search is scikit-learn's; this module supplies each task's validation
data, cross-validator and scorer (:mod:`reservoir.model_selection`), and the
estimator of :func:`benchmarks.models.make_model`:

* Lorenz-63, Lorenz-96, Kuramoto-Sivashinsky: the task's protocol in quick
  size (spin-up, training length, context, horizon, windows and threshold of
  :data:`benchmarks.tasks.FORECAST`) as one :class:`ForecastWindowSplit`
  block, scored by the mean valid prediction time over its windows
  (:func:`forecast_scorer`, errors normalised by the training part's
  standard deviation, as the benchmark does).
* Mackey-Glass: the same with Jaeger's trials (1000 teacher-forced steps,
  84 free steps), scored by log10 of NRMSE84, the error at the 84th free
  step (a callable metric of the forecast scorer).
* NARMA10: one split, the protocol's training part then its test part,
  scored by log10 of the one-step NRMSE after the washout
  (:func:`washout_scorer`). Unlike the benchmark, which continues the
  training run into the test part, the test part is predicted from the zero
  state with its first ``washout`` steps left out.

NRMSEs are compared on a log scale, so that averaging over reservoir seeds
is a geometric mean; the printed and stored values are the NRMSEs.

1. :class:`~sklearn.model_selection.RandomizedSearchCV` scores ``n_iter``
   candidates drawn from the task's distributions (:data:`SPACES`) on
   *validation* data: a trajectory generated from seed + 1000, never the one
   the benchmark tests on; reservoir seed seed + 1000. Unless
   ``--no-start``, the published starting point of :data:`STARTS` is scored
   as well (:func:`~sklearn.model_selection.cross_validate`).
2. Successive halving, one rung: the best ``n_keep`` candidates are scored
   again with ``n_reseeds`` more reservoir seeds (seed + 1000 + 100 r, the
   same data; a :class:`~sklearn.model_selection.GridSearchCV` over those
   points), and the best mean over all their seeds wins. This guards against
   a lucky reservoir draw.
3. Optional local refinement (``--refine N``, default 0): N times, two
   hyperparameters of the current best are perturbed (log-normal steps of
   0.5 for log-uniform ranges, relative steps of 0.15 for uniform ones, a
   new draw for lists, +-1 for integers; clipped to the ranges), the
   candidate is scored on the same 1 + ``n_reseeds`` seeds, and it replaces
   the best when its mean is better.
4. Optional test (``--test quick|full``): the winner runs the benchmark's own
   protocol (:func:`benchmarks.tasks.run_task`) on the test trajectory
   (seed ``--seed``), which the search has not seen.

``--units N`` fixes the number of units (for a search at a smaller size
than the task's space). With ``--write`` the winner is stored in
``configs/<task>.json`` (or ``configs/<task>_reservoirpy.json``) together
with the command, the budget, the date, the machine and the ten best
candidates. ESN and ReservoirPy get the same distributions (the ESN's
readout options aside) and the same budget when compared.
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
import time
import warnings
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
from scipy.stats import loguniform, randint, uniform
from sklearn.base import clone
from sklearn.exceptions import FitFailedWarning
from sklearn.model_selection import GridSearchCV, RandomizedSearchCV, cross_validate

from reservoir.datasets import LYAPUNOV_EXPONENTS, mackey_glass
from reservoir.metrics import nrmse
from reservoir.model_selection import ForecastWindowSplit, washout_scorer

from .models import CONFIG_DIR, _read_config, load_config, make_model
from .report import machine_description
from .tasks import (
    _GENERATORS,
    FORECAST,
    MACKEY_GLASS,
    Backend,
    cached,
    narma_data,
    normaliser,
    run_task,
)

SQUARED = ["constant", "input", "state", "squared_state"]
LINEAR = ["constant", "input", "state"]

# Distributions per task. Fixed entries (a list of one value) hold what the
# protocol or the target fixes, such as the number of units.
SPACES = {
    # 1000 units, the most the target allows (an earlier search fixed 800, with
    # ridge penalties from 1e-10 that the old readout regularised further).
    "lorenz63": dict(
        n_units=[1000], spectral_radius=uniform(0.05, 1.3), leak_rate=uniform(0.1, 0.9),
        input_scaling=loguniform(0.01, 1.0), bias_scaling=uniform(0.0, 2.0),
        alpha=loguniform(1e-12, 1e-5), density=loguniform(0.005, 0.1),
        readout_features=[SQUARED, LINEAR],
    ),
    "mackey_glass": dict(
        n_units=[1000], spectral_radius=uniform(0.5, 0.9), leak_rate=uniform(0.1, 0.9),
        input_scaling=loguniform(0.02, 2.0), bias_scaling=uniform(0.0, 1.0),
        # Down to 1e-12: since the ridge readout keeps the Cholesky solution whenever
        # alpha > 0, small penalties are no longer replaced by a truncated
        # pseudo-inverse (the space of an earlier search stopped at 1e-9 for that reason).
        alpha=loguniform(1e-12, 1e-6), readout_features=[LINEAR, SQUARED],
    ),
    "lorenz96": dict(
        locality=randint(1, 4), n_units=[300], spectral_radius=uniform(0.05, 1.2),
        leak_rate=uniform(0.1, 0.9), input_scaling=loguniform(0.02, 2.0),
        bias_scaling=uniform(0.0, 1.5), alpha=loguniform(1e-9, 1e-3), readout_features=[SQUARED],
        # Training-input noise, as on Kuramoto-Sivashinsky; a first search without it
        # (16 candidates) reached 5.2 on validation and 4.2 on the test windows.
        input_noise=loguniform(1e-5, 3e-3),
    ),
    "kuramoto_sivashinsky": dict(
        locality=randint(2, 9), n_units=[300], spectral_radius=uniform(0.05, 1.2),
        leak_rate=uniform(0.1, 0.9), input_scaling=loguniform(0.02, 2.0),
        bias_scaling=uniform(0.0, 1.5), alpha=loguniform(1e-9, 1e-3), readout_features=[SQUARED],
        # Without input noise in training every candidate of a first search (16
        # candidates) diverged within 0.1 Lyapunov time, despite one-step errors of 1e-4.
        input_noise=loguniform(1e-5, 3e-3),
    ),
    # Topology, density and input density were added after searches over the others (60 and 100
    # candidates) stopped at 0.16 on validation and 0.20 on the test series;
    # NARMA10's products of past inputs and outputs favour squared-state features.
    "narma10": dict(
        n_units=[200], spectral_radius=uniform(0.3, 1.3), leak_rate=uniform(0.2, 0.8),
        input_scaling=loguniform(0.002, 1.0), bias_scaling=uniform(0.0, 1.5),
        alpha=loguniform(1e-12, 1e-3), readout_features=[SQUARED, LINEAR],
        topology=["random", "orthogonal", "ring"], density=loguniform(0.02, 1.0),
        input_density=[1.0, 0.5, 0.2],
    ),
}

# Published starting points, scored first, as candidate 0 of the search.
STARTS = {
    # Platt et al. (2022)'s hyperparameters, at the 1000 units of the space.
    "lorenz63": dict(n_units=1000, density=0.02, spectral_radius=0.8, leak_rate=0.6,
                     input_scaling=0.084, bias_scaling=1.6, alpha=8.5e-8, readout_features=SQUARED),
    # The tuned 1000-unit leaky ESN of REFERENCES.md, with its ridge penalty 1e-10.
    "mackey_glass": dict(n_units=1000, spectral_radius=1.1, leak_rate=0.5, input_scaling=0.5,
                         bias_scaling=0.5, alpha=1e-10, readout_features=LINEAR),
    # The winner of the search without input noise, with input noise 1e-4.
    "lorenz96": dict(locality=2, n_units=300, spectral_radius=0.8597, leak_rate=0.2431,
                     input_scaling=0.06164, bias_scaling=0.6995, alpha=3.31e-8,
                     readout_features=SQUARED, input_noise=1e-4),
    # The best of a first Kuramoto-Sivashinsky search (no noise), with input noise 1e-3.
    "kuramoto_sivashinsky": dict(locality=5, n_units=300, spectral_radius=0.486, leak_rate=0.776,
                                 input_scaling=0.104, bias_scaling=0.256, alpha=8.3e-6,
                                 readout_features=SQUARED, input_noise=1e-3),
    # The winner of an earlier run over a narrower space (spectral radius up to 1.4,
    # input scaling from 0.01): python -m benchmarks.search narma10 --n-iter 60.
    "narma10": dict(n_units=200, spectral_radius=1.179, leak_rate=0.896, input_scaling=0.021,
                    bias_scaling=0.957, alpha=2.06e-9, readout_features=LINEAR),
}

RESERVOIRPY_KEYS = ("n_units", "spectral_radius", "leak_rate", "input_scaling", "bias_scaling",
                    "alpha", "density")


def _space(task, model, units=None):
    space = dict(SPACES[task])
    if model == "reservoirpy":
        space = {k: v for k, v in space.items() if k in RESERVOIRPY_KEYS}
    if units is not None:
        space["n_units"] = [int(units)]
    return space


def _plain(value):
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    return value


# --------------------------------------------------------------------------
# Validation problems: data, cross-validator, scorer
# --------------------------------------------------------------------------

@dataclass
class Problem:
    """What a task is searched on: X, y (one step ahead), the split, the scorer."""

    X: object
    y: object
    cv: object
    scoring: Callable
    spinup: int
    metric: str
    # The metric's value from a score (scores are higher-is-better).
    value: Callable[[float], float]


def _log10_error(error):
    """log10 of an error, a finite number even for an error of 0."""
    return float(np.log10(max(error, np.finfo(float).tiny)))


def _from_log_score(score):
    return float(10.0 ** -score)


def forecast_problem(task, seed, *, mode="quick", cache_dir=None, backend=None):
    """Validation problem of a flow: the quick protocol's test windows as one block."""
    spec = FORECAST[task]
    m = spec[mode]
    n_fit = spec["spinup"] + spec["n_train"] + 1
    cv = ForecastWindowSplit(n_splits=1, context=spec["context"], horizon=m["horizon"],
                             n_windows=m["n_windows"], stride=m["stride"],
                             max_train_size=n_fit - 1, gap=1)
    # One more row than the benchmark's series, because X = series[:-1] must
    # still hold the last window's last row.
    n_total = n_fit + (m["n_windows"] - 1) * m["stride"] + spec["context"] + m["horizon"] + 1
    series = cached(cache_dir, spec["system"],
                    lambda: _GENERATORS[spec["system"]](n_total, spec["dt"], seed),
                    n=n_total, dt=spec["dt"], seed=seed)
    mean, std = normaliser(series[:n_fit], spec["normalise"])
    series = (series - mean) / std
    # Rows of X are the series' values; the training part is X[:n_fit - 1] (gap=1
    # leaves out the row whose target is the first test row, as the benchmark does).
    scoring = cv.scorer("vpt", dt=spec["dt"], threshold=spec["threshold"],
                        lyapunov_exponent=LYAPUNOV_EXPONENTS[spec["system"]].value,
                        scale=series[:n_fit].std(axis=0))
    put = (backend or Backend()).put
    return Problem(X=put(series[:-1]), y=put(series[1:]), cv=cv, scoring=scoring,
                   spinup=spec["spinup"], metric=f"VPT (Lyapunov times, eps={spec['threshold']})",
                   value=float)


def mackey_glass_problem(seed, *, mode="quick", cache_dir=None, backend=None):
    """Validation problem of Mackey-Glass: Jaeger's trials, scored by log10 NRMSE84."""
    p = MACKEY_GLASS
    n_fit = p["n_train"] + 1
    n_trials = p[mode]["n_trials"]
    cv = ForecastWindowSplit(n_splits=1, context=p["context"], horizon=p["free_run"],
                             n_windows=n_trials, stride=p["stride"], max_train_size=n_fit - 1,
                             gap=1)
    n_total = n_fit + (n_trials - 1) * p["stride"] + p["context"] + p["free_run"] + 1
    # The history draws a constant from the seed, so that seeds give different trajectories.
    series = cached(cache_dir, "mackey_glass",
                    lambda: mackey_glass(n_total, tau=17.0, history=None, random_state=seed),
                    n=n_total, seed=seed)
    train = series[:n_fit]
    series = (series - train.mean()) / train.std()
    sigma = float(series[:n_fit].std())
    step = p["free_run"] - 1

    def log10_nrmse84(truth, forecasts):
        # Jaeger's NRMSE84: sqrt(mean over trials of e(84)^2), e normalised by sigma(train).
        e84 = (forecasts[:, step, :] - truth[:, step, :]) / sigma
        return _log10_error(np.sqrt(np.mean(e84 ** 2)))

    put = (backend or Backend()).put
    return Problem(X=put(series[:-1]), y=put(series[1:]), cv=cv,
                   scoring=cv.scorer(log10_nrmse84, greater_is_better=False), spinup=p["spinup"],
                   metric="NRMSE84", value=_from_log_score)


def narma_problem(seed, *, backend=None):
    """Validation problem of NARMA10: train, then test on the next part; log10 one-step NRMSE."""
    data = narma_data(seed)
    n_rows = data["X"].shape[0]
    cv = [(np.arange(data["n_fit"]), np.arange(data["n_fit"], n_rows))]
    scoring = washout_scorer(lambda t, p: _log10_error(nrmse(t, p)), greater_is_better=False)
    put = (backend or Backend()).put
    return Problem(X=put(data["X"].reshape(-1, 1)), y=put(data["Y"].reshape(-1, 1)), cv=cv,
                   scoring=scoring, spinup=data["spinup"],
                   metric="NRMSE one step (after the washout)", value=_from_log_score)


def validation_problem(task, seed, *, cache_dir=None, backend=None):
    """The search data, split and scorer of ``task`` on the trajectory of ``seed``."""
    if task in FORECAST:
        return forecast_problem(task, seed, cache_dir=cache_dir, backend=backend)
    if task == "mackey_glass":
        return mackey_glass_problem(seed, cache_dir=cache_dir, backend=backend)
    if task == "narma10":
        return narma_problem(seed, backend=backend)
    raise ValueError(f"task must be one of {sorted(SPACES)}, got {task!r}")


# --------------------------------------------------------------------------
# The search
# --------------------------------------------------------------------------

def _estimator(task, model, problem, seed):
    # Estimators compute in the namespace of their data: the backend is the data's.
    estimator, _ = make_model(model, task, mode="quick", seed=seed,
                              overrides={"washout": problem.spinup})
    return estimator


@contextmanager
def _quietly():
    """Warnings that a search over wide ranges produces by design, silenced."""
    with warnings.catch_warnings():
        # A candidate whose fit fails scores NaN (error_score), which the ranking puts last.
        warnings.simplefilter("ignore", FitFailedWarning)
        warnings.filterwarnings("ignore", message="One or more of the test scores are non-finite")
        warnings.filterwarnings("ignore", message="Scoring failed")
        yield


def _entry(params, score, problem, seconds=None):
    params = {k: _plain(v) for k, v in params.items() if k != "random_state"}
    finite = bool(np.isfinite(score))
    return dict(params=params, scores=[float(score)] if finite else [],
                values=[problem.value(score)] if finite else [],
                error=None if finite else "fit or score failed",
                seconds=None if seconds is None else round(float(seconds), 2))


def _score_points(estimator, points, problem, *, n_jobs):
    """Scores of fixed parameter points (dicts, random_state included), in order."""
    if not points:
        return []
    grid = [{k: [v] for k, v in p.items()} for p in points]
    with _quietly():
        search = GridSearchCV(estimator, grid, cv=problem.cv, scoring=problem.scoring,
                              refit=False, error_score=np.nan, n_jobs=n_jobs)
        search.fit(problem.X, problem.y)
    return [float(s) for s in search.cv_results_["mean_test_score"]]


def _summarise(entry):
    # A seed on which the candidate failed makes it the worst, whatever its other seeds.
    finite = entry["scores"] and np.all(np.isfinite(entry["scores"]))
    entry["mean_score"] = float(np.mean(entry["scores"])) if finite else -np.inf
    entry["mean_value"] = float(np.mean(entry["values"])) if entry["values"] else float("nan")
    return entry


def search(task, *, model="esn", n_iter=40, n_keep=4, n_reseeds=2, refine=0, seed=0, units=None,
           start=True, n_jobs=None, backend="numpy", cache_dir="benchmark-results/cache",
           progress=True):
    """Run the search; returns (best entry, ranked entries).

    An entry is a dict: ``params``, ``scores`` and ``values`` (one per
    reservoir seed scored), ``mean_score``, ``mean_value``, ``error`` and
    ``seconds`` (fit and score time of the first seed).
    """
    say = (lambda text: print(text, file=sys.stderr, flush=True)) if progress else (lambda text: None)
    back = backend if isinstance(backend, Backend) else Backend(backend)
    validation_seed = seed + 1000
    problem = validation_problem(task, validation_seed, cache_dir=cache_dir, backend=back)
    estimator = _estimator(task, model, problem, validation_seed)
    space = _space(task, model, units)

    say(f"search {task}/{model}: {n_iter} candidates on validation data (seed {validation_seed})")
    with _quietly():
        randomized = RandomizedSearchCV(estimator, space, n_iter=n_iter, cv=problem.cv,
                                        scoring=problem.scoring, refit=False, random_state=seed,
                                        error_score=np.nan, n_jobs=n_jobs)
        randomized.fit(problem.X, problem.y)
    results = randomized.cv_results_
    table = [_entry(p, s, problem, f + c) for p, s, f, c in zip(
        results["params"], results["mean_test_score"], results["mean_fit_time"],
        results["mean_score_time"], strict=True)]
    if start and task in STARTS:
        point = {k: v for k, v in STARTS[task].items() if k in space}
        if units is not None:
            point["n_units"] = int(units)
        say(f"score the published start of {task}")
        with _quietly():
            result = cross_validate(clone(estimator).set_params(**point), problem.X, problem.y,
                                    cv=problem.cv, scoring=problem.scoring, error_score=np.nan,
                                    n_jobs=n_jobs)
        table.insert(0, _entry(point, np.mean(result["test_score"]), problem,
                               np.mean(result["fit_time"] + result["score_time"])))

    finite = sorted((t for t in table if t["scores"]), key=lambda t: -t["scores"][0])
    if not finite:
        raise RuntimeError(f"every candidate failed for {task}/{model}")
    # One rung of successive halving: re-score the best with other reservoir seeds.
    reseeds = [validation_seed + 100 * r for r in range(1, n_reseeds + 1)]
    kept = finite[:n_keep]
    say(f"re-score the best {len(kept)} with reservoir seeds {reseeds}")
    points = [{**t["params"], "random_state": s} for t in kept for s in reseeds]
    scores = _score_points(estimator, points, problem, n_jobs=n_jobs)
    for i, t in enumerate(kept):
        for s in scores[i * len(reseeds):(i + 1) * len(reseeds)]:
            t["scores"].append(s)
            t["values"].append(problem.value(s) if np.isfinite(s) else float("nan"))
    for t in table:
        _summarise(t)
    ranked = sorted(kept, key=lambda t: -t["mean_score"]) + finite[n_keep:]
    if refine:
        say(f"refine the best for {refine} steps")
        best = _refine(ranked[0], refine, space=space, estimator=estimator, problem=problem,
                       seeds=[validation_seed, *reseeds], seed=seed, n_jobs=n_jobs)
        if best is not ranked[0]:
            ranked.insert(0, best)
    return ranked[0], ranked


def _perturb(value, dist, rng):
    """A step from ``value`` within the range of ``dist`` (see step 3 of the module docstring)."""
    if isinstance(dist, list):
        return dist[rng.integers(len(dist))]
    low, high = dist.support()
    name = dist.dist.name
    if name == "randint":
        return int(np.clip(value + rng.choice([-1, 1]), low, high))
    if name == "loguniform":
        step = value * np.exp(rng.normal(0.0, 0.5))
    else:
        step = value * (1.0 + rng.normal(0.0, 0.15))
    return float(np.clip(step, low, high))


def _refine(start, n_steps, *, space, estimator, problem, seeds, seed, n_jobs):
    """Local refinement of ``start`` (a table entry); returns the best entry found."""
    free = [k for k, d in space.items() if not (isinstance(d, list) and len(d) == 1)]
    rng = np.random.default_rng(seed)
    best = start
    if len(best["scores"]) != len(seeds):       # scored on fewer seeds than the refinement uses
        scores = _score_points(estimator, [{**best["params"], "random_state": s} for s in seeds],
                               problem, n_jobs=n_jobs)
        best = _summarise(dict(best, scores=scores, values=[problem.value(s) for s in scores]))
    for _ in range(n_steps):
        params = dict(best["params"])
        for key in rng.choice(free, size=min(2, len(free)), replace=False):
            key, dist = str(key), space[str(key)]
            if key in params:
                params[key] = _plain(_perturb(params[key], dist, rng))
            else:   # a key the published start does not set: a fresh draw
                params[key] = _plain(dist[rng.integers(len(dist))] if isinstance(dist, list)
                                     else dist.rvs(random_state=rng))
        scores = _score_points(estimator, [{**params, "random_state": s} for s in seeds], problem,
                               n_jobs=n_jobs)
        if all(np.isfinite(scores)) and np.mean(scores) > best["mean_score"]:
            best = _summarise(dict(params=params, scores=scores,
                                   values=[problem.value(s) for s in scores], error=None,
                                   seconds=None, refined=True))
    return best


def test_winner(task, model, params, *, mode, seed, backend="numpy",
                cache_dir="benchmark-results/cache"):
    """Result rows of the benchmark's own protocol (``mode``) for ``params`` on the test seed."""
    back = backend if isinstance(backend, Backend) else Backend(backend)
    return run_task(task, model, mode, seed, backend=back, cache_dir=cache_dir, overrides=params)


test_winner.__test__ = False    # a benchmark step, not a test for pytest to collect


# --------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------

def build_parser():
    parser = argparse.ArgumentParser(prog="python -m benchmarks.search",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("task", choices=sorted(SPACES))
    parser.add_argument("--model", choices=("esn", "reservoirpy"), default="esn")
    parser.add_argument("--n-iter", type=int, default=40, help="candidates drawn (default: 40)")
    parser.add_argument("--units", type=int, default=None,
                        help="fix the number of units (default: the task's space)")
    parser.add_argument("--no-start", action="store_true",
                        help="do not score the published starting point")
    parser.add_argument("--n-keep", type=int, default=4,
                        help="best candidates re-scored with more seeds (default: 4)")
    parser.add_argument("--n-reseeds", type=int, default=2,
                        help="extra reservoir seeds for each kept candidate (default: 2)")
    parser.add_argument("--refine", type=int, default=0,
                        help="local refinement steps around the winner (default: 0)")
    parser.add_argument("--seed", type=int, default=0,
                        help="search seed; validation data use seed + 1000, --test uses seed")
    parser.add_argument("--n-jobs", type=int, default=None,
                        help="parallel fits, as scikit-learn's n_jobs (default: 1)")
    parser.add_argument("--backend", choices=("numpy", "cupy"), default="numpy")
    parser.add_argument("--test", choices=("quick", "full"), default=None,
                        help="run the winner on the benchmark's test protocol in this mode")
    parser.add_argument("--write", action="store_true",
                        help="store the winner in benchmarks/configs/")
    return parser


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    start = time.perf_counter()
    best, ranked = search(args.task, model=args.model, n_iter=args.n_iter, n_keep=args.n_keep,
                          n_reseeds=args.n_reseeds, refine=args.refine, seed=args.seed,
                          units=args.units, start=not args.no_start, n_jobs=args.n_jobs,
                          backend=args.backend)
    elapsed = time.perf_counter() - start
    for t in ranked[:10]:
        print(f"{t['mean_value']:.4g}  ({len(t['values'])} seeds)  {json.dumps(t['params'])}")
    first = np.array([t["values"][0] for t in ranked if "refined" not in t])
    print(f"{first.size} candidates scored (first seed): median {np.median(first):.4g}, "
          f"range {first.min():.4g} to {first.max():.4g}")
    print(f"best: {best['mean_value']:.4g} with {json.dumps(best['params'])} ({elapsed:.0f} s)")
    tested = None
    if args.test:
        test_start = time.perf_counter()
        rows = test_winner(args.task, args.model, best["params"], mode=args.test, seed=args.seed,
                           backend=args.backend)
        tested = [dict(metric=r["metric"], mean=r["mean"], std=r["std"], n=r["n"],
                       seconds=round(time.perf_counter() - test_start),
                       **({"reached_horizon": r["reached_horizon"]} if "reached_horizon" in r else {}))
                  for r in rows]
        for r in tested:
            reached = (f", {r['reached_horizon']} valid to the horizon"
                       if "reached_horizon" in r else "")
            print(f"test ({args.test} protocol, seed {args.seed}): {r['metric']} "
                  f"{r['mean']:.4g} +- {r['std']:.2g} over {r['n']}{reached} ({r['seconds']} s)")
    if args.write:
        _write_config(args, argv, best, ranked, elapsed, tested)
    return 0


def _write_config(args, argv, best, ranked, elapsed, tested):
    name = args.task if args.model == "esn" else f"{args.task}_{args.model}"
    try:
        previous = load_config(args.task, args.model)
    except FileNotFoundError:
        previous = {}
    params = {**previous.get("params", {}), **best["params"]}
    locality = params.pop("locality", previous.get("locality"))
    input_noise = params.pop("input_noise", previous.get("input_noise"))
    config = {"task": args.task, "model": args.model}
    if locality is not None:
        config["locality"] = int(locality)
    if input_noise is not None:
        config["input_noise"] = float(input_noise)
    config["params"] = params
    for key in ("quick_overrides", "rnn_overrides"):
        if key in previous:
            config[key] = previous[key]
    config["search"] = {
        "command": "python -m benchmarks.search " + " ".join(argv),
        "method": "RandomizedSearchCV on validation data (seed + 1000) with the task's "
                  "cross-validator and scorer (reservoir.model_selection), then the best n_keep "
                  "re-scored with n_reseeds more reservoir seeds"
                  + (", then refine local steps around the best" if args.refine else ""),
        "budget": {"n_iter": args.n_iter, "n_keep": args.n_keep, "n_reseeds": args.n_reseeds,
                   **({"refine": args.refine} if args.refine else {}),
                   "seconds": round(elapsed)},
        "validation_metric": "mean over seeds of the quick-mode metric",
        "validation_value": best["mean_value"],
        "date": datetime.date.today().isoformat(),
        "machine": machine_description(),
        "top": [{"value": t["mean_value"], "n_seeds": len(t["values"]), "params": t["params"]}
                for t in ranked[:10]],
    }
    if tested is not None:
        config["search"]["test"] = {"mode": args.test, "seed": args.seed, "rows": tested}
    path = CONFIG_DIR / f"{name}.json"
    path.write_text(json.dumps(config, indent=2) + "\n")
    _read_config.cache_clear()
    print(f"wrote {path}")


if __name__ == "__main__":
    sys.exit(main())
