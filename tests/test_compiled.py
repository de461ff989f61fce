"""The compiled loops (Numba) and the NumPy loop against one plain reference loop.

Every case runs three times: with ``RESERVOIR_COMPILED=0`` (the NumPy/SciPy
path), ``RESERVOIR_COMPILED=always`` (the compiled loops whatever the batch
size, a sparse W with the compiled sliced product) and the default policy
(which runs small batches of a CSR W of density 0.1 with a densified copy
and sparser ones with the sliced product); the last two are skipped when
Numba is not installed.
"""

import numpy as np
import pytest
import scipy.sparse

from reservoir import ESNRegressor, Reservoir
from reservoir._backend import SLICE_ROWS, sliced_ell
from reservoir._states import compiled_kernels
from reservoir.initializers import bias_vector, input_weights, recurrent_weights
from reservoir.readout import ReadoutFunction

ACTIVATIONS = {
    "tanh": np.tanh,
    "identity": lambda z: z,
    "relu": lambda z: np.maximum(z, 0.0),
    "sigmoid": lambda z: 0.5 * (1.0 + np.tanh(0.5 * z)),
}


@pytest.fixture(params=["numpy", "compiled", "auto"])
def path(request, monkeypatch):
    if request.param == "compiled":
        pytest.importorskip("numba", reason="Numba is not installed (pip install 'reservoir-esn[numba]')")
        monkeypatch.setenv("RESERVOIR_COMPILED", "always")
        assert compiled_kernels(1000, 1000, sparse=True)[1] == "sliced"
    elif request.param == "auto":
        pytest.importorskip("numba", reason="Numba is not installed (pip install 'reservoir-esn[numba]')")
        monkeypatch.delenv("RESERVOIR_COMPILED", raising=False)
        # A few series of a CSR W of density 0.1 run with a densified copy,
        # a sparser one in the compiled sliced loop, many series in NumPy's.
        assert compiled_kernels(4, 300, sparse=True, nnz=9000)[1] == "dense"
        assert compiled_kernels(1, 500, sparse=True, nnz=5000)[1] == "sliced"
        assert compiled_kernels(64, 250, sparse=True) is None
    else:
        monkeypatch.setenv("RESERVOIR_COMPILED", "0")
        assert compiled_kernels() is None
    return request.param


def make(n_units, *, density, activation="tanh", leak_rate=0.4, n_features=2, W_fb=None,
         dtype="float64"):
    return Reservoir(recurrent_weights(n_units, spectral_radius=0.9, density=density, random_state=0),
                     input_weights(n_units, n_features, input_scaling=0.6, random_state=1),
                     bias_vector(n_units, bias_scaling=0.4, random_state=2), W_fb=W_fb,
                     leak_rate=leak_rate, activation=activation, dtype=dtype)


def reference(res, U, x0, fed_back=None, noise=None):
    """x(t) = (1-a) x(t-1) + a f(W x(t-1) + W_in u(t) [+ W_fb y(t-1)] + b [+ noise]), one at a time."""
    f = ACTIVATIONS[res.activation]
    W = res.W.toarray() if hasattr(res.W, "toarray") else res.W
    x, out = x0.astype(np.float64), []
    for t in range(U.shape[0]):
        z = W @ x + res.W_in @ U[t] + res.bias
        if fed_back is not None:
            z = z + res.W_fb @ fed_back[t]
        if noise is not None:
            z = z + noise[t]
        x = (1 - res.leak_rate) * x + res.leak_rate * f(z)
        out.append(x)
    return np.array(out)


@pytest.mark.parametrize("n_units, density", [(40, 0.3), (250, 0.03)])   # dense and CSR products
@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
def test_states_of_one_series(path, n_units, density, activation):
    res = make(n_units, density=density, activation=activation)
    U = np.random.default_rng(3).standard_normal((120, 2))
    x0 = np.random.default_rng(4).uniform(-1, 1, n_units)
    np.testing.assert_allclose(res.run(U, x0), reference(res, U, x0), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("density", [0.3, 0.1, 0.02])
def test_batched_and_ragged_series(path, density):
    res = make(220, density=density)
    rng = np.random.default_rng(5)
    series = [rng.standard_normal((n, 2)) for n in (70, 33, 51)]
    states = res.run(series)
    for s, S in zip(series, states, strict=True):
        np.testing.assert_allclose(S, reference(res, s, np.zeros(220)), rtol=1e-12, atol=1e-12)


def test_teacher_forced_feedback_and_noise(path):
    W_fb = np.random.default_rng(6).uniform(-0.3, 0.3, (60, 1))
    res = make(60, density=0.2, W_fb=W_fb)
    rng = np.random.default_rng(7)
    U, fed = rng.standard_normal((1, 90, 2)), rng.standard_normal((1, 90, 1))
    noise = 0.01 * rng.standard_normal((1, 90, 60))
    S = np.concatenate([s for _, s in res.iter_states(U, previous_outputs=fed, chunk_size=25,
                                                      noise=lambda t0, shape: noise[:, t0:t0 + shape[1]])],
                       axis=1)
    np.testing.assert_allclose(S[0], reference(res, U[0], np.zeros(60), fed[0], noise[0]),
                               rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("density", [0.3, 0.02])
def test_float32_stays_float32(path, density):
    res32 = make(210, density=density, dtype="float32")
    U = np.random.default_rng(8).standard_normal((100, 2))
    S = res32.run(U)
    assert S.dtype == np.float32
    np.testing.assert_allclose(S, reference(res32, U, np.zeros(210)), rtol=0, atol=2e-5)


@pytest.mark.parametrize("n_series", [3, 10])   # 10: the batch loop with the batch inside
@pytest.mark.parametrize("density", [0.3, 0.1, 0.02])
@pytest.mark.parametrize("features", [("constant", "state"), ("input", "state", "squared_state"),
                                      ("constant", "input", "squared_state")])
def test_closed_loop_with_a_linear_readout(path, density, features, n_series):
    res = make(205, density=density, n_features=2)
    rng = np.random.default_rng(9)
    width = 2 * ("input" in features) + 205 * ("state" in features) + 205 * ("squared_state" in features)
    readout = ReadoutFunction(0.05 * rng.standard_normal((2, width)), rng.standard_normal(2), features)
    x0, y0 = rng.uniform(-1, 1, (n_series, 205)), rng.standard_normal((n_series, 2))
    out, xT = res.generate(40, readout=readout, initial_state=x0, previous_output=y0)
    # By hand: u(t) = y(t-1), the plain readout after each step.
    x, y = x0.copy(), y0.copy()
    for t in range(40):
        x = np.stack([reference(res, y[i:i + 1], x[i])[0] for i in range(n_series)])
        y = readout(x, y)
        np.testing.assert_allclose(out[:, t], y, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(xT, x, rtol=1e-10, atol=1e-12)


def test_estimator_results_agree_across_paths(monkeypatch):
    pytest.importorskip("numba", reason="Numba is not installed")
    t = np.arange(1500) * 0.1
    # A little noise keeps the readout's normal equations well conditioned, so
    # that rounding differences stay at rounding level in the outputs.
    series = (np.column_stack([np.sin(t), np.cos(0.5 * t)])
              + 0.05 * np.random.default_rng(0).standard_normal((1500, 2)))
    results = {}
    for mode in ("0", "always"):
        monkeypatch.setenv("RESERVOIR_COMPILED", mode)
        esn = ESNRegressor(n_units=150, leak_rate=0.5, washout=50, random_state=0)
        esn.fit(series[:1000], series[1:1001])
        results[mode] = (esn.readout_._accumulator.xx, esn.predict(series[1000:1200]),
                         esn.forecast(100))
    # The statistics agree to rounding; the coefficients of this nearly collinear
    # readout amplify it, the one-step outputs much less, and the closed loop
    # feeds it back for 100 steps.
    for (a, b), tol in zip(zip(results["0"], results["always"], strict=True), (1e-9, 1e-7, 1e-5),
                           strict=True):
        np.testing.assert_allclose(a, b, rtol=0, atol=tol)


def test_compiled_tanh_matches_numpy_to_a_few_ulp():
    """The compiled loops' own (vectorisable) tanh, against NumPy's, over every scale."""
    compiled = pytest.importorskip("reservoir._compiled", reason="Numba is not installed",
                                   exc_type=ImportError)
    rng = np.random.default_rng(0)
    for scale in (1e-300, 1e-8, 1e-3, 0.1, 0.5, 1.0, 3.0, 10.0, 30.0, 1e3):
        z = rng.standard_normal(20_000) * scale
        out = np.empty_like(z)
        compiled.tanh_into(z, out)
        expected = np.tanh(z)
        ulps = np.abs(out - expected) / np.spacing(np.abs(expected) + 1e-310)
        assert ulps.max() <= 3.0, (scale, ulps.max())
        assert np.all(np.abs(out) <= 1.0)
    special = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 19.0, -25.0, 1e308, 5e-324])
    out = np.empty_like(special)
    compiled.tanh_into(special, out)
    np.testing.assert_array_equal(out, np.tanh(special))
    assert np.signbit(out[1])


@pytest.mark.parametrize("n_units, density", [(13, 0.4), (250, 0.03), (300, 0.1)])
def test_sliced_layout_holds_every_row_in_csr_order(n_units, density):
    """Reading the sliced layout back gives W, each row's terms in CSR order, padding on column N."""
    W = scipy.sparse.csr_matrix(recurrent_weights(n_units, spectral_radius=0.9, density=density,
                                                  random_state=1))
    rows, offsets, columns, values = sliced_ell(W)
    assert rows.size == offsets.size * SLICE_ROWS - SLICE_ROWS >= n_units
    assert sorted(rows[:n_units]) == list(range(n_units)) and set(rows[n_units:]) <= {n_units}
    lengths = np.diff(W.indptr)
    assert np.all(np.diff(lengths[rows[:n_units]]) <= 0)      # sorted by length
    for s in range(offsets.size - 1):
        block_cols = columns[offsets[s]:offsets[s + 1]].reshape(-1, SLICE_ROWS)
        block_vals = values[offsets[s]:offsets[s + 1]].reshape(-1, SLICE_ROWS)
        for lane in range(SLICE_ROWS):
            i = rows[s * SLICE_ROWS + lane]
            n = 0 if i == n_units else lengths[i]
            if n:
                np.testing.assert_array_equal(block_cols[:n, lane], W.indices[W.indptr[i]:W.indptr[i + 1]])
                np.testing.assert_array_equal(block_vals[:n, lane], W.data[W.indptr[i]:W.indptr[i + 1]])
            assert np.all(block_cols[n:, lane] == n_units) and np.all(block_vals[n:, lane] == 0.0)


def test_sliced_product_adds_nothing_for_padding_even_beside_infinite_states():
    """An infinite unit reaches only the rows that read it: padding never makes 0 * inf.

    Unit 0 is the infinite one: the column a padding of weight 0 would point
    at if it did not have a column of its own.
    """
    compiled = pytest.importorskip("reservoir._compiled", reason="Numba is not installed",
                                   exc_type=ImportError)
    W = scipy.sparse.csr_matrix(recurrent_weights(40, spectral_radius=0.9, density=0.1, random_state=2))
    layout = sliced_ell(W)
    assert layout[3].size > W.nnz                                   # some rows are padded
    x = np.random.default_rng(0).uniform(-1, 1, (1, 40))
    x[0, 0] = np.inf
    drive = np.zeros((1, 1, 40))
    out = np.empty_like(drive)
    compiled.states_sliced(x.copy(), drive, *layout, 1.0, 1, out)   # identity activation, leak 1
    with np.errstate(invalid="ignore"):
        expected = W @ x[0]
    np.testing.assert_array_equal(out[0, 0], expected)
    reads_unit_0 = W[:, [0]].toarray().ravel() != 0
    assert np.all(np.isfinite(out[0, 0][~reads_unit_0]))
