"""Scaling of the distributed fit, and the error of fitting one long series in time chunks.

``python -m benchmarks.scaling throughput`` fits an ESNRegressor from a Dask
array of many series (chunked along series, generated on the workers) on a
``LocalCluster`` of worker processes on 127.0.0.1, for each number of
workers, and prints the throughput (time steps per second) against the
number of workers, next to the in-memory fit in one process, with the cost
model's numbers: the bytes of the scattered model, of one task's partial
statistics, and the bytes the workers sent (to one another and to the client).

``python -m benchmarks.scaling overlap`` fits one long Mackey-Glass series
in time chunks (:func:`reservoir.distributed.fit` with ``overlap``) and
prints the readout's error against the sequential fit for each overlap.

docs/scaling.rst quotes both, with the commands that measured them. Needs
the ``dask`` extra (``pip install 'reservoir-esn[dask]'``).
"""

from __future__ import annotations

import argparse
import logging
import pickle
import time
import warnings

import numpy as np
from threadpoolctl import threadpool_limits

from reservoir import ESNRegressor
from reservoir.datasets import mackey_glass


def _csv_ints(text):
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None
    if not values or min(values) < 0:
        raise argparse.ArgumentTypeError(f"expected non-negative integers, got {text!r}")
    return values


# --------------------------------------------------------------------------- throughput


def _block(block_id, *, n_steps, n_features, seed):
    """One block of series, drawn on the worker from a seed of its own (no data sent)."""
    rng = np.random.default_rng([seed, block_id])
    return rng.uniform(-1.0, 1.0, size=(n_steps, n_features))


def _series(n_series, n_steps, n_features, series_per_task, seed):
    """Inputs (Dask, drawn on the workers) and targets: a delayed product of two inputs."""
    import dask.array as da
    from dask import delayed

    X = da.stack([
        da.from_delayed(delayed(_block)(i, n_steps=n_steps, n_features=n_features, seed=seed),
                        (n_steps, n_features), dtype=float)
        for i in range(n_series)
    ]).rechunk((series_per_task, n_steps, n_features))
    # y(t) = u_0(t - 3) u_1(t - 1): needs memory and a nonlinearity.
    y = da.roll(X[..., 0], 3, axis=1) * da.roll(X[..., 1], 1, axis=1)
    return X, y


def _statistics_bytes(n_readout_features, n_outputs):
    """Bytes of one task's partial statistics: F^2 + F k + F + k float64s."""
    F, k = n_readout_features, n_outputs
    return 8 * (F * F + F * k + F + k)


def _worker_bytes_sent(client):
    """Bytes the workers have sent so far, to one another and to the client (dask.distributed's count)."""
    return sum(client.run(lambda dask_worker: dask_worker.transfer_outgoing_bytes_total).values())


def throughput(args):
    from distributed import Client, LocalCluster, wait

    params = dict(n_units=args.units, washout=args.washout, alpha=1e-6, random_state=0)
    X, y = _series(args.series, args.steps, args.features, args.series_per_task, args.seed)
    X_memory, y_memory = X.compute(scheduler="synchronous"), y.compute(scheduler="synchronous")
    # One BLAS thread, as in every worker (dask.distributed's nannies set
    # OMP_NUM_THREADS=1): the speed-ups below are against this one process.
    with threadpool_limits(1):
        ESNRegressor(**params).fit(X_memory[:1], y_memory[:1])
        started = time.perf_counter()
        reference = ESNRegressor(**params).fit(X_memory, y_memory)
        in_memory = time.perf_counter() - started
    total_steps = args.series * args.steps
    n_tasks = -(-args.series // args.series_per_task)
    F = int(reference.readout_.coef_.shape[-1])
    print(f"{args.series} series x {args.steps} steps x {args.features} inputs, "
          f"{args.units} units ({F} readout features), {n_tasks} tasks of {args.series_per_task} "
          "series")
    print(f"cost model: partial statistics {_statistics_bytes(F, 1) / 1e6:.2f} MB per task; "
          f"model scattered once per worker {len(pickle.dumps(reference)) / 1e6:.2f} MB "
          "(pickled fitted model, an upper bound of the unfitted one); input data per task "
          f"{8 * args.series_per_task * args.steps * args.features / 1e6:.2f} MB, made on the "
          "workers here")
    print(f"in memory, one process, one BLAS thread: {in_memory:.2f} s, "
          f"{total_steps / in_memory:,.0f} steps/s")
    print(f"{'workers':>7} {'fit (s)':>8} {'steps/s':>12} {'speed-up':>8} {'MB sent by workers':>18}"
          f" {'max rel. coef diff':>18}  (best of {args.repeats} fits)")
    for n_workers in args.workers:
        with warnings.catch_warnings():
            # Its health-check HTTP server (no dashboard) moves off a busy port 8787 with a warning.
            warnings.simplefilter("ignore", UserWarning)
            cluster = LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True,
                                   host="127.0.0.1", dashboard_address=None,
                                   silence_logs=logging.ERROR)
        with cluster, Client(cluster) as client:
            # The series live on the workers, as when they read them from storage.
            X_on, y_on = client.persist([X, y])
            wait([X_on, y_on])
            ESNRegressor(**params).fit(X_on, y_on)              # warm the workers up
            sent_before = _worker_bytes_sent(client)
            times = []
            for _ in range(args.repeats):
                started = time.perf_counter()
                model = ESNRegressor(**params).fit(X_on, y_on)
                times.append(time.perf_counter() - started)
            sent = _worker_bytes_sent(client)
        best = min(times)
        diff = float(np.max(np.abs(model.readout_.coef_ - reference.readout_.coef_))
                     / np.max(np.abs(reference.readout_.coef_)))
        print(f"{n_workers:>7} {best:>8.2f} {total_steps / best:>12,.0f} {in_memory / best:>8.2f} "
              f"{(sent - sent_before) / args.repeats / 1e6:>18.2f} {diff:>18.1e}")


# --------------------------------------------------------------------------- overlap


def overlap(args):
    import dask.array as da

    from reservoir.distributed import fit

    s = mackey_glass(args.steps + args.test + 1)
    s = ((s - s.mean()) / s.std()).reshape(-1, 1)
    X, y = s[:args.steps], s[1:args.steps + 1]
    X_test, y_test = s[args.steps:-1], s[args.steps + 1:]
    print(f"Mackey-Glass (tau=17), {args.steps} steps in chunks of {args.chunk}, "
          f"{args.units} units, washout {args.washout}, alpha {args.alpha}; errors against the "
          f"sequential fit; outputs compared over the {args.test} steps after the training series")
    print(f"{'rho':>5} {'leak':>5} {'overlap':>7} {'state error':>12} {'rel. coef error':>16} "
          f"{'output error / std':>19}")
    starts = range(args.chunk, args.steps, args.chunk)
    for rho, leak in ((0.9, 1.0), (0.9, 0.3)):
        params = dict(n_units=args.units, washout=args.washout, alpha=args.alpha,
                      spectral_radius=rho, leak_rate=leak, random_state=0)
        sequential = ESNRegressor(**params).fit(X, y)
        states = sequential.reservoir_.run(X)
        y_ref = sequential.predict(X_test)
        for ov in args.overlaps:
            model = fit(ESNRegressor(**params), da.from_array(X, chunks=(args.chunk, 1)), y,
                        overlap=ov)
            # The state at each chunk's first trained step, run from zero over the overlap.
            state = max(float(np.max(np.abs(sequential.reservoir_.run(X[max(0, a - ov):a + 1])[-1]
                                            - states[a]))) for a in starts)
            coef = float(np.max(np.abs(model.readout_.coef_ - sequential.readout_.coef_))
                         / np.max(np.abs(sequential.readout_.coef_)))
            out = float(np.max(np.abs(model.predict(X_test) - y_ref)) / np.std(y_test))
            print(f"{rho:>5} {leak:>5} {ov:>7} {state:>12.1e} {coef:>16.1e} {out:>19.1e}")


def build_parser():
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.scaling",
        description="Distributed fitting on a LocalCluster: throughput against workers, and the "
                    "error of time-chunked fitting against the overlap (docs/scaling.rst).")
    sub = parser.add_subparsers(dest="what", required=True)
    t = sub.add_parser("throughput", help="throughput against the number of workers")
    t.add_argument("--workers", type=_csv_ints, default=[1, 2], help="(default: 1,2)")
    t.add_argument("--series", type=int, default=48)
    t.add_argument("--steps", type=int, default=2000)
    t.add_argument("--features", type=int, default=3)
    t.add_argument("--units", type=int, default=300)
    t.add_argument("--washout", type=int, default=100)
    t.add_argument("--series-per-task", type=int, default=8)
    t.add_argument("--repeats", type=int, default=3)
    t.add_argument("--seed", type=int, default=0)
    o = sub.add_parser("overlap", help="time-chunk error against the overlap")
    o.add_argument("--steps", type=int, default=20000)
    o.add_argument("--chunk", type=int, default=2000)
    o.add_argument("--test", type=int, default=1000)
    o.add_argument("--units", type=int, default=200)
    o.add_argument("--washout", type=int, default=200)
    o.add_argument("--alpha", type=float, default=1e-6)
    o.add_argument("--overlaps", type=_csv_ints, default=[1, 5, 10, 20, 50, 100, 200, 500, 20000])
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    {"throughput": throughput, "overlap": overlap}[args.what](args)


if __name__ == "__main__":
    main()
