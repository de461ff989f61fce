"""Command-line entry: ``python -m benchmarks [quick|full] [options]``.

``python -m benchmarks speed [quick|full] [options]`` runs the speed suite
instead (:mod:`benchmarks.speed`), ``python -m benchmarks zoo`` the chaotic-systems
zoo (:mod:`benchmarks.zoo`) and ``python -m benchmarks gpu`` the device run
(:mod:`benchmarks.gpu`).

Runs the chosen tasks for the chosen models, prints a table (task, model,
metric mean and spread, training and prediction time), and writes
``results.json`` (with the machine's description) and PNG figures to the
output directory.
"""

from __future__ import annotations

import argparse
import datetime
import importlib
import sys
import time
from pathlib import Path

from .models import ALL_MODELS, reservoirpy_available
from .report import format_table, write_json
from .tasks import ALL_TASKS, TASK_MODELS, Backend, n_seeds, run_task, unavailable_reason


# ``python -m benchmarks NAME ...`` runs the suite of module ``benchmarks.NAME``.
SUITES = ("speed", "zoo", "gpu", "sunspots")


def _csv(choices):
    def parse(text):
        items = [s.strip() for s in text.split(",") if s.strip()]
        if items == ["all"]:
            return list(choices)
        unknown = [s for s in items if s not in choices]
        if unknown or not items:
            raise argparse.ArgumentTypeError(
                f"expected a comma-separated list drawn from {', '.join(choices)} (or 'all'), got {text!r}")
        return items
    return parse


def build_parser():
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Chaotic-series forecasting and sequence-classification benchmarks: echo "
                    "state networks (and NVAR, deep, bidirectional and ensemble reservoirs) "
                    "against gradient-trained RNNs (and ReservoirPy when installed), with the "
                    "protocols of docs/benchmarks.rst.",
    )
    parser.add_argument("mode", nargs="?", default="quick", choices=("quick", "full"),
                        help="quick (default): every task and model with fewer trials, a few "
                             "minutes on 2 cores; full: the documented protocols")
    parser.add_argument("--tasks", type=_csv(ALL_TASKS), default=list(ALL_TASKS),
                        help=f"comma-separated tasks (default: all): {', '.join(ALL_TASKS)}")
    parser.add_argument("--models", type=_csv(ALL_MODELS), default=list(ALL_MODELS),
                        help=f"comma-separated models (default: all): {', '.join(ALL_MODELS)}")
    parser.add_argument("--backend", choices=("numpy", "cupy"), default="numpy",
                        help="array library of the data and models (default: numpy)")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of the data; model k of a task uses seed + k (default: 0)")
    parser.add_argument("--out", type=Path, default=Path("benchmark-results"),
                        help="output directory for results.json and the figures "
                             "(default: benchmark-results/)")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    return parser


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] and argv[0] in SUITES:
        # Each suite is its own module with its own options and output.
        return importlib.import_module(f".{argv[0]}", __package__).main(argv[1:])
    # Imported after the dispatch: a suite may run where tqdm or matplotlib is missing.
    from tqdm.auto import tqdm

    from .plots import make_plots

    args = build_parser().parse_args(argv)
    backend = Backend(args.backend)
    args.out.mkdir(parents=True, exist_ok=True)
    cache_dir = args.out / "cache"

    jobs, skipped = [], []
    for task in args.tasks:
        missing = unavailable_reason(task) if any(m in TASK_MODELS[task] for m in args.models) else None
        for model in args.models:
            if model not in TASK_MODELS[task]:
                skipped.append(dict(task=task, model=model, reason="not run on this task (see docs)"))
            elif missing is not None:
                skipped.append(dict(task=task, model=model, reason=missing))
            elif model == "reservoirpy" and not reservoirpy_available():
                skipped.append(dict(task=task, model=model, reason="reservoirpy is not installed"))
            else:
                jobs.append((task, model))
    started = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    start = time.perf_counter()
    rows, artifacts = [], {}
    total = sum(n_seeds(task, args.mode, model) for task, model in jobs)
    with tqdm(total=total, desc="benchmarks", unit="fit", disable=args.no_progress,
              file=sys.stderr) as bar:
        for task, model in jobs:
            bar.set_postfix_str(f"{task}/{model}")
            rows += run_task(task, model, args.mode, args.seed, backend=backend, cache_dir=cache_dir,
                             artifacts=artifacts, progress=bar)
    elapsed = time.perf_counter() - start
    plots = make_plots(args.out, artifacts)
    write_json(args.out / "results.json", rows=rows, mode=args.mode, argv=argv, seed=args.seed,
               backend=args.backend, started=started, elapsed=elapsed, plots=plots, skipped=skipped)
    print(format_table(rows))
    # One line per task and reason, naming its models.
    grouped = {}
    for s in skipped:
        grouped.setdefault((s["task"], s["reason"]), []).append(s["model"])
    for (task, reason), models in grouped.items():
        print(f"skipped {task} ({', '.join(models)}): {reason}")
    print(f"\n{args.mode} mode, {elapsed:.0f} s; results and figures in {args.out}/ "
          f"(results.json, {', '.join(plots) or 'no figures'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
