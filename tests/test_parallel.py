"""The parallel reservoir scheme against independent references: a plain ESNRegressor
where the scheme reduces to one, and a closed loop written out here with NumPy."""

import pickle

import numpy as np
import pytest

from reservoir import ESNRegressor, ParallelESNRegressor
from reservoir._backend import to_numpy

N_SITES = 6
PARAMS = dict(n_units=30, spectral_radius=0.8, leak_rate=0.7, input_scaling=0.5, bias_scaling=0.4,
              alpha=1e-6, washout=20,
              readout_features=("constant", "input", "state", "squared_state"))


@pytest.fixture(scope="module")
def field():
    """A travelling wave on a ring of N_SITES sites, with a little noise."""
    rng = np.random.default_rng(0)
    t = np.arange(400)[:, None] * 0.15
    sites = np.arange(N_SITES)[None, :]
    wave = np.sin(2 * np.pi * sites / N_SITES - t) + 0.4 * np.cos(4 * np.pi * sites / N_SITES - 0.7 * t)
    return wave + 0.01 * rng.standard_normal(wave.shape)


def cut(field, n_groups, locality, boundary):
    """Neighbourhoods written out with np.pad: (..., D) -> list over groups of (..., width)."""
    D = field.shape[-1]
    q = D // n_groups
    pad = [(0, 0)] * (field.ndim - 1) + [(locality, locality)]
    padded = np.pad(field, pad, mode="wrap" if boundary == "periodic" else "constant")
    return [padded[..., g * q:g * q + q + 2 * locality] for g in range(n_groups)]


def reference_forecast(model, context, n_steps):
    """Closed loop of the parallel scheme from the fitted groups' weights, step by step."""
    G = model.n_groups_
    groups = model.estimators_ * G if model.shared_weights else model.estimators_
    weights = []
    for est in groups:
        res = est.reservoir_
        W = res.W.toarray() if hasattr(res.W, "toarray") else np.asarray(res.W)
        weights.append((W, np.asarray(res.W_in), res.bias, res.leak_rate,
                        np.atleast_2d(to_numpy(est.readout_.coef_)),
                        np.ravel(to_numpy(est.readout_.intercept_))))

    def step(x, u, w):
        W, W_in, b, a, _, _ = w
        return (1 - a) * x + a * np.tanh(W @ x + W_in @ u + b)

    def output(x, u, w):
        coef, intercept = w[4], w[5]
        return coef @ np.concatenate([u, x, x * x]) + intercept

    boundary, locality = model.boundary, model.locality
    x = [np.zeros(est.reservoir_.n_units) for est in groups]
    for row in context[:-1]:
        for g, u in enumerate(cut(row, G, locality, boundary)):
            x[g] = step(x[g], u, weights[g])
    y = context[-1]
    out = []
    for _ in range(n_steps):
        blocks = []
        for g, u in enumerate(cut(y, G, locality, boundary)):
            x[g] = step(x[g], u, weights[g])
            blocks.append(output(x[g], u, weights[g]))
        y = np.concatenate(blocks)
        out.append(y)
    return np.array(out)


# ---------------------------------------------------------------------- reductions to one ESN

@pytest.mark.parametrize("boundary", ["periodic", "zero"])
def test_one_group_without_neighbours_is_an_esn(field, boundary):
    X, y = field[:-100], field[1:-99]
    par = ParallelESNRegressor(**PARAMS, n_groups=1, locality=0, boundary=boundary,
                               random_state=0).fit(X, y)
    esn = ESNRegressor(**PARAMS, random_state=0).fit(X, y)
    test = field[-100:]
    np.testing.assert_array_equal(par.predict(test), esn.predict(test))
    # The ESN's closed loop may run fused in a compiled loop (small batches, with
    # Numba), which sums the readout in another order: equal to rounding.
    np.testing.assert_allclose(par.forecast(30), esn.forecast(30), rtol=1e-12, atol=1e-12)
    contexts = np.stack([field[:80], field[50:130]])
    np.testing.assert_allclose(par.forecast(30, context=contexts),
                               esn.forecast(30, context=contexts), rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(par.final_state_, esn.final_state_)


@pytest.mark.parametrize("boundary", ["periodic", "zero"])
def test_shared_weights_are_an_esn_fitted_on_the_stacked_neighbourhoods(field, boundary):
    X, y = field[:-1], field[1:]
    par = ParallelESNRegressor(**PARAMS, n_groups=3, locality=2, boundary=boundary,
                               random_state=4).fit(X, y)
    U = np.stack(cut(X, 3, 2, boundary))                 # (groups, T, 2 + 4)
    Y = np.stack([y[:, 2 * g:2 * g + 2] for g in range(3)])
    esn = ESNRegressor(**PARAMS, random_state=4).fit(U, Y)
    (group,) = par.estimators_
    np.testing.assert_allclose(group.readout_.coef_, esn.readout_.coef_, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(par.predict(X), np.concatenate(list(esn.predict(U)), axis=1),
                               rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(par.final_state_, esn.final_state_.reshape(-1), rtol=1e-12,
                               atol=1e-12)


def test_input_noise_is_drawn_once_on_the_whole_field(field):
    """Overlapping neighbourhoods read the same noisy value of a site; targets stay clean."""
    X, y = field[:-1], field[1:]
    noise = 0.05 * np.random.default_rng(7).standard_normal(X.shape)
    par = ParallelESNRegressor(**PARAMS, locality=1, input_noise=0.05, random_state=7).fit(X, y)
    U = np.stack(cut(X + noise, N_SITES, 1, "periodic"))
    Y = np.moveaxis(y, 1, 0)[:, :, None]
    esn = ESNRegressor(**PARAMS, random_state=7).fit(U, Y)
    np.testing.assert_allclose(par.estimators_[0].readout_.coef_, esn.readout_.coef_,
                               rtol=1e-10, atol=1e-12)
    clean = ParallelESNRegressor(**PARAMS, locality=1, random_state=7).fit(X, y)
    assert not np.allclose(par.estimators_[0].readout_.coef_, clean.estimators_[0].readout_.coef_)
    # The noise is part of training only.
    expected = np.concatenate(list(esn.predict(np.stack(cut(X, N_SITES, 1, "periodic")))), axis=1)
    np.testing.assert_allclose(par.predict(X), expected, rtol=1e-10, atol=1e-12)


def test_separate_weights_draw_one_reservoir_per_group(field):
    X, y = field[:-1], field[1:]
    par = ParallelESNRegressor(**PARAMS, n_groups=3, shared_weights=False, random_state=0).fit(X, y)
    assert len(par.estimators_) == 3
    W = [e.reservoir_.W.toarray() for e in par.estimators_]
    assert not np.allclose(W[0], W[1]) and not np.allclose(W[1], W[2])
    for g, est in enumerate(par.estimators_):
        np.testing.assert_allclose(
            par.predict(X)[:, 2 * g:2 * g + 2],
            est.predict(cut(X, 3, 1, "periodic")[g]), rtol=1e-12, atol=1e-12)
    again = ParallelESNRegressor(**PARAMS, n_groups=3, shared_weights=False, random_state=0).fit(X, y)
    np.testing.assert_array_equal(again.predict(X), par.predict(X))


# ---------------------------------------------------------------------- closed loop

@pytest.mark.parametrize("shared_weights", [True, False])
@pytest.mark.parametrize("boundary", ["periodic", "zero"])
@pytest.mark.parametrize("n_groups", [None, 2])
def test_forecast_couples_the_groups_as_a_plain_loop_does(field, shared_weights, boundary, n_groups):
    X, y = field[:300], field[1:301]
    par = ParallelESNRegressor(**PARAMS, n_groups=n_groups, locality=1, boundary=boundary,
                               shared_weights=shared_weights, random_state=1).fit(X, y)
    context = field[300:360]
    expected = reference_forecast(par, context, 40)
    np.testing.assert_allclose(par.forecast(40, context=context), expected, rtol=1e-9, atol=1e-9)
    # Without a context the loop continues the fitted data: the teacher-forced
    # run is the whole of X, and the last target is the first input.
    continued = reference_forecast(par, np.concatenate([X, y[-1:]]), 40)
    np.testing.assert_allclose(par.forecast(40), continued, rtol=1e-9, atol=1e-9)


def test_forecast_follows_a_travelling_wave(field):
    par = ParallelESNRegressor(**PARAMS, locality=2, random_state=0).fit(field[:300], field[1:301])
    err = par.forecast(20, context=field[250:301]) - field[301:321]
    assert np.sqrt(np.mean(err ** 2)) < 0.1


@pytest.mark.parametrize("shared_weights", [True, False])
def test_batches_give_what_one_series_at_a_time_gives(field, shared_weights):
    par = ParallelESNRegressor(**PARAMS, n_groups=3, locality=1, shared_weights=shared_weights,
                               random_state=2)
    series = [field[:250], field[100:330], field[150:400]]
    par.fit([s[:-1] for s in series], [s[1:] for s in series])
    batch = np.stack([s[:200] for s in series])
    for i, got in enumerate(par.predict(batch)):
        np.testing.assert_allclose(got, par.predict(batch[i]), rtol=1e-12, atol=1e-12)
    for i, got in enumerate(par.predict(series)):
        np.testing.assert_allclose(got, par.predict(series[i]), rtol=1e-12, atol=1e-12)
    contexts = [s[:60 + 10 * i] for i, s in enumerate(series)]
    together = par.forecast(15, context=contexts)
    for i, got in enumerate(together):
        np.testing.assert_allclose(got, par.forecast(15, context=contexts[i]), rtol=1e-10,
                                   atol=1e-10)
    # From the end of the fitted series, one forecast per series.
    assert par.forecast(5).shape == (3, 5, N_SITES)


def test_continue_resumes_where_the_fitted_data_ends(field):
    par = ParallelESNRegressor(**PARAMS, n_groups=2, locality=1, random_state=3)
    par.fit(field[:200], field[1:201])
    later = field[200:260]
    whole = par.predict(field[:260])
    np.testing.assert_allclose(par.predict(later, initial_state="continue"), whole[200:],
                               rtol=1e-10, atol=1e-10)
    assert par.final_state_.shape == (2 * PARAMS["n_units"],)


def test_one_output_per_group_and_a_one_d_target(field):
    X = field[:-1]
    par = ParallelESNRegressor(**PARAMS, n_groups=1, random_state=0).fit(X, field[1:, 0])
    assert par.predict(X).shape == (X.shape[0],)
    # Two outputs per site: y's columns split into one block per group.
    y = np.concatenate([field[1:, :3], -field[1:, :3], field[1:, 3:], -field[1:, 3:]], axis=1)
    par = ParallelESNRegressor(**PARAMS, n_groups=2, random_state=0).fit(X, y)
    assert par.predict(X).shape == (X.shape[0], 12)
    assert par.score(X, y) > 0.9


# ---------------------------------------------------------------------- errors and persistence

@pytest.mark.parametrize(
    "params, match",
    [
        (dict(n_groups=4), r"n_groups=4 does not divide the 6 sites .* \[1, 2, 3, 6\]"),
        (dict(n_groups=0), r"n_groups must be in \[1, inf\], got 0"),
        (dict(locality=-1), r"locality must be in \[0, inf\], got -1"),
        (dict(boundary="reflect"), r"boundary must be one of \('periodic', 'zero'\), got 'reflect'"),
        (dict(input_noise=-0.1), r"input_noise must be in \[0, inf\], got -0.1"),
        (dict(leak_rate=1.5), r"leak_rate must be in \(0, 1\], got 1.5"),
    ],
)
def test_bad_parameters_are_named(field, params, match):
    with pytest.raises(ValueError, match=match):
        ParallelESNRegressor(n_units=10, **params).fit(field[:-1], field[1:])


def test_bad_shapes_are_named(field):
    with pytest.raises(ValueError, match=r"y has 3 column\(s\), which cannot be split into "
                                         r"n_groups=2 .* multiple of 2 columns \(one per site: 6\)"):
        ParallelESNRegressor(n_units=10, n_groups=2).fit(field[:-1], field[1:, :3])
    with pytest.raises(TypeError, match="shared_weights must be True or False, got 'yes'"):
        ParallelESNRegressor(n_units=10, shared_weights="yes").fit(field[:-1], field[1:])
    par = ParallelESNRegressor(n_units=10, n_groups=3, random_state=0).fit(field[:-1], field[1:])
    with pytest.raises(ValueError, match="X has 4 features, but ParallelESNRegressor is expecting 6"):
        par.predict(field[:, :4])
    with pytest.raises(ValueError, match=r"initial_state must have shape \(30,\)"):
        par.predict(field, initial_state=np.zeros(10))
    wide = ParallelESNRegressor(n_units=10, n_groups=3, random_state=0).fit(
        field[:-1], np.concatenate([field[1:], field[1:]], axis=1))
    with pytest.raises(ValueError, match="as many outputs as input features"):
        wide.forecast(5)


@pytest.mark.parametrize("shared_weights", [True, False])
def test_pickle_round_trip(field, shared_weights):
    par = ParallelESNRegressor(**PARAMS, n_groups=3, shared_weights=shared_weights,
                               random_state=0).fit(field[:-1], field[1:])
    expected = par.forecast(10, context=field[:60]), par.predict(field), par.forecast(10)
    back = pickle.loads(pickle.dumps(par))
    got = back.forecast(10, context=field[:60]), back.predict(field), back.forecast(10)
    for a, b in zip(got, expected, strict=True):
        np.testing.assert_array_equal(a, b)


# ---------------------------------------------------------------------- backends and dtypes

@pytest.mark.parametrize("shared_weights", [True, False])
@pytest.mark.parametrize("dtype, tolerance", [("float64", 1e-8), ("float32", 2e-3)])
def test_array_api_strict_agrees_with_numpy(field, shared_weights, dtype, tolerance):
    xp = pytest.importorskip("array_api_strict")
    params = dict(PARAMS, n_groups=3, locality=1, boundary="zero", shared_weights=shared_weights,
                  input_noise=1e-3, random_state=0, dtype=dtype)
    X, y = field[:-1], field[1:]
    ref = ParallelESNRegressor(**params).fit(X, y)
    est = ParallelESNRegressor(**params).fit(xp.asarray(X), xp.asarray(y))
    pred = est.predict(xp.asarray(X))
    assert type(pred).__module__.split(".")[0] == "array_api_strict"
    assert str(pred.dtype).endswith(dtype)
    np.testing.assert_allclose(to_numpy(pred), ref.predict(X), rtol=tolerance, atol=tolerance)
    contexts = np.stack([field[:60], field[100:160]])
    np.testing.assert_allclose(to_numpy(est.forecast(10, context=xp.asarray(contexts))),
                               ref.forecast(10, context=contexts), rtol=tolerance, atol=tolerance)
    np.testing.assert_allclose(to_numpy(est.forecast(10)), ref.forecast(10), rtol=tolerance,
                               atol=tolerance)


def test_float32_model_computes_in_float32(field):
    par = ParallelESNRegressor(**PARAMS, n_groups=2, dtype="float32", random_state=0)
    par.fit(field[:-1], field[1:])
    assert par.predict(field).dtype == np.float32
    assert par.forecast(5, context=field[:50]).dtype == np.float32
