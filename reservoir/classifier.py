"""The echo state network classifier, for per-step and per-series labels."""

from __future__ import annotations

import numpy as np
from sklearn.base import ClassifierMixin

from ._backend import device_kwargs, get_namespace, host_blas_policy, to_namespace
from ._base import SequenceClassifierMixin, labels_per_series
from ._esn_base import (
    COMMON_TAIL_DOC,
    READOUT_PARAMS_DOC,
    RESERVOIR_PARAMS_DOC,
    ReadoutEstimatorBase,
    training_steps,
)
from ._overlap import background_updates
from ._rows import StepCollector, step_mask, take_rows
from ._validation import check_generator, validate_series
from .distributed import fit as fit_distributed
from .distributed import is_dask_collection
from .readout import readout_features

__all__ = ["ESNClassifier"]


def _reverse_in_time(data, lengths):
    """Each series of a right-padded batch (n_series, n_timesteps, F) reversed in time.

    Row t of series i becomes row lengths[i] - 1 - t; padding stays after
    each series' end. Applying it twice gives the batch back, so it also
    re-aligns the states of a reversed run with the original steps.
    """
    xp = get_namespace(data)
    B, T = int(data.shape[0]), int(data.shape[1])
    t = np.arange(T)[None, :]
    n = np.asarray(lengths)[:, None]
    source = np.where(t < n, n - 1 - t, t)
    flat = (np.arange(B)[:, None] * T + source).ravel()
    index = to_namespace(flat, xp, **device_kwargs(data, xp))
    rows = xp.take(xp.reshape(data, (B * T, -1)), index, axis=0)
    return xp.reshape(rows, tuple(data.shape))


def _state_features(states, features):
    """The state parts of the readout features (x(t), x(t)^2), without input or constant."""
    xp = get_namespace(states)
    parts = []
    if "state" in features:
        parts.append(states)
    if "squared_state" in features:
        parts.append(states * states)
    if not parts:
        return states[..., :0]
    return parts[0] if len(parts) == 1 else xp.concat(parts, axis=-1)


class ESNClassifier(SequenceClassifierMixin, ClassifierMixin, ReadoutEstimatorBase):
    __doc__ = f"""Echo state network classifier, per time step or per series.

    Two tasks share one estimator:

    * per-step labels: X of shape (n_timesteps, n_features) (or several
      series) and y with one label per time step;
    * per-series labels: several series (a list of series, lengths may
      differ, or a 3-D array) and y with one label per series. The readout
      features of each series after the washout are pooled (``pooling``)
      into one feature vector.

    With ``bidirectional=True`` the reservoir also runs over each series
    reversed in time, from the zero state at the series' end, and the
    readout sees the states of both runs, concatenated: at step t, x(t) of
    the forward run and the state of the reversed run after it has read the
    series from its end back to step t. The readout then knows the whole
    series at every step, which helps sequence classification; it is
    non-causal (a step's output depends on later inputs), so it suits
    labelling recorded series, not streaming ones. For several reservoirs
    whose votes are averaged, see :class:`reservoir.ReservoirEnsembleClassifier`.

    The readout is a ridge regression onto +-1 class indicators (one column
    per class; one column for two classes), as in scikit-learn's
    ``RidgeClassifier``. ``predict_proba`` is the softmax of the decision
    values: a monotone score, not a calibrated probability (wrap the model
    in ``CalibratedClassifierCV`` when calibration matters).

    Parameters
    ----------{RESERVOIR_PARAMS_DOC}{READOUT_PARAMS_DOC}
    pooling : {{"mean", "last"}}, default="mean"
        For per-series labels: the mean of the readout features over the
        steps after the washout, or the features of the last step. With
        ``bidirectional``, the reversed run's states are pooled the same
        way over its own steps (its washout counted from the series' end;
        "last": its state after reading the series back to the first step).
    bidirectional : bool, default=False
        Concatenate the states of a run over the time-reversed series (see
        above; non-causal). Per-step labels then keep the reversed run's
        states of a whole batch in memory, (n_series, n_timesteps, n_units).
{COMMON_TAIL_DOC}
    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
    reservoir_ : Reservoir
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
                 input_noise=0.0, pooling="mean", bidirectional=False, random_state=None,
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
        self.pooling = pooling
        self.bidirectional = bidirectional
        self.random_state = random_state
        self.dtype = dtype

    # ------------------------------------------------------------------ labels

    def _indicator(self, codes):
        """+-1 class indicators: one column for 2 classes, one per class otherwise.

        Codes of any shape get the indicator axis last.
        """
        codes = np.asarray(codes)
        n_classes = len(self.classes_)
        if n_classes == 2:
            return (2.0 * codes - 1.0)[..., None]
        return 2.0 * np.eye(n_classes)[codes] - 1.0

    # ------------------------------------------------------------------ fit

    @host_blas_policy
    def fit(self, X, y):
        """Fit the readout to per-step or per-series labels.

        Parameters
        ----------
        X : array-like of shape (n_timesteps, n_features), a list of such
            (1-D items are one feature), or an array of shape
            (n_series, n_timesteps, n_features)
        y : array-like of shape (n_timesteps,) (per step; or a list of such
            per series) or (n_series,) (one label per series)

        X and y may also be Dask collections (a 3-D array chunked along
        series, a bag or a list of delayed series, or one series chunked in
        time): the fit then runs on the Dask cluster, see
        :func:`reservoir.distributed.fit`.

        Returns
        -------
        self
        """
        if is_dask_collection(X):
            return fit_distributed(self, X, y)
        features = self._validate_readout_params()
        self._validate_classifier_params()
        if y is None:
            raise ValueError("ESNClassifier requires y to be passed, but the target y is None")
        per_series = labels_per_series(X, y)
        codes = self._encode(y, per_series, X)
        # Labels are encoded on the host; the +-1 targets go to X's namespace.
        first = X[0] if isinstance(X, (list, tuple)) and len(X) else X
        xp_data = get_namespace(first)
        kw = device_kwargs(first, xp_data) if hasattr(first, "shape") else {}
        if isinstance(codes, list):
            targets = [to_namespace(self._indicator(c), xp_data, **kw) for c in codes]
        else:
            targets = to_namespace(self._indicator(codes), xp_data, **kw)
        self._per_series = per_series
        batch, Y, _ = validate_series(self, X, targets, reset=True, dtype=self.dtype,
                                      min_length=self.washout + 1, y_per_series=per_series)
        xp = batch.xp
        dtype = self._target_dtype(xp)
        self._draw(self.n_features_in_, check_generator(self.random_state))
        accumulator = self._accumulator(features, int(Y.shape[-1]), batch.data)
        final = self._accumulate_batch(accumulator, batch, Y, features, per_series)
        self._finish_fit(accumulator, features, n_outputs=int(Y.shape[-1]), y_one_d=False,
                         dtype=dtype)
        self._final_state = final
        self._fit_layout = batch.layout
        self._one_step_ahead = False
        self.final_state_ = (self._final_state[0, ...] if batch.layout == "single"
                             else self._final_state)
        return self

    def _check_params(self):
        super()._check_params()
        self._validate_classifier_params()

    def _check_fitted(self, check, dtype):
        if check.together("readout_", "_readout_features_", "_readout_functions", "n_outputs_",
                          "classes_", "_per_series"):
            self._check_classes(check)
            expected = check.sizes["n_outputs"]
            self._check_readout(check, dtype)
            check.integer("n_outputs_", equal=expected)
            self._check_fit_end(check, dtype=dtype, targets=False)

    def _validate_classifier_params(self):
        if self.pooling not in ("mean", "last"):
            raise ValueError(f"pooling must be 'mean' or 'last', got {self.pooling!r}")
        if not isinstance(self.bidirectional, (bool, np.bool_)):
            raise TypeError(f"bidirectional must be a bool, got {self.bidirectional!r}")

    def _accumulate_batch(self, accumulator, batch, Y, features, per_series):
        """Add a validated batch's training rows to ``accumulator``; return the final states.

        The rows are the pooled features of each series (per-series labels)
        or the steps after the washout (per-step labels). Shared by ``fit``
        and by the partial statistics of :mod:`reservoir.distributed`.
        """
        xp = batch.xp
        dtype = self._target_dtype(xp)
        inputs = self._training_inputs(batch.data, dtype)
        noise = self._noise(xp, dtype, batch.data)
        final = StepCollector(np.asarray(batch.lengths) - 1)
        if per_series:
            pooled = self._pooled_features(inputs, batch.lengths, None, features, noise=noise,
                                           final=final)
            accumulator.update(pooled, Y)
        else:
            with background_updates(accumulator, batch.data) as sink:
                for t0, S, F in self._step_features(inputs, batch.lengths, None, features,
                                                    noise=noise):
                    index = np.flatnonzero(training_steps(t0, S.shape[1], batch.lengths,
                                                          self.washout))
                    if index.size:
                        sink.update(take_rows(F, index, xp),
                                    take_rows(Y[:, t0:t0 + S.shape[1], :], index, xp))
                    final.update(S, t0, xp)
        return final.result(xp)

    def _n_features_out(self, features):
        n = super()._n_features_out(features)
        if self.bidirectional:
            n += self._state_size() * (("state" in features) + ("squared_state" in features))
        return n

    def _step_features(self, inputs, lengths, x0, features, *, noise=None):
        """Stream (t0, states, readout features) of every step of a padded batch.

        With ``bidirectional``, the features of step t end with the reversed
        run's state features at step t, computed for the whole batch first.
        """
        xp = get_namespace(inputs)
        backward = None
        if self.bidirectional:
            backward = self._reversed_run(inputs, lengths, noise=noise)
        for t0, S in self._run_states(inputs, x0, noise=noise):
            c = S.shape[1]
            F = readout_features(inputs[:, t0:t0 + c, :], S, features)
            if backward is not None:
                F = xp.concat([F, _state_features(backward[:, t0:t0 + c, :], features)], axis=-1)
            yield t0, S, F

    def _reversed_run(self, inputs, lengths, *, noise=None):
        """States of the run over each series reversed in time, re-aligned with the series."""
        xp = get_namespace(inputs)
        reversed_inputs = _reverse_in_time(inputs, lengths)
        chunks = [S for _, S in self._run_states(reversed_inputs, None, noise=noise)]
        states = chunks[0] if len(chunks) == 1 else xp.concat(chunks, axis=1)
        return _reverse_in_time(states, lengths)

    def _pooled_features(self, inputs, lengths, x0, features, *, noise=None, final=None):
        """(n_series, F) pooled readout features of each series after the washout."""
        pooled = self._pooled_run(inputs, lengths, x0, features, noise=noise, final=final)
        if not self.bidirectional:
            return pooled
        xp = get_namespace(inputs)
        backward = self._pooled_run(_reverse_in_time(inputs, lengths), lengths, None, features,
                                    noise=noise, states_only=True)
        return xp.concat([pooled, backward], axis=-1)

    def _pooled_run(self, inputs, lengths, x0, features, *, noise=None, final=None,
                    states_only=False):
        """Pooled features of one run; ``states_only`` leaves the inputs out."""
        xp = get_namespace(inputs)
        dtype = self._target_dtype(xp)
        sums = None
        last = StepCollector(np.asarray(lengths) - 1)
        for t0, S in self._run_states(inputs, x0, noise=noise):
            if final is not None:
                final.update(S, t0, xp)
            if states_only:
                F = _state_features(S, features)
            else:
                F = readout_features(inputs[:, t0:t0 + S.shape[1], :], S, features)
            if self.pooling == "last":
                last.update(F, t0, xp)
                continue
            # Weights 1 for the steps that count for each series in this chunk.
            mask = step_mask(t0, S.shape[1], lengths, self.washout).astype(float)
            mask = to_namespace(mask, xp, dtype=dtype, **device_kwargs(F, xp))
            part = xp.sum(F * mask[:, :, None], axis=1)
            sums = part if sums is None else sums + part
        if self.pooling == "last":
            return last.result(xp)
        counts = np.asarray([n - self.washout for n in lengths], dtype=float)
        return sums / to_namespace(counts, xp, dtype=dtype, **device_kwargs(sums, xp))[:, None]

    # ------------------------------------------------------------------ predict

    @host_blas_policy
    def decision_function(self, X, *, initial_state=None):
        """Readout scores: shape (n_timesteps,) for two classes, (n_timesteps, n_classes)
        otherwise; per series (n_series, ...) for per-series labels."""
        batch = self._scoring_batch(X)
        per_series = self._per_series
        xp = batch.xp
        x0 = self._continue_state(initial_state, batch)
        readout = self.readout_function(batch.data)
        if per_series:
            pooled = self._pooled_features(batch.data, batch.lengths, x0, self._readout_features_)
            scores = pooled @ readout.coef_t + readout.intercept
            return scores[:, 0] if scores.shape[1] == 1 else scores
        chunks = [F @ readout.coef_t + readout.intercept
                  for _, _, F in self._step_features(batch.data, batch.lengths, x0,
                                                     self._readout_features_)]
        scores = chunks[0] if len(chunks) == 1 else xp.concat(chunks, axis=1)
        return batch.restore(scores, squeeze_output=len(self.classes_) == 2)

    def _probabilities(self, scores):
        # Softmax of the +-1 regression scores: a monotone score, not a calibrated probability.
        xp = get_namespace(scores)
        if len(self.classes_) == 2:
            scores = xp.stack([-scores, scores], axis=-1)
        z = scores - xp.max(scores, axis=-1, keepdims=True)
        e = xp.exp(z)
        return e / xp.sum(e, axis=-1, keepdims=True)

    def __sklearn_is_fitted__(self):
        return hasattr(self, "readout_")
