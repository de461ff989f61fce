"""Weight initializers: exact spectral radius, topologies, scalings, errors."""

import numpy as np
import pytest
import scipy.linalg
import scipy.sparse

from reservoir.initializers import (
    bias_vector,
    feedback_weights,
    input_weights,
    recurrent_weights,
    rescale_spectral_radius,
    spectral_radius,
)


def exact_radius(W):
    dense = W.toarray() if scipy.sparse.issparse(W) else np.asarray(W)
    return np.max(np.abs(scipy.linalg.eigvals(dense)))


@pytest.mark.parametrize(
    "kwargs, sparse",
    [
        (dict(n_units=200, density=1.0), False),
        (dict(n_units=200, density=0.05), True),
        (dict(n_units=300, in_degree=10), True),
        (dict(n_units=300, density=0.1, distribution="uniform"), True),
        (dict(n_units=300, density=0.1, distribution="bernoulli"), True),
        (dict(n_units=300, topology="ring"), True),
        (dict(n_units=300, topology="orthogonal"), False),
    ],
)
@pytest.mark.parametrize("rho", [0.5, 1.25])
def test_spectral_radius_is_exact(kwargs, sparse, rho):
    W = recurrent_weights(spectral_radius=rho, random_state=3, **kwargs)
    assert scipy.sparse.issparse(W) == sparse
    assert exact_radius(W) == pytest.approx(rho, rel=1e-8)


def test_spectral_radius_is_exact_for_a_large_sparse_reservoir():
    # Above 200 sparse units the radius comes from ARPACK, not from all eigenvalues.
    W = recurrent_weights(1200, spectral_radius=1.1, density=0.01, random_state=3)
    assert exact_radius(W) == pytest.approx(1.1, rel=1e-8)


@pytest.mark.parametrize("seed", [75, 129])
def test_spectral_radius_is_exact_where_a_small_krylov_basis_misses_the_largest_eigenvalue(seed):
    # With ARPACK's default basis of 20 vectors these two draws came out with
    # radius 1.0132 and 1.0012: the restarts settled on six eigenvalues near
    # the edge of the spectrum that did not include the largest.
    W = recurrent_weights(500, spectral_radius=1.0, density=0.1, random_state=seed)
    assert exact_radius(W) == pytest.approx(1.0, rel=1e-8)


def test_fixed_in_degree_gives_every_unit_the_same_fan_in():
    W = recurrent_weights(100, in_degree=7, random_state=0)
    assert np.all(np.diff(W.indptr) == 7)


def test_delay_line_is_nilpotent_chain_with_weight_r():
    W = recurrent_weights(6, spectral_radius=0.7, topology="delay_line").toarray()
    expected = np.diag(np.full(5, 0.7), k=-1)
    np.testing.assert_array_equal(W, expected)


def test_ring_is_a_single_cycle():
    W = recurrent_weights(5, spectral_radius=0.8, topology="ring").toarray()
    assert W[0, 4] == 0.8 and np.count_nonzero(W) == 5
    np.testing.assert_allclose(np.abs(scipy.linalg.eigvals(W)), 0.8)


def test_orthogonal_reservoir_is_scaled_orthogonal():
    W = recurrent_weights(50, spectral_radius=0.9, topology="orthogonal", random_state=0)
    np.testing.assert_allclose(W @ W.T, 0.81 * np.eye(50), atol=1e-12)


@pytest.mark.parametrize("method", ["exact", "arpack", "subspace"])
@pytest.mark.parametrize("sparse", [True, False])
def test_spectral_radius_methods_agree(method, sparse):
    rng = np.random.default_rng(0)
    W = scipy.sparse.random_array((300, 300), density=0.05, rng=rng, format="csr")
    W = W if sparse else W.toarray()
    assert spectral_radius(W, method=method) == pytest.approx(exact_radius(W), rel=1e-8)


def test_spectral_radius_handles_complex_dominant_pair():
    rotation = np.array([[0.0, -2.0], [2.0, 0.0]])
    W = scipy.linalg.block_diag(rotation, np.diag([1.0, 0.5, -0.3]))
    for method in ("exact", "arpack", "subspace"):
        assert spectral_radius(W, method=method) == pytest.approx(2.0, rel=1e-9)


def test_same_seed_same_weights_different_seed_different_weights():
    a = recurrent_weights(100, random_state=1).toarray()
    b = recurrent_weights(100, random_state=1).toarray()
    c = recurrent_weights(100, random_state=2).toarray()
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_input_scaling_per_feature_bounds_each_column():
    W_in = input_weights(500, 3, input_scaling=[0.1, 1.0, 5.0], random_state=0)
    np.testing.assert_allclose(np.max(np.abs(W_in), axis=0), [0.1, 1.0, 5.0], rtol=0.02)
    assert np.all(np.abs(W_in) <= np.array([0.1, 1.0, 5.0]))


def test_sparse_bernoulli_input_weights():
    W_in = input_weights(1000, 2, input_scaling=0.3, density=0.2, distribution="bernoulli",
                         random_state=0)
    assert scipy.sparse.issparse(W_in)
    assert W_in.nnz == 400
    np.testing.assert_array_equal(np.unique(np.abs(W_in.data)), [0.3])


def test_bias_and_feedback_ranges():
    b = bias_vector(1000, bias_scaling=0.4, random_state=0)
    assert b.shape == (1000,) and np.all(np.abs(b) <= 0.4) and np.max(np.abs(b)) > 0.39
    W_fb = feedback_weights(50, 2, feedback_scaling=0.2, random_state=0)
    assert W_fb.shape == (50, 2) and np.all(np.abs(W_fb) <= 0.2)


@pytest.mark.parametrize(
    "call, error, match",
    [
        (lambda: recurrent_weights(0), ValueError, r"n_units must be in \[1, inf\], got 0"),
        (lambda: recurrent_weights(10, spectral_radius=0.0), ValueError, "spectral_radius must be in"),
        (lambda: recurrent_weights(10, spectral_radius=-1), ValueError, "got -1"),
        (lambda: recurrent_weights(10, density=0.0), ValueError, r"density must be in \(0, 1\]"),
        (lambda: recurrent_weights(10, density=1.5), ValueError, "got 1.5"),
        (lambda: recurrent_weights(10, in_degree=11), ValueError, "in_degree must be in"),
        (lambda: recurrent_weights(10, topology="star"), ValueError, "topology must be one of"),
        (lambda: recurrent_weights(10, distribution="cauchy"), ValueError, "distribution must be one of"),
        (lambda: recurrent_weights(10, spectral_radius="1"), TypeError, "spectral_radius must be a real number"),
        (lambda: recurrent_weights(10, random_state="seed"), TypeError, "random_state must be"),
        (lambda: input_weights(10, 2, input_scaling=[1.0, 2.0, 3.0]), ValueError, "input_scaling has 3 values"),
        (lambda: input_weights(10, 2, input_scaling=np.nan), ValueError, "input_scaling must be a finite"),
        (lambda: bias_vector(10, bias_scaling=-1), ValueError, "bias_scaling must be in"),
        (lambda: spectral_radius(np.ones((2, 3))), ValueError, "square"),
        (lambda: rescale_spectral_radius(np.triu(np.ones((4, 4)), 1), 0.9), ValueError, "nilpotent"),
    ],
)
def test_bad_arguments_raise_clear_errors(call, error, match):
    with pytest.raises(error, match=match):
        call()
