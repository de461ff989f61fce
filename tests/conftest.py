"""Shared fixtures: benchmark series generated once per session."""

import pytest

from reservoir.datasets import mackey_glass


@pytest.fixture(scope="session")
def mackey_glass_series():
    """5000 samples of Mackey-Glass (tau=17, sampled every time unit), standardised."""
    s = mackey_glass(5000)
    return (s - s.mean()) / s.std()
