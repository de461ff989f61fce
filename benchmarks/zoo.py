"""The chaotic-systems zoo: closed-loop forecasts of dysts' flows, systems no one here chose.

``python -m benchmarks zoo [quick|full] [options]``

Every continuous system that dysts (Gilpin 2021, 2023) ships is a candidate;
its trajectories are integrated once with dysts' own ``make_trajectory``
(SciPy's DOP853 at rtol = atol = 1e-10, from dysts' initial condition on the
attractor, resampled to a fixed number of points per period) and cached on
disk. The systems are split by name, alphabetically, into a development half
(even positions) and a held-out half (odd positions): the automatic
forecaster's ranges and the estimators' defaults were chosen on the
development half only, and the held-out half is reported as it comes.

Two protocols:

``a``
    100 points per period, 10 000 training pairs, the series standardised by
    its training part, 12 test windows after the training part, each a
    teacher-forced context of 200 steps then 20 Lyapunov times of forecast
    (at most 10 000 steps); the valid prediction time at ε = 0.3, in Lyapunov
    times from dysts' estimate of the largest exponent. Per system: the
    median over windows; over systems: median, quartiles, and how many stay
    below 1 Lyapunov time.
``b``
    Zhang & Gilpin (ICLR 2025)'s zero-shot protocol, as their scripts
    (``williamgilpin/dysts_data``, ``benchmark_results/scripts/``) set it
    up: 20 initial conditions per system, rows drawn with seed 0 from a
    1000-point reference trajectory of 10 points per period; from each, 812
    points at 30 points per Lyapunov time (dysts' ``timescale="Lyapunov"``),
    not standardised; 512 to train on, then a 300-step (10 Lyapunov times)
    forecast from their end. The valid prediction time is the first step at
    which the sMAPE of the forecast so far (all steps and features up to
    it, in percent) exceeds 30, in Lyapunov times; per system the median
    over initial conditions, then the median over systems. Models see the
    raw series (the ones of this package standardise it themselves: the
    others are given it standardised by its training part).

Models: ``auto`` (:class:`reservoir.AutoESNForecaster` at its defaults),
``esn`` (:class:`reservoir.ESNRegressor` with only ``n_units=500`` set),
``esn_study`` (the same with the settings that the development study of
defaults chose: leak rate 0.3, input scaling 0.1, bias scaling 1, squared
states in the readout), ``nvar`` (:class:`reservoir.NVARRegressor` as the user guide shows it), and
``reservoirpy`` (ReservoirPy 0.4.2, 500 units, spectral radius 0.9, leak
rate 0.3, ridge 1e-6) when it is installed.

Writes ``zoo/<protocol>/<system>.json`` per system and model, ``zoo.json``
with the aggregate table, and ``zoo_vpt.png`` (the distribution over
systems of the per-system median VPT, per model and half).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import sys
import time
import warnings
from pathlib import Path

import numpy as np

from reservoir import AutoESNForecaster, ESNRegressor, NVARRegressor
from reservoir.metrics import valid_prediction_time

from .models import ReservoirPyESN, reservoirpy_available
from .report import machine_description

PROTOCOLS = {
    "a": dict(points_per_period=100, n_train=10_000, n_windows=12, context=200, horizon_lyapunov=20.0,
              max_horizon=10_000, threshold=0.3),
    "b": dict(points_per_lyapunov_time=30, n_train=512, horizon=300, n_initial_conditions=20,
              smape_threshold=30.0),
}
MODELS = ("auto", "esn", "esn_study", "nvar", "reservoirpy")
# The ESNRegressor settings that the development study of defaults chose
# (docs/benchmarks.rst): proposed defaults, measured beside the current ones.
STUDY_DEFAULTS = dict(leak_rate=0.3, input_scaling=0.1, bias_scaling=1.0,
                      readout_features=("constant", "input", "state", "squared_state"))
# Systems integrated in more than this many seconds are left out (and said so).
GENERATION_LIMIT = 240.0
# The quick subset: two systems of each half, one of them a 4-D flow.
QUICK_SYSTEMS = ("Aizawa", "Lorenz", "HyperRossler", "Rossler")


# ---------------------------------------------------------------------------- systems

def _dysts():
    try:
        import dysts.flows
        from dysts.systems import get_attractor_list
    except ImportError as exc:  # pragma: no cover - the bench extra installs it
        raise SystemExit(f"the zoo needs dysts (pip install '.[bench]'): {exc}") from exc
    return dysts.flows, get_attractor_list


def all_systems():
    """(systems, left_out): dysts' continuous systems that this benchmark runs, and the others with why.

    Delay equations are left out: dysts integrates them with its own
    fixed-step scheme, not the adaptive DOP853 of every other system.
    """
    flows, get_attractor_list = _dysts()
    from dysts.base import DynSysDelay

    systems, left_out = [], {}
    for name in sorted(get_attractor_list("continuous")):
        cls = getattr(flows, name)
        if issubclass(cls, DynSysDelay):
            left_out[name] = "delay equation (dysts' fixed-step DDE integrator)"
            continue
        system = cls()
        lam = system.maximum_lyapunov_estimated
        if not lam or not np.isfinite(lam) or lam <= 0:
            left_out[name] = "no positive Lyapunov exponent estimate in dysts"
            continue
        systems.append(name)
    return systems, left_out


def split(systems):
    """(development, held_out): alternate systems in alphabetical order."""
    ordered = sorted(systems)
    return ordered[0::2], ordered[1::2]


def system_facts(name):
    """Largest Lyapunov exponent (per time unit), period, and dimension of a dysts system."""
    flows, _ = _dysts()
    system = getattr(flows, name)()
    return dict(lyapunov_exponent=float(system.maximum_lyapunov_estimated),
                period=float(system.period), dimension=int(len(system.ic)))


def _integrate(name, n_points, points_per_period, queue):
    flows, _ = _dysts()
    system = getattr(flows, name)()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if points_per_period != "lyapunov30":
            series = system.make_trajectory(n_points, pts_per_period=points_per_period,
                                            method="DOP853", rtol=1e-10, atol=1e-10)
            queue.put(None if series is None else np.asarray(series, dtype=np.float64))
            return
        # Protocol b: initial conditions as Zhang & Gilpin's scripts draw them.
        p = PROTOCOLS["b"]
        reference = system.make_trajectory(1000, pts_per_period=10, method="DOP853", rtol=1e-10,
                                           atol=1e-10)
        if reference is None:
            queue.put(None)
            return
        rows = np.random.RandomState(0).choice(1000, p["n_initial_conditions"], replace=False)
        segments = []
        for row in rows:
            seg = system.make_trajectory(n_points, init_cond=reference[row], timescale="Lyapunov",
                                         pts_per_period=p["points_per_lyapunov_time"], method="DOP853",
                                         rtol=1e-10, atol=1e-10)
            if seg is None:
                queue.put(None)
                return
            segments.append(np.asarray(seg, dtype=np.float64))
        queue.put(np.stack(segments))


def trajectory(name, n_points, points_per_period, cache_dir, *, limit=GENERATION_LIMIT):
    """The system's trajectory of ``n_points`` points, from the cache or integrated now.

    Integrated in a child process so that a system that takes longer than
    ``limit`` seconds can be stopped; raises RuntimeError (with the reason)
    for a system that fails, diverges or runs out of time.
    """
    path = Path(cache_dir) / f"{name}_{points_per_period}ppp_{n_points}.npy"
    if path.exists():
        return np.load(path)
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_integrate, args=(name, n_points, points_per_period, queue))
    proc.start()
    try:
        series = queue.get(timeout=limit)
    except Exception as exc:  # queue.Empty: out of time
        proc.kill()
        raise RuntimeError(f"integration took more than {limit:.0f} s") from exc
    finally:
        proc.join(timeout=10)
    if series is None or series.shape[-2] != n_points or not np.all(np.isfinite(series)):
        raise RuntimeError("dysts' integration failed or left the attractor (non-finite values)")
    if np.any(series.std(axis=-2) == 0):
        raise RuntimeError("a component of the trajectory is constant")
    path.parent.mkdir(parents=True, exist_ok=True)
    # Written aside, then renamed: a concurrent run never reads half a file.
    partial = path.with_suffix(f".{multiprocessing.current_process().pid}.partial.npy")
    np.save(partial, series)
    partial.replace(path)
    return series


# ---------------------------------------------------------------------------- models

def make_model(model, seed):
    if model == "auto":
        return AutoESNForecaster(random_state=seed)
    if model == "esn":
        return ESNRegressor(n_units=500, random_state=seed)
    if model == "esn_study":
        return ESNRegressor(n_units=500, random_state=seed, **STUDY_DEFAULTS)
    if model == "nvar":
        return NVARRegressor(n_delays=2, degree=2, alpha=2.5e-6, increment=True, washout=200)
    if model == "reservoirpy":
        return ReservoirPyESN(n_units=500, spectral_radius=0.9, leak_rate=0.3, alpha=1e-6,
                              random_state=seed)
    raise ValueError(f"unknown model {model!r}")


def _fit(model, train):
    if isinstance(model, AutoESNForecaster):
        return model.fit(train)
    return model.fit(train[:-1], train[1:])


def _forecast(model, horizon, contexts):
    """Forecasts (n_windows, horizon, n_features) after each context (teacher forced)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if isinstance(model, AutoESNForecaster):
            return np.stack([model.forecast(horizon, context=c) for c in contexts])
        return np.asarray(model.forecast(horizon, context=contexts))


def smape_vpt(truth, forecast, *, threshold, steps_per_lyapunov):
    """Zhang & Gilpin's valid time: the first step at which the sMAPE so far exceeds ``threshold``.

    sMAPE over steps 1..i and all features, in percent: 200 / (i d) Σ
    |ŷ - y| / (|ŷ| + |y|) (a non-finite step counts as the largest term,
    2); the valid time is the first such i, or the horizon, in Lyapunov
    times (steps / ``steps_per_lyapunov``).
    """
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        ratio = np.abs(forecast - truth) / (np.abs(forecast) + np.abs(truth))
    ratio = np.where(np.isfinite(ratio), ratio, 1.0)
    per_step = 200.0 * ratio.mean(axis=-1)
    so_far = np.cumsum(per_step, axis=-1) / np.arange(1, per_step.shape[-1] + 1)
    above = so_far > threshold
    steps = np.where(above.any(axis=-1), above.argmax(axis=-1), per_step.shape[-1])
    return steps / steps_per_lyapunov


def run_protocol_a(name, models, cache_dir, seed, out_dir):
    p = PROTOCOLS["a"]
    facts = system_facts(name)
    dt, steps_per_lyapunov, horizon = protocol_a_steps(facts)
    window = p["context"] + horizon
    series = trajectory(name, *trajectory_length(name, "a", facts), cache_dir)
    train = series[:p["n_train"] + 1]
    mean, std = train.mean(axis=0), train.std(axis=0)
    series = (series - mean) / std
    train, test = series[:p["n_train"] + 1], series[p["n_train"] + 1:]
    contexts = np.stack([test[w * window:w * window + p["context"]] for w in range(p["n_windows"])])
    truth = np.stack([test[w * window + p["context"]:(w + 1) * window] for w in range(p["n_windows"])])
    result = dict(system=name, protocol="a", **facts, dt=dt, horizon_steps=horizon,
                  horizon_lyapunov=horizon / steps_per_lyapunov, models={})
    for model_name in models:
        model = make_model(model_name, seed)
        t0 = time.perf_counter()
        _fit(model, train)
        fit_time = time.perf_counter() - t0
        forecasts = _forecast(model, horizon, contexts)
        vpt = valid_prediction_time(truth, forecasts, dt=dt, lyapunov_exponent=facts["lyapunov_exponent"],
                                    threshold=p["threshold"], scale=1.0).lyapunov_times
        entry = dict(vpt=[float(v) for v in np.atleast_1d(vpt)], median_vpt=float(np.median(vpt)),
                     fit_time=fit_time)
        if isinstance(model, AutoESNForecaster):
            entry["best_params"] = model.best_params_
            entry["search_time"] = model.search_time_
        result["models"][model_name] = entry
    _write(out_dir / "a" / f"{name}.json", result)
    return result


def run_protocol_b(name, models, cache_dir, seed, out_dir, n_initial_conditions):
    p = PROTOCOLS["b"]
    facts = system_facts(name)
    segments = trajectory(name, *trajectory_length(name, "b"), cache_dir)
    result = dict(system=name, protocol="b", **facts, models={})
    for model_name in models:
        vpts, fit_time = [], 0.0
        for k in range(n_initial_conditions):
            train, truth = segments[k, :p["n_train"]], segments[k, p["n_train"]:]
            model = make_model(model_name, seed + k)
            if model_name == "nvar":
                model.set_params(washout=None)   # 200 of 512 points would be lost
            own_scaling = model_name == "auto"
            mean, std = (0.0, 1.0) if own_scaling else (train.mean(axis=0), train.std(axis=0))
            t0 = time.perf_counter()
            try:
                scaled = (train - mean) / std
                _fit(model, scaled)
                # Every model runs over the whole training segment from its
                # zero state (teacher forced), then forecasts the step after.
                forecast = _forecast(model, p["horizon"], scaled[None])[0] * std + mean
            except ValueError:
                forecast = np.full_like(truth, np.nan)
            fit_time += time.perf_counter() - t0
            vpts.append(float(smape_vpt(truth, forecast, threshold=p["smape_threshold"],
                                        steps_per_lyapunov=p["points_per_lyapunov_time"])))
        result["models"][model_name] = dict(vpt=vpts, median_vpt=float(np.median(vpts)),
                                            fit_time=fit_time / n_initial_conditions)
    _write(out_dir / "b" / f"{name}.json", result)
    return result


def protocol_a_steps(facts):
    """(dt, steps per Lyapunov time, forecast horizon in steps) of protocol a for a system."""
    p = PROTOCOLS["a"]
    dt = facts["period"] / p["points_per_period"]
    steps_per_lyapunov = 1.0 / (facts["lyapunov_exponent"] * dt)
    horizon = int(min(p["max_horizon"], round(p["horizon_lyapunov"] * steps_per_lyapunov)))
    return dt, steps_per_lyapunov, horizon


def trajectory_length(name, protocol, facts=None):
    """(points, points per period) of the trajectory that ``protocol`` needs of system ``name``."""
    p = PROTOCOLS[protocol]
    if protocol == "b":
        return p["n_train"] + p["horizon"], "lyapunov30"
    _, _, horizon = protocol_a_steps(facts or system_facts(name))
    return p["n_train"] + 1 + p["n_windows"] * (p["context"] + horizon), p["points_per_period"]


def _generate(names, protocols, cache):
    for i, name in enumerate(names):
        for protocol in protocols:
            t0 = time.perf_counter()
            n_points, ppp = trajectory_length(name, protocol)
            try:
                trajectory(name, n_points, ppp, cache)
                status = f"{n_points} points"
            except RuntimeError as exc:
                status = f"left out, {exc}"
            print(f"[{i + 1}/{len(names)}] {name} protocol {protocol}: {status} "
                  f"({time.perf_counter() - t0:.0f} s)", flush=True)
    return 0


def _write(path, obj):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=1, default=float))


# ---------------------------------------------------------------------------- tables

def aggregate(results, models, halves):
    """Per protocol, half and model: median and quartiles of per-system medians, count below 1."""
    table = []
    for protocol in sorted({r["protocol"] for r in results}):
        for half, names in halves.items():
            rows = [r for r in results if r["protocol"] == protocol and r["system"] in names]
            for model in models:
                values = np.array([r["models"][model]["median_vpt"] for r in rows if model in r["models"]])
                if values.size == 0:
                    continue
                fits = np.array([r["models"][model]["fit_time"] for r in rows if model in r["models"]])
                q1, med, q3 = np.percentile(values, [25, 50, 75])
                table.append(dict(protocol=protocol, half=half, model=model, n_systems=int(values.size),
                                  median=float(med), q1=float(q1), q3=float(q3),
                                  below_1=int(np.sum(values < 1)), at_least_3=int(np.sum(values >= 3)),
                                  median_fit_time=float(np.median(fits)), max_fit_time=float(fits.max())))
    return table


def format_table(table):
    lines = [f"{'protocol':<8} {'half':<12} {'model':<12} {'systems':>7} {'median VPT':>10} "
             f"{'quartiles':>13} {'<1 LT':>6} {'>=3 LT':>6} {'fit s (median/max)':>19}"]
    for r in table:
        lines.append(f"{r['protocol']:<8} {r['half']:<12} {r['model']:<12} {r['n_systems']:>7} "
                     f"{r['median']:>10.2f} {r['q1']:>6.2f}-{r['q3']:<6.2f} {r['below_1']:>6} "
                     f"{r['at_least_3']:>6} {r['median_fit_time']:>9.1f}/{r['max_fit_time']:<9.1f}")
    return "\n".join(lines)


def plot(path, results, models, halves):
    from .plots import vpt_distribution_plot

    panels = {}
    for protocol in sorted({r["protocol"] for r in results}):
        for half, names in halves.items():
            rows = [r for r in results if r["protocol"] == protocol and r["system"] in names]
            data = {m: [r["models"][m]["median_vpt"] for r in rows if m in r["models"]] for m in models}
            data = {m: v for m, v in data.items() if v}
            if data:
                panels[f"protocol {protocol}, {half} ({len(rows)} systems)"] = data
    if panels:
        vpt_distribution_plot(path, panels)
        return path.name
    return None


# ---------------------------------------------------------------------------- command line

def build_parser():
    parser = argparse.ArgumentParser(prog="python -m benchmarks zoo", description=__doc__.split("\n\n")[0])
    parser.add_argument("mode", nargs="?", default="quick", choices=("quick", "full"),
                        help="quick (default): four systems, protocol a, a few minutes; full: every "
                             "system of the chosen halves")
    parser.add_argument("--protocols", default=None,
                        help="comma-separated protocols, a and/or b (default: a in quick mode, a,b in full)")
    parser.add_argument("--systems", default=None,
                        help="comma-separated dysts system names (default: by mode and --half)")
    parser.add_argument("--half", choices=("development", "held-out", "all"), default="all",
                        help="which half of the systems to run (default: all)")
    parser.add_argument("--models", default=None,
                        help=f"comma-separated models from {', '.join(MODELS)} (default: all available)")
    parser.add_argument("--initial-conditions", type=int, default=None,
                        help="protocol b's initial conditions per system (default: 20 in full mode, 3 "
                             "in quick)")
    parser.add_argument("--generate", action="store_true",
                        help="only integrate and cache the chosen systems' trajectories")
    parser.add_argument("--seed", type=int, default=0, help="seed of the models (default: 0)")
    parser.add_argument("--out", type=Path, default=Path("benchmark-results"),
                        help="output directory (default: benchmark-results/)")
    parser.add_argument("--cache", type=Path, default=None,
                        help="trajectory cache (default: OUT/cache/zoo)")
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    systems, left_out = all_systems()
    development, held_out = split(systems)
    halves = {"development": development, "held-out": held_out}
    if args.systems:
        chosen = [s.strip() for s in args.systems.split(",") if s.strip()]
        unknown = [s for s in chosen if s not in systems]
        if unknown:
            raise SystemExit(f"unknown or left-out systems: {', '.join(unknown)} (the zoo runs: "
                             f"{', '.join(systems)})")
    elif args.mode == "quick":
        chosen = list(QUICK_SYSTEMS)
    else:
        chosen = systems if args.half == "all" else halves[args.half]
    protocols = (args.protocols or ("a" if args.mode == "quick" else "a,b")).split(",")
    if any(p not in PROTOCOLS for p in protocols):
        raise SystemExit(f"--protocols takes a and/or b, got {args.protocols!r}")
    models = [m.strip() for m in (args.models or ",".join(MODELS)).split(",")]
    if any(m not in MODELS for m in models):
        raise SystemExit(f"--models takes names from {', '.join(MODELS)}, got {args.models!r}")
    skipped = {}
    if "reservoirpy" in models and not reservoirpy_available():
        models.remove("reservoirpy")
        skipped["reservoirpy"] = "reservoirpy is not installed"
    n_ics = args.initial_conditions or (PROTOCOLS["b"]["n_initial_conditions"] if args.mode == "full" else 3)
    out = args.out / "zoo"
    cache = args.cache or args.out / "cache" / "zoo"
    start = time.perf_counter()
    if args.generate:
        return _generate(chosen, protocols, cache)
    results, failed = [], {}
    for i, name in enumerate(chosen):
        half = "development" if name in development else "held-out"
        for protocol in protocols:
            t0 = time.perf_counter()
            try:
                if protocol == "a":
                    r = run_protocol_a(name, models, cache, args.seed, out)
                else:
                    r = run_protocol_b(name, models, cache, args.seed, out, n_ics)
            except RuntimeError as exc:
                failed[name] = str(exc)
                print(f"[{i + 1}/{len(chosen)}] {name}: left out, {exc}", flush=True)
                break
            results.append(r)
            summary = ", ".join(f"{m} {e['median_vpt']:.2f}" for m, e in r["models"].items())
            print(f"[{i + 1}/{len(chosen)}] {name} ({half}, protocol {protocol}, "
                  f"{time.perf_counter() - t0:.0f} s): median VPT {summary}", flush=True)
    table = aggregate(results, models, halves)
    figure = plot(args.out / "zoo_vpt.png", results, models, halves)
    _write(args.out / "zoo.json", dict(
        mode=args.mode, argv=list(sys.argv[1:] if argv is None else argv), protocols=protocols,
        protocol_settings={p: PROTOCOLS[p] for p in protocols}, initial_conditions=n_ics,
        development=development, held_out=held_out, left_out=left_out, failed=failed,
        skipped_models=skipped, elapsed=time.perf_counter() - start, machine=machine_description(),
        table=table, figure=figure))
    print()
    print(format_table(table))
    for name, reason in {**left_out, **failed}.items():
        if name in chosen or args.mode == "full":
            print(f"left out {name}: {reason}")
    for model, reason in skipped.items():
        print(f"skipped {model}: {reason}")
    print(f"\n{args.mode} mode, {time.perf_counter() - start:.0f} s; results in {out}/, table in "
          f"{args.out / 'zoo.json'}" + (f", figure {args.out / figure}" if figure else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
