"""Multiple superimposed oscillators (MSO): sums of incommensurate sines."""

from __future__ import annotations

import numpy as np

from .._validation import check_interval
from ._common import check_length, check_real

__all__ = ["MSO_FREQUENCIES", "multiple_superimposed_oscillators"]

# Angular frequencies (radians per step) of MSO1 .. MSO8 (Koryakin et al. 2012).
MSO_FREQUENCIES = (0.2, 0.311, 0.42, 0.51, 0.63, 0.74, 0.85, 0.97)


def multiple_superimposed_oscillators(n_timesteps, *, n_oscillators=2, frequencies=None, dt=1.0,
                                      start=0):
    """Sum of sines of incommensurate frequencies (the MSO benchmark).

    .. math::

        x(t) = \\sum_{k=1}^{K} \\sin(\\alpha_k t), \\qquad t = (\\text{start} + i)\\, dt,

    with the frequencies alpha = 0.2, 0.311, 0.42, 0.51, 0.63, 0.74, 0.85,
    0.97 of MSO1 ... MSO8. MSO2 (the first two) is the task of Wierstra et
    al. (2005); Koryakin, Lohmann & Butz (2012) add one sine at a time up to
    MSO8. The series is quasi-periodic, not chaotic, and deterministic (no
    ``random_state``): its difficulty is the memory needed to separate
    close frequencies.

    Parameters
    ----------
    n_timesteps : int
    n_oscillators : int in [1, 8], default=2
        K, the number of sines taken from the list above.
    frequencies : array-like of float, optional
        Other angular frequencies instead (``n_oscillators`` is then
        ignored).
    dt : float, default=1.0
        Time between samples; the benchmark uses 1.
    start : int, default=0
        Index of the first sample.

    Returns
    -------
    ndarray of shape (n_timesteps, 1)

    References
    ----------
    D. Wierstra, F. J. Gomez and J. Schmidhuber (2005). Modeling systems with
    internal state using Evolino. GECCO 2005, 1795-1802.
    D. Koryakin, J. Lohmann and M. V. Butz (2012). Balanced echo state
    networks. Neural Networks 36, 35-45.

    Examples
    --------
    >>> from reservoir.datasets import multiple_superimposed_oscillators
    >>> multiple_superimposed_oscillators(3).ravel().round(6)
    array([0.     , 0.50468, 0.97208])
    """
    check_length("n_timesteps", n_timesteps)
    dt = check_real("dt", dt, low=0, low_inclusive=False)
    check_interval("start", start, low=0, integer=True)
    if frequencies is None:
        check_interval("n_oscillators", n_oscillators, low=1, high=len(MSO_FREQUENCIES),
                       integer=True)
        alpha = np.asarray(MSO_FREQUENCIES[:n_oscillators])
    else:
        alpha = np.asarray(frequencies, dtype=np.float64).reshape(-1)
        if alpha.size == 0 or not np.all(np.isfinite(alpha)):
            raise ValueError(f"frequencies must be a non-empty array of finite numbers, got {frequencies!r}")
    t = (start + np.arange(n_timesteps)) * dt
    return np.sin(np.outer(t, alpha)).sum(axis=1).reshape(-1, 1)
