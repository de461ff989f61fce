"""ElmanClassifier, LSTMClassifier, GRUClassifier: per-step and per-series labels with
the interface of ESNClassifier, probabilities from the trained logistic/softmax output,
and bad input. scikit-learn's own checks run in tests/test_common.py."""

import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

from reservoir import ESNClassifier
from reservoir.rnn import ElmanClassifier, GRUClassifier, LSTMClassifier

CLASSIFIERS = [ElmanClassifier, LSTMClassifier, GRUClassifier]


def quick(cls, **params):
    kwargs = dict(n_units=8, max_iter=40, learning_rate_init=0.01, random_state=0)
    kwargs.update(params)
    return cls(**kwargs)


def fit_quietly(model, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(X, y)


def frequencies(n_series, n_classes=2, *, seed=0, ragged=False):
    """Noisy sines whose frequency is the class; ragged lengths on request."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, n_classes, n_series)
    X = []
    for k in labels:
        n = int(rng.integers(25, 40)) if ragged else 30
        t = np.arange(n)[:, None] * 0.4
        X.append(np.sin(t * (1 + k) + rng.uniform(0, 6)) + 0.1 * rng.standard_normal((n, 1)))
    return X, labels


def delayed_sign(n_timesteps, *, seed, delay=2):
    """Per-step labels: the sign of the input ``delay`` steps back (needs memory)."""
    u = np.random.default_rng(seed).uniform(-1, 1, (n_timesteps, 1))
    labels = np.zeros(n_timesteps, dtype=int)
    labels[delay:] = u[:-delay, 0] > 0
    return u, labels


@pytest.mark.parametrize(("pooling", "bidirectional"), [("mean", True), ("last", False)])
@pytest.mark.parametrize("cls", CLASSIFIERS)
def test_per_series_labels_are_learned(cls, pooling, bidirectional):
    X, y = frequencies(60, ragged=True)
    clf = fit_quietly(quick(cls, pooling=pooling, bidirectional=bidirectional), X[:40], y[:40])
    assert clf.score(X[40:], y[40:]) >= 0.9
    scores = clf.decision_function(X[40:])
    assert scores.shape == (20,)
    np.testing.assert_array_equal(clf.predict(X[40:]), (scores > 0).astype(int))
    proba = clf.predict_proba(X[40:])
    # Two classes: a logistic output, probabilities of the trained model.
    np.testing.assert_allclose(proba[:, 1], 1 / (1 + np.exp(-scores)), rtol=1e-12)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    size = (2 if cls is LSTMClassifier else 1) * (2 if bidirectional else 1) * 8
    assert clf.final_state_.shape == (40, size)


@pytest.mark.parametrize("cls", CLASSIFIERS)
def test_multiclass_string_labels_per_series_in_a_3d_array(cls):
    X, codes = frequencies(90, n_classes=3, seed=1)
    names = np.array(["slow", "medium", "fast"])[codes]
    X = np.stack(X)
    clf = fit_quietly(quick(cls, max_iter=60), X[:60], names[:60])
    assert list(clf.classes_) == ["fast", "medium", "slow"]
    assert clf.score(X[60:], names[60:]) >= 0.85
    scores = clf.decision_function(X[60:])
    proba = clf.predict_proba(X[60:])
    assert scores.shape == proba.shape == (30, 3)
    e = np.exp(scores - scores.max(axis=1, keepdims=True))
    np.testing.assert_allclose(proba, e / e.sum(axis=1, keepdims=True), rtol=1e-12)
    np.testing.assert_array_equal(clf.predict(X[60:]), clf.classes_[scores.argmax(axis=1)])


@pytest.mark.parametrize("cls", CLASSIFIERS)
def test_per_step_labels_are_learned_with_memory(cls):
    X, y = delayed_sign(600, seed=0)
    clf = fit_quietly(quick(cls, sequence_length=50, washout=2, learning_rate_init=0.01), X, y)
    X_test, y_test = delayed_sign(300, seed=1)
    assert clf.score(X_test, y_test) >= 0.9
    assert clf.predict(X_test).shape == (300,)
    # The score leaves the washout out, as fit does: accuracy of steps 2.. by hand.
    by_hand = np.mean(clf.predict(X_test)[2:] == y_test[2:])
    assert clf.score(X_test, y_test) == pytest.approx(by_hand)


def test_per_step_labels_in_every_layout():
    series = [delayed_sign(80, seed=s) for s in range(3)]
    X = [x for x, _ in series]
    y = [t for _, t in series]
    listed = fit_quietly(quick(GRUClassifier, max_iter=3), X, y)
    stacked = fit_quietly(quick(GRUClassifier, max_iter=3), np.stack(X), np.stack(y))
    for name in listed.params_:
        np.testing.assert_allclose(listed.params_[name], stacked.params_[name], rtol=1e-12)
    out = listed.predict(X)
    assert isinstance(out, list) and out[0].shape == (80,)
    assert stacked.predict(np.stack(X)).shape == (3, 80)
    assert stacked.predict_proba(np.stack(X)).shape == (3, 80, 2)


def test_continue_state_after_per_step_fit():
    X, y = delayed_sign(200, seed=0)
    clf = fit_quietly(quick(ElmanClassifier, max_iter=5), X[:120], y[:120])
    continued = clf.decision_function(X[120:], initial_state="continue")
    np.testing.assert_allclose(continued, clf.decision_function(X)[120:], rtol=1e-12, atol=1e-12)


def test_rtrl_classifier_trains_the_same_network_as_bptt():
    X, y = frequencies(30)
    bptt = fit_quietly(quick(ElmanClassifier, max_iter=3), X, y)
    rtrl = fit_quietly(quick(ElmanClassifier, max_iter=3, gradient="rtrl"), X, y)
    for name in bptt.params_:
        np.testing.assert_allclose(rtrl.params_[name], bptt.params_[name], rtol=1e-8, atol=1e-10)


def test_early_stopping_holds_out_whole_series():
    X, y = frequencies(50)
    clf = fit_quietly(quick(LSTMClassifier, early_stopping=True, validation_fraction=0.2,
                            n_iter_no_change=5), X, y)
    assert len(clf.validation_scores_) == clf.n_iter_
    assert clf.best_validation_score_ == max(clf.validation_scores_)
    assert all(0.0 <= s <= 1.0 for s in clf.validation_scores_)


def test_same_interface_as_the_esn_classifier():
    """Same data, same calls, same shapes: the two families are interchangeable in code."""
    X, y = frequencies(40, ragged=True)
    for clf in (fit_quietly(quick(GRUClassifier), X[:30], y[:30]),
                ESNClassifier(n_units=30, random_state=0).fit(X[:30], y[:30])):
        assert clf.predict(X[30:]).shape == (10,)
        assert clf.decision_function(X[30:]).shape == (10,)
        assert clf.predict_proba(X[30:]).shape == (10, 2)
        assert 0.0 <= clf.score(X[30:], y[30:]) <= 1.0
        assert list(clf.classes_) == [0, 1]


@pytest.mark.parametrize(
    ("X", "y", "params", "error", "match"),
    [
        ([np.zeros((5, 1))] * 3, [1, 1, 1], {}, ValueError, "at least 2 classes"),
        ([np.zeros((5, 1))] * 3, [0, 1, 0], dict(bptt_steps=2), ValueError,
         "applies to per-step labels"),
        ([np.zeros((5, 1))] * 3, [0, 1, 0], dict(pooling="max"), ValueError,
         "pooling must be one of"),
        ([np.zeros((5, 1))] * 3, None, {}, ValueError, "requires y"),
        ([np.zeros((5, 1))] * 3, [0.5, 1.5, 2.5], {}, ValueError, "Unknown label type"),
        ([np.zeros((3, 1))] * 3, [0, 1, 0], dict(washout=3), ValueError, "fewer than the 4"),
        ([np.zeros((5, 1))] * 3, [np.zeros(5), np.zeros((5, 2)), np.zeros(5)], {}, ValueError,
         r"y\[1\] must be 1-D"),
    ],
)
def test_bad_input_is_named_in_the_error(X, y, params, error, match):
    with pytest.raises(error, match=match):
        ElmanClassifier(max_iter=1, **params).fit(X, y)


def test_per_series_model_needs_several_series_at_predict():
    X, y = frequencies(10)
    clf = fit_quietly(quick(ElmanClassifier, max_iter=1), X, y)
    with pytest.raises(ValueError, match="one label per series: pass several series"):
        clf.predict(X[0])
