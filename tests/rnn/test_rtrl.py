"""Real-time recurrent learning against backpropagation through time.

Two algorithms for one gradient: RTRL carries dh/dθ forward, BPTT walks the
run backwards. In float64 they agree to 1e-8 (in fact to rounding) on every
head, with padding, zoneout and dropout; carried across chunks, RTRL's
sensitivities make the chunked gradients add up to the full gradient, which
truncated BPTT's do not.
"""

import numpy as np
import pytest

from reservoir.rnn._cells import ElmanCell, IndRNNCell
from reservoir.rnn._network import NetworkSpec, draw_noise, initialize_parameters
from reservoir.rnn._objectives import loss_and_gradient
from reservoir.rnn._rtrl import rtrl_loss_and_gradient
from reservoir.rnn._training import iter_bptt

RTRL_CELLS = [ElmanCell(), IndRNNCell(activation="relu"), IndRNNCell(activation="tanh")]


def problem(cell, *, zoneout=0.0, targets="steps", n_outputs=2, seed=0, n_timesteps=9):
    rng = np.random.default_rng(seed)
    spec = NetworkSpec(cell, 3, 4, n_outputs, zoneout=zoneout)
    params = {k: v + 0.3 * rng.standard_normal(v.shape)
              for k, v in initialize_parameters(spec, rng).items()}
    X = rng.standard_normal((3, n_timesteps, 3))
    if targets == "steps":
        Y = rng.standard_normal((3, n_timesteps, n_outputs))
    elif targets == "classes":
        Y = np.eye(n_outputs)[rng.integers(0, n_outputs, (3, n_timesteps))]
    else:
        Y = np.eye(n_outputs)[rng.integers(0, n_outputs, 3)]
    lengths = [n_timesteps, n_timesteps - 3, n_timesteps - 1]
    mask = np.zeros((3, n_timesteps))
    for b, n in enumerate(lengths):
        mask[b, 2:n] = 1.0
    state = [(0.5 * rng.standard_normal((3, 4)),)]
    return spec, params, X, Y, mask, lengths, state


def assert_same_gradient(a, b):
    assert set(a) == set(b)
    for name in a:
        scale = max(np.abs(b[name]).max(), 1e-300)
        assert np.abs(a[name] - b[name]).max() <= 1e-8 * scale, name


@pytest.mark.parametrize(("targets", "loss", "pooling"), [
    ("steps", "squared_error", None),
    ("classes", "log_loss", None),
    ("series", "log_loss", "mean"),
    ("series", "log_loss", "last"),
])
@pytest.mark.parametrize("cell", RTRL_CELLS, ids=repr)
def test_rtrl_equals_bptt(cell, targets, loss, pooling):
    spec, params, X, Y, mask, lengths, state = problem(cell, targets=targets)
    kwargs = dict(lengths=lengths, loss=loss, pooling=pooling)
    loss_b, grads_b, final_b, n_b = loss_and_gradient(spec, params, X, Y, mask, state, **kwargs)
    loss_r, grads_r, final_r, n_r, _ = rtrl_loss_and_gradient(spec, params, X, Y, mask, state,
                                                              **kwargs)
    assert loss_r == pytest.approx(loss_b, rel=1e-12) and n_r == n_b
    assert_same_gradient(grads_r, grads_b)
    np.testing.assert_allclose(final_r[0][0], final_b[0][0], rtol=1e-12)


@pytest.mark.parametrize("cell", RTRL_CELLS, ids=repr)
def test_rtrl_equals_bptt_with_dropout_and_zoneout(cell):
    spec, params, X, Y, mask, lengths, state = problem(cell, zoneout=0.3)
    noise = draw_noise(spec, 3, X.shape[1], np.random.default_rng(1), dropout=0.3,
                       input_dropout=0.3, like=X)
    kwargs = dict(lengths=lengths, noise=noise)
    _, grads_b, _, _ = loss_and_gradient(spec, params, X, Y, mask, state, **kwargs)
    _, grads_r, _, _, _ = rtrl_loss_and_gradient(spec, params, X, Y, mask, state, **kwargs)
    assert_same_gradient(grads_r, grads_b)
    # Without masks, zoneout is its expectation at every step: still the same gradient.
    _, grads_b, _, _ = loss_and_gradient(spec, params, X, Y, mask, state, lengths=lengths)
    _, grads_r, _, _, _ = rtrl_loss_and_gradient(spec, params, X, Y, mask, state, lengths=lengths)
    assert_same_gradient(grads_r, grads_b)


@pytest.mark.parametrize("cell", RTRL_CELLS, ids=repr)
def test_carried_sensitivities_make_chunks_add_up_to_the_full_gradient(cell):
    """With the weights held fixed, RTRL's chunk gradients (weighted by their counted steps)
    sum to the full BPTT gradient; truncated BPTT's do not, having cut the paths between chunks."""
    spec, params, X, Y, mask, _, _ = problem(cell, n_timesteps=12)
    _, full, _, n_full = loss_and_gradient(spec, params, X, Y, mask)

    def summed(gradient):
        total = {name: np.zeros_like(v) for name, v in params.items()}
        for _, grads, n in iter_bptt(spec, params, X, Y, mask, 5, gradient=gradient):
            for name in params:
                total[name] += grads[name] * n
        return {name: v / n_full for name, v in total.items()}

    assert_same_gradient(summed("rtrl"), full)
    truncated = summed("bptt")
    assert np.abs(truncated["W_hh_0"] - full["W_hh_0"]).max() > 1e-4


def test_sensitivity_sizes_are_those_of_the_method():
    """Elman: every unit depends on every weight, n^2 (n + n_in + 1) numbers per sequence;
    IndRNN: each unit on its own row only, n (n_in + 2)."""
    n, n_in = 7, 3
    elman = ElmanCell().sensitivity_shapes(n_in, n)
    ind = IndRNNCell().sensitivity_shapes(n_in, n)
    assert sum(np.prod(s) for s in elman.values()) == n * n * (n + n_in + 1)
    assert sum(np.prod(s) for s in ind.values()) == n * (n_in + 2)


@pytest.mark.parametrize(("spec", "match"), [
    (NetworkSpec("lstm", 2, 3, 1), "needs an Elman or IndRNN cell"),
    (NetworkSpec("gru", 2, 3, 1), "needs an Elman or IndRNN cell"),
    (NetworkSpec("elman", 2, 3, 1, n_layers=2), "one unidirectional layer"),
    (NetworkSpec("indrnn", 2, 3, 1, bidirectional=True), "one unidirectional layer"),
])
def test_rtrl_refuses_networks_it_does_not_handle(spec, match):
    params = initialize_parameters(spec, np.random.default_rng(0))
    X = np.zeros((1, 4, 2))
    with pytest.raises(ValueError, match=match):
        rtrl_loss_and_gradient(spec, params, X, np.zeros((1, 4, 1)))
