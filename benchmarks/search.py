"""Hyperparameter search that regenerates ``benchmarks/configs/*.json``.

``python -m benchmarks.search TASK [--model esn|reservoirpy] [--n-iter N] [--seed S] [--write]``

A dedicated loop, because the score of a forecasting model is a closed-loop
statistic (valid prediction time over test windows, NRMSE after 84 free
steps) that scikit-learn's one-step ``score`` does not measure:

1. ``n_iter`` candidates are drawn from the task's distributions
   (:data:`SPACES`) with :class:`sklearn.model_selection.ParameterSampler`,
   after the published starting point of :data:`STARTS` where there is one,
   and scored with the task's own protocol in ``quick`` size (one reservoir
   seed, the quick number of windows) on *validation* data: a trajectory
   generated from seed + 1000, never the one the benchmark tests on.
2. Successive halving, one rung: the best ``n_keep`` candidates are scored
   again with ``n_reseeds`` more reservoir seeds, and the best mean over all
   their seeds wins. This guards against a lucky reservoir draw.
3. Optional local refinement (``--refine N``, default 0): N times, two
   hyperparameters of the current best are perturbed (log-normal steps of
   0.5 for log-uniform ranges, relative steps of 0.15 for uniform ones, a
   new draw for lists, +-1 for integers; clipped to the ranges), the
   candidate is scored on the same 1 + ``n_reseeds`` seeds, and it replaces
   the best when its mean is better.

With ``--write`` the winner is stored in ``configs/<task>.json`` (or
``configs/<task>_reservoirpy.json``) together with the command, the budget,
the date, the machine and the ten best candidates. ESN and ReservoirPy get
the same distributions (the ESN's readout options aside) and the same
budget when compared.
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
import time
import warnings

import numpy as np
from scipy.stats import loguniform, randint, uniform
from sklearn.model_selection import ParameterSampler
from tqdm.auto import tqdm

from .models import CONFIG_DIR, _read_config, load_config
from .report import machine_description
from .tasks import Backend, run_task

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


def _space(task, model):
    space = dict(SPACES[task])
    if model == "reservoirpy":
        space = {k: v for k, v in space.items() if k in RESERVOIRPY_KEYS}
    return space


def _score(task, model, candidate, seed, backend, cache_dir):
    """(higher-is-better score, metric value) of a candidate on validation data."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            rows = run_task(task, model, "quick", seed, backend=backend, cache_dir=cache_dir,
                            overrides=candidate)
        except (FloatingPointError, ValueError, RuntimeError, np.linalg.LinAlgError) as exc:
            return -np.inf, float("nan"), str(exc)
    row = rows[0]
    value = row["mean"]
    if not np.isfinite(value):
        return -np.inf, value, "non-finite"
    # NRMSEs are compared on a log scale and turned into "higher is better".
    score = value if row["better"] == "higher" else -np.log10(value)
    return score, value, None


def _plain(value):
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    return value


def search(task, *, model="esn", n_iter=40, n_keep=4, n_reseeds=2, refine=0, seed=0,
           backend="numpy", cache_dir="benchmark-results/cache", progress=True):
    """Run the search; returns (best candidate, its mean validation metric, table of candidates)."""
    validation_seed = seed + 1000
    back = Backend(backend)
    sampler = ParameterSampler(_space(task, model), n_iter=n_iter, random_state=seed)
    candidates = [{k: _plain(v) for k, v in c.items()} for c in sampler]
    if task in STARTS:
        start = {k: v for k, v in STARTS[task].items() if k in _space(task, model)}
        candidates.insert(0, start)
    table = []
    for c in tqdm(candidates, desc=f"search {task}/{model}", disable=not progress, file=sys.stderr):
        start = time.perf_counter()
        score, value, error = _score(task, model, c, validation_seed, back, cache_dir)
        table.append(dict(params=c, scores=[score], values=[value], error=error,
                          seconds=round(time.perf_counter() - start, 2)))
    finite = [t for t in table if np.isfinite(t["scores"][0])]
    finite.sort(key=lambda t: -t["scores"][0])
    # One rung of successive halving: re-score the best with other reservoir seeds.
    for t in tqdm(finite[:n_keep], desc="re-seed best", disable=not progress, file=sys.stderr):
        for r in range(1, n_reseeds + 1):
            score, value, _ = _score(task, model, t["params"], validation_seed + 100 * r, back,
                                     cache_dir)
            t["scores"].append(score)
            t["values"].append(value)
    for t in table:
        t["mean_score"] = float(np.mean(t["scores"])) if t["scores"] else -np.inf
        t["mean_value"] = float(np.mean(t["values"]))
    ranked = sorted(finite[:n_keep], key=lambda t: -t["mean_score"]) + finite[n_keep:]
    if not ranked:
        raise RuntimeError(f"every candidate failed for {task}/{model}")
    if refine:
        best = _refine(task, model, ranked[0], refine, n_reseeds=n_reseeds, seed=seed,
                       validation_seed=validation_seed, backend=back, cache_dir=cache_dir,
                       progress=progress)
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


def _refine(task, model, start, n_steps, *, n_reseeds, seed, validation_seed, backend, cache_dir,
            progress):
    """Local refinement of ``start`` (a table entry); returns the best entry found."""
    space = _space(task, model)
    free = [k for k, d in space.items() if not (isinstance(d, list) and len(d) == 1)]
    seeds = [validation_seed + 100 * r for r in range(n_reseeds + 1)]
    rng = np.random.default_rng(seed)
    best = start
    if len(best["scores"]) != len(seeds):       # a start scored on one seed only
        scored = [_score(task, model, best["params"], s, backend, cache_dir) for s in seeds]
        best = dict(best, scores=[r[0] for r in scored], values=[r[1] for r in scored])
        best["mean_score"] = float(np.mean(best["scores"]))
        best["mean_value"] = float(np.mean(best["values"]))
    for _ in tqdm(range(n_steps), desc="refine best", disable=not progress, file=sys.stderr):
        params = dict(best["params"])
        for key in rng.choice(free, size=min(2, len(free)), replace=False):
            key, dist = str(key), space[str(key)]
            if key in params:
                params[key] = _plain(_perturb(params[key], dist, rng))
            else:   # a key the published start does not set: a fresh draw
                params[key] = _plain(dist[rng.integers(len(dist))] if isinstance(dist, list)
                                     else dist.rvs(random_state=rng))
        scores, values = [], []
        for s in seeds:
            score, value, _ = _score(task, model, params, s, backend, cache_dir)
            scores.append(score)
            values.append(value)
            if not np.isfinite(score):
                break
        if len(scores) == len(seeds) and np.mean(scores) > best["mean_score"]:
            best = dict(params=params, scores=scores, values=values, error=None, seconds=None,
                        mean_score=float(np.mean(scores)), mean_value=float(np.mean(values)),
                        refined=True)
    return best


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog="python -m benchmarks.search",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("task", choices=sorted(SPACES))
    parser.add_argument("--model", choices=("esn", "reservoirpy"), default="esn")
    parser.add_argument("--n-iter", type=int, default=40, help="candidates drawn (default: 40)")
    parser.add_argument("--n-keep", type=int, default=4,
                        help="best candidates re-scored with more seeds (default: 4)")
    parser.add_argument("--n-reseeds", type=int, default=2,
                        help="extra reservoir seeds for each kept candidate (default: 2)")
    parser.add_argument("--refine", type=int, default=0,
                        help="local refinement steps around the winner (default: 0)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--backend", choices=("numpy", "cupy"), default="numpy")
    parser.add_argument("--write", action="store_true",
                        help="store the winner in benchmarks/configs/")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    best, ranked = search(args.task, model=args.model, n_iter=args.n_iter, n_keep=args.n_keep,
                          n_reseeds=args.n_reseeds, refine=args.refine, seed=args.seed,
                          backend=args.backend)
    elapsed = time.perf_counter() - start
    for t in ranked[:10]:
        print(f"{t['mean_value']:.4g}  ({len(t['values'])} seeds)  {json.dumps(t['params'])}")
    print(f"best: {best['mean_value']:.4g} with {json.dumps(best['params'])} ({elapsed:.0f} s)")
    if args.write:
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
            "method": "random search (ParameterSampler) on validation data (seed + 1000), "
                      "then the best n_keep re-scored with n_reseeds more reservoir seeds"
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
        path = CONFIG_DIR / f"{name}.json"
        path.write_text(json.dumps(config, indent=2) + "\n")
        _read_config.cache_clear()
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
