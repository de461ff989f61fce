"""The echo state network regressor: a fixed reservoir with a streaming ridge readout."""

from __future__ import annotations

import numpy as np
from sklearn.base import RegressorMixin
from sklearn.utils.validation import check_is_fitted

from ._backend import device_kwargs, get_namespace
from ._base import SequenceRegressorMixin
from ._esn_base import (
    COMMON_TAIL_DOC,
    READOUT_PARAMS_DOC,
    RESERVOIR_PARAMS_DOC,
    ReadoutEstimatorBase,
)
from ._rows import StepCollector, rows_at
from ._validation import check_generator, check_interval, validate_series

__all__ = ["ESNRegressor"]


def _shift_right(Y, first):
    """Rows y(t - 1) for every step t: ``first`` (n_series, k) then Y without its last step."""
    xp = get_namespace(Y)
    return xp.concat([xp.expand_dims(first, axis=1), Y[:, :-1, :]], axis=1)


class ESNRegressor(SequenceRegressorMixin, RegressorMixin, ReadoutEstimatorBase):
    __doc__ = f"""Echo state network regressor: a fixed reservoir with a trained ridge readout.

    The reservoir (:class:`reservoir.Reservoir`, exposed as ``reservoir_``)

        x(t) = (1 - a) x(t-1) + a f(W x(t-1) + W_in u(t) + W_fb y(t-1) + b)

    is run over the input rows (time steps); the readout
    y(t) = W_out [1; u(t); x(t)] is fitted by ridge regression on the
    collected states, streamed chunk by chunk so that memory does not grow
    with the series' length. ``predict`` gives one output per input row;
    :meth:`forecast` runs closed loop, each prediction fed back as the next
    input, for autonomous series; :meth:`step` advances one step at a time.

    Every call starts from the zero state unless ``initial_state`` is given
    (an array, or ``"continue"`` for the state at the end of the fitted
    data). A model fitted one step ahead, ``fit(series[:-1], series[1:])``,
    continues with the last fitted target: ``predict(series[n:], ...)`` after
    ``fit(series[:n - 1], series[1:n])``, starting at ``series[n - 1]``.

    Parameters
    ----------{RESERVOIR_PARAMS_DOC}{READOUT_PARAMS_DOC}
    feedback_scaling : float, optional
        If set, the previous output y(t-1) is fed back through a matrix W_fb
        with entries uniform on [-feedback_scaling, feedback_scaling]. In
        ``fit`` it is the true previous target (teacher forcing, y(-1) = 0);
        in ``predict`` and ``step`` it is the model's own previous output
        (y(-1) = 0, or the last fitted target with ``"continue"``); in
        ``forecast`` the context is teacher forced, then the model's outputs
        are fed back.
{COMMON_TAIL_DOC}
    Attributes
    ----------
    reservoir_ : Reservoir
        The fixed dynamical system: W, W_in, bias (and W_fb), leak rate and
        activation.
    W_, W_in_, bias_ : reservoir weights (host NumPy/SciPy arrays)
    W_fb_ : ndarray of shape (n_units, ``n_outputs_``), only with feedback
    readout_ : RidgeReadout
        The fitted readout (``coef_``, ``intercept_``).
    final_state_ : array of shape (n_units,), or (n_series, n_units) for
        several series: the state after the last fitted step.
    n_features_in_ : int
    n_outputs_ : int

    Examples
    --------
    >>> import numpy as np
    >>> from reservoir import ESNRegressor
    >>> t = np.arange(2000) * 0.05
    >>> series = np.sin(t)[:, None]
    >>> esn = ESNRegressor(n_units=100, washout=100, random_state=0)
    >>> esn = esn.fit(series[:-1], series[1:])
    >>> forecast = esn.forecast(50)
    >>> float(np.max(np.abs(forecast[:, 0] - np.sin(t[-1] + 0.05 * np.arange(1, 51))))) < 1e-2
    True
    """

    def __init__(self, n_units=100, *, spectral_radius=0.9, leak_rate=1.0, input_scaling=1.0,
                 bias_scaling=0.5, density=None, in_degree=None, input_density=1.0,
                 topology="random", distribution="normal", activation="tanh", alpha=1e-6,
                 washout=0, readout_features=("constant", "input", "state"), noise_level=0.0,
                 input_noise=0.0, feedback_scaling=None, random_state=None, dtype="float64"):
        self.n_units = n_units
        self.spectral_radius = spectral_radius
        self.leak_rate = leak_rate
        self.input_scaling = input_scaling
        self.bias_scaling = bias_scaling
        self.density = density
        self.in_degree = in_degree
        self.input_density = input_density
        self.topology = topology
        self.distribution = distribution
        self.activation = activation
        self.alpha = alpha
        self.washout = washout
        self.readout_features = readout_features
        self.noise_level = noise_level
        self.input_noise = input_noise
        self.feedback_scaling = feedback_scaling
        self.random_state = random_state
        self.dtype = dtype

    def fit(self, X, y):
        """Run the reservoir over X and fit the readout to y.

        Parameters
        ----------
        X : array-like of shape (n_timesteps, n_features), a list of such
            (1-D items are one feature; lengths may differ), or an array of
            shape (n_series, n_timesteps, n_features)
        y : array-like of shape (n_timesteps,) or (n_timesteps, n_outputs),
            or the same per series, aligned step by step with X

        Returns
        -------
        self
        """
        features = self._validate_readout_params()
        if self.feedback_scaling is not None:
            check_interval("feedback_scaling", self.feedback_scaling, low=0)
        batch, Y, y_one_d = validate_series(self, X, y, reset=True, dtype=self.dtype,
                                            min_length=self.washout + 1)
        xp = batch.xp
        dtype = self._target_dtype(xp)
        n_outputs = int(Y.shape[2])
        res = self._draw_reservoir(self.n_features_in_, check_generator(self.random_state),
                                   n_feedback=None if self.feedback_scaling is None else n_outputs)
        teacher = None
        if self.feedback_scaling is not None:
            zeros = xp.zeros((batch.n_series, n_outputs), dtype=dtype, **device_kwargs(Y, xp))
            teacher = _shift_right(Y, zeros)
        inputs = self._training_inputs(batch.data, dtype)
        accumulator = self._accumulator(features, n_outputs, batch.data)
        final = StepCollector(np.asarray(batch.lengths) - 1)
        for t0, S in res.iter_states(inputs, None, previous_outputs=teacher,
                                     noise=self._noise(xp, dtype, batch.data)):
            self._accumulate_steps(accumulator, inputs, batch.lengths, S, Y, t0, features)
            final.update(S, t0, xp)
        self._finish_fit(accumulator, features, n_outputs=n_outputs, y_one_d=y_one_d, dtype=dtype)
        self._y_one_d = y_one_d
        self._record_fit_end(batch, Y, final.result(xp))
        return self

    def _previous_output(self, initial_state, n_series, like):
        """y(-1) for a run with output feedback: zeros, or the last fitted target to continue."""
        xp = get_namespace(like)
        if isinstance(initial_state, str):
            target = self._final_target
            if get_namespace(target) is not xp:
                from ._backend import to_namespace, to_numpy

                target = to_namespace(to_numpy(target), xp, dtype=self._target_dtype(xp),
                                      **device_kwargs(like, xp))
            return xp.broadcast_to(target, (n_series, self.n_outputs_))
        return xp.zeros((n_series, self.n_outputs_), dtype=self._target_dtype(xp),
                        **device_kwargs(like, xp))

    def predict(self, X, *, initial_state=None):
        """Readout output for every time step of X, one step ahead.

        Without output feedback the outputs depend on X alone (and the
        initial state). With ``feedback_scaling``, the model's own previous
        output is fed back at every step (see the parameter).

        Parameters
        ----------
        X : array-like of shape (n_timesteps, n_features), list of such, or
            array of shape (n_series, n_timesteps, n_features)
        initial_state : None, "continue", or array of shape (n_units,) or
            (n_series, n_units)
            State before the first step: zeros when None; "continue" starts
            from the end of the fitted data (and warns if X skips the last
            fitted target of a one-step-ahead model).

        Returns
        -------
        y : array of shape (n_timesteps,) or (n_timesteps, n_outputs), in X's
            layout and namespace
        """
        check_is_fitted(self)
        batch, _, _ = validate_series(self, X, None, reset=False, dtype=self.dtype, require_y=False)
        xp = batch.xp
        res = self.reservoir_
        x0 = self._continue_state(initial_state, batch)
        readout = self.readout_function(batch.data)
        if res.W_fb is not None:
            Y, _ = res.generate(
                batch.data.shape[1], readout=readout, initial_state=x0,
                previous_output=self._previous_output(initial_state, batch.n_series, batch.data),
                inputs=batch.data,
            )
        else:
            chunks = [readout(S, batch.data[:, t0:t0 + S.shape[1], :])
                      for t0, S in res.iter_states(batch.data, x0)]
            Y = chunks[0] if len(chunks) == 1 else xp.concat(chunks, axis=1)
        return batch.restore(Y, squeeze_output=self._y_one_d)

    def step(self, u, state=None, *, previous_output=None):
        """Advance the fitted model one time step, for online use.

        Iterating ``step`` over the rows of X, from the zero state (and, with
        output feedback, ``previous_output`` = the previous output), gives
        ``predict(X)``.

        Parameters
        ----------
        u : array of shape (n_features,) or (n_series, n_features)
            The input u(t).
        state : array of shape (n_units,) or (n_series, n_units), optional
            x(t-1); zeros when None.
        previous_output : array of shape (n_outputs,) or (n_series, n_outputs), optional
            y(t-1), for a model with output feedback (zeros when None).

        Returns
        -------
        y : array of shape (n_outputs,) or (n_series, n_outputs)
            (scalar-shaped (,) or (n_series,) when y was 1-D in ``fit``)
        state : array, x(t), for the next call
        """
        check_is_fitted(self)
        xp = get_namespace(u)
        if not hasattr(u, "shape"):
            u = xp.asarray(np.asarray(u, dtype=float))
        if u.ndim not in (1, 2) or u.shape[-1] != self.n_features_in_:
            raise ValueError(f"u must have shape ({self.n_features_in_},) or (n_series, "
                             f"{self.n_features_in_}), got {tuple(u.shape)}")
        res = self.reservoir_
        y_prev = None
        if res.W_fb is not None:
            y_prev = (previous_output if previous_output is not None
                      else xp.zeros(tuple(u.shape[:-1]) + (self.n_outputs_,),
                                    dtype=self._target_dtype(xp), **device_kwargs(u, xp)))
        elif previous_output is not None:
            raise ValueError("previous_output applies to a model with output feedback "
                             "(feedback_scaling), and this one has none")
        x = res.step(u, state, previous_output=y_prev)
        y = self.readout_function(x)(x, xp.astype(u, x.dtype))
        return (y[..., 0] if self._y_one_d else y), x

    def _forecast_continued(self, n_steps):
        res = self.reservoir_
        x = self._final_state
        out, _ = res.generate(n_steps, readout=self.readout_function(x), initial_state=x,
                              previous_output=self._final_target)
        return out

    def _forecast_after(self, batch, n_steps, initial_state):
        """Teacher-forced run over each context but its last row, then the closed loop.

        The last row is left to the closed loop, which feeds it in exactly as
        it feeds its own predictions afterwards. With output feedback, the
        output fed back at context step t is the true y(t-1) of a
        one-step-ahead model, which is the context's row t itself.
        """
        xp = batch.xp
        res = self.reservoir_
        x0 = self._continue_state(initial_state, batch)
        last = np.asarray(batch.lengths) - 1
        x = res.final_states(batch.data, last, x0,
                             previous_outputs=batch.data if res.W_fb is not None else None)
        y_prev = rows_at(batch.data, last, xp)
        out, _ = res.generate(n_steps, readout=self.readout_function(x), initial_state=x,
                              previous_output=y_prev)
        return out

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags

    def __sklearn_is_fitted__(self):
        return hasattr(self, "readout_")
