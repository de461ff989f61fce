"""State-update kernels of a leaky-integrator reservoir: the hot loops.

For a batch of B sequences, N units, one step is

    z(t) = W x(t-1) + W_in u(t) + W_fb y(t-1) + b (+ noise)
    x(t) = (1 - a) x(t-1) + a f(z(t))

Everything that does not depend on x, the "drive" W_in u(t) + W_fb y(t-1) + b
of every time step, is computed before the loop in one matrix product per
chunk of time steps; the loop itself does one recurrent product, one
activation and one blend per step. States are produced chunk by chunk so that
a consumer (the streaming ridge readout) never needs all T x N states at once.

The kernels take arrays of any Array-API namespace (NumPy, CuPy,
array-api-strict) and never leave that namespace or its device. They know
nothing of estimators; :class:`reservoir.Reservoir` is their public face, and
the policies below (sparse or dense product, chunk length, BLAS threads) are
decided here, once.
"""

from __future__ import annotations

import os

import numpy as np
import scipy.sparse

from ._backend import get_namespace, is_numpy, limit_blas_threads
from ._fused import fused_step

__all__ = [
    "chunk_length",
    "closed_loop",
    "compiled_kernels",
    "iter_states",
    "leaky_step",
    "prefers_sparse",
]

# Up to this many multiply-adds per recurrent product, the step loop runs
# with one BLAS thread. Measured on 2 cores with NumPy/OpenBLAS, one series:
# N=100 dense 15 -> 4 us per step, N=500 dense 76 -> 58 us, but N=1000 dense
# 162 -> 281 us (a matrix-vector product that large is memory-bound and gains
# from a second thread). A CSR product does not use BLAS at all.
_SINGLE_THREAD_MAX_MACS = 1 << 19

# The CSR product beats a dense GEMV once W is large and sparse enough
# (measured with SciPy: at N=1000, density 0.1, 54 us against 220 us per step;
# at N=100 the dense product wins at any density).
_SPARSE_MIN_UNITS = 200
_SPARSE_MAX_DENSITY = 0.15

# Elements of one chunk of states (n_series x steps x n_units): about 4 MB in
# float64, at most _CHUNK_MAX_STEPS steps, and at least _CHUNK_MIN_ROWS rows
# (series x steps) as long as that stays within 16 MB. Small enough to stream
# and to give a fit several chunks, so that the ridge statistics of one chunk
# are added on the second core while the next is computed
# (reservoir._overlap), and the last chunk's statistics, which nothing
# overlaps, are short; enough rows that each chunk's statistics are one
# efficient matrix product. Measured on 2 cores with the sliced product,
# medians of 9 fits, against 8 MB chunks without a row minimum: one series
# of 10,000 steps at N = 300 77 against 82 ms, 64 series x 1,000 steps at
# N = 300 285 against 311 ms, N = 1000 one series 521 against 524 ms and 64
# series 1.96 against 1.95 s (there 1,024 rows a chunk either way: with 512,
# 2.37 s), N = 100 22 ms both. With the CSR loop earlier, one chunk
# (1 << 22 elements) fitted N = 300 in 185 against 130 ms.
_CHUNK_ELEMENTS = 1 << 19
_CHUNK_MAX_STEPS = 4096
_CHUNK_MIN_ROWS = 1024
_CHUNK_MAX_ELEMENTS = 1 << 21


# The compiled loops (Numba, when installed) remove Python's per-step overhead
# and fuse the activation and the leaky blend into one vectorised pass; their
# recurrent product is either a dense BLAS product with Wᵀ (also for a W
# stored as CSR, densified once) or a sparse product over W in the sliced
# layout of reservoir._backend.sliced_ell (eight rows summed side by side,
# where a CSR loop waits on one addition per non-zero). Measured on 2 cores
# (AMD EPYC), us per series-step, one BLAS thread; density 0.1, or an
# in-degree of 10 (the default reservoir):
#
#   N    series  density  NumPy (SciPy CSR)  compiled dense  compiled sliced
#   100    1      0.1          5.2               1.6              -
#   100   64      0.1          1.4               1.3              -
#   300    1      0.1         15.4              13.1              6.3
#   300    1      in 10       15.2              11.1              3.2
#   300    8      0.1          7.2               5.5              5.1
#   300    8      in 10        4.6               5.1              3.5
#   1000   1      0.1         76.0             115               39.9
#   1000   1      in 10       18.9             111                9.6
#   1000   8      0.1         52.0              74.5             41.4
#   1000   8      in 10       12.6              74.8             11.4
#   2000   1      0.1        315                 -              161
#   2000   1      in 10       29.6               -               19.0
#
# A dense W runs in the compiled dense loop up to _COMPILED_MAX_UNITS. For a
# CSR W and up to _COMPILED_MAX_SERIES series, the cost model below (fitted to
# that table: ns per series-step) picks the cheapest of the compiled dense
# loop, the compiled sliced loop and the NumPy loop; larger batches run the
# NumPy loop, whose SciPy product shares each read of W among the series
# (1.2 us per series-step for 64 series at N = 300). RESERVOIR_COMPILED=always
# runs the compiled loops for every batch, keeping a CSR W sparse (the tests
# compare every loop with a reference).
_COMPILED_MAX_UNITS = 600
_COMPILED_MAX_SERIES = 8


def _step_costs(n_series, n_units, nnz):
    """Estimated ns per series-step of (compiled dense, compiled sliced, NumPy) for a CSR W."""
    dense = 0.095 * n_units * n_units / min(n_series, 2) + 1.0 * n_units
    sliced = 0.4 * nnz + 5.0 * n_units
    numpy = 6000.0 / n_series + 0.7 * nnz + 3.0 * n_units
    return dense, sliced, numpy


def _compiled_module():
    """reservoir._compiled, or None without Numba or with ``RESERVOIR_COMPILED=0``."""
    if os.environ.get("RESERVOIR_COMPILED", "auto").strip().lower() in ("0", "no", "false", "off"):
        return None
    try:
        from . import _compiled
    except ImportError:
        return None
    return _compiled


def compiled_kernels(n_series=1, n_units=1, *, sparse=False, nnz=None):
    """The compiled loops for a NumPy batch and how to run its product, or None.

    Returns ``(module, product)`` with product "dense" or "sliced", or None
    when Numba is not installed, when the environment variable
    ``RESERVOIR_COMPILED`` is "0", or when the NumPy loop is estimated to be
    as fast (see the table above; ``nnz``, the non-zeros of a CSR W, defaults
    to a density of 0.1; ``RESERVOIR_COMPILED=always`` lifts those limits
    and keeps a CSR W sparse, for tests). Numba is imported here, at the
    first call, never by ``import reservoir``.
    """
    mode = os.environ.get("RESERVOIR_COMPILED", "auto").strip().lower()
    if mode == "always":
        product = "sliced" if sparse else "dense"
    elif not sparse:
        if n_units > _COMPILED_MAX_UNITS:
            return None
        product = "dense"
    else:
        if n_series > _COMPILED_MAX_SERIES:
            return None
        nnz = 0.1 * n_units * n_units if nnz is None else nnz
        dense, sliced, numpy = _step_costs(n_series, n_units, nnz)
        if n_units > _COMPILED_MAX_UNITS:
            dense = float("inf")
        if numpy <= min(dense, sliced):
            return None
        product = "dense" if dense < sliced else "sliced"
    module = _compiled_module()
    return None if module is None else (module, product)


# The product on a GPU, dense (cuBLAS) or CSR (cuSPARSE), chosen from
# measurements of both on the device: rows of (n_units, density, n_series,
# dtype, dense us, CSR us) per product, as ``python -m benchmarks gpu``
# writes them (``product_table`` in its gpu.json). No device run has been
# recorded yet, so the table is empty and a GPU takes the host's rule.
DEVICE_PRODUCTS = ()


def _nearest_measurement(table, n_units, density, n_series, dtype):
    """The row of ``table`` nearest (n_units, density, n_series) in log scale, same dtype first."""
    rows = [r for r in table if r[3] == dtype] or list(table)

    def distance(row):
        return (abs(np.log(row[0] / n_units)) + abs(np.log(row[1] / density))
                + abs(np.log(row[2] / n_series)))

    return min(rows, key=distance)


def prefers_sparse(W, xp=None, *, n_series=1, dtype="float64", table=None):
    """Whether the recurrent product of host matrix ``W`` should use CSR.

    On the host (``xp`` None or NumPy) by the thresholds above. On another
    namespace by the measured device ``table`` (default
    :data:`DEVICE_PRODUCTS`): the faster product of the measurement nearest
    in size, density and batch; with no measurement, by the host's rule.
    """
    n = W.shape[0]
    density = W.nnz / float(n * W.shape[1]) if scipy.sparse.issparse(W) else 1.0
    table = DEVICE_PRODUCTS if table is None else table
    if xp is not None and not is_numpy(xp) and table:
        row = _nearest_measurement(table, n, max(density, 1e-12), max(n_series, 1), dtype)
        return row[5] < row[4]
    return n >= _SPARSE_MIN_UNITS and density <= _SPARSE_MAX_DENSITY


# On a device (any namespace but NumPy) chunks are larger: there are no
# host caches to fit and no second core to overlap, and each chunk's ridge
# statistics read and write the whole F x F Gram matrix (2 GB at F = 16384)
# however few its rows. About 32 MB of float32 states a chunk, at least
# 4,096 rows (series x steps) up to 128 MB.
_DEVICE_CHUNK = dict(elements=1 << 23, max_steps=4096, min_rows=4096, max_elements=1 << 25)


def chunk_length(n_series, n_units, *, device=False):
    """Time steps per chunk of states for a batch of ``n_series`` and ``n_units``.

    ``device``: the sizes for arrays off the host (:data:`_DEVICE_CHUNK`).
    """
    limits = (_DEVICE_CHUNK if device else
              dict(elements=_CHUNK_ELEMENTS, max_steps=_CHUNK_MAX_STEPS, min_rows=_CHUNK_MIN_ROWS,
                   max_elements=_CHUNK_MAX_ELEMENTS))
    elements = max(1, n_series * n_units)
    steps = min(limits["max_steps"], limits["elements"] // elements)
    enough_rows = min(-(-limits["min_rows"] // max(1, n_series)), limits["max_elements"] // elements)
    return max(1, steps, enough_rows)


def _small_steps(operator, n_series):
    n_units = operator.shape[0]
    return operator.sparse or n_series * n_units * n_units <= _SINGLE_THREAD_MAX_MACS


def leaky_step(x, z, leak_rate, f):
    """One leaky-integrator update, x <- (1 - a) x + a f(z)."""
    if leak_rate == 1.0:
        return f(z)
    return x + leak_rate * (f(z) - x)


def leaky_update(xp, leak_rate, f, activation_name=None):
    """``advance(x, wx, *terms)``: :func:`leaky_step` with z = wx + terms[0] + ...

    The terms are added left to right. On CuPy (with the activation's name)
    the addition, the activation and the blend run as one fused kernel
    (:mod:`reservoir._fused`); elsewhere as the array expression.
    """
    fused = fused_step(xp, activation_name, leak_rate)
    if fused is not None:
        return fused

    def advance(x, wx, *terms):
        z = wx
        for term in terms:
            z = z + term
        return leaky_step(x, z, leak_rate, f)

    return advance


def _drive(inputs, W_in_t, bias, xp, *, teacher=None, W_fb_t=None, noise=None):
    """W_in u(t) + b (+ W_fb y(t-1)) (+ noise) for a chunk, as one product each.

    ``inputs`` is (B, c, d); ``teacher`` the fed-back outputs y(t-1) of the
    same steps, (B, c, k).
    """
    B, c, d = inputs.shape
    # In place on the product's fresh array: a chunk is megabytes, and each
    # new array of that size is new pages to fault in (measured: 0.6 against
    # 4 to 6 ms for 3,500 steps of 300 units).
    drive = xp.reshape(xp.reshape(inputs, (B * c, d)) @ W_in_t, (B, c, -1))
    drive += bias
    if teacher is not None:
        k = teacher.shape[2]
        drive += xp.reshape(xp.reshape(teacher, (B * c, k)) @ W_fb_t, (B, c, -1))
    if noise is not None:
        drive += noise
    return drive


def _compiled_chunk(compiled, x, drive, operator, leak_rate, activation_name):
    """Run a chunk with a compiled loop; returns (states, x after the chunk)."""
    kernels, product = compiled
    states = np.empty(drive.shape, dtype=x.dtype)
    x = np.array(x, dtype=drive.dtype, order="C")   # the loop advances it in place
    code = kernels.ACTIVATION_CODES[activation_name]
    leak = drive.dtype.type(leak_rate)
    if product == "sliced":
        x = kernels.states_sliced(x, drive, *operator.sliced_arrays(), leak, code, states)
    else:
        x = kernels.states_dense(x, drive, operator.dense_transposed(), leak, code, states)
    return states, x


def iter_states(inputs, operator, W_in_t, bias, *, leak_rate, activation, initial_state,
                chunk_size=4096, teacher=None, W_fb_t=None, noise=None, activation_name=None):
    """Run the reservoir over a batch of sequences, yielding states chunk by chunk.

    Parameters
    ----------
    inputs : array of shape (n_series, n_timesteps, n_features)
        Right-padded when the series have different lengths: padding lies
        after a series' end, so it never reaches that series' states.
    operator : RecurrentOperator
        Computes x @ W.T for a batch of states.
    W_in_t : array of shape (n_features, n_units)
        Transposed input matrix (row-major product with the inputs).
    bias : array of shape (n_units,)
    leak_rate : float in (0, 1]
    activation : callable
        f, elementwise, on the namespace of the inputs.
    initial_state : array of shape (n_series, n_units)
    chunk_size : int
        Time steps per yielded chunk.
    teacher : array of shape (n_series, n_timesteps, n_outputs), optional
        Outputs fed back through W_fb, already shifted so that row t holds
        y(t-1) (teacher forcing).
    W_fb_t : array of shape (n_outputs, n_units), optional
    noise : callable, optional
        ``noise(t0, shape)`` returns an array of that shape added to the
        pre-activation of steps t0 .. t0 + shape[1] - 1.
    activation_name : str, optional
        The activation's name; with it, small NumPy batches run in a
        compiled loop when Numba is installed (:func:`compiled_kernels`).

    Yields
    ------
    t0 : int
        Index of the chunk's first time step.
    states : array of shape (n_series, c, n_units)
        x(t0), ..., x(t0 + c - 1).
    """
    xp = get_namespace(inputs)
    T = inputs.shape[1]
    x = initial_state
    advance = leaky_update(xp, leak_rate, activation, activation_name)
    compiled = None
    if activation_name is not None and is_numpy(xp) and inputs.dtype in (np.float32, np.float64):
        compiled = compiled_kernels(int(inputs.shape[0]), int(x.shape[1]), sparse=operator.sparse,
                                    nnz=operator.nnz)
    for t0 in range(0, T, chunk_size):
        t1 = min(t0 + chunk_size, T)
        chunk = inputs[:, t0:t1, :]
        drive = _drive(
            chunk, W_in_t, bias, xp,
            teacher=None if teacher is None else teacher[:, t0:t1, :], W_fb_t=W_fb_t,
            noise=None if noise is None else noise(t0, (chunk.shape[0], t1 - t0, x.shape[1])),
        )
        if compiled is not None:
            states, x = _compiled_chunk(compiled, x, np.ascontiguousarray(drive), operator,
                                        leak_rate, activation_name)
            yield t0, states
            continue
        with limit_blas_threads(xp, _small_steps(operator, x.shape[0])):
            if is_numpy(xp):
                # Preallocate and fill: one allocation per chunk instead of a
                # list of per-step arrays and a stack.
                states = xp.empty((x.shape[0], t1 - t0, x.shape[1]), dtype=x.dtype)
                for i in range(t1 - t0):
                    x = advance(x, operator(x), drive[:, i, :])
                    states[:, i, :] = x
            else:
                # Nothing in this loop reads a device value on the host: the
                # steps are queued on the device and the chunk is one stack.
                steps = []
                for i in range(t1 - t0):
                    x = advance(x, operator(x), drive[:, i, :])
                    steps.append(x)
                states = xp.stack(steps, axis=1)
        yield t0, states


def _csr_arrays_or_empty(operator, sparse, dtype):
    """(indptr, indices, data) for a compiled loop: W's, or empty ones when it runs dense."""
    if sparse:
        return operator.csr_arrays()
    return np.zeros(1, np.int32), np.zeros(0, np.int32), np.zeros(0, dtype)


def _sliced_arrays_or_empty(operator, sparse, dtype):
    """(rows, offsets, columns, values) for a compiled loop: W's, or empty ones when it runs dense."""
    if sparse:
        return operator.sliced_arrays()
    return np.zeros(0, np.intp), np.zeros(1, np.intp), np.zeros(0, np.uint16), np.zeros(0, dtype)


def _compiled_closed_loop(compiled, operator, x, y, n_steps, merged, bias, leak_rate,
                          activation_name, linear_readout):
    kernels, product = compiled
    dtype = x.dtype
    x = np.array(x, order="C")
    y = np.array(y, order="C")
    sparse = product == "sliced"
    sliced = _sliced_arrays_or_empty(operator, sparse, dtype)
    Wt = np.zeros((0, 0), dtype=dtype) if sparse else operator.dense_transposed()
    coef_in, coef_state, coef_square, intercept = (np.ascontiguousarray(a, dtype=dtype)
                                                   for a in linear_readout)
    out = np.empty((x.shape[0], n_steps, intercept.shape[0]), dtype=dtype)
    x = kernels.closed_loop_linear(
        x, y, n_steps, *sliced, Wt, sparse, np.ascontiguousarray(merged),
        np.ascontiguousarray(bias), dtype.type(leak_rate), kernels.ACTIVATION_CODES[activation_name],
        coef_in, coef_state, coef_square, intercept, out)
    return out, x


def _per_series(coef, n_series):
    """Readout coefficients (rows, k) shared, or (K, rows, k) per block of series, as (rows, k, B)."""
    if coef.ndim == 2:
        return np.ascontiguousarray(np.broadcast_to(coef[:, :, None], coef.shape + (n_series,)))
    return np.ascontiguousarray(np.repeat(np.moveaxis(coef, 0, -1), n_series // coef.shape[0],
                                          axis=-1))


def _compiled_batch_closed_loop(kernels, operator, x, y, n_steps, merged, bias, leak_rate,
                                activation_name, linear_readout):
    """The closed loop of a batch in the transposed compiled loop, each series its own readout."""
    dtype = x.dtype
    B = x.shape[0]
    coef_in, coef_state, coef_square, intercept = (np.asarray(a, dtype=dtype)
                                                   for a in linear_readout)
    if intercept.ndim == 1:
        intercept = np.ascontiguousarray(np.broadcast_to(intercept[:, None], intercept.shape + (B,)))
    else:
        intercept = np.ascontiguousarray(np.repeat(intercept.T, B // intercept.shape[0], axis=1))
    indptr, indices, data = _csr_arrays_or_empty(operator, operator.sparse, dtype)
    W = (np.zeros((0, 0), dtype=dtype) if operator.sparse
         else np.ascontiguousarray(operator.dense_transposed().T))
    out = np.empty((B, n_steps, intercept.shape[0]), dtype=dtype)
    xT = kernels.closed_loop_batch(
        np.ascontiguousarray(x.T), np.ascontiguousarray(y.T), n_steps, indptr, indices, data, W,
        operator.sparse, np.ascontiguousarray(merged), np.ascontiguousarray(bias),
        dtype.type(leak_rate), kernels.ACTIVATION_CODES[activation_name],
        _per_series(coef_in, B), _per_series(coef_state, B), _per_series(coef_square, B),
        intercept, out)
    return out, np.ascontiguousarray(xT.T)


def closed_loop(operator, *, initial_state, previous_output, n_steps, leak_rate, activation,
                readout, bias, W_in_t, W_fb_t=None, inputs=None, feedback=None,
                activation_name=None, linear_readout=None):
    """Run the reservoir with its own outputs fed back, for ``n_steps`` steps.

    Each step t computes

        u(t) = inputs[:, t]     if ``inputs`` is given,
               feedback(y(t-1)) if ``feedback`` is given, else y(t-1)
        z(t) = W x(t-1) + W_in u(t) + W_fb y(t-1) + b
        x(t) = (1 - a) x(t-1) + a f(z(t))
        y(t) = readout(x(t), u(t))

    which covers autonomous forecasting (no inputs: the prediction is the
    next input), coupled schemes (``feedback`` builds the next inputs from
    the outputs of the whole batch, such as the neighbourhoods of local
    reservoirs) and output feedback with exogenous inputs (``inputs`` and
    ``W_fb_t``).

    Parameters
    ----------
    operator : RecurrentOperator
    initial_state : array of shape (n_series, n_units)
    previous_output : array of shape (n_series, n_outputs)
        y(-1), the output before the first step.
    n_steps : int
    leak_rate : float
    activation : callable
    readout : callable
        ``readout(x, u)`` returns y of shape (n_series, n_outputs).
    bias : array of shape (n_units,)
    W_in_t : array of shape (n_features, n_units)
    W_fb_t : array of shape (n_outputs, n_units), optional
        Output feedback weights (transposed).
    inputs : array of shape (n_series, n_steps, n_features), optional
    feedback : callable, optional
        ``feedback(y)`` returns the next inputs, shape (n_series, n_features).
    activation_name : str, optional
    linear_readout : tuple of arrays, optional
        ``readout`` as the blocks (W_u, W_x, W_x², c) of a linear readout on
        [u; x; x²]. With both, an autonomous loop over a small NumPy batch
        runs fused in a compiled loop when Numba is installed.

    Returns
    -------
    outputs : array of shape (n_series, n_steps, n_outputs)
    final_state : array of shape (n_series, n_units)
    """
    xp = get_namespace(initial_state)
    x = initial_state
    y = previous_output
    exogenous = None if inputs is None else _drive(inputs, W_in_t, bias, xp)
    # Autonomous without a coupling function: u(t) = y(t-1), so W_in and W_fb
    # act on the same vector and one product serves both.
    merged = None
    if inputs is None and feedback is None:
        merged = W_in_t if W_fb_t is None else W_in_t + W_fb_t
        if (linear_readout is not None and activation_name is not None and is_numpy(xp)
                and x.dtype in (np.float32, np.float64)):
            shared = linear_readout[-1].ndim == 1
            compiled = compiled_kernels(int(x.shape[0]), int(x.shape[1]),
                                        sparse=operator.sparse, nnz=operator.nnz)
            if compiled is not None and shared:
                return _compiled_closed_loop(compiled, operator, x, y, n_steps, merged, bias,
                                             leak_rate, activation_name, linear_readout)
            module = _compiled_module()
            if module is not None and x.shape[0] > 1:
                return _compiled_batch_closed_loop(module, operator, x, y, n_steps, merged, bias,
                                                   leak_rate, activation_name, linear_readout)
    advance = leaky_update(xp, leak_rate, activation, activation_name)
    outputs = []
    with limit_blas_threads(xp, _small_steps(operator, x.shape[0])):
        # No host read of a device value per step (a step's outputs are
        # checked for divergence once, after the loop, by the estimators).
        for t in range(n_steps):
            if merged is not None:
                u = y
                terms = (bias, y @ merged)
            else:
                if exogenous is not None:
                    u = inputs[:, t, :]
                    terms = (exogenous[:, t, :],)
                else:
                    u = feedback(y)
                    terms = (bias, u @ W_in_t)
                if W_fb_t is not None:
                    terms = terms + (y @ W_fb_t,)
            x = advance(x, operator(x), *terms)
            y = readout(x, u)
            outputs.append(y)
    return xp.stack(outputs, axis=1), x
