"""The GPU paths, tested on the CPU through stand-ins, and once more on a GPU.

* The fused leaky step's kernel text (reservoir._fused) is evaluated as
  Python by a stand-in for ``cupy.ElementwiseKernel``, against the array
  expression it replaces, and the time loops run with that stand-in in
  place of CuPy's kernel.
* Host round trips: on a GPU every read of a device value by the host
  (``float``, ``bool``, ``.item()``, a copy to NumPy) waits for the device
  to finish. Counted here on array-api-strict arrays, a time loop must make
  as many with 400 steps as with 40: none per step.
* The product's choice on a device from a measured table, and the
  Cholesky solve of the CuPy path.

tests/test_cupy_kernels.py runs the same kernel and solve on a GPU.
"""

import contextlib
import re

import numpy as np
import pytest
import scipy.linalg
import scipy.sparse

import reservoir._states as states_module
import reservoir.runtime as runtime_module
from reservoir import ESNRegressor, Reservoir
from reservoir._backend import cholesky_solve, to_numpy
from reservoir._fused import fused_operation, fused_step, make_fused_kernel
from reservoir._states import leaky_step, prefers_sparse
from reservoir.activations import ACTIVATIONS, get_activation
from reservoir.initializers import input_weights, recurrent_weights

strict = pytest.importorskip("array_api_strict")


class StandInKernel:
    """``cupy.ElementwiseKernel`` for one namespace: the operation evaluated as Python.

    The kernel's parameters become Python names, its activations the
    functions of :mod:`reservoir.activations` on ``xp``, and its statement
    ``y = ...;`` an assignment. Only what the fused step's text uses is
    understood; anything else fails to evaluate.
    """

    def __init__(self, xp):
        self.xp = xp

    def __call__(self, in_params, out_params, operation, name, preamble=""):
        self.inputs = [p.split()[-1] for p in in_params.split(",")]
        self.output = out_params.split()[-1]
        target, expression = re.fullmatch(r"\s*(\w+)\s*=\s*(.*);\s*", operation).groups()
        assert target == self.output
        functions = {n: get_activation(n, self.xp).function for n in ("tanh", "relu", "sigmoid")}
        assert all(f"{n}(T z)" in preamble for n in ("relu", "sigmoid"))
        code = compile(expression, name, "eval")

        def kernel(*args):
            assert len(args) == len(self.inputs)
            return eval(code, dict(functions, __builtins__={}), dict(zip(self.inputs, args)))

        return kernel


def _stand_in_fused_step(xp, activation_name, leak_rate):
    if activation_name is None:
        return None
    kernel = make_fused_kernel(StandInKernel(xp), activation_name, leak_rate)
    return fused_step(xp, activation_name, leak_rate, kernel=kernel)


@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("leak_rate", [1.0, 0.3])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("n_terms", [0, 1, 2, 3])
def test_fused_kernel_text_computes_the_leaky_step(activation, leak_rate, dtype, n_terms):
    rng = np.random.default_rng(0)
    wx, x, *terms = (rng.standard_normal((4, 30)).astype(dtype) for _ in range(2 + n_terms))
    terms[:1] = [t[0] for t in terms[:1]]   # the bias is one row, broadcast
    step = _stand_in_fused_step(np, activation, leak_rate)
    z = wx
    for t in terms:
        z = z + t
    expected = leaky_step(x, z, leak_rate, get_activation(activation, np).function)
    got = step(x, wx, *terms)
    assert got.dtype == expected.dtype
    np.testing.assert_array_equal(got, expected)


def test_fused_operation_reads_the_leak_only_when_it_blends():
    assert fused_operation("tanh", 1.0) == "y = tanh(wx + u + v)"
    assert fused_operation("identity", 0.5) == "y = x + a * ((wx + u + v) - x)"


def test_no_fused_step_off_cupy():
    assert fused_step(np, "tanh", 0.3) is None
    assert fused_step(strict, "tanh", 0.3) is None


@pytest.fixture(scope="module")
def res():
    W = recurrent_weights(60, spectral_radius=0.9, density=0.2, random_state=0)
    return Reservoir(W, input_weights(60, 2, random_state=1), np.linspace(-0.2, 0.2, 60),
                     leak_rate=0.4)


@pytest.fixture(scope="module")
def series():
    t = np.arange(420) * 0.1
    return np.column_stack([np.sin(t), np.cos(0.7 * t)])


def _loops(res, series, xp):
    """States of a run and outputs of three closed loops, on ``xp``, as host arrays."""
    U = xp.asarray(series)
    readout = lambda x, u: x[..., :2] * 0.5 + u * 0.1  # noqa: E731
    out = [res.run(U)]
    x0 = res.final_state(U)
    out.append(res.generate(30, readout=readout, initial_state=x0, previous_output=U[-1, :])[0])
    out.append(res.generate(30, readout=readout, initial_state=x0, previous_output=U[-1, :],
                            feedback=lambda y: y[..., ::-1])[0])
    out.append(res.generate(30, readout=readout, initial_state=x0, previous_output=U[-1:, :],
                            inputs=xp.reshape(U[:30, :], (1, 30, 2)))[0])
    return [to_numpy(a) for a in out]


@pytest.mark.parametrize("xp", [np, strict], ids=["numpy", "array_api_strict"])
def test_time_loops_run_the_fused_kernel_in_cupys_place(res, series, xp, monkeypatch):
    monkeypatch.setenv("RESERVOIR_COMPILED", "0")   # the NumPy loop, not the compiled one
    expected = _loops(res, series, xp)
    calls = []

    def stand_in(xp_, name, leak):
        calls.append(name)
        return _stand_in_fused_step(xp_, name, leak)

    monkeypatch.setattr(states_module, "fused_step", stand_in)
    for got, want in zip(_loops(res, series, xp), expected, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-15)
    assert calls   # the loops asked for the kernel


# ----------------------------------------------------------------------------
# Host round trips
# ----------------------------------------------------------------------------

# What makes a device array's value reach the host (or host data reach the device).
_TO_HOST = ("__bool__", "__float__", "__int__", "__index__", "__complex__", "__array__",
            "__dlpack__", "__iter__", "to_device")


class HostTransfers:
    """Counts host round trips of array-api-strict arrays: reads by the host, and uploads."""

    def __init__(self):
        self.count = 0
        self.kinds = {}

    def _hit(self, kind):
        self.count += 1
        self.kinds[kind] = self.kinds.get(kind, 0) + 1


@contextlib.contextmanager
def count_host_transfers():
    """Context yielding a :class:`HostTransfers` that counts while it is open."""
    counter = HostTransfers()
    Array = strict._array_object.Array
    saved = {name: getattr(Array, name) for name in _TO_HOST}
    asarray = strict.asarray

    def wrap(name, method):
        def counted(self, *args, **kwargs):
            counter._hit(name)
            return method(self, *args, **kwargs)
        return counted

    def counted_asarray(obj, *args, **kwargs):
        if not isinstance(obj, Array):
            counter._hit("asarray")
        return asarray(obj, *args, **kwargs)

    try:
        for name, method in saved.items():
            setattr(Array, name, wrap(name, method))
        strict.asarray = counted_asarray
        yield counter
    finally:
        for name, method in saved.items():
            setattr(Array, name, method)
        strict.asarray = asarray


def assert_no_round_trip_per_step(run, short, long):
    """``run(n)`` makes as many host round trips with ``long`` steps as with ``short``.

    A first run, not counted, fills what the calls cache (a ridge path's
    eigendecomposition).
    """
    run(short)
    counts = []
    for n in (short, long):
        with count_host_transfers() as counter:
            run(n)
        counts.append((counter.count, counter.kinds))
    assert counts[0][0] == counts[1][0], (
        f"host round trips grow with the number of steps: {counts[0]} for {short} steps, "
        f"{counts[1]} for {long}")
    return counts[0][0]


@pytest.fixture(scope="module")
def fitted(series):
    esn = ESNRegressor(n_units=60, washout=20, leak_rate=0.5, random_state=0,
                       readout_features=("constant", "input", "state", "squared_state"))
    return esn.fit(strict.asarray(series[:-1]), strict.asarray(series[1:]))


def test_reservoir_loops_read_nothing_back_per_step(res, series):
    U = strict.asarray(series)
    assert_no_round_trip_per_step(lambda n: res.run(U[:n, :]), 40, 400)
    x0 = res.final_state(U[:50, :])
    readout = lambda x, u: x[..., :2] + u  # noqa: E731
    assert_no_round_trip_per_step(
        lambda n: res.generate(n, readout=readout, initial_state=x0, previous_output=U[49, :]), 10, 300)


@pytest.mark.parametrize("feedback", [None, 0.1])
def test_estimator_fit_predict_forecast_read_nothing_back_per_step(series, feedback):
    params = dict(n_units=60, washout=20, random_state=0, feedback_scaling=feedback,
                  readout_features=("constant", "input", "state", "squared_state"))
    X, Y = strict.asarray(series[:-1]), strict.asarray(series[1:])
    assert_no_round_trip_per_step(lambda n: ESNRegressor(**params).fit(X[:n, :], Y[:n, :]), 60, 400)
    esn = ESNRegressor(**params).fit(X, Y)
    assert_no_round_trip_per_step(lambda n: esn.predict(X[:n, :]), 40, 400)
    assert_no_round_trip_per_step(lambda n: esn.forecast(n), 10, 300)
    contexts = strict.asarray(np.stack([series[:100], series[200:300]]))
    assert_no_round_trip_per_step(lambda n: esn.forecast(n, context=contexts), 10, 300)
    assert_no_round_trip_per_step(
        lambda n: esn.forecast_ridge_path([1e-8, 1e-4, 1.0], n, context=contexts), 10, 300)


def test_the_count_catches_a_host_read_per_step(fitted):
    """A readout that reads one device value per step (as a Python-side check would) is caught."""
    honest = fitted.readout_function()
    assert_no_round_trip_per_step(
        lambda n: fitted.reservoir_.generate(n, readout=honest, initial_state=fitted._final_state,
                                             previous_output=fitted._final_target), 10, 100)

    def checking(x, u):
        y = honest(x, u)
        if not float(y[0, 0]) < 1e6:   # a per-step host check of a device value
            raise ArithmeticError
        return y

    with pytest.raises(AssertionError, match="grow with the number of steps"):
        assert_no_round_trip_per_step(
            lambda n: fitted.reservoir_.generate(n, readout=checking,
                                                 initial_state=fitted._final_state,
                                                 previous_output=fitted._final_target), 10, 100)


def test_ridge_path_reads_the_spectrum_once_not_once_per_penalty(fitted):
    accumulator = fitted.readout_._accumulator
    counts = []
    for n in (2, 20):
        accumulator._eigh = None
        with count_host_transfers() as counter:
            accumulator.solve_path(np.logspace(-8, 0, n))
        counts.append(counter.count)
    assert counts[0] == counts[1]


# ----------------------------------------------------------------------------
# The product on a device, and the solve
# ----------------------------------------------------------------------------

# (n_units, density, n_series, dtype, dense us, CSR us)
_TABLE = (
    (1024, 0.01, 1, "float32", 8.0, 12.0),
    (8192, 0.01, 1, "float32", 60.0, 15.0),
    (8192, 0.01, 256, "float32", 300.0, 900.0),
    (8192, 0.01, 1, "float64", 10.0, 200.0),
)


@pytest.mark.parametrize("n, series_count, dtype, expected", [
    (1000, 1, "float32", False),     # dense measured faster at 1024
    (8000, 1, "float32", True),      # CSR faster at 8192, one series
    (8000, 200, "float32", False),   # dense faster for a batch
    (8000, 1, "float64", False),     # the float64 row
])
def test_a_device_takes_the_faster_measured_product(n, series_count, dtype, expected):
    k = n // 100   # a density of 0.01: k entries a row
    W = scipy.sparse.csr_array((np.ones(n * k), np.tile(np.arange(k), n), np.arange(n + 1) * k),
                               shape=(n, n))
    assert prefers_sparse(W, strict, n_series=series_count, dtype=dtype, table=_TABLE) is expected
    # The host keeps its own rule, and a device without measurements takes it too.
    assert prefers_sparse(W, np, n_series=series_count, dtype=dtype, table=_TABLE) is True
    assert prefers_sparse(W, strict, n_series=series_count, dtype=dtype, table=()) is True


def test_each_batch_asks_for_its_product(monkeypatch, series):
    W = scipy.sparse.random(300, 300, density=0.02, random_state=0, format="csr")
    res = Reservoir(W, input_weights(300, 2, random_state=1), dtype="float32")
    asked = []

    def spy(W, xp=None, **kwargs):
        asked.append(kwargs)
        return prefers_sparse(W, xp, **kwargs)

    monkeypatch.setattr(runtime_module, "prefers_sparse", spy)
    U = strict.asarray(np.stack([series[:50]] * 3), dtype=strict.float32)
    res.run(U)
    res.generate(5, readout=lambda x, u: x[..., :2], previous_output=U[:, -1, :])
    assert {"n_series": 3, "dtype": "float32"} in asked
    prep = res.prepared(U)
    assert prep.operator_for(3) is prep.operator_for(1)   # one form built once


def test_cholesky_solve_is_the_solve_of_the_factor():
    rng = np.random.default_rng(0)
    M = rng.standard_normal((40, 40))
    A = M @ M.T + 40 * np.eye(40)
    B = rng.standard_normal((40, 3))
    L = np.linalg.cholesky(A)
    np.testing.assert_allclose(cholesky_solve(L, B, scipy.linalg.solve_triangular),
                               np.linalg.solve(A, B), rtol=1e-12)


@pytest.mark.parametrize("n_series, n_units, host, device", [
    (1, 1024, 1024, 4096),       # one series: 4,096 steps a chunk on a device
    (256, 16384, 1, 8),          # a device chunk holds 2,048 rows, the host's one step
    (256, 1024, 4, 32),
])
def test_device_chunks_are_larger(n_series, n_units, host, device):
    from reservoir._states import chunk_length

    assert chunk_length(n_series, n_units) == host
    assert chunk_length(n_series, n_units, device=True) == device
