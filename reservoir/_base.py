"""What every sequence estimator of the package shares, reservoir or gradient-trained.

* Layouts: one series (n_timesteps, n_features), a list of series (lengths
  may differ; 1-D items are one feature) or a 3-D batch; outputs come back in
  the input's layout and namespace.
* State rule: every method starts from the zero state unless
  ``initial_state`` is given (an array, or ``"continue"`` for the state at the
  end of the fitted data), and no method changes a fitted model.
* Washout rule: the first ``washout`` steps of a run from the zero state are
  transient: ``fit`` does not train on them and ``score`` does not score
  them, for each series, pooled over all steps of all series. A run from a
  given state has no transient.
* Continuation: a model fitted one step ahead (X[t + 1] == y[t], as
  :func:`reservoir.datasets.to_forecasting` makes) continues with the last
  fitted target as its next input; ``initial_state="continue"`` on inputs that
  start elsewhere warns, because a step of the series has been skipped.
* Closed-loop ``forecast`` from the end of the fitted data or after contexts,
  with divergence detection: a forecast that leaves a bounded region around
  the fitted targets' range (or stops being finite) is cut there, its later
  steps set to NaN, and a :class:`ForecastDivergenceWarning` says at which
  step of which window.
"""

from __future__ import annotations

import numpy as np
from sklearn.utils.validation import check_is_fitted

from ._backend import device_kwargs, get_namespace, host_blas_policy, to_numpy
from ._rows import rows_at, step_mask
from ._validation import check_initial_state, check_interval, is_multi_series, validate_series
from ._warn import warn

__all__ = [
    "DIVERGENCE_BOUND",
    "ForecastDivergenceWarning",
    "SequenceClassifierMixin",
    "SequenceEstimatorMixin",
    "SequenceRegressorMixin",
    "labels_per_series",
    "pooled_steps",
]

# How far outside the fitted targets' range a closed-loop forecast may go, in
# widths of that range, before it counts as diverged. A forecast of a
# stationary series stays near the range it was trained on; ten widths away
# is far past any plausible overshoot, while a diverging loop (growing
# geometrically) crosses it within a step or two of leaving the attractor.
DIVERGENCE_BOUND = 10.0


class ForecastDivergenceWarning(UserWarning):
    """A closed-loop forecast left its bounded region; its later steps are NaN.

    Emitted once per :meth:`SequenceRegressorMixin.forecast` call. The
    warning's ``steps`` attribute holds, for each forecast window (series),
    the first step (0-based, an index into the forecast) that is not finite
    or lies out of bounds, or -1 where the window stayed bounded.
    """

    def __init__(self, message, steps=None):
        super().__init__(message)
        self.steps = steps


def _series_list(a, multi):
    """Host arrays, one per series, of an output or target in a user layout."""
    if multi:
        items = list(a) if isinstance(a, (list, tuple)) else [a[i, ...] for i in range(a.shape[0])]
    else:
        items = [a]
    return [np.asarray(to_numpy(v) if hasattr(v, "shape") else v) for v in items]


def pooled_steps(X, y_true, y_pred, *, washout=0, sample_weight=None):
    """Rows of every series after its washout, stacked: what a time-series score compares.

    Parameters
    ----------
    X : the inputs the prediction was made on, in any accepted layout
        (only its layout is read: one series or several).
    y_true, y_pred : targets and predictions in the layout of X
    washout : int
        Leading steps of each series left out.
    sample_weight : per-step weights in the layout of the targets, optional

    Returns
    -------
    y_true, y_pred : ndarray of shape (n_rows, n_outputs), on the host
    sample_weight : ndarray of shape (n_rows,) or None
    """
    multi = is_multi_series(X)
    trues, preds = _series_list(y_true, multi), _series_list(y_pred, multi)
    if len(trues) != len(preds):
        raise ValueError(f"y has {len(trues)} series but the prediction has {len(preds)}")
    weights = None if sample_weight is None else _series_list(sample_weight, multi)
    if weights is not None and len(weights) != len(trues):
        raise ValueError(f"sample_weight has {len(weights)} series but y has {len(trues)}")
    rows_true, rows_pred, rows_weight = [], [], []
    for i, (t, p) in enumerate(zip(trues, preds, strict=True)):
        n = t.shape[0]
        if p.shape[0] != n:
            raise ValueError(f"series {i}: y has {n} time steps but the prediction has {p.shape[0]}")
        if n <= washout:
            raise ValueError(
                f"series {i} has {n} time steps, not more than washout={washout}: no step is left "
                "to score once the transient is left out"
            )
        rows_true.append(t[washout:].reshape(n - washout, -1))
        rows_pred.append(p[washout:].reshape(n - washout, -1))
        if weights is not None:
            w = weights[i].reshape(-1)
            if w.shape[0] != n:
                raise ValueError(f"sample_weight of series {i} has {w.shape[0]} steps, y has {n}")
            rows_weight.append(w[washout:])
    return (np.concatenate(rows_true), np.concatenate(rows_pred),
            None if weights is None else np.concatenate(rows_weight))


class SequenceEstimatorMixin:
    """Initial-state and continuation rules shared by every sequence estimator.

    ``fit`` calls :meth:`_record_fit_end` (or sets ``_final_state`` itself);
    methods resolve ``initial_state`` with :meth:`_start_state`.
    """

    def _blas_units(self):
        """Size that sets the host BLAS thread policy (:func:`host_blas_policy`); None: no limit."""
        return None

    # ------------------------------------------------------------------ states

    def _start_state(self, initial_state, batch, *, size, xp, dtype):
        """``initial_state`` as an array (n_series, size), zeros for None.

        ``"continue"`` takes the state at the end of the fitted data, after a
        check that the inputs continue the fitted series.
        """
        x0 = check_initial_state(initial_state, n_series=batch.n_series, size=size, xp=xp,
                                 dtype=dtype, like=batch.data,
                                 final_state=getattr(self, "_final_state", None))
        if isinstance(initial_state, str):
            self._check_continuation(batch)
        if x0 is None:
            return xp.zeros((batch.n_series, size), dtype=dtype, **device_kwargs(batch.data, xp))
        return x0

    def _record_fit_end(self, batch, Y, final_state):
        """Keep where the fitted data ends: state, last targets, layout, alignment."""
        xp = batch.xp
        last = np.asarray(batch.lengths) - 1
        self._final_state = final_state
        self._final_target = rows_at(Y, last, xp)
        self._fit_layout = batch.layout
        self._one_step_ahead = self._is_one_step_ahead(batch, Y)
        self._target_range = self._fitted_range(Y, batch.lengths, xp)
        self.final_state_ = final_state[0, ...] if batch.layout == "single" else final_state

    @staticmethod
    def _fitted_range(Y, lengths, xp):
        """Host array (2, n_outputs): the smallest and largest fitted target of each output.

        Only each series' own steps count, not the padding of shorter series.
        """
        lengths = [int(n) for n in lengths]
        if all(n == Y.shape[1] for n in lengths):
            parts = [Y]
        else:
            parts = [Y[i:i + 1, :n, :] for i, n in enumerate(lengths)]
        low = [xp.min(xp.min(p, axis=1), axis=0) for p in parts]
        high = [xp.max(xp.max(p, axis=1), axis=0) for p in parts]
        low = np.min(np.stack([np.asarray(to_numpy(v), dtype=np.float64) for v in low]), axis=0)
        high = np.max(np.stack([np.asarray(to_numpy(v), dtype=np.float64) for v in high]), axis=0)
        return np.stack([low, high])

    @staticmethod
    def _is_one_step_ahead(batch, Y):
        """Whether X[t + 1] == y[t] for every step of every series (forecasting pairs)."""
        data = batch.data
        if Y.shape[2] != data.shape[2] or data.shape[1] < 2:
            return False
        xp = batch.xp
        equal = xp.all(data[:, 1:, :] == Y[:, :-1, :], axis=2)
        counted = step_mask(0, data.shape[1] - 1, np.asarray(batch.lengths) - 1, 0)
        if not counted.any():
            return False
        return bool(np.all(np.asarray(to_numpy(equal))[counted]))

    # ------------------------------------------------------------------ schema

    def _check_fit_end(self, check, *, dtype, targets=True):
        """The schema of what :meth:`_record_fit_end` keeps, in ``check``'s sizes.

        ``state_size`` and (with ``targets``) ``n_outputs`` must be set; the
        states are in the model's ``dtype``.
        """
        layout = check.choice("_fit_layout", ("single", "list", "array"))
        final = check.array("_final_state", (None, "state_size"), dtype=dtype)
        check.sizes["n_series"] = int(final.shape[0])
        if layout == "single":
            check.integer("_final_state.shape[0]", equal=1, value=final.shape[0])
            last = check.array("final_state_", ("state_size",), dtype=dtype)
            if not np.array_equal(np.asarray(to_numpy(last)), np.asarray(to_numpy(final[0])),
                                  equal_nan=True):
                check.fail("final_state_", "_final_state[0] (the state after the fitted data)",
                           "other values")
        else:
            check.same("final_state_", "_final_state")
        one_step_ahead = check.boolean("_one_step_ahead")
        if not targets:
            return
        if one_step_ahead and check.sizes["n_outputs"] != check.sizes["n_features_in_"]:
            check.fail("_one_step_ahead", "False for a model with as many outputs as inputs",
                       True)
        check.array("_final_target", ("n_series", "n_outputs"), dtype=dtype)
        check.array("_target_range", (2, "n_outputs"), dtype=np.float64)

    def _check_continuation(self, batch):
        if not getattr(self, "_one_step_ahead", False):
            return
        xp = batch.xp
        target = self._final_target
        if get_namespace(target) is not xp:
            return
        first = batch.data[:, 0, :]
        if bool(xp.all(first == target)):
            return
        warn(
            "initial_state='continue' starts from the state after the last fitted input, and this "
            "model was fitted one step ahead (X[t + 1] == y[t]), so its next input is the last "
            "fitted target y[-1]; X[0] differs from it, which skips a step of the series. Start X "
            "with that value, e.g. predict(np.concatenate([y_train[-1:], X_test]), "
            "initial_state='continue'), or see 'Continuing a series' in the user guide.",
            UserWarning,
        )



class SequenceRegressorMixin(SequenceEstimatorMixin):
    """Washout-aware ``score`` and closed-loop ``forecast`` of sequence regressors.

    A subclass provides ``washout``, ``dtype`` and ``predict(X, *,
    initial_state)``; for ``forecast`` also ``_forecast_continued(n_steps)``
    and ``_forecast_after(batch, n_steps, initial_state)``, each returning
    outputs of shape (n_series, n_steps, n_outputs).
    """

    def score(self, X, y, sample_weight=None, *, initial_state=None):
        """Coefficient of determination R^2, pooled over every scored time step.

        The prediction starts from the zero state unless ``initial_state`` is
        given. From the zero state, the first ``washout`` steps of each series
        are transient and not scored, as in ``fit``; the remaining steps of
        all series are pooled into one R^2 (averaged uniformly over outputs),
        whatever the layout (one series, a list, a 3-D batch).

        Parameters
        ----------
        X : array-like of shape (n_timesteps, n_features), a list of such, or
            an array of shape (n_series, n_timesteps, n_features)
        y : targets aligned with X, in its layout
        sample_weight : per-step weights in the layout of y, optional
        initial_state : None, "continue" or array, optional

        Returns
        -------
        score : float
        """
        from sklearn.metrics import r2_score

        y_pred = self.predict(X, initial_state=initial_state)
        washout = self.washout if initial_state is None else 0
        t, p, w = pooled_steps(X, y, y_pred, washout=washout, sample_weight=sample_weight)
        return float(r2_score(t, p, sample_weight=w))

    # ------------------------------------------------------------------ forecast

    @host_blas_policy
    def forecast(self, n_steps, *, context=None, initial_state=None,
                 divergence_bound=DIVERGENCE_BOUND):
        """Closed-loop forecast of an autonomous series.

        Each prediction is fed back as the next input. Without ``context``,
        the forecast continues the fitted data: the last fitted target is the
        next input, and the first forecast value predicts the step after it.
        With ``context`` (rows of the series, oldest first), the model is run
        over the context, teacher forced, from ``initial_state`` or zeros, and
        the first forecast value predicts the step after the context's last
        row. The context should be long enough for the state to forget its
        start (at least ``washout`` steps).

        A closed loop can diverge: once its outputs leave the region the
        model was trained on, they are fed back as inputs it has never seen
        and typically grow without bound. A forecast step is *invalid* when
        any of its outputs is not finite, or lies further outside the fitted
        targets' range [min, max] than ``divergence_bound`` times the width
        max - min of that range (per output; an output that was constant in
        training counts as width max(1, abs(value))). From the first invalid
        step on, every step of that window is set to NaN, and one
        :class:`reservoir.ForecastDivergenceWarning` names the step
        and the window (its ``steps`` attribute holds the first invalid step
        of every window, -1 for those that stayed bounded).

        Parameters
        ----------
        n_steps : int
            Number of future steps to predict.
        context : array-like of shape (n_timesteps, n_features), list of
            such (lengths may differ), or array of shape
            (n_series, n_timesteps, n_features), optional
        initial_state : None or array, optional
            State before the context's first step.
        divergence_bound : float or None, default=10.0
            How many widths of the fitted targets' range a forecast may go
            beyond that range before it counts as diverged. None checks only
            that the outputs are finite (for series that are expected to
            leave their training range, such as a trend).

        Returns
        -------
        forecast : array of shape (n_steps, n_outputs), or
            (n_series, n_steps, n_outputs) for several series, in the
            namespace of the context (of the fitted data without one); NaN
            from the first invalid step of a diverged window on.

        Warns
        -----
        ForecastDivergenceWarning
            Once, when at least one window diverged.
        """
        return self._forecast(n_steps, context, initial_state, divergence_bound)

    def _forecast(self, n_steps, context, initial_state, divergence_bound, **path):
        """:meth:`forecast`; with ``path`` (``readouts=``), one forecast per readout.

        The closed loops of several readouts of one reservoir run as one batch
        (see ``ESNRegressor.forecast_ridge_path``); the result is then a list
        with one forecast per readout, each checked for divergence on its own.
        """
        check_is_fitted(self)
        check_interval("n_steps", n_steps, low=1, integer=True)
        check_interval("divergence_bound", divergence_bound, low=0, allow_none=True)
        if self.n_outputs_ != self.n_features_in_:
            raise ValueError(
                "forecast feeds each prediction back as the next input, so the model needs as many "
                f"outputs as input features; it was fitted with {self.n_features_in_} features and "
                f"{self.n_outputs_} outputs"
            )
        if context is None:
            if initial_state is not None:
                raise ValueError("initial_state applies to a context; pass context as well")
            # A diverging loop overflows on the way; the divergence check below
            # reports it once, in the words of the forecast.
            with np.errstate(over="ignore", invalid="ignore"):
                out = self._forecast_continued(int(n_steps), **path)
            layout = self._fit_layout
        else:
            if isinstance(initial_state, str):
                raise ValueError(
                    "initial_state='continue' does not apply to a context: forecast without a "
                    "context continues the fitted data"
                )
            batch, _, _ = validate_series(self, context, None, reset=False, dtype=self.dtype,
                                          require_y=False)
            with np.errstate(over="ignore", invalid="ignore"):
                out = self._forecast_after(batch, int(n_steps), initial_state, **path)
            layout = batch.layout

        def finish(out):
            out = self._cut_divergence(out, divergence_bound)
            out = out[0, ...] if layout == "single" else out
            return out[..., 0] if self._y_one_d else out

        if not path:
            return finish(out)
        # A loop, not a comprehension: the warnings' stack level counts frames.
        forecasts = []
        for i in range(out.shape[0]):
            forecasts.append(finish(out[i, ...]))
        return forecasts

    def _cut_divergence(self, out, bound):
        """``out`` (n_series, n_steps, n_outputs) with NaN from each window's first invalid step.

        Warns once (:class:`ForecastDivergenceWarning`) when a window diverged.
        """
        xp = get_namespace(out)
        with np.errstate(over="ignore", invalid="ignore"):
            invalid = ~xp.all(xp.isfinite(out), axis=2)
            target_range = getattr(self, "_target_range", None)
            if bound is not None and target_range is not None:
                low, high = target_range
                width = high - low
                middle = (low + high) / 2
                width = np.where(width > 0, width, np.maximum(1.0, np.abs(middle)))
                limit = width * (float(bound) + 0.5)
                kw = device_kwargs(out, xp)
                middle = xp.asarray(middle, dtype=out.dtype, **kw)
                limit = xp.asarray(limit, dtype=out.dtype, **kw)
                invalid = invalid | xp.any(xp.abs(out - middle) > limit, axis=2)
        invalid = np.asarray(to_numpy(invalid), dtype=bool)
        diverged = invalid.any(axis=1)
        if not diverged.any():
            return out
        steps = np.where(diverged, np.argmax(invalid, axis=1), -1)
        n_steps = invalid.shape[1]
        cut = np.arange(n_steps)[None, :] >= np.where(diverged, steps, n_steps)[:, None]
        cut = xp.asarray(cut[:, :, None], **device_kwargs(out, xp))
        out = xp.where(cut, xp.asarray(float("nan"), dtype=out.dtype, **device_kwargs(out, xp)), out)
        windows = np.flatnonzero(diverged)
        shown = ", ".join(f"window {w} at step {steps[w]}" for w in windows[:5])
        more = f" and {windows.size - 5} more" if windows.size > 5 else ""
        rule = ("stopped being finite" if bound is None else
                f"stopped being finite or went more than divergence_bound={bound} widths of the "
                "fitted targets' range outside that range")
        warn(ForecastDivergenceWarning(
            f"the closed-loop forecast diverged in {windows.size} of {invalid.shape[0]} window(s) "
            f"({shown}{more}; steps count from 0 over {n_steps} forecast steps): it {rule}. "
            "The forecast is NaN from that step on; the warning's `steps` attribute holds the "
            "first invalid step of every window (-1: bounded).", steps=steps))
        return out


def labels_per_series(X, y):
    """Whether y holds one label per series of X (sequence classification), not one per step."""
    if not is_multi_series(X) or y is None:
        return False
    if isinstance(y, (list, tuple)):
        return len(y) > 0 and np.ndim(y[0]) == 0
    shape = y.shape if hasattr(y, "shape") else np.asarray(y).shape
    return len(shape) == 1


def _host(a):
    return to_numpy(a) if hasattr(a, "shape") and not isinstance(a, np.ndarray) else a


class SequenceClassifierMixin:
    """Labels, predictions and accuracy shared by the sequence classifiers.

    Two tasks share one estimator: per-step labels (one per time step, in the
    layout of X) and per-series labels (one per series). A subclass provides
    ``decision_function(X, *, initial_state)`` (one column for two classes,
    one per class otherwise), ``_probabilities(scores)``, ``washout``, and
    calls :meth:`_encode` in ``fit`` and sets ``_per_series``.
    """

    def _encode(self, y, per_series, X):
        """Labels -> integer codes on the host, in y's structure; sets ``classes_``.

        y is one flat sequence of labels (per series, or per step of one
        series), a list of per-step label sequences (one per series), or, for
        a 3-D X, an array of shape (n_series, n_timesteps) of per-step labels.
        """
        from sklearn.preprocessing import LabelEncoder
        from sklearn.utils import assert_all_finite
        from sklearn.utils.multiclass import check_classification_targets
        from sklearn.utils.validation import column_or_1d

        if not isinstance(y, (list, tuple)):
            y = np.asarray(_host(y))
        if len(y) == 0:
            raise ValueError("y is empty: found 0 labels, expected at least one")
        as_list = isinstance(y, (list, tuple)) and not per_series and np.ndim(y[0]) != 0
        as_grid = (not isinstance(y, (list, tuple)) and not per_series and y.ndim == 2
                   and not isinstance(X, (list, tuple)) and len(getattr(X, "shape", ())) == 3)
        if as_list:
            pieces = []
            for i, t in enumerate(y):
                t = np.asarray(_host(t))
                if t.ndim != 1:
                    raise ValueError(
                        f"y[{i}] must be 1-D (one label per time step), got shape {t.shape}")
                pieces.append(t)
            flat = np.concatenate(pieces)
        elif as_grid:
            flat = y.reshape(-1)
        else:
            flat = column_or_1d(_host(y), warn=True)
        if flat.dtype.kind in "fc":
            assert_all_finite(flat, input_name="y")
        check_classification_targets(flat)
        encoder = LabelEncoder().fit(flat)
        self.classes_ = encoder.classes_
        if len(self.classes_) < 2:
            raise ValueError(
                f"{type(self).__name__} needs samples of at least 2 classes in y; got 1 class "
                f"({self.classes_[0]!r})"
            )
        codes = encoder.transform(flat)
        if as_list:
            return np.split(codes, np.cumsum([len(p) for p in pieces])[:-1])
        return codes.reshape(y.shape) if as_grid else codes

    def _check_classes(self, check):
        """``classes_`` (at least two distinct labels) and ``_per_series``; sets ``n_outputs``.

        The decision values have one column for two classes, one per class
        otherwise.
        """
        classes = check.array("classes_", (None,), dtype="label")
        n_classes = int(classes.shape[0])
        if n_classes < 2 or len(np.unique(np.asarray(classes))) != n_classes:
            check.fail("classes_", "at least two distinct labels", classes)
        check.sizes["n_outputs"] = 1 if n_classes == 2 else n_classes
        check.boolean("_per_series")

    def _scoring_batch(self, X):
        """X validated for ``decision_function``: a per-series classifier needs
        several series, each longer than the washout."""
        check_is_fitted(self)
        per_series = self._per_series
        batch, _, _ = validate_series(
            self, X, None, reset=False, dtype=self.dtype, require_y=False,
            min_length=self.washout + 1 if per_series else 1)
        if per_series and batch.layout == "single":
            raise ValueError(
                "this classifier was fitted with one label per series: pass several series "
                "(a list of series or a 3-D array)"
            )
        return batch

    def _labels_from_scores(self, scores):
        """Class labels from decision values: sign for two classes, argmax otherwise.

        In the scores' namespace and device when the classes are numbers; as
        NumPy arrays for other classes (strings), which device libraries
        cannot hold.
        """
        from ._backend import is_numpy, to_namespace

        xp = get_namespace(scores)
        if len(self.classes_) == 2:
            codes = xp.astype(scores > 0, xp.int64)
        else:
            codes = xp.argmax(scores, axis=-1)
        if is_numpy(xp) or self.classes_.dtype.kind not in "biuf":
            return self.classes_[np.asarray(to_numpy(codes))]
        classes = to_namespace(self.classes_, xp, **device_kwargs(scores, xp))
        return xp.reshape(xp.take(classes, xp.reshape(codes, (-1,)), axis=0), codes.shape)

    def predict(self, X, *, initial_state=None):
        """Predicted class per time step (or per series), in X's layout.

        Labels are arrays of X's namespace and device when the classes are
        numbers; string classes are returned as NumPy arrays.
        """
        scores = self.decision_function(X, initial_state=initial_state)
        if isinstance(scores, list):
            return [self._labels_from_scores(s) for s in scores]
        return self._labels_from_scores(scores)

    def predict_proba(self, X, *, initial_state=None):
        """Class probabilities (or monotone scores; see the class notes), shape (..., n_classes)."""
        scores = self.decision_function(X, initial_state=initial_state)
        if isinstance(scores, list):
            return [self._probabilities(s) for s in scores]
        return self._probabilities(scores)

    def _scoring_washout(self):
        return self.washout

    def score(self, X, y, sample_weight=None, *, initial_state=None):
        """Accuracy, per series or pooled over every scored time step.

        With one label per series, the fraction of series classified
        correctly. With per-step labels, from the zero state the first
        ``washout`` steps of each series are left out, as in ``fit``, and the
        other steps of all series are pooled.
        """
        from sklearn.metrics import accuracy_score

        y_pred = self.predict(X, initial_state=initial_state)
        if self._per_series:
            return float(accuracy_score(np.asarray(_host(y)), np.asarray(to_numpy(y_pred)),
                                        sample_weight=sample_weight))
        washout = self._scoring_washout() if initial_state is None else 0
        t, p, w = pooled_steps(X, y, y_pred, washout=washout, sample_weight=sample_weight)
        return float(accuracy_score(t.ravel(), p.ravel(), sample_weight=w))
