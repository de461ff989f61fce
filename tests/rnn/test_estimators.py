"""ElmanRegressor, LSTMRegressor, GRURegressor, IndRNNRegressor: the ESN
interface (layouts, washout, initial states, forecasting), the options of the
gradient-trained path (bidirectional layers, RTRL, regularisation) and bad
input. scikit-learn's own checks run in tests/test_common.py."""

import pickle
import warnings

import joblib
import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, TimeSeriesSplit
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from reservoir.rnn import ElmanRegressor, GRURegressor, IndRNNRegressor, LSTMRegressor

ESTIMATORS = [ElmanRegressor, LSTMRegressor, GRURegressor, IndRNNRegressor]


@pytest.fixture(scope="module")
def sine():
    t = np.arange(301) * 0.2
    return np.column_stack([np.sin(t), np.cos(0.5 * t)])


def quick(cls, **params):
    kwargs = dict(n_units=6, sequence_length=30, learning_rate_init=0.01, max_iter=5,
                  random_state=0)
    kwargs.update(params)
    return cls(**kwargs)


def fit_quietly(model, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(X, y)


@pytest.mark.parametrize("cls", ESTIMATORS)
@pytest.mark.parametrize("roundtrip", ["clone", "pickle", "joblib"])
def test_round_trips_give_identical_predictions(cls, roundtrip, sine, tmp_path):
    X, y = sine[:-1], sine[1:]
    model = fit_quietly(quick(cls, n_layers=2, washout=5), X, y)
    if roundtrip == "clone":
        other = fit_quietly(clone(model), X, y)
        assert other.get_params() == model.get_params()
    elif roundtrip == "pickle":
        other = pickle.loads(pickle.dumps(model))
    else:
        joblib.dump(model, tmp_path / "model.joblib")
        other = joblib.load(tmp_path / "model.joblib")
    np.testing.assert_array_equal(other.predict(X), model.predict(X))
    np.testing.assert_array_equal(other.forecast(10), model.forecast(10))
    with pytest.warns(UserWarning, match="skips a step of the series"):
        np.testing.assert_array_equal(other.predict(X[:20], initial_state="continue"),
                                      model.predict(X[:20], initial_state="continue"))


def test_get_and_set_params():
    model = LSTMRegressor(n_units=5, bptt_steps=7)
    params = model.get_params()
    assert params["n_units"] == 5 and params["bptt_steps"] == 7 and params["washout"] == 0
    shared = set(ElmanRegressor().get_params())
    assert shared == set(GRURegressor().get_params())
    assert set(params) == shared | {"peephole"}
    assert set(IndRNNRegressor().get_params()) == shared | {"activation"}
    model.set_params(n_units=9, n_layers=2, peephole=True)
    assert model.n_units == 9 and model.n_layers == 2 and model.peephole


@pytest.mark.parametrize("cls", ESTIMATORS)
def test_each_call_starts_from_zero_unless_told_otherwise(cls, sine):
    X, y = sine[:-1], sine[1:]
    model = fit_quietly(quick(cls, n_layers=2), X[:200], y[:200])
    fresh = model.predict(X[200:])
    np.testing.assert_array_equal(fresh, model.predict(X[200:]))  # predict changes nothing
    continued = model.predict(X[200:], initial_state="continue")
    np.testing.assert_allclose(continued, model.predict(X)[200:], rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(model.predict(X[200:], initial_state=model.final_state_),
                                  continued)
    assert model.final_state_.shape == ((4 if cls is LSTMRegressor else 2) * 6,)
    assert not np.allclose(fresh[:3], continued[:3])


@pytest.mark.parametrize("cls", ESTIMATORS)
def test_forecast_continues_after_the_last_known_value(cls, sine):
    X, y = sine[:-1], sine[1:]
    model = fit_quietly(quick(cls), X[:200], y[:200])
    forecast = model.forecast(15)
    assert forecast.shape == (15, 2)
    # Continuing from fit equals a context of every known value (X[:200] and the last target).
    np.testing.assert_allclose(model.forecast(15, context=sine[:201]), forecast,
                               rtol=1e-12, atol=1e-12)
    # The first value is the one-step prediction after that last known value.
    np.testing.assert_allclose(forecast[0], model.predict(sine[:201])[-1], rtol=1e-12)


@pytest.mark.parametrize("cls", ESTIMATORS)
def test_forecast_from_several_contexts_at_once(cls, sine):
    model = fit_quietly(quick(cls), sine[:-1], sine[1:])
    contexts = np.stack([sine[:100], sine[50:150]])
    batched = model.forecast(8, context=contexts)
    assert batched.shape == (2, 8, 2)
    for i in range(2):
        np.testing.assert_allclose(batched[i], model.forecast(8, context=contexts[i]),
                                   rtol=1e-12, atol=1e-12)
    ragged = model.forecast(8, context=[sine[:100], sine[:60]])
    np.testing.assert_allclose(ragged[1], model.forecast(8, context=sine[:60]),
                               rtol=1e-12, atol=1e-12)
    start = np.ones(model.final_state_.shape[0])
    with_state = model.forecast(3, context=sine[:10], initial_state=start)
    assert not np.allclose(with_state, model.forecast(3, context=sine[:10]))


def test_forecast_needs_outputs_matching_inputs(sine):
    model = fit_quietly(quick(ElmanRegressor), sine, sine[:, 0])
    with pytest.raises(ValueError, match="as many outputs as input features"):
        model.forecast(5)
    model = fit_quietly(quick(ElmanRegressor), sine[:-1], sine[1:])
    with pytest.raises(ValueError, match="n_steps must be"):
        model.forecast(0)
    with pytest.raises(ValueError, match="initial_state applies to a context"):
        model.forecast(3, initial_state=np.zeros(6))


@pytest.mark.parametrize("cls", ESTIMATORS)
def test_several_series_as_list_or_3d_array(cls):
    rng = np.random.default_rng(0)
    series = [rng.standard_normal((40, 1)) for _ in range(3)]
    targets = [np.cumsum(s, axis=0)[:, 0] * 0.1 for s in series]
    a = fit_quietly(quick(cls, washout=3), series, targets)
    b = fit_quietly(quick(cls, washout=3), np.stack(series), np.stack(targets))
    for name in a.params_:
        np.testing.assert_allclose(a.params_[name], b.params_[name], rtol=1e-12)
    out = a.predict(series)
    assert isinstance(out, list) and out[0].shape == (40,)
    assert b.predict(np.stack(series)).shape == (3, 40)
    assert a.final_state_.shape == (3, a.final_state_.shape[1])
    ragged = fit_quietly(quick(cls, washout=3), [series[0], series[1][:25]],
                         [targets[0], targets[1][:25]])
    assert [p.shape for p in ragged.predict([series[0][:10], series[1]])] == [(10,), (40,)]


@pytest.mark.parametrize("cls", ESTIMATORS)
def test_dtype_asked_for_is_dtype_returned(cls, sine):
    X, y = sine[:-1], sine[1:]
    model = fit_quietly(quick(cls, dtype="float32"), X, y)
    assert all(p.dtype == np.float32 for p in model.params_.values())
    assert model.predict(X).dtype == np.float32
    assert model.forecast(3).dtype == np.float32
    ref = fit_quietly(quick(cls), X, y)
    np.testing.assert_allclose(model.predict(X), ref.predict(X), atol=1e-3)


def test_pipeline_and_grid_search_with_time_series_split(sine):
    X, y = sine[:-1], sine[1:, 0]
    pipe = fit_quietly(make_pipeline(StandardScaler(), quick(GRURegressor, max_iter=30)), X, y)
    assert pipe.score(X, y) > 0.8
    cv = TimeSeriesSplit(n_splits=2)
    grid = {"max_iter": [1, 30]}
    search = fit_quietly(GridSearchCV(quick(ElmanRegressor), grid, cv=cv), X, y)
    # The search scores each candidate exactly as fitting and scoring by hand on the splits does...
    for i, max_iter in enumerate(grid["max_iter"]):
        by_hand = [fit_quietly(quick(ElmanRegressor, max_iter=max_iter), X[train], y[train])
                   .score(X[test], y[test]) for train, test in cv.split(X)]
        assert search.cv_results_["mean_test_score"][i] == pytest.approx(np.mean(by_hand),
                                                                         rel=1e-12)
    # ...and a network trained for 30 epochs beats one trained for 1 on the held-out future.
    assert search.best_params_ == {"max_iter": 30}
    scores = search.cv_results_["mean_test_score"]
    assert scores[1] > scores[0] + 0.1, scores


@pytest.mark.parametrize(
    ("params", "error", "match"),
    [
        (dict(n_units=0), ValueError, "n_units must be in"),
        (dict(n_units=2.5), TypeError, "n_units must be an int"),
        (dict(n_layers=0), ValueError, "n_layers"),
        (dict(washout=-1), ValueError, "washout"),
        (dict(washout=10, sequence_length=10), ValueError, "sequence_length must exceed washout=10"),
        (dict(sequence_length=0), ValueError, "sequence_length must be in"),
        (dict(batch_size=0), ValueError, "batch_size"),
        (dict(bptt_steps=0), ValueError, "bptt_steps"),
        (dict(solver="lbfgs"), ValueError, "solver must be one of"),
        (dict(learning_rate="adaptive"), ValueError, "learning_rate must be one of"),
        (dict(learning_rate_init=0.0), ValueError, "learning_rate_init"),
        (dict(learning_rate_init="fast"), TypeError, "learning_rate_init"),
        (dict(momentum=1.0), ValueError, "momentum"),
        (dict(beta_2=1.0), ValueError, "beta_2"),
        (dict(epsilon=0.0), ValueError, "epsilon"),
        (dict(clip_norm=-1.0), ValueError, "clip_norm"),
        (dict(max_iter=0), ValueError, "max_iter"),
        (dict(tol=-1.0), ValueError, "tol"),
        (dict(n_iter_no_change=0), ValueError, "n_iter_no_change"),
        (dict(validation_fraction=1.0), ValueError, "validation_fraction"),
        (dict(early_stopping="yes"), TypeError, "early_stopping must be a bool"),
        (dict(bidirectional="no"), TypeError, "bidirectional must be a bool"),
        (dict(peephole=None), TypeError, "peephole must be a bool"),
        (dict(bidirectional=True, bptt_steps=5), ValueError, "bidirectional network cannot"),
        (dict(window_stride=0), ValueError, "window_stride"),
        (dict(gradient="adjoint"), ValueError, "gradient must be one of"),
        (dict(gradient="rtrl"), ValueError, "needs an Elman or IndRNN cell"),
        (dict(weight_decay=-0.1), ValueError, "weight_decay"),
        (dict(dropout=1.0), ValueError, "dropout must be in"),
        (dict(input_dropout=-0.1), ValueError, "input_dropout"),
        (dict(zoneout=1.0), ValueError, "zoneout"),
        (dict(spectral_radius=0.0), ValueError, "spectral_radius"),
        (dict(dtype="float16"), ValueError, "dtype must be"),
        (dict(random_state=-3), ValueError, "random_state"),
        (dict(random_state="seed"), TypeError, "random_state"),
    ],
)
def test_bad_parameters_are_named_in_the_error(params, error, match, sine):
    with pytest.raises(error, match=match):
        LSTMRegressor(**params).fit(sine[:-1], sine[1:])


@pytest.mark.parametrize(
    ("cls", "params", "match"),
    [
        (ElmanRegressor, dict(gradient="rtrl", n_layers=2), "one unidirectional layer"),
        (IndRNNRegressor, dict(gradient="rtrl", bidirectional=True), "one unidirectional layer"),
        (IndRNNRegressor, dict(activation="sigmoid"), "activation must be 'relu' or 'tanh'"),
    ],
)
def test_bad_cell_options_are_named_in_the_error(cls, params, match, sine):
    with pytest.raises(ValueError, match=match):
        cls(**params).fit(sine[:-1], sine[1:])


@pytest.mark.parametrize(
    ("X", "y", "match"),
    [
        (np.zeros(20), np.zeros(20), r"X is 1-D with shape \(20,\); one series must be 2-D"),
        (np.full((20, 1), np.nan), np.zeros(20), "NaN"),
        (np.zeros((20, 1)), np.zeros(19), "X and y have different numbers of time steps: 20 and 19"),
        (np.zeros((5, 1)), np.zeros(5), "fewer than the 6 needed"),
        ([np.zeros((30, 1)), np.zeros((4, 1))], [np.zeros(30), np.zeros(4)], "fewer than the 6"),
    ],
)
def test_bad_data_raises_value_error(X, y, match):
    with pytest.raises(ValueError, match=match):
        ElmanRegressor(washout=5, max_iter=1).fit(X, y)


def test_bad_input_at_predict(sine):
    model = fit_quietly(quick(ElmanRegressor), sine[:-1], sine[1:])
    with pytest.raises(ValueError, match="expecting 2 features"):
        model.predict(sine[:, :1])
    with pytest.raises(ValueError, match=r"initial_state must have shape \(6,\)"):
        model.predict(sine, initial_state=np.zeros(5))
    with pytest.raises(ValueError, match="initial_state must be None, 'continue'"):
        model.predict(sine, initial_state="last")
    with pytest.raises(ValueError, match="NaN or infinity"):
        model.predict(sine, initial_state=np.full(6, np.inf))
    with pytest.raises(Exception, match="not fitted"):
        ElmanRegressor().predict(sine)


# ---------------------------------------------------------------------------
# Options of the gradient-trained path
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("cls", [ElmanRegressor, IndRNNRegressor])
def test_rtrl_trains_the_same_network_as_bptt(cls, sine):
    """One gradient, two algorithms: from the same seed, the same weights after training."""
    X, y = sine[:-1], sine[1:]
    bptt = fit_quietly(quick(cls, washout=3, max_iter=4), X, y)
    rtrl = fit_quietly(quick(cls, washout=3, max_iter=4, gradient="rtrl"), X, y)
    for name in bptt.params_:
        np.testing.assert_allclose(rtrl.params_[name], bptt.params_[name], rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(rtrl.loss_curve_, bptt.loss_curve_, rtol=1e-10)
    # Updated every 10 steps, RTRL keeps the paths that truncated BPTT cuts: other weights.
    online = fit_quietly(quick(cls, max_iter=2, bptt_steps=10, gradient="rtrl"), X, y)
    truncated = fit_quietly(quick(cls, max_iter=2, bptt_steps=10), X, y)
    assert not np.allclose(online.params_["W_hh_0"], truncated.params_["W_hh_0"])


@pytest.mark.parametrize("cls", ESTIMATORS)
def test_bidirectional_outputs_read_the_future_and_refuse_to_forecast(cls, sine):
    X, y = sine[:-1], sine[1:]
    model = fit_quietly(quick(cls, bidirectional=True, n_layers=2, max_iter=2), X, y)
    assert model.params_["W_hy"].shape == (2, 12)
    short = X[:10]
    changed = short.copy()
    changed[-1] += 1.0
    # A change at the last step moves the output at the first step, through the reverse direction.
    assert np.abs(model.predict(changed)[0] - model.predict(short)[0]).max() > 1e-6
    causal = fit_quietly(quick(cls, max_iter=2), X, y)
    np.testing.assert_array_equal(causal.predict(changed)[:-1], causal.predict(short)[:-1])
    with pytest.raises(ValueError, match="bidirectional network reads the whole series"):
        model.forecast(3)
    with pytest.raises(ValueError, match="bidirectional network reads the whole series"):
        model.forecast(3, context=X[:20])
    with pytest.raises(ValueError, match="bidirectional network cannot do"):
        model.predict(X, initial_state="continue")
    # Ragged series: each one's reverse direction starts at its own end.
    ragged = model.predict([X[:50], X[:80]])
    np.testing.assert_allclose(ragged[0], model.predict(X[:50]), rtol=1e-12, atol=1e-12)


def test_regularisation_changes_training_but_not_inference(sine):
    X, y = sine[:-1], sine[1:]
    plain = fit_quietly(quick(LSTMRegressor, max_iter=3), X, y)
    for params in (dict(dropout=0.3), dict(input_dropout=0.3), dict(zoneout=0.2)):
        model = fit_quietly(quick(LSTMRegressor, max_iter=3, **params), X, y)
        assert not np.allclose(model.params_["W_hh_0"], plain.params_["W_hh_0"])
        # Inference is deterministic: no masks are drawn outside fit.
        np.testing.assert_array_equal(model.predict(X), model.predict(X))
    # Decoupled weight decay shrinks the weight matrices (here, hard), not the biases.
    decayed = fit_quietly(quick(LSTMRegressor, max_iter=3, weight_decay=20.0), X, y)
    for name in ("W_xh_0", "W_hh_0", "W_hy"):
        assert np.linalg.norm(decayed.params_[name]) < 0.7 * np.linalg.norm(plain.params_[name])


def test_spectral_radius_scales_the_initial_recurrent_weights(sine):
    X, y = sine[:-1], sine[1:]
    model = fit_quietly(quick(GRURegressor, max_iter=1, learning_rate_init=1e-12,
                              spectral_radius=0.5), X, y)
    block = model.params_["W_hh_0"][:6]
    np.testing.assert_allclose(np.abs(np.linalg.eigvals(block)), 0.5, rtol=1e-6)
    ind = fit_quietly(quick(IndRNNRegressor, max_iter=1, learning_rate_init=1e-12,
                            spectral_radius=0.9), X, y)
    assert ind.params_["W_hh_0"].max() == pytest.approx(0.9, rel=1e-6)


def test_peephole_lstm_learns(sine):
    X, y = sine[:-1], sine[1:]
    model = fit_quietly(quick(LSTMRegressor, peephole=True, max_iter=30), X, y)
    assert model.params_["W_ch_0"].shape == (18,) and np.any(model.params_["W_ch_0"] != 0)
    assert model.score(X, y) > 0.9
