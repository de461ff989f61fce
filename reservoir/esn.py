"""Echo state network estimators with the scikit-learn API.

Three estimators share one reservoir: :class:`ReservoirTransformer` (states as
features for any scikit-learn model), :class:`ESNRegressor` (reservoir and
streaming ridge readout, with closed-loop forecasting) and
:class:`ESNClassifier` (per-step or per-series labels).

State rule, for every method: a run over data starts from the zero state,
unless ``initial_state`` is given, either as an array or as ``"continue"``
(the state reached at the end of the data passed to ``fit``). Methods never
change the fitted estimator, so two calls with the same arguments give the
same result.
"""

from __future__ import annotations

import numbers

import numpy as np
import scipy.sparse
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin, TransformerMixin
from sklearn.preprocessing import LabelEncoder
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted

from ._backend import (
    RecurrentOperator,
    device_kwargs,
    get_namespace,
    resolve_dtype,
    to_namespace,
    to_numpy,
)
from ._states import closed_loop, iter_states
from ._validation import (
    check_generator,
    check_initial_state,
    check_interval,
    is_multi_series,
    validate_series,
)
from .activations import ACTIVATIONS, get_activation
from .initializers import (
    DISTRIBUTIONS,
    TOPOLOGIES,
    bias_vector,
    feedback_weights,
    input_weights,
    recurrent_weights,
)
from .readout import GramAccumulator, RidgeReadout

__all__ = ["ESNClassifier", "ESNRegressor", "ReservoirTransformer"]

READOUT_FEATURES = ("constant", "input", "state", "squared_state")

# The CSR product beats a dense GEMV once W is large and sparse enough
# (measured with SciPy: at N=1000, density 0.1, 54 us against 220 us per step;
# at N=100 the dense product wins at any density).
_SPARSE_MIN_UNITS = 200
_SPARSE_MAX_DENSITY = 0.15
# Elements of one chunk of states (n_series x steps x n_units): about 32 MB in
# float64, small enough to stream, large enough to amortise the chunk's GEMMs.
_CHUNK_ELEMENTS = 1 << 22


# --------------------------------------------------------------------------
# Private numeric kernels
# --------------------------------------------------------------------------

def _readout_features(inputs, states, features, xp):
    """Concatenate the readout features [u; x; x^2] along the last axis.

    The constant feature is not built here: it is the readout's unpenalised
    intercept.
    """
    parts = []
    if "input" in features:
        parts.append(inputs)
    if "state" in features:
        parts.append(states)
    if "squared_state" in features:
        parts.append(states * states)
    return parts[0] if len(parts) == 1 else xp.concat(parts, axis=-1)


class _PreparedReservoir:
    """Fitted weights moved once to the namespace, dtype and device of the data."""

    def __init__(self, estimator, xp, dtype, device):
        self.xp = xp
        self.dtype = dtype
        W = estimator.W_
        density = W.nnz / float(W.shape[0] * W.shape[1]) if scipy.sparse.issparse(W) else 1.0
        sparse = W.shape[0] >= _SPARSE_MIN_UNITS and density <= _SPARSE_MAX_DENSITY
        self.operator = RecurrentOperator(W, xp, dtype=dtype, device=device, sparse=sparse)
        W_in = estimator.W_in_.toarray() if scipy.sparse.issparse(estimator.W_in_) else estimator.W_in_
        self.W_in_t = to_namespace(np.ascontiguousarray(W_in.T), xp, dtype=dtype, device=device)
        self.bias = to_namespace(estimator.bias_, xp, dtype=dtype, device=device)
        W_fb = getattr(estimator, "W_fb_", None)
        self.W_fb_t = (None if W_fb is None
                       else to_namespace(np.ascontiguousarray(W_fb.T), xp, dtype=dtype, device=device))
        self.leak_rate = float(estimator.leak_rate)
        self.activation = get_activation(estimator.activation, xp).function
        self.n_units = W.shape[0]

    def chunk_size(self, n_series):
        return max(1, _CHUNK_ELEMENTS // max(1, n_series * self.n_units))

    def states(self, inputs, initial_state, *, teacher=None, noise=None):
        """Yield ``(t0, states)`` chunks for a padded batch of inputs."""
        return iter_states(
            inputs, self.operator, self.W_in_t, self.bias,
            leak_rate=self.leak_rate, activation=self.activation, initial_state=initial_state,
            chunk_size=self.chunk_size(inputs.shape[0]),
            teacher=teacher, W_fb_t=self.W_fb_t if teacher is not None else None, noise=noise,
        )


def _take_rows(blocks, flat_index, xp):
    """Rows ``flat_index`` (host ints) of a (B, c, F) array flattened to (B * c, F).

    One gather per chunk, whatever the number of series: index arithmetic
    stays on the host, the data on its device.
    """
    B, c, F = blocks.shape
    flat = xp.reshape(blocks, (B * c, F))
    if flat_index.size == B * c:
        return flat
    return xp.take(flat, to_namespace(flat_index, xp, **device_kwargs(blocks, xp)), axis=0)


def _training_rows(t0, c, lengths, washout):
    """Flat indices of the steps of a chunk that train the readout, or None.

    Step t of series i counts when washout <= t < length_i: the padding after
    a short series and the washout never reach the readout.
    """
    t = np.arange(t0, t0 + c)
    valid = (t >= washout) & (t < np.asarray(lengths)[:, None])
    return np.flatnonzero(valid) if valid.any() else None


def _rows_at(data, steps, xp):
    """``data[i, steps[i], :]`` for every series i, as (n_series, F)."""
    steps = np.asarray(steps)
    return _take_rows(data, np.arange(steps.size) * data.shape[1] + steps, xp)


class _StepCollector:
    """Collects each series' row at one given step from a stream of chunks.

    Used for the state at each series' last step (its final state), which
    falls in a different chunk for series of different lengths.
    """

    def __init__(self, steps):
        self.steps = np.asarray(steps)
        self.series = []
        self.rows = []

    def update(self, chunk, t0, xp):
        c = chunk.shape[1]
        which = np.flatnonzero((self.steps >= t0) & (self.steps < t0 + c))
        if which.size:
            self.series.append(which)
            self.rows.append(_take_rows(chunk, which * c + (self.steps[which] - t0), xp))

    def result(self, xp):
        rows = self.rows[0] if len(self.rows) == 1 else xp.concat(self.rows, axis=0)
        order = np.concatenate(self.series)
        if np.array_equal(order, np.arange(order.size)):
            return rows
        return _take_rows(xp.expand_dims(rows, axis=1), np.argsort(order), xp)


# --------------------------------------------------------------------------
# Shared reservoir machinery
# --------------------------------------------------------------------------

class _BaseReservoir(BaseEstimator):
    """Parameters, validation and weight drawing shared by the ESN estimators."""

    def _validate_reservoir_params(self):
        check_interval("n_units", self.n_units, low=1, integer=True)
        check_interval("spectral_radius", self.spectral_radius, low=0, low_inclusive=False)
        check_interval("leak_rate", self.leak_rate, low=0, high=1, low_inclusive=False)
        check_interval("bias_scaling", self.bias_scaling, low=0)
        check_interval("input_density", self.input_density, low=0, high=1, low_inclusive=False)
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

    def _draw_weights(self, n_features, rng, *, n_feedback=None):
        """Draw W_, W_in_, bias_ (and W_fb_) on the host.

        Each matrix comes from its own child generator, so W does not change
        when the number of inputs does, and NumPy and CuPy fits with the same
        seed use bit-identical weights.
        """
        rec_rng, in_rng, bias_rng, fb_rng, self._noise_rng = rng.spawn(5)
        self.W_ = recurrent_weights(
            self.n_units, spectral_radius=self.spectral_radius, density=self.density,
            in_degree=self.in_degree, distribution=self.distribution, topology=self.topology,
            random_state=rec_rng,
        )
        self.W_in_ = input_weights(
            self.n_units, n_features, input_scaling=self.input_scaling,
            density=self.input_density, random_state=in_rng,
        )
        self.bias_ = bias_vector(self.n_units, bias_scaling=self.bias_scaling, random_state=bias_rng)
        if n_feedback is not None:
            self.W_fb_ = feedback_weights(
                self.n_units, n_feedback, feedback_scaling=self.feedback_scaling,
                random_state=fb_rng,
            )
        elif hasattr(self, "W_fb_"):
            del self.W_fb_  # left by an earlier fit with feedback

    def _prepared(self, xp, dtype, like):
        """Device copies of the weights for data in namespace ``xp``.

        The copies made at ``fit`` are reused when the data matches their
        namespace and dtype; other data gets temporary copies (the estimator
        is never modified outside ``fit``).
        """
        cached = getattr(self, "_reservoir", None)
        if cached is not None and cached.xp is xp and cached.dtype == dtype:
            return cached
        return _PreparedReservoir(self, xp, dtype, device_kwargs(like, xp).get("device"))

    def _initial_state(self, initial_state, n_series, res, like):
        """Resolve the ``initial_state`` argument to an array (n_series, n_units); zeros for None."""
        x0 = check_initial_state(initial_state, n_series=n_series, size=res.n_units, xp=res.xp,
                                 dtype=res.dtype, like=like,
                                 final_state=getattr(self, "_final_state", None))
        if x0 is None:
            return res.xp.zeros((n_series, res.n_units), dtype=res.dtype, **device_kwargs(like, res.xp))
        return x0

    def _target_dtype(self, xp):
        return resolve_dtype(self.dtype, xp)

    def __getstate__(self):
        # The device copies hold a namespace module, which does not pickle;
        # they are rebuilt from the host weights on unpickling.
        # A copy: BaseEstimator may hand back the live __dict__.
        state = dict(super().__getstate__())
        state.pop("_reservoir", None)
        return state

    def __setstate__(self, state):
        super().__setstate__(state)
        if "W_" in state:
            like = getattr(getattr(self, "readout_", None), "coef_", None)
            xp = get_namespace(like)
            self._reservoir = _PreparedReservoir(
                self, xp, self._target_dtype(xp),
                None if like is None else device_kwargs(like, xp).get("device"))


# --------------------------------------------------------------------------
# Public estimators
# --------------------------------------------------------------------------

_RESERVOIR_PARAMS_DOC = """
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

_READOUT_PARAMS_DOC = """
    alpha : float, default=1e-6
        Ridge penalty of the readout (on the sum of squared errors).
    washout : int, default=0
        Steps at the start of each series that are run through the
        reservoir but not used to train the readout, while the state forgets
        its zero start. Every training series must be longer than this.
    readout_features : tuple of str, default=("constant", "input", "state")
        What the readout sees, from "constant" (an unpenalised intercept),
        "input" (u(t)), "state" (x(t)) and "squared_state" (x(t)^2, which
        lets a tanh reservoir fit functions of both signs of a symmetric
        system such as Lorenz-63).
    noise_level : float, default=0.0
        Standard deviation of Gaussian noise added to the pre-activation
        during ``fit`` only; a little noise makes closed-loop runs more stable.
"""

_COMMON_TAIL_DOC = """
    random_state : int, numpy.random.Generator or None, default=None
        Seeds every random draw of ``fit``. The weights are drawn on the
        host with NumPy, so the same seed gives the same weights on NumPy and
        CuPy.
    dtype : {"float64", "float32"}, default="float64"
        Precision of the states and outputs, on every backend.
"""


class ReservoirTransformer(TransformerMixin, _BaseReservoir):
    __doc__ = f"""Reservoir states as features: a fixed random recurrent network.

    ``fit`` draws the weights for the number of input features;
    ``transform`` runs the leaky-integrator reservoir

        x(t) = (1 - a) x(t-1) + a f(W x(t-1) + W_in u(t) + b)

    over the rows of X (time steps) and returns the states, one row per time
    step, ready for any scikit-learn regressor or classifier. Works on NumPy,
    CuPy and Array-API arrays; the output stays in the input's namespace.

    Parameters
    ----------{_RESERVOIR_PARAMS_DOC}
    include_input : bool, default=False
        Return [u(t), x(t)] instead of x(t).
{_COMMON_TAIL_DOC}
    Attributes
    ----------
    W_ : ndarray or scipy.sparse.csr_array of shape (n_units, n_units)
        Recurrent weights (host).
    W_in_ : ndarray or scipy.sparse.csr_array of shape (n_units, ``n_features_in_``)
    bias_ : ndarray of shape (n_units,)
    n_features_in_ : int
    feature_names_in_ : ndarray of str, only when X had string column names

    Examples
    --------
    >>> import numpy as np
    >>> from reservoir import ReservoirTransformer
    >>> X = np.sin(np.linspace(0, 20, 300))[:, None]
    >>> states = ReservoirTransformer(n_units=50, random_state=0).fit_transform(X)
    >>> states.shape
    (300, 50)
    """

    def __init__(self, n_units=100, *, spectral_radius=0.9, leak_rate=1.0, input_scaling=1.0,
                 bias_scaling=0.5, density=None, in_degree=None, input_density=1.0,
                 topology="random", distribution="normal", activation="tanh",
                 include_input=False, random_state=None, dtype="float64"):
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
        self.include_input = include_input
        self.random_state = random_state
        self.dtype = dtype

    def fit(self, X, y=None):
        """Draw the reservoir's weights for X's number of features.

        Parameters
        ----------
        X : array-like of shape (n_timesteps, n_features), list of such, or
            array of shape (n_series, n_timesteps, n_features)
        y : ignored

        Returns
        -------
        self
        """
        self._validate_reservoir_params()
        batch, _, _ = validate_series(self, X, None, reset=True, dtype=self.dtype, require_y=False)
        xp = batch.xp
        self._draw_weights(self.n_features_in_, check_generator(self.random_state))
        self._reservoir = _PreparedReservoir(self, xp, self._target_dtype(xp),
                                             device_kwargs(batch.data, xp).get("device"))
        return self

    def transform(self, X, *, initial_state=None):
        """Run the reservoir over X and return its states.

        Parameters
        ----------
        X : array-like of shape (n_timesteps, n_features), list of such, or
            array of shape (n_series, n_timesteps, n_features)
        initial_state : None, array of shape (n_units,) or (n_series, n_units)
            State before the first step; zeros when None.

        Returns
        -------
        states : array of shape (n_timesteps, n_units) (or n_features + n_units
            with ``include_input``), in X's layout and namespace
        """
        check_is_fitted(self)
        batch, _, _ = validate_series(self, X, None, reset=False, dtype=self.dtype, require_y=False)
        xp = batch.xp
        res = self._prepared(xp, self._target_dtype(xp), batch.data)
        x0 = self._initial_state(initial_state, batch.n_series, res, batch.data)
        features = ("input", "state") if self.include_input else ("state",)
        chunks = [
            _readout_features(batch.data[:, t0:t0 + S.shape[1], :], S, features, xp)
            for t0, S in res.states(batch.data, x0)
        ]
        return batch.restore(chunks[0] if len(chunks) == 1 else xp.concat(chunks, axis=1))

    def __sklearn_is_fitted__(self):
        return hasattr(self, "W_")


class _ReadoutReservoir(_BaseReservoir):
    """A reservoir with a trained ridge readout: shared by regressor and classifier."""

    def _validate_readout_params(self):
        self._validate_reservoir_params()
        check_interval("alpha", self.alpha, low=0)
        check_interval("washout", self.washout, low=0, integer=True)
        check_interval("noise_level", self.noise_level, low=0)
        features = self.readout_features
        if isinstance(features, str):
            features = (features,)
        features = tuple(features)
        unknown = [f for f in features if f not in READOUT_FEATURES]
        if unknown or not any(f in features for f in ("input", "state", "squared_state")):
            raise ValueError(
                f"readout_features must be a tuple drawn from {READOUT_FEATURES} with at least one "
                f"of 'input', 'state', 'squared_state'; got {self.readout_features!r}"
            )
        return features

    def _noise(self, xp, dtype, like):
        """Pre-activation noise for fit, drawn on the host per chunk and moved once."""
        if not self.noise_level:
            return None
        rng = self._noise_rng

        def draw(t0, shape):
            host = rng.standard_normal(shape) * float(self.noise_level)
            return to_namespace(host, xp, dtype=dtype, **device_kwargs(like, xp))

        return draw

    def _n_readout_features(self, features, n_features):
        n = 0
        if "input" in features:
            n += n_features
        if "state" in features:
            n += self.n_units
        if "squared_state" in features:
            n += self.n_units
        return n

    def _finish_fit(self, accumulator, features, *, n_outputs, y_one_d, dtype, xp):
        readout = RidgeReadout(alpha=self.alpha, fit_intercept="constant" in features)
        readout._set_solution(accumulator, dtype=dtype, y_one_d=y_one_d)
        self.readout_ = readout
        self._readout_features_ = features
        self.n_outputs_ = n_outputs

    def _accumulate_steps(self, accumulator, batch, S, Y, t0, features):
        """Add one chunk's training steps (after the washout, before each end) to the readout."""
        xp = batch.xp
        c = S.shape[1]
        index = _training_rows(t0, c, batch.lengths, self.washout)
        if index is not None:
            F = _readout_features(batch.data[:, t0:t0 + c, :], S, features, xp)
            accumulator.update(_take_rows(F, index, xp), _take_rows(Y[:, t0:t0 + c, :], index, xp))

    def _readout_coefficients(self, xp, like):
        """Readout weights (F, k) and intercept (k,) on namespace ``xp``.

        Reshaped (and moved, for data of another namespace) once per call of
        a public method, never at each step of a closed loop.
        """
        coef = self.readout_.coef_
        intercept = self.readout_.intercept_
        if get_namespace(coef) is not xp:
            coef = to_namespace(to_numpy(coef), xp, **device_kwargs(like, xp))
            if not isinstance(intercept, float):
                intercept = to_namespace(to_numpy(intercept), xp, **device_kwargs(like, xp))
        coef_t = (xp.reshape(coef, (1, -1)) if coef.ndim == 1 else coef).T
        if isinstance(intercept, float):
            intercept = xp.asarray([intercept], dtype=coef.dtype, **device_kwargs(like, xp))
        return coef_t, xp.reshape(intercept, (-1,))

    def _readout(self, xp, like):
        """The fitted readout as a function ``(states, inputs) -> outputs``."""
        coef_t, intercept = self._readout_coefficients(xp, like)
        features = self._readout_features_
        return lambda x, u: _readout_features(u, x, features, xp) @ coef_t + intercept


class ESNRegressor(RegressorMixin, _ReadoutReservoir):
    __doc__ = f"""Echo state network regressor: a fixed reservoir with a trained ridge readout.

    The reservoir

        x(t) = (1 - a) x(t-1) + a f(W x(t-1) + W_in u(t) + W_fb y(t-1) + b)

    is run over the input rows (time steps); the readout
    y(t) = W_out [1; u(t); x(t)] is fitted by ridge regression on the
    collected states, streamed chunk by chunk so that memory does not grow
    with the series' length. ``predict`` is one step per input row
    (teacher-forced); :meth:`forecast` runs closed loop, each prediction fed
    back as the next input, for autonomous series.

    Every call starts from the zero state unless ``initial_state`` is given
    (an array, or ``"continue"`` for the state at the end of the fitted data).

    Parameters
    ----------{_RESERVOIR_PARAMS_DOC}{_READOUT_PARAMS_DOC}
    feedback_scaling : float, optional
        If set, the previous output is fed back through a matrix W_fb with
        entries uniform on [-feedback_scaling, feedback_scaling]: teacher
        forced (the true previous target) during ``fit``, the model's own
        previous output in ``predict``.
{_COMMON_TAIL_DOC}
    Attributes
    ----------
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
                 feedback_scaling=None, random_state=None, dtype="float64"):
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
        self.feedback_scaling = feedback_scaling
        self.random_state = random_state
        self.dtype = dtype

    def fit(self, X, y):
        """Run the reservoir over X and fit the readout to y.

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
        """
        features = self._validate_readout_params()
        if self.feedback_scaling is not None:
            check_interval("feedback_scaling", self.feedback_scaling, low=0)
        batch, Y, y_one_d = validate_series(self, X, y, reset=True, dtype=self.dtype,
                                            min_length=self.washout + 1)
        xp = batch.xp
        dtype = self._target_dtype(xp)
        n_outputs = int(Y.shape[2])
        self._draw_weights(self.n_features_in_, check_generator(self.random_state),
                           n_feedback=None if self.feedback_scaling is None else n_outputs)
        res = self._reservoir = _PreparedReservoir(
            self, xp, dtype, device_kwargs(batch.data, xp).get("device"))
        teacher = None
        if self.feedback_scaling is not None:
            zeros = xp.zeros((batch.n_series, 1, n_outputs), dtype=dtype, **device_kwargs(Y, xp))
            teacher = xp.concat([zeros, Y[:, :-1, :]], axis=1)
        accumulator = GramAccumulator(
            self._n_readout_features(features, self.n_features_in_), n_outputs, xp,
            fit_intercept="constant" in features, **device_kwargs(batch.data, xp))
        x0 = xp.zeros((batch.n_series, res.n_units), dtype=dtype, **device_kwargs(batch.data, xp))
        last_steps = np.asarray(batch.lengths) - 1
        final = _StepCollector(last_steps)
        for t0, S in res.states(batch.data, x0, teacher=teacher,
                                noise=self._noise(xp, dtype, batch.data)):
            self._accumulate_steps(accumulator, batch, S, Y, t0, features)
            final.update(S, t0, xp)
        self._finish_fit(accumulator, features, n_outputs=n_outputs, y_one_d=y_one_d,
                         dtype=dtype, xp=xp)
        self._y_one_d = y_one_d
        self._final_state = final.result(xp)
        self._final_input = _rows_at(batch.data, last_steps, xp)
        self._final_output = _rows_at(Y, last_steps, xp)
        self._fit_layout = batch.layout
        self.final_state_ = self._final_state[0, ...] if batch.layout == "single" else self._final_state
        return self

    def predict(self, X, *, initial_state=None):
        """Readout output for every time step of X, one step ahead (teacher-forced).

        Parameters
        ----------
        X : array-like of shape (n_timesteps, n_features), list of such, or
            array of shape (n_series, n_timesteps, n_features)
        initial_state : None, "continue", or array of shape (n_units,) or
            (n_series, n_units)
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
        res = self._prepared(xp, self._target_dtype(xp), batch.data)
        x0 = self._initial_state(initial_state, batch.n_series, res, batch.data)
        if self.feedback_scaling is not None:
            Y = self._predict_with_feedback(batch, res, x0, initial_state)
        else:
            readout = self._readout(xp, batch.data)
            chunks = [
                readout(S, batch.data[:, t0:t0 + S.shape[1], :])
                for t0, S in res.states(batch.data, x0)
            ]
            Y = chunks[0] if len(chunks) == 1 else xp.concat(chunks, axis=1)
        return batch.restore(Y, squeeze_output=self._y_one_d)

    def _predict_with_feedback(self, batch, res, x0, initial_state):
        xp = res.xp
        if isinstance(initial_state, str):
            y_prev = xp.broadcast_to(self._final_output, (batch.n_series, self.n_outputs_))
        else:
            y_prev = xp.zeros((batch.n_series, self.n_outputs_), dtype=res.dtype,
                              **device_kwargs(batch.data, xp))
        Y, _ = closed_loop(
            res.operator, initial_state=x0, previous_output=y_prev,
            n_steps=batch.data.shape[1], leak_rate=res.leak_rate, activation=res.activation,
            readout=self._readout(xp, batch.data), bias=res.bias,
            output_to_drive=res.W_fb_t, inputs=batch.data, W_in_t=res.W_in_t,
        )
        return Y


    def forecast(self, n_steps, *, context=None, initial_state=None):
        """Closed-loop forecast of an autonomous series.

        Each prediction is fed back as the next input. Without ``context``,
        the forecast continues the fitted data: the last fitted target is the
        next input, and the first forecast value predicts the step after it.
        With ``context`` (rows of the series, oldest first), the reservoir is
        run over the context teacher-forced, from ``initial_state`` or zeros,
        and the first forecast value predicts the step after the context's
        last row. The context should be long enough for the state to forget
        its start (at least ``washout`` steps).

        Parameters
        ----------
        n_steps : int
            Number of future steps to predict.
        context : array-like of shape (n_timesteps, n_features), list of
            such (lengths may differ), or array of shape
            (n_series, n_timesteps, n_features), optional
        initial_state : None or array, optional
            State before the context's first step.

        Returns
        -------
        forecast : array of shape (n_steps, n_outputs), or
            (n_series, n_steps, n_outputs) for several series
        """
        check_is_fitted(self)
        check_interval("n_steps", n_steps, low=1, integer=True)
        if self.n_outputs_ != self.n_features_in_:
            raise ValueError(
                "forecast feeds each prediction back as the next input, so the model needs as many "
                f"outputs as input features; it was fitted with {self.n_features_in_} features and "
                f"{self.n_outputs_} outputs"
            )
        if context is None:
            if initial_state is not None:
                raise ValueError("initial_state applies to a context; pass context as well")
            xp = get_namespace(self._final_state)
            res = self._prepared(xp, self._target_dtype(xp), self._final_state)
            x, y_prev, layout = self._final_state, self._final_output, self._fit_layout
        else:
            batch, _, _ = validate_series(self, context, None, reset=False, dtype=self.dtype,
                                          require_y=False)
            xp = batch.xp
            res = self._prepared(xp, self._target_dtype(xp), batch.data)
            x, y_prev = self._run_context(batch, res, initial_state)
            layout = batch.layout
        to_drive = res.W_in_t if res.W_fb_t is None else res.W_in_t + res.W_fb_t
        out, _ = closed_loop(
            res.operator, initial_state=x, previous_output=y_prev, n_steps=n_steps,
            leak_rate=res.leak_rate, activation=res.activation,
            readout=self._readout(xp, x), bias=res.bias,
            output_to_drive=to_drive,
        )
        out = out[0, ...] if layout == "single" else out
        return out[..., 0] if self._y_one_d else out

    def _run_context(self, batch, res, initial_state):
        """State before each context's last row, and that row (the next input).

        The last row is left to the closed loop, which feeds it in exactly as
        it feeds its own predictions afterwards.
        """
        xp = res.xp
        x0 = self._initial_state(initial_state, batch.n_series, res, batch.data)
        teacher = None
        if self.feedback_scaling is not None:
            # Teacher forcing: the output fed back at step t is the true value
            # of step t, which is the context's row t.
            zeros = xp.zeros((batch.n_series, 1, self.n_outputs_), dtype=res.dtype,
                             **device_kwargs(batch.data, xp))
            teacher = xp.concat([zeros, batch.data[:, :-1, :]], axis=1)
        last_steps = np.asarray(batch.lengths) - 1
        # The state after step n - 2, or the initial state for a one-row context.
        before = _StepCollector(last_steps - 1)
        before.update(xp.expand_dims(x0, axis=1), -1, xp)
        if last_steps.max() > 0:
            for t0, S in res.states(batch.data, x0, teacher=teacher):
                before.update(S, t0, xp)
        return before.result(xp), _rows_at(batch.data, last_steps, xp)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags

    def __sklearn_is_fitted__(self):
        return hasattr(self, "readout_")


class ESNClassifier(ClassifierMixin, _ReadoutReservoir):
    __doc__ = f"""Echo state network classifier, per time step or per series.

    Two tasks share one estimator:

    * per-step labels: X of shape (n_timesteps, n_features) (or several
      series) and y with one label per time step;
    * per-series labels: several series (a list of 2-D arrays, lengths may
      differ, or a 3-D array) and y with one label per series. The states of
      each series after the washout are pooled (``pooling``) into one feature
      vector.

    The readout is a ridge regression onto +-1 class indicators (one column
    per class; one column for two classes), as in scikit-learn's
    ``RidgeClassifier``. ``predict_proba`` is the softmax of the decision
    values: a monotone score, not a calibrated probability (wrap the model
    in ``CalibratedClassifierCV`` when calibration matters).

    Parameters
    ----------{_RESERVOIR_PARAMS_DOC}{_READOUT_PARAMS_DOC}
    pooling : {{"mean", "last"}}, default="mean"
        For per-series labels: the mean of the readout features over the
        steps after the washout, or the features of the last step.
{_COMMON_TAIL_DOC}
    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
    W_, W_in_, bias_ : reservoir weights (host)
    readout_ : RidgeReadout
    n_features_in_ : int

    Examples
    --------
    >>> import numpy as np
    >>> from reservoir import ESNClassifier
    >>> rng = np.random.default_rng(0)
    >>> t = np.linspace(0, 8 * np.pi, 100)[:, None]
    >>> X = [np.sin(t * (1 + k % 2)) + 0.1 * rng.standard_normal(t.shape) for k in range(40)]
    >>> y = np.array([k % 2 for k in range(40)])
    >>> clf = ESNClassifier(n_units=50, washout=10, random_state=0).fit(X[:30], y[:30])
    >>> float(clf.score(X[30:], y[30:]))
    1.0
    """

    def __init__(self, n_units=100, *, spectral_radius=0.9, leak_rate=1.0, input_scaling=1.0,
                 bias_scaling=0.5, density=None, in_degree=None, input_density=1.0,
                 topology="random", distribution="normal", activation="tanh", alpha=1e-6,
                 washout=0, readout_features=("constant", "input", "state"), noise_level=0.0,
                 pooling="mean", random_state=None, dtype="float64"):
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
        self.pooling = pooling
        self.random_state = random_state
        self.dtype = dtype

    @staticmethod
    def _labels_per_series(X, y):
        """One label per series: several series and a flat sequence of scalars."""
        if not is_multi_series(X) or y is None:
            return False
        if isinstance(y, (list, tuple)):
            return len(y) > 0 and np.ndim(y[0]) == 0
        shape = y.shape if hasattr(y, "shape") else np.shape(y)
        return len(shape) == 1

    def _encode(self, y, per_series):
        """Labels -> integer codes on the host (a list of arrays for per-step series)."""
        from sklearn.utils import assert_all_finite
        from sklearn.utils.validation import column_or_1d

        def host(a):
            return to_numpy(a) if hasattr(a, "shape") and not isinstance(a, np.ndarray) else a

        if not isinstance(y, (list, tuple)):
            y = np.asarray(host(y))
        if len(y) == 0:
            raise ValueError("y is empty: found 0 labels, expected at least one")
        if per_series or not isinstance(y, (list, tuple)) or np.ndim(y[0]) == 0:
            pieces = [column_or_1d(host(y), warn=True)]
        else:
            pieces = []
            for i, t in enumerate(y):
                t = np.asarray(host(t))
                if t.ndim != 1:
                    raise ValueError(f"y[{i}] must be 1-D (one label per time step), got shape {t.shape}")
                pieces.append(t)
        flat = np.concatenate(pieces)
        if flat.dtype.kind in "fc":
            assert_all_finite(flat, input_name="y")
        check_classification_targets(flat)
        encoder = LabelEncoder().fit(flat)
        self.classes_ = encoder.classes_
        if len(self.classes_) < 2:
            raise ValueError(
                f"ESNClassifier needs samples of at least 2 classes in y; got 1 class ({self.classes_[0]!r})"
            )
        codes = encoder.transform(flat)
        if len(pieces) == 1 and (per_series or not isinstance(y, (list, tuple)) or np.ndim(y[0]) == 0):
            return codes
        return np.split(codes, np.cumsum([len(p) for p in pieces])[:-1])

    def _indicator(self, codes):
        """+-1 class indicators: one column for 2 classes, one per class otherwise."""
        codes = np.asarray(codes)
        n_classes = len(self.classes_)
        if n_classes == 2:
            return (2.0 * codes - 1.0)[:, None]
        out = -np.ones((codes.shape[0], n_classes))
        out[np.arange(codes.shape[0]), codes] = 1.0
        return out

    def fit(self, X, y):
        """Fit the readout to per-step or per-series labels.

        Parameters
        ----------
        X : array-like of shape (n_timesteps, n_features), a list of such, or
            an array of shape (n_series, n_timesteps, n_features)
        y : array-like of shape (n_timesteps,) (per step; or a list of such
            per series) or (n_series,) (one label per series)

        Returns
        -------
        self
        """
        features = self._validate_readout_params()
        if self.pooling not in ("mean", "last"):
            raise ValueError(f"pooling must be 'mean' or 'last', got {self.pooling!r}")
        if y is None:
            raise ValueError("ESNClassifier requires y to be passed, but the target y is None")
        per_series = self._labels_per_series(X, y)
        codes = self._encode(y, per_series)
        # Labels are encoded on the host; the +-1 targets go to X's namespace.
        first = X[0] if isinstance(X, (list, tuple)) and len(X) else X
        xp_data = get_namespace(first)
        if isinstance(codes, list):
            targets = [to_namespace(self._indicator(c), xp_data, **device_kwargs(first, xp_data))
                       for c in codes]
        else:
            targets = to_namespace(self._indicator(codes), xp_data, **device_kwargs(first, xp_data))
        self._per_series = per_series
        batch, Y, _ = validate_series(self, X, targets, reset=True, dtype=self.dtype,
                                      min_length=self.washout + 1, y_per_series=per_series)
        xp = batch.xp
        dtype = self._target_dtype(xp)
        self._draw_weights(self.n_features_in_, check_generator(self.random_state))
        res = self._reservoir = _PreparedReservoir(
            self, xp, dtype, device_kwargs(batch.data, xp).get("device"))
        accumulator = GramAccumulator(
            self._n_readout_features(features, self.n_features_in_), int(Y.shape[-1]), xp,
            fit_intercept="constant" in features, **device_kwargs(batch.data, xp))
        x0 = xp.zeros((batch.n_series, res.n_units), dtype=dtype, **device_kwargs(batch.data, xp))
        noise = self._noise(xp, dtype, batch.data)
        if per_series:
            accumulator.update(self._pooled_features(batch, res, x0, features, noise=noise), Y)
        else:
            for t0, S in res.states(batch.data, x0, noise=noise):
                self._accumulate_steps(accumulator, batch, S, Y, t0, features)
        self._finish_fit(accumulator, features, n_outputs=int(Y.shape[-1]), y_one_d=False,
                         dtype=dtype, xp=xp)
        return self

    def _pooled_features(self, batch, res, x0, features, *, noise=None):
        """(n_series, F) pooled readout features of each series after the washout."""
        xp = res.xp
        sums = None
        last = _StepCollector(np.asarray(batch.lengths) - 1)
        for t0, S in res.states(batch.data, x0, noise=noise):
            c = S.shape[1]
            F = _readout_features(batch.data[:, t0:t0 + c, :], S, features, xp)
            if self.pooling == "last":
                last.update(F, t0, xp)
                continue
            # Weights 1 for the steps that count for each series in this chunk.
            t = np.arange(t0, t0 + c)
            mask = ((t >= self.washout) & (t < np.asarray(batch.lengths)[:, None])).astype(float)
            mask = to_namespace(mask, xp, dtype=res.dtype, **device_kwargs(F, xp))
            part = xp.sum(F * mask[:, :, None], axis=1)
            sums = part if sums is None else sums + part
        if self.pooling == "last":
            return last.result(xp)
        counts = np.asarray([n - self.washout for n in batch.lengths], dtype=float)
        return sums / to_namespace(counts, xp, dtype=res.dtype, **device_kwargs(sums, xp))[:, None]

    def decision_function(self, X, *, initial_state=None):
        """Readout scores: shape (n_timesteps,) for two classes, (n_timesteps, n_classes)
        otherwise; per series (n_series, ...) for per-series labels."""
        check_is_fitted(self)
        if self._per_series:
            batch, _, _ = validate_series(self, X, None, reset=False, dtype=self.dtype,
                                          require_y=False, min_length=self.washout + 1)
            if batch.layout == "single":
                raise ValueError(
                    "this classifier was fitted with one label per series: pass several series "
                    "(a list of 2-D arrays or a 3-D array)"
                )
            xp = batch.xp
            res = self._prepared(xp, self._target_dtype(xp), batch.data)
            x0 = self._initial_state(initial_state, batch.n_series, res, batch.data)
            pooled = self._pooled_features(batch, res, x0, self._readout_features_)
            coef_t, intercept = self._readout_coefficients(xp, batch.data)
            scores = pooled @ coef_t + intercept
            return scores[:, 0] if scores.shape[1] == 1 else scores
        batch, _, _ = validate_series(self, X, None, reset=False, dtype=self.dtype, require_y=False)
        xp = batch.xp
        res = self._prepared(xp, self._target_dtype(xp), batch.data)
        x0 = self._initial_state(initial_state, batch.n_series, res, batch.data)
        readout = self._readout(xp, batch.data)
        chunks = [readout(S, batch.data[:, t0:t0 + S.shape[1], :]) for t0, S in res.states(batch.data, x0)]
        scores = chunks[0] if len(chunks) == 1 else xp.concat(chunks, axis=1)
        return batch.restore(scores, squeeze_output=len(self.classes_) == 2)

    def predict(self, X, *, initial_state=None):
        """Predicted class per time step (or per series)."""
        scores = self.decision_function(X, initial_state=initial_state)
        if isinstance(scores, list):
            return [self._labels_from_scores(s) for s in scores]
        return self._labels_from_scores(scores)

    def _labels_from_scores(self, scores):
        """Class labels (on the host) from decision values: sign for two classes, argmax otherwise."""
        s = to_numpy(scores)
        codes = (s > 0).astype(int) if len(self.classes_) == 2 else np.argmax(s, axis=-1)
        return self.classes_[codes]

    def predict_proba(self, X, *, initial_state=None):
        """Softmax of the decision values, shape (..., n_classes); see the class notes."""
        scores = self.decision_function(X, initial_state=initial_state)
        if isinstance(scores, list):
            return [self._softmax(s) for s in scores]
        return self._softmax(scores)

    def _softmax(self, scores):
        xp = get_namespace(scores)
        if len(self.classes_) == 2:
            scores = xp.stack([-scores, scores], axis=-1)
        z = scores - xp.max(scores, axis=-1, keepdims=True)
        e = xp.exp(z)
        return e / xp.sum(e, axis=-1, keepdims=True)

    def __sklearn_is_fitted__(self):
        return hasattr(self, "readout_")
