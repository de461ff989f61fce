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

__all__ = ["ACTIVATION_CODES", "closed_loop_linear", "states_csr", "states_dense"]

ACTIVATION_CODES = {"tanh": 0, "identity": 1, "relu": 2, "sigmoid": 3}

_jit = numba.njit(cache=True, fastmath=False, nogil=True)


@_jit
def _activate(z, code):
    if code == 0:
        return math.tanh(z)
    if code == 1:
        return z
    if code == 2:
        return z if z > 0.0 else 0.0 * z
    return 0.5 * (1.0 + math.tanh(0.5 * z))


@_jit
def _blend(x_old, fz, leak):
    # x + a (f(z) - x): the form of the NumPy path, so both round alike.
    if leak == 1.0:
        return fz
    return x_old + leak * (fz - x_old)


@_jit
def states_csr(x, drive, indptr, indices, data, leak, code, out):
    """Run ``drive.shape[1]`` steps with a CSR W; states into ``out`` (B, c, N); returns x.

    ``x`` (B, N) is the state before the chunk, ``drive`` (B, c, N) holds
    W_in u(t) + W_fb y(t-1) + b (+ noise) of every step.
    """
    B, c, N = drive.shape
    z = np.empty(N, dtype=x.dtype)
    for b in range(B):
        xb = x[b].copy()
        for t in range(c):
            for i in range(N):
                acc = drive[b, t, i]
                for k in range(indptr[i], indptr[i + 1]):
                    acc += data[k] * xb[indices[k]]
                z[i] = acc
            for i in range(N):
                xb[i] = _blend(xb[i], _activate(z[i], code), leak)
                out[b, t, i] = xb[i]
        x[b] = xb
    return x


@_jit
def states_dense(x, drive, Wt, leak, code, out):
    """As :func:`states_csr` with a dense W given transposed, ``Wt`` (N, N): z = x Wᵀ + drive."""
    B, c, N = drive.shape
    for t in range(c):
        z = x @ Wt
        for b in range(B):
            for i in range(N):
                x[b, i] = _blend(x[b, i], _activate(z[b, i] + drive[b, t, i], code), leak)
                out[b, t, i] = x[b, i]
    return x


@_jit
def _recurrent(x, indptr, indices, data, Wt, sparse, z):
    """z = x Wᵀ for a batch x (B, N), CSR or dense."""
    B, N = x.shape
    if sparse:
        for b in range(B):
            for i in range(N):
                acc = 0.0
                for k in range(indptr[i], indptr[i + 1]):
                    acc += data[k] * x[b, indices[k]]
                z[b, i] = acc
    else:
        z[:, :] = x @ Wt


@_jit
def closed_loop_linear(x, y, n_steps, indptr, indices, data, Wt, sparse, M, bias, leak, code,
                       coef_in, coef_state, coef_square, intercept, out):
    """Autonomous closed loop with a linear readout on [u; x; x²], fused.

    Each step: z = W x + M y + b (M = W_in (+ W_fb), transposed: (k, N)),
    x <- leaky(f(z)), y <- u coef_in + x coef_state + x² coef_square +
    intercept with u the previous y; outputs into ``out`` (B, n_steps, k).
    Absent readout parts are arrays with no rows. Returns the final state.
    """
    B, N = x.shape
    k = intercept.shape[0]
    z = np.empty((B, N), dtype=x.dtype)
    for t in range(n_steps):
        _recurrent(x, indptr, indices, data, Wt, sparse, z)
        drive = y @ M
        for b in range(B):
            for i in range(N):
                x[b, i] = _blend(x[b, i], _activate(z[b, i] + drive[b, i] + bias[i], code), leak)
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
