"""Compiled (Numba) time loops of the leaky-integrator reservoir, for NumPy data.

The NumPy loop in :mod:`reservoir._states` pays Python's overhead at every
step: a call into SciPy or BLAS, a temporary per elementwise operation. These
loops run a whole chunk of steps in machine code, with the recurrent product
written out for CSR matrices (one pass over the non-zeros per step) or handed
to BLAS for dense ones, and the activation and the leaky blend fused into
the same pass. They compute exactly the equations of :mod:`reservoir._states`
and are tested against it.

This module imports Numba at its top, so it is only imported when Numba is
installed and a NumPy reservoir is run (see :func:`reservoir._states.compiled_kernels`).
The first call of each signature compiles (about a second, cached on disk).
"""

from __future__ import annotations

import math

import numba
import numpy as np
from numba.core import types
from numba.extending import intrinsic

__all__ = ["ACTIVATION_CODES", "closed_loop_batch", "closed_loop_linear", "states_dense", "states_sliced",
           "tanh_into"]

ACTIVATION_CODES = {"tanh": 0, "identity": 1, "relu": 2, "sigmoid": 3}

# error_model="numpy": a float division by zero gives inf or nan instead of
# raising, which removes the check that keeps LLVM from vectorising the loops.
_jit = numba.njit(cache=True, fastmath=False, nogil=True, error_model="numpy")


# ----------------------------------------------------------------------------
# tanh that vectorises. Numba calls the C library's scalar tanh for math.tanh
# (about 10 ns an element here, against under 2 ns for NumPy's SIMD ufunc),
# and PyPI's llvmlite has no vector math library, so the tanh of the compiled
# loops is written out in operations LLVM can vectorise:
#   tanh|z| = -expm1(-2|z|) / (2 + expm1(-2|z|)),
# expm1(y) = 2^k (expm1(r) + 1) - 1 with y = k ln2 + r, |r| <= ln2 / 2
# (Cody-Waite reduction, ln2 in two parts so that k ln2_hi is exact), expm1(r)
# by its Taylor series to r^13 (truncation below 1e-17), 2^k built from its
# exponent bits. expm1 rather than exp keeps small |z| accurate (no 1 - e
# cancellation). Within 3 ulp of NumPy's tanh over |z| from 1e-300 to 1e3
# (tested); tanh(±inf) = ±1, NaN stays NaN.
# ----------------------------------------------------------------------------

@intrinsic
def _float_bits(typingctx, x):
    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], context.get_value_type(types.int64))
    return types.int64(types.float64), codegen


@intrinsic
def _bits_float(typingctx, i):
    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], context.get_value_type(types.float64))
    return types.float64(types.int64), codegen


_ROUNDER = 6755399441055744.0       # 1.5 * 2**52: y + it has round(y) in its low bits
_INV_LN2 = 1.4426950408889634
_LN2_HI = 0.6931471803691238        # 32 significant bits: k * _LN2_HI is exact
_LN2_LO = 1.9082149292705877e-10
_E2, _E3, _E4, _E5, _E6, _E7, _E8, _E9, _E10, _E11, _E12, _E13 = (
    1.0 / math.factorial(n) for n in range(2, 14))


@numba.njit(inline="always", error_model="numpy")
def _tanh(z):
    a = min(abs(z), 20.0)           # tanh(20) rounds to 1 in float64
    y = -2.0 * a
    shifted = y * _INV_LN2 + _ROUNDER
    k = shifted - _ROUNDER          # round(y / ln2), as a float
    r = (y - k * _LN2_HI) - k * _LN2_LO
    p = _E13
    p = p * r + _E12
    p = p * r + _E11
    p = p * r + _E10
    p = p * r + _E9
    p = p * r + _E8
    p = p * r + _E7
    p = p * r + _E6
    p = p * r + _E5
    p = p * r + _E4
    p = p * r + _E3
    p = p * r + _E2
    expm1_r = r + r * r * p
    two_k = _bits_float((_float_bits(shifted) - _float_bits(_ROUNDER) + 1023) << 52)
    expm1_y = two_k * expm1_r + (two_k - 1.0)
    return math.copysign(-expm1_y / (2.0 + expm1_y), z)


@_jit
def _tanh_loop(z, out):
    for i in range(z.shape[0]):
        out[i] = _tanh(z[i])


def tanh_into(z, out):
    """out[i] = tanh(z[i]) with the compiled loops' tanh (1-D arrays; for tests)."""
    _check_array("z", z, (None,))
    _check_array("out", out, (z.shape[0],))
    _tanh_loop(z, out)


@numba.njit(inline="always")
def _unsigned(index):
    # A column index as unsigned: Numba then skips the wrap-around of negative
    # indices, a compare and select per non-zero (9.5 against 7.5 us for a
    # CSR product with 9,000 non-zeros).
    return numba.uint64(index)


@_jit
def _update(x, z, leak, code):
    """x <- x + a (f(z) - x) over one state vector, in place (z is overwritten).

    The branch on f and on a = 1 sits outside the loops, so each loop
    vectorises. x + a (f(z) - x) is the form of the NumPy path, so both round
    alike.
    """
    n = x.shape[0]
    if code == 0:
        for i in range(n):
            z[i] = _tanh(z[i])
    elif code == 2:
        for i in range(n):
            z[i] = z[i] if z[i] > 0.0 else 0.0 * z[i]
    elif code == 3:
        for i in range(n):
            z[i] = 0.5 * (1.0 + _tanh(0.5 * z[i]))
    if leak == 1.0:
        for i in range(n):
            x[i] = z[i]
    else:
        for i in range(n):
            x[i] = x[i] + leak * (z[i] - x[i])


# Lane offsets within a slice of the sliced layout, as unsigned integers so
# that indexing with them skips the wrap-around of negative indices.
_1, _2, _3, _4, _5, _6, _7, _8 = (np.uint64(k) for k in range(1, 9))


@numba.njit(inline="always")
def _sliced_product(x, rows, offsets, columns, values, z):
    """z[i] += (W x)[i] for every row i, W in the sliced layout of reservoir._backend.sliced_ell.

    ``x`` has N + 1 elements with x[N] = 0 (the padding column), ``z`` has a
    spare element N (the padding rows). Eight running sums, one per row of a
    slice (SLICE_ROWS = 8), each adding its row's terms in CSR order.
    """
    for s in range(offsets.shape[0] - 1):
        p = _unsigned(offsets[s])
        end = _unsigned(offsets[s + 1])
        r = 8 * s
        i0, i1, i2, i3 = rows[r], rows[r + 1], rows[r + 2], rows[r + 3]
        i4, i5, i6, i7 = rows[r + 4], rows[r + 5], rows[r + 6], rows[r + 7]
        a0, a1, a2, a3, a4, a5, a6, a7 = z[i0], z[i1], z[i2], z[i3], z[i4], z[i5], z[i6], z[i7]
        while p < end:
            a0 += values[p] * x[columns[p]]
            a1 += values[p + _1] * x[columns[p + _1]]
            a2 += values[p + _2] * x[columns[p + _2]]
            a3 += values[p + _3] * x[columns[p + _3]]
            a4 += values[p + _4] * x[columns[p + _4]]
            a5 += values[p + _5] * x[columns[p + _5]]
            a6 += values[p + _6] * x[columns[p + _6]]
            a7 += values[p + _7] * x[columns[p + _7]]
            p += _8
        z[i0], z[i1], z[i2], z[i3], z[i4], z[i5], z[i6], z[i7] = a0, a1, a2, a3, a4, a5, a6, a7


@_jit
def _states_sliced_loop(x, drive, rows, offsets, columns, values, leak, code, out):
    B, c, N = drive.shape
    z = np.empty(N + 1, dtype=x.dtype)
    xb = np.zeros(N + 1, dtype=x.dtype)     # xb[N] stays 0: the padding column
    for b in range(B):
        xb[:N] = x[b]
        for t in range(c):
            z[:N] = drive[b, t]
            _sliced_product(xb, rows, offsets, columns, values, z)
            _update(xb[:N], z[:N], leak, code)
            out[b, t, :] = xb[:N]
        x[b] = xb[:N]
    return x


def states_sliced(x, drive, rows, offsets, columns, values, leak, code, out):
    """Run ``drive.shape[1]`` steps with a sparse W; states into ``out`` (B, c, N); returns x.

    ``x`` (B, N) is the state before the chunk, ``drive`` (B, c, N) holds
    W_in u(t) + W_fb y(t-1) + b (+ noise) of every step; W is in the sliced
    layout (rows, offsets, columns, values). Each unit's pre-activation is
    its drive plus its row's terms in CSR order.
    """
    B, c, N = _check_array("drive", drive, (None, None, None))
    _check_array("x", x, (B, N))
    _check_array("out", out, (B, c, N))
    _check_sliced(rows, offsets, columns, values, N)
    return _states_sliced_loop(x, drive, rows, offsets, columns, values, leak, code, out)


def states_dense(x, drive, Wt, leak, code, out):
    """As :func:`states_sliced` with a dense W given transposed, ``Wt`` (N, N): z = x Wᵀ + drive."""
    B, c, N = _check_array("drive", drive, (None, None, None))
    _check_array("x", x, (B, N))
    _check_array("Wt", Wt, (N, N))
    _check_array("out", out, (B, c, N))
    return _states_dense_loop(x, drive, Wt, leak, code, out)


@_jit
def _states_dense_loop(x, drive, Wt, leak, code, out):
    B, c, N = drive.shape
    for t in range(c):
        z = x @ Wt
        for b in range(B):
            zb = z[b]
            for i in range(N):
                zb[i] += drive[b, t, i]
            _update(x[b], zb, leak, code)
            out[b, t, :] = x[b]
    return x


@_jit
def _recurrent(x, rows, offsets, columns, values, Wt, sparse, z, x_pad, z_pad):
    """z = x Wᵀ for a batch x (B, N), W in the sliced layout or dense (transposed).

    ``x_pad`` and ``z_pad`` are work vectors of N + 1 elements for the
    sliced product, with x_pad[N] = 0 (the padding column).
    """
    B, N = x.shape
    if sparse:
        for b in range(B):
            x_pad[:N] = x[b]
            z_pad[:] = 0.0
            _sliced_product(x_pad, rows, offsets, columns, values, z_pad)
            z[b] = z_pad[:N]
    else:
        z[:, :] = x @ Wt


def closed_loop_linear(x, y, n_steps, rows, offsets, columns, values, Wt, sparse, M, bias, leak, code,
                       coef_in, coef_state, coef_square, intercept, out):
    """Autonomous closed loop with a linear readout on [u; x; x²], fused.

    Each step: z = W x + M y + b (M = W_in (+ W_fb), transposed: (k, N)),
    x <- leaky(f(z)), y <- u coef_in + x coef_state + x² coef_square +
    intercept with u the previous y; outputs into ``out`` (B, n_steps, k).
    Absent readout parts are arrays with no rows. Returns the final state.
    """
    B, N = _check_array("x", x, (None, None))
    k = _check_array("intercept", intercept, (None,))[0]
    if sparse:
        _check_sliced(rows, offsets, columns, values, N)
    else:
        _check_array("Wt", Wt, (N, N))
    _check_loop_arrays(B, N, k, n_steps, y=(y, (B, k)), M=M, bias=bias, out=out,
                       coefs=(coef_in, coef_state, coef_square), coef_shape=(k,))
    return _closed_loop_linear_loop(x, y, n_steps, rows, offsets, columns, values, Wt, sparse, M,
                                    bias, leak, code, coef_in, coef_state, coef_square,
                                    intercept, out)


@_jit
def _closed_loop_linear_loop(x, y, n_steps, rows, offsets, columns, values, Wt, sparse, M, bias,
                             leak, code, coef_in, coef_state, coef_square, intercept, out):
    B, N = x.shape
    k = intercept.shape[0]
    z = np.empty((B, N), dtype=x.dtype)
    x_pad = np.zeros(N + 1, dtype=x.dtype)      # x_pad[N] stays 0: the padding column
    z_pad = np.empty(N + 1, dtype=x.dtype)
    for t in range(n_steps):
        _recurrent(x, rows, offsets, columns, values, Wt, sparse, z, x_pad, z_pad)
        drive = y @ M
        for b in range(B):
            zb = z[b]
            for i in range(N):
                zb[i] += drive[b, i] + bias[i]
            _update(x[b], zb, leak, code)
        y_next = np.empty((B, k), dtype=x.dtype)
        for b in range(B):
            for j in range(k):
                y_next[b, j] = intercept[j]
        if coef_in.shape[0]:
            y_next += y @ coef_in
        if coef_state.shape[0]:
            y_next += x @ coef_state
        if coef_square.shape[0]:
            y_next += (x * x) @ coef_square
        y = y_next
        out[:, t, :] = y
    return x


def closed_loop_batch(xT, yT, n_steps, indptr, indices, data, W, sparse, M, bias, leak, code,
                      coef_in, coef_state, coef_square, intercept, out):
    """Autonomous closed loop of a batch of B series, each with its own linear readout.

    The layout is transposed so that every inner loop runs over the batch,
    contiguous and vectorised: states ``xT`` (N, B), outputs ``yT`` (k, B);
    W (N, N) (unused when ``sparse``: the CSR arrays are), M = W_in (+ W_fb)
    as (k, N); readout coefficients per series ``coef_in`` (k, k, B),
    ``coef_state`` and ``coef_square`` (N or 0, k, B), ``intercept`` (k, B).
    Each step: z = W x + Mᵀ y + b, x <- leaky(f(z)), y <- the readout of
    [u = previous y; x; x²]; outputs into ``out`` (B, n_steps, k). Returns xT.
    """
    N, B = _check_array("xT", xT, (None, None))
    k = _check_array("intercept", intercept, (None, B))[0]
    if sparse:
        _check_csr(indptr, indices, data, N)
    else:
        _check_array("W", W, (N, N))
    _check_loop_arrays(B, N, k, n_steps, y=(yT, (k, B)), M=M, bias=bias, out=out,
                       coefs=(coef_in, coef_state, coef_square), coef_shape=(k, B))
    return _closed_loop_batch_loop(xT, yT, n_steps, indptr, indices, data, W, sparse, M, bias,
                                   leak, code, coef_in, coef_state, coef_square, intercept, out)


@_jit
def _closed_loop_batch_loop(xT, yT, n_steps, indptr, indices, data, W, sparse, M, bias, leak, code,
                            coef_in, coef_state, coef_square, intercept, out):
    N, B = xT.shape
    k = yT.shape[0]
    z = np.empty((N, B), dtype=xT.dtype)
    y_next = np.empty((k, B), dtype=xT.dtype)
    for t in range(n_steps):
        if sparse:
            for i in range(N):
                zi = z[i]
                for b in range(B):
                    zi[b] = bias[i]
                for p in range(indptr[i], indptr[i + 1]):
                    w = data[p]
                    xc = xT[_unsigned(indices[p])]
                    for b in range(B):
                        zi[b] += w * xc[b]
        else:
            z[:, :] = W @ xT
            for i in range(N):
                for b in range(B):
                    z[i, b] += bias[i]
        for j in range(k):
            yj = yT[j]
            for i in range(N):
                m = M[j, i]
                zi = z[i]
                for b in range(B):
                    zi[b] += m * yj[b]
        _update(xT.reshape(N * B), z.reshape(N * B), leak, code)
        for j in range(k):
            yn = y_next[j]
            for b in range(B):
                yn[b] = intercept[j, b]
            for q in range(coef_in.shape[0]):
                cq = coef_in[q, j]
                yq = yT[q]
                for b in range(B):
                    yn[b] += cq[b] * yq[b]
            for i in range(coef_state.shape[0]):
                cs = coef_state[i, j]
                xi = xT[i]
                for b in range(B):
                    yn[b] += cs[b] * xi[b]
            for i in range(coef_square.shape[0]):
                cs = coef_square[i, j]
                xi = xT[i]
                for b in range(B):
                    yn[b] += cs[b] * (xi[b] * xi[b])
        for j in range(k):
            for b in range(B):
                yT[j, b] = y_next[j, b]
                out[b, t, j] = y_next[j, b]
    return xT


# ----------------------------------------------------------------------------
# The loops above index without bounds checks (Numba's default, and what lets
# them vectorise), so each public loop checks once per call that the arrays
# it is given agree: shapes, and every stored index within the state vector.
# That is a pass over W's indices (a few microseconds for 10,000 non-zeros)
# per chunk of up to thousands of steps, or per closed loop: a wrong array,
# from a forged model file or assembled by hand, raises a ValueError here
# instead of writing out of bounds.
# ----------------------------------------------------------------------------

def _check_array(name, a, shape):
    """``a.shape`` if ``a`` is an ndarray of ``shape`` (None: any length), else a ValueError."""
    if not isinstance(a, np.ndarray) or a.ndim != len(shape) or any(
            n is not None and a.shape[i] != n for i, n in enumerate(shape)):
        found = tuple(a.shape) if hasattr(a, "shape") else type(a).__name__
        expected = tuple("any" if n is None else n for n in shape)
        raise ValueError(f"compiled loop: {name} must have shape {expected}, got {found}")
    return a.shape


@_jit
def _sliced_in_bounds(rows, offsets, columns, n):
    """Whether offsets rise from 0 to len(columns) in multiples of 8 and rows, columns <= n."""
    if offsets[0] != 0 or offsets[offsets.shape[0] - 1] != columns.shape[0]:
        return False
    for s in range(offsets.shape[0] - 1):
        width = offsets[s + 1] - offsets[s]
        if width < 0 or width % 8:
            return False
    for i in range(rows.shape[0]):
        if rows[i] < 0 or rows[i] > n:
            return False
    for p in range(columns.shape[0]):
        if columns[p] < 0 or columns[p] > n:
            return False
    return True


@_jit
def _csr_in_bounds(indptr, indices, n):
    """Whether indptr rises from 0 to len(indices) and every index lies in [0, n)."""
    if indptr[0] != 0 or indptr[indptr.shape[0] - 1] != indices.shape[0]:
        return False
    for i in range(indptr.shape[0] - 1):
        if indptr[i + 1] < indptr[i]:
            return False
    for p in range(indices.shape[0]):
        if indices[p] < 0 or indices[p] >= n:
            return False
    return True


def _check_integers(**arrays):
    for name, a in arrays.items():
        if a.dtype.kind not in "iu":
            raise ValueError(f"compiled loop: {name} must hold integers, got dtype {a.dtype}")


def _check_sliced(rows, offsets, columns, values, n):
    """W of n units in the sliced layout of reservoir._backend.sliced_ell, in bounds.

    Row n is the spare element of padding rows, column n the padding column.
    """
    n_slices = _check_array("offsets", offsets, (None,))[0] - 1
    if n_slices < 0:
        raise ValueError("compiled loop: offsets must hold at least one entry")
    _check_array("rows", rows, (8 * n_slices,))
    size = _check_array("columns", columns, (None,))[0]
    _check_array("values", values, (size,))
    _check_integers(rows=rows, offsets=offsets, columns=columns)
    if not _sliced_in_bounds(rows, offsets, columns, n):
        raise ValueError(f"compiled loop: the sliced W must have offsets rising from 0 to {size} "
                         f"in multiples of 8 and rows and columns in [0, {n}]")


def _check_csr(indptr, indices, data, n):
    """An (n, n) CSR matrix whose row pointers and column indices stay in bounds."""
    _check_array("indptr", indptr, (n + 1,))
    nnz = _check_array("indices", indices, (None,))[0]
    _check_array("data", data, (nnz,))
    _check_integers(indptr=indptr, indices=indices)
    if not _csr_in_bounds(indptr, indices, n):
        raise ValueError(f"compiled loop: the CSR W must have indptr rising from 0 to {nnz} and "
                         f"indices in [0, {n})")


def _check_loop_arrays(B, N, k, n_steps, *, y, M, bias, out, coefs, coef_shape):
    """The arrays a closed loop shares, for B series, N units and k outputs.

    ``y`` comes with its expected shape; the readout's blocks on u, x and x²
    have k, N and N rows (0 for an absent block), then ``coef_shape``.
    """
    if int(n_steps) < 0:
        raise ValueError(f"compiled loop: n_steps must be non-negative, got {n_steps}")
    _check_array("y", *y)
    _check_array("M", M, (k, N))
    _check_array("bias", bias, (N,))
    _check_array("out", out, (B, int(n_steps), k))
    for name, a, rows in zip(("coef_in", "coef_state", "coef_square"), coefs, (k, N, N),
                             strict=True):
        first = _check_array(name, a, (None, *coef_shape))[0]
        if first not in (0, rows):
            raise ValueError(f"compiled loop: {name} must have 0 or {rows} rows, got {first}")
