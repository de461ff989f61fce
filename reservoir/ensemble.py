"""Ensembles of reservoirs: independent random reservoirs whose decisions are averaged."""

from __future__ import annotations

import numpy as np
from joblib import Parallel, delayed
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.utils.validation import check_is_fitted

from ._backend import to_numpy
from ._base import pooled_steps
from ._validation import check_generator, check_interval

__all__ = ["ReservoirEnsembleClassifier"]


def _fit_member(estimator, X, y):
    return estimator.fit(X, y)


class ReservoirEnsembleClassifier(ClassifierMixin, BaseEstimator):
    """An ensemble of reservoir classifiers that differ only by their random weights.

    ``n_estimators`` clones of ``estimator`` are fitted on the same data,
    each with its own ``random_state`` (drawn from this ensemble's), and
    their decision values are averaged: the ensemble's decision is the mean
    of the members' readout outputs, and its class the one with the largest
    mean. Averaging over reservoir draws removes much of the variance that a
    single random reservoir carries (Jaeger et al. 2007 classified the
    JapaneseVowels test set with an ensemble of small leaky reservoirs), at
    ``n_estimators`` times the cost. Any sequence classifier of the package
    can be a member: :class:`reservoir.ESNClassifier` (bidirectional or
    not), :class:`reservoir.DeepESNClassifier`.

    Parameters
    ----------
    estimator : classifier, optional
        The member to clone; ``ESNClassifier()`` when None.
    n_estimators : int, default=10
    random_state : int, numpy.random.Generator or None, default=None
        Draws the members' seeds.
    n_jobs : int, optional
        Members fitted in parallel with joblib (None: one at a time).

    Attributes
    ----------
    estimators_ : list of fitted classifiers
    classes_ : ndarray of shape (n_classes,)
    n_features_in_ : int

    Examples
    --------
    >>> import numpy as np
    >>> from reservoir import ESNClassifier, ReservoirEnsembleClassifier
    >>> rng = np.random.default_rng(0)
    >>> t = np.linspace(0, 8 * np.pi, 60)[:, None]
    >>> X = [np.sin(t * (1 + k % 3)) + 0.3 * rng.standard_normal(t.shape) for k in range(60)]
    >>> y = np.array([k % 3 for k in range(60)])
    >>> ensemble = ReservoirEnsembleClassifier(ESNClassifier(n_units=20, washout=5),
    ...                                        n_estimators=5, random_state=0)
    >>> float(ensemble.fit(X[:45], y[:45]).score(X[45:], y[45:]))
    1.0
    """

    def __init__(self, estimator=None, *, n_estimators=10, random_state=None, n_jobs=None):
        self.estimator = estimator
        self.n_estimators = n_estimators
        self.random_state = random_state
        self.n_jobs = n_jobs

    def fit(self, X, y):
        """Fit every member on X and y (see the member's ``fit`` for the layouts)."""
        from .classifier import ESNClassifier

        check_interval("n_estimators", self.n_estimators, low=1, integer=True)
        base = ESNClassifier() if self.estimator is None else self.estimator
        seeds = check_generator(self.random_state).integers(0, 2**31 - 1, size=self.n_estimators)
        members = [clone(base).set_params(random_state=int(s)) for s in seeds]
        self.estimators_ = Parallel(n_jobs=self.n_jobs)(
            delayed(_fit_member)(m, X, y) for m in members)
        first = self.estimators_[0]
        self.classes_ = first.classes_
        self.n_features_in_ = first.n_features_in_
        if hasattr(first, "feature_names_in_"):
            self.feature_names_in_ = first.feature_names_in_
        elif hasattr(self, "feature_names_in_"):
            del self.feature_names_in_
        return self

    def decision_function(self, X, *, initial_state=None):
        """Mean of the members' decision values, in the members' layout and shape."""
        check_is_fitted(self)
        total = None
        for member in self.estimators_:
            scores = member.decision_function(X, initial_state=initial_state)
            if isinstance(scores, list):
                total = scores if total is None else [a + b for a, b in zip(total, scores,
                                                                             strict=True)]
            else:
                total = scores if total is None else total + scores
        n = float(len(self.estimators_))
        return [s / n for s in total] if isinstance(total, list) else total / n

    def predict(self, X, *, initial_state=None):
        """The class with the largest mean decision value, per series or per step."""
        scores = self.decision_function(X, initial_state=initial_state)
        if isinstance(scores, list):
            return [self._labels(s) for s in scores]
        return self._labels(scores)

    def predict_proba(self, X, *, initial_state=None):
        """Softmax of the mean decision values: a monotone score, not a calibrated probability."""
        scores = self.decision_function(X, initial_state=initial_state)
        member = self.estimators_[0]
        if isinstance(scores, list):
            return [member._softmax(s) for s in scores]
        return member._softmax(scores)

    def _labels(self, scores):
        # The members share the classes and the rule from scores to labels.
        return self.estimators_[0]._labels_from_scores(scores)

    def score(self, X, y, sample_weight=None, *, initial_state=None):
        """Accuracy, per series or pooled over the scored steps, as the members score."""
        from sklearn.metrics import accuracy_score

        y_pred = self.predict(X, initial_state=initial_state)
        member = self.estimators_[0]
        if getattr(member, "_per_series", False):
            return float(accuracy_score(np.asarray(to_numpy(y) if hasattr(y, "shape") else y),
                                        np.asarray(to_numpy(y_pred)), sample_weight=sample_weight))
        washout = member.washout if initial_state is None else 0
        t, p, w = pooled_steps(X, y, y_pred, washout=washout, sample_weight=sample_weight)
        return float(accuracy_score(t.ravel(), p.ravel(), sample_weight=w))

    def __sklearn_is_fitted__(self):
        return hasattr(self, "estimators_")
