"""The echo state network regressor: a fixed reservoir with a streaming ridge readout."""

from __future__ import annotations

import numpy as np
from sklearn.base import RegressorMixin
from sklearn.utils.validation import check_is_fitted

from ._backend import device_kwargs, get_namespace, host_blas_policy, to_namespace, to_numpy
from ._base import DIVERGENCE_BOUND, SequenceRegressorMixin
from ._esn_base import (
    COMMON_TAIL_DOC,
    ONLINE_READOUT_PARAMS_DOC,
    READOUT_PARAMS_DOC,
    RESERVOIR_PARAMS_DOC,
    ReadoutEstimatorBase,
    training_steps,
)
from ._overlap import background_updates
from ._rows import StepCollector, rows_at, take_rows
from ._validation import check_generator, check_interval, validate_series
from .distributed import fit as fit_distributed
from .distributed import is_dask_collection
from .readout import (
    GramAccumulator,
    OnlineReadout,
    ReadoutPath,
    RidgeReadout,
    check_readout_features,
    readout_features,
)

__all__ = ["ESNRegressor"]


def _on(a, like, dtype):
    """``a`` on the namespace and device of ``like``, in ``dtype``."""
    xp = get_namespace(like)
    if get_namespace(a) is not xp:
        a = to_namespace(np.asarray(to_numpy(a)), xp, **device_kwargs(like, xp))
    return xp.astype(a, dtype)


class _ClosedLoopTrainer:
    """The readout of a FORCE training loop: output, then the RLS update towards the target.

    Called once per step by :meth:`reservoir.Reservoir.generate`, in order;
    step t's targets are ``Y[:, t]`` and ``mask[:, t]`` says which series
    train at that step. Collects each series' state at its last step.
    """

    def __init__(self, readout, features, Y, mask, last_steps, dtype):
        self.readout = readout
        self.features = features
        self.Y = Y
        self.mask = mask
        self.dtype = dtype
        self.final = StepCollector(last_steps)
        self.last_output = StepCollector(last_steps)
        self.t = 0

    def __call__(self, states, inputs):
        xp = get_namespace(states)
        t = self.t
        F = readout_features(inputs, states, self.features)
        out = self.readout._outputs(F)
        rows = np.flatnonzero(self.mask[:, t])
        if rows.size:
            index = to_namespace(rows, xp, **device_kwargs(F, xp))
            self.readout._learn(xp.take(F, index, axis=0), xp.take(self.Y[:, t, :], index, axis=0))
        out = xp.astype(out, self.dtype)
        self.final.update(xp.expand_dims(states, axis=1), t, xp)
        self.last_output.update(xp.expand_dims(out, axis=1), t, xp)
        self.t += 1
        return out


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
        are fed back.{ONLINE_READOUT_PARAMS_DOC}{COMMON_TAIL_DOC}
    Attributes
    ----------
    reservoir_ : Reservoir
        The fixed dynamical system: W, W_in, bias (and W_fb), leak rate and
        activation.
    W_, W_in_, bias_ : reservoir weights (host NumPy/SciPy arrays)
    W_fb_ : ndarray of shape (n_units, ``n_outputs_``), only with feedback
    readout_ : RidgeReadout or online readout
        The fitted copy of ``readout`` (``coef_``, ``intercept_``).
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
                 input_noise=0.0, feedback_scaling=None, readout=None, random_state=None,
                 dtype="float64"):
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
        self.readout = readout
        self.random_state = random_state
        self.dtype = dtype

    @host_blas_policy
    def fit(self, X, y):
        """Run the reservoir over X and fit the readout to y.

        Parameters
        ----------
        X : array-like of shape (n_timesteps, n_features), a list of such
            (1-D items are one feature; lengths may differ), or an array of
            shape (n_series, n_timesteps, n_features)
        y : array-like of shape (n_timesteps,) or (n_timesteps, n_outputs),
            or the same per series, aligned step by step with X

        X and y may also be Dask collections (a 3-D array chunked along
        series, a bag or a list of delayed series, or one series chunked in
        time): the fit then runs on the Dask cluster, see
        :func:`reservoir.distributed.fit`.

        Returns
        -------
        self
        """
        self._end_stream()
        if is_dask_collection(X):
            return fit_distributed(self, X, y)
        return self._learn(X, y, min_length=self.washout + 1)

    @host_blas_policy
    def partial_fit(self, X, y):
        """Train on the next chunk of a stream, continuing where the last call ended.

        The first call starts the stream: it draws the reservoir and runs from the zero state, and the
        first ``washout`` steps of the stream train nothing, even when they
        span several calls. Every later call continues each series from the
        state at the end of the previous call (with output feedback, the
        previous call's last target is the first output fed back), so that
        a stream cut into chunks trains the same readout as the whole series
        in one call: exactly for the ridge readout, whose statistics are
        accumulated and solved again after every call, and step for step for
        the online readouts. ``predict(..., initial_state="continue")``
        between calls follows the stream. A call after ``fit`` continues the
        stream that ``fit`` started.

        Parameters
        ----------
        X : array-like of shape (n_timesteps, n_features), a list of such, or
            an array of shape (n_series, n_timesteps, n_features)
            The next steps of each series; the number of series stays that
            of the first call.
        y : targets aligned with X

        Returns
        -------
        self
        """
        return self._learn(X, y, min_length=1)

    # ------------------------------------------------------------------ training

    def _feedback(self):
        return getattr(self, "feedback_scaling", None)

    def _check_params(self):
        super()._check_params()
        check_interval("feedback_scaling", self._feedback(), low=0, allow_none=True)

    _readout_attributes = ("n_outputs_", "_y_one_d")

    def _check_fitted(self, check, dtype):
        super()._check_fitted(check, dtype)
        W_fb = getattr(getattr(self, "reservoir_", None), "W_fb", None)
        if (self._feedback() is None) != (W_fb is None):
            check.fail("reservoir_.W_fb", "present exactly when feedback_scaling is set",
                       f"W_fb={'None' if W_fb is None else 'an array'} with feedback_scaling="
                       f"{self._feedback()!r}")
        if W_fb is not None and "n_outputs" in check.sizes:
            check.array("reservoir_.W_fb", ("state_size", "n_outputs"), dtype=np.float64,
                        value=W_fb)
        if hasattr(self, "readout_"):
            if check.boolean("_y_one_d"):
                check.integer("n_outputs_", equal=1)
            check.choice("readout_._y_one_d", (self._y_one_d,), value=bool(self.readout_._y_one_d))
        if hasattr(self, "_final_output"):
            check.array("_final_output", ("n_series", "n_outputs"), dtype=dtype)
        if hasattr(self, "_stream"):
            self._check_stream(check)

    def _check_stream(self, check):
        """The open training stream that ``keep_statistics=True`` stores, for partial_fit."""
        from ._schema import StateCheck

        stream = check.instance("_stream", dict)
        keys = {"n_series", "n_outputs", "y_one_d", "readout", "steps", "accumulator"}
        if set(stream) != keys:
            check.fail("_stream", f"a dict of {sorted(keys)}", sorted(map(str, stream)))
        part = StateCheck(self, **check.sizes)
        part.owner = f"{check.owner}._stream"
        part.integer("n_series", equal=check.sizes.get("n_series"), low=1,
                     value=stream["n_series"])
        part.integer("n_outputs", equal=check.sizes.get("n_outputs"), low=1,
                     value=stream["n_outputs"])
        part.boolean("y_one_d", value=stream["y_one_d"])
        part.sizes["n_series"] = stream["n_series"]
        part.array("steps", ("n_series",), dtype="int", value=stream["steps"])
        readout = part.instance("readout", (RidgeReadout, OnlineReadout), value=stream["readout"])
        if hasattr(self, "readout_") and readout is not self.readout_:
            part.fail("readout", "the same object as readout_", "another readout")
        if isinstance(readout, OnlineReadout):
            part.choice("accumulator", (None,), value=stream["accumulator"])
            return
        accumulator = part.instance("accumulator", GramAccumulator, value=stream["accumulator"])
        features = getattr(self, "_readout_features_", None) or check_readout_features(
            self.readout_features)
        part.sizes["F"] = self._n_features_out(features)
        part.array("accumulator.xy", ("F", "n_outputs"), dtype=np.float64, value=accumulator.xy)

    def _end_stream(self):
        for attr in ("_stream", "readout_"):
            if hasattr(self, attr):
                delattr(self, attr)

    def _learn(self, X, y, *, min_length):
        """One chunk of the training stream: the body of ``fit`` and ``partial_fit``."""
        features = self._validate_readout_params()
        feedback = self._feedback()
        if feedback is not None:
            check_interval("feedback_scaling", feedback, low=0)
        first = not hasattr(self, "_stream")
        batch, Y, y_one_d = validate_series(self, X, y, reset=first, dtype=self.dtype,
                                            min_length=min_length)
        xp = batch.xp
        dtype = self._target_dtype(xp)
        n_outputs = int(Y.shape[2])
        if first:
            self._draw(self.n_features_in_, check_generator(self.random_state),
                       n_feedback=None if feedback is None else n_outputs)
            readout = self._new_readout(features)
            self._stream = dict(
                n_series=batch.n_series, n_outputs=n_outputs, y_one_d=y_one_d, readout=readout,
                steps=np.zeros(batch.n_series, dtype=np.int64),
                accumulator=(self._accumulator(features, n_outputs, batch.data)
                             if isinstance(readout, RidgeReadout) else None))
            if isinstance(readout, OnlineReadout):
                readout._begin(self._n_features_out(features), n_outputs, batch.data,
                               y_one_d=y_one_d)
            x0 = None
            y_prev = xp.zeros((batch.n_series, n_outputs), dtype=dtype, **device_kwargs(Y, xp))
        else:
            stream = self._stream
            if batch.n_series != stream["n_series"] or n_outputs != stream["n_outputs"]:
                raise ValueError(
                    f"partial_fit continues a stream of {stream['n_series']} series with "
                    f"{stream['n_outputs']} outputs; got {batch.n_series} series with {n_outputs} "
                    "outputs. Call fit to start a new stream."
                )
            if y_one_d != stream["y_one_d"]:
                raise ValueError("y is 1-D in this call but was 2-D in the first call of the "
                                 "stream, or the reverse; give the targets one shape throughout")
            x0 = self._continue_state(self._final_state, batch)
            y_prev = _on(self._fed_back_next(), Y, dtype)
        stream = self._stream
        readout = stream["readout"]
        if hasattr(self, "_final_output"):
            del self._final_output
        if isinstance(readout, OnlineReadout) and readout.closed_loop_training:
            final = self._learn_closed_loop(batch, Y, x0, y_prev, features, readout, dtype)
        else:
            teacher = None if feedback is None else _shift_right(Y, y_prev)
            inputs = self._training_inputs(batch.data, dtype)
            final = StepCollector(np.asarray(batch.lengths) - 1)
            with background_updates(stream["accumulator"], batch.data) as accumulator:
                for t0, S in self._run_states(inputs, x0, previous_outputs=teacher,
                                              noise=self._noise(xp, dtype, batch.data)):
                    if accumulator is not None:
                        self._accumulate_steps(accumulator, inputs, batch.lengths, S, Y, t0,
                                               features, stream["steps"])
                    else:
                        self._online_steps(readout, inputs, batch.lengths, S, Y, t0, features,
                                           stream["steps"])
                    final.update(S, t0, xp)
            final = final.result(xp)
        stream["steps"] = stream["steps"] + np.asarray(batch.lengths)
        seen = (stream["accumulator"].n_samples if stream["accumulator"] is not None
                else readout.n_samples_seen_)
        if seen == 0:
            # Every step so far lies in the washout: nothing is learned yet.
            self._record_fit_end(batch, Y, final)
            return self
        self._finish_fit(stream["accumulator"], features, n_outputs=n_outputs,
                         y_one_d=stream["y_one_d"], dtype=dtype, readout=readout)
        self._y_one_d = stream["y_one_d"]
        self._record_fit_end(batch, Y, final)
        return self

    def _online_steps(self, readout, inputs, lengths, S, Y, t0, features, offsets):
        """Update an online readout on one chunk's training steps, in time order.

        The steps of the series of a batch are taken in lockstep: step t of
        every series, then step t + 1.
        """
        xp = get_namespace(S)
        c = S.shape[1]
        mask = training_steps(t0, c, lengths, self.washout, offsets)
        index = np.flatnonzero(mask.T)         # time-major: row t * n_series + i
        if index.size == 0:
            return
        F = readout_features(inputs[:, t0:t0 + c, :], S, features)
        readout._learn(take_rows(xp.permute_dims(F, (1, 0, 2)), index, xp),
                       take_rows(xp.permute_dims(Y[:, t0:t0 + c, :], (1, 0, 2)), index, xp))

    def _learn_closed_loop(self, batch, Y, x0, y_prev, features, readout, dtype):
        """FORCE: the RLS update inside the closed loop, the readout's own output fed back.

        :meth:`reservoir.Reservoir.generate` runs the loop with the
        exogenous inputs; its readout is a callable that computes the
        output with the current weights, updates them towards the target
        of that step (after the washout, before each series' end) and
        returns the output it computed, which the loop feeds back.
        """
        if self._feedback() is None:
            raise ValueError(
                "a FORCEReadout learns with its own output fed back to the reservoir, so it needs "
                "feedback weights: set feedback_scaling (e.g. 1.0)"
            )
        if self.noise_level:
            raise ValueError(
                f"noise_level={self.noise_level} perturbs teacher-forced training runs; FORCE "
                "trains in closed loop, where the fed-back output already perturbs the "
                "reservoir: set noise_level=0 (input_noise still applies)"
            )
        xp = batch.xp
        inputs = self._training_inputs(batch.data, dtype)
        mask = training_steps(0, int(batch.data.shape[1]), batch.lengths, self.washout,
                              self._stream["steps"])
        trainer = _ClosedLoopTrainer(readout, features, Y, mask, np.asarray(batch.lengths) - 1,
                                     dtype)
        start = self._continue_state(x0, batch)
        self._generate(int(batch.data.shape[1]), trainer, start, y_prev, inputs=inputs)
        # What the loop feeds back next is the model's own last output, not
        # the last target: a continuation must pick it up, or it starts with
        # a jolt the trained loop never saw.
        self._final_output = trainer.last_output.result(xp)
        return trainer.final.result(xp)

    def _fed_back_next(self):
        """The output fed back at the step after the fitted data: the last target
        (teacher forcing), or the model's own last output after FORCE training."""
        return getattr(self, "_final_output", self._final_target)

    def _previous_output(self, initial_state, n_series, like):
        """y(-1) for a run with output feedback: zeros, or the last fitted target to continue."""
        xp = get_namespace(like)
        if isinstance(initial_state, str):
            target = self._fed_back_next()
            if get_namespace(target) is not xp:
                target = to_namespace(to_numpy(target), xp, dtype=self._target_dtype(xp),
                                      **device_kwargs(like, xp))
            return xp.broadcast_to(target, (n_series, self.n_outputs_))
        return xp.zeros((n_series, self.n_outputs_), dtype=self._target_dtype(xp),
                        **device_kwargs(like, xp))

    @host_blas_policy
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
        x0 = self._continue_state(initial_state, batch)
        readout = self.readout_function(batch.data)
        if self._feedback() is not None:
            Y, _ = self._generate(
                batch.data.shape[1], readout, x0,
                self._previous_output(initial_state, batch.n_series, batch.data),
                inputs=batch.data,
            )
        else:
            chunks = [readout(S, batch.data[:, t0:t0 + S.shape[1], :])
                      for t0, S in self._run_states(batch.data, x0)]
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
        y_prev = None
        if self._feedback() is not None:
            y_prev = (previous_output if previous_output is not None
                      else xp.zeros(tuple(u.shape[:-1]) + (self.n_outputs_,),
                                    dtype=self._target_dtype(xp), **device_kwargs(u, xp)))
        elif previous_output is not None:
            raise ValueError("previous_output applies to a model with output feedback "
                             "(feedback_scaling), and this one has none")
        x = self._step_state(u, state, y_prev)
        y = self.readout_function(x)(x, xp.astype(u, x.dtype))
        return (y[..., 0] if self._y_one_d else y), x

    def _step_state(self, u, state, previous_output):
        """x(t) from u(t), x(t-1) and y(t-1): one step of the model's state."""
        return self.reservoir_.step(u, state, previous_output=previous_output)

    @host_blas_policy
    def forecast_ridge_path(self, alphas, n_steps, *, context=None, initial_state=None,
                            divergence_bound=DIVERGENCE_BOUND):
        """Closed-loop forecasts of the readout re-solved for each ridge penalty, in one batch.

        Equal to ``[m.forecast(n_steps, context=context, ...) for m in
        self.ridge_path(alphas)]``, and cheaper: the reservoir runs over each
        context once (the states before the closed loop do not depend on the
        readout), and the closed loops of all penalties run as one batch of
        ``len(alphas)`` times as many series, so a search over ``alpha``
        scored by forecasts costs about one forecast per reservoir.

        Parameters
        ----------
        alphas : sequence of float
            Non-negative ridge penalties (see :meth:`ridge_path`).
        n_steps, context, initial_state, divergence_bound
            As in :meth:`forecast`; a diverging forecast is cut and warned
            about per penalty.

        Returns
        -------
        list of arrays, one per penalty, each as :meth:`forecast` returns it

        Examples
        --------
        >>> import numpy as np
        >>> from reservoir import ESNRegressor
        >>> series = np.sin(0.1 * np.arange(2001))[:, None]
        >>> esn = ESNRegressor(n_units=50, washout=100, random_state=0)
        >>> esn = esn.fit(series[:1500], series[1:1501])
        >>> paths = esn.forecast_ridge_path([1e-8, 10.0], 100)
        >>> [float(np.abs(f - series[1501:1601]).max()) < 0.1 for f in paths]
        [True, False]
        """
        alphas = list(alphas)
        if not alphas:
            raise ValueError("alphas must hold at least one ridge penalty; got an empty sequence")
        models = self.ridge_path(alphas)
        return self._forecast(n_steps, context, initial_state, divergence_bound, readouts=models)

    def _forecast_continued(self, n_steps, readouts=None):
        return self._closed_loop(n_steps, self._final_state, self._final_target, readouts)

    def _forecast_after(self, batch, n_steps, initial_state, readouts=None):
        """Teacher-forced run over each context but its last row, then the closed loop.

        The last row is left to the closed loop, which feeds it in exactly as
        it feeds its own predictions afterwards. With output feedback, the
        output fed back at context step t is the true y(t-1) of a
        one-step-ahead model, which is the context's row t itself.
        """
        xp = batch.xp
        x0 = self._continue_state(initial_state, batch)
        last = np.asarray(batch.lengths) - 1
        x = self._final_states(batch.data, last, x0,
                               previous_outputs=batch.data if self._feedback() is not None else None)
        y_prev = rows_at(batch.data, last, xp)
        return self._closed_loop(n_steps, x, y_prev, readouts)

    def _closed_loop(self, n_steps, x, y_prev, readouts):
        """Outputs (n_series, n_steps, n_outputs) of the closed loop from states ``x``.

        With ``readouts`` (models sharing this reservoir, as
        :meth:`ridge_path` makes them), every series is repeated once per
        model and all of them run as one batch: outputs (n_models, n_series,
        n_steps, n_outputs).
        """
        if readouts is None:
            out, _ = self._generate(n_steps, self.readout_function(x), x, y_prev)
            return out
        xp = get_namespace(x)
        k = len(readouts)
        path = ReadoutPath([model.readout_function(x) for model in readouts])
        out, _ = self._generate(n_steps, path, xp.concat([x] * k, axis=0),
                                xp.concat([y_prev] * k, axis=0))
        return xp.reshape(out, (k, int(x.shape[0]), *out.shape[1:]))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags

    def __sklearn_is_fitted__(self):
        return hasattr(self, "readout_")
