"""Deep echo state networks: stacked reservoirs (Gallicchio & Micheli 2017).

Layer 1 reads the input; layer l > 1 reads the states of layer l - 1 of the
same time step (and, optionally, the input too):

    x1(t) = (1 - a1) x1(t-1) + a1 f(W1 x1(t-1) + W_in1 u(t) + b1)
    xl(t) = (1 - al) xl(t-1) + al f(Wl xl(t-1) + W_interl x(l-1)(t) [+ W_inl u(t)] + bl)

and the readout sees all layers' states, [u(t); x1(t); ...; xL(t)]. Each
layer is a :class:`reservoir.Reservoir`: open-loop runs stream the input
through the layers chunk by chunk (``iter_states`` of each layer on the
chunk below), and the closed loop is the first layer's
:meth:`reservoir.Reservoir.generate` with a readout that advances the
upper layers one :meth:`reservoir.Reservoir.step` each, so no new loop over
time is written. The model's state is the layers' states concatenated.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from ._backend import get_namespace
from ._esn_base import (
    COMMON_TAIL_DOC,
    ONLINE_READOUT_PARAMS_DOC,
    READOUT_PARAMS_DOC,
    ReservoirEstimatorBase,
    draw_reservoir,
)
from ._rows import StepCollector
from ._states import chunk_length
from ._validation import check_interval
from .classifier import ESNClassifier
from .esn import ESNRegressor
from .initializers import input_weights
from .runtime import Reservoir

__all__ = ["DeepESNClassifier", "DeepESNRegressor"]

# Parameters that take one value per layer (a list or tuple of n_layers) or
# one value for every layer.
LAYER_PARAMS = ("n_units", "spectral_radius", "leak_rate", "bias_scaling", "density", "in_degree",
                "topology", "distribution", "inter_scaling")
# Parameters shared by every layer.
_SHARED = ("input_scaling", "input_density", "activation", "dtype", "washout")

DEEP_PARAMS_DOC = """
    n_layers : int, default=2
        Number of stacked reservoirs L.
    n_units : int or list of int, default=100
        Units per layer (one value for every layer, or one per layer).
    spectral_radius, leak_rate, bias_scaling, density, in_degree, topology,
    distribution : one value, or a list of one value per layer
        As for :class:`reservoir.ESNRegressor`, layer by layer. Smaller leak
        rates in higher layers give them slower time scales, the usual
        design of a deep ESN (Gallicchio, Micheli & Pedrelli 2017).
    inter_scaling : float or list of float, default=1.0
        Half-width of the uniform law of the weights from layer l - 1 to
        layer l (the value for layer 1 is not used).
    input_scaling : float or array-like of shape (n_features,), default=1.0
        Of the input weights of layer 1, and of every layer with
        ``input_to_all_layers``.
    input_density : float in (0, 1], default=1.0
        Fraction of non-zero input and inter-layer weights.
    input_to_all_layers : bool, default=False
        Feed the input to every layer, besides the layer below.
    activation : {"tanh", "identity", "relu", "sigmoid"}, default="tanh"
"""


class _LayeredStates:
    """The state machinery of stacked reservoirs, for the ESN estimators' hooks.

    Overrides the five hooks of :class:`reservoir._esn_base.ReservoirEstimatorBase`
    (``_draw``, ``_state_size``, ``_run_states``, ``_final_states``,
    ``_generate``) and the validation of the per-layer parameters; training,
    prediction, scoring and forecasting are the ESN estimators' own.
    """

    def _layer(self, i):
        """Layer i's hyperparameters as an object with the ESN parameter names."""
        values = {}
        for name in LAYER_PARAMS:
            value = getattr(self, name)
            values[name] = value[i] if isinstance(value, (list, tuple)) else value
        for name in _SHARED:
            values[name] = getattr(self, name)
        values["feedback_scaling"] = None
        return SimpleNamespace(**values)

    def _validate_reservoir_params(self):
        check_interval("n_layers", self.n_layers, low=1, integer=True)
        for name in LAYER_PARAMS:
            value = getattr(self, name)
            if isinstance(value, (list, tuple)) and len(value) != self.n_layers:
                raise ValueError(f"{name} must be one value or a list of n_layers={self.n_layers} "
                                 f"values, got {len(value)} values: {value!r}")
        if not isinstance(self.input_to_all_layers, (bool, np.bool_)):
            raise TypeError(f"input_to_all_layers must be a bool, got {self.input_to_all_layers!r}")
        # Layers differ only where a parameter is a list (of n_layers values);
        # otherwise the first stands for all.
        distinct = any(isinstance(getattr(self, name), (list, tuple)) for name in LAYER_PARAMS)
        for i in range(self.n_layers if distinct else 1):
            layer = self._layer(i)
            try:
                ReservoirEstimatorBase._validate_reservoir_params(layer)
                check_interval("inter_scaling", layer.inter_scaling, low=0)
            except (TypeError, ValueError) as exc:
                raise type(exc)(f"layer {i + 1}: {exc}") from None

    _reservoirs_attribute = "reservoirs_"

    def _check_reservoirs(self, check):
        """``reservoirs_``: each layer reads the one below (and the inputs with
        ``input_to_all_layers``); no feedback. Sets ``state_size``."""
        layers = check.instance("reservoirs_", list)
        below = check.sizes["n_features_in_"]
        if not layers:
            check.fail("reservoirs_", "a list of at least one Reservoir", "an empty list")
        for i, res in enumerate(layers):
            name = f"reservoirs_[{i}]"
            check.instance(name, Reservoir, value=res)
            inputs = below + (check.sizes["n_features_in_"]
                              if i and self.input_to_all_layers else 0)
            check.integer(f"{name}.n_features", equal=inputs, value=res.n_features)
            check.choice(f"{name}.W_fb", (None,), value=res.W_fb)
            below = res.n_units
        check.sizes["state_size"] = self._state_size()

    def _draw(self, n_features, rng, *, n_feedback=None):
        """Draw ``reservoirs_``; layer 1 exactly as :class:`reservoir.ESNRegressor` draws its one.

        The first five children of the generator are those of the ESN (W,
        W_in, bias, feedback, noise), so a one-layer deep ESN has the ESN's
        weights; each further layer draws from a child of its own.
        """
        rec_rng, in_rng, bias_rng, _, self._noise_rng = rng.spawn(5)
        first = self._layer(0)
        reservoirs = [draw_reservoir(first, n_features, rec_rng, in_rng, bias_rng)]
        for i, child in enumerate(rng.spawn(self.n_layers - 1), start=1):
            layer = self._layer(i)
            rec_rng, inter_rng, bias_rng, in_rng = child.spawn(4)
            below = reservoirs[-1].n_units
            W_in = input_weights(layer.n_units, below, input_scaling=layer.inter_scaling,
                                 density=layer.input_density, random_state=inter_rng)
            if self.input_to_all_layers:
                W_u = input_weights(layer.n_units, n_features, input_scaling=layer.input_scaling,
                                    density=layer.input_density, random_state=in_rng)
                W_in = np.concatenate([np.asarray(_dense(W_in)), np.asarray(_dense(W_u))], axis=1)
            reservoirs.append(draw_reservoir(layer, below, rec_rng, None, bias_rng, W_in=W_in))
        self.reservoirs_ = reservoirs
        return reservoirs

    def _state_size(self):
        return sum(r.n_units for r in self.reservoirs_)

    def _split(self, state):
        """A state (n_series, total) as the layers' states, or a list of None."""
        if state is None:
            return [None] * len(self.reservoirs_)
        parts, start = [], 0
        for r in self.reservoirs_:
            parts.append(state[:, start:start + r.n_units])
            start += r.n_units
        return parts

    def _layer_inputs(self, below, u):
        xp = get_namespace(below)
        return xp.concat([below, u], axis=-1) if self.input_to_all_layers else below

    def _run_states(self, inputs, initial_state=None, *, previous_outputs=None, noise=None):
        if previous_outputs is not None:
            raise ValueError("a deep ESN has no output feedback")
        xp = get_namespace(inputs)
        states = self._split(initial_state)
        T = int(inputs.shape[1])
        step = chunk_length(int(inputs.shape[0]), self._state_size())
        for t0 in range(0, T, step):
            u = inputs[:, t0:min(t0 + step, T), :]
            c = int(u.shape[1])
            below, parts = u, []
            for i, res in enumerate(self.reservoirs_):
                layer_in = u if i == 0 else self._layer_inputs(below, u)
                layer_noise = None if noise is None else (lambda _t, shape, t0=t0: noise(t0, shape))
                ((_, S),) = res.iter_states(layer_in, states[i], noise=layer_noise, chunk_size=c)
                states[i] = S[:, -1, :]
                parts.append(S)
                below = S
            yield t0, parts[0] if len(parts) == 1 else xp.concat(parts, axis=-1)

    def _final_states(self, inputs, lengths, initial_state=None, *, previous_outputs=None):
        xp = get_namespace(inputs)
        x0 = (initial_state if initial_state is not None
              else xp.zeros((int(inputs.shape[0]), self._state_size()), dtype=inputs.dtype))
        last = StepCollector(np.asarray(lengths) - 1)
        last.update(xp.expand_dims(x0, axis=1), -1, xp)
        if max(lengths) > 0:
            for t0, S in self._run_states(inputs[:, :max(lengths), :], x0):
                last.update(S, t0, xp)
        return last.result(xp)

    def _generate(self, n_steps, readout, initial_state, previous_output, *, inputs=None):
        states = self._split(initial_state)
        # One layer: the readout itself, so that the loop is the ESN's (fused
        # when it can be) and one layer stays exactly an ESNRegressor.
        stacked = readout if len(states) == 1 else _StackedReadout(self, states[1:], readout)
        out, first = self.reservoirs_[0].generate(n_steps, readout=stacked,
                                                   initial_state=states[0],
                                                   previous_output=previous_output, inputs=inputs)
        xp = get_namespace(first)
        final = first if len(states) == 1 else xp.concat([first, *stacked.states], axis=-1)
        return out, final

    def _step_state(self, u, state, previous_output):
        xp = get_namespace(u)
        one = u.ndim == 1
        U = xp.reshape(u, (1, -1)) if one else u
        if state is not None and not hasattr(state, "shape"):
            state = xp.asarray(state)
        states = self._split(None if state is None else xp.reshape(state, (int(U.shape[0]), -1)))
        below, parts = U, []
        for i, res in enumerate(self.reservoirs_):
            x = res.step(U if i == 0 else self._layer_inputs(below, xp.astype(U, below.dtype)),
                         states[i])
            parts.append(x)
            below = x
        x = parts[0] if len(parts) == 1 else xp.concat(parts, axis=-1)
        return x[0, ...] if one else x


def _dense(M):
    return M.toarray() if hasattr(M, "toarray") else M


class _StackedReadout:
    """The readout of the first layer's closed loop: steps the upper layers, then reads all.

    Called by :meth:`reservoir.Reservoir.generate` once per step with the
    first layer's state x1(t) and the input u(t); advances layers 2 .. L by
    one step each and returns the model's readout of [x1(t); ...; xL(t)].
    """

    def __init__(self, model, states, readout):
        self.model = model
        self.states = states
        self.readout = readout

    def __call__(self, first, u):
        xp = get_namespace(first)
        below, parts = first, [first]
        for i, res in enumerate(self.model.reservoirs_[1:]):
            state = res.step(self.model._layer_inputs(below, xp.astype(u, below.dtype)),
                             self.states[i])
            self.states[i] = state
            parts.append(state)
            below = state
        full = parts[0] if len(parts) == 1 else xp.concat(parts, axis=-1)
        return self.readout(full, u)


class DeepESNRegressor(_LayeredStates, ESNRegressor):
    __doc__ = f"""Deep echo state network regressor: stacked reservoirs, one readout on all layers.

    Gallicchio & Micheli (2017), "Deep echo state network (DeepESN): a brief
    survey" (arXiv:1712.04323); Gallicchio, Micheli & Pedrelli (2017),
    Neurocomputing 268, 87-99. Layer 1 reads the input u(t), layer l the
    states of layer l - 1 at the same step (and u(t) with
    ``input_to_all_layers``); each layer is a leaky-integrator reservoir
    with its own hyperparameters. The readout is trained on [u(t); x1(t);
    ...; xL(t)], by ridge regression or an online readout
    (``readout``), exactly as in :class:`reservoir.ESNRegressor`, whose
    interface this is: ``fit``, ``partial_fit``, ``predict``, ``score``,
    ``forecast`` (closed loop), ``step``, the ``initial_state`` rules and the
    washout. The model's state is the layers' states concatenated, of size
    sum(n_units). With ``n_layers=1`` it is :class:`reservoir.ESNRegressor`
    with the same seed, to the last bit. Deep ESNs have no output feedback.

    Parameters
    ----------{DEEP_PARAMS_DOC}{READOUT_PARAMS_DOC}{ONLINE_READOUT_PARAMS_DOC}{COMMON_TAIL_DOC}
    Attributes
    ----------
    reservoirs_ : list of Reservoir
        The layers, bottom first.
    readout_ : RidgeReadout or online readout
    final_state_ : array of shape (sum(n_units),), or (n_series, sum(n_units))
    n_features_in_ : int
    n_outputs_ : int

    Examples
    --------
    >>> import numpy as np
    >>> from reservoir import DeepESNRegressor
    >>> t = np.arange(2000) * 0.05
    >>> series = np.sin(t)[:, None]
    >>> deep = DeepESNRegressor(n_layers=3, n_units=50, leak_rate=[1.0, 0.5, 0.25],
    ...                         washout=100, random_state=0).fit(series[:-1], series[1:])
    >>> deep.final_state_.shape
    (150,)
    >>> forecast = deep.forecast(50)
    >>> float(np.max(np.abs(forecast[:, 0] - np.sin(t[-1] + 0.05 * np.arange(1, 51))))) < 1e-2
    True
    """

    def __init__(self, n_layers=2, *, n_units=100, spectral_radius=0.9, leak_rate=1.0,
                 input_scaling=1.0, inter_scaling=1.0, bias_scaling=0.5, density=None,
                 in_degree=None, input_density=1.0, topology="random", distribution="normal",
                 activation="tanh", input_to_all_layers=False, alpha=1e-6, washout=0,
                 readout_features=("constant", "input", "state"), noise_level=0.0,
                 input_noise=0.0, readout=None, random_state=None, dtype="float64"):
        self.n_layers = n_layers
        self.n_units = n_units
        self.spectral_radius = spectral_radius
        self.leak_rate = leak_rate
        self.input_scaling = input_scaling
        self.inter_scaling = inter_scaling
        self.bias_scaling = bias_scaling
        self.density = density
        self.in_degree = in_degree
        self.input_density = input_density
        self.topology = topology
        self.distribution = distribution
        self.activation = activation
        self.input_to_all_layers = input_to_all_layers
        self.alpha = alpha
        self.washout = washout
        self.readout_features = readout_features
        self.noise_level = noise_level
        self.input_noise = input_noise
        self.readout = readout
        self.random_state = random_state
        self.dtype = dtype

    def __sklearn_is_fitted__(self):
        return hasattr(self, "readout_")


class DeepESNClassifier(_LayeredStates, ESNClassifier):
    __doc__ = f"""Deep echo state network classifier, per time step or per series.

    The stacked reservoirs of :class:`reservoir.DeepESNRegressor` under the
    readout, labels, pooling and scoring of :class:`reservoir.ESNClassifier`
    (``bidirectional`` included: each run, forward and reversed, goes
    through every layer). With ``n_layers=1`` it is
    :class:`reservoir.ESNClassifier` with the same seed.

    Parameters
    ----------{DEEP_PARAMS_DOC}{READOUT_PARAMS_DOC}
    pooling : {{"mean", "last"}}, default="mean"
    bidirectional : bool, default=False
{COMMON_TAIL_DOC}
    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
    reservoirs_ : list of Reservoir
    readout_ : RidgeReadout
    n_features_in_ : int

    Examples
    --------
    >>> import numpy as np
    >>> from reservoir import DeepESNClassifier
    >>> rng = np.random.default_rng(0)
    >>> t = np.linspace(0, 8 * np.pi, 100)[:, None]
    >>> X = [np.sin(t * (1 + k % 2)) + 0.1 * rng.standard_normal(t.shape) for k in range(40)]
    >>> y = np.array([k % 2 for k in range(40)])
    >>> clf = DeepESNClassifier(n_layers=2, n_units=30, washout=10, random_state=0)
    >>> float(clf.fit(X[:30], y[:30]).score(X[30:], y[30:]))
    1.0
    """

    def __init__(self, n_layers=2, *, n_units=100, spectral_radius=0.9, leak_rate=1.0,
                 input_scaling=1.0, inter_scaling=1.0, bias_scaling=0.5, density=None,
                 in_degree=None, input_density=1.0, topology="random", distribution="normal",
                 activation="tanh", input_to_all_layers=False, alpha=1e-6, washout=0,
                 readout_features=("constant", "input", "state"), noise_level=0.0,
                 input_noise=0.0, pooling="mean", bidirectional=False, random_state=None,
                 dtype="float64"):
        self.n_layers = n_layers
        self.n_units = n_units
        self.spectral_radius = spectral_radius
        self.leak_rate = leak_rate
        self.input_scaling = input_scaling
        self.inter_scaling = inter_scaling
        self.bias_scaling = bias_scaling
        self.density = density
        self.in_degree = in_degree
        self.input_density = input_density
        self.topology = topology
        self.distribution = distribution
        self.activation = activation
        self.input_to_all_layers = input_to_all_layers
        self.alpha = alpha
        self.washout = washout
        self.readout_features = readout_features
        self.noise_level = noise_level
        self.input_noise = input_noise
        self.pooling = pooling
        self.bidirectional = bidirectional
        self.random_state = random_state
        self.dtype = dtype
