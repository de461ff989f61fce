"""Speed suite: ``python -m benchmarks speed [quick|full] [options]``.

This package and ReservoirPy (the library users would pick instead, when it
is installed) run the same workloads side by side, in one process, on the
same model: a leaky tanh reservoir of N units with a random recurrent matrix
of density 0.1 rescaled to spectral radius 0.9, leak rate 0.3, dense input
weights, a bias, and a ridge readout on the states with an intercept. Every
time is the median of ``repeats`` runs after one warm-up run (which also
compiles the Numba kernels); ratios are ReservoirPy's median over ours.

Workloads:

* ``fit``: one series of 10 000 steps (3 features), N = 100, 300, 1000;
* ``predict``: teacher-forced prediction of the same series, from the zero state;
* ``generate``: 2000 steps of closed loop after fitting one feature one step
  ahead (ours: ``forecast``; ReservoirPy: its ``Model.step`` loop);
* ``fit 64 series``: 64 series of 1000 steps, N = 300, 1000;
* ``float32``: our float32 fit against our float64 fit at N = 1000;
* ``search``: reservoir candidates x ridge penalties on Lorenz-63, N = 500,
  scored by the valid prediction time over forecast windows (ours: one state
  harvest per candidate, the ridge path, and the closed loops of all
  penalties and windows as one batch; ReservoirPy: a refit per penalty and
  its ``Model.step`` loop per window);
* ``floor``: this machine's memory bandwidth and matrix-product rate, and
  the per-step cost of the recurrent product and of the statistics update
  measured alone, beside our fit's time per step;
* ``memory``: peak resident memory of a fit on 10^6 steps at N = 1000 (full
  mode; 2 x 10^5 in quick), in a separate process.

Results go to stdout and to ``speed.json`` (with the machine's description)
in the output directory. Nothing here is asserted: the targets of the speed
issue are printed beside the measured ratios.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import textwrap
import time
import warnings
from pathlib import Path

import numpy as np

from reservoir import ESNRegressor
from reservoir.datasets import LYAPUNOV_EXPONENTS, forecast_windows, lorenz63
from reservoir.metrics import valid_prediction_time

from .models import reservoirpy_available
from .report import machine_description

DENSITY, RADIUS, LEAK, ALPHA = 0.1, 0.9, 0.3, 1e-6

# Ratios (ReservoirPy time / ours) the speed issue asks for, by workload and N.
TARGETS = {
    ("fit", 100): 3.0, ("fit", 300): 2.0, ("fit", 1000): 1.5,
    ("predict", 100): 3.0, ("predict", 300): 2.0, ("predict", 1000): 1.5,
    ("generate", 100): 5.0, ("generate", 300): 3.0, ("generate", 1000): 2.0,
    ("fit 64 series", 300): 4.0, ("fit 64 series", 1000): 3.0,
    ("search", 500): 5.0,
    ("float32 fit (vs our float64)", 1000): 1.5, ("float32 fit 64 series (vs our float64)", 1000): 1.5,
}


def _median_time(fn, repeats):
    fn()  # warm-up: caches, compiled kernels, page faults
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def ours(n_units, *, dtype="float64", seed=0, alpha=ALPHA, washout=10):
    return ESNRegressor(n_units=n_units, density=DENSITY, spectral_radius=RADIUS, leak_rate=LEAK,
                        input_scaling=1.0, bias_scaling=0.5, alpha=alpha, washout=washout,
                        readout_features=("constant", "state"), dtype=dtype, random_state=seed)


def theirs(n_units, *, seed=0, alpha=ALPHA):
    from reservoirpy import mat_gen
    from reservoirpy.nodes import Reservoir, Ridge

    reservoir = Reservoir(units=n_units, sr=RADIUS, lr=LEAK, rc_connectivity=DENSITY,
                          input_connectivity=1.0, input_scaling=1.0, W=mat_gen.normal,
                          Win=mat_gen.uniform, bias=mat_gen.uniform(low=-0.5, high=0.5), seed=seed)
    return reservoir >> Ridge(ridge=alpha)


def _rpy_reset(model):
    for node in model.nodes:
        if hasattr(node, "reset"):
            node.reset()


def _rpy_generate(model, y0, n_steps):
    y = y0
    for _ in range(n_steps):
        y = model.step(y)
    return y


# --------------------------------------------------------------------------
# Workloads
# --------------------------------------------------------------------------

def one_series(sizes, repeats, with_reference):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((10_001, 3))
    signal = np.sin(0.05 * np.arange(12_001))[:, None]
    rows = []
    for n in sizes:
        # A fit draws the weights (both libraries rescale W to its spectral radius).
        fit = _median_time(lambda n=n: ours(n).fit(X[:-1], X[1:]), repeats)
        esn = ours(n).fit(X[:-1], X[1:])
        predict = _median_time(lambda esn=esn: esn.predict(X[:-1]), repeats)
        gen = ours(n).fit(signal[:10_000], signal[1:10_001])
        generate = _median_time(lambda gen=gen: gen.forecast(2000), repeats)
        ref = {}
        if with_reference:
            ref["fit"] = _median_time(lambda n=n: theirs(n).fit(X[:-1], X[1:], warmup=10), repeats)
            model = theirs(n).fit(X[:-1], X[1:], warmup=10)

            def run(model=model):
                _rpy_reset(model)
                return model.run(X[:-1])

            ref["predict"] = _median_time(run, repeats)
            autonomous = theirs(n).fit(signal[:10_000], signal[1:10_001], warmup=10)
            ref["generate"] = _median_time(
                lambda m=autonomous: _rpy_generate(m, signal[10_000], 2000), repeats)
        for name, t in (("fit", fit), ("predict", predict), ("generate", generate)):
            rows.append(_row(name, n, t, ref.get(name)))
    return rows


def many_series(sizes, repeats, with_reference):
    rng = np.random.default_rng(1)
    X = rng.standard_normal((64, 1001, 3))
    rows = []
    for n in sizes:
        t = _median_time(lambda n=n: ours(n).fit(X[:, :-1], X[:, 1:]), repeats)
        ref = None
        if with_reference:
            series_in, series_out = list(X[:, :-1]), list(X[:, 1:])
            ref = _median_time(lambda n=n, a=series_in, b=series_out: theirs(n).fit(a, b, warmup=10),
                               repeats)
        rows.append(_row("fit 64 series", n, t, ref))
    return rows


def float32(repeats):
    rng = np.random.default_rng(2)
    one = rng.standard_normal((10_001, 3))
    batch = rng.standard_normal((64, 1001, 3))
    rows = []
    for name, X in (("float32 fit (vs our float64)", one[None]),
                    ("float32 fit 64 series (vs our float64)", batch)):
        t64 = _median_time(lambda X=X: ours(1000).fit(X[:, :-1], X[:, 1:]), repeats)
        t32 = _median_time(lambda X=X: ours(1000, dtype="float32").fit(X[:, :-1], X[:, 1:]),
                           repeats)
        rows.append(_row(name, 1000, t32, t64, reference_name="ours float64"))
    return rows


# The search: Lorenz-63 (dt 0.01), 5000 training steps after a spin-up of 200,
# windows of 200 context steps and 1000 forecast steps, N = 500.
SEARCH = dict(n_units=500, n_train=5000, spinup=200, context=200, horizon=1000, n_windows=5,
              stride=1200, alphas=np.logspace(-10, -1, 10))


def _search_data():
    p = SEARCH
    n = p["spinup"] + p["n_train"] + 1 + (p["n_windows"] - 1) * p["stride"] + p["context"] + p["horizon"]
    series = lorenz63(n, dt=0.01, random_state=7)
    n_fit = p["spinup"] + p["n_train"] + 1
    mean, std = series[:n_fit].mean(axis=0), series[:n_fit].std(axis=0)
    series = (series - mean) / std
    contexts, truth = forecast_windows(series[n_fit:], n_windows=p["n_windows"],
                                       horizon=p["horizon"], warmup=p["context"], stride=p["stride"])
    return series[:n_fit], contexts, truth


def _candidates(n_candidates):
    rng = np.random.default_rng(0)
    return [dict(spectral_radius=float(rng.uniform(0.2, 1.2)), leak_rate=float(rng.uniform(0.1, 1.0)),
                 input_scaling=float(10 ** rng.uniform(-2, 0)), bias_scaling=float(rng.uniform(0, 1.5)))
            for _ in range(n_candidates)]


def _vpt(truth, forecasts):
    with np.errstate(over="ignore", invalid="ignore"):
        return float(np.mean(valid_prediction_time(
            truth, forecasts, dt=0.01, lyapunov_exponent=LYAPUNOV_EXPONENTS["lorenz63"].value,
            threshold=0.3, scale=1.0).lyapunov_times))


def search(n_candidates, with_reference):
    """(our time, ReservoirPy's time, our best VPT, ReservoirPy's best VPT) of the search workload."""
    p = SEARCH
    train, contexts, truth = _search_data()
    candidates = _candidates(n_candidates)
    warnings.simplefilter("ignore")
    start = time.perf_counter()
    best = -np.inf
    for c in candidates:
        esn = ESNRegressor(n_units=p["n_units"], density=0.02, washout=p["spinup"],
                           readout_features=("constant", "input", "state", "squared_state"),
                           random_state=0, alpha=float(p["alphas"][0]), **c)
        esn.fit(train[:-1], train[1:])
        for forecasts in esn.forecast_ridge_path(p["alphas"], p["horizon"], context=contexts):
            best = max(best, _vpt(truth, forecasts))
    ours_time = time.perf_counter() - start
    if not with_reference:
        return ours_time, None, best, None
    start = time.perf_counter()
    best_ref = -np.inf
    for c in candidates:
        for alpha in p["alphas"]:
            from reservoirpy import mat_gen
            from reservoirpy.nodes import Input, Reservoir, Ridge

            b = c["bias_scaling"]
            reservoir = Reservoir(units=p["n_units"], sr=c["spectral_radius"], lr=c["leak_rate"],
                                  input_scaling=c["input_scaling"], rc_connectivity=0.02,
                                  input_connectivity=1.0, W=mat_gen.normal, Win=mat_gen.uniform,
                                  bias=mat_gen.uniform(low=-b, high=b), seed=0)
            source = Input()
            model = [source, source >> reservoir] >> Ridge(ridge=float(alpha))
            model.fit(train[:-1], train[1:], warmup=p["spinup"])
            forecasts = np.empty_like(truth)
            for w, ctx in enumerate(contexts):
                _rpy_reset(model)
                model.run(ctx[:-1])
                y = ctx[-1]
                for k in range(p["horizon"]):
                    y = np.asarray(model.step(y)).reshape(-1)
                    forecasts[w, k] = y
            best_ref = max(best_ref, _vpt(truth, forecasts))
    return ours_time, time.perf_counter() - start, best, best_ref


# --------------------------------------------------------------------------
# The floor: what this machine's arithmetic and memory allow per time step
# --------------------------------------------------------------------------

def _best_time(fn, repeats):
    fn()
    best = np.inf
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def machine_rates(repeats=5):
    """(memory bandwidth GB/s, float64 matrix-product GFlop/s) of this machine, as NumPy sees it.

    The bandwidth is a streamed a + b -> c over arrays far larger than the
    caches (three 8-byte accesses per element); the arithmetic rate is a
    2000 x 2000 matrix product through NumPy's BLAS on all its threads.
    """
    n = 16_000_000
    a, b, c = np.ones(n), np.ones(n), np.empty(n)
    bandwidth = 3 * 8 * n / _best_time(lambda: np.add(a, b, out=c), repeats) / 1e9
    m = np.random.default_rng(0).standard_normal((2000, 2000))
    gflops = 2 * 2000 ** 3 / _best_time(lambda: m @ m, repeats) / 1e9
    return bandwidth, gflops


_PRODUCTS = 200  # products per timed call: one alone is too short to time


def step_floor(sizes, repeats=20):
    """Per-step cost of the two unavoidable parts of a fit, measured on their own.

    For each N: the recurrent product W x (SciPy CSR, density 0.1, one series:
    the operation ReservoirPy and the NumPy path both call) and the readout's
    statistics update XᵀX over a block of 1000 steps of F = N features (the states),
    divided by the block length. Their sum is the floor of a one-series fit;
    the product alone is the floor of predict and of the closed loop.
    Beside them, this package's state harvest alone (``Reservoir.run`` over
    2000 steps of one series) in float64 and in float32: what a float32 fit
    can gain, since its statistics stay float64.
    """
    from reservoir import Reservoir
    from reservoir.initializers import bias_vector, input_weights, recurrent_weights

    rows = []
    rng = np.random.default_rng(0)
    U = rng.standard_normal((2000, 3))
    for n in sizes:
        W = recurrent_weights(n, spectral_radius=RADIUS, density=DENSITY, random_state=0)
        x = rng.standard_normal(n)
        product = _best_time(lambda W=W, x=x: [W @ x for _ in range(_PRODUCTS)], repeats) / _PRODUCTS
        F = n
        S = rng.standard_normal((1000, F))
        gram = _best_time(lambda S=S: S.T @ S, repeats) / 1000
        harvest = {}
        for dtype in ("float64", "float32"):
            res = Reservoir(W, input_weights(n, 3, random_state=1), bias_vector(n, random_state=2),
                            leak_rate=LEAK, dtype=dtype)
            harvest[dtype] = _best_time(lambda res=res: res.run(U), repeats) / len(U)
        rows.append(dict(n_units=n, nnz=int(W.nnz), product_us=product * 1e6, gram_us=gram * 1e6,
                         gram_flops_per_step=2 * F * F, harvest_float64_us=harvest["float64"] * 1e6,
                         harvest_float32_us=harvest["float32"] * 1e6))
    return rows


# The peak resident set of the fit alone: Linux's VmHWM, reset just before the
# fit through /proc/self/clear_refs (ru_maxrss cannot be reset, and a child
# started by fork and exec inherits its parent's).
_MEMORY_SCRIPT = textwrap.dedent("""
    import sys, numpy as np
    from reservoir import ESNRegressor

    def vm(key):
        for line in open("/proc/self/status"):
            if line.startswith(key):
                return int(line.split()[1]) / 1024.0

    n = int(sys.argv[1])
    X = np.random.default_rng(0).standard_normal((n, 3))
    esn = ESNRegressor(n_units=1000, density=0.1, spectral_radius=0.9, leak_rate=0.3,
                       readout_features=("constant", "state"), random_state=0)
    before = vm("VmRSS:")
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    esn.fit(X[:-1], X[1:])
    print(before, vm("VmHWM:"))
""")


def memory(n_steps):
    """Peak resident memory (MB) of a process fitting N = 1000 on ``n_steps``, and just before the fit."""
    out = subprocess.run([sys.executable, "-c", _MEMORY_SCRIPT, str(n_steps)], capture_output=True,
                         text=True, check=True)
    before, peak = (float(v) for v in out.stdout.split())
    return peak, before


# --------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------

def _row(workload, n_units, ours_s, reference_s, reference_name="reservoirpy"):
    ratio = None if reference_s is None else reference_s / ours_s
    target = TARGETS.get((workload, n_units))
    return dict(workload=workload, n_units=n_units, ours_s=ours_s, reference=reference_name,
                reference_s=reference_s, ratio=ratio, target=target,
                meets_target=None if ratio is None or target is None else bool(ratio >= target))


def format_rows(rows):
    head = f"{'workload':40s} {'N':>5s} {'ours s':>9s} {'reference s':>12s} {'ratio':>7s} {'target':>7s}"
    lines = [head, "-" * len(head)]
    for r in rows:
        ref = "-" if r["reference_s"] is None else f"{r['reference_s']:.4g}"
        ratio = "-" if r["ratio"] is None else f"{r['ratio']:.2f}x"
        target = "-" if r["target"] is None else f"{r['target']:.1f}x"
        lines.append(f"{r['workload']:40s} {r['n_units']:>5d} {r['ours_s']:>9.4g} {ref:>12s} "
                     f"{ratio:>7s} {target:>7s}")
    return "\n".join(lines)


def build_parser():
    parser = argparse.ArgumentParser(prog="python -m benchmarks speed",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("mode", nargs="?", default="quick", choices=("quick", "full"),
                        help="quick: fewer repeats and candidates; full: the documented sizes")
    parser.add_argument("--workloads", default="one,many,float32,search,floor,memory",
                        help="comma-separated: one, many, float32, search, floor, memory")
    parser.add_argument("--repeats", type=int, default=None,
                        help="timed runs per workload after the warm-up (default: 5; quick: 3)")
    parser.add_argument("--no-reference", action="store_true", help="skip ReservoirPy")
    parser.add_argument("--out", type=Path, default=Path("benchmark-results"))
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    full = args.mode == "full"
    repeats = args.repeats or (5 if full else 3)
    with_reference = reservoirpy_available() and not args.no_reference
    chosen = {w.strip() for w in args.workloads.split(",")}
    rows, extra = [], {}
    if "one" in chosen:
        rows += one_series((100, 300, 1000), repeats, with_reference)
    if "many" in chosen:
        rows += many_series((300, 1000), repeats, with_reference)
    if "float32" in chosen:
        rows += float32(repeats)
    if "search" in chosen:
        n_candidates = 30 if full else 3
        t, t_ref, vpt, vpt_ref = search(n_candidates, with_reference)
        rows.append(_row("search", SEARCH["n_units"], t, t_ref))
        extra["search"] = dict(n_candidates=n_candidates, n_alphas=len(SEARCH["alphas"]),
                               best_vpt_ours=vpt, best_vpt_reference=vpt_ref)
    if "floor" in chosen:
        bandwidth, gflops = machine_rates()
        extra["floor"] = dict(bandwidth_gb_s=bandwidth, gemm_gflops=gflops,
                              steps=step_floor((100, 300, 1000)))
    if "memory" in chosen:
        n_steps = 1_000_000 if full else 200_000
        peak, base = memory(n_steps)
        extra["memory"] = dict(n_steps=n_steps, n_units=1000, peak_mb=peak, before_fit_mb=base,
                               states_mb=n_steps * 1000 * 8 / 1e6)
    print(format_rows(rows))
    if "search" in extra:
        s = extra["search"]
        print(f"search: {s['n_candidates']} candidates x {s['n_alphas']} penalties; best mean VPT "
              f"ours {s['best_vpt_ours']:.2f}" + ("" if s["best_vpt_reference"] is None else
                                                   f", reservoirpy {s['best_vpt_reference']:.2f}"))
    if "floor" in extra:
        f = extra["floor"]
        fits = {r["n_units"]: r["ours_s"] / 10_000 for r in rows if r["workload"] == "fit"}
        print(f"\nfloor: memory bandwidth {f['bandwidth_gb_s']:.1f} GB/s, float64 matrix product "
              f"{f['gemm_gflops']:.1f} GFlop/s")
        print(f"{'N':>5s} {'nnz(W)':>8s} {'W x us':>8s} {'XtX us/step':>12s} {'floor us':>9s} "
              f"{'our fit us/step':>16s} {'harvest f64 us':>15s} {'harvest f32 us':>15s}")
        for r in f["steps"]:
            ours_fit = fits.get(r["n_units"])
            shown = "-" if ours_fit is None else f"{ours_fit * 1e6:.1f}"
            print(f"{r['n_units']:>5d} {r['nnz']:>8d} {r['product_us']:>8.1f} {r['gram_us']:>12.1f} "
                  f"{r['product_us'] + r['gram_us']:>9.1f} {shown:>16s} "
                  f"{r['harvest_float64_us']:>15.1f} {r['harvest_float32_us']:>15.1f}")
    if "memory" in extra:
        m = extra["memory"]
        print(f"memory: fit on {m['n_steps']} steps at N=1000: peak {m['peak_mb']:.0f} MB resident "
              f"({m['before_fit_mb']:.0f} MB before the fit; the states alone would be "
              f"{m['states_mb']:.0f} MB)")
    if not with_reference:
        print("reservoirpy not run" + (" (not installed)" if not reservoirpy_available() else ""))
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "speed.json"
    path.write_text(json.dumps(dict(mode=args.mode, repeats=repeats, rows=rows, **extra,
                                    machine=machine_description(), argv=list(argv or sys.argv[1:])),
                               indent=2) + "\n")
    print(f"\nwritten to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
