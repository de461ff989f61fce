"""Argument checks shared by the generators of this package.

Every scalar goes through :func:`reservoir._validation.check_interval`, so
the messages are the package's usual ones (name, value received, interval
expected); this module only adds the checks of initial conditions.
"""

from __future__ import annotations

import numpy as np

from .._validation import check_interval

__all__ = ["check_initial_condition", "check_length", "check_real"]


def check_length(name, value, *, low=1):
    """An int number of steps, at least ``low``."""
    return check_interval(name, value, low=low, integer=True)


def check_real(name, value, **interval):
    """A finite real number (optionally inside an interval), returned as float."""
    return float(check_interval(name, value, **interval))


def check_initial_condition(name, value, dimension):
    """A finite float64 vector of shape (dimension,), copied."""
    try:
        arr = np.array(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be an array-like of {dimension} real numbers, got {value!r}") from exc
    if arr.shape != (dimension,):
        raise ValueError(f"{name} must have shape ({dimension},), got an array of shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return arr
