"""Shared fixtures: benchmark series generated once per session."""

import pytest

from reservoir.datasets import mackey_glass


@pytest.fixture
def cupy():
    """CuPy, or a skip with the reason when it or a CUDA device is missing."""
    cupy = pytest.importorskip(
        "cupy", reason="CuPy is not installed (pip install 'reservoir-esn[cuda12]' on a CUDA machine)"
    )
    try:
        if cupy.cuda.runtime.getDeviceCount() < 1:
            pytest.skip("CuPy is installed but no CUDA device is visible")
    except cupy.cuda.runtime.CUDARuntimeError as exc:
        pytest.skip(f"CuPy is installed but CUDA is unavailable: {exc}")
    return cupy


@pytest.fixture(scope="session")
def mackey_glass_series():
    """5000 samples of Mackey-Glass (tau=17, sampled every time unit), standardised."""
    s = mackey_glass(5000)
    return (s - s.mean()) / s.std()
