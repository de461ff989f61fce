"""State kernels against a plain reference loop of the leaky-integrator equations."""

import numpy as np
import pytest
import scipy.sparse

from reservoir import ReservoirTransformer
from reservoir._backend import RecurrentOperator
from reservoir._states import chunk_length, closed_loop, iter_states
from reservoir.initializers import bias_vector, input_weights, recurrent_weights


def reference_states(U, W, W_in, b, a, x0, W_fb=None, teacher=None):
    """x(t) = (1-a) x(t-1) + a tanh(W x(t-1) + W_in u(t) + W_fb y(t-1) + b), one step at a time."""
    W = W.toarray() if scipy.sparse.issparse(W) else W
    x = x0.copy()
    out = []
    for t in range(U.shape[0]):
        z = W @ x + W_in @ U[t] + b
        if W_fb is not None:
            z = z + W_fb @ teacher[t]
        x = (1 - a) * x + a * np.tanh(z)
        out.append(x)
    return np.array(out)


@pytest.fixture
def weights():
    W = recurrent_weights(60, spectral_radius=0.95, density=0.2, random_state=0)
    W_in = input_weights(60, 2, input_scaling=0.7, random_state=1)
    b = bias_vector(60, bias_scaling=0.3, random_state=2)
    return W, W_in, b


def run_all(U, op, W_in, b, a, x0, chunk_size, **kw):
    chunks = list(iter_states(U, op, W_in.T.copy(), b, leak_rate=a, activation=np.tanh,
                              initial_state=x0, chunk_size=chunk_size, **kw))
    assert [t0 for t0, _ in chunks] == list(range(0, U.shape[1], chunk_size))
    return np.concatenate([S for _, S in chunks], axis=1)


@pytest.mark.parametrize("sparse", [True, False])
@pytest.mark.parametrize("leak_rate", [1.0, 0.3])
@pytest.mark.parametrize("chunk_size", [1, 17, 1000])
def test_kernel_matches_reference_loop(weights, sparse, leak_rate, chunk_size):
    W, W_in, b = weights
    rng = np.random.default_rng(5)
    U = rng.standard_normal((3, 120, 2))
    x0 = rng.uniform(-1, 1, (3, 60))
    op = RecurrentOperator(W, np, dtype=np.float64, sparse=sparse)
    assert op.sparse == sparse
    S = run_all(U, op, W_in, b, leak_rate, x0, chunk_size)
    for i in range(3):
        np.testing.assert_allclose(S[i], reference_states(U[i], W, W_in, b, leak_rate, x0[i]),
                                   rtol=1e-12, atol=1e-12)


def test_teacher_forced_feedback_matches_reference(weights):
    W, W_in, b = weights
    rng = np.random.default_rng(6)
    U = rng.standard_normal((1, 50, 2))
    teacher = rng.standard_normal((1, 50, 1))
    W_fb = input_weights(60, 1, input_scaling=0.2, random_state=9)
    op = RecurrentOperator(W, np, dtype=np.float64)
    S = run_all(U, op, W_in, b, 0.5, np.zeros((1, 60)), 8, teacher=teacher, W_fb_t=W_fb.T.copy())
    ref = reference_states(U[0], W, W_in, b, 0.5, np.zeros(60), W_fb=W_fb, teacher=teacher[0])
    np.testing.assert_allclose(S[0], ref, rtol=1e-12, atol=1e-12)


def test_closed_loop_feeds_its_output_back(weights):
    W, W_in, b = weights
    W_in = W_in[:, :1]
    rng = np.random.default_rng(7)
    w_out = rng.standard_normal((60, 1)) * 0.1
    op = RecurrentOperator(W, np, dtype=np.float64)
    x0 = rng.uniform(-1, 1, (1, 60))
    y0 = np.array([[0.3]])
    Y, xT = closed_loop(op, initial_state=x0, previous_output=y0, n_steps=20, leak_rate=0.8,
                        activation=np.tanh, readout=lambda x, u: x @ w_out, bias=b,
                        W_in_t=W_in.T.copy())
    x, y, expected = x0[0].copy(), y0[0].copy(), []
    for _ in range(20):
        x = 0.2 * x + 0.8 * np.tanh(W @ x + W_in @ y + b)
        y = x @ w_out
        expected.append(y)
    np.testing.assert_allclose(Y[0], np.array(expected), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(xT[0], x, rtol=1e-12)


def test_variable_lengths_have_no_padding_artefacts():
    rng = np.random.default_rng(8)
    series = [rng.standard_normal((n, 2)) for n in (30, 75, 50)]
    tr = ReservoirTransformer(n_units=40, leak_rate=0.6, random_state=0).fit(series)
    together = tr.transform(series)
    for s, states in zip(series, together, strict=True):
        assert states.shape == (s.shape[0], 40)
        np.testing.assert_allclose(states, tr.transform(s), rtol=1e-13, atol=1e-14)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_dtype_asked_for_is_used_and_returned(dtype):
    X = np.random.default_rng(0).standard_normal((40, 3))
    tr = ReservoirTransformer(n_units=300, density=0.05, dtype=dtype, random_state=0).fit(X)
    assert tr.reservoir_.prepared(X).operator.sparse
    states = tr.transform(X.astype(np.float64))
    assert states.dtype == np.dtype(dtype)
    reference = ReservoirTransformer(n_units=300, density=0.05, random_state=0).fit_transform(X)
    np.testing.assert_allclose(states, reference, rtol=0, atol=1e-4 if dtype == "float32" else 1e-15)


@pytest.mark.parametrize("n_series", [1, 3, 64, 5000])
@pytest.mark.parametrize("n_units", [10, 300, 1000, 20_000])
def test_chunks_stream_in_bounded_memory_with_enough_rows_for_the_statistics(n_series, n_units):
    steps = chunk_length(n_series, n_units)
    elements = steps * n_series * n_units
    assert 1 <= steps <= 4096
    # At most 16 MB of float64 states, unless one step of the batch is larger.
    assert elements * 8 <= 16 * 2**20 or steps == 1
    # At least 1,024 rows per chunk (one efficient product of statistics) when 16 MB allow it.
    if 1024 * n_units * 8 <= 16 * 2**20 and n_series <= 1024:
        assert steps * n_series >= min(1024, 4096 * n_series)
