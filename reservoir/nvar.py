"""Next-generation reservoir computing: a nonlinear vector autoregression (NVAR).

Gauthier, Bollt, Griffith & Barbosa (2021), "Next generation reservoir
computing", Nature Communications 12, 5564. The model reads k delayed copies
of the input, ``stride`` steps apart,

    L(t) = [u(t); u(t - s); ...; u(t - (k - 1) s)]          (linear part, d k values)

and the unique monomials of L(t) of degree 2 .. p (the nonlinear part), and
fits a ridge readout on [1; L(t); monomials]: to the target, or to the
increment y(t) - u(t) (then y(t) = u(t) + W_out [...], an Euler-like step).

The delays are a reservoir: a linear shift register (identity activation,
leak 1, W a block shift, W_in copying u(t) into the first block) whose state
is [u(t); u(t - 1); ...; u(t - (k - 1) s)] exactly, run by
:class:`reservoir.Reservoir` like every other model of the package, so the
state rules (zero start, ``initial_state``, ``"continue"``), the washout and
the closed loop (:meth:`reservoir.Reservoir.generate`) are those of the ESN.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.utils.validation import check_is_fitted

from ._backend import device_kwargs, get_namespace, resolve_dtype, to_namespace
from ._base import SequenceRegressorMixin, pooled_steps
from ._esn_base import training_steps
from ._rows import StepCollector, rows_at, take_rows
from ._validation import check_interval, validate_series
from .readout import GramAccumulator, RidgeReadout
from .runtime import Reservoir

__all__ = ["NVARRegressor", "n_nvar_features"]


def n_nvar_features(n_inputs, n_delays, degree):
    """Width of the NVAR feature vector without the constant: d k linear values and
    the unique monomials of degree 2 .. p of them, C(d k + q - 1, q) of degree q.

    Examples
    --------
    >>> from reservoir.nvar import n_nvar_features
    >>> n_nvar_features(3, 2, 2)          # Lorenz-63 with k = 2: 6 linear + 21 quadratic
    27
    """
    m = n_inputs * n_delays
    return m + sum(math.comb(m + q - 1, q) for q in range(2, degree + 1))


def delay_line(n_inputs, n_delays, stride, *, dtype="float64"):
    """The shift-register reservoir whose state is the inputs of the last (k - 1) s + 1 steps.

    State x(t) = [u(t); u(t - 1); ...; u(t - (k - 1) s)], blocks of
    ``n_inputs``: W moves each block one place down, W_in copies u(t) into
    the first block, the activation is the identity and the leak rate 1, so
    x(t) = W x(t-1) + W_in u(t) holds the past inputs exactly (each entry is
    one input value plus exact zeros). From the zero state the blocks of the
    steps before the first are zeros.

    Returns
    -------
    Reservoir
    """
    n_blocks = (n_delays - 1) * stride + 1
    n = n_blocks * n_inputs
    W = np.zeros((n, n))
    for j in range(n_blocks - 1):
        rows = slice((j + 1) * n_inputs, (j + 2) * n_inputs)
        cols = slice(j * n_inputs, (j + 1) * n_inputs)
        W[rows, cols] = np.eye(n_inputs)
    W_in = np.zeros((n, n_inputs))
    W_in[:n_inputs, :] = np.eye(n_inputs)
    return Reservoir(W, W_in, leak_rate=1.0, activation="identity", dtype=dtype)


class _Features:
    """The NVAR feature vector of delay-line states, on the states' namespace and device.

    Column indices are built once on the host and moved once, not at every
    step of a closed loop.
    """

    def __init__(self, n_inputs, n_delays, stride, degree, like):
        xp = get_namespace(like)
        kw = device_kwargs(like, xp)
        linear = np.concatenate([np.arange(j * stride * n_inputs, (j * stride + 1) * n_inputs)
                                 for j in range(n_delays)])
        self.linear = to_namespace(linear.astype(np.int64), xp, **kw)
        m = linear.size
        self.monomials = []
        for q in range(2, degree + 1):
            index = np.array(list(itertools.combinations_with_replacement(range(m), q)),
                             dtype=np.int64)
            self.monomials.append([to_namespace(np.ascontiguousarray(index[:, j]), xp, **kw)
                                   for j in range(q)])
        self.xp = xp

    def __call__(self, states):
        xp = self.xp
        axis = states.ndim - 1
        L = xp.take(states, self.linear, axis=axis)
        parts = [L]
        for columns in self.monomials:
            product = xp.take(L, columns[0], axis=axis)
            for c in columns[1:]:
                product = product * xp.take(L, c, axis=axis)
            parts.append(product)
        return parts[0] if len(parts) == 1 else xp.concat(parts, axis=axis)


class _NVARReadout:
    """The fitted NVAR readout as a function ``(states, inputs) -> outputs`` for ``generate``."""

    def __init__(self, features, coef, intercept, increment):
        self.features = features
        self.coef_t = coef.T
        self.intercept = intercept
        self.increment = increment

    def __call__(self, states, inputs):
        y = self.features(states) @ self.coef_t + self.intercept
        return y + inputs if self.increment else y


class NVARRegressor(SequenceRegressorMixin, RegressorMixin, BaseEstimator):
    """Next-generation reservoir computer: a nonlinear vector autoregression.

    The feature vector of step t is the constant (an unpenalised intercept),
    the linear part L(t) = [u(t); u(t - s); ...; u(t - (k - 1) s)] (k =
    ``n_delays``, s = ``stride``, d k values) and every unique monomial of
    the entries of L(t) of degree 2 to ``degree`` (for d = 3, k = 2 and
    degree 2: 6 linear and 21 quadratic features). A ridge readout on these
    features predicts y(t), or with ``increment=True`` the increment
    y(t) - u(t), which is then added back (Gauthier et al. 2021 fit
    the increment of one-step-ahead pairs, X[t + 1] = y[t]).

    The delays come from a linear shift-register reservoir
    (:func:`delay_line`, exposed as ``reservoir_``), so every rule of the
    package's sequence estimators holds: runs start from the zero state
    (zero past inputs) unless ``initial_state`` is given, ``"continue"``
    picks up the fitted data's last (k - 1) s + 1 inputs, the first
    ``washout`` steps of a zero-state run (by default the (k - 1) s steps
    whose delays reach before the series' start) neither train nor score,
    and :meth:`forecast` runs closed loop through
    :meth:`reservoir.Reservoir.generate`.

    Zhang & Cornelius (2023, "Catch-22s of reservoir computing", Phys. Rev.
    Research 5, 033213) showed that NVAR's long Lorenz-63 forecasts depend on
    data made by a low-order fixed-step integrator: the one-step map of such
    an integrator is itself a polynomial of the state, which polynomial
    features can represent, whereas the flow's exact map is not. This
    package's datasets are integrated accurately (DOP853 at 1e-12), on which
    a quadratic NVAR keeps a few Lyapunov times; the benchmarks report both
    (``docs/benchmarks.rst``).

    Parameters
    ----------
    n_delays : int, default=2
        k, the number of delayed copies of the input (1: the current input only).
    stride : int, default=1
        s, the steps between delays.
    degree : int, default=2
        Highest degree p of the monomials (1: a linear autoregression).
    alpha : float, default=1e-6
        Ridge penalty of the readout (the intercept is not penalised).
    increment : bool, default=False
        Fit y(t) - u(t) and add u(t) back; needs as many outputs as inputs.
        The choice of Gauthier et al. for forecasting one step ahead.
    fit_intercept : bool, default=True
        Include the constant feature.
    washout : int, optional
        Leading steps of each zero-state run left out of training and
        scoring; None gives (k - 1) s.
    dtype : {"float64", "float32"}, default="float64"

    Attributes
    ----------
    reservoir_ : Reservoir
        The delay line.
    readout_ : RidgeReadout
        ``coef_`` of shape (n_outputs, ``n_features_out_``), ``intercept_``.
    n_features_out_ : int
        Width of the feature vector without the constant.
    final_state_ : array of shape (((k - 1) s + 1) n_features,), or
        (n_series, ...): the delay line at the end of the fitted data.
    n_features_in_ : int
    n_outputs_ : int

    Examples
    --------
    A quadratic NVAR with two delays learns the logistic map's one-step
    map, x(t + 1) = 3.9 x(t) (1 - x(t)), exactly, and forecasts it in
    closed loop:

    >>> import numpy as np
    >>> from reservoir import NVARRegressor
    >>> x = np.empty((300, 1))
    >>> x[0] = 0.3
    >>> for t in range(299):
    ...     x[t + 1] = 3.9 * x[t] * (1 - x[t])
    >>> nvar = NVARRegressor(n_delays=2, degree=2, alpha=1e-10, increment=True)
    >>> nvar = nvar.fit(x[:199], x[1:200])
    >>> nvar.n_features_out_
    5
    >>> bool(np.allclose(nvar.forecast(10), x[200:210], atol=1e-6))
    True
    """

    def __init__(self, n_delays=2, *, stride=1, degree=2, alpha=1e-6, increment=False,
                 fit_intercept=True, washout=None, dtype="float64"):
        self.n_delays = n_delays
        self.stride = stride
        self.degree = degree
        self.alpha = alpha
        self.increment = increment
        self.fit_intercept = fit_intercept
        self.washout = washout
        self.dtype = dtype

    # ------------------------------------------------------------------ parameters

    def _validate_params(self):
        check_interval("n_delays", self.n_delays, low=1, integer=True)
        check_interval("stride", self.stride, low=1, integer=True)
        check_interval("degree", self.degree, low=1, integer=True)
        check_interval("alpha", self.alpha, low=0)
        check_interval("washout", self.washout, low=0, integer=True, allow_none=True)
        for name in ("increment", "fit_intercept"):
            if not isinstance(getattr(self, name), (bool, np.bool_)):
                raise TypeError(f"{name} must be a bool, got {getattr(self, name)!r}")
        resolve_dtype(self.dtype, np)

    def _check_consistency(self):
        """Raise a ValueError unless parameters and fitted state agree (what load checks).

        ``reservoir_`` must be the delay line of the parameters (compared
        once its size, which the file's arrays bound, matches), and the
        readout must read the NVAR features of that many inputs and delays.
        """
        from ._schema import StateCheck

        self._validate_params()
        check = StateCheck(self)
        if not check.together("readout_", "reservoir_", "n_features_in_", "n_features_out_",
                              "n_outputs_", "_y_one_d", "_readout_functions"):
            return
        check.features_in()
        d = check.sizes["n_features_in_"]
        res = check.instance("reservoir_", Reservoir)
        blocks = (self.n_delays - 1) * self.stride + 1
        check.integer("reservoir_.n_units", equal=blocks * d, value=res.n_units)
        line = delay_line(d, self.n_delays, self.stride, dtype=self.dtype)
        for name in ("W", "W_in", "bias", "W_fb", "leak_rate", "activation", "dtype"):
            a, b = getattr(res, name), getattr(line, name)
            if not (a == b if isinstance(b, (str, float, type(None)))
                    else type(a) is type(b) and np.array_equal(a, b)):
                check.fail(f"reservoir_.{name}", f"that of the delay line of n_delays="
                           f"{self.n_delays}, stride={self.stride}", "other values")
        check.sizes["state_size"] = res.n_units
        # Each degree adds at least one monomial: a degree beyond the width
        # is refused before its monomials are counted.
        width = check.integer("n_features_out_", low=1)
        check.integer("degree", high=width)
        features = check.integer("n_features_out_",
                                 equal=n_nvar_features(d, self.n_delays, self.degree))
        readout = check.instance("readout_", RidgeReadout)
        check.integer("readout_.n_features_in_", equal=features, value=readout.n_features_in_)
        outputs = check.sizes["n_outputs"] = check.integer("n_outputs_", low=1)
        check.integer("readout_.coef_ outputs", equal=outputs,
                      value=1 if readout.coef_.ndim == 1 else int(readout.coef_.shape[0]))
        dtype = np.dtype(resolve_dtype(self.dtype, np))
        check.choice("readout_.coef_.dtype", (dtype,), value=readout.coef_.dtype)
        if self.increment:
            check.integer("n_outputs_", equal=d)
        if check.boolean("_y_one_d"):
            check.integer("n_outputs_", equal=1)
        check.empty("_readout_functions")
        self._check_fit_end(check, dtype=dtype)

    def _washout(self):
        """The washout in steps: the parameter, or (k - 1) s when None."""
        if self.washout is None:
            return (self.n_delays - 1) * self.stride
        return self.washout

    def _target_dtype(self, xp):
        return resolve_dtype(self.dtype, xp)

    # ------------------------------------------------------------------ fit

    def fit(self, X, y):
        """Fit the readout on the NVAR features of X.

        Parameters
        ----------
        X : array-like of shape (n_timesteps, n_features), a list of such
            (lengths may differ), or an array of shape (n_series,
            n_timesteps, n_features)
        y : targets aligned with X, of shape (n_timesteps,) or
            (n_timesteps, n_outputs) per series

        Returns
        -------
        self
        """
        self._validate_params()
        washout = self._washout()
        batch, Y, y_one_d = validate_series(self, X, y, reset=True, dtype=self.dtype)
        shortest = min(batch.lengths)
        if shortest <= washout:
            raise ValueError(
                f"X has a series of {shortest} time steps (n_samples = {shortest}), fewer than the "
                f"{washout + 1} needed: the first washout={washout} steps fill the delays "
                f"(n_delays={self.n_delays}, stride={self.stride}) and at least one step trains"
            )
        xp = batch.xp
        dtype = self._target_dtype(xp)
        n_outputs = int(Y.shape[2])
        if self.increment and n_outputs != self.n_features_in_:
            raise ValueError(
                f"increment=True fits y(t) - u(t), so y needs as many outputs as X has features "
                f"({self.n_features_in_}), got {n_outputs}; set increment=False to fit y itself"
            )
        self.reservoir_ = delay_line(self.n_features_in_, self.n_delays, self.stride,
                                     dtype=self.dtype)
        self.n_features_out_ = n_nvar_features(self.n_features_in_, self.n_delays, self.degree)
        features = _Features(self.n_features_in_, self.n_delays, self.stride, self.degree,
                             batch.data)
        accumulator = GramAccumulator(self.n_features_out_, n_outputs, xp,
                                      fit_intercept=bool(self.fit_intercept),
                                      **device_kwargs(batch.data, xp))
        final = StepCollector(np.asarray(batch.lengths) - 1)
        for t0, S in self.reservoir_.iter_states(batch.data):
            c = S.shape[1]
            index = np.flatnonzero(training_steps(t0, c, batch.lengths, washout))
            if index.size:
                target = Y[:, t0:t0 + c, :]
                if self.increment:
                    target = target - batch.data[:, t0:t0 + c, :]
                accumulator.update(take_rows(features(S), index, xp), take_rows(target, index, xp))
            final.update(S, t0, xp)
        self.readout_ = RidgeReadout(alpha=self.alpha, fit_intercept=bool(self.fit_intercept))
        self.readout_.fit_statistics(accumulator, dtype=dtype)
        self.n_outputs_ = n_outputs
        self._y_one_d = y_one_d
        self._readout_functions = {}
        self._record_fit_end(batch, Y, final.result(xp))
        return self

    def readout_function(self, like=None):
        """The fitted readout as a function ``(states, inputs) -> outputs`` of delay-line states.

        Its arrays live on the namespace and device of ``like`` (of the
        fitted data when None); for :meth:`reservoir.Reservoir.generate` on
        ``reservoir_``.
        """
        check_is_fitted(self)
        like = self.readout_.coef_ if like is None else like
        xp = get_namespace(like)
        key = (xp.__name__, repr(device_kwargs(like, xp).get("device")))
        cached = self._readout_functions.get(key)
        if cached is None:
            dtype = self._target_dtype(xp)
            kw = device_kwargs(like, xp)
            coef = to_namespace(np.asarray(_host(self.readout_.coef_)), xp, dtype=dtype, **kw)
            intercept = to_namespace(np.asarray(_host(self.readout_.intercept_)), xp, dtype=dtype,
                                     **kw)
            cached = self._readout_functions[key] = _NVARReadout(
                _Features(self.n_features_in_, self.n_delays, self.stride, self.degree, like),
                coef, intercept, bool(self.increment))
        return cached

    def __getstate__(self):
        state = dict(super().__getstate__())
        if "_readout_functions" in state:
            state["_readout_functions"] = {}
        return state

    # ------------------------------------------------------------------ predict

    def _continue_state(self, initial_state, batch):
        xp = batch.xp
        return self._start_state(initial_state, batch, size=self.reservoir_.n_units, xp=xp,
                                 dtype=self._target_dtype(xp))

    def predict(self, X, *, initial_state=None):
        """One-step-ahead output for every time step of X.

        Parameters
        ----------
        X : array-like of shape (n_timesteps, n_features), list of such, or
            array of shape (n_series, n_timesteps, n_features)
        initial_state : None, "continue", or array of shape
            (((k - 1) s + 1) n_features,) or (n_series, ...)
            The past inputs before X's first step, newest first: zeros when
            None, the end of the fitted data with "continue".

        Returns
        -------
        y : array in X's layout and namespace
        """
        check_is_fitted(self)
        batch, _, _ = validate_series(self, X, None, reset=False, dtype=self.dtype, require_y=False)
        xp = batch.xp
        x0 = self._continue_state(initial_state, batch)
        readout = self.readout_function(batch.data)
        chunks = [readout(S, batch.data[:, t0:t0 + S.shape[1], :])
                  for t0, S in self.reservoir_.iter_states(batch.data, x0)]
        Y = chunks[0] if len(chunks) == 1 else xp.concat(chunks, axis=1)
        return batch.restore(Y, squeeze_output=self._y_one_d)

    def score(self, X, y, sample_weight=None, *, initial_state=None):
        """R^2 pooled over every scored step, as the sequence regressors' ``score``;
        from the zero state the first ``washout`` ((k - 1) s by default) steps are left out."""
        from sklearn.metrics import r2_score

        y_pred = self.predict(X, initial_state=initial_state)
        washout = self._washout() if initial_state is None else 0
        t, p, w = pooled_steps(X, y, y_pred, washout=washout, sample_weight=sample_weight)
        return float(r2_score(t, p, sample_weight=w))

    def _forecast_continued(self, n_steps):
        x = self._final_state
        out, _ = self.reservoir_.generate(n_steps, readout=self.readout_function(x),
                                          initial_state=x, previous_output=self._final_target)
        return out

    def _forecast_after(self, batch, n_steps, initial_state):
        """The delay line over each context but its last row, then the closed loop."""
        xp = batch.xp
        x0 = self._continue_state(initial_state, batch)
        last = np.asarray(batch.lengths) - 1
        x = self.reservoir_.final_states(batch.data, last, x0)
        out, _ = self.reservoir_.generate(n_steps, readout=self.readout_function(x),
                                          initial_state=x, previous_output=rows_at(batch.data, last, xp))
        return out

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags

    def __sklearn_is_fitted__(self):
        return hasattr(self, "readout_")


def _host(a):
    from ._backend import to_numpy

    return a if isinstance(a, (float, int)) else to_numpy(a)
