"""The fused leaky step and the Cholesky solve on a GPU, against the NumPy expression.

The kernel's text is tested without a GPU in tests/test_gpu_paths.py; here
CuPy compiles and runs it (skipped, with the reason, without CuPy or a device).
"""

import numpy as np
import pytest

from reservoir._backend import solve_spd
from reservoir._fused import fused_step
from reservoir._states import leaky_step
from reservoir.activations import ACTIVATIONS, get_activation


@pytest.mark.gpu
@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("leak_rate", [1.0, 0.3])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_cupy_fused_kernel_matches_the_expression(cupy, activation, leak_rate, dtype):
    rng = np.random.default_rng(0)
    wx, x, u, v = (rng.standard_normal((4, 300)).astype(dtype) for _ in range(4))
    u = u[0]
    step = fused_step(cupy, activation, leak_rate)
    got = step(*(cupy.asarray(a) for a in (x, wx, u, v)))
    expected = leaky_step(x, wx + u + v, leak_rate, get_activation(activation, np).function)
    tol = 1e-6 if dtype == "float32" else 1e-14
    np.testing.assert_allclose(cupy.asnumpy(got), expected, rtol=tol, atol=tol)


@pytest.mark.gpu
def test_cupy_solve_spd_agrees(cupy):
    rng = np.random.default_rng(1)
    M = rng.standard_normal((200, 200))
    A = M @ M.T + np.eye(200)
    B = rng.standard_normal((200, 4))
    got = solve_spd(cupy.asarray(A), cupy.asarray(B))
    np.testing.assert_allclose(cupy.asnumpy(got), np.linalg.solve(A, B), rtol=1e-9)


