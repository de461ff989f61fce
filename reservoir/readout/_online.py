"""Online readouts: weights updated one time step at a time.

A linear readout y(t) = W_out [1; f(t)] (f the readout's feature vector: the
input, the reservoir state, ...) can be learned while the data stream by:

* recursive least squares (RLS) with a forgetting factor lambda, which after
  every step holds the exact minimiser of
  sum_s lambda^(t-s) ||y(s) - W f(s)||^2 + lambda^t alpha ||W||^2:
  with lambda = 1 that is the ridge solution of all steps so far, and with
  lambda < 1 older steps fade, so the readout tracks a mapping that changes;
* the normalised least mean squares rule (LMS), a stochastic-gradient step
  per time step, O(F) instead of RLS's O(F^2);
* FORCE learning (Sussillo & Abbott 2009): RLS run inside the closed loop
  of a reservoir with output feedback, the fed-back output being the
  readout's own. The estimators do that; the readout object only says so.

Each readout is a scikit-learn regressor on rows (``fit``, ``partial_fit``,
``predict``, rows taken in order as time steps), and the parameter
``readout`` of :class:`reservoir.ESNRegressor` (composition, as in
``ESNRegressor(readout=RLSReadout(forgetting_factor=0.999))``), which then
trains it on the reservoir's features step by step. The statistics are kept
in float64 on the namespace and device of the data, whatever its dtype.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.utils.validation import check_is_fitted

from .._backend import device_kwargs, get_namespace, is_numpy
from .._validation import check_interval, validate_X, validate_X_y
from ._ridge import check_linear_readout

__all__ = ["FORCEReadout", "LMSReadout", "OnlineReadout", "RLSReadout"]


class OnlineReadout(RegressorMixin, BaseEstimator):
    """Base of the readouts trained one time step at a time.

    Subclasses implement ``_initial_statistics`` and ``_step``. The learned
    weights live in ``_weights``, an array of shape (n_features + 1,
    n_outputs) whose first row is the intercept (zero without one), and are
    published as ``coef_`` and ``intercept_`` after every call.
    """

    #: Whether an estimator should train this readout inside its closed loop
    #: (the model's own output fed back) rather than on teacher-forced states.
    closed_loop_training = False

    # ------------------------------------------------------------------ the stream

    def _validate_params(self):
        if not isinstance(self.fit_intercept, (bool, np.bool_)):
            raise TypeError(f"fit_intercept must be a bool, got {self.fit_intercept!r}")

    def _check_consistency(self):
        """Raise a ValueError unless parameters and fitted state agree (what load checks).

        The published ``coef_`` and ``intercept_`` as a linear readout's, and
        ``_weights`` (n_features_in_ + 1, n_outputs) in float64, with the
        statistics of the subclass (:meth:`_check_statistics`).
        """
        from .._schema import StateCheck

        self._validate_params()
        check = StateCheck(self)
        if not check.together("_weights", "n_features_in_", "n_samples_seen_", "_y_one_d",
                               *self._statistics):
            return
        if check.together("coef_", "intercept_"):
            check_linear_readout(check)
        else:
            check.sizes["n_features_in_"] = check.integer("n_features_in_", low=0)
            check.integer("n_samples_seen_", low=0)
            check.boolean("_y_one_d")
        check.sizes["n_weights"] = check.sizes["n_features_in_"] + 1
        weights = check.array("_weights", ("n_weights", check.sizes.get("n_outputs")),
                              dtype=np.float64)
        if check.obj._y_one_d and weights.shape[1] != 1:
            check.fail("_weights", "one column (y was 1-D in fit)", weights.shape)
        self._check_statistics(check)

    #: The attributes of the subclass's statistics, set with ``_weights``.
    _statistics = ()

    def _check_statistics(self, check):
        """The subclass's own statistics (none here)."""

    def _begin(self, n_features, n_outputs, like, *, y_one_d=False):
        """Start from no data: zero weights and the prior statistics, on ``like``'s device."""
        self._validate_params()
        xp = get_namespace(like)
        kw = device_kwargs(like, xp)
        self._weights = xp.zeros((n_features + 1, n_outputs), dtype=xp.float64, **kw)
        self._initial_statistics(n_features + 1, xp, kw)
        self._y_one_d = y_one_d
        self.n_features_in_ = int(n_features)
        self.n_samples_seen_ = 0
        return self

    def _augment(self, F):
        """Rows [1, f] (or [0, f] without an intercept) in float64."""
        xp = get_namespace(F)
        F = xp.astype(F, xp.float64)
        ones = xp.full((F.shape[0], 1), 1.0 if self.fit_intercept else 0.0, dtype=xp.float64,
                       **device_kwargs(F, xp))
        return xp.concat([ones, F], axis=1)

    def _learn(self, F, Y):
        """Update on rows F (n, n_features) with targets Y (n, n_outputs), in row order.

        Returns the a-priori outputs (n, n_outputs): each row's output with
        the weights from before that row's update.
        """
        xp = get_namespace(F)
        A = self._augment(F)
        Y = xp.astype(Y, xp.float64)
        out = []
        for i in range(A.shape[0]):
            out.append(self._step(A[i, :], Y[i, :]))
        self.n_samples_seen_ += int(A.shape[0])
        return xp.stack(out, axis=0) if out else xp.zeros(tuple(Y.shape), dtype=xp.float64)

    def _outputs(self, F):
        """Outputs of rows F with the current weights, in float64."""
        return self._augment(F) @ self._weights

    def _publish(self, dtype=None):
        """Set ``coef_`` and ``intercept_`` from the current weights."""
        xp = get_namespace(self._weights)
        W = self._weights if dtype is None else xp.astype(self._weights, dtype)
        coef = W[1:, :].T
        intercept = W[0, :]
        if self._y_one_d:
            self.coef_ = coef[0, :]
            self.intercept_ = float(intercept[0]) if is_numpy(xp) else intercept[0]
        else:
            self.coef_ = coef
            self.intercept_ = intercept
        return self

    # ------------------------------------------------------------------ rows API

    def fit(self, X, y):
        """Learn from rows X of shape (n_samples, n_features), taken in order as time steps,
        and targets y of shape (n_samples,) or (n_samples, n_outputs), from no data."""
        for attr in ("_weights",):
            if hasattr(self, attr):
                delattr(self, attr)
        return self.partial_fit(X, y)

    def partial_fit(self, X, y):
        """Continue learning from more rows, in order; the first call starts from no data."""
        self._validate_params()
        first = not hasattr(self, "_weights")
        X, Y, xp, dtype = validate_X_y(self, X, y, reset=first, multi_output=True)
        one_d = Y.ndim == 1
        if one_d:
            Y = xp.reshape(Y, (-1, 1))
        if first:
            self._begin(X.shape[1], Y.shape[1], X, y_one_d=one_d)
        elif Y.shape[1] != self._weights.shape[1]:
            raise ValueError(f"y has {Y.shape[1]} outputs, but earlier calls had "
                             f"{self._weights.shape[1]}")
        self._learn(X, Y)
        return self._publish(dtype)

    def predict(self, X):
        """Outputs for rows X of shape (n_samples, n_features)."""
        check_is_fitted(self)
        X, xp, _ = validate_X(self, X, reset=False)
        coef = self.coef_
        return X @ (coef if coef.ndim == 1 else coef.T) + self.intercept_

    def __sklearn_is_fitted__(self):
        return hasattr(self, "coef_")

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags


class RLSReadout(OnlineReadout):
    """Recursive least squares readout with a forgetting factor.

    For each time step, with a = [1; f(t)] (the features and a constant),
    target y(t), forgetting factor lambda and P(0) = I / alpha:

        k    = P a / (lambda + a^T P a)
        e    = y(t) - W^T a                (a-priori error)
        W   <- W + k e^T
        P   <- (P - k a^T P) / lambda

    After t steps W minimises sum_s lambda^(t-s) ||y(s) - W^T a(s)||^2 +
    lambda^t alpha ||W||^2 exactly (Haykin, Adaptive Filter Theory, ch. 10):
    with ``forgetting_factor=1`` that is the ridge regression of all steps
    so far with penalty ``alpha``, whatever their number, at O(F^2) per step
    and without storing them. The constant column carries the intercept and
    is penalised like the other features (the batch ridge readout leaves its
    intercept unpenalised; the difference vanishes as steps accumulate).
    With lambda < 1 the effective memory is about 1 / (1 - lambda) steps,
    and the readout follows a target mapping that changes; directions that
    the features stop exciting then see P grow by 1 / lambda per step, so
    keep lambda close to 1 (0.99 to 0.9999) on long streams.

    Parameters
    ----------
    alpha : float, default=1.0
        Prior precision: P(0) = I / alpha, the ridge penalty of the solution.
        Sussillo & Abbott (2009) call 1 / alpha the learning rate of FORCE.
    forgetting_factor : float in (0, 1], default=1.0
        lambda.
    fit_intercept : bool, default=True

    Attributes
    ----------
    coef_ : array of shape (n_features,) or (n_outputs, n_features)
    intercept_ : float or array of shape (n_outputs,)
    n_features_in_ : int
    n_samples_seen_ : int

    Examples
    --------
    With lambda = 1, RLS gives the ridge solution, the constant included:

    >>> import numpy as np
    >>> from reservoir.readout import RLSReadout
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((300, 3))
    >>> y = X @ np.array([1.0, -2.0, 0.5]) + 3.0 + 0.1 * rng.standard_normal(300)
    >>> rls = RLSReadout(alpha=1e-3).fit(X, y)
    >>> A = np.column_stack([np.ones(300), X])
    >>> ridge = np.linalg.solve(A.T @ A + 1e-3 * np.eye(4), A.T @ y)
    >>> bool(np.allclose(rls.coef_, ridge[1:], rtol=1e-9) and np.isclose(rls.intercept_, ridge[0]))
    True
    """

    def __init__(self, alpha=1.0, *, forgetting_factor=1.0, fit_intercept=True):
        self.alpha = alpha
        self.forgetting_factor = forgetting_factor
        self.fit_intercept = fit_intercept

    def _validate_params(self):
        super()._validate_params()
        check_interval("alpha", self.alpha, low=0, low_inclusive=False)
        check_interval("forgetting_factor", self.forgetting_factor, low=0, high=1,
                       low_inclusive=False)

    def _initial_statistics(self, n, xp, kw):
        self._P = xp.eye(n, dtype=xp.float64, **kw) / float(self.alpha)
        self._lambda = float(self.forgetting_factor)

    _statistics = ("_P", "_lambda")

    def _check_statistics(self, check):
        check.array("_P", ("n_weights", "n_weights"), dtype=np.float64)
        check_interval("_lambda", check.instance("_lambda", float), low=0, high=1,
                       low_inclusive=False)

    def _step(self, a, y):
        z = self._P @ a
        denom = self._lambda + a @ z
        out = a @ self._weights
        gain = z / denom
        self._weights = self._weights + gain[:, None] * (y - out)[None, :]
        # z z^T / denom is P a a^T P / denom written so that P stays exactly
        # symmetric in floating point (z_i z_j == z_j z_i).
        self._P = (self._P - (z[:, None] * z[None, :]) / denom) / self._lambda
        return out


class FORCEReadout(RLSReadout):
    """FORCE learning (Sussillo & Abbott 2009): RLS inside the closed loop.

    The readout is :class:`RLSReadout`, but an estimator that owns it trains
    it while the reservoir runs on its own output: at each step the readout
    produces y(t) with its current weights, y(t) is fed back (through the
    feedback weights, ``feedback_scaling`` of :class:`reservoir.ESNRegressor`)
    and drives the next step, and the weights are then updated towards the
    target. From the first steps the RLS update keeps the error small, so
    the network learns in the regime it will run in after training, and a
    chaotic reservoir (spectral radius above 1) is tamed by its own fed-back
    output into producing the target pattern. Default ``alpha=1.0`` as in
    the paper (P(0) = I).

    Used on rows by itself (``fit``, ``partial_fit``), it is plain RLS.

    Parameters
    ----------
    alpha : float, default=1.0
    forgetting_factor : float in (0, 1], default=1.0
    fit_intercept : bool, default=True

    Examples
    --------
    >>> import numpy as np
    >>> from reservoir import ESNRegressor
    >>> from reservoir.readout import FORCEReadout
    >>> t = np.arange(3000)
    >>> y = np.sin(2 * np.pi * t / 60) + 0.5 * np.sin(2 * np.pi * t / 30)
    >>> X = np.zeros((3000, 1))                  # no input: a pattern generator
    >>> esn = ESNRegressor(n_units=200, spectral_radius=1.2, leak_rate=0.3, feedback_scaling=1.0,
    ...                    readout=FORCEReadout(), random_state=0).fit(X, y)
    >>> free = esn.predict(np.zeros((600, 1)), initial_state="continue")   # closed loop
    >>> truth = np.sin(2 * np.pi * (t[-1] + 1 + np.arange(600)) / 60) + 0.5 * np.sin(
    ...     2 * np.pi * (t[-1] + 1 + np.arange(600)) / 30)
    >>> bool(np.sqrt(np.mean((free - truth) ** 2)) / truth.std() < 0.1)
    True
    """

    closed_loop_training = True


class LMSReadout(OnlineReadout):
    """Normalised least mean squares readout.

    For each time step, with a = [1; f(t)] and target y(t):

        e  = y(t) - W^T a
        W <- W + learning_rate * a e^T / (a^T a)

    a stochastic-gradient step on the squared error whose size does not
    depend on the scale of the features; it converges in the mean for
    0 < learning_rate < 2 (Haykin, Adaptive Filter Theory, ch. 6). O(F) per
    step against RLS's O(F^2), but slow where the features are correlated,
    as reservoir states are: RLS is the default choice, LMS the cheap one.

    Parameters
    ----------
    learning_rate : float in (0, 2), default=0.5
    fit_intercept : bool, default=True

    Attributes
    ----------
    coef_ : array of shape (n_features,) or (n_outputs, n_features)
    intercept_ : float or array of shape (n_outputs,)
    n_features_in_ : int
    n_samples_seen_ : int

    Examples
    --------
    >>> import numpy as np
    >>> from reservoir.readout import LMSReadout
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((2000, 2))
    >>> y = X @ np.array([1.0, -1.0]) + 0.5
    >>> lms = LMSReadout(learning_rate=0.5).fit(X, y)
    >>> np.round(lms.coef_, 3), round(float(lms.intercept_), 3)
    (array([ 1., -1.]), 0.5)
    """

    def __init__(self, learning_rate=0.5, *, fit_intercept=True):
        self.learning_rate = learning_rate
        self.fit_intercept = fit_intercept

    def _validate_params(self):
        super()._validate_params()
        check_interval("learning_rate", self.learning_rate, low=0, high=2, low_inclusive=False,
                       high_inclusive=False)

    def _initial_statistics(self, n, xp, kw):
        self._rate = float(self.learning_rate)

    _statistics = ("_rate",)

    def _check_statistics(self, check):
        check_interval("_rate", check.instance("_rate", float), low=0, high=2,
                       low_inclusive=False, high_inclusive=False)

    def _step(self, a, y):
        out = a @ self._weights
        # A zero feature row (no intercept) gives a zero step; the tiny term
        # only avoids 0 / 0, without a device-to-host check of the norm.
        norm = a @ a + float(np.finfo(np.float64).tiny)
        self._weights = self._weights + (self._rate / norm) * a[:, None] * (y - out)[None, :]
        return out
