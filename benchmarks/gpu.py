"""Device run: ``python -m benchmarks gpu --out DIR`` (``--dry-run`` on a CPU).

One script for a GPU machine, in sections that each have a time budget so
that the whole run fits in about six minutes on an H200:

1. ``setup``: the device, CuPy, CUDA runtime and driver versions, and the
   device's memory bandwidth, measured by a large device-to-device copy;
2. ``tests``: the CuPy tests, ``pytest -m gpu`` on every test file that
   has tests marked ``gpu`` (every backend-parametrised test has a CuPy
   case so marked);
3. ``products``: the recurrent product x Wᵀ dense (cuBLAS) and CSR
   (cuSPARSE) for each size, density, batch and precision, and which is
   faster: the ``product_table`` of gpu.json, in the row format of
   ``reservoir._states.DEVICE_PRODUCTS``;
4. ``table``: N = 1024 ... 16384, batches of 1 and 256 series, float32 and
   float64: fit (states, ridge statistics, solve), teacher-forced predict
   and the closed loop (one series; the batch of the ridge path's penalties
   and windows, ``forecast_ridge_path``), each by this package on the
   device, by this package's NumPy path on the host (fewer steps: compare
   the time per step), and by a plain PyTorch ESN of the same model on the
   device (the same W, dense or CSR as this package chose, the same leaky
   tanh update);
5. ``search``: one candidate of a forecasting search (fit, ridge path of 10
   penalties, closed loops of 5 windows, valid prediction time);
6. ``reservoirpy``: a fit at N = 2000 of one series against ReservoirPy on
   the host, when it is importable.

Rows are measured from the smallest model to the largest; a row that the
budget left in its section cannot pay for is skipped with the reason
recorded, so a run that ends early still has its smaller rows. After every
row the log (``gpu.log``), the rows (``gpu-rows.jsonl``) and the summary
(``gpu.json``) are written and flushed. Times are taken between device
synchronisations; steps per row are chosen from a short probe so that a
timed run lasts about a quarter of a second.

``--dry-run`` runs every section with tiny sizes on a machine without a
GPU: NumPy stands in for CuPy when CuPy is missing, and the PyTorch
reference is skipped with its reason when PyTorch is missing. The suite
runs it (tests/test_gpu_script.py), so that the script cannot fail on the
device for a reason a CPU could have caught.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import subprocess
import sys
import time
import traceback
import warnings
from pathlib import Path

import numpy as np
import scipy.sparse

from reservoir import ESNRegressor
from reservoir.datasets import LYAPUNOV_EXPONENTS, forecast_windows, lorenz63
from reservoir.metrics import valid_prediction_time
from reservoir.readout import GramAccumulator

from .models import reservoirpy_available
from .report import machine_description

# Seconds per section: about six minutes in all on an H200, with the slack
# that a rerun of the same command needs to fit the device time left.
BUDGETS = dict(setup=15, tests=140, products=30, table=125, search=25, reservoirpy=15)

FULL = dict(sizes=(1024, 2048, 4096, 8192, 16384), batches=(1, 256), dtypes=("float32", "float64"),
            path_max_units=8192, host_path_max_units=2048, search_sizes=(1024, 2048, 4096),
            host_search_max_units=1024, densities=(10, 0.01, 0.1), dense_product_max_units=16384,
            probe_steps=8, target_s=0.25, host_target_s=0.3, max_steps=4096, context=64,
            copy_bytes=1 << 31, reservoirpy_units=2000, reservoirpy_steps=2000,
            search=dict(n_train=2000, spinup=100, context=200, horizon=500, n_windows=5,
                        stride=600, n_alphas=10),
            test_files=None)
DRY = dict(FULL, sizes=(40, 240), batches=(1, 4), path_max_units=240, host_path_max_units=240,
           search_sizes=(40,), host_search_max_units=40, densities=(10, 0.1),
           dense_product_max_units=240, probe_steps=4, target_s=0.01, host_target_s=0.01,
           max_steps=64, context=16, copy_bytes=1 << 22, reservoirpy_units=50,
           reservoirpy_steps=300,
           search=dict(n_train=300, spinup=50, context=40, horizon=60, n_windows=2, stride=80,
                       n_alphas=3),
           test_files=["tests/test_cupy_kernels.py"])
DRY_BUDGETS = dict(setup=10, tests=60, products=5, table=20, search=10, reservoirpy=10)

RADIUS, LEAK, ALPHA, N_FEATURES = 0.9, 0.3, 1e-6, 3


# --------------------------------------------------------------------------
# Output: a log, one JSON line per row, and the summary, flushed as it goes
# --------------------------------------------------------------------------

class Output:
    def __init__(self, out_dir, argv):
        self.dir = Path(out_dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self._log = open(self.dir / "gpu.log", "w", buffering=1)
        self._rows = open(self.dir / "gpu-rows.jsonl", "w", buffering=1)
        self.summary = dict(argv=list(argv), started=time.strftime("%Y-%m-%d %H:%M:%S %z"),
                            sections={}, rows=[], product_table=[])

    def say(self, text=""):
        print(text, flush=True)
        self._log.write(text + "\n")
        self._log.flush()

    def row(self, **row):
        self.summary["rows"].append(row)
        self._rows.write(json.dumps(row, default=str) + "\n")
        self._rows.flush()
        self.save()
        return row

    def save(self):
        path = self.dir / "gpu.json"
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(self.summary, indent=1, default=str) + "\n")
        os.replace(tmp, path)

    def close(self):
        self.summary["finished"] = time.strftime("%Y-%m-%d %H:%M:%S %z")
        self.save()
        self._log.close()
        self._rows.close()


class Budget:
    """Seconds left to one section."""

    def __init__(self, name, seconds):
        self.name, self.seconds, self.start = name, float(seconds), time.perf_counter()

    def spent(self):
        return time.perf_counter() - self.start

    def left(self):
        return self.seconds - self.spent()


# --------------------------------------------------------------------------
# The device, or NumPy standing in for it
# --------------------------------------------------------------------------

class Device:
    """The array library of the device run: CuPy on a GPU, NumPy standing in without one."""

    def __init__(self, dry_run):
        self.cupy = None
        try:
            import cupy

            if cupy.cuda.runtime.getDeviceCount() > 0:
                self.cupy = cupy
        except Exception as exc:   # no CuPy, or no usable CUDA device
            self.missing = f"{type(exc).__name__}: {exc}"
        else:
            if self.cupy is None:
                self.missing = "CuPy sees no CUDA device"
        if self.cupy is None and not dry_run:
            raise SystemExit(f"no GPU for the device run ({self.missing}); "
                             "use --dry-run to check the script on a CPU")
        self.xp = self.cupy if self.cupy is not None else np
        self.name = "cupy" if self.cupy is not None else "numpy (standing in for cupy)"

    def sync(self):
        if self.cupy is not None:
            self.cupy.cuda.Device().synchronize()

    def put(self, a, dtype=None):
        a = np.asarray(a) if dtype is None else np.asarray(a, dtype=dtype)
        return self.cupy.asarray(a) if self.cupy is not None else a

    def csr(self, W, dtype):
        W = scipy.sparse.csr_matrix(W, dtype=dtype)
        if self.cupy is None:
            return W
        import cupyx.scipy.sparse

        return cupyx.scipy.sparse.csr_matrix(W)

    def free(self):
        if self.cupy is not None:
            self.cupy.get_default_memory_pool().free_all_blocks()

    def describe(self):
        if self.cupy is None:
            return dict(device=self.name, reason=self.missing)
        cp = self.cupy
        props = cp.cuda.runtime.getDeviceProperties(cp.cuda.Device().id)
        name = props["name"]
        free, total = cp.cuda.Device().mem_info
        return dict(device=name.decode() if isinstance(name, bytes) else str(name),
                    cupy=cp.__version__, cuda_runtime=_cuda_version(cp.cuda.runtime.runtimeGetVersion()),
                    cuda_driver=_cuda_version(cp.cuda.runtime.driverGetVersion()),
                    compute_capability=f"{props['major']}.{props['minor']}",
                    memory_gib=round(total / 2 ** 30, 1), memory_free_gib=round(free / 2 ** 30, 1))


def _cuda_version(v):
    return f"{v // 1000}.{(v % 1000) // 10}"


def _torch(dry_run):
    """(torch module, its device string), or (None, reason)."""
    try:
        import torch
    except ImportError as exc:
        return None, f"PyTorch is not installed ({exc})"
    if torch.cuda.is_available():
        return torch, "cuda"
    if dry_run:
        return torch, "cpu"
    return None, "PyTorch sees no CUDA device"


def _timed(fn, sync):
    sync()
    start = time.perf_counter()
    fn()
    sync()
    return time.perf_counter() - start


def _best(fn, sync, repeats):
    return min(_timed(fn, sync) for _ in range(repeats))


def _copy_bandwidth(device, nbytes, repeats=5):
    """Bytes read and written per second by a device-to-device copy of ``nbytes``."""
    xp = device.xp
    a = xp.ones(nbytes // 4, dtype=xp.float32)
    b = xp.empty_like(a)

    def copy():
        b[...] = a

    copy()
    seconds = _best(copy, device.sync, repeats)
    del a, b
    device.free()
    return 2 * nbytes / seconds


# --------------------------------------------------------------------------
# 2. Tests
# --------------------------------------------------------------------------

def gpu_test_files(root):
    """Test files that hold a test marked ``gpu``."""
    files = []
    for path in sorted(Path(root, "tests").rglob("test_*.py")):
        if re.search(r"mark\.gpu\b", path.read_text()):
            files.append(str(path.relative_to(root)))
    return files


def run_tests(out, budget, files):
    root = Path(__file__).resolve().parents[1]
    files = files or gpu_test_files(root)
    command = [sys.executable, "-m", "pytest", "-m", "gpu", "-q", "-rfEs", "-p", "no:cacheprovider",
               "--continue-on-collection-errors", f"--junitxml={out.dir / 'gpu-tests.xml'}", *files]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(root),
                                                                     os.environ.get("PYTHONPATH")])))
    out.say("$ " + " ".join(command))
    timeout = max(5.0, budget.left())
    try:
        done = subprocess.run(command, cwd=root, env=env, capture_output=True, text=True,
                              timeout=timeout)
        text, status = done.stdout + done.stderr, done.returncode
    except subprocess.TimeoutExpired as exc:
        text = (exc.stdout or b"").decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        status = f"stopped after {timeout:.0f} s (the section's budget)"
    (out.dir / "gpu-tests.log").write_text(text)
    summary = text.strip().splitlines()[-1] if text.strip() else ""
    for line in text.strip().splitlines()[-25:]:
        out.say("  " + line)
    counts = {k: int(v) for v, k in re.findall(r"(\d+) (passed|failed|skipped|error|errors|deselected)",
                                               summary)}
    out.row(section="tests", files=files, exit_status=status, summary=summary, counts=counts,
            seconds=round(budget.spent(), 1))


# --------------------------------------------------------------------------
# 3. The recurrent product, dense against CSR
# --------------------------------------------------------------------------

def _in_degree_csr(n, k, rng, dtype):
    """A CSR matrix of n rows with k distinct random columns each (sorted), values normal."""
    k = max(1, min(n, int(k)))
    columns = np.sort(np.stack([rng.choice(n, size=k, replace=False) for _ in range(n)])
                      if k * 4 > n else rng.integers(0, n, size=(n, k)), axis=1)
    # Random columns may repeat in a row: what the product reads is nnz entries all the same.
    return scipy.sparse.csr_matrix((rng.standard_normal(n * k).astype(dtype), columns.ravel(),
                                    np.arange(n + 1) * k), shape=(n, n))


def _reps_time(fn, sync, target=0.02, most=200):
    """Seconds per call of ``fn``, over enough calls to last about ``target``."""
    fn()
    once = max(_timed(fn, sync), 1e-7)
    reps = int(min(most, max(1, target / once)))

    def many():
        for _ in range(reps):
            fn()

    return _best(many, sync, 2) / reps


def products(out, budget, device, config):
    rng = np.random.default_rng(0)
    xp = device.xp
    for n in config["sizes"]:
        for dtype in config["dtypes"]:
            dense_us = {}
            for density in config["densities"]:
                k = density if density >= 1 else density * n   # >= 1: an in-degree
                if budget.left() < 1.0:
                    out.row(section="products", n_units=n, density=k / n, dtype=dtype,
                            status="skipped", reason="the section's budget is spent")
                    continue
                try:
                    host = _in_degree_csr(n, k, rng, dtype)
                    W = device.csr(host, dtype)
                    Wt = None
                    if not dense_us and n <= config["dense_product_max_units"]:
                        Wt = device.put(host.toarray().T.copy())
                    for B in config["batches"]:
                        x = device.put(rng.standard_normal((B, n)), dtype)
                        if Wt is not None:
                            dense_us[B] = _reps_time(lambda: x @ Wt, device.sync) * 1e6
                        csr_us = _reps_time(lambda: (W @ x.T).T, device.sync) * 1e6
                        d_us = dense_us.get(B)
                        row = out.row(section="products", n_units=n, density=host.nnz / n / n,
                                      n_series=B, dtype=dtype, nnz=int(host.nnz), dense_us=d_us,
                                      csr_us=csr_us, faster=None if d_us is None else
                                      ("csr" if csr_us < d_us else "dense"))
                        if d_us is not None:
                            out.summary["product_table"].append(
                                [n, row["density"], B, dtype, round(d_us, 2), round(csr_us, 2)])
                        out.say(f"  product N={n:6d} density={row['density']:.4f} B={B:3d} {dtype}: "
                                f"dense {_fmt_us(d_us)}  CSR {_fmt_us(csr_us)}")
                    del W, Wt
                    device.free()
                except Exception as exc:   # record and go on: one failure must not end the run
                    _error(out, "products", exc, n_units=n, dtype=dtype, density=k / n)


def _fmt_us(us):
    return "-" if us is None else f"{us:9.1f} us"


def _error(out, name, exc, /, **where):
    where.pop("section", None)
    out.say(f"  ERROR in {name} {where}: {type(exc).__name__}: {exc}")
    out.row(section=name, status="error", error=f"{type(exc).__name__}: {exc}",
            traceback=traceback.format_exc(limit=8), **where)


# --------------------------------------------------------------------------
# 4. The table: this package on the device, on the host, and PyTorch
# --------------------------------------------------------------------------

def model(n_units, dtype):
    """The model of the table: the package's default sparse reservoir (10 inputs per unit)."""
    return ESNRegressor(n_units=n_units, spectral_radius=RADIUS, leak_rate=LEAK, input_scaling=1.0,
                        bias_scaling=0.5, alpha=ALPHA, washout=0,
                        readout_features=("constant", "state"), dtype=dtype, random_state=0)


def _uses_csr(esn, n_series, xp):
    # The one private import: the reference must take the product this package takes.
    from reservoir._states import prefers_sparse

    return bool(prefers_sparse(esn.reservoir_.W, xp, n_series=n_series, dtype=esn.dtype))


class Ours:
    """This package's workloads on one array library (the device's, or NumPy on the host)."""

    def __init__(self, esn, put, xp):
        self.esn, self.put, self.xp = esn, put, xp

    def fit(self, X, Y):
        """States and ridge statistics of X (B, T, d) -> Y, by the public runtime; returns a solve."""
        xp, res = self.xp, self.esn.reservoir_
        B = X.shape[0]
        acc = GramAccumulator(res.n_units, Y.shape[2], xp, fit_intercept=True,
                              device=getattr(X, "device", None))
        for t0, S in res.iter_states(X):
            c = S.shape[1]
            acc.update(xp.reshape(S, (B * c, res.n_units)),
                       xp.reshape(Y[:, t0:t0 + c, :], (B * c, Y.shape[2])))
        return lambda: acc.solve(ALPHA)

    def predict(self, X):
        return self.esn.predict(X)

    def forecast(self, n_steps):
        return self.esn.forecast(n_steps, divergence_bound=None)

    def path(self, alphas, n_steps, contexts):
        return self.esn.forecast_ridge_path(alphas, n_steps, context=contexts, divergence_bound=None)


class TorchESN:
    """A plain PyTorch ESN of the same model: same W (dense or CSR), W_in, bias, leak, tanh.

    The outside reference of the device run: states by one loop over time,
    float64 ridge statistics of each chunk of states, a Cholesky solve, and
    closed loops with one readout per block of series for the ridge path.
    """

    def __init__(self, torch, device, esn, dtype, sparse, chunk):
        self.torch, self.device, self.chunk = torch, device, chunk
        res = esn.reservoir_
        self.dtype = getattr(torch, dtype)
        put = lambda a: torch.as_tensor(np.asarray(a), dtype=self.dtype, device=device)  # noqa: E731
        if sparse:
            W = scipy.sparse.csr_matrix(res.W)
            self.W = torch.sparse_csr_tensor(
                torch.as_tensor(W.indptr.astype(np.int64)), torch.as_tensor(W.indices.astype(np.int64)),
                torch.as_tensor(W.data), size=W.shape, dtype=self.dtype, device=device)
            self.product = lambda x: (self.W @ x.T).T
        else:
            W = res.W.toarray() if scipy.sparse.issparse(res.W) else res.W
            self.Wt = put(W.T.copy())
            self.product = lambda x: x @ self.Wt
        self.W_in_t = put(res.W_in.toarray().T if scipy.sparse.issparse(res.W_in) else res.W_in.T)
        self.bias = put(res.bias)
        self.a = res.leak_rate
        self.n = res.n_units
        self.put = put

    def _states(self, X, x):
        """Chunks of states (B, c, N) of X (B, T, d) from x (B, N)."""
        torch = self.torch
        B, T, _ = X.shape
        for t0 in range(0, T, self.chunk):
            drive = X[:, t0:t0 + self.chunk, :] @ self.W_in_t + self.bias
            S = torch.empty((B, drive.shape[1], self.n), dtype=self.dtype, device=self.device)
            for i in range(drive.shape[1]):
                x = x + self.a * (torch.tanh(self.product(x) + drive[:, i, :]) - x)
                S[:, i, :] = x
            yield t0, S, x

    def zeros(self, B):
        return self.torch.zeros((B, self.n), dtype=self.dtype, device=self.device)

    def fit(self, X, Y):
        torch = self.torch
        B, k = X.shape[0], Y.shape[2]
        xx = torch.zeros((self.n + 1, self.n + 1), dtype=torch.float64, device=self.device)
        xy = torch.zeros((self.n + 1, k), dtype=torch.float64, device=self.device)
        for t0, S, _ in self._states(X, self.zeros(B)):
            c = S.shape[1]
            rows = torch.cat([torch.ones((B * c, 1), dtype=torch.float64, device=self.device),
                              S.reshape(B * c, self.n).to(torch.float64)], dim=1)
            xx += rows.T @ rows
            xy += rows.T @ Y[:, t0:t0 + c, :].reshape(B * c, k).to(torch.float64)
        self.xx, self.xy = xx, xy
        return self.solve

    def solve(self, alpha=ALPHA):
        torch = self.torch
        L = torch.linalg.cholesky(self.xx + alpha * torch.eye(self.n + 1, dtype=torch.float64,
                                                              device=self.device))
        coef = torch.cholesky_solve(self.xy, L)
        self.coef = coef.to(self.dtype)
        return coef

    def predict(self, X):
        out = [S @ self.coef[1:] + self.coef[0] for _, S, _ in self._states(X, self.zeros(X.shape[0]))]
        return self.torch.cat(out, dim=1)

    def _closed_loop(self, x, y, n_steps, coef):
        """Autonomous loop from states x (B, N) and outputs y (B, k); coef (K, N + 1, k) per block."""
        torch = self.torch
        K = coef.shape[0]
        B = x.shape[0]
        out = torch.empty((B, n_steps, y.shape[1]), dtype=self.dtype, device=self.device)
        for t in range(n_steps):
            x = x + self.a * (torch.tanh(self.product(x) + y @ self.W_in_t + self.bias) - x)
            y = (torch.bmm(x.reshape(K, B // K, self.n), coef[:, 1:, :]) + coef[:, :1, :]).reshape(B, -1)
            out[:, t, :] = y
        return out

    def forecast(self, x, y, n_steps):
        return self._closed_loop(x, y, n_steps, self.coef[None])

    def prepare_path(self):
        w, V = self.torch.linalg.eigh(self.xx)
        self.eigh = (w, V, V.T @ self.xy)

    def path(self, alphas, n_steps, contexts):
        torch = self.torch
        w, V, projected = self.eigh
        coef = torch.stack([V @ (projected / (w + a)[:, None]) for a in alphas]).to(self.dtype)
        x = None
        for _, _, x in self._states(contexts[:, :-1, :], self.zeros(contexts.shape[0])):
            pass
        K = len(alphas)
        x = x.repeat(K, 1)
        y = contexts[:, -1, :].repeat(K, 1)
        return self._closed_loop(x, y, n_steps, coef)


class Table:
    """Rows of the table, measured between synchronisations, skipped when the budget is spent."""

    def __init__(self, out, budget, device, config, torch_info):
        self.out, self.budget, self.device, self.config = out, budget, device, config
        self.torch, self.torch_device = torch_info
        self.torch_reason = None if self.torch is not None else self.torch_device
        self.rng = np.random.default_rng(0)
        self.bandwidth = out.summary.get("bandwidth_gb_s")
        self._last = {}   # (workload, impl) -> (n_units, n_series, seconds of its probe and run)

    def _torch_sync(self):
        if self.torch is not None and self.torch_device == "cuda":
            self.torch.cuda.synchronize()

    def _estimate(self, key, n, B):
        last = self._last.get(key)
        if last is None:
            return 0.0
        n0, b0, seconds = last
        return seconds * (n / n0) ** 2 * max(1.0, B / b0)

    def measure(self, workload, impl, n, B, dtype, run, sync, *, target, w_bytes=None, fixed=None,
                steps=None):
        """Time ``run(n_steps)``: a probe, then a run of about ``target`` seconds; one row."""
        where = dict(section="table", workload=workload, impl=impl, n_units=n, n_series=B, dtype=dtype)
        estimate = self._estimate((workload, impl), n, B)
        if self.budget.left() < max(1.0, estimate):
            reason = f"{self.budget.left():.1f} s left in the section, estimated {estimate:.1f} s"
            self.out.say(f"  {workload:8s} {impl:10s} N={n:6d} B={B:3d} {dtype}: skipped ({reason})")
            return self.out.row(**where, status="skipped", reason=reason)
        start = time.perf_counter()
        try:
            probe = self.config["probe_steps"]
            run(probe)   # warm-up: compilation, library handles, caches
            if steps is None:
                t = max(_timed(lambda: run(probe), sync), 1e-6)
                steps = int(min(self.config["max_steps"], max(probe, target * probe / t)))
            extra = {}

            def timed_run():
                result = run(steps)
                extra.update(result if isinstance(result, dict) else {})

            seconds = _timed(timed_run, sync)
        except Exception as exc:
            self.device.free()
            return _error(self.out, "table", exc, **where)
        self._last[(workload, impl)] = (n, B, time.perf_counter() - start)
        per_step = seconds / steps
        row = dict(where, status="ok", steps=steps, seconds=seconds, us_per_step=per_step * 1e6,
                   steps_per_s=1.0 / per_step, **extra)
        if w_bytes is not None:
            row["w_bytes"] = w_bytes
            row["w_gb_s"] = w_bytes / per_step / 1e9
            if self.bandwidth and impl != "ours-host":
                row["fraction_of_bandwidth"] = row["w_gb_s"] / self.bandwidth
        self.out.say(f"  {workload:8s} {impl:10s} N={n:6d} B={B:3d} {dtype}: {steps:5d} steps "
                     f"{per_step * 1e6:10.1f} us/step" + "".join(f"  {k}={v:.4g}" for k, v in extra.items()))
        return self.out.row(**row)

    def config_rows(self, n, B, dtype):
        cfg, device, rng = self.config, self.device, self.rng
        T = cfg["max_steps"] + cfg["probe_steps"]
        X = rng.standard_normal((B, T, N_FEATURES))
        Y = rng.standard_normal((B, T, N_FEATURES))
        t0 = time.perf_counter()
        short = cfg["context"] + 1
        esn_dev = model(n, dtype).fit(device.put(X[:, :short]), device.put(X[:, 1:short + 1]))
        esn_host = model(n, dtype).fit(X[:, :short], X[:, 1:short + 1])
        self.out.say(f"config N={n} B={B} {dtype}: weights drawn and fitted in "
                     f"{time.perf_counter() - t0:.1f} s")
        Xd, Yd = device.put(X, dtype), device.put(Y, dtype)
        Xh, Yh = X.astype(dtype), Y.astype(dtype)
        sparse = _uses_csr(esn_dev, B, device.xp)
        W = esn_dev.reservoir_.W
        itemsize = np.dtype(dtype).itemsize
        w_bytes = (W.nnz * (itemsize + 4) + (n + 1) * 4) if sparse else n * n * itemsize
        impls = [("ours-device", Ours(esn_dev, device.put, device.xp), device.sync, Xd, Yd,
                  cfg["target_s"]),
                 ("ours-host", Ours(esn_host, np.asarray, np), lambda: None, Xh, Yh,
                  cfg["host_target_s"])]
        if self.torch is not None:
            torch = self.torch
            ref = TorchESN(torch, self.torch_device, esn_dev, dtype, sparse,
                           chunk=max(1, min(T, (1 << 23) // (B * n))))
            put = lambda a: torch.as_tensor(a, device=self.torch_device)  # noqa: E731
            impls.append(("torch", ref, self._torch_sync, put(Xh), put(Yh), cfg["target_s"]))
        else:
            self.out.row(section="table", n_units=n, n_series=B, dtype=dtype, impl="torch",
                         status="skipped", reason=self.torch_reason)
        common = dict(w_bytes=w_bytes)
        for impl, ours, sync, Xa, Ya, target in impls:
            def fit(steps, ours=ours, Xa=Xa, Ya=Ya, sync=sync):
                solve = ours.fit(Xa[:, :steps], Ya[:, :steps])
                sync()
                return {"solve_s": _timed(solve, sync)}

            self.measure("fit", impl, n, B, dtype, fit, sync, target=target, **common)
            self.measure("predict", impl, n, B, dtype, lambda s, o=ours, Xa=Xa: o.predict(Xa[:, :s]),
                         sync, target=target, **common)
            if impl == "torch" and not hasattr(ours, "xx"):   # its fit row was skipped
                ours.fit(Xa[:, :cfg["context"]], Ya[:, :cfg["context"]])
            if B == 1:
                if impl == "torch":
                    ours.solve()
                    x0 = ours.zeros(1)
                    y0 = ours.put(Xh[:, 0])
                    run = lambda s, o=ours, x0=x0, y0=y0: o.forecast(x0, y0, s)  # noqa: E731
                else:
                    run = lambda s, o=ours: o.forecast(s)  # noqa: E731
                self.measure("forecast", impl, n, B, dtype, run, sync, target=target, **common)
            else:
                self.path_row(impl, ours, sync, Xa, n, B, dtype, target, common)
        device.free()

    def path_row(self, impl, ours, sync, Xa, n, B, dtype, target, common):
        """The closed loops of a ridge path: K penalties x W windows = B series in one batch."""
        cfg = self.config
        limit = cfg["host_path_max_units"] if impl == "ours-host" else cfg["path_max_units"]
        if n > limit:
            return self.out.row(section="table", workload="path", impl=impl, n_units=n, n_series=B,
                                dtype=dtype, status="skipped",
                                reason=f"N > {limit}: the eigendecomposition of the {n} x {n} "
                                       "statistics alone would take the section's budget")
        K = max(1, int(math.isqrt(B)))
        windows = B // K
        alphas = list(np.logspace(-8, -2, K))
        contexts = Xa[:windows, :cfg["context"], :]
        if impl == "torch":
            ours.prepare_path()
        return self.measure("path", impl, n, K * windows, dtype,
                            lambda s, o=ours: o.path(alphas, s, contexts), sync, target=target,
                            **common)


def table(out, budget, device, config, torch_info):
    t = Table(out, budget, device, config, torch_info)
    for n in config["sizes"]:
        for B in config["batches"]:
            for dtype in config["dtypes"]:
                if budget.left() < 2.0:
                    out.row(section="table", n_units=n, n_series=B, dtype=dtype, status="skipped",
                            reason="the section's budget is spent")
                    continue
                try:
                    t.config_rows(n, B, dtype)
                except Exception as exc:
                    device.free()
                    _error(out, "table", exc, n_units=n, n_series=B, dtype=dtype)


# --------------------------------------------------------------------------
# 5. A search candidate, 6. ReservoirPy
# --------------------------------------------------------------------------

def _lorenz(p):
    n = p["spinup"] + p["n_train"] + 1 + (p["n_windows"] - 1) * p["stride"] + p["context"] + p["horizon"]
    series = lorenz63(n, dt=0.01, random_state=7)
    n_fit = p["spinup"] + p["n_train"] + 1
    series = (series - series[:n_fit].mean(axis=0)) / series[:n_fit].std(axis=0)
    contexts, truth = forecast_windows(series[n_fit:], n_windows=p["n_windows"], horizon=p["horizon"],
                                       warmup=p["context"], stride=p["stride"])
    return series[:n_fit], contexts, truth


def search(out, budget, device, config):
    p = config["search"]
    train, contexts, truth = _lorenz(p)
    alphas = np.logspace(-10, -1, p["n_alphas"])
    exponent = LYAPUNOV_EXPONENTS["lorenz63"].value

    def candidate(n, dtype, put):
        esn = ESNRegressor(n_units=n, spectral_radius=RADIUS, leak_rate=LEAK, washout=p["spinup"],
                           readout_features=("constant", "input", "state", "squared_state"),
                           alpha=float(alphas[0]), dtype=dtype, random_state=0)
        esn.fit(put(train[:-1]), put(train[1:]))
        best = -np.inf
        for forecasts in esn.forecast_ridge_path(alphas, p["horizon"], context=put(contexts),
                                                 divergence_bound=None):
            host = np.asarray(forecasts.get() if hasattr(forecasts, "get") else forecasts, float)
            with np.errstate(over="ignore", invalid="ignore"):
                vpt = valid_prediction_time(truth, host, dt=0.01, lyapunov_exponent=exponent,
                                            threshold=0.3, scale=1.0).lyapunov_times
            best = max(best, float(np.mean(vpt)))
        return best

    for n in config["search_sizes"]:
        for dtype in config["dtypes"]:
            for impl, put, sync in (("ours-device", device.put, device.sync),
                                    ("ours-host", np.asarray, lambda: None)):
                where = dict(section="search", n_units=n, dtype=dtype, impl=impl,
                             n_train=p["n_train"], n_alphas=p["n_alphas"], n_windows=p["n_windows"],
                             horizon=p["horizon"])
                if impl == "ours-host" and n > config["host_search_max_units"]:
                    out.row(**where, status="skipped",
                            reason=f"N > {config['host_search_max_units']} on the host")
                    continue
                if budget.left() < 2.0:
                    out.row(**where, status="skipped", reason="the section's budget is spent")
                    continue
                try:
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        result = {}
                        seconds = _timed(lambda: result.update(vpt=candidate(n, dtype, put)), sync)
                    out.say(f"  search   {impl:10s} N={n:6d} {dtype}: {seconds:.2f} s "
                            f"(best mean VPT {result['vpt']:.2f})")
                    out.row(**where, status="ok", seconds=seconds, best_vpt=result["vpt"])
                except Exception as exc:
                    _error(out, "search", exc, **where)
                device.free()


def reservoirpy_fit(out, budget, device, config):
    from .speed import ours as speed_model
    from .speed import theirs

    n, T = config["reservoirpy_units"], config["reservoirpy_steps"]
    X = np.random.default_rng(0).standard_normal((T + 1, N_FEATURES))
    runs = [("ours-device", lambda: speed_model(n).fit(device.put(X[:-1]), device.put(X[1:])),
             device.sync),
            ("ours-host", lambda: speed_model(n).fit(X[:-1], X[1:]), lambda: None)]
    if reservoirpy_available():
        runs.append(("reservoirpy", lambda: theirs(n).fit(X[:-1], X[1:], warmup=10), lambda: None))
    else:
        out.row(section="reservoirpy", impl="reservoirpy", status="skipped",
                reason="reservoirpy is not importable (see docs/gpu.rst for carrying its wheel)")
    for impl, fit, sync in runs:
        where = dict(section="reservoirpy", workload="fit", impl=impl, n_units=n, n_series=1,
                     steps=T, dtype="float64")
        if budget.left() < 1.0:
            out.row(**where, status="skipped", reason="the section's budget is spent")
            continue
        try:
            fit()   # warm-up
            seconds = _timed(fit, sync)
            out.say(f"  fit      {impl:11s} N={n} one series of {T} steps: {seconds:.3f} s")
            out.row(**where, status="ok", seconds=seconds, us_per_step=seconds / T * 1e6)
        except Exception as exc:
            _error(out, "reservoirpy", exc, **where)


# --------------------------------------------------------------------------
# Ratios, the run
# --------------------------------------------------------------------------

def ratios(rows):
    """Per (workload, N, B, dtype): the host's and PyTorch's time per step over ours on the device."""
    ok = {}
    for r in rows:
        if r.get("section") == "table" and r.get("status") == "ok":
            ok[(r["workload"], r["n_units"], r["n_series"], r["dtype"], r["impl"])] = r["us_per_step"]
    out = []
    for (workload, n, B, dtype, impl), ours in ok.items():
        if impl != "ours-device":
            continue
        entry = dict(workload=workload, n_units=n, n_series=B, dtype=dtype, device_us_per_step=ours)
        for other in ("ours-host", "torch"):
            theirs = ok.get((workload, n, B, dtype, other))
            entry[f"{other}_over_device"] = None if theirs is None else theirs / ours
        out.append(entry)
    return out


def build_parser():
    parser = argparse.ArgumentParser(prog="python -m benchmarks gpu",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("benchmark-results/gpu"),
                        help="directory for gpu.log, gpu-rows.jsonl, gpu.json and the test log")
    parser.add_argument("--dry-run", action="store_true",
                        help="tiny sizes, NumPy standing in for CuPy when there is no GPU")
    parser.add_argument("--sections", default="setup,tests,products,table,search,reservoirpy",
                        help="comma-separated sections to run (setup always runs)")
    parser.add_argument("--budget-scale", type=float, default=1.0,
                        help="multiply every section's budget (default 1: about six minutes)")
    return parser


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    config = DRY if args.dry_run else FULL
    if args.dry_run:
        # Numba's first compilation of the host loops (seconds) is no part of what
        # a dry run checks; the device run keeps the compiled loops.
        os.environ.setdefault("RESERVOIR_COMPILED", "0")
    budgets = {k: v * args.budget_scale for k, v in (DRY_BUDGETS if args.dry_run else BUDGETS).items()}
    chosen = {s.strip() for s in args.sections.split(",")} | {"setup"}
    out = Output(args.out, argv)
    out.summary.update(dry_run=args.dry_run, budgets_s=budgets, config={
        k: v for k, v in config.items() if k != "search"} | {"search": config["search"]})
    started = time.perf_counter()
    try:
        budget = Budget("setup", budgets["setup"])
        device = Device(args.dry_run)
        torch_info = _torch(args.dry_run)
        env = dict(device.describe(), numpy=np.__version__, scipy=scipy.__version__,
                   torch=getattr(torch_info[0], "__version__", None),
                   torch_device=torch_info[1], reservoirpy=reservoirpy_available())
        if torch_info[0] is not None and torch_info[1] == "cuda":
            env["torch_cuda"] = torch_info[0].version.cuda
        out.summary["environment"] = env
        out.summary["machine"] = machine_description()
        for key, value in env.items():
            out.say(f"{key:18s} {value}")
        out.summary["bandwidth_gb_s"] = _copy_bandwidth(device, config["copy_bytes"]) / 1e9
        out.say(f"{'copy bandwidth':18s} {out.summary['bandwidth_gb_s']:.1f} GB/s "
                f"(read + write of a {config['copy_bytes'] / 2 ** 30:.3g} GiB copy)")
        out.summary["sections"]["setup"] = dict(budget_s=budget.seconds, spent_s=budget.spent())
        out.save()
        sections = (("tests", lambda b: run_tests(out, b, config["test_files"])),
                    ("products", lambda b: products(out, b, device, config)),
                    ("table", lambda b: table(out, b, device, config, torch_info)),
                    ("search", lambda b: search(out, b, device, config)),
                    ("reservoirpy", lambda b: reservoirpy_fit(out, b, device, config)))
        for name, section in sections:
            if name not in chosen:
                continue
            budget = Budget(name, budgets[name])
            out.say(f"\n== {name} (budget {budget.seconds:.0f} s)")
            try:
                section(budget)
            except Exception as exc:
                _error(out, name, exc)
            out.summary["sections"][name] = dict(budget_s=budget.seconds, spent_s=budget.spent())
            out.say(f"== {name}: {budget.spent():.1f} s of {budget.seconds:.0f} s")
            out.save()
        out.summary["ratios"] = ratios(out.summary["rows"])
        out.summary["elapsed_s"] = time.perf_counter() - started
        out.say(f"\nproduct_table = {out.summary['product_table']!r}")
        out.say(f"elapsed {out.summary['elapsed_s']:.1f} s; written to {out.dir}/ "
                "(gpu.log, gpu-rows.jsonl, gpu.json, gpu-tests.log)")
    finally:
        out.close()
    errors = [r for r in out.summary["rows"] if r.get("status") == "error"]
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
