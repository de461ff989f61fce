"""RidgeReadout: agreement with scikit-learn's Ridge, streaming, fallbacks."""

import warnings

import numpy as np
import pytest
import scipy.linalg
from sklearn.linear_model import Ridge

from reservoir import RidgeReadout
from reservoir.readout import GramAccumulator


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((500, 8))
    Y = X @ rng.standard_normal((8, 3)) + 0.1 * rng.standard_normal((500, 3)) + 2.0
    return X, Y


@pytest.mark.parametrize("alpha", [0.0, 1e-6, 10.0])
@pytest.mark.parametrize("fit_intercept", [True, False])
def test_matches_sklearn_ridge(data, alpha, fit_intercept):
    X, Y = data
    ours = RidgeReadout(alpha=alpha, fit_intercept=fit_intercept).fit(X, Y)
    ref = Ridge(alpha=alpha, fit_intercept=fit_intercept, solver="cholesky").fit(X, Y)
    np.testing.assert_allclose(ours.coef_, ref.coef_, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(ours.intercept_, ref.intercept_, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(ours.predict(X), ref.predict(X), rtol=1e-9, atol=1e-10)


def test_single_target_keeps_sklearn_shapes(data):
    X, Y = data
    r = RidgeReadout().fit(X, Y[:, 0])
    assert r.coef_.shape == (8,) and isinstance(r.intercept_, float)
    assert r.predict(X).shape == (500,)


@pytest.mark.parametrize("splits", [[250], [1, 2, 300], [100, 200, 300, 400]])
def test_partial_fit_in_chunks_equals_one_fit(data, splits):
    X, Y = data
    whole = RidgeReadout(alpha=1e-3).fit(X, Y)
    streamed = RidgeReadout(alpha=1e-3)
    for Xc, Yc in zip(np.split(X, splits), np.split(Y, splits), strict=True):
        streamed.partial_fit(Xc, Yc)
    assert streamed.n_samples_seen_ == 500
    np.testing.assert_allclose(streamed.coef_, whole.coef_, rtol=1e-10)
    np.testing.assert_allclose(streamed.intercept_, whole.intercept_, rtol=1e-10)


def test_streaming_is_accurate_when_means_dwarf_the_spread():
    # Raw sums (X^T X - n mu mu^T) lose every digit here; the pairwise
    # centred update keeps them.
    rng = np.random.default_rng(1)
    X = 1e6 + rng.standard_normal((4000, 3))
    y = X @ np.array([1.0, -1.0, 0.5]) + 0.01 * rng.standard_normal(4000)
    acc = GramAccumulator(3, 1, np)
    for Xc, yc in zip(np.array_split(X, 40), np.array_split(y, 40), strict=True):
        acc.update(Xc, yc[:, None])
    coef, _ = acc.solve(0.0)
    ref = Ridge(alpha=0.0, solver="cholesky").fit(X, y)
    np.testing.assert_allclose(coef[:, 0], ref.coef_, rtol=1e-6)


def test_singular_system_falls_back_to_least_squares_with_warning():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((100, 1))
    X = np.hstack([x, x])  # exactly collinear columns
    y = 3.0 * x[:, 0]
    with pytest.warns(scipy.linalg.LinAlgWarning, match="least-squares"):
        r = RidgeReadout(alpha=0.0).fit(X, y)
    # The minimum-norm solution splits the weight evenly.
    np.testing.assert_allclose(r.coef_, [1.5, 1.5], rtol=1e-8)
    assert np.all(np.isfinite(r.predict(X)))


def test_small_penalty_on_ill_conditioned_features_keeps_the_ridge_solution():
    # Nearly collinear, large features: cond(X^T X + alpha I) ~ 7e16, beyond
    # 1/eps. With alpha > 0 the system is still positive definite and the
    # Cholesky solution is the ridge solution; a truncated pseudo-inverse
    # (the fallback) would regularise more than asked, visibly in the output.
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2000, 1))
    X = 100 * np.hstack([x, x + 1e-9 * rng.standard_normal((2000, 1)), rng.standard_normal((2000, 3))])
    y = X @ np.array([0.01, 0.02, -0.01, 0.005, 0.0]) + 0.01 * rng.standard_normal(2000)
    with warnings.catch_warnings():
        warnings.simplefilter("error", scipy.linalg.LinAlgWarning)
        ours = RidgeReadout(alpha=1e-10).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", scipy.linalg.LinAlgWarning)  # scikit-learn warns, then solves
        ref = Ridge(alpha=1e-10, solver="cholesky").fit(X, y)
    np.testing.assert_allclose(ours.predict(X), ref.predict(X), rtol=0, atol=1e-8)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtype_of_input_is_kept(data, dtype):
    X, Y = data
    r = RidgeReadout().fit(X.astype(dtype), Y.astype(dtype))
    assert r.coef_.dtype == dtype
    assert r.predict(X.astype(dtype)).dtype == dtype


@pytest.mark.parametrize(
    "kwargs, X, y, error, match",
    [
        (dict(alpha=-1.0), np.ones((5, 2)), np.ones(5), ValueError, r"alpha must be in \[0, inf\], got -1.0"),
        (dict(), np.ones((5, 2)), np.ones(4), ValueError, "inconsistent numbers of samples"),
        (dict(), np.full((5, 2), np.nan), np.ones(5), ValueError, "NaN"),
        (dict(), np.ones((5, 2)), None, ValueError, "requires y"),
        (dict(), np.ones((5, 2)) * 1j, np.ones(5), ValueError, "Complex data not supported"),
        (dict(fit_intercept="yes"), np.ones((5, 2)), np.ones(5), TypeError, "fit_intercept must be a bool"),
    ],
)
def test_bad_input(kwargs, X, y, error, match):
    with pytest.raises(error, match=match):
        RidgeReadout(**kwargs).fit(X, y)


def test_partial_fit_rejects_a_change_of_width(data):
    X, Y = data
    r = RidgeReadout().partial_fit(X, Y)
    with pytest.raises(ValueError, match="X has 7 features"):
        r.partial_fit(X[:, :7], Y)
    with pytest.raises(ValueError, match="y has 2 targets"):
        r.partial_fit(X, Y[:, :2])
