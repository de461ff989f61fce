"""Shared fixtures: benchmark series generated once per session."""

import numpy as np
import pytest


def _mackey_glass(n_timesteps, tau=17.0, a=0.2, b=0.1, n=10, step=0.1, history=1.2,
                  transient=500):
    """Mackey-Glass series sampled every time unit (RK4, step 0.1, delayed value
    interpolated linearly at the half step)."""
    delay = int(round(tau / step))
    per_sample = int(round(1.0 / step))
    total = (n_timesteps + transient) * per_sample
    x = np.empty(total + delay + 1)
    x[: delay + 1] = history

    def f(xt, xd):
        return a * xd / (1.0 + xd**n) - b * xt

    for i in range(delay, delay + total):
        d0, d1 = x[i - delay], x[i - delay + 1]
        dm = 0.5 * (d0 + d1)
        k1 = f(x[i], d0)
        k2 = f(x[i] + 0.5 * step * k1, dm)
        k3 = f(x[i] + 0.5 * step * k2, dm)
        k4 = f(x[i] + step * k3, d1)
        x[i + 1] = x[i] + step / 6.0 * (k1 + 2 * k2 + 2 * k3 + k4)
    return x[delay + transient * per_sample :: per_sample][:n_timesteps, None]


@pytest.fixture(scope="session")
def mackey_glass_series():
    """5000 samples of Mackey-Glass (tau=17), standardised, shape (5000, 1)."""
    s = _mackey_glass(5000)
    return (s - s.mean()) / s.std()
