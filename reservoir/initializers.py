"""Random weight matrices of a reservoir, drawn on the host with NumPy and SciPy.

Every function here is pure: arguments in, matrix out, with ``random_state``
explicit. Matrices are NumPy arrays, or SciPy CSR matrices when sparse; the
estimators move them once to the device of the data.

The recurrent matrix is rescaled in exactly one place,
:func:`rescale_spectral_radius`, so that its spectral radius (largest
eigenvalue modulus) equals the requested value. The spectral radius is
computed exactly (``scipy.linalg.eigvals``) for small dense matrices, with
ARPACK (``scipy.sparse.linalg.eigs``) for large or sparse ones, and by
subspace iteration if ARPACK does not converge.

References
----------
H. Jaeger (2001). The "echo state" approach to analysing and training recurrent
neural networks. GMD Report 148.
A. Rodan and P. Tino (2011). Minimum complexity echo state network. IEEE
Transactions on Neural Networks 22(1), 131-144 (ring and delay-line reservoirs).
"""

from __future__ import annotations

import numpy as np
import scipy.linalg
import scipy.sparse
import scipy.sparse.linalg
import scipy.stats

from ._validation import check_generator, check_interval
from ._warn import warn

__all__ = [
    "bias_vector",
    "feedback_weights",
    "input_weights",
    "recurrent_weights",
    "rescale_spectral_radius",
    "spectral_radius",
]

TOPOLOGIES = ("random", "ring", "delay_line", "orthogonal")
DISTRIBUTIONS = ("normal", "uniform", "bernoulli")

# Dense matrices up to this size get all eigenvalues exactly (LAPACK geev:
# about 0.5 s at n=1000, 2 s at n=2000). ARPACK is no faster on dense random
# matrices of that size: their eigenvalues crowd at the edge of the spectral
# disc (the circular law), so its restarts converge slowly.
_EXACT_EIGVALS_MAX_UNITS = 2000
# Fixed seed of ARPACK's start vector: the same matrix always gives the same
# (bit-identical) estimate, independent of any user generator.
_ARPACK_START_SEED = 20_011
# Krylov basis size of ARPACK (its ncv). With SciPy's default for six
# eigenvalues (20), the restarts settle on six eigenvalues of nearly largest
# modulus that miss the largest one for a share of random sparse matrices
# (the circular law crowds their eigenvalues at the edge of the disc):
# measured against all eigenvalues from LAPACK, density 0.1, 10 of 100
# matrices at N = 1000 (radius off by up to 1.4 %), 8 of 300 at N = 500,
# and 2 of 60 at N = 1000 with density 0.01. With 40 vectors: none of these
# 460, with half the matrix-vector products (1,460 against 3,060 at N = 1000).
_ARPACK_BASIS = 40
# ARPACK's relative tolerance on the eigenvalues. The radius is promised to
# 1e-8; at 1e-10 the largest error over 760 random sparse matrices (N = 300
# to 1000, density 0.01 and 0.1) was 2e-11, against 3e-14 at machine
# precision (tol=0), for a third fewer products (0.12 against 0.18 s at
# N = 1000, 18 against 28 ms at N = 300).
_ARPACK_TOLERANCE = 1e-10


def spectral_radius(W, *, method="auto"):
    """Largest absolute eigenvalue of a square matrix.

    Parameters
    ----------
    W : ndarray or scipy.sparse matrix of shape (n, n)
    method : {"auto", "exact", "arpack", "subspace"}, default="auto"
        ``"exact"`` computes every eigenvalue with LAPACK
        (``scipy.linalg.eigvals``); ``"arpack"`` the few largest with
        ``scipy.sparse.linalg.eigs`` from a deterministic start vector, to
        a relative tolerance of 1e-10; ``"subspace"`` uses block power (subspace)
        iteration with a Rayleigh-Ritz step, which also resolves a complex
        conjugate pair. ``"auto"`` is exact for dense matrices of at most
        1000 rows (and for sparse ones of at most 200), ARPACK otherwise,
        falling back to subspace iteration when ARPACK does not converge.

    Returns
    -------
    rho : float

    Examples
    --------
    >>> import numpy as np
    >>> from reservoir.initializers import spectral_radius
    >>> round(float(spectral_radius(np.array([[0.0, 2.0], [-2.0, 0.0]]))), 12)
    2.0
    """
    shape = getattr(W, "shape", None)
    if shape is None or len(shape) != 2 or shape[0] != shape[1]:
        raise ValueError(f"W must be a square 2-D matrix, got shape {shape}")
    if method not in ("auto", "exact", "arpack", "subspace"):
        raise ValueError(f"method must be 'auto', 'exact', 'arpack' or 'subspace', got {method!r}")
    n = shape[0]
    if n == 0:
        raise ValueError("W is empty (shape (0, 0)); expected at least one unit")
    sparse = scipy.sparse.issparse(W)
    if method == "auto":
        small = n <= (200 if sparse else _EXACT_EIGVALS_MAX_UNITS)
        method = "exact" if small or n < 3 else "arpack"
    if method == "exact":
        dense = W.toarray() if sparse else np.asarray(W)
        return float(np.max(np.abs(scipy.linalg.eigvals(dense, check_finite=True))))
    if method == "arpack":
        if n < 3:
            raise ValueError("ARPACK needs n >= 3; use method='exact' for tiny matrices")
        v0 = np.random.default_rng(_ARPACK_START_SEED).uniform(-1.0, 1.0, n)
        try:
            vals = scipy.sparse.linalg.eigs(
                W, k=min(6, n - 2), ncv=min(n, _ARPACK_BASIS), which="LM", v0=v0, tol=_ARPACK_TOLERANCE,
                maxiter=max(1000, 20 * n), return_eigenvectors=False,
            )
            return float(np.max(np.abs(vals)))
        except scipy.sparse.linalg.ArpackNoConvergence:
            warn(
                "ARPACK did not converge on the spectral radius; falling back to subspace iteration",
                RuntimeWarning,
            )
    return _subspace_iteration_radius(W)


def _subspace_iteration_radius(W, *, block=8, tol=1e-12, max_iter=20_000):
    """Spectral radius by block power iteration with a Rayleigh-Ritz projection.

    A single power vector cannot settle when the dominant eigenvalue is a
    complex pair (common for random real W); a block of vectors spans the
    pair, and the eigenvalues of the projected matrix Q^T W Q give its
    modulus.
    """
    n = W.shape[0]
    block = min(block, n)
    rng = np.random.default_rng(_ARPACK_START_SEED)
    Q, _ = np.linalg.qr(rng.standard_normal((n, block)))
    previous = np.inf
    for _ in range(max_iter):
        Z = W @ Q
        Q, _ = np.linalg.qr(Z)
        estimate = float(np.max(np.abs(scipy.linalg.eigvals(Q.T @ (W @ Q)))))
        if abs(estimate - previous) <= tol * max(estimate, 1e-300):
            return estimate
        previous = estimate
    warn(
        f"subspace iteration did not reach relative tolerance {tol} in {max_iter} iterations; "
        "the spectral radius is approximate",
        RuntimeWarning,
    )
    return previous


def rescale_spectral_radius(W, target):
    """Return a copy of ``W`` scaled so that its spectral radius equals ``target``.

    Raises ``ValueError`` if ``W`` is nilpotent (spectral radius 0), which no
    scaling can fix: a sparse random matrix with too few connections can be.
    """
    check_interval("spectral_radius", target, low=0, low_inclusive=False)
    rho = spectral_radius(W)
    if not rho > 1e-12:
        raise ValueError(
            "the recurrent matrix has spectral radius 0 (it is nilpotent), so it cannot be "
            "rescaled; increase density or in_degree, or choose another topology"
        )
    return W * (target / rho)


def _draw(rng, distribution, size):
    if distribution == "normal":
        return rng.standard_normal(size)
    if distribution == "uniform":
        return rng.uniform(-1.0, 1.0, size)
    if distribution == "bernoulli":
        return rng.choice(np.array([-1.0, 1.0]), size=size)
    raise ValueError(f"distribution must be one of {DISTRIBUTIONS}, got {distribution!r}")


def _fixed_in_degree(n_rows, n_cols, in_degree, rng, distribution):
    """CSR matrix where each row (unit) has exactly ``in_degree`` incoming connections."""
    cols = np.stack([rng.choice(n_cols, size=in_degree, replace=False) for _ in range(n_rows)])
    cols.sort(axis=1)
    data = _draw(rng, distribution, n_rows * in_degree)
    indptr = np.arange(0, n_rows * in_degree + 1, in_degree)
    return scipy.sparse.csr_array((data, cols.ravel(), indptr), shape=(n_rows, n_cols))


def _random_matrix(n_rows, n_cols, *, density, in_degree, distribution, rng):
    if in_degree is not None:
        return _fixed_in_degree(n_rows, n_cols, in_degree, rng, distribution)
    if density >= 1.0:
        return _draw(rng, distribution, (n_rows, n_cols))
    # One draw for the sparsity pattern, one per stored value: the values do
    # not depend on how the pattern was sampled.
    return scipy.sparse.random_array(
        (n_rows, n_cols), density=density, format="csr", rng=rng,
        data_sampler=lambda size: _draw(rng, distribution, size),
    ).tocsr()


# Mean number of incoming connections per unit when no density is given: a
# small constant fan-in (Lukosevicius 2012, "A practical guide to applying
# echo state networks") keeps small reservoirs connected (a 10-unit matrix at
# density 0.1 is often nilpotent) and large ones sparse and fast.
DEFAULT_MEAN_IN_DEGREE = 10


def recurrent_weights(n_units, *, spectral_radius=0.9, density=None, in_degree=None,
                      distribution="normal", topology="random", random_state=None):
    """Recurrent matrix W of a reservoir, with an exact spectral radius.

    Parameters
    ----------
    n_units : int
        Number of reservoir units N; W has shape (N, N).
    spectral_radius : float, default=0.9
        Largest absolute eigenvalue of the returned W, to 1e-8 relative
        (checked by the tests). For ``topology="delay_line"`` the matrix is
        nilpotent (its spectral radius is 0) and this value is the weight r
        of every connection, which is also the matrix's 2-norm.
    density : float in (0, 1], optional
        Fraction of non-zero entries for ``topology="random"``. At 1 the
        matrix is dense. By default ``min(1, 10 / n_units)``: ten incoming
        connections per unit on average.
    in_degree : int, optional
        Instead of ``density``: every unit receives exactly this many
        connections (a fixed in-degree, as in Jaeger's original reservoirs).
    distribution : {"normal", "uniform", "bernoulli"}, default="normal"
        Law of the non-zero entries before rescaling: standard normal, uniform
        on [-1, 1], or +-1 with equal probability.
    topology : {"random", "ring", "delay_line", "orthogonal"}, default="random"
        ``"ring"`` is the simple cycle reservoir of Rodan & Tino (2011), a
        single cycle with every weight r (spectral radius r);
        ``"delay_line"`` the same chain without the closing connection;
        ``"orthogonal"`` a Haar-random orthogonal matrix times r (every
        eigenvalue has modulus r, the choice that maximises linear memory).
    random_state : int, numpy.random.Generator or None

    Returns
    -------
    W : ndarray or scipy.sparse.csr_array of shape (n_units, n_units)
        Sparse for the sparse topologies (random with density < 1 or an
        in-degree, ring, delay line), dense otherwise.

    Examples
    --------
    >>> from reservoir.initializers import recurrent_weights, spectral_radius
    >>> W = recurrent_weights(200, spectral_radius=0.95, density=0.05, random_state=0)
    >>> round(float(spectral_radius(W)), 10)
    0.95
    """
    check_interval("n_units", n_units, low=1, integer=True)
    check_interval("spectral_radius", spectral_radius, low=0, low_inclusive=False)
    if topology not in TOPOLOGIES:
        raise ValueError(f"topology must be one of {TOPOLOGIES}, got {topology!r}")
    rng = check_generator(random_state)
    if topology in ("ring", "delay_line"):
        rows = np.arange(1, n_units)
        cols = np.arange(0, n_units - 1)
        if topology == "ring":
            rows = np.append(rows, 0)
            cols = np.append(cols, n_units - 1)
        data = np.full(rows.size, float(spectral_radius))
        return scipy.sparse.csr_array((data, (rows, cols)), shape=(n_units, n_units))
    if topology == "orthogonal":
        if n_units == 1:
            return np.array([[float(spectral_radius)]])
        Q = scipy.stats.ortho_group.rvs(n_units, random_state=rng)
        return Q * float(spectral_radius)
    if in_degree is not None:
        check_interval("in_degree", in_degree, low=1, high=n_units, integer=True)
    elif density is None:
        density = min(1.0, DEFAULT_MEAN_IN_DEGREE / n_units)
    else:
        check_interval("density", density, low=0, high=1, low_inclusive=False)
    W = _random_matrix(n_units, n_units, density=density, in_degree=in_degree,
                       distribution=distribution, rng=rng)
    return rescale_spectral_radius(W, spectral_radius)


def _check_scaling(name, scaling, n_features):
    """A scalar or one value per feature, all finite."""
    arr = np.asarray(scaling, dtype=float) if not isinstance(scaling, str) else None
    if arr is None or arr.ndim > 1 or not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be a finite number or a 1-D array of them, got {scaling!r}")
    if arr.ndim == 1 and arr.shape[0] != n_features:
        raise ValueError(
            f"{name} has {arr.shape[0]} values, but there are {n_features} features; "
            "give a scalar or one value per feature"
        )
    return arr


def input_weights(n_units, n_features, *, input_scaling=1.0, density=1.0,
                  distribution="uniform", random_state=None):
    """Input matrix W_in of shape (n_units, n_features).

    Parameters
    ----------
    n_units, n_features : int
    input_scaling : float or array-like of shape (n_features,), default=1.0
        Entries of column j lie in [-s_j, s_j] (uniform) or are +-s_j
        (bernoulli); a per-feature scaling lets unequal inputs drive the
        reservoir equally.
    density : float in (0, 1], default=1.0
        Fraction of non-zero entries; below 1 the matrix is CSR.
    distribution : {"uniform", "bernoulli", "normal"}, default="uniform"
    random_state : int, numpy.random.Generator or None

    Returns
    -------
    W_in : ndarray or scipy.sparse.csr_array of shape (n_units, n_features)
    """
    check_interval("n_units", n_units, low=1, integer=True)
    check_interval("n_features", n_features, low=1, integer=True)
    check_interval("input_density", density, low=0, high=1, low_inclusive=False)
    scale = _check_scaling("input_scaling", input_scaling, n_features)
    rng = check_generator(random_state)
    W_in = _random_matrix(n_units, n_features, density=density, in_degree=None,
                          distribution=distribution, rng=rng)
    if scipy.sparse.issparse(W_in):
        return (W_in @ scipy.sparse.diags(np.broadcast_to(scale, (n_features,)))).tocsr()
    return W_in * scale


def feedback_weights(n_units, n_outputs, *, feedback_scaling=1.0, distribution="uniform",
                     random_state=None):
    """Output-feedback matrix W_fb of shape (n_units, n_outputs), dense.

    Built like :func:`input_weights` (uniform on [-s, s] by default): the
    fed-back output is one more input from the reservoir's point of view.
    """
    check_interval("n_outputs", n_outputs, low=1, integer=True)
    return input_weights(n_units, n_outputs, input_scaling=feedback_scaling, density=1.0,
                         distribution=distribution, random_state=random_state)


def bias_vector(n_units, *, bias_scaling=1.0, distribution="uniform", random_state=None):
    """Bias b of shape (n_units,), uniform on [-bias_scaling, bias_scaling] by default.

    A non-zero bias breaks the odd symmetry of a tanh reservoir, which
    systems symmetric under x -> -x (Lorenz-63) need for long forecasts.
    """
    check_interval("n_units", n_units, low=1, integer=True)
    check_interval("bias_scaling", bias_scaling, low=0)
    rng = check_generator(random_state)
    return _draw(rng, distribution, n_units) * float(bias_scaling)
