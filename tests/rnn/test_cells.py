"""Hand-written BPTT against central finite differences, for every cell.

The loss is half the masked mean squared error; the check perturbs every
weight (and the initial state) by +-eps and compares the slope with the
analytic gradient, in float64, to a relative error below 1e-6.
"""

import numpy as np
import pytest

from reservoir.rnn._cells import (
    CELLS,
    NetworkSpec,
    backward,
    forward,
    initialize_parameters,
    loss_and_gradient,
    state_from_array,
    state_to_array,
    zero_state,
)
from reservoir.rnn._training import iter_bptt

EPS = 1e-6
TOLERANCE = 1e-6


def relative_error(a, b):
    a, b = np.ravel(a), np.ravel(b)
    return np.linalg.norm(a - b) / max(np.linalg.norm(a), np.linalg.norm(b), 1e-12)


def numerical_gradient(f, params):
    """Central differences of the scalar f(params) for every entry of every array."""
    grads = {}
    for name, value in params.items():
        g = np.zeros_like(value)
        for idx in np.ndindex(value.shape):
            slopes = []
            for sign in (1.0, -1.0):
                shifted = value.copy()
                shifted[idx] += sign * EPS
                slopes.append(f({**params, name: shifted}))
            g[idx] = (slopes[0] - slopes[1]) / (2 * EPS)
        grads[name] = g
    return grads


def random_problem(cell, n_layers, *, n_timesteps=6, n_batch=2, seed=0):
    """A tiny network with perturbed weights, data, a mask and a non-zero initial state."""
    rng = np.random.default_rng(seed)
    spec = NetworkSpec(cell, n_features=2, n_units=3, n_outputs=2, n_layers=n_layers)
    # Perturb the initial weights so that no gate sits at a symmetric point.
    params = {k: v + 0.3 * rng.standard_normal(v.shape)
              for k, v in initialize_parameters(spec, rng).items()}
    X = rng.standard_normal((n_batch, n_timesteps, 2))
    Y = rng.standard_normal((n_batch, n_timesteps, 2))
    mask = np.ones((n_batch, n_timesteps))
    mask[:, :2] = 0.0          # a washout
    mask[1, -1] = 0.0          # and padding at the end of one series
    state = state_from_array(spec, 0.5 * rng.standard_normal((n_batch, spec.state_size)))
    return spec, params, X, Y, mask, state


@pytest.mark.parametrize("n_layers", [1, 2])
@pytest.mark.parametrize("cell", CELLS)
def test_full_bptt_matches_finite_differences(cell, n_layers):
    spec, params, X, Y, mask, state = random_problem(cell, n_layers)
    _, grads, _, _ = loss_and_gradient(spec, params, X, Y, mask, state)
    numeric = numerical_gradient(
        lambda p: loss_and_gradient(spec, p, X, Y, mask, state)[0], params)
    errors = {name: relative_error(grads[name], numeric[name]) for name in params}
    assert max(errors.values()) < TOLERANCE, errors


@pytest.mark.parametrize("cell", CELLS)
def test_initial_state_gradient_matches_finite_differences(cell):
    spec, params, X, Y, mask, state = random_problem(cell, 2)
    Y_hat, _, cache = forward(spec, params, X, state)
    n = mask.sum() * spec.n_outputs
    _, dstate, _ = backward(spec, params, cache, (Y_hat - Y) * mask[:, :, None] / n)
    flat = {"state": state_to_array(spec, state)}
    def loss_at(p):
        return loss_and_gradient(spec, params, X, Y, mask, state_from_array(spec, p["state"]))[0]

    numeric = numerical_gradient(loss_at, flat)
    assert relative_error(state_to_array(spec, dstate), numeric["state"]) < TOLERANCE


@pytest.mark.parametrize("n_layers", [1, 2])
@pytest.mark.parametrize("cell", CELLS)
def test_truncated_bptt_matches_finite_differences(cell, n_layers):
    """Each chunk's gradient is exact for its loss with the carried-in state held fixed."""
    spec, params, X, Y, mask, _ = random_problem(cell, n_layers, n_timesteps=9)
    k = 4  # chunks [0, 4), [4, 8), [8, 9): an uneven last chunk
    chunks = list(iter_bptt(spec, params, X, Y, mask, k))
    assert len(chunks) == 3
    state = None
    for j, (loss, grads, _) in enumerate(chunks):
        sl = slice(j * k, (j + 1) * k)
        Xc, Yc, mc = X[:, sl], Y[:, sl], mask[:, sl]
        numeric = numerical_gradient(
            lambda p, Xc=Xc, Yc=Yc, mc=mc, s=state: loss_and_gradient(spec, p, Xc, Yc, mc, s)[0],
            params)
        errors = {name: relative_error(grads[name], numeric[name]) for name in params}
        assert max(errors.values()) < TOLERANCE, (j, errors)
        assert loss == pytest.approx(loss_and_gradient(spec, params, Xc, Yc, mc, state)[0])
        _, state, _ = forward(spec, params, Xc, state)


@pytest.mark.parametrize("cell", CELLS)
def test_truncation_stops_the_gradient_at_chunk_boundaries(cell):
    spec, params, X, Y, mask, _ = random_problem(cell, 1, n_timesteps=8)
    _, full, _, _ = loss_and_gradient(spec, params, X, Y, mask)
    (_, whole, _), = iter_bptt(spec, params, X, Y, mask, None)
    (_, long_chunk, _), = iter_bptt(spec, params, X, Y, mask, 8)
    for name in params:
        np.testing.assert_allclose(whole[name], full[name], rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(long_chunk[name], full[name], rtol=1e-12, atol=1e-15)
    # Cut in two, the first chunk no longer sees the second half's errors.
    (_, first, _), _ = iter_bptt(spec, params, X, Y, mask, 4)
    assert relative_error(first["W_hh_0"], full["W_hh_0"]) > 1e-3


@pytest.mark.parametrize("cell", CELLS)
def test_float32_gradient_agrees_with_float64(cell):
    spec, params, X, Y, mask, state = random_problem(cell, 2)
    _, g64, _, _ = loss_and_gradient(spec, params, X, Y, mask, state)
    as32 = {k: v.astype(np.float32) for k, v in params.items()}
    state32 = [tuple(p.astype(np.float32) for p in layer) for layer in state]
    loss32, g32, final32, _ = loss_and_gradient(
        spec, as32, X.astype(np.float32), Y.astype(np.float32), mask.astype(np.float32), state32)
    for name in params:
        assert g32[name].dtype == np.float32
        assert relative_error(g32[name], g64[name]) < 1e-4
    assert all(p.dtype == np.float32 for layer in final32 for p in layer)


@pytest.mark.parametrize("cell", CELLS)
def test_final_state_of_padded_series_is_taken_at_its_own_end(cell):
    spec, params, X, _, _, _ = random_problem(cell, 2, n_timesteps=7)
    _, final, _ = forward(spec, params, X, lengths=[7, 4])
    _, alone, _ = forward(spec, params, X[1:, :4])
    np.testing.assert_allclose(state_to_array(spec, final)[1], state_to_array(spec, alone)[0])
    _, full, _ = forward(spec, params, X[:1])
    np.testing.assert_allclose(state_to_array(spec, final)[0], state_to_array(spec, full)[0])


def test_inference_without_cache_gives_the_same_outputs():
    spec, params, X, _, _, state = random_problem("lstm", 2)
    Y1, s1, _ = forward(spec, params, X, state)
    Y2, s2, _ = forward(spec, params, X, state, keep_cache=False)
    np.testing.assert_array_equal(Y1, Y2)
    np.testing.assert_array_equal(state_to_array(spec, s1), state_to_array(spec, s2))


@pytest.mark.parametrize(("cell", "n_parts"), [("elman", 1), ("lstm", 2), ("gru", 1)])
def test_state_layout_round_trips(cell, n_parts):
    spec = NetworkSpec(cell, 2, 3, 1, n_layers=2)
    assert spec.state_size == 2 * n_parts * 3
    flat = np.arange(4 * spec.state_size, dtype=float).reshape(4, -1)
    np.testing.assert_array_equal(state_to_array(spec, state_from_array(spec, flat)), flat)
    zeros = zero_state(spec, 4, flat)
    assert len(zeros) == 2 and all(len(layer) == n_parts for layer in zeros)


def test_initialisation():
    rng = np.random.default_rng(0)
    spec = NetworkSpec("lstm", n_features=3, n_units=5, n_outputs=2, n_layers=2)
    params = initialize_parameters(spec, rng)
    assert list(params) == spec.parameter_names()
    for layer in range(2):
        W_hh = params[f"W_hh_{layer}"]
        assert W_hh.shape == (20, 5)
        for g in range(4):  # every gate block is orthogonal
            block = W_hh[5 * g:5 * (g + 1)]
            np.testing.assert_allclose(block @ block.T, np.eye(5), atol=1e-12)
        b = params[f"b_h_{layer}"]
        np.testing.assert_array_equal(b[5:10], 1.0)   # forget gate
        np.testing.assert_array_equal(np.delete(b, np.s_[5:10]), 0.0)
    limit = np.sqrt(6.0 / (3 + 5))  # Glorot-uniform bound of the first input block
    assert np.abs(params["W_xh_0"]).max() <= limit
    assert params["W_hy"].shape == (2, 5) and params["b_y"].shape == (2,)
    gru = initialize_parameters(NetworkSpec("gru", 1, 4, 1), np.random.default_rng(0))
    assert gru["b_hn_0"].shape == (4,)
