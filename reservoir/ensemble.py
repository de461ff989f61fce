"""Ensembles of reservoirs: independent random reservoirs whose decisions are averaged."""

from __future__ import annotations

import numpy as np
from joblib import Parallel, delayed
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.utils.validation import check_is_fitted

from ._base import SequenceClassifierMixin
from ._validation import check_generator, check_interval

__all__ = ["ReservoirEnsembleClassifier"]


def _fit_member(estimator, X, y):
    return estimator.fit(X, y)


class ReservoirEnsembleClassifier(SequenceClassifierMixin, ClassifierMixin, BaseEstimator):
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
        self._per_series = first._per_series
        self.n_features_in_ = first.n_features_in_
        if hasattr(first, "feature_names_in_"):
            self.feature_names_in_ = first.feature_names_in_
        elif hasattr(self, "feature_names_in_"):
            del self.feature_names_in_
        return self

    def _check_consistency(self):
        """Raise a ValueError unless parameters and fitted state agree (what load checks).

        The members check themselves; here they must agree with the
        ensemble's ``classes_``, ``n_features_in_`` and label layout, so that
        their decision values add up.
        """
        from ._schema import StateCheck

        check_interval("n_estimators", self.n_estimators, low=1, integer=True)
        check = StateCheck(self)
        if not check.together("estimators_", "classes_", "_per_series", "n_features_in_"):
            return
        check.features_in()
        self._check_classes(check)
        members = check.instance("estimators_", list)
        if not members:
            check.fail("estimators_", "a list of at least one classifier", "an empty list")
        for i, member in enumerate(members):
            name = f"estimators_[{i}]"
            if not (isinstance(member, SequenceClassifierMixin) and hasattr(member, "classes_")):
                check.fail(name, "a fitted classifier of this package", member)
            if not np.array_equal(np.asarray(member.classes_), np.asarray(self.classes_)):
                check.fail(f"{name}.classes_", f"the ensemble's classes_ {self.classes_!r}",
                           member.classes_)
            check.integer(f"{name}.n_features_in_", equal=self.n_features_in_,
                          value=member.n_features_in_)
            check.choice(f"{name}._per_series", (self._per_series,), value=member._per_series)

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

    def _probabilities(self, scores):
        # The members' rule from decision values to probabilities, on the mean values.
        return self.estimators_[0]._probabilities(scores)

    def _scoring_washout(self):
        return self.estimators_[0]._scoring_washout()

    def __sklearn_is_fitted__(self):
        return hasattr(self, "estimators_")
