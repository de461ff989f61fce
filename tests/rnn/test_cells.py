"""Hand-written BPTT against central finite differences, for every cell and network shape.

The loss is a head of ``_objectives`` (masked squared error, or the log loss
of a per-step or pooled classifier); the check perturbs every weight (and
the initial state) by +-eps and compares the slope with the analytic
gradient, in float64, to a relative error below 1e-6. Padding, dropout (with
its masks held fixed) and zoneout (with its masks held fixed) are part of
the function being differentiated.
"""

import numpy as np
import pytest

from reservoir.rnn._cells import CELLS, ElmanCell, GRUCell, IndRNNCell, LSTMCell, make_cell
from reservoir.rnn._network import (
    NetworkSpec,
    backprop_network,
    draw_noise,
    forward,
    initialize_parameters,
    run_network,
    state_from_array,
    state_to_array,
    zero_state,
)
from reservoir.rnn._objectives import loss_and_gradient
from reservoir.rnn._training import iter_bptt

EPS = 1e-6
TOLERANCE = 1e-6

# Every cell, with its options.
ALL_CELLS = [ElmanCell(), LSTMCell(), LSTMCell(peephole=True), GRUCell(),
             IndRNNCell(activation="relu"), IndRNNCell(activation="tanh")]
CELL_IDS = [repr(c) for c in ALL_CELLS]


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


def random_problem(cell, n_layers=1, *, bidirectional=False, zoneout=0.0, n_timesteps=6,
                   n_batch=3, targets="steps", seed=0):
    """A tiny network with perturbed weights, data, a washout mask, padding and a non-zero
    initial state. ``targets``: "steps" (real), "classes" (one-hot per step), "series"."""
    rng = np.random.default_rng(seed)
    spec = NetworkSpec(cell, n_features=2, n_units=3, n_outputs=2, n_layers=n_layers,
                       bidirectional=bidirectional, zoneout=zoneout)
    # Perturb the initial weights so that no gate sits at a symmetric point.
    params = {k: v + 0.3 * rng.standard_normal(v.shape)
              for k, v in initialize_parameters(spec, rng).items()}
    X = rng.standard_normal((n_batch, n_timesteps, 2))
    if targets == "steps":
        Y = rng.standard_normal((n_batch, n_timesteps, 2))
    elif targets == "classes":
        Y = np.eye(2)[rng.integers(0, 2, (n_batch, n_timesteps))]
    else:
        Y = np.eye(2)[rng.integers(0, 2, n_batch)]
    lengths = [n_timesteps, n_timesteps - 2, n_timesteps - 1][:n_batch]
    mask = np.zeros((n_batch, n_timesteps))
    for b, n in enumerate(lengths):
        mask[b, 2:n] = 1.0      # a washout of 2, and padding after each series' end
    state = state_from_array(spec, 0.5 * rng.standard_normal((n_batch, spec.state_size)))
    return spec, params, X, Y, mask, lengths, state


def check_against_finite_differences(spec, params, X, Y, mask, state, **kwargs):
    _, grads, _, _ = loss_and_gradient(spec, params, X, Y, mask, state, **kwargs)
    numeric = numerical_gradient(
        lambda p: loss_and_gradient(spec, p, X, Y, mask, state, **kwargs)[0], params)
    assert set(grads) == set(params)
    errors = {name: relative_error(grads[name], numeric[name]) for name in params}
    assert max(errors.values()) < TOLERANCE, errors


@pytest.mark.parametrize("n_layers", [1, 2])
@pytest.mark.parametrize("cell", ALL_CELLS, ids=CELL_IDS)
def test_bptt_matches_finite_differences(cell, n_layers):
    spec, params, X, Y, mask, lengths, state = random_problem(cell, n_layers)
    check_against_finite_differences(spec, params, X, Y, mask, state, lengths=lengths)


@pytest.mark.parametrize("cell", ALL_CELLS, ids=CELL_IDS)
def test_bidirectional_stack_matches_finite_differences(cell):
    spec, params, X, Y, mask, lengths, state = random_problem(cell, 2, bidirectional=True)
    check_against_finite_differences(spec, params, X, Y, mask, state, lengths=lengths)


@pytest.mark.parametrize("cell", ALL_CELLS, ids=CELL_IDS)
def test_dropout_and_zoneout_with_fixed_masks_match_finite_differences(cell):
    spec, params, X, Y, mask, lengths, state = random_problem(cell, 2, zoneout=0.4)
    noise = draw_noise(spec, X.shape[0], X.shape[1], np.random.default_rng(5), dropout=0.3,
                       input_dropout=0.3, like=X)
    assert noise.input_masks[0] is not None and noise.zoneout_masks is not None
    check_against_finite_differences(spec, params, X, Y, mask, state, lengths=lengths,
                                     noise=noise)


@pytest.mark.parametrize("cell", ALL_CELLS, ids=CELL_IDS)
def test_zoneout_at_inference_matches_finite_differences(cell):
    """Without masks, zoneout is its expectation: a deterministic, differentiable update."""
    spec, params, X, Y, mask, lengths, state = random_problem(cell, 1, zoneout=0.3)
    check_against_finite_differences(spec, params, X, Y, mask, state, lengths=lengths)


@pytest.mark.parametrize(("targets", "pooling", "bidirectional"), [
    ("classes", None, False),
    ("series", "mean", False),
    ("series", "last", False),
    ("series", "mean", True),
    ("series", "last", True),
])
@pytest.mark.parametrize("cell", [ElmanCell(), LSTMCell(), GRUCell()], ids=repr)
def test_classification_heads_match_finite_differences(cell, targets, pooling, bidirectional):
    spec, params, X, Y, mask, lengths, state = random_problem(
        cell, 1, bidirectional=bidirectional, targets=targets)
    check_against_finite_differences(spec, params, X, Y, mask, state, lengths=lengths,
                                     loss="log_loss", pooling=pooling)


def test_binary_log_loss_matches_finite_differences():
    rng = np.random.default_rng(3)
    spec = NetworkSpec("gru", 2, 3, 1)
    params = initialize_parameters(spec, rng)
    X = rng.standard_normal((4, 5, 2))
    Y = rng.integers(0, 2, (4, 1)).astype(float)
    check_against_finite_differences(spec, params, X, Y, None, None, loss="log_loss",
                                     pooling="last")


@pytest.mark.parametrize("cell", ALL_CELLS, ids=CELL_IDS)
def test_initial_state_gradient_matches_finite_differences(cell):
    spec, params, X, Y, mask, lengths, state = random_problem(cell, 2, bidirectional=True)
    H, _, cache = run_network(spec, params, X, state, lengths=lengths)
    Y_hat = H @ params["W_hy"].T + params["b_y"]
    n = mask.sum() * spec.n_outputs
    dY = (Y_hat - Y) * mask[:, :, None] / n
    _, dstate, _ = backprop_network(spec, params, cache, dY @ params["W_hy"])

    def loss_at(p):
        start = state_from_array(spec, p["state"])
        return loss_and_gradient(spec, params, X, Y, mask, start, lengths=lengths)[0]

    numeric = numerical_gradient(loss_at, {"state": state_to_array(spec, state)})
    assert relative_error(state_to_array(spec, dstate), numeric["state"]) < TOLERANCE


@pytest.mark.parametrize("cell", ALL_CELLS, ids=CELL_IDS)
@pytest.mark.parametrize("bidirectional", [False, True])
def test_padded_batch_gradient_is_the_sum_of_per_sequence_gradients(cell, bidirectional):
    """Padding is inert: the batch's summed loss has the summed gradient of its sequences."""
    spec, params, X, Y, mask, lengths, state = random_problem(
        cell, 2, bidirectional=bidirectional, n_timesteps=7)
    loss, grads, final, n = loss_and_gradient(spec, params, X, Y, mask, state, lengths=lengths)
    total = {name: np.zeros_like(v) for name, v in params.items()}
    total_loss = 0.0
    flat_state = state_to_array(spec, state)
    for b, length in enumerate(lengths):
        alone = state_from_array(spec, flat_state[b:b + 1])
        loss_b, g_b, final_b, n_b = loss_and_gradient(
            spec, params, X[b:b + 1, :length], Y[b:b + 1, :length], mask[b:b + 1, :length], alone)
        total_loss += loss_b * n_b
        for name in params:
            total[name] += g_b[name] * n_b
        np.testing.assert_allclose(state_to_array(spec, final)[b],
                                   state_to_array(spec, final_b)[0], rtol=1e-12, atol=1e-14)
    assert loss * n == pytest.approx(total_loss, rel=1e-12)
    for name in params:
        np.testing.assert_allclose(grads[name] * n, total[name], rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("n_layers", [1, 2])
@pytest.mark.parametrize("cell", ALL_CELLS, ids=CELL_IDS)
def test_truncated_bptt_matches_finite_differences(cell, n_layers):
    """Each chunk's gradient is exact for its loss with the carried-in state held fixed."""
    spec, params, X, Y, mask, _, _ = random_problem(cell, n_layers, n_timesteps=9)
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
    spec, params, X, Y, mask, _, _ = random_problem(cell, 1, n_timesteps=8)
    _, full, _, _ = loss_and_gradient(spec, params, X, Y, mask)
    (_, whole, _), = iter_bptt(spec, params, X, Y, mask, None)
    (_, long_chunk, _), = iter_bptt(spec, params, X, Y, mask, 8)
    for name in params:
        np.testing.assert_allclose(whole[name], full[name], rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(long_chunk[name], full[name], rtol=1e-12, atol=1e-15)
    # Cut in two, the first chunk no longer sees the second half's errors.
    (_, first, _), _ = iter_bptt(spec, params, X, Y, mask, 4)
    assert relative_error(first["W_hh_0"], full["W_hh_0"]) > 1e-3


@pytest.mark.parametrize("cell", ALL_CELLS, ids=CELL_IDS)
def test_float32_gradient_agrees_with_float64(cell):
    spec, params, X, Y, mask, lengths, state = random_problem(cell, 2, bidirectional=True)
    _, g64, _, _ = loss_and_gradient(spec, params, X, Y, mask, state, lengths=lengths)
    as32 = {k: v.astype(np.float32) for k, v in params.items()}
    state32 = [tuple(p.astype(np.float32) for p in run) for run in state]
    _, g32, final32, _ = loss_and_gradient(
        spec, as32, X.astype(np.float32), Y.astype(np.float32), mask.astype(np.float32),
        state32, lengths=lengths)
    for name in params:
        assert g32[name].dtype == np.float32
        assert relative_error(g32[name], g64[name]) < 1e-4
    assert all(p.dtype == np.float32 for run in final32 for p in run)


# ---------------------------------------------------------------------------
# The forward pass against equations written out by hand
# ---------------------------------------------------------------------------

def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def reference_step(cell, p, x, state):
    """One step of each cell, straight from its equations, for one sequence."""
    h = state[0]
    if isinstance(cell, ElmanCell):
        return (np.tanh(p["W_xh"] @ x + p["W_hh"] @ h + p["b_h"]),)
    if isinstance(cell, IndRNNCell):
        z = p["W_xh"] @ x + p["W_hh"] * h + p["b_h"]
        return (np.maximum(z, 0.0) if cell.activation == "relu" else np.tanh(z),)
    if isinstance(cell, GRUCell):
        H = h.shape[0]
        zx, zh = p["W_xh"] @ x + p["b_h"], p["W_hh"] @ h
        r = _sigmoid(zx[:H] + zh[:H])
        u = _sigmoid(zx[H:2 * H] + zh[H:2 * H])
        n = np.tanh(zx[2 * H:] + r * (zh[2 * H:] + p["b_hn"]))
        return ((1 - u) * n + u * h,)
    c = state[1]
    H = h.shape[0]
    z = p["W_xh"] @ x + p["W_hh"] @ h + p["b_h"]
    peep = p.get("W_ch", np.zeros(3 * H))
    i = _sigmoid(z[:H] + peep[:H] * c)
    f = _sigmoid(z[H:2 * H] + peep[H:2 * H] * c)
    c_new = f * c + i * np.tanh(z[2 * H:3 * H])
    o = _sigmoid(z[3 * H:] + peep[2 * H:] * c_new)
    return (o * np.tanh(c_new), c_new)


@pytest.mark.parametrize("cell", ALL_CELLS, ids=CELL_IDS)
def test_bidirectional_padded_zoneout_forward_matches_the_equations(cell):
    spec, params, X, _, _, lengths, state = random_problem(cell, 2, bidirectional=True,
                                                           zoneout=0.25)
    Y, final, _ = forward(spec, params, X, state, lengths=lengths)
    flat0 = state_to_array(spec, state)
    for b, n in enumerate(lengths):
        start = state_from_array(spec, flat0[b:b + 1])
        inputs = X[b, :n]
        finals = []
        for layer in range(2):
            outputs = []
            for r, reverse in ((2 * layer, False), (2 * layer + 1, True)):
                suffix = f"{layer}_reverse" if reverse else f"{layer}"
                p = {k: params[f"{k}_{suffix}"] for k in cell.parameter_shapes(1, 1)}
                s = tuple(part[0] for part in start[r])
                hs = [None] * n
                for t in (range(n - 1, -1, -1) if reverse else range(n)):
                    new = reference_step(cell, p, inputs[t], s)
                    # Zoneout at inference: the expected update.
                    s = tuple(0.25 * old + 0.75 * nw for old, nw in zip(s, new, strict=True))
                    hs[t] = s[0]
                finals.append(s)
                outputs.append(np.stack(hs))
            inputs = np.concatenate(outputs, axis=1)
        expected = inputs @ params["W_hy"].T + params["b_y"]
        np.testing.assert_allclose(Y[b, :n], expected, rtol=1e-12, atol=1e-12)
        got = state_to_array(spec, final)[b]
        np.testing.assert_allclose(got, np.concatenate([p for f in finals for p in f]),
                                   rtol=1e-12, atol=1e-12)


def test_inference_without_cache_gives_the_same_outputs():
    spec, params, X, _, _, lengths, state = random_problem(LSTMCell(peephole=True), 2)
    Y1, s1, _ = forward(spec, params, X, state, lengths=lengths)
    Y2, s2, _ = forward(spec, params, X, state, lengths=lengths, keep_cache=False)
    np.testing.assert_array_equal(Y1, Y2)
    np.testing.assert_array_equal(state_to_array(spec, s1), state_to_array(spec, s2))


def test_dropout_masks_are_fixed_across_time_and_scaled():
    spec = NetworkSpec("lstm", 4, 50, 1, n_layers=2, zoneout=0.3)
    like = np.zeros((1, 1, 1))
    noise = draw_noise(spec, 400, 20, np.random.default_rng(0), dropout=0.25, input_dropout=0.5,
                       like=like)
    first, second = noise.input_masks
    assert first.shape == (400, 4) and second.shape == (400, 50)
    # Inverted dropout: kept units are scaled so that each mask has mean 1.
    assert set(np.unique(first)) == {0.0, 2.0}
    assert set(np.unique(second)) == {0.0, 1.0 / 0.75}
    assert np.mean(second == 0) == pytest.approx(0.25, abs=0.01)
    assert noise.output_mask.shape == (400, 50)
    zone = noise.zoneout_masks
    assert len(zone) == 2 and zone[0].shape == (400, 20, 50)
    assert np.mean(zone[1]) == pytest.approx(0.3, abs=0.01)
    window = noise.window(5, 9)
    assert window.input_masks is noise.input_masks and window.zoneout_masks[0].shape[1] == 4
    assert draw_noise(NetworkSpec("gru", 2, 3, 1), 5, 5, np.random.default_rng(0),
                      like=like) is None


@pytest.mark.parametrize(("cell", "n_parts"), [("elman", 1), ("lstm", 2), ("gru", 1),
                                               ("indrnn", 1)])
def test_state_layout_round_trips(cell, n_parts):
    spec = NetworkSpec(cell, 2, 3, 1, n_layers=2, bidirectional=True)
    assert spec.state_size == 2 * 2 * n_parts * 3
    flat = np.arange(4 * spec.state_size, dtype=float).reshape(4, -1)
    np.testing.assert_array_equal(state_to_array(spec, state_from_array(spec, flat)), flat)
    zeros = zero_state(spec, 4, flat)
    assert len(zeros) == 4 and all(len(run) == n_parts for run in zeros)


def test_initialisation():
    rng = np.random.default_rng(0)
    spec = NetworkSpec(LSTMCell(peephole=True), n_features=3, n_units=5, n_outputs=2, n_layers=2,
                       bidirectional=True)
    params = initialize_parameters(spec, rng, spectral_radius=0.8)
    assert list(params) == spec.parameter_names()
    assert params["W_xh_1_reverse"].shape == (20, 10)   # layer 1 reads both directions
    assert params["W_hy"].shape == (2, 10)
    for name in ("W_hh_0", "W_hh_1_reverse"):
        W_hh = params[name]
        assert W_hh.shape == (20, 5)
        for g in range(4):  # every gate block is orthogonal times the spectral radius
            block = W_hh[5 * g:5 * (g + 1)]
            np.testing.assert_allclose(block @ block.T, 0.64 * np.eye(5), atol=1e-12)
    b = params["b_h_0"]
    np.testing.assert_array_equal(b[5:10], 1.0)   # forget gate
    np.testing.assert_array_equal(np.delete(b, np.s_[5:10]), 0.0)
    np.testing.assert_array_equal(params["W_ch_1"], 0.0)
    limit = np.sqrt(6.0 / (3 + 5))  # Glorot-uniform bound of the first input block
    assert np.abs(params["W_xh_0"]).max() <= limit
    gru = initialize_parameters(NetworkSpec("gru", 1, 4, 1), np.random.default_rng(0))
    assert gru["b_hn_0"].shape == (4,)
    ind = initialize_parameters(NetworkSpec("indrnn", 1, 6, 1), np.random.default_rng(0),
                                spectral_radius=0.9)
    assert ind["W_hh_0"].shape == (6,)
    assert ind["W_hh_0"].max() == pytest.approx(0.9) and ind["W_hh_0"].min() > 0


def test_same_seed_same_weights_as_before_the_cells_became_objects():
    """A seed still gives the weights it gave: pinned first values of an Elman and an LSTM."""
    elman = initialize_parameters(NetworkSpec("elman", 1, 3, 1), np.random.default_rng(0))
    lstm = initialize_parameters(NetworkSpec("lstm", 2, 2, 1), np.random.default_rng(0))
    np.testing.assert_allclose(elman["W_xh_0"][:, 0], GOLDEN_ELMAN_W_XH, rtol=1e-12)
    np.testing.assert_allclose(lstm["W_hh_0"][0], GOLDEN_LSTM_W_HH_ROW, rtol=1e-12)


# Written once from the release before this one.
GOLDEN_ELMAN_W_XH = [0.3354862482481791, -0.5639050832878074, -1.124380644784199]
GOLDEN_LSTM_W_HH_ROW = [-0.7975763845295971, 0.6032179629625569]


def test_unknown_cell():
    with pytest.raises(ValueError, match="cell must be one of"):
        make_cell("rnn")
    assert make_cell("lstm", peephole=True) == LSTMCell(peephole=True) != LSTMCell()
