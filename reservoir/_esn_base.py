"""Machinery shared by the echo state network estimators.

Parameters and their validation, the drawing of the weights into a
:class:`reservoir.Reservoir` (``reservoir_``), and the streaming ridge readout
that the regressor and the classifier train on the reservoir's states. The
update equation itself lives in :mod:`reservoir.runtime`; nothing here
loops over time.
"""

from __future__ import annotations

import numbers

import numpy as np
from sklearn.base import BaseEstimator

from ._backend import device_kwargs, get_namespace, host_blas_policy, resolve_dtype, to_namespace
from ._base import SequenceEstimatorMixin
from ._rows import take_rows
from ._validation import check_interval
from .activations import ACTIVATIONS
from .initializers import (
    DISTRIBUTIONS,
    TOPOLOGIES,
    bias_vector,
    feedback_weights,
    input_weights,
    recurrent_weights,
)
from .readout import (
    GramAccumulator,
    OnlineReadout,
    ReadoutFunction,
    RidgeReadout,
    check_readout_features,
    n_readout_features,
    readout_features,
)
from .runtime import Reservoir

RESERVOIR_PARAMS_DOC = """
    n_units : int, default=100
        Number of reservoir units N.
    spectral_radius : float, default=0.9
        Largest absolute eigenvalue of W, set exactly (1e-8 relative). Below
        1 (with leak_rate=1 and tanh) the reservoir forgets its initial
        state: the echo state property in practice.
    leak_rate : float in (0, 1], default=1.0
        a in x(t) = (1 - a) x(t-1) + a f(...): smaller values give slower,
        smoother dynamics and longer memory.
    input_scaling : float or array-like of shape (n_features,), default=1.0
        Half-width of the uniform law of W_in's entries; one value per
        feature scales the features independently.
    bias_scaling : float, default=0.5
        Half-width of the uniform law of the bias b. A non-zero bias breaks
        the odd symmetry of a tanh reservoir.
    density : float in (0, 1], optional
        Fraction of non-zero entries of W (random topology); by default
        min(1, 10 / n_units), ten connections per unit on average. Large
        sparse reservoirs use a CSR product.
    in_degree : int, optional
        Instead of ``density``, a fixed number of incoming connections per unit.
    input_density : float in (0, 1], default=1.0
        Fraction of non-zero entries of W_in.
    topology : {"random", "ring", "delay_line", "orthogonal"}, default="random"
        See :func:`reservoir.initializers.recurrent_weights`.
    distribution : {"normal", "uniform", "bernoulli"}, default="normal"
        Law of W's non-zero entries before rescaling.
    activation : {"tanh", "identity", "relu", "sigmoid"}, default="tanh"
"""

READOUT_PARAMS_DOC = """
    alpha : float, default=1e-6
        Ridge penalty of the default readout (on the sum of squared errors).
    washout : int, default=0
        Steps at the start of each series that are run through the
        reservoir from the zero state but neither train the readout nor
        count in ``score``, while the state forgets its start. Every
        training series must be longer than this.
    readout_features : tuple of str, default=("constant", "input", "state")
        What the readout sees, from "constant" (an unpenalised intercept),
        "input" (u(t)), "state" (x(t)) and "squared_state" (x(t)^2, which
        lets a tanh reservoir fit functions of both signs of a symmetric
        system such as Lorenz-63).
    noise_level : float, default=0.0
        Standard deviation of Gaussian noise added to the pre-activation
        during ``fit`` only; a little noise makes closed-loop runs more stable.
    input_noise : float, default=0.0
        Standard deviation of Gaussian noise added to the inputs during
        ``fit`` only (the reservoir and the readout see the noisy inputs,
        the targets stay clean): the readout learns to pull perturbed states
        back to the data, which keeps long closed-loop forecasts stable
        (Vlachas et al. 2020; Wikner et al. 2024).
"""

ONLINE_READOUT_PARAMS_DOC = """
    readout : RidgeReadout, RLSReadout, LMSReadout or FORCEReadout, optional
        The readout to train, by composition (see :mod:`reservoir.readout`).
        None gives the ridge readout with penalty ``alpha``, solved from
        statistics streamed chunk by chunk; a ``RidgeReadout`` is solved the
        same way with its own ``alpha``. An online readout (``RLSReadout``,
        ``LMSReadout``) is updated step after step, in time order (the steps
        of several series in lockstep); a ``FORCEReadout`` is trained inside
        the closed loop, its own outputs fed back through the feedback
        weights (it needs ``feedback_scaling``). The readout given is cloned,
        never changed; its intercept follows ``readout_features``
        ("constant"). The fitted copy is ``readout_``.
"""

COMMON_TAIL_DOC = """
    random_state : int, numpy.random.Generator or None, default=None
        Seeds every random draw of ``fit``. The weights are drawn on the
        host with NumPy, so the same seed gives the same weights on NumPy and
        CuPy.
    dtype : {"float64", "float32"}, default="float64"
        Precision of the states and outputs, on every backend.
"""


def draw_reservoir(params, n_features, rec_rng, in_rng, bias_rng, *, fb_rng=None, n_feedback=None,
                   W_in=None):
    """A :class:`Reservoir` drawn from the hyperparameters of ``params``.

    ``params`` is any object with the reservoir parameters of the ESN
    estimators as attributes (an estimator, or one layer's values). W comes
    from ``rec_rng``, W_in from ``in_rng`` (unless ``W_in`` is given), the
    bias from ``bias_rng`` and, when ``n_feedback`` is set, W_fb from
    ``fb_rng``.
    """
    W = recurrent_weights(
        params.n_units, spectral_radius=params.spectral_radius, density=params.density,
        in_degree=params.in_degree, distribution=params.distribution, topology=params.topology,
        random_state=rec_rng,
    )
    if W_in is None:
        W_in = input_weights(params.n_units, n_features, input_scaling=params.input_scaling,
                             density=params.input_density, random_state=in_rng)
    bias = bias_vector(params.n_units, bias_scaling=params.bias_scaling, random_state=bias_rng)
    W_fb = None
    if n_feedback is not None:
        W_fb = feedback_weights(params.n_units, n_feedback,
                                feedback_scaling=params.feedback_scaling, random_state=fb_rng)
    return Reservoir(W, W_in, bias, W_fb=W_fb, leak_rate=params.leak_rate,
                     activation=params.activation, dtype=params.dtype)


def training_steps(t0, c, lengths, washout, offsets=None):
    """(n_series, c) host booleans: the steps of a chunk that train the readout.

    Step t of series i trains when it lies before the series' end
    (t < lengths[i]) and after the washout of the stream it belongs to:
    ``offsets[i] + t >= washout``, ``offsets[i]`` being the steps of series
    i already consumed by earlier calls of ``partial_fit`` (zeros for
    ``fit``), so that the washout is counted once, from the zero state.
    """
    t = np.arange(t0, t0 + c)[None, :]
    lengths = np.asarray(lengths)[:, None]
    offsets = np.zeros_like(lengths) if offsets is None else np.asarray(offsets)[:, None]
    return (t + offsets >= washout) & (t < lengths)


class ReservoirEstimatorBase(SequenceEstimatorMixin, BaseEstimator):
    """Parameters, validation and weight drawing shared by the ESN estimators."""

    def _validate_reservoir_params(self):
        check_interval("n_units", self.n_units, low=1, integer=True)
        check_interval("spectral_radius", self.spectral_radius, low=0, low_inclusive=False)
        check_interval("leak_rate", self.leak_rate, low=0, high=1, low_inclusive=False)
        check_interval("bias_scaling", self.bias_scaling, low=0)
        check_interval("input_density", self.input_density, low=0, high=1, low_inclusive=False)
        check_interval("washout", self.washout, low=0, integer=True)
        if self.in_degree is None:
            check_interval("density", self.density, low=0, high=1, low_inclusive=False,
                           allow_none=True)
        else:
            check_interval("in_degree", self.in_degree, low=1, high=self.n_units, integer=True)
        for name, value, allowed in (
            ("activation", self.activation, ACTIVATIONS),
            ("topology", self.topology, TOPOLOGIES),
            ("distribution", self.distribution, DISTRIBUTIONS),
        ):
            if value not in allowed:
                raise ValueError(f"{name} must be one of {allowed}, got {value!r}")
        scaling = np.asarray(self.input_scaling, dtype=object)
        if scaling.ndim > 1 or not all(
            isinstance(v, numbers.Real) and not isinstance(v, bool) and np.isfinite(v) and v >= 0
            for v in scaling.ravel()
        ):
            raise ValueError(
                "input_scaling must be a non-negative number or a 1-D array of one per feature, "
                f"got {self.input_scaling!r}"
            )
        resolve_dtype(self.dtype, np)

    def _blas_units(self):
        # The width of the ridge statistics, whose solve (F^3) is the largest
        # dense product: all layers' units for the deep ESN (one value or one
        # per layer), times the state features the readout reads (the inputs'
        # few columns aside), both directions for a bidirectional classifier.
        units = self.n_units
        layers = getattr(self, "n_layers", 1)
        features = getattr(self, "readout_features", ("state",))
        try:
            total = int(sum(units)) if isinstance(units, (list, tuple)) else int(units) * int(layers)
            parts = max(1, ("state" in features) + ("squared_state" in features))
        except (TypeError, ValueError):
            return None  # invalid parameters: fit reports them
        return total * parts * (2 if getattr(self, "bidirectional", False) else 1)

    def _draw_reservoir(self, n_features, rng, *, n_feedback=None):
        """Draw the weights on the host and build ``reservoir_`` (and W_, W_in_, bias_, W_fb_).

        Each matrix comes from its own child generator, so W does not change
        when the number of inputs does, and NumPy and CuPy fits with the same
        seed use bit-identical weights. The fifth child seeds the training
        noise.
        """
        rec_rng, in_rng, bias_rng, fb_rng, self._noise_rng = rng.spawn(5)
        self.reservoir_ = draw_reservoir(self, n_features, rec_rng, in_rng, bias_rng,
                                         fb_rng=fb_rng, n_feedback=n_feedback)
        W_fb = self.reservoir_.W_fb
        self.W_, self.W_in_, self.bias_ = self.reservoir_.W, self.reservoir_.W_in, self.reservoir_.bias
        if W_fb is not None:
            self.W_fb_ = self.reservoir_.W_fb
        elif hasattr(self, "W_fb_"):
            del self.W_fb_  # left by an earlier fit with feedback
        return self.reservoir_

    def _target_dtype(self, xp):
        return resolve_dtype(self.dtype, xp)

    # The schema of the fitted state, checked by reservoir.load (see
    # reservoir._schema): each model checks its parameters with the checks
    # of its fit, then its attributes in the sizes of its reservoir(s).

    def _check_params(self):
        """The parameter checks of ``fit``."""
        self._validate_reservoir_params()

    def _check_consistency(self):
        """Raise a ValueError unless parameters and fitted state agree (what load checks)."""
        from ._schema import StateCheck

        self._check_params()
        check = StateCheck(self)
        if not check.together("n_features_in_", "_noise_rng", self._reservoirs_attribute):
            return
        check.features_in()
        self._check_reservoirs(check)
        self._check_fitted(check, np.dtype(resolve_dtype(self.dtype, np)))

    #: Where the fit keeps its reservoir(s).
    _reservoirs_attribute = "reservoir_"

    def _check_reservoirs(self, check):
        """``reservoir_`` for ``n_features_in_`` inputs, and its aliases; sets ``state_size``."""
        res = check.instance("reservoir_", Reservoir)
        check.integer("reservoir_.n_features", equal=check.sizes["n_features_in_"],
                      value=res.n_features)
        check.sizes["state_size"] = res.n_units
        for name, attr in (("W_", "W"), ("W_in_", "W_in"), ("bias_", "bias"), ("W_fb_", "W_fb")):
            if hasattr(self, name) or (attr == "W_fb" and res.W_fb is not None):
                check.same(name, f"reservoir_.{attr}")

    def _check_fitted(self, check, dtype):
        """The attributes of a fit beyond the reservoir (the end of the fitted data)."""
        self._check_fit_end(check, dtype=dtype, targets=False)

    # The state machinery every ESN estimator runs through. A model of
    # several reservoirs (the deep ESN) overrides these five and inherits
    # everything else: training, prediction, classification, closed loop.

    def _draw(self, n_features, rng, *, n_feedback=None):
        """Draw the model's reservoir(s) from ``rng``."""
        return self._draw_reservoir(n_features, rng, n_feedback=n_feedback)

    def _state_size(self):
        """Length of the model's state vector (what ``initial_state`` arrays hold)."""
        return self.reservoir_.n_units

    def _run_states(self, inputs, initial_state=None, *, previous_outputs=None, noise=None):
        """Stream the states of a padded batch: (t0, states (n_series, c, state size))."""
        return self.reservoir_.iter_states(inputs, initial_state, previous_outputs=previous_outputs,
                                           noise=noise)

    def _final_states(self, inputs, lengths, initial_state=None, *, previous_outputs=None):
        """State after step ``lengths[i] - 1`` of each series, (n_series, state size)."""
        return self.reservoir_.final_states(inputs, lengths, initial_state,
                                            previous_outputs=previous_outputs)

    def _generate(self, n_steps, readout, initial_state, previous_output, *, inputs=None):
        """The closed loop of :meth:`reservoir.Reservoir.generate` on the model's state."""
        return self.reservoir_.generate(n_steps, readout=readout, initial_state=initial_state,
                                        previous_output=previous_output, inputs=inputs)

    def _continue_state(self, initial_state, batch):
        xp = batch.xp
        return self._start_state(initial_state, batch, size=self._state_size(), xp=xp,
                                 dtype=self._target_dtype(xp))


class ReadoutEstimatorBase(ReservoirEstimatorBase):
    """A reservoir with a trained ridge readout: shared by regressor and classifier."""

    def _validate_readout_params(self):
        self._validate_reservoir_params()
        check_interval("alpha", self.alpha, low=0)
        check_interval("noise_level", self.noise_level, low=0)
        check_interval("input_noise", self.input_noise, low=0)
        return check_readout_features(self.readout_features)

    def _check_params(self):
        self._validate_readout_params()

    def _check_readout(self, check, dtype):
        """``readout_`` on this model's readout features, in the model's dtype; sets ``n_outputs``."""
        features = check.instance("_readout_features_", tuple)
        try:
            check_readout_features(features)
        except ValueError as exc:
            check.fail("_readout_features_", "a valid tuple of readout features", exc)
        readout = check.instance("readout_", (RidgeReadout, OnlineReadout))
        check.integer("readout_.n_features_in_", equal=self._n_features_out(features),
                      value=readout.n_features_in_)
        check.sizes["n_outputs"] = check.integer("n_outputs_", low=1)
        coef = readout.coef_
        n_outputs = 1 if coef.ndim == 1 else int(coef.shape[0])
        check.integer("readout_.coef_.shape[0]", equal=check.sizes["n_outputs"], value=n_outputs)
        check.choice("readout_.coef_.dtype", (dtype,), value=coef.dtype)
        check.empty("_readout_functions")

    #: What the fit of the readout sets besides ``readout_`` and its features.
    _readout_attributes = ("n_outputs_",)

    def _check_fitted(self, check, dtype):
        if check.together("readout_", "_readout_features_", "_readout_functions",
                          *self._readout_attributes):
            self._check_readout(check, dtype)
        elif hasattr(self, "_final_state"):
            # Every step so far was in the washout: no readout yet.
            check.sizes["n_outputs"] = int(check.array("_final_target", (None, None),
                                                       dtype=dtype).shape[1])
        if hasattr(self, "readout_") or hasattr(self, "_final_state"):
            self._check_fit_end(check, dtype=dtype)

    def _noise(self, xp, dtype, like):
        """Pre-activation noise for fit, drawn on the host per chunk and moved once."""
        if not self.noise_level:
            return None
        rng = self._noise_rng

        def draw(t0, shape):
            host = rng.standard_normal(shape) * float(self.noise_level)
            return to_namespace(host, xp, dtype=dtype, **device_kwargs(like, xp))

        return draw

    def _training_inputs(self, data, dtype):
        """The inputs ``fit`` runs on: the data, plus ``input_noise`` when set."""
        if not self.input_noise:
            return data
        xp = get_namespace(data)
        # A child of the noise generator, so the pre-activation noise does not
        # change when input noise is switched on.
        host = self._noise_rng.spawn(1)[0].standard_normal(tuple(data.shape))
        return data + to_namespace(host * float(self.input_noise), xp, dtype=dtype,
                                   **device_kwargs(data, xp))

    def _n_features_out(self, features):
        """Width of the readout's feature vector for this model's state."""
        return n_readout_features(features, self.n_features_in_, self._state_size())

    def _accumulator(self, features, n_outputs, like):
        xp = get_namespace(like)
        return GramAccumulator(
            self._n_features_out(features), n_outputs,
            xp, fit_intercept="constant" in features, **device_kwargs(like, xp))

    def _accumulate_steps(self, accumulator, inputs, lengths, S, Y, t0, features, offsets=None):
        """Add one chunk's training steps (after the washout, before each end) to the readout."""
        xp = get_namespace(S)
        c = S.shape[1]
        index = np.flatnonzero(training_steps(t0, c, lengths, self.washout, offsets))
        if index.size:
            F = readout_features(inputs[:, t0:t0 + c, :], S, features)
            accumulator.update(take_rows(F, index, xp), take_rows(Y[:, t0:t0 + c, :], index, xp))

    def _new_readout(self, features):
        """A fresh copy of the readout to train: the ridge default, or a clone of ``readout``."""
        from sklearn.base import clone

        readout = getattr(self, "readout", None)
        fit_intercept = "constant" in features
        if readout is None:
            return RidgeReadout(alpha=self.alpha, fit_intercept=fit_intercept)
        if not isinstance(readout, (RidgeReadout, OnlineReadout)):
            raise TypeError(
                "readout must be None, a RidgeReadout or an online readout (RLSReadout, "
                f"LMSReadout, FORCEReadout) of reservoir.readout, got {readout!r}")
        readout = clone(readout).set_params(fit_intercept=fit_intercept)
        if isinstance(readout, RidgeReadout):
            check_interval("alpha", readout.alpha, low=0)
        else:
            readout._validate_params()
        return readout

    def _finish_fit(self, accumulator, features, *, n_outputs, y_one_d, dtype, readout=None):
        if readout is None:
            readout = RidgeReadout(alpha=self.alpha, fit_intercept="constant" in features)
        if isinstance(readout, OnlineReadout):
            readout._publish(dtype)
        else:
            readout.fit_statistics(accumulator, dtype=dtype, y_one_d=y_one_d)
        self.readout_ = readout
        self._readout_features_ = features
        self._readout_functions = {}
        self.n_outputs_ = n_outputs

    @host_blas_policy
    def ridge_path(self, alphas):
        """Copies of this fitted model whose ridge readouts are re-solved for each penalty.

        The reservoir's states are harvested once, in ``fit``; every penalty
        is then solved from the kept statistics with one eigendecomposition
        of their Gram matrix (:meth:`reservoir.readout.RidgeReadout.ridge_path`),
        so a search over ``alpha`` costs no further pass over the data. Each
        copy shares the reservoir, the fitted data's end state and the
        statistics with this model, and has its own ``alpha`` (or its
        ``readout``'s) set, so ``get_params`` describes it.

        Parameters
        ----------
        alphas : sequence of float
            Non-negative ridge penalties.

        Returns
        -------
        list of fitted estimators of this class, one per penalty

        Examples
        --------
        >>> import numpy as np
        >>> from reservoir import ESNRegressor
        >>> series = np.sin(0.1 * np.arange(2001))[:, None]
        >>> esn = ESNRegressor(n_units=50, washout=100, random_state=0)
        >>> esn = esn.fit(series[:1500], series[1:1501])
        >>> models = esn.ridge_path([1e-8, 1e-2, 10.0])
        >>> [m.alpha for m in models]
        [1e-08, 0.01, 10.0]
        >>> continued = [m.predict(series[1500:-1], initial_state="continue") for m in models]
        >>> errors = [float(np.abs(p - series[1501:]).max()) for p in continued]
        >>> errors[0] < errors[2]
        True
        """
        import copy

        from sklearn.base import clone
        from sklearn.utils.validation import check_is_fitted

        check_is_fitted(self)
        if not isinstance(self.readout_, RidgeReadout):
            raise TypeError(
                "ridge_path re-solves a ridge readout from its statistics; this model's readout "
                f"is a {type(self.readout_).__name__}"
            )
        models = []
        for readout in self.readout_.ridge_path(alphas):
            model = copy.copy(self)
            if getattr(self, "readout", None) is None:
                model.alpha = readout.alpha
            else:
                model.readout = clone(self.readout).set_params(alpha=readout.alpha)
            model.readout_ = readout
            model._readout_functions = {}
            models.append(model)
        return models

    def readout_function(self, like=None):
        """The fitted readout as a function ``(states, inputs) -> outputs``.

        Its coefficients live on the namespace and device of ``like`` (of the
        fitted data when None), in the model's dtype, ready for
        :meth:`reservoir.Reservoir.generate` and custom closed loops.
        Outputs have shape (..., n_outputs), whatever the shape of y in fit.

        Parameters
        ----------
        like : array, optional

        Returns
        -------
        reservoir.readout.ReadoutFunction
        """
        from sklearn.utils.validation import check_is_fitted

        check_is_fitted(self)
        like = self.readout_.coef_ if like is None else like
        xp = get_namespace(like)
        key = (xp.__name__, repr(device_kwargs(like, xp).get("device")))
        cached = self._readout_functions.get(key)
        if cached is None:
            cached = self._readout_functions[key] = ReadoutFunction(
                self.readout_.coef_, self.readout_.intercept_, self._readout_features_,
                like=like, dtype=self._target_dtype(xp))
        return cached

    def __getstate__(self):
        # Readout functions hold namespace-bound copies; rebuilt on first use.
        state = dict(super().__getstate__())
        if "_readout_functions" in state:
            state["_readout_functions"] = {}
        return state
