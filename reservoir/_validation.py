"""Turning user input into the package's canonical forms, with clear errors.

Two kinds of input reach the estimators:

* one series, a 2-D array (or frame) of shape (n_timesteps, n_features): its
  rows are time steps;
* several series, a list or tuple of sequences (each 2-D, or 1-D for a
  univariate sequence; lengths may differ) or a 3-D array of shape
  (n_series, n_timesteps, n_features). A list is always several series.

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

from ._backend import device_kwargs, get_namespace, is_numpy, resolve_dtype

__all__ = [
    "SequenceBatch",
    "check_finite_series",
    "check_generator",
    "check_initial_state",
    "check_interval",
    "check_sequences",
    "is_multi_series",
    "validate_X",
    "validate_X_y",
    "validate_series",
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


def check_initial_state(initial_state, *, n_series, size, xp, dtype, like, final_state=None):
    """Resolve an ``initial_state`` argument to an array of shape (n_series, size).

    ``None`` stays None (the caller's zero state). An array of shape (size,)
    is shared by every series; (n_series, size) gives one state each. The
    string ``"continue"`` means ``final_state``, the state at the end of the
    fitted data, where the estimator has one. Arrays of another namespace
    are moved to ``xp`` on the device of ``like``.
    """
    from ._backend import to_namespace, to_numpy

    if initial_state is None:
        return None
    if isinstance(initial_state, str):
        if initial_state != "continue" or final_state is None:
            allowed = "None, 'continue' or an array" if final_state is not None else "None or an array"
            raise ValueError(f"initial_state must be {allowed}, got {initial_state!r}")
        x0 = final_state
    else:
        x0 = initial_state
    if get_namespace(x0) is not xp:
        x0 = to_namespace(np.asarray(to_numpy(x0)), xp, **device_kwargs(like, xp))
    x0 = xp.astype(x0, dtype)
    if x0.ndim == 1:
        x0 = xp.reshape(x0, (1, -1))
    if x0.ndim != 2 or x0.shape[1] != size or x0.shape[0] not in (1, n_series):
        raise ValueError(
            f"initial_state must have shape ({size},) or ({n_series}, {size}), got {tuple(x0.shape)}"
        )
    if not bool(xp.all(xp.isfinite(x0))):
        raise ValueError("initial_state contains NaN or infinity")
    if x0.shape[0] != n_series:
        x0 = xp.broadcast_to(x0, (n_series, size))
    return x0


def _is_scalar_row(item):
    """A row of plain numbers, as in ``X.tolist()`` of a 2-D array."""
    return isinstance(item, (list, tuple)) and all(
        not hasattr(v, "__len__") or isinstance(v, (str, bytes)) for v in item)


def is_multi_series(X) -> bool:
    """True for several sequences: a list or tuple of sequences, or a 3-D array.

    A list or tuple of arrays is always a list of sequences (each 2-D, or
    1-D for a univariate sequence), never the rows of one series: a list of
    200 equal-length 1-D arrays is 200 univariate series, not one series
    with 200 steps or 200 features. A nested list of plain numbers, such as
    ``X.tolist()``, is read the way NumPy and scikit-learn read it, as one
    2-D series of rows; one series is otherwise passed as an array (or a
    pandas frame) of shape (n_timesteps, n_features).
    """
    if isinstance(X, (list, tuple)):
        return not (len(X) > 0 and all(_is_scalar_row(item) for item in X))
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
        series' states never depend on padding.
    xp : namespace of ``data``
    layout : {"single", "list", "array"}
        How the user gave the series: one 2-D array, a list of 2-D arrays or
        a 3-D array. Outputs are returned in the same layout.
    """

    data: object
    lengths: list
    xp: object
    layout: str

    @property
    def n_series(self):
        return len(self.lengths)

    def restore(self, Y, *, squeeze_output=False, start=0):
        """Return a padded (n_series, max_length, k) result in the user's layout.

        ``squeeze_output`` drops the output axis (for targets given as 1-D);
        ``start`` drops the first steps of every series (a washout).
        """
        if squeeze_output:
            Y = Y[..., 0]
        if self.layout == "single":
            return Y[0, start: self.lengths[0], ...]
        if self.layout == "array":
            return Y[:, start:, ...] if start else Y
        return [Y[i, start:n, ...] for i, n in enumerate(self.lengths)]


def _reject_bad_dtype(name, dtype):
    kind = np.dtype(dtype).kind
    if kind == "c":
        raise ValueError(f"Complex data not supported: {name} has dtype {dtype}")
    if kind not in ("f", "i", "u", "b", "O"):
        raise TypeError(f"{name} must hold real numbers, got dtype {dtype}")


def _np_dtype(dtype):
    try:
        return np.dtype(dtype)
    except TypeError:
        return np.dtype(str(dtype).rsplit(".", 1)[-1])


_AXES = {1: ("time step",), 2: ("time step", "feature"), 3: ("series", "time step", "feature")}


def check_finite_series(name, values):
    """Raise a time-series error at the first NaN or infinity of ``values``.

    ``values`` is any array of shape (n_timesteps,), (n_timesteps, n_features)
    or (n_series, n_timesteps, n_features). Only an array that fails the
    check is copied to the host, to locate the bad step.
    """
    xp = get_namespace(values)
    if bool(xp.all(xp.isfinite(values))):
        return
    from ._backend import to_numpy

    host = np.asarray(to_numpy(values))
    index = tuple(int(i) for i in np.argwhere(~np.isfinite(host))[0])
    kind = "NaN" if np.isnan(host[index]) else "infinity"
    axes = _AXES.get(host.ndim, ("index",) * host.ndim)
    where = ", ".join(f"{axis} {i}" for axis, i in zip(axes, index, strict=True))
    raise ValueError(
        f"{name} contains {kind} at {where}. A reservoir steps through every time step in "
        "order and cannot skip a missing value: fill or interpolate the gap first (for example "
        "with pandas' interpolate), or split the series at the gap into a list of series."
    )


def _reject_one_d(name, X):
    shape = tuple(X.shape) if hasattr(X, "shape") else np.asarray(X).shape
    if len(shape) == 1:
        raise ValueError(
            f"{name} is 1-D with shape {shape}; one series must be 2-D, of shape "
            f"(n_timesteps, n_features). Reshape your data with {name}.reshape(-1, 1) for a "
            "univariate series, or pass a list of 1-D arrays for several univariate series."
        )


def _check_device_array(X, *, name, ndims, dtype, xp):
    """Validate an array of a non-NumPy namespace without moving it off its device."""
    if len(X.shape) not in ndims:
        if len(X.shape) == 1 and 2 in ndims:
            _reject_one_d(name, X)
        expected = " or ".join(f"{d}-D" for d in ndims)
        raise ValueError(f"{name} must be {expected}, got shape {tuple(X.shape)}")
    if xp.isdtype(X.dtype, "complex floating"):
        raise ValueError(f"Complex data not supported: {name} has dtype {X.dtype}")
    if not xp.isdtype(X.dtype, ("real floating", "integral", "bool")):
        raise TypeError(f"{name} must hold real numbers, got dtype {X.dtype}")
    if dtype is None:
        dtype = X.dtype if xp.isdtype(X.dtype, "real floating") else xp.float64
    else:
        dtype = resolve_dtype(dtype, xp)
    X = xp.astype(X, dtype)
    if X.shape[0] == 0:
        raise ValueError(f"{name} is empty: found 0 time steps, expected at least 1")
    check_finite_series(name, X)
    return X


def _set_n_features(estimator, n_features, reset):
    if reset:
        estimator.n_features_in_ = int(n_features)
        if hasattr(estimator, "feature_names_in_"):
            del estimator.feature_names_in_
    elif n_features != estimator.n_features_in_:
        raise ValueError(
            f"X has {n_features} features, but {type(estimator).__name__} is expecting "
            f"{estimator.n_features_in_} features as input."
        )


def validate_X(estimator, X, *, reset, dtype=None):
    """Validate one 2-D block of rows; returns ``(X, xp, dtype)``.

    NumPy-compatible input goes through scikit-learn's ``validate_data`` (so
    ``n_features_in_`` and feature names behave as scikit-learn users
    expect); arrays of other libraries are checked on their own device.
    ``dtype=None`` keeps float32/float64 and turns anything else into float64.
    """
    from sklearn.utils.validation import validate_data

    xp = get_namespace(X)
    if is_numpy(xp):
        if hasattr(X, "dtype") and not hasattr(X, "columns"):
            _reject_bad_dtype("X", X.dtype)
        X = validate_data(estimator, X, reset=reset,
                          dtype=[np.float64, np.float32] if dtype is None else _np_dtype(dtype))
        return X, xp, X.dtype
    X = _check_device_array(X, name="X", ndims=(2,), dtype=dtype, xp=xp)
    _set_n_features(estimator, X.shape[1], reset)
    return X, xp, X.dtype


def validate_X_y(estimator, X, y, *, reset, dtype=None, multi_output=True):
    """Validate rows X (n, d) and aligned targets y (n,) or (n, k); returns ``(X, y, xp, dtype)``."""
    from sklearn.utils.validation import validate_data

    if y is None:
        raise ValueError(f"{type(estimator).__name__} requires y to be passed, but the target y is None")
    xp = get_namespace(X, y)
    if is_numpy(xp):
        if hasattr(X, "dtype") and not hasattr(X, "columns"):
            _reject_bad_dtype("X", X.dtype)
        X, y = validate_data(estimator, X, y, reset=reset, multi_output=multi_output, y_numeric=True,
                             dtype=[np.float64, np.float32] if dtype is None else _np_dtype(dtype))
        return X, y.astype(X.dtype, copy=False), xp, X.dtype
    X = _check_device_array(X, name="X", ndims=(2,), dtype=dtype, xp=xp)
    y = _check_device_array(y, name="y", ndims=(1, 2), dtype=X.dtype, xp=xp)
    if y.shape[0] != X.shape[0]:
        raise ValueError(f"X and y have different numbers of time steps: {X.shape[0]} and {y.shape[0]}")
    _set_n_features(estimator, X.shape[1], reset)
    return X, y, xp, X.dtype


def _as_list(X, name):
    if isinstance(X, (list, tuple)):
        items = list(X)
    else:
        items = [X[i, ...] for i in range(X.shape[0])]
    if not items:
        raise ValueError(f"{name} is an empty list of series; expected at least one series")
    return items


def _validate_one(seq, *, label, ndims, dtype, xp):
    """One sequence (or a 3-D block); a 1-D sequence becomes one feature when 2-D is allowed."""
    from sklearn.utils import check_array

    if scipy.sparse.issparse(seq):
        raise TypeError(f"{label} is a sparse matrix; series must be dense arrays")
    if not is_numpy(xp):
        out = _check_device_array(seq, name=label, ndims=ndims, dtype=dtype, xp=xp)
    else:
        arr = seq if hasattr(seq, "dtype") else np.asarray(seq)
        _reject_bad_dtype(label, arr.dtype)
        if arr.ndim not in ndims:
            raise ValueError(
                f"{label} must be {' or '.join(f'{d}-D' for d in ndims)}, got shape {arr.shape}"
            )
        out = check_array(arr, dtype=_np_dtype(dtype), input_name=label, ensure_2d=False,
                          allow_nd=max(ndims) > 2, ensure_all_finite=False)
        check_finite_series(label, out)
    return out


def _stack_padded(arrays, xp):
    lengths = [int(a.shape[0]) for a in arrays]
    T = max(lengths)
    if all(n == T for n in lengths):
        return xp.stack(arrays, axis=0)
    padded = []
    for a in arrays:
        pad = xp.zeros((T - a.shape[0],) + tuple(a.shape[1:]), dtype=a.dtype, **device_kwargs(a, xp))
        padded.append(xp.concat([a, pad], axis=0))
    return xp.stack(padded, axis=0)


def _check_single(X, *, estimator, reset, dtype, n_features):
    """One series (2-D array or frame) -> (array, xp); feature names through scikit-learn."""
    from sklearn.utils import check_array
    from sklearn.utils.validation import validate_data

    if scipy.sparse.issparse(X):
        raise TypeError("Sparse data was passed for X, but dense data is required: a series is a "
                        "dense array of shape (n_timesteps, n_features)")
    xp = get_namespace(X)
    _reject_one_d("X", X)
    if not is_numpy(xp):
        Xv = _check_device_array(X, name="X", ndims=(2,), dtype=dtype, xp=xp)
        if estimator is not None:
            _set_n_features(estimator, Xv.shape[1], reset)
        return Xv, xp
    if hasattr(X, "dtype") and not hasattr(X, "columns"):
        _reject_bad_dtype("X", X.dtype)
    kinds = [np.float64, np.float32] if dtype is None else _np_dtype(dtype)
    if estimator is not None:
        Xv = validate_data(estimator, X, reset=reset, dtype=kinds, ensure_all_finite=False)
    else:
        Xv = check_array(X, dtype=kinds, ensure_all_finite=False, input_name="X")
    check_finite_series("X", Xv)
    return Xv, xp


def _check_width(estimator, n_features, widths, reset):
    if estimator is not None:
        _set_n_features(estimator, widths[0], reset)
    elif n_features is not None and widths[0] != n_features:
        raise ValueError(f"X has {widths[0]} features, but the reservoir expects {n_features}")


def _short_series_error(lengths, min_length, layout):
    short = [i for i, n in enumerate(lengths) if n < min_length]
    if not short:
        return
    if layout == "single":
        raise ValueError(
            f"X has {lengths[0]} time steps, fewer than the {min_length} needed "
            f"(washout={min_length - 1} plus at least one step to train on)"
        )
    raise ValueError(
        f"series {short[:5]} of X have {[lengths[i] for i in short[:5]]} time steps, fewer than "
        f"the {min_length} needed (washout={min_length - 1} plus at least one step to train on)"
    )


def _sequence_batch(X, *, estimator, reset, dtype, n_features=None):
    """X in any accepted layout -> (SequenceBatch, list of per-series arrays or None)."""
    if X is None:
        raise ValueError("X is None; expected an array of shape (n_timesteps, n_features), "
                         "a list of such, or an array of shape (n_series, n_timesteps, n_features)")
    if isinstance(X, (list, tuple)) and len(X) == 0:
        raise ValueError("X is an empty list of series; expected at least one series")
    if len(getattr(X, "shape", ())) > 3:
        raise ValueError(
            "X must be 2-D (n_timesteps, n_features) or 3-D (n_series, n_timesteps, n_features), "
            f"got shape {tuple(X.shape)}"
        )
    if not is_multi_series(X):
        Xv, xp = _check_single(X, estimator=estimator, reset=reset, dtype=dtype,
                               n_features=n_features)
        if estimator is None:
            _check_width(None, n_features, [int(Xv.shape[1])], reset)
        return SequenceBatch(xp.expand_dims(Xv, axis=0), [int(Xv.shape[0])], xp, "single"), None
    if isinstance(X, (list, tuple)):
        items = _as_list(X, "X")
        xp = get_namespace(*[a for a in items if hasattr(a, "shape")])
        target_dtype = resolve_dtype(dtype, xp) if dtype is not None else xp.float64
        arrays = []
        for i, a in enumerate(items):
            a = _validate_one(a, label=f"X[{i}]", ndims=(1, 2), dtype=target_dtype, xp=xp)
            arrays.append(xp.reshape(a, (-1, 1)) if a.ndim == 1 else a)
        widths = sorted({int(a.shape[1]) for a in arrays})
        if len(widths) > 1:
            raise ValueError(f"all series in X must have the same number of features, got {widths}")
        _check_width(estimator, n_features, widths, reset)
        lengths = [int(a.shape[0]) for a in arrays]
        return SequenceBatch(_stack_padded(arrays, xp), lengths, xp, "list"), arrays
    # A 3-D array is validated in one call, however many series it holds.
    xp = get_namespace(X)
    target_dtype = resolve_dtype(dtype, xp) if dtype is not None else xp.float64
    data = _validate_one(X, label="X", ndims=(3,), dtype=target_dtype, xp=xp)
    if data.shape[0] == 0:
        raise ValueError("X holds no series (shape[0] is 0); expected at least one")
    _check_width(estimator, n_features, [int(data.shape[2])], reset)
    return SequenceBatch(data, [int(data.shape[1])] * int(data.shape[0]), xp, "array"), None


def check_sequences(X, *, dtype=None, n_features=None, min_length=1):
    """Validate series without an estimator (for :class:`reservoir.Reservoir`).

    Accepts the layouts of :func:`validate_series`; ``n_features``, when
    given, is the width every series must have.
    """
    batch, _ = _sequence_batch(X, estimator=None, reset=False, dtype=dtype, n_features=n_features)
    _short_series_error(batch.lengths, min_length, batch.layout)
    return batch


def _single_target(y, X, xp, dtype):
    """Targets of one series: (n_timesteps,) or (n_timesteps, n_outputs), aligned with X."""
    from sklearn.utils import check_array

    if is_numpy(xp):
        if hasattr(y, "dtype") and not hasattr(y, "columns"):
            _reject_bad_dtype("y", y.dtype)
        Y = check_array(y, dtype=X.dtype, ensure_2d=False, ensure_all_finite=False,
                        ensure_min_samples=0, input_name="y")
        if Y.ndim not in (1, 2):
            raise ValueError(f"y must be 1-D or 2-D for one series, got shape {Y.shape}")
        check_finite_series("y", Y)
    else:
        Y = _check_device_array(y, name="y", ndims=(1, 2), dtype=X.dtype, xp=xp)
    if Y.shape[0] != X.shape[0]:
        raise ValueError(
            f"X and y have different numbers of time steps: {X.shape[0]} and {Y.shape[0]}; "
            "targets are aligned with the inputs step by step"
        )
    return Y


def validate_series(estimator, X, y=None, *, reset, dtype, min_length=1, y_per_series=False,
                    require_y=True):
    """Validate one series or several into a :class:`SequenceBatch`.

    Layouts: one series is an array (or frame) of shape (n_timesteps,
    n_features); several are a list or tuple of sequences (each 2-D, or 1-D
    for one feature; lengths may differ) or an array of shape (n_series,
    n_timesteps, n_features).

    Parameters
    ----------
    estimator : estimator
        ``n_features_in_`` is set on it (``reset=True``) or checked against.
    X : series in one of the layouts above
    y : targets in the same layout (step-aligned), or of shape (n_series,)
        / (n_series, n_outputs) when ``y_per_series`` (one label per series).
    dtype : dtype the data is cast to
    min_length : int
        Shortest series accepted (washout + 1 for training).

    Returns
    -------
    batch : SequenceBatch
    targets : array of shape (n_series, max_length, n_outputs), or
        (n_series, n_outputs) when ``y_per_series``, or None
    y_one_d : bool
        Whether the targets had no output axis (1-D per series).
    """
    if require_y and y is None:
        raise ValueError(f"{type(estimator).__name__} requires y to be passed, but the target y is None")
    if y_per_series and not is_multi_series(X) and X is not None:
        raise ValueError(
            "per-series labels need several series: X must be a list of series or a "
            f"3-D array, got an array of shape {tuple(np.shape(X))}"
        )
    if y is not None:
        # Inputs and targets from two array libraries: a clear error before any conversion.
        first_x = X[0] if isinstance(X, (list, tuple)) and len(X) else X
        first_y = y[0] if isinstance(y, (list, tuple)) and len(y) else y
        get_namespace(first_x, first_y)
    batch, arrays = _sequence_batch(X, estimator=estimator, reset=reset, dtype=dtype)
    _short_series_error(batch.lengths, min_length, batch.layout)
    xp, data = batch.xp, batch.data
    if y is None:
        return batch, None, False
    if batch.layout == "single":
        Y = _single_target(y, data[0, ...], xp, dtype)
        return batch, xp.reshape(Y, (1, Y.shape[0], -1)), Y.ndim == 1
    target_dtype = data.dtype
    if y_per_series:
        Y = _validate_one(y, label="y", ndims=(1, 2), dtype=target_dtype, xp=xp)
        if Y.shape[0] != batch.n_series:
            raise ValueError(
                f"y has {Y.shape[0]} labels but X has {batch.n_series} series; expected one label per series"
            )
        return batch, Y if Y.ndim == 2 else xp.reshape(Y, (-1, 1)), Y.ndim == 1
    if batch.layout == "array" and not isinstance(y, (list, tuple)):
        Y = _validate_one(y, label="y", ndims=(2, 3), dtype=target_dtype, xp=xp)
        if tuple(Y.shape[:2]) != tuple(data.shape[:2]):
            raise ValueError(
                f"y must have shape ({data.shape[0]}, {data.shape[1]}) or ({data.shape[0]}, "
                f"{data.shape[1]}, n_outputs) to match X, got {tuple(Y.shape)}"
            )
        one_d = Y.ndim == 2
        return batch, (xp.expand_dims(Y, axis=2) if one_d else Y), one_d
    if arrays is None:
        arrays = [data[i, :n, ...] for i, n in enumerate(batch.lengths)]

    targets = _as_list(y, "y")
    if len(targets) != len(arrays):
        raise ValueError(
            f"X has {len(arrays)} series but y has {len(targets)}; "
            "expected one target series per input series"
        )
    checked = [_validate_one(t, label=f"y[{i}]", ndims=(1, 2), dtype=target_dtype, xp=xp)
               for i, t in enumerate(targets)]
    dims = {t.ndim for t in checked}
    if len(dims) > 1:
        raise ValueError("target series in y mix 1-D and 2-D arrays; give them all the same shape")
    one_d = dims.pop() == 1
    checked = [xp.reshape(t, (t.shape[0], -1)) for t in checked]
    for i, (a, t) in enumerate(zip(arrays, checked, strict=True)):
        if a.shape[0] != t.shape[0]:
            raise ValueError(
                f"X[{i}] and y[{i}] have different numbers of time steps: {a.shape[0]} and {t.shape[0]}"
            )
    outs = sorted({int(t.shape[1]) for t in checked})
    if len(outs) > 1:
        raise ValueError(f"all target series must have the same number of outputs, got {outs}")
    return batch, _stack_padded(checked, xp), one_d
