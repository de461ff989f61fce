"""Gradient-trained recurrent classifiers with the interface of ``ESNClassifier``.

:class:`ElmanClassifier`, :class:`LSTMClassifier` and :class:`GRUClassifier`
take per-step labels (one per time step) or per-series labels (one per
series, from several series), as :class:`reservoir.ESNClassifier` does, with
the same ``pooling``, washout and state rules. Unlike the reservoir, whose
readout is a ridge regression onto class indicators, the whole network is
trained on the cross-entropy (log loss) of a logistic output (two classes)
or a softmax (more), so ``predict_proba`` is the model's own probability
estimate.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import ClassifierMixin

from .._backend import device_kwargs, get_namespace, to_namespace
from .._base import SequenceClassifierMixin, labels_per_series
from .._validation import validate_series
from ._base import (
    ATTRIBUTES_DOC,
    PARAMS_DOC,
    PeepholeOption,
    RecurrentNetworkBase,
    store_arguments,
)
from ._network import readout, run_network, state_to_array
from ._objectives import POOLINGS, pool, pool_weights

__all__ = ["ElmanClassifier", "GRUClassifier", "LSTMClassifier"]


class _RecurrentClassifier(SequenceClassifierMixin, ClassifierMixin, RecurrentNetworkBase):
    """Fit, decision values, probabilities and accuracy shared by the classifiers."""

    def __init__(self, n_units=32, *, n_layers=1, bidirectional=False, washout=0,
                 sequence_length=100, window_stride=None, batch_size=16, bptt_steps=None,
                 gradient="bptt", solver="adam", learning_rate_init=3e-3,
                 learning_rate="constant", power_t=0.5, momentum=0.9, beta_1=0.9, beta_2=0.999,
                 epsilon=1e-8, clip_norm=1.0, weight_decay=0.0, dropout=0.0, input_dropout=0.0,
                 zoneout=0.0, spectral_radius=1.0, max_iter=300, tol=1e-4, n_iter_no_change=30,
                 early_stopping=False, validation_fraction=0.1, pooling="mean",
                 random_state=None, dtype="float64", verbose=False):
        store_arguments(self, locals())

    # ------------------------------------------------------------------ labels

    def _targets(self, codes):
        """Training targets of integer codes: 0/1 for two classes, one-hot otherwise."""
        codes = np.asarray(codes)
        if len(self.classes_) == 2:
            return codes[..., None].astype(float)
        return np.eye(len(self.classes_))[codes]

    # ------------------------------------------------------------------ fit

    def fit(self, X, y):
        """Train the network on per-step or per-series labels.

        Parameters
        ----------
        X : array-like of shape (n_timesteps, n_features), a list of such
            (1-D items are one feature), or an array of shape
            (n_series, n_timesteps, n_features)
        y : array-like of shape (n_timesteps,) (per step; a list of such, or
            an array of shape (n_series, n_timesteps), for several series), or
            of shape (n_series,) (one label per series)

        Returns
        -------
        self

        Raises
        ------
        FloatingPointError
            If training diverges; the estimator is then left unfitted.
        """
        self._validate_params()
        if y is None:
            raise ValueError(f"{type(self).__name__} requires y to be passed, but the target y "
                             "is None")
        per_series = labels_per_series(X, y)
        if per_series and self.bptt_steps is not None:
            raise ValueError(
                f"bptt_steps={self.bptt_steps} applies to per-step labels; a label per series "
                "is learned from the whole series: use bptt_steps=None"
            )
        codes = self._encode(y, per_series, X)
        # Labels are encoded on the host; the 0/1 targets go to X's namespace.
        first = X[0] if isinstance(X, (list, tuple)) and len(X) else X
        xp_data = get_namespace(first)
        kw = device_kwargs(first, xp_data) if hasattr(first, "shape") else {}
        if isinstance(codes, list):
            targets = [to_namespace(self._targets(c), xp_data, **kw) for c in codes]
        else:
            targets = to_namespace(self._targets(codes), xp_data, **kw)
        batch, Y, _ = validate_series(self, X, targets, reset=True, dtype=self.dtype,
                                      min_length=self.washout + 1, y_per_series=per_series)
        self._per_series = per_series
        spec, params = self._train(batch, Y, loss="log_loss",
                                   pooling=self.pooling if per_series else None)
        _, final, _ = run_network(spec, params, batch.data, lengths=batch.lengths,
                                  keep_cache=False)
        self._final_state = state_to_array(spec, final)
        self._fit_layout = batch.layout
        self._one_step_ahead = False
        self.final_state_ = (self._final_state[0, ...] if batch.layout == "single"
                             else self._final_state)
        return self

    def _validate_params(self):
        super()._validate_params()
        if self.pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {POOLINGS}, got {self.pooling!r}")

    def _check_outputs(self, check):
        self._check_classes(check)
        return False

    # ------------------------------------------------------------------ predict

    def decision_function(self, X, *, initial_state=None):
        """Logits: shape (n_timesteps,) for two classes, (n_timesteps, n_classes)
        otherwise, in X's layout; per series (n_series,) or (n_series, n_classes)
        for per-series labels.

        Parameters
        ----------
        X : series in any accepted layout
        initial_state : None, "continue" or array, optional
            See :meth:`reservoir.rnn.ElmanRegressor.predict`.
        """
        batch = self._scoring_batch(X)
        per_series = self._per_series
        xp = batch.xp
        spec, params, H = self._hidden(batch, initial_state)
        binary = len(self.classes_) == 2
        if per_series:
            mask = np.zeros(tuple(H.shape[:2]))
            for i, n in enumerate(batch.lengths):
                mask[i, self.washout:n] = 1.0
            mask = to_namespace(mask, xp, dtype=H.dtype, **device_kwargs(H, xp))
            scores = readout(params, pool(spec, H, pool_weights(spec, mask, batch.lengths,
                                                                 self.pooling, H)))
            return scores[:, 0] if binary else scores
        return batch.restore(readout(params, H), squeeze_output=binary)

    def _probabilities(self, scores):
        xp = get_namespace(scores)
        if len(self.classes_) == 2:
            scores = xp.stack([xp.zeros_like(scores), scores], axis=-1)
        z = scores - xp.max(scores, axis=-1, keepdims=True)
        e = xp.exp(z)
        return e / xp.sum(e, axis=-1, keepdims=True)


def _class_doc(summary, equations, *, recurrent, extra, n_gates, state_extra, state_size,
               extra_params="", example):
    attributes = ATTRIBUTES_DOC.format(recurrent=recurrent, extra=extra, n_gates=n_gates,
                                       loss="the mean cross-entropy",
                                       state_extra=state_extra, state_size=state_size)
    return f"""{summary}

    {equations}

    Two tasks share one estimator, as for :class:`reservoir.ESNClassifier`:

    * per-step labels: X of shape (n_timesteps, n_features) (or several
      series) and y with one label per time step; the network is trained on
      windows of the series, like the regressors;
    * per-series labels: several series (a list, lengths may differ, or a
      3-D array) and y with one label per series. The top layer's hidden
      states after the washout are pooled (``pooling``) into one vector per
      series, which the readout classifies; each series is trained whole.

    The output is a logistic unit for two classes, a softmax over classes
    otherwise, trained on the cross-entropy; ``predict_proba`` returns its
    probabilities and ``decision_function`` its logits.

    Parameters
    ----------{PARAMS_DOC}    pooling : {{"mean", "last"}}, default="mean"
        For per-series labels: the mean of the hidden states over the steps
        after the washout, or each direction's final state (the forward
        direction's at the last step, the reverse direction's at the first).
{extra_params}
    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,){attributes}
    See Also
    --------
    reservoir.ESNClassifier : the reservoir counterpart, which trains only a ridge readout.

    Examples
    --------{example}
    """


_EXAMPLE = """
    >>> import numpy as np
    >>> from reservoir.rnn import {name}
    >>> rng = np.random.default_rng(0)
    >>> t = np.linspace(0, 4 * np.pi, 40)[:, None]
    >>> X = [np.sin(t * (1 + k % 2)) + 0.1 * rng.standard_normal(t.shape) for k in range(40)]
    >>> y = np.array([k % 2 for k in range(40)])
    >>> clf = {name}(n_units=8, random_state=0).fit(X[:30], y[:30])
    >>> float(clf.score(X[30:], y[30:]))
    1.0"""


class ElmanClassifier(_RecurrentClassifier):
    __doc__ = _class_doc(
        "Elman recurrent network classifier, per time step or per series.",
        "h(t) = tanh(W_hh h(t-1) + W_xh x(t) + b_h),   logits = W_hy h + b_y.",
        recurrent=" (n_units, n_units)", extra="", n_gates="1", state_extra="",
        state_size="n_layers * n_directions * n_units",
        example=_EXAMPLE.format(name="ElmanClassifier"),
    )
    _cell_name = "elman"


class LSTMClassifier(PeepholeOption, _RecurrentClassifier):
    __doc__ = _class_doc(
        "Long short-term memory classifier, per time step or per series.",
        """i, f, o = sigmoid(.), g = tanh(.) of W_xh x(t) + W_hh h(t-1) + b_h,
    c(t) = f c(t-1) + i g,   h(t) = o tanh(c(t)),   logits = W_hy h + b_y.""",
        recurrent=" (4 * n_units, n_units)",
        extra=", ``W_ch_l`` (3 * n_units,) with ``peephole``", n_gates="4",
        state_extra=" then c", state_size="2 * n_layers * n_directions * n_units",
        extra_params="""    peephole : bool, default=False
        Peephole connections from the cell state to the gates (Gers &
        Schmidhuber 2000).
""",
        example=_EXAMPLE.format(name="LSTMClassifier"),
    )

    def __init__(self, n_units=32, *, n_layers=1, bidirectional=False, washout=0,
                 sequence_length=100, window_stride=None, batch_size=16, bptt_steps=None,
                 gradient="bptt", solver="adam", learning_rate_init=3e-3,
                 learning_rate="constant", power_t=0.5, momentum=0.9, beta_1=0.9, beta_2=0.999,
                 epsilon=1e-8, clip_norm=1.0, weight_decay=0.0, dropout=0.0, input_dropout=0.0,
                 zoneout=0.0, spectral_radius=1.0, max_iter=300, tol=1e-4, n_iter_no_change=30,
                 early_stopping=False, validation_fraction=0.1, pooling="mean",
                 random_state=None, dtype="float64", verbose=False, peephole=False):
        store_arguments(self, locals())


class GRUClassifier(_RecurrentClassifier):
    __doc__ = _class_doc(
        "Gated recurrent unit classifier, per time step or per series.",
        """r = sigmoid(x_r + h_r),  u = sigmoid(x_u + h_u),  n = tanh(x_n + r (h_n + b_hn)),
    h(t) = (1 - u) n + u h(t-1),   logits = W_hy h + b_y.""",
        recurrent=" (3 * n_units, n_units)", extra=", ``b_hn_l`` (n_units,)", n_gates="3",
        state_extra="", state_size="n_layers * n_directions * n_units",
        example=_EXAMPLE.format(name="GRUClassifier"),
    )
    _cell_name = "gru"
