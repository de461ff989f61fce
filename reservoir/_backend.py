"""Array-library plumbing: the only module that knows which array libraries exist.

Everything numeric in the package asks this module for the namespace of its
inputs (NumPy, CuPy, or any library that implements the Array API standard)
and writes its arithmetic once against that namespace. The namespace helpers
come from ``array_api_compat`` as vendored by scikit-learn, so no extra
runtime dependency is needed. CuPy is never imported here at module level: it
is only touched when an array that already lives on a GPU is handed to us, or
when the caller explicitly asks for it.
"""

from __future__ import annotations

import contextlib
import functools

import numpy as np
import scipy.linalg
import scipy.sparse
from sklearn.externals import array_api_compat
from sklearn.externals.array_api_compat import numpy as _np_compat

__all__ = [
    "RecurrentOperator",
    "SolveFailedError",
    "cholesky_solve",
    "device_kwargs",
    "device_of",
    "get_namespace",
    "host_blas_policy",
    "is_cupy",
    "is_numpy",
    "limit_blas_threads",
    "resolve_dtype",
    "sliced_ell",
    "solve_spd",
    "solve_symmetric_lstsq",
    "to_namespace",
    "to_numpy",
]


class SolveFailedError(ArithmeticError):
    """Raised by :func:`solve_spd` when the Cholesky path cannot be trusted."""


def get_namespace(*arrays):
    """Return the Array-API namespace shared by ``arrays``.

    Plain Python objects (lists, scalars, ``None``) and NumPy arrays give the
    NumPy namespace. Arrays from two different libraries raise ``TypeError``.
    """
    # Anything that is not an Array-API array (lists, scalars, pandas frames,
    # SciPy sparse matrices) is NumPy input as far as namespaces go.
    candidates = [a for a in arrays if array_api_compat.is_array_api_obj(a) and not scipy.sparse.issparse(a)]
    if not candidates:
        return _np_compat
    try:
        return array_api_compat.array_namespace(*candidates)
    except TypeError as exc:
        kinds = sorted({type(a).__module__.split(".")[0] + "." + type(a).__name__ for a in candidates})
        raise TypeError(
            f"arrays from different array libraries cannot be mixed; received {kinds}. "
            "Move all inputs to one library (for example with numpy.asarray or cupy.asarray)."
        ) from exc


def is_numpy(xp) -> bool:
    """True when ``xp`` is NumPy (or its Array-API compatibility wrapper)."""
    return array_api_compat.is_numpy_namespace(xp)


def is_cupy(xp) -> bool:
    """True when ``xp`` is CuPy (or its Array-API compatibility wrapper)."""
    return array_api_compat.is_cupy_namespace(xp)


def device_of(x):
    """The device an array lives on (``"cpu"`` for NumPy)."""
    return array_api_compat.device(x)


def device_kwargs(x, xp):
    """``{"device": ...}`` for allocating beside ``x``; empty for NumPy, which has one device."""
    return {} if is_numpy(xp) else {"device": array_api_compat.device(x)}


def resolve_dtype(dtype, xp):
    """Map a user ``dtype`` argument (string, NumPy dtype or namespace dtype) onto ``xp``.

    Only real floating types are accepted: reservoirs are float32 or float64.
    """
    if dtype is None:
        return xp.float64
    try:
        name = np.dtype(dtype).name
    except TypeError:
        # A dtype object of another namespace (array_api_strict.float32 ...).
        name = str(dtype).rsplit(".", 1)[-1]
    if name not in ("float32", "float64"):
        raise ValueError(f"dtype must be 'float32' or 'float64', got {dtype!r}")
    return getattr(xp, name)


def to_numpy(x) -> np.ndarray:
    """Copy an array of any supported library to a host NumPy array."""
    if isinstance(x, np.ndarray):
        return x
    module = type(x).__module__.split(".")[0]
    if module == "cupy":
        return x.get()
    if module == "cupyx":
        return x.get()
    try:
        return np.from_dlpack(x)
    except (TypeError, RuntimeError, BufferError, AttributeError):
        return np.asarray(x)


def to_namespace(a, xp, *, dtype=None, device=None):
    """Move a host array (NumPy or SciPy sparse) into namespace ``xp``.

    Sparse matrices stay sparse on NumPy (SciPy CSR) and on CuPy
    (``cupyx.scipy.sparse`` CSR); any other namespace has no sparse format in
    the Array API standard, so the matrix is densified there.
    """
    if scipy.sparse.issparse(a):
        csr = scipy.sparse.csr_matrix(a)
        if dtype is not None:
            csr = csr.astype(_numpy_dtype_of(dtype))
        if is_numpy(xp):
            return csr
        if is_cupy(xp):
            import cupyx.scipy.sparse as cusparse

            return cusparse.csr_matrix(csr)
        a = csr.toarray()
    if is_numpy(xp):
        out = np.asarray(a)
        return out if dtype is None else out.astype(_numpy_dtype_of(dtype), copy=False)
    kwargs = {} if device is None else {"device": device}
    out = xp.asarray(np.ascontiguousarray(a), **kwargs)
    return out if dtype is None else xp.astype(out, dtype)


def _numpy_dtype_of(dtype):
    try:
        return np.dtype(dtype)
    except TypeError:
        return np.dtype(str(dtype).rsplit(".", 1)[-1])


_blas_controller = None


def _blas_threads():
    """threadpoolctl's controller of the loaded BLAS libraries, made once.

    Building one scans the process's shared libraries (about 1 ms); limiting
    through a kept one costs about 13 us. It is made on first use, when
    NumPy's and SciPy's BLAS are both loaded (``import reservoir`` loads
    SciPy's linear algebra).
    """
    global _blas_controller
    if _blas_controller is None:
        from threadpoolctl import ThreadpoolController  # a scikit-learn dependency

        _blas_controller = ThreadpoolController()
    return _blas_controller


def limit_blas_threads(xp, small):
    """Context running the host BLAS libraries on one thread when ``small`` is true.

    Time loops make one small product per step; below a size that each
    caller measures, waking BLAS threads for every product costs more than
    the threads save. Other namespaces (and large products) are left alone.
    """
    if small and is_numpy(xp):
        return _blas_threads().limit(limits=1, user_api="blas")
    return contextlib.nullcontext()


# Up to this width of the readout's statistics (about the reservoir units
# the readout reads), a whole fit, prediction or forecast runs the host BLAS
# on one thread. NumPy and SciPy wheels each bundle their own
# OpenBLAS, whose idle worker threads spin for a while after every call; on 2
# cores the spinning threads of one library stall the other's (alternating a
# 4096 x 101 Gram product and the eigenvalues of a 100 x 100 matrix doubles
# both). Measured fits of one series of 10,000 steps, 2 cores: N = 100 49
# against 90 ms, N = 300 192 against 220 to 320 ms; from N = 1000 the second
# thread pays for itself (1.18 against 1.25 s), and an eigendecomposition of
# the statistics at F = 1004 (the ridge path) takes 0.10 s against 0.15 s.
_SINGLE_THREAD_MAX_UNITS = 512


def host_blas_policy(method):
    """Decorate an estimator method to run under the host BLAS thread policy.

    The estimator's ``_blas_units()`` gives the size that decides (None: no
    limit); below :data:`_SINGLE_THREAD_MAX_UNITS` every BLAS call of the
    method, NumPy's and SciPy's, runs on one thread. Device arrays are not
    affected: only the host libraries are limited.
    """
    @functools.wraps(method)
    def run(self, *args, **kwargs):
        units = self._blas_units()
        with limit_blas_threads(np, units is not None and units <= _SINGLE_THREAD_MAX_UNITS):
            return method(self, *args, **kwargs)

    return run


class RecurrentOperator:
    """The product ``x @ W.T`` for a batch of states, with W dense or CSR.

    The operator is prepared once, on the namespace and device of the data, so
    the time loop performs one matrix product per step and nothing else:
    no conversion, no host round trip.

    Parameters
    ----------
    W : ndarray or scipy.sparse matrix of shape (n_units, n_units)
        Recurrent weights, drawn on the host.
    xp : namespace
        Target array namespace.
    dtype : dtype of ``xp``
    device : device, optional
    sparse : bool
        Use a compressed sparse row product (NumPy and CuPy only).
    """

    def __init__(self, W, xp, *, dtype, device=None, sparse=False):
        self.xp = xp
        self.shape = W.shape
        self.sparse = bool(sparse) and (is_numpy(xp) or is_cupy(xp))
        # Multiply-adds of one product per series (what the loops' choice weighs).
        self.nnz = int(W.nnz) if scipy.sparse.issparse(W) else int(np.count_nonzero(W))
        if self.sparse:
            self._W = to_namespace(scipy.sparse.csr_matrix(W), xp, dtype=dtype, device=device)
        else:
            dense = W.toarray() if scipy.sparse.issparse(W) else np.asarray(W)
            # Store W.T contiguous so the dense step is a plain row-major GEMM.
            self._Wt = to_namespace(np.ascontiguousarray(dense.T), xp, dtype=dtype, device=device)

    def __call__(self, x):
        """Return ``x @ W.T`` for ``x`` of shape (n_batch, n_units)."""
        if self.sparse:
            # (W @ x.T).T keeps the sparse matrix on the left, where SciPy and
            # cuSPARSE have their fast CSR kernels.
            return (self._W @ x.T).T
        return x @ self._Wt

    def csr_arrays(self):
        """(indptr, indices, data) of a NumPy CSR operator, for compiled loops."""
        W = self._W
        return W.indptr, W.indices, W.data

    def sliced_arrays(self):
        """W of a NumPy CSR operator in the sliced layout of :func:`sliced_ell`, built once."""
        if getattr(self, "_sliced", None) is None:
            self._sliced = sliced_ell(self._W)
        return self._sliced

    def dense_transposed(self):
        """Wᵀ, C-contiguous, of a NumPy operator, for compiled loops.

        A CSR operator densifies once and keeps the copy: below a few hundred
        units a dense product in a compiled loop beats the sparse one.
        """
        if self.sparse and getattr(self, "_Wt", None) is None:
            self._Wt = np.ascontiguousarray(self._W.toarray().T)
        return self._Wt


# Rows per slice of the sliced layout: one AVX-512 register of float64, and
# enough independent sums to hide the latency of floating-point addition.
SLICE_ROWS = 8


def sliced_ell(W):
    """A CSR matrix in sliced ELLPACK layout, rows sorted by length (SELL-C-sigma).

    A CSR product sums each row's non-zeros one after the other, so each
    term waits for the previous addition: the product runs at the latency of
    one addition per non-zero, not at the speed of memory. Here the rows, sorted
    by their number of non-zeros, go in slices of :data:`SLICE_ROWS`; a
    slice stores its rows' k-th non-zeros side by side, so a loop over k
    keeps one running sum per row, independent of each other. Rows shorter
    than their slice's longest are padded with weight 0 on column N, a
    column that the product's state vector holds as 0, so a padded term adds
    exactly +0 (never 0 * inf); padding rows of the last slice have row index
    N, written to a spare element. Each row is summed in its CSR order, so
    the product rounds exactly as the CSR loop does (Kreutzer et al. 2014,
    "A unified sparse matrix data format for efficient general sparse
    matrix-vector multiplication on modern processors with wide SIMD units").

    Returns
    -------
    rows : ndarray of shape (n_slices * SLICE_ROWS,), intp
        The row of each lane (N for padding).
    offsets : ndarray of shape (n_slices + 1,), intp
        Where each slice starts in ``columns`` and ``values``.
    columns : ndarray, uint16 (uint32 from 65,535 rows)
        Column of each stored element, slice after slice, lane-minor.
    values : ndarray of W's dtype
    """
    W = scipy.sparse.csr_matrix(W)
    n = W.shape[0]
    lengths = np.diff(W.indptr)
    order = np.argsort(-lengths, kind="stable")
    n_slices = -(-n // SLICE_ROWS)
    rows = np.full(n_slices * SLICE_ROWS, n, dtype=np.intp)
    rows[:n] = order
    widths = np.zeros(n_slices * SLICE_ROWS, dtype=np.intp)
    widths[:n] = lengths[order]
    widths = widths.reshape(n_slices, SLICE_ROWS).max(axis=1)
    offsets = np.zeros(n_slices + 1, dtype=np.intp)
    np.cumsum(widths * SLICE_ROWS, out=offsets[1:])
    position = np.empty(n, dtype=np.intp)
    position[order] = np.arange(n)
    row_of = np.repeat(np.arange(n), lengths)
    k = np.arange(W.nnz) - W.indptr[row_of]
    where = offsets[position[row_of] // SLICE_ROWS] + k * SLICE_ROWS + position[row_of] % SLICE_ROWS
    columns = np.full(offsets[-1], n, dtype=np.uint16 if n < np.iinfo(np.uint16).max else np.uint32)
    columns[where] = W.indices
    values = np.zeros(offsets[-1], dtype=W.dtype)
    values[where] = W.data
    return rows, offsets, columns, values


def solve_spd(A, B, *, check_condition=False):
    """Solve ``A X = B`` for symmetric positive-definite ``A`` by Cholesky.

    NumPy inputs use SciPy's ``cho_factor``/``cho_solve``; other namespaces
    factorise with ``xp.linalg.cholesky`` (to detect indefiniteness) and
    solve with ``xp.linalg.solve``. Raises :class:`SolveFailedError` when
    the factorisation fails (A is not numerically positive definite), and,
    with ``check_condition``, when A is so ill-conditioned that the
    solution is mostly rounding error (cond(A) > 1/eps, estimated from the
    factor's diagonal), so that the caller can fall back to
    :func:`solve_symmetric_lstsq`.

    A Cholesky solve is backward stable: for a positive-definite ridge
    system (alpha > 0) its solution is the exact ridge solution of a nearby
    problem even when A is ill-conditioned, which is why the condition
    check is the caller's choice.
    """
    xp = get_namespace(A, B)
    if is_numpy(xp):
        try:
            factor = scipy.linalg.cho_factor(A, lower=True, check_finite=False)
        except (np.linalg.LinAlgError, ValueError) as exc:
            raise SolveFailedError(str(exc)) from exc
        diag = np.abs(np.diag(factor[0]))
    else:
        try:
            factor = xp.linalg.cholesky(A)
        except Exception as exc:  # each library raises its own LinAlgError type
            raise SolveFailedError(str(exc)) from exc
        diag = to_numpy(xp.abs(_diag(factor, xp)))
    if not np.all(np.isfinite(diag)) or diag.min() <= 0.0:
        raise SolveFailedError("the Cholesky factor has a non-positive or non-finite diagonal")
    # cond(A) = cond(L)^2, and the ratio of L's diagonal extremes bounds cond(L) from below.
    if check_condition and (diag.min() / diag.max()) ** 2 < float(np.finfo(diag.dtype).eps):
        raise SolveFailedError("the matrix is singular to working precision")
    if is_numpy(xp):
        X = scipy.linalg.cho_solve(factor, B, check_finite=False)
    elif is_cupy(xp):
        # Two triangular solves with the factor, on the device: a general
        # solve would factorise A again (LU, twice the Cholesky's flops).
        from cupyx.scipy.linalg import solve_triangular

        X = cholesky_solve(factor, B, solve_triangular)
    else:
        X = xp.linalg.solve(A, B)
    if not bool(xp.all(xp.isfinite(X))):
        raise SolveFailedError("the solve produced non-finite values")
    return X


def cholesky_solve(L, B, solve_triangular):
    """X with L Lᵀ X = B, for lower-triangular L, by SciPy's ``solve_triangular`` signature."""
    return solve_triangular(L.T, solve_triangular(L, B, lower=True), lower=False)


def _diag(M, xp):
    """Main diagonal of a square matrix with Array-API calls only."""
    n = M.shape[0]
    index = xp.arange(n, **device_kwargs(M, xp)) * (n + 1)
    return xp.take(xp.reshape(M, (-1,)), index)


def solve_symmetric_lstsq(A, B):
    """Minimum-norm least-squares solution of ``A X = B`` for symmetric ``A``.

    Uses the symmetric eigendecomposition (``xp.linalg.eigh``, available in
    every Array-API library, unlike ``lstsq``) and discards eigenvalues below
    ``n * eps * max|eigenvalue|``: a pseudo-inverse that stays finite for
    singular or badly scaled systems.
    """
    xp = get_namespace(A, B)
    if is_numpy(xp):
        w, V = scipy.linalg.eigh(A, check_finite=False)
    else:
        w, V = xp.linalg.eigh(A)
    eps = float(xp.finfo(A.dtype).eps)
    cutoff = A.shape[0] * eps * float(xp.max(xp.abs(w)))
    keep = xp.abs(w) > cutoff
    inv_w = xp.where(keep, 1.0 / xp.where(keep, w, xp.ones_like(w)), xp.zeros_like(w))
    return V @ (inv_w[:, None] * (V.T @ B))
