"""Gradient-trained recurrent regressors with the interface of ``ESNRegressor``.

:class:`ElmanRegressor`, :class:`LSTMRegressor` and :class:`GRURegressor`
share one base class; they differ only in the cell. Data layout, washout,
teacher-forced ``predict``, closed-loop ``forecast``, ``initial_state`` and
``random_state`` mean what they mean for the echo state networks, so the two
families can be compared on the same task with the same code. Unlike a
reservoir, every weight is trained, by backpropagation through time (see
:mod:`reservoir.rnn._training`).
"""

from __future__ import annotations

import numbers

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.utils.validation import check_is_fitted

from .._backend import device_kwargs, get_namespace, resolve_dtype, to_namespace, to_numpy
from .._base import SequenceRegressorMixin
from .._validation import check_generator, check_interval, validate_series
from ._cells import (
    NetworkSpec,
    backward,
    forward,
    initialize_parameters,
    parameters_to_namespace,
    state_from_array,
    state_to_array,
)
from ._optimizers import LEARNING_RATE_SCHEDULES, SOLVERS
from ._training import TrainingConfig, train

__all__ = ["ElmanRegressor", "GRURegressor", "LSTMRegressor"]


_PARAMS_DOC = """
    n_units : int, default=32
        Hidden units per recurrent layer.
    n_layers : int, default=1
        Stacked recurrent layers; each reads the hidden states of the one below.
    washout : int, default=0
        Steps at the start of every training window (and of every series) that
        are run through the network but left out of the loss, while the state
        forgets its zero start. Every training series must be longer than this.
    sequence_length : int or None, default=100
        Length of the training windows: longer series are cut into windows of
        this many steps (a new random offset each epoch, consecutive windows
        overlapping by ``washout``), each started from the zero state. None
        trains on whole series.
    batch_size : int, default=32
        Windows per mini-batch.
    bptt_steps : int or None, default=None
        Truncated backpropagation through time: a window is processed in
        chunks of this many steps, the state carried across chunks, the
        gradient stopped at their boundaries, and the weights updated after
        each chunk. None backpropagates through the whole window (full BPTT).
    solver : {"adam", "sgd"}, default="adam"
        Adam (Kingma & Ba 2015) or stochastic gradient descent with momentum.
    learning_rate_init : float, default=1e-3
        Step size at the first epoch.
    learning_rate : {"constant", "invscaling", "cosine"}, default="constant"
        Learning-rate schedule over epochs: constant; lr0 / (epoch + 1)^power_t;
        or cosine annealing to zero at ``max_iter``.
    power_t : float, default=0.5
        Exponent of the "invscaling" schedule.
    momentum : float in [0, 1), default=0.9
        Momentum of ``solver="sgd"``.
    beta_1, beta_2 : float in [0, 1), default=0.9, 0.999
        Decay rates of Adam's first and second moment estimates.
    epsilon : float, default=1e-8
        Adam's numerical-stability constant.
    clip_norm : float or None, default=1.0
        Gradients whose global L2 norm exceeds this are rescaled to it
        (Pascanu et al. 2013), the usual guard against exploding gradients.
        None disables clipping.
    max_iter : int, default=200
        Maximum number of epochs (passes over all training windows).
    tol : float, default=1e-4
        Improvement of the training loss (or validation score) below which an
        epoch counts as no improvement.
    n_iter_no_change : int, default=10
        Training stops after this many consecutive epochs without improvement.
    early_stopping : bool, default=False
        Hold out the last ``validation_fraction`` of every series (a split in
        time), stop when the validation R^2 stops improving, and keep the
        weights of the best epoch.
    validation_fraction : float in (0, 1), default=0.1
        Fraction of each series' steps held out with ``early_stopping``.
    random_state : int, numpy.random.Generator or None, default=None
        Seeds the initial weights (drawn on the host with NumPy, so NumPy and
        CuPy fits start from the same weights), the window offsets and the
        shuffling.
    dtype : {"float64", "float32"}, default="float64"
        Precision of the weights, the training and the outputs.
    verbose : bool, default=False
        Show a progress bar over epochs (tqdm) with the current loss.
"""

_ATTRIBUTES_DOC = """
    params_ : dict of str to ndarray
        Learned weights (host NumPy arrays of ``dtype``; n_gates is 1 for
        Elman, 4 for the LSTM, 3 for the GRU): for each layer l,
        ``W_xh_l`` (n_gates * n_units, n_inputs), ``W_hh_l``
        (n_gates * n_units, n_units), ``b_h_l`` (n_gates * n_units,){extra}
        and the readout ``W_hy`` (``n_outputs_``, n_units), ``b_y`` (``n_outputs_``,).
    loss_curve_ : list of float
        Training loss (half the mean squared error) after each epoch.
    n_iter_ : int
        Epochs run.
    best_loss_ : float or None
        Lowest training loss; None with ``early_stopping``.
    validation_scores_ : list of float or None
        Validation R^2 after each epoch, with ``early_stopping``.
    best_validation_score_ : float or None
        Best validation R^2, with ``early_stopping``.
    final_state_ : array of shape (state_size,), or (n_series, state_size)
        State after the last fitted step, layer by layer: h{state_extra}.
    n_features_in_ : int
    n_outputs_ : int
    feature_names_in_ : ndarray of str, only when X had string column names
"""


class _BaseRecurrentRegressor(SequenceRegressorMixin, RegressorMixin, BaseEstimator):
    """Parameters, fit, predict and forecast shared by the three cells."""

    _cell = None

    def __init__(self, n_units=32, *, n_layers=1, washout=0, sequence_length=100, batch_size=32,
                 bptt_steps=None, solver="adam", learning_rate_init=1e-3,
                 learning_rate="constant", power_t=0.5, momentum=0.9, beta_1=0.9, beta_2=0.999,
                 epsilon=1e-8, clip_norm=1.0, max_iter=200, tol=1e-4, n_iter_no_change=10,
                 early_stopping=False, validation_fraction=0.1, random_state=None,
                 dtype="float64", verbose=False):
        self.n_units = n_units
        self.n_layers = n_layers
        self.washout = washout
        self.sequence_length = sequence_length
        self.batch_size = batch_size
        self.bptt_steps = bptt_steps
        self.solver = solver
        self.learning_rate_init = learning_rate_init
        self.learning_rate = learning_rate
        self.power_t = power_t
        self.momentum = momentum
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.clip_norm = clip_norm
        self.max_iter = max_iter
        self.tol = tol
        self.n_iter_no_change = n_iter_no_change
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.random_state = random_state
        self.dtype = dtype
        self.verbose = verbose

    # ------------------------------------------------------------------ parameters

    def _validate_params(self):
        check_interval("n_units", self.n_units, low=1, integer=True)
        check_interval("n_layers", self.n_layers, low=1, integer=True)
        check_interval("washout", self.washout, low=0, integer=True)
        check_interval("sequence_length", self.sequence_length, low=1, integer=True,
                       allow_none=True)
        if self.sequence_length is not None and self.sequence_length <= self.washout:
            raise ValueError(
                f"sequence_length must exceed washout={self.washout}, so that every training "
                f"window has steps to learn from; got {self.sequence_length}"
            )
        check_interval("batch_size", self.batch_size, low=1, integer=True)
        check_interval("bptt_steps", self.bptt_steps, low=1, integer=True, allow_none=True)
        if self.solver not in SOLVERS:
            raise ValueError(f"solver must be one of {SOLVERS}, got {self.solver!r}")
        if self.learning_rate not in LEARNING_RATE_SCHEDULES:
            raise ValueError(
                f"learning_rate must be one of {LEARNING_RATE_SCHEDULES}, "
                f"got {self.learning_rate!r}"
            )
        check_interval("learning_rate_init", self.learning_rate_init, low=0, low_inclusive=False)
        check_interval("power_t", self.power_t, low=0)
        check_interval("momentum", self.momentum, low=0, high=1, high_inclusive=False)
        check_interval("beta_1", self.beta_1, low=0, high=1, high_inclusive=False)
        check_interval("beta_2", self.beta_2, low=0, high=1, high_inclusive=False)
        check_interval("epsilon", self.epsilon, low=0, low_inclusive=False)
        check_interval("clip_norm", self.clip_norm, low=0, low_inclusive=False, allow_none=True)
        check_interval("max_iter", self.max_iter, low=1, integer=True)
        check_interval("tol", self.tol, low=0)
        check_interval("n_iter_no_change", self.n_iter_no_change, low=1, integer=True)
        check_interval("validation_fraction", self.validation_fraction, low=0, high=1,
                       low_inclusive=False, high_inclusive=False)
        for name in ("early_stopping", "verbose"):
            value = getattr(self, name)
            if not isinstance(value, (bool, np.bool_, numbers.Integral)):
                raise TypeError(
                    f"{name} must be a bool, got {value!r} of type {type(value).__name__}"
                )
        resolve_dtype(self.dtype, np)

    def _training_config(self):
        return TrainingConfig(
            washout=self.washout, sequence_length=self.sequence_length, batch_size=self.batch_size,
            bptt_steps=self.bptt_steps, solver=self.solver, learning_rate=self.learning_rate,
            learning_rate_init=float(self.learning_rate_init), power_t=float(self.power_t),
            momentum=float(self.momentum), beta_1=float(self.beta_1), beta_2=float(self.beta_2),
            epsilon=float(self.epsilon),
            clip_norm=None if self.clip_norm is None else float(self.clip_norm),
            max_iter=self.max_iter, tol=float(self.tol), n_iter_no_change=self.n_iter_no_change,
            early_stopping=bool(self.early_stopping),
            validation_fraction=float(self.validation_fraction), verbose=bool(self.verbose),
            name=type(self).__name__,
        )

    def _spec(self, n_features, n_outputs):
        return NetworkSpec(self._cell, int(n_features), int(self.n_units), int(n_outputs),
                           int(self.n_layers))

    def _initial_network(self, n_features, n_outputs, rng):
        """The untrained network that ``fit`` starts from (host weights)."""
        spec = self._spec(n_features, n_outputs)
        return spec, initialize_parameters(spec, rng)

    # ------------------------------------------------------------------ fit

    def fit(self, X, y):
        """Train the network by backpropagation through time to map X to y.

        Parameters
        ----------
        X : array-like of shape (n_timesteps, n_features), a list of such
            (lengths may differ), or an array of shape
            (n_series, n_timesteps, n_features)
        y : array-like of shape (n_timesteps,) or (n_timesteps, n_outputs),
            or the same per series, aligned step by step with X

        Returns
        -------
        self

        Raises
        ------
        FloatingPointError
            If training diverges (a non-finite loss or gradient); the
            estimator is then left unfitted.
        """
        self._validate_params()
        batch, Y, y_one_d = validate_series(self, X, y, reset=True, dtype=self.dtype,
                                            min_length=self.washout + 1)
        xp = batch.xp
        dtype = resolve_dtype(self.dtype, xp)
        device = device_kwargs(batch.data, xp).get("device")
        rng = check_generator(self.random_state)
        spec, host_params = self._initial_network(self.n_features_in_, Y.shape[2], rng)
        params = parameters_to_namespace(host_params, xp, dtype=dtype, device=device)
        result = train(spec, params, batch.data, Y, batch.lengths, self._training_config(), rng)

        self._network = (spec, result.params)
        self.params_ = {name: to_numpy(value) for name, value in result.params.items()}
        self.loss_curve_ = result.loss_curve
        self.n_iter_ = result.n_iter
        self.best_loss_ = None if self.early_stopping else result.best_loss
        self.validation_scores_ = result.validation_scores
        self.best_validation_score_ = result.best_validation_score
        self.n_outputs_ = int(Y.shape[2])
        self._y_one_d = y_one_d
        # The state after each series and its last target: where forecast() continues.
        _, final, _ = forward(spec, result.params, batch.data, lengths=batch.lengths,
                              keep_cache=False)
        self._record_fit_end(batch, Y, state_to_array(spec, final))
        return self

    # ------------------------------------------------------------------ inference

    def _prepared(self, xp, like):
        """(spec, params) on namespace ``xp``; the copies made in fit are reused when they match."""
        spec, params = self._network
        dtype = resolve_dtype(self.dtype, xp)
        first = params["b_y"]
        if get_namespace(first) is xp and first.dtype == dtype:
            return spec, params
        device = device_kwargs(like, xp).get("device")
        return spec, parameters_to_namespace(self.params_, xp, dtype=dtype, device=device)

    def _initial_state(self, initial_state, batch, spec):
        """Resolve ``initial_state`` to a layered state for the series of ``batch``."""
        xp = batch.xp
        x0 = self._start_state(initial_state, batch, size=spec.state_size, xp=xp,
                               dtype=resolve_dtype(self.dtype, xp))
        return state_from_array(spec, x0)

    def predict(self, X, *, initial_state=None):
        """Network output for every time step of X (teacher-forced, one step ahead).

        Parameters
        ----------
        X : array-like of shape (n_timesteps, n_features), list of such, or
            array of shape (n_series, n_timesteps, n_features)
        initial_state : None, "continue", or array of shape (state_size,) or
            (n_series, state_size)
            State before the first step: zeros when None; "continue" starts
            from the end of the fitted data.

        Returns
        -------
        y : array of shape (n_timesteps,) or (n_timesteps, n_outputs), in X's
            layout and namespace
        """
        check_is_fitted(self)
        batch, _, _ = validate_series(self, X, None, reset=False, dtype=self.dtype, require_y=False)
        xp = batch.xp
        spec, params = self._prepared(xp, batch.data)
        state = self._initial_state(initial_state, batch, spec)
        Y, _, _ = forward(spec, params, batch.data, state, keep_cache=False)
        return batch.restore(Y, squeeze_output=self._y_one_d)

    def _run_closed_loop(self, spec, params, y, state, n_steps):
        """Outputs (n_series, n_steps, k), the first one ``y``, each fed back as the next input."""
        xp = get_namespace(y)
        steps = [y]
        for _ in range(n_steps - 1):
            y, state, _ = forward(spec, params, xp.expand_dims(y, axis=1), state, keep_cache=False)
            y = y[:, 0, :]
            steps.append(y)
        return xp.stack(steps, axis=1)

    def _forecast_continued(self, n_steps):
        # The last fitted target is fed in from the final state, so the first
        # value predicts the step after it.
        xp = get_namespace(self._final_state)
        spec, params = self._prepared(xp, self._final_state)
        state = state_from_array(spec, self._final_state)
        y, state, _ = forward(spec, params, xp.expand_dims(self._final_target, axis=1), state,
                              keep_cache=False)
        return self._run_closed_loop(spec, params, y[:, 0, :], state, n_steps)

    def _forecast_after(self, batch, n_steps, initial_state):
        # The output at the context's last row is the prediction of the next step.
        xp = batch.xp
        spec, params = self._prepared(xp, batch.data)
        state0 = self._initial_state(initial_state, batch, spec)
        Y, state, _ = forward(spec, params, batch.data, state0, lengths=batch.lengths,
                              keep_cache=False)
        y = xp.stack([Y[i, n - 1, :] for i, n in enumerate(batch.lengths)], axis=0)
        return self._run_closed_loop(spec, params, y, state, n_steps)

    # ------------------------------------------------------------------ diagnostics

    def state_gradient_norms(self, X, y, *, layer=-1):
        """Norms of dL_T/dh(t) for the loss at each series' last step T.

        L_T = ||y_hat(T) - y(T)||^2 / 2; the gradient reaching the hidden
        state of ``layer`` at every earlier step t counts every path, through
        time and through the layers above. An unfitted model is measured at
        the initial weights that ``fit`` would start from with its
        ``random_state``, and is left unchanged. See
        :func:`reservoir.diagnostics.gradient_norm_by_lag`.

        Parameters
        ----------
        X, y : series and step-aligned targets, in any accepted layout
        layer : int, default=-1

        Returns
        -------
        norms : ndarray of shape (n_series, max_length)
            Row i holds ||dL_T/dh(t)|| of series i for t < its length.
        lengths : list of int
        """
        from sklearn.base import clone

        fitted = hasattr(self, "params_")
        # Validation sets n_features_in_ on a fresh estimator: do it on a copy.
        holder = self if fitted else clone(self)
        if not fitted:
            holder._validate_params()
        batch, Y, _ = validate_series(holder, X, y, reset=not fitted, dtype=self.dtype)
        xp = batch.xp
        device = device_kwargs(batch.data, xp).get("device")
        if fitted:
            if Y.shape[2] != self.n_outputs_:
                raise ValueError(f"y has {Y.shape[2]} outputs, but the model has {self.n_outputs_}")
            spec, params = self._prepared(xp, batch.data)
        else:
            spec, host = holder._initial_network(holder.n_features_in_, Y.shape[2],
                                                 check_generator(self.random_state))
            params = parameters_to_namespace(host, xp, dtype=batch.data.dtype, device=device)
        check_interval("layer", layer, low=-spec.n_layers, high=spec.n_layers - 1, integer=True)
        Y_hat, _, cache = forward(spec, params, batch.data)
        last = np.zeros(Y_hat.shape[:2])
        for b, n in enumerate(batch.lengths):
            last[b, n - 1] = 1.0
        last = to_namespace(last, xp, dtype=Y_hat.dtype, device=device)
        # Summing the per-series losses keeps each series' gradient in its own row.
        _, _, dh = backward(spec, params, cache, (Y_hat - Y) * last[:, :, None], record_layer=layer)
        D = xp.stack(dh, axis=1)
        return np.asarray(to_numpy(xp.sqrt(xp.sum(D * D, axis=2)))), list(batch.lengths)

    # ------------------------------------------------------------------ scikit-learn protocol

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags

    def __sklearn_is_fitted__(self):
        return hasattr(self, "params_")

    def __getstate__(self):
        # Device copies hold arrays of possibly unpicklable namespaces; they
        # are rebuilt from the host weights on unpickling.
        # A copy: since Python 3.11 object.__getstate__ returns the live __dict__.
        state = dict(super().__getstate__())
        for key in ("_network", "_final_state", "_final_target"):
            if key in state:
                state[key] = None if key == "_network" else np.asarray(to_numpy(state[key]))
        return state

    def __setstate__(self, state):
        super().__setstate__(state)
        if "params_" in state:
            xp = get_namespace(self._final_state)
            spec = self._spec(self.n_features_in_, self.n_outputs_)
            dtype = resolve_dtype(self.dtype, xp)
            self._network = (spec, parameters_to_namespace(self.params_, xp, dtype=dtype))


def _class_doc(summary, equations, extra_params, state_extra, example):
    return f"""{summary}

    {equations}

    Every weight is trained by backpropagation through time, with
    mini-batches of subsequences, Adam (or SGD with momentum), gradient-norm
    clipping and optional truncation; the interface is that of
    :class:`reservoir.ESNRegressor`: the same data layouts and washout,
    ``predict`` one step ahead (teacher forced) and ``forecast`` in closed
    loop. Recurrent weights start orthogonal, input and readout weights
    Glorot-uniform.

    Parameters
    ----------{_PARAMS_DOC}
    Attributes
    ----------{_ATTRIBUTES_DOC.format(extra=extra_params, state_extra=state_extra)}
    See Also
    --------
    reservoir.ESNRegressor : the reservoir counterpart, which trains only the readout.
    reservoir.diagnostics.gradient_norm_by_lag : how fast the gradient vanishes with the lag.

    Examples
    --------{example}
    """


class ElmanRegressor(_BaseRecurrentRegressor):
    __doc__ = _class_doc(
        "Elman recurrent network (simple RNN) trained by backpropagation through time.",
        "h(t) = tanh(W_hh h(t-1) + W_xh x(t) + b_h),   y(t) = W_hy h(t) + b_y.",
        "", " (state_size = n_units * n_layers)",
        """
    >>> import numpy as np
    >>> from reservoir.rnn import ElmanRegressor
    >>> t = np.arange(400) * 0.1
    >>> X, y = np.sin(t)[:-1, None], np.sin(t)[1:]
    >>> model = ElmanRegressor(n_units=8, sequence_length=40, learning_rate_init=0.01,
    ...                        random_state=0).fit(X, y)
    >>> model.predict(X).shape
    (399,)
    >>> bool(model.score(X, y) > 0.95)
    True""",
    )
    _cell = "elman"


class LSTMRegressor(_BaseRecurrentRegressor):
    __doc__ = _class_doc(
        "Long short-term memory network trained by backpropagation through time.",
        """i, f, o = sigmoid(.), g = tanh(.) of W_xh x(t) + W_hh h(t-1) + b_h (one block per gate),
    c(t) = f c(t-1) + i g,   h(t) = o tanh(c(t)),   y(t) = W_hy h(t) + b_y.

    The gates are stacked in the order i, f, g, o; the forget-gate bias starts
    at 1 so that the cell remembers from the first epoch (Gers et al. 2000).""",
        "", " then c (state_size = 2 * n_units * n_layers)",
        """
    >>> import numpy as np
    >>> from reservoir.rnn import LSTMRegressor
    >>> t = np.arange(400) * 0.1
    >>> X, y = np.sin(t)[:-1, None], np.sin(t)[1:]
    >>> model = LSTMRegressor(n_units=8, sequence_length=40, learning_rate_init=0.01,
    ...                       random_state=0).fit(X, y)
    >>> model.forecast(5).shape
    (5,)""",
    )
    _cell = "lstm"


class GRURegressor(_BaseRecurrentRegressor):
    __doc__ = _class_doc(
        "Gated recurrent unit network trained by backpropagation through time.",
        """r = sigmoid(x_r + h_r),  u = sigmoid(x_u + h_u),  n = tanh(x_n + r (h_n + b_hn)),
    h(t) = (1 - u) n + u h(t-1),   y(t) = W_hy h(t) + b_y,

    where x_* and h_* are the gate blocks of W_xh x(t) + b_h and W_hh h(t-1)
    (the reset gate applied after the recurrent product, as in cuDNN).""",
        ", ``b_hn_l`` (n_units,)", " (state_size = n_units * n_layers)",
        """
    >>> import numpy as np
    >>> from reservoir.rnn import GRURegressor
    >>> t = np.arange(400) * 0.1
    >>> X, y = np.sin(t)[:-1, None], np.sin(t)[1:]
    >>> model = GRURegressor(n_units=8, sequence_length=40, learning_rate_init=0.01,
    ...                      random_state=0).fit(X, y)
    >>> len(model.loss_curve_) == model.n_iter_
    True""",
    )
    _cell = "gru"
