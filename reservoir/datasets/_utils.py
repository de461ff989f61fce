"""Turning one series into forecasting tasks: input/target pairs, splits, test windows.

Time order is never shuffled: a test part always comes after its training
part. The functions work on arrays of any Array-API library (slicing and
stacking only) and keep the array's namespace.
"""

from __future__ import annotations

import numbers

from .._backend import get_namespace
from .._validation import check_interval

__all__ = ["forecast_windows", "split_series", "to_forecasting"]


def _as_series(name, series):
    xp = get_namespace(series)
    if not hasattr(series, "shape"):
        series = xp.asarray(series)
    if series.ndim == 1:
        series = xp.reshape(series, (-1, 1))
    if series.ndim != 2:
        raise ValueError(
            f"{name} must have shape (n_timesteps, n_features) or (n_timesteps,), "
            f"got shape {tuple(series.shape)}"
        )
    return series, xp


def to_forecasting(series, horizon=1):
    """Input/target pairs for forecasting ``horizon`` steps ahead.

    Row t of X is the state at time t, row t of y the state at time
    t + horizon.

    Parameters
    ----------
    series : array of shape (n_timesteps, n_features) or (n_timesteps,)
    horizon : int, default=1
        Steps ahead, at least 1 and less than n_timesteps.

    Returns
    -------
    X : array of shape (n_timesteps - horizon, n_features)
        ``series[:-horizon]``.
    y : array of shape (n_timesteps - horizon, n_features)
        ``series[horizon:]``.

    Examples
    --------
    >>> import numpy as np
    >>> from reservoir.datasets import to_forecasting
    >>> X, y = to_forecasting(np.arange(5.0), horizon=2)
    >>> X.ravel(), y.ravel()
    (array([0., 1., 2.]), array([2., 3., 4.]))
    """
    series, _ = _as_series("series", series)
    n = series.shape[0]
    check_interval("horizon", horizon, low=1, integer=True)
    if horizon >= n:
        raise ValueError(f"horizon must be less than the series length {n}, got {horizon}")
    return series[:-horizon, ...], series[horizon:, ...]


def _count(name, size, n):
    """An int count, or a float fraction of n, as a number of rows."""
    if isinstance(size, numbers.Integral) and not isinstance(size, bool):
        check_interval(name, size, low=1, high=n, integer=True)
        return int(size)
    check_interval(name, size, low=0, high=1, low_inclusive=False, high_inclusive=False)
    count = int(round(size * n))
    if count < 1:
        raise ValueError(f"{name}={size} leaves no time step out of {n}")
    return count


def split_series(*series, train_size, test_size=None):
    """Split series in time: the first part to train, the next to test.

    Parameters
    ----------
    *series : arrays of shape (n_timesteps, ...)
        One or more series of the same length (inputs and targets, say).
    train_size : int or float
        Time steps of the training part, or its fraction of the length.
    test_size : int or float, optional
        Time steps (or fraction) of the test part, which starts right after
        the training part. All the remaining steps when None.

    Returns
    -------
    list of arrays
        ``train_0, test_0, train_1, test_1, ...``, as
        :func:`sklearn.model_selection.train_test_split` orders them, but in
        time order and without shuffling.

    Examples
    --------
    >>> import numpy as np
    >>> from reservoir.datasets import split_series
    >>> train, test = split_series(np.arange(10), train_size=0.6, test_size=3)
    >>> train, test
    (array([0, 1, 2, 3, 4, 5]), array([6, 7, 8]))
    """
    if not series:
        raise ValueError("split_series needs at least one series")
    lengths = {int(s.shape[0]) if hasattr(s, "shape") else len(s) for s in series}
    if len(lengths) != 1:
        raise ValueError(f"all series must have the same number of time steps, got {sorted(lengths)}")
    n = lengths.pop()
    n_train = _count("train_size", train_size, n)
    n_test = n - n_train if test_size is None else _count("test_size", test_size, n)
    if n_train + n_test > n or n_test < 1:
        raise ValueError(
            f"train_size={train_size} and test_size={test_size} ask for {n_train} + {n_test} "
            f"time steps, but the series have {n}"
        )
    out = []
    for s in series:
        out += [s[:n_train, ...], s[n_train:n_train + n_test, ...]]
    return out


def forecast_windows(series, *, n_windows, horizon, warmup=0, stride=None, start=0):
    """Cut a test series into windows for closed-loop forecasting statistics.

    Window w starts at b = start + w * stride. Its first ``warmup`` steps
    are the context that drives (teacher-forces) a model before it runs on
    its own; the next ``horizon`` steps are the truth its forecast is
    scored against, for instance with
    :func:`reservoir.metrics.valid_prediction_time`. Statistics over many
    windows (mean and spread of the valid prediction time) are what chaotic
    forecasting results should report.

    Parameters
    ----------
    series : array of shape (n_timesteps, n_features) or (n_timesteps,)
    n_windows : int
    horizon : int
        Steps to forecast per window.
    warmup : int, default=0
        Context steps before each forecast.
    stride : int, optional
        Steps between window starts; ``warmup + horizon`` when None, so that
        windows do not overlap.
    start : int, default=0
        Start of the first window.

    Returns
    -------
    contexts : array of shape (n_windows, warmup, n_features)
    targets : array of shape (n_windows, horizon, n_features)

    Examples
    --------
    >>> import numpy as np
    >>> from reservoir.datasets import forecast_windows
    >>> contexts, targets = forecast_windows(np.arange(20.0), n_windows=3, horizon=4, warmup=2)
    >>> contexts[:, :, 0]
    array([[ 0.,  1.],
           [ 6.,  7.],
           [12., 13.]])
    >>> targets[:, :, 0]
    array([[ 2.,  3.,  4.,  5.],
           [ 8.,  9., 10., 11.],
           [14., 15., 16., 17.]])
    """
    series, xp = _as_series("series", series)
    check_interval("n_windows", n_windows, low=1, integer=True)
    check_interval("horizon", horizon, low=1, integer=True)
    check_interval("warmup", warmup, low=0, integer=True)
    check_interval("start", start, low=0, integer=True)
    if stride is None:
        stride = warmup + horizon
    check_interval("stride", stride, low=1, integer=True)
    n = series.shape[0]
    needed = start + (n_windows - 1) * stride + warmup + horizon
    if needed > n:
        raise ValueError(
            f"{n_windows} windows of warmup={warmup} + horizon={horizon} steps every {stride} "
            f"steps from start={start} need {needed} time steps, but the series has {n}"
        )
    begins = [start + w * stride for w in range(n_windows)]
    contexts = xp.stack([series[b:b + warmup, ...] for b in begins], axis=0)
    targets = xp.stack([series[b + warmup:b + warmup + horizon, ...] for b in begins], axis=0)
    return contexts, targets
