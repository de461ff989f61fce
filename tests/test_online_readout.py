"""Online readouts (RLS, LMS, FORCE) and streaming training with partial_fit.

The references are closed forms (the exponentially weighted ridge solution
that RLS must equal after every step), a hand-computed LMS step, the batch
ridge readout, and the whole-series fit that a chunked stream must equal.
"""

import numpy as np
import pytest
from sklearn.base import clone

from reservoir import ESNRegressor, FORCEReadout, LMSReadout, RidgeReadout, RLSReadout
from reservoir.datasets import narma
from reservoir.metrics import nrmse


def _weighted_ridge(X, Y, alpha, lam, intercept=True):
    """argmin sum_s lam^(T-s) ||y_s - w^T a_s||^2 + lam^T alpha ||w||^2 with a = [1; x]."""
    A = np.column_stack([np.ones(len(X)) if intercept else np.zeros(len(X)), X])
    T = len(X)
    w = lam ** (T - 1 - np.arange(T))
    G = A.T @ (w[:, None] * A) + lam ** T * alpha * np.eye(A.shape[1])
    return np.linalg.solve(G, A.T @ (w[:, None] * Y))


@pytest.mark.parametrize("lam", [1.0, 0.97])
@pytest.mark.parametrize("n_outputs", [1, 3])
def test_rls_is_the_exponentially_weighted_ridge_solution(lam, n_outputs):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((120, 4))
    Y = X @ rng.standard_normal((4, n_outputs)) + 2.0 + 0.1 * rng.standard_normal((120, n_outputs))
    rls = RLSReadout(alpha=0.5, forgetting_factor=lam).fit(X, Y)
    W = _weighted_ridge(X, Y, 0.5, lam)
    np.testing.assert_allclose(rls.coef_, W[1:].T, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(rls.intercept_, W[0], rtol=1e-9, atol=1e-12)
    # After every step, not only the last: the a-priori outputs of a prefix fit.
    half = RLSReadout(alpha=0.5, forgetting_factor=lam).fit(X[:60], Y[:60])
    np.testing.assert_allclose(half.coef_, _weighted_ridge(X[:60], Y[:60], 0.5, lam)[1:].T,
                               rtol=1e-9, atol=1e-12)


def test_rls_without_intercept_and_partial_fit_equals_fit():
    rng = np.random.default_rng(1)
    X = rng.standard_normal((90, 3))
    y = X @ np.array([0.5, -1.0, 2.0]) + 0.05 * rng.standard_normal(90)
    full = RLSReadout(alpha=1e-2, fit_intercept=False).fit(X, y)
    np.testing.assert_allclose(full.coef_, _weighted_ridge(X, y[:, None], 1e-2, 1.0,
                                                           intercept=False)[1:, 0], rtol=1e-9)
    assert full.intercept_ == 0.0
    parts = RLSReadout(alpha=1e-2, fit_intercept=False)
    for chunk in np.array_split(np.arange(90), 4):
        parts.partial_fit(X[chunk], y[chunk])
    np.testing.assert_allclose(parts.coef_, full.coef_, rtol=1e-12)
    assert parts.n_samples_seen_ == 90


def test_lms_step_by_hand():
    # a = [1, 2, -1], W = 0, target 3: e = 3, W <- 0.5 * a * 3 / (1 + 4 + 1).
    lms = LMSReadout(learning_rate=0.5).fit(np.array([[2.0, -1.0]]), np.array([3.0]))
    np.testing.assert_allclose(lms.intercept_, 0.25)
    np.testing.assert_allclose(lms.coef_, [0.5, -0.25])
    # The second step uses the updated weights: output 0.25 + 0.5 - 0.25 * 0 = 0.75 on [1, 0].
    lms.partial_fit(np.array([[1.0, 0.0]]), np.array([1.75]))
    # e = 1.0, a = [1, 1, 0], |a|^2 = 2: W += 0.5 * a * 1 / 2.
    np.testing.assert_allclose(lms.intercept_, 0.5)
    np.testing.assert_allclose(lms.coef_, [0.75, -0.25])


@pytest.mark.parametrize(
    "readout, match",
    [
        (RLSReadout(alpha=0.0), "alpha must be in \\(0, inf\\]"),
        (RLSReadout(forgetting_factor=1.5), "forgetting_factor must be in \\(0, 1\\]"),
        (LMSReadout(learning_rate=2.0), "learning_rate must be in \\(0, 2\\)"),
        ("rls", "readout must be None, a RidgeReadout or an online readout"),
    ],
)
def test_bad_readouts_are_named(readout, match):
    X = np.zeros((20, 1))
    with pytest.raises((ValueError, TypeError), match=match):
        ESNRegressor(n_units=5, readout=readout).fit(X, X[:, 0])


def test_rls_in_the_esn_converges_to_the_batch_ridge_readout():
    """Target: on a stationary task RLS gives the batch ridge coefficients to 1e-6 relative.

    Both readouts fit the same objective (no intercept, the same penalty) on
    the same reservoir states; RLS gets there one step at a time.
    """
    u, y = narma(1500, random_state=0)
    X, Y = u[:-1], y[1:]
    kw = dict(n_units=50, washout=100, alpha=1e-4, readout_features=("input", "state"),
              random_state=0)
    batch = ESNRegressor(**kw).fit(X, Y)
    online = ESNRegressor(**kw, readout=RLSReadout(alpha=1e-4)).fit(X, Y)
    relative = np.linalg.norm(online.readout_.coef_ - batch.readout_.coef_) / np.linalg.norm(
        batch.readout_.coef_)
    assert relative < 1e-6
    np.testing.assert_allclose(online.predict(X[:300]), batch.predict(X[:300]), rtol=0, atol=1e-6)


def test_rls_with_forgetting_recovers_from_an_abrupt_change_and_batch_ridge_does_not():
    """Target: within 500 steps of a change of the target mapping, RLS with
    forgetting predicts the new mapping; a ridge readout of the whole stream
    is stuck between the two mappings."""
    rng = np.random.default_rng(0)
    u = rng.uniform(-1, 1, (3500, 1))
    y = np.roll(u, 2, axis=0)                              # recall u(t - 2) ...
    y[2000:] = 0.3 - 0.5 * np.roll(u, 5, axis=0)[2000:]    # ... then a new mapping
    kw = dict(n_units=100, washout=50, spectral_radius=0.9, input_scaling=0.5, random_state=0)
    models = {"rls": ESNRegressor(**kw, readout=RLSReadout(alpha=1e-2, forgetting_factor=0.98)),
              "ridge": ESNRegressor(**kw)}
    errors = {}
    for name, model in models.items():
        model.partial_fit(u[:2000], y[:2000])
        before = nrmse(y[1500:2000], model.predict(u[:2000])[1500:])
        model.partial_fit(u[2000:2500], y[2000:2500])         # 500 steps after the change
        after = nrmse(y[2500:], model.predict(u[2500:], initial_state="continue"))
        errors[name] = (before, after)
    assert errors["rls"][0] < 0.05 and errors["ridge"][0] < 0.05   # both learned the first mapping
    assert errors["rls"][1] < 0.15        # 0.093 measured
    assert errors["ridge"][1] > 1.0       # 1.98 measured


def test_force_reproduces_a_sum_of_sines_in_closed_loop_for_2000_steps():
    """Target: FORCE learns a periodic target and runs it, free, with NRMSE <= 0.1."""
    def target(t):
        return (np.sin(2 * np.pi * t / 100) + 0.5 * np.sin(2 * np.pi * t / 50)
                + 0.25 * np.sin(2 * np.pi * t / 25))

    T = 3000
    esn = ESNRegressor(n_units=500, spectral_radius=1.5, leak_rate=0.3, bias_scaling=0.0,
                       feedback_scaling=1.0, washout=100, readout=FORCEReadout(alpha=1.0),
                       random_state=2)
    esn.fit(np.zeros((T, 1)), target(np.arange(T)))
    free = esn.predict(np.zeros((2000, 1)), initial_state="continue")
    assert nrmse(target(T + np.arange(2000)), free) <= 0.1


def test_force_closed_loop_training_equals_a_hand_written_loop():
    """FORCE through Reservoir.generate against the algorithm written out with numpy."""
    T, n = 300, 30
    y = np.sin(np.arange(T) / 5.0)
    esn = ESNRegressor(n_units=n, spectral_radius=1.3, leak_rate=0.5, feedback_scaling=1.0,
                       readout=FORCEReadout(alpha=1.0), washout=20, random_state=0)
    esn.fit(np.zeros((T, 1)), y)
    W, W_fb, b = esn.W_, esn.W_fb_[:, 0], esn.bias_
    W = W.toarray() if hasattr(W, "toarray") else W
    x, z = np.zeros(n), 0.0
    w, P = np.zeros(n + 2), np.eye(n + 2)
    for t in range(T):
        x = 0.5 * x + 0.5 * np.tanh(W @ x + W_fb * z + b)
        a = np.r_[1.0, 0.0, x]                   # constant, input (zero), state
        z = w @ a
        if t >= 20:
            k = P @ a
            c = 1.0 / (1.0 + a @ k)
            w = w + c * (y[t] - z) * k
            P = P - c * np.outer(k, k)
    np.testing.assert_allclose(esn.readout_.intercept_, w[0], rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(esn.readout_.coef_, w[1:], rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(esn.final_state_, x, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("kw, match", [
    (dict(), "needs feedback weights: set feedback_scaling"),
    (dict(feedback_scaling=1.0, noise_level=0.1), "noise_level=0.1 perturbs teacher-forced"),
])
def test_force_needs_feedback_and_no_state_noise(kw, match):
    with pytest.raises(ValueError, match=match):
        ESNRegressor(n_units=5, readout=FORCEReadout(), **kw).fit(np.zeros((10, 1)), np.ones(10))


@pytest.mark.parametrize("readout", [None, RLSReadout(alpha=1e-3), LMSReadout()])
@pytest.mark.parametrize("feedback", [None, 0.3])
def test_partial_fit_chunks_train_what_one_fit_trains(readout, feedback):
    """A stream cut into chunks (the washout spanning two of them) gives the whole fit's readout."""
    u, y = narma(700, random_state=1)
    X, Y = u[:-1], y[1:]
    kw = dict(n_units=30, washout=60, readout=readout, feedback_scaling=feedback,
              noise_level=1e-3, random_state=0)
    whole = ESNRegressor(**kw).fit(X, Y)
    stream = ESNRegressor(**kw)
    for start, stop in ((0, 40), (40, 250), (250, 699)):
        stream.partial_fit(X[start:stop], Y[start:stop])
    np.testing.assert_allclose(stream.readout_.coef_, whole.readout_.coef_, rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(stream.final_state_, whole.final_state_, rtol=1e-12, atol=1e-14)
    assert stream.readout_ is not stream.readout and (readout is None or stream.readout.__dict__ ==
                                                      clone(readout).__dict__)


def test_partial_fit_before_the_washout_ends_is_not_fitted_and_predict_continue_follows_the_stream():
    from sklearn.exceptions import NotFittedError

    u, y = narma(400, random_state=2)
    X, Y = u[:-1], y[1:]
    for readout in (None, RLSReadout()):
        early = ESNRegressor(n_units=20, washout=50, readout=readout, random_state=0)
        with pytest.raises(NotFittedError):
            early.partial_fit(X[:30], Y[:30]).predict(X[:5])
    esn = ESNRegressor(n_units=20, washout=50, random_state=0).partial_fit(X[:30], Y[:30])
    esn.partial_fit(X[30:200], Y[30:200])
    # Between calls the model continues the stream: predicting the next chunk
    # from the end of the last one equals predicting the whole series from zero.
    np.testing.assert_allclose(esn.predict(X[200:], initial_state="continue"),
                               esn.predict(X)[200:], rtol=1e-12, atol=1e-12)


def test_partial_fit_runs_several_series_in_lockstep():
    """Two series streamed together: RLS sees step t of both before step t + 1."""
    rng = np.random.default_rng(3)
    X = [rng.standard_normal((80, 2)), rng.standard_normal((80, 2))]
    Y = [x[:, :1] ** 2 for x in X]
    esn = ESNRegressor(n_units=15, readout=RLSReadout(alpha=0.1), readout_features=("state",),
                       random_state=0).fit(X, Y)
    S = esn.reservoir_.run(X)
    rows = np.stack([S[0], S[1]], axis=1).reshape(160, 15)     # t = 0: series 0, 1; t = 1: ...
    targets = np.stack([Y[0], Y[1]], axis=1).reshape(160, 1)
    reference = RLSReadout(alpha=0.1, fit_intercept=False).fit(rows, targets)
    np.testing.assert_allclose(esn.readout_.coef_, reference.coef_, rtol=1e-10)
    with pytest.raises(ValueError, match="continues a stream of 2 series"):
        esn.partial_fit(X[0], Y[0])


def test_readout_given_is_cloned_and_a_ridge_readout_uses_its_own_alpha():
    rng = np.random.default_rng(4)
    X = rng.standard_normal((200, 1))
    y = np.roll(X[:, 0], 1)
    given = RidgeReadout(alpha=10.0)
    a = ESNRegressor(n_units=20, readout=given, random_state=0).fit(X, y)
    b = ESNRegressor(n_units=20, alpha=10.0, random_state=0).fit(X, y)
    np.testing.assert_array_equal(a.readout_.coef_, b.readout_.coef_)
    assert not hasattr(given, "coef_")
