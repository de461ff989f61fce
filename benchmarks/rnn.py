"""Gradient-trained recurrent networks: the measurements quoted in ``docs/rnn.rst``.

``python -m benchmarks.rnn recall``
    Delayed recall with every estimator at its defaults (only
    ``random_state`` fixed), two tasks:

    * stream recall: one series of i.i.d. inputs uniform on [-1, 1],
      3,000 training steps; the target at step t is the input at t - lag.
      Scored by the NRMSE (RMSE over the target's standard deviation) on
      a fresh 1,000-step series, from step ``lag`` on (the earlier targets
      precede the series);
    * marked recall: series of lag + 1 steps whose first input is a value
      uniform on [-1, 1] flagged on a second input line, followed by lag
      distractors three times larger on the same line; the target at every
      step is the flagged value. 3,000 training steps (3,000 // (lag + 1)
      series), scored by the NRMSE at the last step of 500 fresh series.

``python -m benchmarks.rnn rtrl-cost``
    Time per training epoch (one gradient and one update) of Elman and
    IndRNN regressors with ``gradient="bptt"`` and ``"rtrl"``, for 8 to 64
    units, on 4 series of 200 steps.

``python -m benchmarks.rnn vowels``
    JapaneseVowels (UEA archive): the recurrent classifiers at their
    defaults against :class:`reservoir.ESNClassifier`, test accuracy and
    fit time, when :func:`reservoir.datasets.japanese_vowels` can load the
    data (``--data FOLDER`` names a folder holding the archive's ``.ts``
    files).

Every command prints a table with wall times and the machine's CPU count.
The suite uses only the public API.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from reservoir.metrics import nrmse
from reservoir.rnn import (
    ElmanClassifier,
    ElmanRegressor,
    GRUClassifier,
    GRURegressor,
    IndRNNRegressor,
    LSTMClassifier,
    LSTMRegressor,
)

REGRESSORS = {"elman": ElmanRegressor, "lstm": LSTMRegressor, "gru": GRURegressor}


# --------------------------------------------------------------------------- data


def stream_recall(n_timesteps, lag, seed):
    """X[t] = u(t), y[t] = u(t - lag), u i.i.d. uniform on [-1, 1] (u before the start unseen)."""
    u = np.random.default_rng(seed).uniform(-1.0, 1.0, n_timesteps + lag)
    return u[lag:, None], u[:-lag]


def marked_recall(n_series, lag, seed, distractor_scale=3.0):
    """A flagged value, then lag distractors on the same line; the target is the value."""
    rng = np.random.default_rng(seed)
    X = np.zeros((n_series, lag + 1, 2))
    X[:, 0, 0] = rng.uniform(-1.0, 1.0, n_series)
    X[:, 1:, 0] = distractor_scale * rng.uniform(-1.0, 1.0, (n_series, lag))
    X[:, 0, 1] = 1.0
    y = np.repeat(X[:, :1, 0], lag + 1, axis=1)
    return X, y


def _fit(model, X, y):
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X, y)
    return time.perf_counter() - start


# --------------------------------------------------------------------------- commands


def run_recall(lags=(12, 30), models=tuple(REGRESSORS), seed=0, n_train=3000):
    """Rows (task, lag, model, NRMSE, epochs, fit seconds) of both recall tasks."""
    rows = []
    for lag in lags:
        X, y = stream_recall(n_train, lag, seed)
        X_test, y_test = stream_recall(1000, lag, seed + 1000)
        for name in models:
            model = REGRESSORS[name](random_state=seed)
            seconds = _fit(model, X, y)
            error = nrmse(y_test[lag:], model.predict(X_test)[lag:])
            rows.append(("stream", lag, name, error, model.n_iter_, seconds))
            print(_format(rows[-1]), flush=True)
        X, y = marked_recall(n_train // (lag + 1), lag, seed)
        X_test, y_test = marked_recall(500, lag, seed + 1000)
        for name in models:
            model = REGRESSORS[name](random_state=seed)
            seconds = _fit(model, X, y)
            error = nrmse(y_test[:, -1], model.predict(X_test)[:, -1])
            rows.append(("marked", lag, name, error, model.n_iter_, seconds))
            print(_format(rows[-1]), flush=True)
    return rows


def _format(row):
    task, lag, name, error, epochs, seconds = row
    return f"{task:<7} {lag:>4} {name:<6} {error:>8.3f} {epochs:>7} {seconds:>8.1f}"


def run_rtrl_cost(sizes=(8, 16, 32, 64), n_epochs=2, seed=0):
    """Rows (cell, n_units, seconds per epoch with BPTT, with RTRL, ratio)."""
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1.0, 1.0, (4, 200, 1))
    y = np.roll(X, 3, axis=1)
    rows = []
    for cls in (ElmanRegressor, IndRNNRegressor):
        for n in sizes:
            seconds = {}
            for gradient in ("bptt", "rtrl"):
                model = cls(n_units=n, sequence_length=None, batch_size=4, max_iter=n_epochs,
                            gradient=gradient, random_state=seed)
                seconds[gradient] = _fit(model, X, y) / n_epochs
            rows.append((cls.__name__, n, seconds["bptt"], seconds["rtrl"],
                         seconds["rtrl"] / seconds["bptt"]))
            print(f"{rows[-1][0]:<16} {n:>4} {rows[-1][2]:>9.4f} {rows[-1][3]:>9.4f} "
                  f"{rows[-1][4]:>8.1f}", flush=True)
    return rows


def run_vowels(seed=0, path=None):
    """Rows (model, test accuracy, fit seconds) on JapaneseVowels, or None without the data."""
    from reservoir import ESNClassifier, datasets

    loader = getattr(datasets, "japanese_vowels", None)
    if loader is None:
        print("reservoir.datasets.japanese_vowels is not available in this version")
        return None
    try:
        X_train, y_train, X_test, y_test = loader(path=path)
    except (OSError, ValueError) as error:
        print(f"JapaneseVowels could not be loaded: {error}")
        return None
    models = {
        "ESNClassifier": ESNClassifier(n_units=500, random_state=seed),
        "ElmanClassifier": ElmanClassifier(random_state=seed),
        "LSTMClassifier": LSTMClassifier(random_state=seed),
        "GRUClassifier": GRUClassifier(random_state=seed),
    }
    rows = []
    for name, model in models.items():
        seconds = _fit(model, X_train, y_train)
        rows.append((name, float(model.score(X_test, y_test)), seconds))
        print(f"{name:<16} {rows[-1][1]:>8.3f} {seconds:>8.1f}", flush=True)
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.rnn", description=__doc__.split(
        "\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=("recall", "rtrl-cost", "vowels"))
    parser.add_argument("--seed", type=int, default=0, help="random_state of every model and "
                        "seed of the training data (default: 0)")
    parser.add_argument("--data", default=None, help="vowels: folder with the JapaneseVowels "
                        ".ts files (default: where reservoir.datasets.japanese_vowels looks)")
    args = parser.parse_args(argv)
    print(f"# python -m benchmarks.rnn {args.command} --seed {args.seed}; "
          f"{os.cpu_count()} CPUs, Python {sys.version.split()[0]}, NumPy {np.__version__}")
    start = time.perf_counter()
    if args.command == "recall":
        print("task     lag model     NRMSE  epochs  fit (s)")
        run_recall(seed=args.seed)
    elif args.command == "rtrl-cost":
        print("model           units  BPTT (s)  RTRL (s)  RTRL/BPTT   (per epoch)")
        run_rtrl_cost(seed=args.seed)
    else:
        print("model            accuracy  fit (s)")
        run_vowels(seed=args.seed, path=args.data)
    print(f"# total {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
