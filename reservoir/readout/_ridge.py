"""Ridge readout trained from streamed sufficient statistics.

The ridge solution W_out = (X^T X + alpha I)^-1 X^T Y depends on the data only
through sums over time steps, so it can be accumulated chunk by chunk,
sequence by sequence or worker by worker: memory is O(F^2) in the number of
features F, never O(T F). The intercept is left unpenalised by centring;
centred sums are merged with the pairwise update of Chan, Golub & LeVeque
(1979), which stays accurate when the means are large compared with the
spread (raw sums X^T X - n mu mu^T would cancel catastrophically).
"""

from __future__ import annotations

import numpy as np
import scipy.linalg
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.utils.validation import check_is_fitted

from .._backend import (
    SolveFailedError,
    device_kwargs,
    get_namespace,
    is_numpy,
    solve_spd,
    solve_symmetric_lstsq,
    to_numpy,
)
from .._validation import check_interval, validate_X, validate_X_y
from .._warn import warn

__all__ = [
    "READOUT_FEATURES",
    "GramAccumulator",
    "ReadoutFunction",
    "ReadoutPath",
    "RidgeReadout",
    "check_readout_features",
    "n_readout_features",
    "readout_features",
]

READOUT_FEATURES = ("constant", "input", "state", "squared_state")


def check_readout_features(value):
    """``readout_features`` as a tuple, with a clear error for unknown or empty choices."""
    features = (value,) if isinstance(value, str) else tuple(value)
    unknown = [f for f in features if f not in READOUT_FEATURES]
    if unknown or not any(f in features for f in ("input", "state", "squared_state")):
        raise ValueError(
            f"readout_features must be a tuple drawn from {READOUT_FEATURES} with at least one "
            f"of 'input', 'state', 'squared_state'; got {value!r}"
        )
    return features


def check_linear_readout(check):
    """The schema of a fitted linear readout (``coef_``, ``intercept_``, ``n_features_in_``).

    ``check`` is a :class:`reservoir._schema.StateCheck` of the readout; sets
    its sizes ``n_features_in_`` and ``n_outputs``. With ``_y_one_d``,
    ``coef_`` is 1-D and ``intercept_`` a number; otherwise ``coef_`` is
    (n_outputs, n_features_in_) and ``intercept_`` (n_outputs,), both of one
    dtype.
    """
    check.sizes["n_features_in_"] = check.integer("n_features_in_", low=0)
    check.integer("n_samples_seen_", low=0)
    if check.boolean("_y_one_d"):
        coef = check.array("coef_", ("n_features_in_",))
        check.sizes["n_outputs"] = 1
        intercept = check.get("intercept_")
        if not (isinstance(intercept, float) and np.isfinite(intercept)):
            check.array("intercept_", (), dtype=coef.dtype)    # a device scalar
    else:
        coef = check.array("coef_", (None, "n_features_in_"))
        check.sizes["n_outputs"] = int(coef.shape[0])
        check.array("intercept_", ("n_outputs",), dtype=coef.dtype)


def n_readout_features(features, n_inputs, n_units):
    """Width F of the readout's feature vector (the constant is the intercept, not a column)."""
    return (n_inputs * ("input" in features) + n_units * ("state" in features)
            + n_units * ("squared_state" in features))


def readout_features(inputs, states, features):
    """The readout's feature vector [u(t); x(t); x(t)^2], concatenated along the last axis.

    The constant feature is not built here: it is the readout's unpenalised
    intercept.
    """
    xp = get_namespace(states)
    parts = []
    if "input" in features:
        parts.append(inputs)
    if "state" in features:
        parts.append(states)
    if "squared_state" in features:
        parts.append(states * states)
    return parts[0] if len(parts) == 1 else xp.concat(parts, axis=-1)


def _linear_blocks(coef_t, features, n_inputs, n_units):
    """Rows of ``coef_t`` (..., F, k) for the inputs, the states and their squares.

    An absent feature's block has no rows; leading axes (one per readout of a
    ReadoutPath) are kept.
    """
    xp = get_namespace(coef_t)
    blocks, start = [], 0
    for name, width in (("input", n_inputs), ("state", n_units), ("squared_state", n_units)):
        if name in features:
            blocks.append(coef_t[..., start:start + width, :])
            start += width
        else:
            blocks.append(xp.zeros((*coef_t.shape[:-2], 0, coef_t.shape[-1]), dtype=coef_t.dtype,
                                   **device_kwargs(coef_t, xp)))
    return blocks


class ReadoutFunction:
    """A fitted linear readout as a function, y = [u; x; x^2] W_out^T + c.

    Built once on the namespace and device of the data (never per step of a
    closed loop) and called as ``readout(states, inputs)`` on arrays of shape
    (..., n_units) and (..., n_features). This is what
    :meth:`reservoir.Reservoir.generate` takes.

    Parameters
    ----------
    coef : array of shape (n_outputs, F) or (F,)
    intercept : float or array of shape (n_outputs,)
    features : tuple of str
        Drawn from :data:`READOUT_FEATURES`, in the order the columns of
        ``coef`` were fitted.
    like : array, optional
        The coefficients are moved to this array's namespace and device.
    dtype : dtype, optional
    """

    def __init__(self, coef, intercept, features, *, like=None, dtype=None):
        from .._backend import to_namespace, to_numpy

        xp = get_namespace(coef if like is None else like)
        kw = {} if like is None else device_kwargs(like, xp)
        if get_namespace(coef) is not xp:
            coef = to_namespace(np.asarray(to_numpy(coef)), xp, **kw)
        if dtype is not None:
            coef = xp.astype(coef, dtype)
        coef = xp.reshape(coef, (1, -1)) if coef.ndim == 1 else coef
        if isinstance(intercept, (int, float, np.floating)):
            intercept = xp.full((coef.shape[0],), float(intercept), dtype=coef.dtype, **kw)
        elif get_namespace(intercept) is not xp:
            intercept = to_namespace(np.asarray(to_numpy(intercept)), xp, **kw)
        self.coef_t = coef.T
        self.intercept = xp.astype(xp.reshape(intercept, (-1,)), coef.dtype)
        self.features = tuple(features)

    def __call__(self, states, inputs):
        return readout_features(inputs, states, self.features) @ self.coef_t + self.intercept

    def linear_parts(self, n_inputs, n_units):
        """The readout as blocks: (W_u (d, k), W_x (N, k), W_x² (N, k), c (k,)).

        y = u W_u + x W_x + x² W_x² + c, with an absent feature's block
        having no rows: the form a fused closed loop evaluates without
        concatenating features at every step.
        """
        return (*_linear_blocks(self.coef_t, self.features, n_inputs, n_units), self.intercept)


class ReadoutPath:
    """Several fitted readouts of one reservoir, each reading its own block of a batch.

    In a batch of K * n series, series k * n + i is read by readout k. The
    closed loops of K readouts (the penalties of a ridge path) then run as
    one batch through one reservoir loop, instead of K loops of n series.

    Parameters
    ----------
    readouts : sequence of ReadoutFunction
        On one namespace and device, with the same features and outputs.
    """

    def __init__(self, readouts):
        readouts = list(readouts)
        if not readouts or len({r.features for r in readouts}) != 1:
            raise ValueError("ReadoutPath needs at least one readout, all with the same features")
        xp = get_namespace(readouts[0].coef_t)
        self.coef_t = xp.stack([r.coef_t for r in readouts], axis=0)                 # (K, F, k)
        self.intercept = xp.stack([r.intercept for r in readouts], axis=0)[:, None, :]  # (K, 1, k)
        self.features = readouts[0].features

    def linear_parts(self, n_inputs, n_units):
        """As :meth:`ReadoutFunction.linear_parts`, one block per readout.

        Returns (W_u (K, d, k), W_x (K, N, k), W_x² (K, N, k), c (K, k)).
        """
        return (*_linear_blocks(self.coef_t, self.features, n_inputs, n_units),
                self.intercept[:, 0, :])

    def __call__(self, states, inputs):
        xp = get_namespace(states)
        features = readout_features(inputs, states, self.features)
        n_readouts = self.coef_t.shape[0]
        blocks = xp.reshape(features, (n_readouts, -1, features.shape[-1]))
        out = blocks @ self.coef_t + self.intercept
        return xp.reshape(out, (-1, out.shape[-1]))


class GramAccumulator:
    """Running centred second moments of features X and targets Y.

    Statistics are kept in float64 whatever the data's dtype: the normal
    equations square the condition number of X, and float32 sums of many
    time steps lose the digits a small ridge penalty relies on. The solved
    coefficients are cast back to the data's dtype by the caller.

    Parameters
    ----------
    n_features, n_targets : int
    xp : namespace
    device : device of the data, optional
    fit_intercept : bool
        If False, raw (uncentred) moments are accumulated.
    """

    def __init__(self, n_features, n_targets, xp, *, device=None, fit_intercept=True):
        # The namespace is not stored (modules do not pickle); it is read
        # back from the statistics' arrays.
        self.fit_intercept = fit_intercept
        kw = {} if device is None or is_numpy(xp) else {"device": device}
        self.n_samples = 0
        self.mean_x = xp.zeros((n_features,), dtype=xp.float64, **kw)
        self.mean_y = xp.zeros((n_targets,), dtype=xp.float64, **kw)
        self.xx = xp.zeros((n_features, n_features), dtype=xp.float64, **kw)
        self.xy = xp.zeros((n_features, n_targets), dtype=xp.float64, **kw)

    def update(self, X, Y):
        """Add rows X (n, F) with targets Y (n, k)."""
        xp = get_namespace(self.xx)
        n_b = int(X.shape[0])
        if n_b == 0:
            return self
        X = xp.astype(X, xp.float64, copy=False)
        Y = xp.astype(Y, xp.float64, copy=False)
        if not self.fit_intercept:
            self.xx = self.xx + X.T @ X
            self.xy = self.xy + X.T @ Y
            self.n_samples += n_b
            return self
        mx = xp.mean(X, axis=0)
        my = xp.mean(Y, axis=0)
        Xc = X - mx
        # A general product rather than BLAS's symmetric rank-k update: measured
        # on 2 cores, dsyrk was no faster on one thread and 4x slower on two.
        xx_b = Xc.T @ Xc
        xy_b = Xc.T @ (Y - my)
        n_a = self.n_samples
        n = n_a + n_b
        dx = mx - self.mean_x
        dy = my - self.mean_y
        w = n_a * n_b / n
        self.xx = self.xx + xx_b + w * (dx[:, None] * dx[None, :])
        self.xy = self.xy + xy_b + w * (dx[:, None] * dy[None, :])
        self.mean_x = self.mean_x + dx * (n_b / n)
        self.mean_y = self.mean_y + dy * (n_b / n)
        self.n_samples = n
        return self

    def merge(self, other):
        """Add the statistics of ``other``, accumulated over other rows.

        The result is that of one accumulator updated with both sets of rows
        (to rounding): the centred sums combine by the pairwise update of
        Chan, Golub & LeVeque (1979), so that partial statistics from
        separate series, time chunks or workers reduce in any order or tree.
        Arrays are replaced, never written in place, so a shallow copy of an
        accumulator can be merged without changing the original.

        Parameters
        ----------
        other : GramAccumulator
            Of the same number of features and targets and the same
            ``fit_intercept``.

        Returns
        -------
        self
        """
        if (tuple(other.xx.shape) != tuple(self.xx.shape)
                or tuple(other.xy.shape) != tuple(self.xy.shape)
                or bool(other.fit_intercept) != bool(self.fit_intercept)):
            raise ValueError(
                "cannot merge statistics of different shapes or intercept settings: "
                f"({self.xy.shape[0]} features, {self.xy.shape[1]} targets, fit_intercept="
                f"{self.fit_intercept}) and ({other.xy.shape[0]} features, {other.xy.shape[1]} "
                f"targets, fit_intercept={other.fit_intercept})"
            )
        n_a, n_b = self.n_samples, other.n_samples
        if n_b == 0:
            return self
        if n_a == 0:
            # Arrays are never written in place, so sharing other's is safe.
            self.xx, self.xy = other.xx, other.xy
            self.mean_x, self.mean_y = other.mean_x, other.mean_y
            self.n_samples = n_b
            return self
        if not self.fit_intercept:
            self.xx = self.xx + other.xx
            self.xy = self.xy + other.xy
            self.n_samples = n_a + n_b
            return self
        n = n_a + n_b
        dx = other.mean_x - self.mean_x
        dy = other.mean_y - self.mean_y
        w = n_a * n_b / n
        self.xx = self.xx + other.xx + w * (dx[:, None] * dx[None, :])
        self.xy = self.xy + other.xy + w * (dx[:, None] * dy[None, :])
        self.mean_x = self.mean_x + dx * (n_b / n)
        self.mean_y = self.mean_y + dy * (n_b / n)
        self.n_samples = n
        return self

    def solve(self, alpha):
        """Ridge coefficients (F, k) and intercept (k,), in float64.

        Cholesky first. If it fails (the system is not numerically positive
        definite, as with alpha=0 and collinear features, or a penalty below
        rounding level), a minimum-norm least-squares solution through the
        symmetric eigendecomposition, with a ``LinAlgWarning``.
        """
        xp = get_namespace(self.xx)
        if self.n_samples == 0:
            raise ValueError("no samples were accumulated; the readout has nothing to fit")
        n_features = self.xx.shape[0]
        A = self.xx + alpha * xp.eye(n_features, dtype=xp.float64, **device_kwargs(self.xx, xp))
        try:
            # With a positive penalty the system is positive definite and its
            # Cholesky solution is the ridge solution, however ill-conditioned
            # the states; only ordinary least squares (alpha=0) needs the
            # singularity check and the minimum-norm fallback.
            coef = solve_spd(A, self.xy, check_condition=alpha == 0)
        except SolveFailedError as exc:
            warn(
                f"the ridge system (alpha={alpha}) is singular or ill-conditioned ({exc}); "
                "using a least-squares solution instead. A larger alpha gives a stable readout.",
                scipy.linalg.LinAlgWarning,
            )
            coef = solve_symmetric_lstsq(A, self.xy)
        return coef, self._intercept(coef)

    def _intercept(self, coef):
        xp = get_namespace(self.xx)
        if self.fit_intercept:
            return self.mean_y - self.mean_x @ coef
        return xp.zeros((self.xy.shape[1],), dtype=xp.float64, **device_kwargs(self.xy, xp))

    def solve_path(self, alphas):
        """Ridge solutions for several penalties from one eigendecomposition.

        With A = V diag(w) Vᵀ the accumulated Gram matrix (``eigh``, once,
        kept until the statistics change), the solution for a penalty alpha
        is V diag(1 / (w + alpha)) Vᵀ XᵀY: each extra penalty costs two
        products instead of a factorisation. Eigenvalues of w + alpha below
        F eps max|w| are dropped (the minimum-norm solution), so alpha=0
        with collinear features stays finite; for alpha > 0 the result
        equals :meth:`solve` to rounding.

        Parameters
        ----------
        alphas : sequence of float
            Non-negative penalties.

        Returns
        -------
        list of (coef (F, k), intercept (k,)) in float64, one per penalty
        """
        xp = get_namespace(self.xx)
        if self.n_samples == 0:
            raise ValueError("no samples were accumulated; the readout has nothing to fit")
        alphas = [float(check_interval("alpha", a, low=0)) for a in alphas]
        cache = getattr(self, "_eigh", None)
        if cache is None or cache[0] is not self.xx:
            # Arrays are replaced on every update, never written in place, so the
            # identity of xx tells whether the decomposition is still current.
            if is_numpy(xp):
                # The divide-and-conquer driver: 0.095 s against 0.12 s for the
                # default at F = 1004 on 2 cores (measured).
                w, V = scipy.linalg.eigh(self.xx, check_finite=False, driver="evd")
            else:
                w, V = xp.linalg.eigh(self.xx)
            # The extreme eigenvalues, read to the host once per decomposition
            # (one device round trip, not one per penalty): max|w + alpha| is
            # at one end of the spectrum, exactly, rounding being monotone.
            ends = to_numpy(xp.stack([xp.min(w), xp.max(w)]))
            cache = self._eigh = (self.xx, w, V, V.T @ self.xy, float(ends[0]), float(ends[1]))
        _, w, V, projected, lowest, highest = cache
        eps = float(xp.finfo(xp.float64).eps)
        out = []
        for alpha in alphas:
            shifted = w + alpha
            cutoff = w.shape[0] * eps * max(abs(lowest + alpha), abs(highest + alpha))
            keep = shifted > cutoff
            inverse = xp.where(keep, 1.0 / xp.where(keep, shifted, xp.ones_like(shifted)),
                               xp.zeros_like(shifted))
            coef = V @ (inverse[:, None] * projected)
            out.append((coef, self._intercept(coef)))
        return out

    def _check_consistency(self):
        """Raise a ValueError unless the statistics' arrays agree (float64, F and k sizes)."""
        from .._schema import StateCheck

        check = StateCheck(self)
        check.boolean("fit_intercept")
        check.integer("n_samples", low=0)
        check.sizes["F"] = check.array("mean_x", (None,), dtype=np.float64).shape[0]
        check.sizes["k"] = check.array("mean_y", (None,), dtype=np.float64).shape[0]
        check.array("xx", ("F", "F"), dtype=np.float64)
        check.array("xy", ("F", "k"), dtype=np.float64)
        if "_eigh" in self.__dict__:
            check.fail("_eigh", "absent (a cache the file never holds)", "a value")

    def __getstate__(self):
        # The eigendecomposition is a cache of the statistics, rebuilt on demand.
        state = dict(self.__dict__)
        state.pop("_eigh", None)
        return state


class RidgeReadout(RegressorMixin, BaseEstimator):
    """Linear least squares with L2 penalty, trained by streaming accumulation.

    Minimises ``||Y - X W - c||^2 + alpha ||W||^2`` with an unpenalised
    intercept c. ``fit`` solves on one batch of rows; ``partial_fit`` adds
    rows to the accumulated statistics and re-solves, so a readout can be
    trained on data that never fits in memory at once. Works on the array
    namespace of its input (NumPy, CuPy, any Array-API library) without
    leaving its device.

    Parameters
    ----------
    alpha : float, default=1e-6
        Ridge penalty (non-negative). 0 gives ordinary least squares, with a
        fallback to a minimum-norm solution if the system is singular.
    fit_intercept : bool, default=True
        Fit an unpenalised constant term.

    Attributes
    ----------
    coef_ : array of shape (n_features,) or (n_targets, n_features)
        Readout weights, in the input's dtype and namespace.
    intercept_ : float or array of shape (n_targets,)
    n_features_in_ : int
    n_samples_seen_ : int
        Rows accumulated so far.

    Examples
    --------
    >>> import numpy as np
    >>> from reservoir import RidgeReadout
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((200, 3))
    >>> y = X @ np.array([1.0, -2.0, 0.5]) + 3.0
    >>> readout = RidgeReadout(alpha=1e-8).fit(X[:100], y[:100]).partial_fit(X[100:], y[100:])
    >>> np.round(readout.coef_, 6), round(float(readout.intercept_), 6)
    (array([ 1. , -2. ,  0.5]), 3.0)
    """

    def __init__(self, alpha=1e-6, *, fit_intercept=True):
        self.alpha = alpha
        self.fit_intercept = fit_intercept

    def fit(self, X, y):
        """Fit on rows X of shape (n_samples, n_features) and y of shape (n_samples,)
        or (n_samples, n_targets), discarding earlier statistics."""
        for attr in ("_accumulator",):
            if hasattr(self, attr):
                delattr(self, attr)
        return self._accumulate(X, y, reset=True)

    def partial_fit(self, X, y):
        """Add rows to the statistics and re-solve; the first call acts as ``fit``."""
        return self._accumulate(X, y, reset=not hasattr(self, "_accumulator"))

    def _validate_params(self):
        check_interval("alpha", self.alpha, low=0)
        if not isinstance(self.fit_intercept, (bool, np.bool_)):
            raise TypeError(f"fit_intercept must be a bool, got {self.fit_intercept!r}")

    def _check_consistency(self):
        """Raise a ValueError unless parameters and fitted state agree (what load checks)."""
        from .._schema import StateCheck

        self._validate_params()
        check = StateCheck(self)
        if not check.together("coef_", "intercept_", "n_features_in_", "n_samples_seen_",
                              "_y_one_d"):
            return
        check_linear_readout(check)
        if hasattr(self, "_accumulator"):
            acc = check.instance("_accumulator", GramAccumulator)
            check.array("_accumulator.xy", ("n_features_in_", "n_outputs"), dtype=np.float64,
                        value=acc.xy)

    def _accumulate(self, X, y, *, reset):
        self._validate_params()
        X, Y, xp, dtype = validate_X_y(self, X, y, reset=reset, multi_output=True)
        one_d = Y.ndim == 1
        if one_d:
            Y = xp.reshape(Y, (-1, 1))
        if reset:
            self._y_one_d = one_d
            self._accumulator = GramAccumulator(
                X.shape[1], Y.shape[1], xp, **device_kwargs(X, xp),
                fit_intercept=bool(self.fit_intercept),
            )
        elif Y.shape[1] != self._accumulator.xy.shape[1]:
            raise ValueError(
                f"y has {Y.shape[1]} targets, but earlier calls had {self._accumulator.xy.shape[1]}"
            )
        self._accumulator.update(X, Y)
        return self.fit_statistics(self._accumulator, dtype=dtype, y_one_d=self._y_one_d)

    def fit_statistics(self, accumulator, *, dtype=None, y_one_d=False):
        """Solve accumulated statistics and set ``coef_`` and ``intercept_``.

        The entry point of estimators that stream their own features into a
        :class:`GramAccumulator`; later ``partial_fit`` calls add rows to it.

        Parameters
        ----------
        accumulator : GramAccumulator
        dtype : dtype, optional
            Of the coefficients (float64, the statistics' own, when None).
        y_one_d : bool, default=False
            Targets had no output axis: ``coef_`` is then 1-D and
            ``intercept_`` a scalar.

        Returns
        -------
        self
        """
        check_interval("alpha", self.alpha, low=0)
        return self._store(accumulator, *accumulator.solve(float(self.alpha)), dtype=dtype,
                           y_one_d=y_one_d)

    def ridge_path(self, alphas):
        """Copies of this fitted readout re-solved for each penalty in ``alphas``.

        One eigendecomposition of the kept statistics serves every penalty
        (:meth:`GramAccumulator.solve_path`), so a search over the ridge
        penalty costs no new pass over the data. The copies share the
        statistics (never modified in place) and the dtype of ``coef_``.

        Parameters
        ----------
        alphas : sequence of float

        Returns
        -------
        list of RidgeReadout
        """
        check_is_fitted(self)
        accumulator = self._accumulator
        readouts = []
        for alpha, (coef, intercept) in zip(alphas, accumulator.solve_path(alphas), strict=True):
            readout = type(self)(alpha=alpha, fit_intercept=self.fit_intercept)
            readouts.append(readout._store(accumulator, coef, intercept, dtype=self.coef_.dtype,
                                           y_one_d=self._y_one_d))
        return readouts

    def _store(self, accumulator, coef, intercept, *, dtype, y_one_d):
        """Set ``coef_`` and ``intercept_`` from a float64 solution, in ``dtype``."""
        xp = get_namespace(accumulator.xx)
        if dtype is None:
            dtype = xp.float64
        coef = xp.astype(coef.T, dtype)
        intercept = xp.astype(intercept, dtype)
        self._accumulator = accumulator
        self._y_one_d = y_one_d
        if y_one_d:
            self.coef_ = coef[0, :]
            self.intercept_ = float(intercept[0]) if is_numpy(xp) else intercept[0]
        else:
            self.coef_ = coef
            self.intercept_ = intercept
        self.n_features_in_ = int(accumulator.xx.shape[0])
        self.n_samples_seen_ = accumulator.n_samples
        return self

    def predict(self, X):
        """Readout output for rows X of shape (n_samples, n_features)."""
        check_is_fitted(self)
        X, xp, _ = validate_X(self, X, reset=False)
        coef = self.coef_
        return X @ (coef if coef.ndim == 1 else coef.T) + self.intercept_

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags
