"""Training: the delayed-recall contrast between Elman and LSTM, the
vanishing and exploding gradient diagnostic, optimizers, windows, stopping
and divergence."""

import math
import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

from reservoir.diagnostics import gradient_norm_by_lag
from reservoir.rnn import ElmanRegressor, GRURegressor, IndRNNRegressor, LSTMRegressor
from reservoir.rnn._optimizers import (
    AdamOptimizer,
    SGDOptimizer,
    clip_gradient_norm,
    gradient_norm,
    scheduled_learning_rate,
)
from reservoir.rnn._training import make_windows, split_series, split_validation

# ---------------------------------------------------------------------------
# Delayed recall: a value marked at step 0, then LAG distractor steps; the
# target at step LAG is the marked value, i.e. the input from LAG steps
# earlier. Only that last step enters the loss (washout=LAG). The distractors
# arrive on the same input line, three times larger than the value, so an
# Elman network must hold the value against them through tanh units, while
# an LSTM can close its input gate after the marker.
# ---------------------------------------------------------------------------
LAG = 30
RECALL_PARAMS = dict(n_units=8, washout=LAG, learning_rate_init=0.005, max_iter=150,
                     n_iter_no_change=150, random_state=0)


def delayed_recall(n_series, seed, lag=LAG, distractor_scale=3.0):
    rng = np.random.default_rng(seed)
    X = np.zeros((n_series, lag + 1, 2))
    X[:, 0, 0] = rng.uniform(-1, 1, n_series)
    X[:, 1:, 0] = distractor_scale * rng.uniform(-1, 1, (n_series, lag))
    X[:, 0, 1] = 1.0  # the marker
    y = np.repeat(X[:, :1, :1], lag + 1, axis=1)
    return X, y


def recall_nmse(model, X, y):
    """Mean squared error at the recall step over the variance of the recalled values."""
    recalled = model.predict(X)[:, -1, 0]
    return float(np.mean((recalled - y[:, -1, 0]) ** 2) / np.var(y[:, -1, 0]))


@pytest.fixture(scope="module")
def recall_models():
    X, y = delayed_recall(256, seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        elman = ElmanRegressor(**RECALL_PARAMS).fit(X, y)
        lstm = LSTMRegressor(**RECALL_PARAMS).fit(X, y)
    return elman, lstm


@pytest.fixture(scope="module")
def recall_test_set():
    return delayed_recall(256, seed=1000)


def test_lstm_recalls_at_a_lag_where_elman_fails(recall_models, recall_test_set):
    elman, lstm = recall_models
    X, y = recall_test_set
    lstm_error, elman_error = recall_nmse(lstm, X, y), recall_nmse(elman, X, y)
    assert lstm_error < 0.1, lstm_error     # measured 0.0026
    assert elman_error > 0.5, elman_error   # measured 1.91: worse than predicting the mean


def test_elman_gradient_vanishes_faster_than_lstm(recall_models, recall_test_set):
    X, y = recall_test_set
    X, y = X[:64], y[:64]
    decay = {}
    for model in recall_models:
        for label, m in (("trained", model), ("untrained", type(model)(**RECALL_PARAMS))):
            lags, norms = gradient_norm_by_lag(m, X, y)
            assert lags[-1] == LAG and np.all(np.isfinite(norms)) and norms[0] > 0
            decay[type(model).__name__, label] = norms[LAG] / norms[0]
    # Measured at seed 0: Elman 1.0e-5 untrained, 5.2e-2 trained; LSTM 1.0e-2 and 1.7.
    for label in ("trained", "untrained"):
        assert decay["ElmanRegressor", label] < 0.1 * decay["LSTMRegressor", label], decay


def test_gradient_norm_by_lag_leaves_an_unfitted_model_untouched():
    model = ElmanRegressor(n_units=4, random_state=0)
    X, y = delayed_recall(4, seed=0, lag=10)
    lags, norms = gradient_norm_by_lag(model, X, y, max_lag=5)
    np.testing.assert_array_equal(lags, np.arange(6))
    assert not hasattr(model, "n_features_in_")
    # The same seed gives the same initial network, so the same curve.
    np.testing.assert_allclose(gradient_norm_by_lag(model, X, y, max_lag=5)[1], norms)
    # One series of different length in a list: lags are counted from each series' end.
    lags, norms_list = gradient_norm_by_lag(model, [X[0], X[1, :7]], [y[0], y[1, :7]])
    assert lags[-1] == 6


@pytest.mark.parametrize("cls", [ElmanRegressor, LSTMRegressor, GRURegressor, IndRNNRegressor])
def test_gradient_norm_by_lag_on_stacked_layers(cls):
    X, y = delayed_recall(3, seed=1, lag=8)
    model = cls(n_units=4, n_layers=2, random_state=0)
    _, top = gradient_norm_by_lag(model, X, y, layer=-1)
    _, bottom = gradient_norm_by_lag(model, X, y, layer=0)
    assert top.shape == bottom.shape == (9,)
    assert not np.allclose(top, bottom)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        (dict(max_lag=9), ValueError, "max_lag"),
        (dict(max_lag=-1), ValueError, "max_lag"),
        (dict(layer=1), ValueError, "layer"),
    ],
)
def test_gradient_norm_by_lag_rejects_bad_arguments(kwargs, error, match):
    X, y = delayed_recall(2, seed=0, lag=8)
    with pytest.raises(error, match=match):
        gradient_norm_by_lag(ElmanRegressor(n_units=3), X, y, **kwargs)


@pytest.mark.parametrize("cls", [ElmanRegressor, LSTMRegressor, GRURegressor, IndRNNRegressor])
def test_gradient_norm_by_lag_shows_exploding_gradients_with_and_without_clipping(cls):
    """Recurrent weights of spectral radius 5 make the gradient grow with the lag (less for the
    gated cells, whose gates damp it); clipping rescales every lag alike, to the clipped step's
    size."""
    X = np.random.default_rng(0).uniform(-0.1, 0.1, (4, 20, 1))
    y = np.zeros((4, 20))
    lags, tame = gradient_norm_by_lag(cls(n_units=8, spectral_radius=0.5, random_state=0), X, y)
    exploding = cls(n_units=8, spectral_radius=5.0, random_state=0)
    _, raw = gradient_norm_by_lag(exploding, X, y)
    assert tame[-1] < tame[0]
    assert raw[-1] > 10 * raw[0], raw
    _, clipped = gradient_norm_by_lag(exploding, X, y, clip_norm=1e-3)
    ratio = clipped / raw
    np.testing.assert_allclose(ratio, ratio[0], rtol=1e-12)
    assert ratio[0] < 1
    # A threshold above the gradient's norm leaves it as it is.
    _, loose = gradient_norm_by_lag(exploding, X, y, clip_norm=1e30)
    np.testing.assert_array_equal(loose, raw)


def test_clipped_norms_scale_by_the_weight_gradient_norm():
    """The factor is clip_norm / ||dL/dθ||, with dL/dθ checked against finite differences
    of the summed last-step loss."""
    X = np.random.default_rng(1).uniform(-1, 1, (2, 6, 1))
    y = np.random.default_rng(2).uniform(-1, 1, (2, 6))
    model = fit_small(ElmanRegressor(n_units=3, max_iter=1, random_state=0), X, y)

    def last_step_loss(params):
        W_xh, W_hh, b_h, W_hy, b_y = (params[k] for k in ("W_xh_0", "W_hh_0", "b_h_0", "W_hy",
                                                         "b_y"))
        total = 0.0
        for b in range(2):
            h = np.zeros(3)
            for t in range(6):
                h = np.tanh(W_xh @ X[b, t] + W_hh @ h + b_h)
            total += 0.5 * np.sum((W_hy @ h + b_y - y[b, -1]) ** 2)
        return total

    norm_sq = 0.0
    for name, value in model.params_.items():
        for idx in np.ndindex(value.shape):
            up, down = dict(model.params_), dict(model.params_)
            up[name], down[name] = value.copy(), value.copy()
            up[name][idx] += 1e-6
            down[name][idx] -= 1e-6
            norm_sq += ((last_step_loss(up) - last_step_loss(down)) / 2e-6) ** 2
    _, raw = gradient_norm_by_lag(model, X, y)
    _, clipped = gradient_norm_by_lag(model, X, y, clip_norm=1e-3)
    np.testing.assert_allclose(clipped / raw, 1e-3 / np.sqrt(norm_sq), rtol=1e-6)


def fit_small(model, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(X, y)


def test_gradient_norm_by_lag_needs_a_recurrent_regressor():
    from sklearn.linear_model import Ridge

    with pytest.raises(TypeError, match="model must be"):
        gradient_norm_by_lag(Ridge(), np.zeros((5, 1)), np.zeros(5))


# ---------------------------------------------------------------------------
# Stopping rules and bad runs
# ---------------------------------------------------------------------------

def sine_data(n=200):
    t = np.arange(n + 1) * 0.2
    return np.sin(t)[:-1, None], np.sin(t)[1:]


def test_divergence_raises_a_clear_error_and_leaves_the_model_unfitted():
    X, y = sine_data()
    # n_iter_no_change is large so that the growing loss does not end the run first.
    model = ElmanRegressor(n_units=8, solver="sgd", learning_rate_init=1e6, clip_norm=None,
                           max_iter=50, n_iter_no_change=50, random_state=0)
    with pytest.raises(FloatingPointError, match=r"diverged at epoch \d+.*learning_rate_init"):
        model.fit(100 * X, 1e6 * y)
    assert not hasattr(model, "params_")


def test_max_iter_reached_warns_convergence():
    X, y = sine_data()
    model = GRURegressor(n_units=4, max_iter=3, random_state=0)
    with pytest.warns(ConvergenceWarning, match=r"maximum iterations \(3\)"):
        model.fit(X, y)
    assert model.n_iter_ == 3 and len(model.loss_curve_) == 3
    assert model.best_loss_ == min(model.loss_curve_)


def test_stops_when_the_loss_no_longer_improves():
    X, y = sine_data()
    model = ElmanRegressor(n_units=4, tol=10.0, n_iter_no_change=2, max_iter=100, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        model.fit(X, y)
    # The first epoch sets best_loss; training stops once more than two
    # further epochs gained less than tol (scikit-learn's MLP rule).
    assert model.n_iter_ == 4


def test_early_stopping_keeps_the_best_validation_epoch():
    X, y = sine_data(300)
    model = LSTMRegressor(n_units=6, early_stopping=True, validation_fraction=0.2,
                          n_iter_no_change=3, learning_rate_init=0.01, sequence_length=40,
                          max_iter=40, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X, y)
    assert len(model.validation_scores_) == model.n_iter_
    assert model.best_validation_score_ == max(model.validation_scores_)
    assert model.best_loss_ is None
    # The kept weights are those of the best epoch: score them on the held-out tail.
    start = 300 - int(round(0.2 * 300))
    pred = model.predict(X)[start:]
    r2 = 1 - np.sum((pred - y[start:]) ** 2) / np.sum((y[start:] - y[start:].mean()) ** 2)
    assert r2 == pytest.approx(model.best_validation_score_, rel=1e-10)


def test_validation_split_too_short_is_an_error():
    with pytest.raises(ValueError, match="too short to hold out"):
        split_validation([5, 50], washout=4, validation_fraction=0.2)
    assert split_validation([50], washout=0, validation_fraction=0.1) == [45]


@pytest.mark.parametrize("params", [
    dict(bptt_steps=5),
    dict(solver="sgd", learning_rate_init=0.05, momentum=0.9),
    dict(learning_rate="cosine"),
    dict(learning_rate="invscaling", learning_rate_init=0.05),
    dict(n_layers=2),
])
def test_training_variants_reduce_the_loss(params):
    X, y = sine_data()
    kwargs = dict(n_units=6, sequence_length=25, batch_size=4, learning_rate_init=0.01,
                  max_iter=15, random_state=0)
    kwargs.update(params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = LSTMRegressor(**kwargs).fit(X, y)
    assert model.loss_curve_[-1] < 0.5 * model.loss_curve_[0]


def test_same_seed_same_model_and_other_seed_other_model():
    X, y = sine_data(60)
    kwargs = dict(n_units=4, sequence_length=20, max_iter=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        a = GRURegressor(random_state=3, **kwargs).fit(X, y)
        b = GRURegressor(random_state=3, **kwargs).fit(X, y)
        c = GRURegressor(random_state=4, **kwargs).fit(X, y)
    for name in a.params_:
        np.testing.assert_array_equal(a.params_[name], b.params_[name])
    assert not np.allclose(a.params_["W_hh_0"], c.params_["W_hh_0"])


def test_verbose_shows_progress(capsys):
    X, y = sine_data(40)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ElmanRegressor(n_units=3, max_iter=2, verbose=True, random_state=0).fit(X, y)
    captured = capsys.readouterr()
    assert "loss" in captured.err + captured.out


# ---------------------------------------------------------------------------
# Windows, optimizers, schedules, clipping
# ---------------------------------------------------------------------------

@pytest.mark.parametrize(("ends", "sequence_length", "stride", "n_windows"), [
    ([100], 20, 5, 16),      # offset 0..5: windows start at offset + 5 k while they fit
    ([100], 20, 20, 5),
    ([30, 10], 20, 2, 6),
])
def test_overlapping_windows_start_every_stride_steps(ends, sequence_length, stride, n_windows):
    for seed in range(5):
        windows = make_windows(ends, sequence_length=sequence_length, washout=0,
                               rng=np.random.default_rng(seed), stride=stride)
        starts = sorted(a for s, a, b in windows if s == 0)
        assert np.all(np.diff(starts) == stride)
        assert starts[0] <= stride and ends[0] - (starts[-1] + sequence_length) < stride
        assert n_windows - 1 <= len(windows) <= n_windows + 1
        assert all(b - a == min(sequence_length, ends[s]) for s, a, b in windows)


def test_default_windows_overlap_so_every_step_is_seen_several_times_per_epoch():
    """The estimators' default stride is a quarter of the trainable window: over one epoch every
    step away from the series' ends lies in four windows, at four distances from their starts."""
    model = ElmanRegressor(sequence_length=100, washout=20)
    assert model._stride() == 20
    windows = make_windows([2000], sequence_length=100, washout=20, rng=np.random.default_rng(0),
                           stride=model._stride())
    cover = np.zeros(2000, int)
    for _, a, b in windows:
        cover[a + 20:b] += 1
    assert np.all(cover[200:1800] == 4)


def test_series_split_holds_out_whole_series():
    train, val = split_series(10, validation_fraction=0.3, rng=np.random.default_rng(0))
    assert len(val) == 3 and sorted(train + val) == list(range(10))
    with pytest.raises(ValueError, match="at least one left to train on"):
        split_series(1, validation_fraction=0.5, rng=np.random.default_rng(0))


@pytest.mark.parametrize(
    ("ends", "sequence_length", "washout"),
    [([100], 20, 0), ([100], 20, 5), ([57, 12, 80], 25, 3), ([30], None, 2), ([15], 40, 0)],
)
def test_windows_cover_the_series_with_overlap_of_washout(ends, sequence_length, washout):
    rng = np.random.default_rng(0)
    windows = make_windows(ends, sequence_length=sequence_length, washout=washout, rng=rng)
    for s, start, stop in windows:
        assert 0 <= start < stop <= ends[s]
        assert stop - start == sequence_length or (start, stop) == (0, ends[s])
    for s, n in enumerate(ends):
        mine = sorted((a, b) for t, a, b in windows if t == s)
        assert mine, "every series gives at least one window"
        for (_, b0), (a1, _) in zip(mine[:-1], mine[1:], strict=True):
            assert a1 == b0 - washout  # consecutive windows overlap by the washout
        # At most one stride of steps is left out at each end.
        stride = n if sequence_length is None else sequence_length - washout
        assert mine[0][0] <= stride and n - mine[-1][1] <= stride


def test_windows_are_shuffled_reproducibly():
    a = make_windows([500], sequence_length=20, washout=0, rng=np.random.default_rng(1))
    b = make_windows([500], sequence_length=20, washout=0, rng=np.random.default_rng(1))
    assert a == b and a != sorted(a)


@pytest.mark.parametrize("make", [
    lambda p: AdamOptimizer(p),
    lambda p: SGDOptimizer(p, momentum=0.9),
])
def test_optimizers_minimise_a_quadratic(make):
    target = np.array([1.0, -2.0, 3.0])
    params = {"w": np.zeros(3)}
    optimizer = make(params)
    for _ in range(500):
        params = optimizer.update(params, {"w": params["w"] - target}, 0.05)
    np.testing.assert_allclose(params["w"], target, atol=1e-3)


@pytest.mark.parametrize("make", [
    lambda p: AdamOptimizer(p, weight_decay=0.1, decayed=["W"]),
    lambda p: SGDOptimizer(p, momentum=0.9, weight_decay=0.1, decayed=["W"]),
])
def test_decoupled_weight_decay_shrinks_only_the_decayed_weights(make):
    params = {"W": np.array([2.0, -4.0]), "b": np.array([3.0])}
    optimizer = make(params)
    zero = {"W": np.zeros(2), "b": np.zeros(1)}
    new = optimizer.update(params, zero, 0.5)
    # With a zero gradient the step is the decay alone: w (1 - lr * weight_decay).
    np.testing.assert_allclose(new["W"], params["W"] * (1 - 0.5 * 0.1))
    np.testing.assert_array_equal(new["b"], params["b"])


def test_adam_first_step_has_the_size_of_the_learning_rate():
    params = {"w": np.zeros(2)}
    new = AdamOptimizer(params).update(params, {"w": np.array([1e-3, -50.0])}, 0.1)
    # Whatever the gradient's scale (epsilon aside, which weighs on a tiny gradient).
    np.testing.assert_allclose(new["w"], [-0.1, 0.1], rtol=1e-3)


@pytest.mark.parametrize(
    ("schedule", "epoch", "expected"),
    [("constant", 7, 0.1), ("invscaling", 3, 0.05), ("cosine", 0, 0.1), ("cosine", 5, 0.05),
     ("cosine", 10, 0.0)],
)
def test_learning_rate_schedules(schedule, epoch, expected):
    lr = scheduled_learning_rate(schedule, 0.1, epoch, max_iter=10, power_t=0.5)
    assert lr == pytest.approx(expected, abs=1e-15)


def test_unknown_schedule():
    with pytest.raises(ValueError, match="learning_rate must be one of"):
        scheduled_learning_rate("step", 0.1, 0, max_iter=10)


def test_clipping_rescales_the_whole_gradient():
    grads = {"a": np.array([3.0]), "b": np.array([[4.0]])}
    assert gradient_norm(grads) == 5.0
    clipped, norm = clip_gradient_norm(grads, 1.0)
    assert norm == 5.0
    assert gradient_norm(clipped) == pytest.approx(1.0)
    np.testing.assert_allclose(clipped["a"] / clipped["b"][0], 0.75)
    same, _ = clip_gradient_norm(grads, 10.0)
    assert same is grads
    with np.errstate(over="ignore"):
        _, norm = clip_gradient_norm({"a": np.array([1e300, 1e300])}, 1.0)
    assert math.isinf(norm)
