"""Parameters, training and inference shared by the recurrent regressors and classifiers."""

from __future__ import annotations

import numbers

import numpy as np
from sklearn.base import BaseEstimator

from .._backend import device_kwargs, get_namespace, resolve_dtype, to_numpy
from .._base import SequenceEstimatorMixin
from .._validation import check_generator, check_interval
from ._cells import make_cell
from ._network import (
    NetworkSpec,
    initialize_parameters,
    parameters_to_namespace,
    run_network,
    state_from_array,
)
from ._optimizers import LEARNING_RATE_SCHEDULES, SOLVERS
from ._rtrl import check_rtrl
from ._training import TrainingConfig, TrainingData, train

__all__ = ["ATTRIBUTES_DOC", "GRADIENTS", "PARAMS_DOC", "RecurrentNetworkBase", "check_bool",
           "store_arguments"]

GRADIENTS = ("bptt", "rtrl")


def store_arguments(estimator, arguments):
    """Set every argument of ``__init__`` (its ``locals()``) on the estimator, unchanged."""
    for name, value in arguments.items():
        if name not in ("self", "__class__"):
            setattr(estimator, name, value)


PARAMS_DOC = """
    n_units : int, default=32
        Hidden units per recurrent layer (and direction).
    n_layers : int, default=1
        Stacked recurrent layers; each reads the hidden states of the one below.
    bidirectional : bool, default=False
        Each layer also runs over the reversed series and outputs both
        directions' states side by side (Schuster & Paliwal 1997). Every
        output then depends on the whole series: for offline tasks only
        (no ``forecast``, no ``initial_state="continue"``, no ``bptt_steps``).
    washout : int, default=0
        Steps at the start of every training window (and of every series) that
        are run through the network but left out of the loss, while the state
        forgets its zero start. Every training series must be longer than this.
    sequence_length : int or None, default=100
        Length of the training windows for per-step targets: longer series
        are cut into windows of this many steps, each started from the zero
        state. None trains on whole series.
    window_stride : int or None, default=None
        Steps between the starts of consecutive windows (a new random offset
        each epoch). None: a quarter of ``sequence_length - washout``, so
        that windows overlap and every step is seen in four windows per
        epoch, at different distances from a window's start.
    batch_size : int, default=16
        Windows per mini-batch.
    bptt_steps : int or None, default=None
        Update the weights every this many steps of a window: the window is
        processed in chunks, the state carried across them. With
        ``gradient="bptt"`` the gradient stops at the chunk boundaries
        (truncated backpropagation through time); with ``"rtrl"`` it does
        not. None: one update per window.
    gradient : {"bptt", "rtrl"}, default="bptt"
        How the gradient is computed: backpropagation through time, or
        real-time recurrent learning (Williams & Zipser 1989; forward-mode
        sensitivities, the same gradient; for one unidirectional Elman or
        IndRNN layer; O(n^4) per step for Elman, O(n^2) for IndRNN).
    solver : {"adam", "sgd"}, default="adam"
        Adam (Kingma & Ba 2015) or stochastic gradient descent with momentum.
    learning_rate_init : float, default=3e-3
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
    weight_decay : float, default=0.0
        Decoupled weight decay (Loshchilov & Hutter 2019): every update also
        shrinks the weight matrices (not the biases) by
        ``learning_rate * weight_decay`` times themselves.
    dropout : float in [0, 1), default=0.0
        Dropout on the hidden states that the layer above or the readout
        reads, with one mask per sequence for all its time steps (Gal &
        Ghahramani 2016); training only.
    input_dropout : float in [0, 1), default=0.0
        The same on the input features.
    zoneout : float in [0, 1), default=0.0
        Probability that a unit keeps its previous value (h, and c for the
        LSTM) at a training step (Krueger et al. 2017); at inference every
        unit moves by the expected fraction 1 - zoneout.
    spectral_radius : float, default=1.0
        Spectral radius of the initial recurrent weights (each gate block is
        an orthogonal matrix times this; for IndRNN the largest recurrent
        weight). Above 1 the gradient through time explodes at
        initialisation, below it vanishes faster.
    max_iter : int, default=300
        Maximum number of epochs (passes over all training windows).
    tol : float, default=1e-4
        Improvement of the training loss (or validation score) below which an
        epoch counts as no improvement.
    n_iter_no_change : int, default=30
        Training stops after this many consecutive epochs without improvement.
    early_stopping : bool, default=False
        Hold out a validation set (the last ``validation_fraction`` of every
        series, a split in time; for per-series labels, that fraction of the
        series), stop when its score (R^2, or accuracy) stops improving, and
        keep the weights of the best epoch.
    validation_fraction : float in (0, 1), default=0.1
        Fraction held out with ``early_stopping``.
    random_state : int, numpy.random.Generator or None, default=None
        Seeds the initial weights (drawn on the host with NumPy, so NumPy and
        CuPy fits start from the same weights), the window offsets, the
        shuffling and the dropout and zoneout masks.
    dtype : {"float64", "float32"}, default="float64"
        Precision of the weights, the training and the outputs.
    verbose : bool, default=False
        Show a progress bar over epochs (tqdm) with the current loss.
"""

ATTRIBUTES_DOC = """
    params_ : dict of str to ndarray
        Learned weights (host NumPy arrays of ``dtype``): for each layer l,
        ``W_xh_l`` (n_gates * n_units, n_inputs), ``W_hh_l``{recurrent},
        ``b_h_l`` (n_gates * n_units,){extra}; the same with the suffix
        ``_reverse`` for the reverse direction of a bidirectional layer; and
        the readout ``W_hy`` (n_outputs, n_directions * n_units), ``b_y``
        (n_outputs,). n_gates is {n_gates}.
    loss_curve_ : list of float
        Training loss ({loss}) after each epoch.
    n_iter_ : int
        Epochs run.
    best_loss_ : float or None
        Lowest training loss; None with ``early_stopping``.
    validation_scores_ : list of float or None
        Validation score after each epoch, with ``early_stopping``.
    best_validation_score_ : float or None
        Best validation score, with ``early_stopping``.
    final_state_ : array of shape (state_size,), or (n_series, state_size)
        State after the last fitted step: layer by layer, forward then
        reverse direction, h{state_extra} (state_size = {state_size}).
    n_features_in_ : int
    feature_names_in_ : ndarray of str, only when X had string column names
"""


def check_bool(name, value):
    """Raise a TypeError naming ``name`` unless ``value`` is a bool (or an integer)."""
    if not isinstance(value, (bool, np.bool_, numbers.Integral)):
        raise TypeError(f"{name} must be a bool, got {value!r} of type {type(value).__name__}")


class PeepholeOption:
    """The LSTM's own parameter, ``peephole``, for its regressor and classifier.

    Listed before :class:`RecurrentNetworkBase` among the bases, so that its
    check runs after the shared ones.
    """

    def _validate_params(self):
        super()._validate_params()
        check_bool("peephole", self.peephole)

    def _make_cell(self):
        return make_cell("lstm", peephole=bool(self.peephole))


class RecurrentNetworkBase(SequenceEstimatorMixin, BaseEstimator):
    """What the gradient-trained estimators share: parameters, training, inference.

    A subclass sets ``_cell_name`` (or overrides :meth:`_make_cell` for a cell
    with options) and defines ``__init__`` with the parameters of
    :data:`PARAMS_DOC`.
    """

    _cell_name = None

    def _make_cell(self):
        return make_cell(self._cell_name)

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
        check_interval("window_stride", self.window_stride, low=1, integer=True, allow_none=True)
        check_interval("batch_size", self.batch_size, low=1, integer=True)
        check_interval("bptt_steps", self.bptt_steps, low=1, integer=True, allow_none=True)
        if self.gradient not in GRADIENTS:
            raise ValueError(f"gradient must be one of {GRADIENTS}, got {self.gradient!r}")
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
        check_interval("weight_decay", self.weight_decay, low=0)
        for name in ("dropout", "input_dropout", "zoneout"):
            check_interval(name, getattr(self, name), low=0, high=1, high_inclusive=False)
        check_interval("spectral_radius", self.spectral_radius, low=0, low_inclusive=False)
        check_interval("max_iter", self.max_iter, low=1, integer=True)
        check_interval("tol", self.tol, low=0)
        check_interval("n_iter_no_change", self.n_iter_no_change, low=1, integer=True)
        check_interval("validation_fraction", self.validation_fraction, low=0, high=1,
                       low_inclusive=False, high_inclusive=False)
        for name in ("bidirectional", "early_stopping", "verbose"):
            check_bool(name, getattr(self, name))
        if self.bidirectional and self.bptt_steps is not None:
            raise ValueError(
                f"bptt_steps={self.bptt_steps} carries the state from one chunk of a window to "
                "the next, which a bidirectional network cannot do (its reverse direction starts "
                "at the window's end): use bptt_steps=None"
            )
        resolve_dtype(self.dtype, np)

    def _check_consistency(self):
        """Raise a ValueError unless parameters and fitted state agree (what load checks).

        ``params_`` must hold exactly the arrays of the network these
        parameters describe (:meth:`NetworkSpec.parameter_shapes`), in the
        model's dtype, and the end of the fitted data its state size.
        """
        from .._schema import StateCheck

        self._validate_params()
        check = StateCheck(self)
        if not check.together("params_", "n_features_in_", "loss_curve_", "n_iter_",
                              "best_loss_", "validation_scores_", "best_validation_score_",
                              "_network"):
            return
        check.features_in()
        targets = self._check_outputs(check)
        params = check.instance("params_", dict)
        # Each layer has arrays of its own: more layers than arrays is refused
        # before the network's shapes are listed.
        check.integer("n_layers", high=len(params))
        spec = self._spec(self.n_features_in_, check.sizes["n_outputs"])
        shapes = spec.parameter_shapes()
        if list(params) != list(shapes):
            check.fail("params_", f"the arrays {list(shapes)}", list(params))
        dtype = np.dtype(resolve_dtype(self.dtype, np))
        for name, shape in shapes.items():
            check.array(f"params_[{name!r}]", shape, dtype=dtype, value=params[name])
        check.choice("_network", (None,))     # rebuilt from params_ on loading
        check.integer("n_iter_", low=0)
        for name in ("loss_curve_", "validation_scores_"):
            curve = check.get(name)
            if not (curve is None and name == "validation_scores_") and not (
                    isinstance(curve, list) and all(isinstance(v, float) for v in curve)):
                check.fail(name, "a list of floats", curve)
        for name in ("best_loss_", "best_validation_score_"):
            if check.get(name) is not None:
                check.instance(name, float)
        check.sizes["state_size"] = spec.state_size
        self._check_fit_end(check, dtype=dtype, targets=targets)

    def _check_outputs(self, check):
        """Set ``check``'s ``n_outputs``; return whether the fit kept its last targets."""
        raise NotImplementedError

    def _stride(self):
        if self.window_stride is not None or self.sequence_length is None:
            return self.window_stride
        return max(1, (self.sequence_length - self.washout) // 4)

    def _training_config(self, *, loss, pooling):
        return TrainingConfig(
            washout=self.washout, sequence_length=self.sequence_length, stride=self._stride(),
            batch_size=self.batch_size, bptt_steps=self.bptt_steps, gradient=self.gradient,
            loss=loss, pooling=pooling, solver=self.solver, learning_rate=self.learning_rate,
            learning_rate_init=float(self.learning_rate_init), power_t=float(self.power_t),
            momentum=float(self.momentum), beta_1=float(self.beta_1), beta_2=float(self.beta_2),
            epsilon=float(self.epsilon),
            clip_norm=None if self.clip_norm is None else float(self.clip_norm),
            weight_decay=float(self.weight_decay), dropout=float(self.dropout),
            input_dropout=float(self.input_dropout), max_iter=self.max_iter, tol=float(self.tol),
            n_iter_no_change=self.n_iter_no_change, early_stopping=bool(self.early_stopping),
            validation_fraction=float(self.validation_fraction), verbose=bool(self.verbose),
            name=type(self).__name__,
        )

    def _spec(self, n_features, n_outputs):
        return NetworkSpec(self._make_cell(), int(n_features), int(self.n_units), int(n_outputs),
                           int(self.n_layers), bool(self.bidirectional), float(self.zoneout))

    def _initial_network(self, n_features, n_outputs, rng):
        """The untrained network that ``fit`` starts from (host weights)."""
        spec = self._spec(n_features, n_outputs)
        if self.gradient == "rtrl":
            check_rtrl(spec)
        return spec, initialize_parameters(spec, rng, spectral_radius=float(self.spectral_radius))

    # ------------------------------------------------------------------ training

    def _train(self, batch, Y, *, loss, pooling):
        """Train from the initial weights; set the learned attributes (not the final state)."""
        xp = batch.xp
        dtype = resolve_dtype(self.dtype, xp)
        device = device_kwargs(batch.data, xp).get("device")
        rng = check_generator(self.random_state)
        spec, host_params = self._initial_network(self.n_features_in_, Y.shape[-1], rng)
        params = parameters_to_namespace(host_params, xp, dtype=dtype, device=device)
        result = train(spec, params, TrainingData(batch.data, Y, list(batch.lengths)),
                       self._training_config(loss=loss, pooling=pooling), rng)
        self._network = (spec, result.params)
        self.params_ = {name: to_numpy(value) for name, value in result.params.items()}
        self.loss_curve_ = result.loss_curve
        self.n_iter_ = result.n_iter
        self.best_loss_ = None if self.early_stopping else result.best_loss
        self.validation_scores_ = result.validation_scores
        self.best_validation_score_ = result.best_validation_score
        return spec, result.params

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
        if self.bidirectional and isinstance(initial_state, str):
            raise ValueError(
                "initial_state='continue' continues the fitted series forward in time, which a "
                "bidirectional network cannot do: its reverse direction reads the whole series"
            )
        xp = batch.xp
        x0 = self._start_state(initial_state, batch, size=spec.state_size, xp=xp,
                               dtype=resolve_dtype(self.dtype, xp))
        return state_from_array(spec, x0)

    def _hidden(self, batch, initial_state):
        """Top-layer hidden states (n_series, max_length, D) of the series of ``batch``."""
        spec, params = self._prepared(batch.xp, batch.data)
        state = self._initial_state(initial_state, batch, spec)
        H, _, _ = run_network(spec, params, batch.data, state, lengths=batch.lengths,
                              keep_cache=False)
        return spec, params, H

    # ------------------------------------------------------------------ scikit-learn protocol

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
            spec = self._spec(self.n_features_in_, self.params_["b_y"].shape[0])
            dtype = resolve_dtype(self.dtype, xp)
            self._network = (spec, parameters_to_namespace(self.params_, xp, dtype=dtype))
