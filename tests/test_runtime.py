"""The public runtime: run, step, final states, closed loop, composition, tangent steps."""

import numpy as np
import pytest
import scipy.sparse

from reservoir import ESNRegressor, Reservoir
from reservoir.initializers import bias_vector, input_weights, recurrent_weights


def make(n_units=60, n_features=2, *, density=0.2, leak_rate=0.4, W_fb=None, dtype="float64",
         activation="tanh"):
    return Reservoir(
        recurrent_weights(n_units, spectral_radius=0.95, density=density, random_state=0),
        input_weights(n_units, n_features, input_scaling=0.7, random_state=1),
        bias_vector(n_units, bias_scaling=0.3, random_state=2),
        W_fb=W_fb, leak_rate=leak_rate, activation=activation, dtype=dtype,
    )


def reference(res, U, x0, feedback=None):
    """x(t) = (1-a) x(t-1) + a tanh(W x(t-1) + W_in u(t) [+ W_fb y(t-1)] + b), by hand."""
    W = res.W.toarray() if scipy.sparse.issparse(res.W) else res.W
    W_in = res.W_in.toarray() if scipy.sparse.issparse(res.W_in) else res.W_in
    x, out = x0.copy(), []
    for t in range(U.shape[0]):
        z = W @ x + W_in @ U[t] + res.bias
        if feedback is not None:
            z = z + res.W_fb @ feedback[t]
        x = (1 - res.leak_rate) * x + res.leak_rate * np.tanh(z)
        out.append(x)
    return np.array(out)


@pytest.fixture
def inputs():
    return np.random.default_rng(3).standard_normal((150, 2))


@pytest.mark.parametrize("n_units, density", [(60, 0.2), (300, 0.03)])  # dense and CSR products
def test_run_and_iterated_step_match_the_equations(inputs, n_units, density):
    res = make(n_units, density=density)
    states = res.run(inputs)
    np.testing.assert_allclose(states, reference(res, inputs, np.zeros(n_units)), rtol=1e-12, atol=1e-12)
    x = None
    for t, u in enumerate(inputs):
        x = res.step(u, x)
        np.testing.assert_allclose(x, states[t], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(res.final_state(inputs), states[-1], rtol=1e-12, atol=1e-12)


def test_layouts_and_initial_states(inputs):
    res = make()
    x0 = np.random.default_rng(4).uniform(-1, 1, (2, 60))
    batch = np.stack([inputs, inputs[::-1]])
    states = res.run(batch, x0)
    assert states.shape == (2, 150, 60)
    for i in range(2):
        np.testing.assert_allclose(states[i], reference(res, batch[i], x0[i]), rtol=1e-12, atol=1e-12)
    ragged = res.run([inputs[:40], inputs[:90]])
    assert [s.shape for s in ragged] == [(40, 60), (90, 60)]
    np.testing.assert_allclose(ragged[0], res.run(inputs[:40]), rtol=0, atol=1e-14)
    finals = res.final_state([inputs[:40], inputs[:90]])
    np.testing.assert_allclose(finals, np.stack([ragged[0][-1], ragged[1][-1]]), rtol=1e-12, atol=1e-12)


def test_univariate_items_of_a_list_are_one_feature():
    res = make(n_features=1)
    u = np.sin(np.arange(50) * 0.3)
    a, b = res.run([u, u[:30]])
    # Batched products round differently from a single series': 1e-14, not 0.
    np.testing.assert_allclose(a, res.run(u[:, None]), rtol=0, atol=1e-14)
    np.testing.assert_allclose(b, a[:30], rtol=0, atol=1e-14)


def test_output_feedback_in_run_and_step(inputs):
    W_fb = np.random.default_rng(5).uniform(-0.2, 0.2, (60, 1))
    res = make(W_fb=W_fb)
    fed = np.random.default_rng(6).standard_normal((150, 1))
    states = res.run(inputs, previous_outputs=fed)
    np.testing.assert_allclose(states, reference(res, inputs, np.zeros(60), feedback=fed), rtol=1e-12, atol=1e-12)
    x = res.step(inputs[0], previous_output=fed[0])
    np.testing.assert_allclose(x, states[0], rtol=1e-12, atol=1e-12)
    with pytest.raises(ValueError, match="pass previous_outputs"):
        res.run(inputs)
    with pytest.raises(ValueError, match="has no feedback weights"):
        make().run(inputs, previous_outputs=fed)


def test_generate_autonomous_and_with_a_feedback_function():
    res = make(n_features=2)
    rng = np.random.default_rng(7)
    coef = rng.standard_normal((2, 60)) * 0.05

    def readout(x, u):
        return x @ coef.T + 0.5 * u

    x0 = rng.uniform(-1, 1, (3, 60))
    y0 = rng.standard_normal((3, 2))
    out, xT = res.generate(25, readout=readout, initial_state=x0, previous_output=y0)
    # By hand: u(t) = y(t-1).
    x, y = x0.copy(), y0.copy()
    for t in range(25):
        x = np.stack([reference(res, y[i:i + 1], x[i])[0] for i in range(3)])
        y = readout(x, y)
        np.testing.assert_allclose(out[:, t], y, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(xT, x, rtol=1e-12, atol=1e-12)
    # A feedback function that swaps the two outputs: a coupled scheme in one loop.
    swapped, _ = res.generate(25, readout=readout, initial_state=x0, previous_output=y0,
                              feedback=lambda y: y[:, ::-1])
    x, y = x0.copy(), y0.copy()
    for _ in range(25):
        u = y[:, ::-1]
        x = np.stack([reference(res, u[i:i + 1], x[i])[0] for i in range(3)])
        y = readout(x, u)
    np.testing.assert_allclose(swapped[:, -1], y, rtol=1e-12, atol=1e-12)


def test_generate_needs_outputs_that_can_be_inputs():
    res = make(n_features=2)
    with pytest.raises(ValueError, match="outputs need the reservoir's 2 features, got 3"):
        res.generate(3, readout=lambda x, u: u, previous_output=np.zeros(3))


def test_block_diagonal_runs_the_parts_side_by_side(inputs):
    a, b = make(leak_rate=0.4), make(40, n_features=1, leak_rate=0.4)
    joint = Reservoir.block_diagonal([a, b])
    assert (joint.n_units, joint.n_features) == (100, 3)
    U = np.column_stack([inputs, inputs[:, :1] * 2])
    states = joint.run(U)
    np.testing.assert_allclose(states[:, :60], a.run(inputs), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(states[:, 60:], b.run(U[:, 2:]), rtol=1e-12, atol=1e-12)
    with pytest.raises(ValueError, match="must share leak_rate"):
        Reservoir.block_diagonal([a, make(leak_rate=0.9)])


@pytest.mark.parametrize("activation", ["tanh", "sigmoid", "identity"])
def test_tangent_step_is_the_jacobian_of_the_step(activation):
    res = make(activation=activation)
    rng = np.random.default_rng(8)
    x, u, v = rng.uniform(-1, 1, 60), rng.standard_normal(2), rng.standard_normal(60)
    _, Jv = res.step(u, x, tangent=v)
    h = 1e-6
    fd = (res.step(u, x + h * v) - res.step(u, x - h * v)) / (2 * h)
    np.testing.assert_allclose(Jv, fd, rtol=1e-6, atol=1e-8)


def test_float32_reservoir_computes_in_float32(inputs):
    res32, res64 = make(dtype="float32"), make()
    states = res32.run(inputs)
    assert states.dtype == np.float32
    np.testing.assert_allclose(states, res64.run(inputs), atol=1e-4)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(W=np.zeros((3, 4))), r"W must be a square \(n_units, n_units\) matrix, got shape \(3, 4\)"),
        (dict(W_in=np.zeros((5, 2))), r"W_in must have shape \(4, n_features\)"),
        (dict(bias=np.zeros(3)), r"bias must have shape \(4,\), got shape \(3,\)"),
        (dict(leak_rate=0.0), r"leak_rate must be in \(0, 1\], got 0.0"),
        (dict(activation="softsign"), "activation must be one of"),
        (dict(W=np.full((4, 4), np.nan)), "W contains NaN or infinity"),
        (dict(dtype="float16"), "dtype must be 'float32' or 'float64'"),
    ],
)
def test_bad_construction(kwargs, match):
    args = dict(W=np.eye(4) * 0.5, W_in=np.ones((4, 1)), bias=None)
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        Reservoir(args.pop("W"), args.pop("W_in"), args.pop("bias"), **args)


def test_bad_step_input():
    res = make()
    with pytest.raises(ValueError, match=r"u must have shape \(2,\) or \(n_series, 2\), got \(3,\)"):
        res.step(np.zeros(3))
    with pytest.raises(ValueError, match=r"X has 3 features, but the reservoir expects 2"):
        res.run(np.zeros((10, 3)))


# --------------------------------------------------------------------------
# The estimators run through the runtime
# --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def sine():
    t = np.arange(800) * 0.1
    return np.column_stack([np.sin(t), np.cos(0.5 * t)])


def test_predict_is_the_readout_of_the_runtime_states(sine):
    X, y = sine[:-1], sine[1:]
    esn = ESNRegressor(n_units=80, leak_rate=0.5, washout=20, random_state=0).fit(X, y)
    states = esn.reservoir_.run(X)
    np.testing.assert_allclose(esn.predict(X), esn.readout_function()(states, X), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(esn.final_state_, states[-1], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("feedback", [None, 0.2])
def test_step_of_the_regressor_reproduces_predict(sine, feedback):
    X, y = sine[:-1], sine[1:, 0]
    esn = ESNRegressor(n_units=80, feedback_scaling=feedback, random_state=0).fit(X, y)
    expected = esn.predict(X[:200])
    state, y_prev = None, None
    for t in range(200):
        if feedback is None:
            out, state = esn.step(X[t], state)
        else:
            out, state = esn.step(X[t], state, previous_output=y_prev)
            y_prev = out
        np.testing.assert_allclose(out, expected[t], rtol=1e-12, atol=1e-12)
    # A batch of series steps together.
    outs, _ = esn.step(np.stack([X[0], X[5]]))
    assert outs.shape == (2,)


def test_forecast_is_the_runtime_closed_loop(sine):
    X, y = sine[:-1], sine[1:]
    esn = ESNRegressor(n_units=100, washout=50, random_state=0).fit(X[:600], y[:600])
    out, _ = esn.reservoir_.generate(30, readout=esn.readout_function(), initial_state=esn.final_state_,
                                     previous_output=y[599])
    np.testing.assert_allclose(esn.forecast(30), out, rtol=1e-12, atol=1e-12)


def test_forecast_with_feedback_teacher_forces_the_context_like_fit(sine):
    # Fitted one step ahead, the output fed back at context step t is y(t-1) = row t.
    X, y = sine[:-1], sine[1:]
    esn = ESNRegressor(n_units=100, washout=50, feedback_scaling=0.1, alpha=1e-8,
                       random_state=0).fit(X[:600], y[:600])
    context = sine[400:601]
    expected = esn.forecast(20)
    np.testing.assert_allclose(esn.forecast(20, context=sine[:601]), expected, rtol=1e-9, atol=1e-9)
    assert np.max(np.abs(esn.forecast(20, context=context) - sine[601:621])) < 0.05
