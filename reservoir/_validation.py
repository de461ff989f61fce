"""Turning user input into the package's canonical forms, with clear errors.

Two kinds of input reach the estimators:

* one series, a 2-D array-like of shape (n_timesteps, n_features): its rows
  are time steps;
* several series, a list of 2-D arrays (lengths may differ) or a 3-D array of
  shape (n_series, n_timesteps, n_features).

NumPy-compatible input (lists, NumPy arrays, pandas frames) is validated with
scikit-learn's own utilities, so that the estimators behave as scikit-learn
users expect (feature names, error messages). Arrays of another library
(CuPy, array-api-strict, ...) are validated here on their own namespace,
without leaving their device.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass

import numpy as np
import scipy.sparse

from ._backend import get_namespace, is_numpy

__all__ = [
    "SequenceBatch",
    "check_generator",
    "check_interval",
    "is_multi_series",
]


def check_generator(random_state) -> np.random.Generator:
    """Turn ``random_state`` into a :class:`numpy.random.Generator`.

    ``None`` gives fresh OS entropy, an int seeds a new generator, a
    ``Generator`` is used as is, and a legacy ``RandomState`` seeds a new
    generator from its stream. Nothing global is touched.
    """
    if random_state is None or isinstance(random_state, (numbers.Integral, np.integer)):
        if random_state is not None and int(random_state) < 0:
            raise ValueError(f"random_state must be a non-negative int, got {random_state!r}")
        return np.random.default_rng(random_state)
    if isinstance(random_state, np.random.Generator):
        return random_state
    if isinstance(random_state, np.random.RandomState):
        return np.random.default_rng(random_state.randint(np.iinfo(np.int32).max))
    raise TypeError(
        "random_state must be None, an int, a numpy.random.Generator or a "
        f"numpy.random.RandomState, got {type(random_state).__name__}"
    )


def check_interval(name, value, *, low=None, high=None, low_inclusive=True, high_inclusive=True,
                   integer=False, allow_none=False):
    """Check a scalar parameter against an interval; return it unchanged.

    The error names the parameter, the value received and the interval
    expected, e.g. ``leak_rate must be in (0, 1], got 1.5``.
    """
    if value is None and allow_none:
        return value
    kind = numbers.Integral if integer else numbers.Real
    if isinstance(value, bool) or not isinstance(value, kind):
        expected = "an int" if integer else "a real number"
        raise TypeError(f"{name} must be {expected}, got {value!r} of type {type(value).__name__}")
    if not integer and not np.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value!r}")
    too_low = low is not None and (value < low if low_inclusive else value <= low)
    too_high = high is not None and (value > high if high_inclusive else value >= high)
    if too_low or too_high:
        left = "[" if low_inclusive else "("
        right = "]" if high_inclusive else ")"
        lo = "-inf" if low is None else low
        hi = "inf" if high is None else high
        raise ValueError(f"{name} must be in {left}{lo}, {hi}{right}, got {value!r}")
    return value


def is_multi_series(X) -> bool:
    """True for a list/tuple of series or a 3-D array: several sequences."""
    if isinstance(X, (list, tuple)):
        if len(X) == 0:
            return False
        first = X[0]
        return hasattr(first, "shape") and len(first.shape) == 2 or (
            isinstance(first, (list, tuple)) and len(first) > 0 and isinstance(first[0], (list, tuple))
        )
    shape = getattr(X, "shape", None)
    return shape is not None and len(shape) == 3


@dataclass
class SequenceBatch:
    """Several sequences stacked on a batch axis, right-padded with zeros.

    Attributes
    ----------
    data : array of shape (n_series, max_length, n_features)
    lengths : list of int
        True length of each series. Padding lies after each series' end, so a
        series' states never depend on the padding of another.
    xp : namespace of ``data``
    """

    data: object
    lengths: list
    xp: object

    @property
    def n_series(self):
        return len(self.lengths)

    def unstack(self, Y):
        """Split a padded (n_series, max_length, k) array back into a list of series."""
        return [Y[i, :n] for i, n in enumerate(self.lengths)]

    def concatenate(self, Y, start=0):
        """Concatenate the valid rows (from ``start`` on) of each series: (sum of lengths, k)."""
        return self.xp.concat([Y[i, start:n] for i, n in enumerate(self.lengths)], axis=0)


def _reject_bad_dtype(name, dtype):
    kind = np.dtype(dtype).kind if _is_numpy_dtype(dtype) else None
    if kind == "c":
        raise ValueError(f"Complex data not supported: {name} has dtype {dtype}")
    if kind not in (None, "f", "i", "u", "b"):
        raise TypeError(f"{name} must hold real numbers, got dtype {dtype}")


def _is_numpy_dtype(dtype):
    try:
        np.dtype(dtype)
        return True
    except TypeError:
        return False


def check_device_array(X, *, name, ndim, dtype, xp):
    """Validate an array of a non-NumPy namespace without moving it off its device."""
    if len(X.shape) != ndim:
        raise ValueError(
            f"{name} must be {ndim}-D, got an array of shape {tuple(X.shape)}"
            + (" (reshape a single feature with X.reshape(-1, 1))" if ndim == 2 and len(X.shape) == 1 else "")
        )
    if xp.isdtype(X.dtype, "complex floating"):
        raise ValueError(f"Complex data not supported: {name} has dtype {X.dtype}")
    if not xp.isdtype(X.dtype, ("real floating", "integral", "bool")):
        raise TypeError(f"{name} must hold real numbers, got dtype {X.dtype}")
    X = xp.astype(X, dtype)
    if X.shape[0] == 0:
        raise ValueError(f"{name} is empty: found 0 time steps, expected at least 1")
    if not bool(xp.all(xp.isfinite(X))):
        raise ValueError(f"{name} contains NaN or infinity")
    return X


def check_series_list(X, *, name, dtype, n_features=None, min_length=1):
    """Validate several series into a :class:`SequenceBatch`.

    ``X`` is a list of 2-D arrays (lengths may differ) or a 3-D array. Every
    series must have ``n_features`` columns (when given) and at least
    ``min_length`` time steps.
    """
    from sklearn.utils import check_array

    if isinstance(X, (list, tuple)):
        items = list(X)
    else:
        items = [X[i] for i in range(X.shape[0])]
    if not items:
        raise ValueError(f"{name} is an empty list of series; expected at least one series")
    xp = get_namespace(*[a for a in items if hasattr(a, "shape")])
    checked = []
    for i, seq in enumerate(items):
        label = f"{name}[{i}]"
        if scipy.sparse.issparse(seq):
            raise TypeError(f"{label} is a sparse matrix; series must be dense arrays")
        if is_numpy(xp):
            arr = np.asarray(seq) if not hasattr(seq, "dtype") else seq
            if hasattr(arr, "dtype"):
                _reject_bad_dtype(label, arr.dtype)
            if np.ndim(arr) != 2:
                raise ValueError(
                    f"{label} must be 2-D (n_timesteps, n_features), got shape {np.shape(arr)}"
                )
            arr = check_array(arr, dtype=_to_np_dtype(dtype), input_name=label,
                              ensure_min_samples=1)
        else:
            arr = check_device_array(seq, name=label, ndim=2, dtype=dtype, xp=xp)
        checked.append(arr)
    widths = {int(a.shape[1]) for a in checked}
    if len(widths) > 1:
        raise ValueError(f"all series in {name} must have the same number of features, got {sorted(widths)}")
    width = widths.pop()
    if n_features is not None and width != n_features:
        raise ValueError(
            f"{name} has {width} features, but this estimator was fitted with {n_features} features"
        )
    lengths = [int(a.shape[0]) for a in checked]
    short = [i for i, n in enumerate(lengths) if n < min_length]
    if short:
        raise ValueError(
            f"series {short[:5]} of {name} have fewer than {min_length} time steps "
            f"(lengths {[lengths[i] for i in short[:5]]}); each series needs at least {min_length}"
        )
    T = max(lengths)
    if all(n == T for n in lengths):
        data = xp.stack(checked, axis=0)
    else:
        data = xp.zeros((len(checked), T, width), dtype=checked[0].dtype,
                        **_device_kw(checked[0], xp))
        if is_numpy(xp):
            for i, a in enumerate(checked):
                data[i, : a.shape[0]] = a
        else:
            data = xp.stack(
                [xp.concat([a, xp.zeros((T - a.shape[0], width), dtype=a.dtype, **_device_kw(a, xp))], axis=0)
                 for a in checked], axis=0)
    return SequenceBatch(data=data, lengths=lengths, xp=xp)


def _device_kw(a, xp):
    return {} if is_numpy(xp) else {"device": a.device}


def _to_np_dtype(dtype):
    try:
        return np.dtype(dtype)
    except TypeError:
        return np.dtype(str(dtype).rsplit(".", 1)[-1])
