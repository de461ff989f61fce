"""Gradient-trained recurrent regressors with the interface of ``ESNRegressor``.

:class:`ElmanRegressor`, :class:`LSTMRegressor`, :class:`GRURegressor` and
:class:`IndRNNRegressor` share one base class; they differ only in the cell.
Data layout, washout, teacher-forced ``predict``, closed-loop ``forecast``,
``initial_state`` and ``random_state`` mean what they mean for the echo state
networks, so the two families can be compared on the same task with the same
code. Unlike a reservoir, every weight is trained, by backpropagation
through time or real-time recurrent learning (see
:mod:`reservoir.rnn._training`).
"""

from __future__ import annotations

import math

import numpy as np
from sklearn.base import RegressorMixin, clone
from sklearn.utils.validation import check_is_fitted

from .._backend import device_kwargs, get_namespace, to_namespace, to_numpy
from .._base import SequenceRegressorMixin
from .._validation import check_generator, check_interval, validate_series
from ._base import (
    ATTRIBUTES_DOC,
    PARAMS_DOC,
    PeepholeOption,
    RecurrentNetworkBase,
    store_arguments,
)
from ._cells import make_cell
from ._network import (
    backprop_network,
    forward,
    parameters_to_namespace,
    readout,
    run_network,
    state_from_array,
    state_to_array,
)

__all__ = ["ElmanRegressor", "GRURegressor", "IndRNNRegressor", "LSTMRegressor"]


class _RecurrentRegressor(SequenceRegressorMixin, RegressorMixin, RecurrentNetworkBase):
    """Fit, predict, forecast and the gradient diagnostic shared by the regressors."""

    def __init__(self, n_units=32, *, n_layers=1, bidirectional=False, washout=0,
                 sequence_length=100, window_stride=None, batch_size=16, bptt_steps=None,
                 gradient="bptt", solver="adam", learning_rate_init=3e-3,
                 learning_rate="constant", power_t=0.5, momentum=0.9, beta_1=0.9, beta_2=0.999,
                 epsilon=1e-8, clip_norm=1.0, weight_decay=0.0, dropout=0.0, input_dropout=0.0,
                 zoneout=0.0, spectral_radius=1.0, max_iter=300, tol=1e-4, n_iter_no_change=30,
                 early_stopping=False, validation_fraction=0.1, random_state=None,
                 dtype="float64", verbose=False):
        store_arguments(self, locals())

    # ------------------------------------------------------------------ fit

    def fit(self, X, y):
        """Train the network to map X to y, step by step.

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
        spec, params = self._train(batch, Y, loss="squared_error", pooling=None)
        self.n_outputs_ = int(Y.shape[2])
        self._y_one_d = y_one_d
        # The state after each series and its last target: where forecast() continues.
        _, final, _ = forward(spec, params, batch.data, lengths=batch.lengths, keep_cache=False)
        self._record_fit_end(batch, Y, state_to_array(spec, final))
        return self

    # ------------------------------------------------------------------ inference

    def _check_outputs(self, check):
        check.sizes["n_outputs"] = check.integer("n_outputs_", low=1)
        if check.boolean("_y_one_d"):
            check.integer("n_outputs_", equal=1)
        return True

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
        _, params, H = self._hidden(batch, initial_state)
        return batch.restore(readout(params, H), squeeze_output=self._y_one_d)

    def _check_causal(self):
        if self.bidirectional:
            raise ValueError(
                "forecast feeds each prediction back as the next input, one step at a time; a "
                "bidirectional network reads the whole series at once and cannot forecast"
            )

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
        self._check_causal()
        xp = get_namespace(self._final_state)
        spec, params = self._prepared(xp, self._final_state)
        state = state_from_array(spec, self._final_state)
        y, state, _ = forward(spec, params, xp.expand_dims(self._final_target, axis=1), state,
                              keep_cache=False)
        return self._run_closed_loop(spec, params, y[:, 0, :], state, n_steps)

    def _forecast_after(self, batch, n_steps, initial_state):
        # The output at the context's last row is the prediction of the next step.
        self._check_causal()
        xp = batch.xp
        spec, params = self._prepared(xp, batch.data)
        state0 = self._initial_state(initial_state, batch, spec)
        Y, state, _ = forward(spec, params, batch.data, state0, lengths=batch.lengths,
                              keep_cache=False)
        y = xp.stack([Y[i, n - 1, :] for i, n in enumerate(batch.lengths)], axis=0)
        return self._run_closed_loop(spec, params, y, state, n_steps)

    # ------------------------------------------------------------------ diagnostics

    def state_gradient_norms(self, X, y, *, layer=-1, clip_norm=None):
        """Norms of dL_T/dh(t) for the loss at each series' last step T.

        L_T = ||y_hat(T) - y(T)||^2 / 2, summed over series; the gradient
        reaching the hidden state of ``layer`` at every earlier step t counts
        every path, through time and through the layers above. An unfitted
        model is measured at the initial weights that ``fit`` would start
        from with its ``random_state``, and is left unchanged. See
        :func:`reservoir.diagnostics.gradient_norm_by_lag`.

        Parameters
        ----------
        X, y : series and step-aligned targets, in any accepted layout
        layer : int, default=-1
        clip_norm : float or None, default=None
            Report the norms as a training step clipped at this global norm
            sees them: all multiplied by min(1, clip_norm / ||dL/dθ||),
            where dL/dθ is the gradient of the same loss with respect to
            every weight. None: the raw norms.

        Returns
        -------
        norms : ndarray of shape (n_series, max_length)
            Row i holds ||dL_T/dh(t)|| of series i for t < its length.
        lengths : list of int
        """
        check_interval("clip_norm", clip_norm, low=0, low_inclusive=False, allow_none=True)
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
        H, _, cache = run_network(spec, params, batch.data, lengths=batch.lengths)
        last = np.zeros(tuple(H.shape[:2]))
        for b, n in enumerate(batch.lengths):
            last[b, n - 1] = 1.0
        last = to_namespace(last, xp, dtype=H.dtype, device=device)
        # Summing the per-series losses keeps each series' gradient in its own row.
        dY = (readout(params, H) - Y) * last[:, :, None]
        grads, _, dh = backprop_network(spec, params, cache, dY @ params["W_hy"],
                                        record_layer=layer)
        D = xp.stack(dh, axis=1)
        norms = np.asarray(to_numpy(xp.sqrt(xp.sum(D * D, axis=2))))
        if clip_norm is not None:
            B, T, k = dY.shape
            flat = xp.reshape(dY, (B * T, k))
            grads["W_hy"] = flat.T @ xp.reshape(H, (B * T, -1))
            grads["b_y"] = xp.sum(flat, axis=0)
            total = math.sqrt(sum(float(xp.sum(g * g)) for g in grads.values()))
            if total > clip_norm:
                norms = norms * (clip_norm / total)
        return norms, list(batch.lengths)

    # ------------------------------------------------------------------ scikit-learn protocol

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags


def _class_doc(summary, equations, *, recurrent, extra, n_gates, state_extra, state_size,
               extra_params="", example):
    attributes = ATTRIBUTES_DOC.format(recurrent=recurrent, extra=extra, n_gates=n_gates,
                                       loss="half the mean squared error",
                                       state_extra=state_extra, state_size=state_size)
    return f"""{summary}

    {equations}

    Every weight is trained, by backpropagation through time (or real-time
    recurrent learning where the cell allows), with mini-batches of
    overlapping windows, Adam (or SGD with momentum), gradient-norm clipping
    and optional truncation, dropout, zoneout and weight decay. The
    interface is that of :class:`reservoir.ESNRegressor`: the same data
    layouts and washout, ``predict`` one step ahead (teacher forced) and
    ``forecast`` in closed loop.

    Parameters
    ----------{PARAMS_DOC}{extra_params}
    Attributes
    ----------{attributes}    n_outputs_ : int

    See Also
    --------
    reservoir.ESNRegressor : the reservoir counterpart, which trains only the readout.
    reservoir.diagnostics.gradient_norm_by_lag : how fast the gradient vanishes with the lag.

    Examples
    --------{example}
    """


_SINE_EXAMPLE = """
    >>> import numpy as np
    >>> from reservoir.rnn import {name}
    >>> t = np.arange(400) * 0.1
    >>> X, y = np.sin(t)[:-1, None], np.sin(t)[1:]
    >>> model = {name}(n_units=8, sequence_length=40, random_state=0).fit(X, y)
    >>> {check}"""


class ElmanRegressor(_RecurrentRegressor):
    __doc__ = _class_doc(
        "Elman recurrent network (simple RNN) trained by gradient descent.",
        "h(t) = tanh(W_hh h(t-1) + W_xh x(t) + b_h),   y(t) = W_hy h(t) + b_y.",
        recurrent=" (n_units, n_units)", extra="", n_gates="1", state_extra="",
        state_size="n_layers * n_directions * n_units",
        example=_SINE_EXAMPLE.format(name="ElmanRegressor", check="bool(model.score(X, y) > 0.95)\n    True"),
    )
    _cell_name = "elman"


class LSTMRegressor(PeepholeOption, _RecurrentRegressor):
    __doc__ = _class_doc(
        "Long short-term memory network trained by backpropagation through time.",
        """i, f, o = sigmoid(.), g = tanh(.) of W_xh x(t) + W_hh h(t-1) + b_h (one block per gate),
    c(t) = f c(t-1) + i g,   h(t) = o tanh(c(t)),   y(t) = W_hy h(t) + b_y.

    The gates are stacked in the order i, f, g, o; the forget-gate bias starts
    at 1 so that the cell remembers from the first epoch (Gers et al. 2000).
    With ``peephole=True`` the input and forget gates also read c(t-1) and
    the output gate c(t) through diagonal weights (Gers & Schmidhuber 2000).""",
        recurrent=" (4 * n_units, n_units)",
        extra=", ``W_ch_l`` (3 * n_units,) with ``peephole``", n_gates="4",
        state_extra=" then c", state_size="2 * n_layers * n_directions * n_units",
        extra_params="""    peephole : bool, default=False
        Peephole connections from the cell state to the gates.
""",
        example=_SINE_EXAMPLE.format(name="LSTMRegressor", check="model.forecast(5).shape\n    (5,)"),
    )

    def __init__(self, n_units=32, *, n_layers=1, bidirectional=False, washout=0,
                 sequence_length=100, window_stride=None, batch_size=16, bptt_steps=None,
                 gradient="bptt", solver="adam", learning_rate_init=3e-3,
                 learning_rate="constant", power_t=0.5, momentum=0.9, beta_1=0.9, beta_2=0.999,
                 epsilon=1e-8, clip_norm=1.0, weight_decay=0.0, dropout=0.0, input_dropout=0.0,
                 zoneout=0.0, spectral_radius=1.0, max_iter=300, tol=1e-4, n_iter_no_change=30,
                 early_stopping=False, validation_fraction=0.1, random_state=None,
                 dtype="float64", verbose=False, peephole=False):
        store_arguments(self, locals())


class GRURegressor(_RecurrentRegressor):
    __doc__ = _class_doc(
        "Gated recurrent unit network trained by backpropagation through time.",
        """r = sigmoid(x_r + h_r),  u = sigmoid(x_u + h_u),  n = tanh(x_n + r (h_n + b_hn)),
    h(t) = (1 - u) n + u h(t-1),   y(t) = W_hy h(t) + b_y,

    where x_* and h_* are the gate blocks of W_xh x(t) + b_h and W_hh h(t-1)
    (the reset gate applied after the recurrent product, as in cuDNN).""",
        recurrent=" (3 * n_units, n_units)", extra=", ``b_hn_l`` (n_units,)", n_gates="3",
        state_extra="", state_size="n_layers * n_directions * n_units",
        example=_SINE_EXAMPLE.format(name="GRURegressor",
                                     check="len(model.loss_curve_) == model.n_iter_\n    True"),
    )
    _cell_name = "gru"


class IndRNNRegressor(_RecurrentRegressor):
    __doc__ = _class_doc(
        "Independently recurrent network (IndRNN) trained by gradient descent.",
        """h(t) = f(W_xh x(t) + w * h(t-1) + b_h),   y(t) = W_hy h(t) + b_y   (Li et al. 2018),

    with * elementwise: each unit feeds back only onto itself, so the
    gradient through k steps is a product of k scalars per unit, and
    stacked layers mix the units. The recurrent weights start uniform on
    (0, 1], scaled so that the largest is ``spectral_radius``.""",
        recurrent=" (n_units,), the diagonal recurrent weights", extra="", n_gates="1",
        state_extra="", state_size="n_layers * n_directions * n_units",
        extra_params="""    activation : {"relu", "tanh"}, default="relu"
        f, the units' activation (ReLU in the original paper).
""",
        example=_SINE_EXAMPLE.format(name="IndRNNRegressor", check="bool(model.score(X, y) > 0.9)\n    True"),
    )

    def __init__(self, n_units=32, *, n_layers=1, bidirectional=False, washout=0,
                 sequence_length=100, window_stride=None, batch_size=16, bptt_steps=None,
                 gradient="bptt", solver="adam", learning_rate_init=3e-3,
                 learning_rate="constant", power_t=0.5, momentum=0.9, beta_1=0.9, beta_2=0.999,
                 epsilon=1e-8, clip_norm=1.0, weight_decay=0.0, dropout=0.0, input_dropout=0.0,
                 zoneout=0.0, spectral_radius=1.0, max_iter=300, tol=1e-4, n_iter_no_change=30,
                 early_stopping=False, validation_fraction=0.1, random_state=None,
                 dtype="float64", verbose=False, activation="relu"):
        store_arguments(self, locals())

    def _validate_params(self):
        super()._validate_params()
        if self.activation not in ("relu", "tanh"):
            raise ValueError(f"activation must be 'relu' or 'tanh', got {self.activation!r}")

    def _make_cell(self):
        return make_cell("indrnn", activation=self.activation)
