"""The benchmark tasks: data, protocol and scoring, the same for every model.

Each task generates its data with :mod:`reservoir.datasets`, splits it in
time, normalises every series with the mean and standard deviation of its
training part, trains each model on the same rows with the same spin-up,
and scores it with :mod:`reservoir.metrics`. The protocols and their
references are written out in ``docs/benchmarks.rst``; the numbers that
differ between ``quick`` and ``full`` are in :data:`PROTOCOLS`.

A task's ``run`` returns a list of result rows (plain dicts, one per
metric) and fills ``artifacts`` with what the plots need.
"""

from __future__ import annotations

import hashlib
import json
import time
import warnings
from functools import partial
from pathlib import Path

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from reservoir import ReservoirTransformer
from reservoir.datasets import (
    LYAPUNOV_EXPONENTS,
    forecast_windows,
    kuramoto_sivashinsky,
    lorenz63,
    lorenz96,
    mackey_glass,
    narma,
)
from reservoir.diagnostics import gradient_norm_by_lag
from reservoir.metrics import memory_capacity, memory_capacity_from_states, nrmse, valid_prediction_time

from .classification import CLASSIFIERS, run_classification
from .classification import PROTOCOL as CLASSIFICATION
from .classification import unavailable_reason as _japanese_vowels_unavailable
from .models import RNN_CLASSES, ReservoirPyESN, esn_params, make_model
from .ngrc import lorenz63_euler
from .online import PROTOCOL as ONLINE
from .online import run_online

ALL_TASKS = ("lorenz63", "mackey_glass", "lorenz96", "kuramoto_sivashinsky", "narma10",
             "memory_capacity", "lorenz63_ngrc", "lorenz63_ngrc_euler", "japanese_vowels",
             "online_readouts")

# Forecasting protocols. n_train steps are fitted after a spin-up of
# ``spinup`` steps (run through the model, left out of the readout); every
# test window gives ``context`` teacher-forced steps, then ``horizon`` steps
# of closed loop. Windows start ``stride`` steps apart on the trajectory that
# continues the training data.
FORECAST = {
    "lorenz63": dict(
        system="lorenz63", dt=0.01, threshold=0.3, n_train=10_000, spinup=200, context=200,
        normalise="component",
        quick=dict(n_windows=10, horizon=2000, stride=1000, n_seeds=1),
        full=dict(n_windows=50, horizon=3000, stride=1000, n_seeds=3),
    ),
    "lorenz96": dict(
        system="lorenz96", dt=0.01, threshold=0.5, n_train=10_000, spinup=200, context=200,
        normalise="pooled",
        quick=dict(n_windows=10, horizon=500, stride=500, n_seeds=1),
        full=dict(n_windows=50, horizon=1000, stride=500, n_seeds=2),
    ),
    "kuramoto_sivashinsky": dict(
        system="kuramoto_sivashinsky", dt=0.25, threshold=0.5, n_train=10_000, spinup=200,
        context=200, normalise="pooled",
        quick=dict(n_windows=10, horizon=600, stride=500, n_seeds=1),
        full=dict(n_windows=50, horizon=1500, stride=500, n_seeds=2),
    ),
    # Next-generation reservoir computing's protocol (Gauthier et al. 2021):
    # dt = 0.025, 200 warm-up steps, 400 training steps. On the package's
    # accurate data, and on data from forward Euler at the same step, the
    # low-order fixed-step integrator that Zhang & Cornelius (2023) warn of.
    "lorenz63_ngrc": dict(
        system="lorenz63", dt=0.025, threshold=0.3, n_train=400, spinup=200, context=200,
        normalise="component", one_step=True,
        quick=dict(n_windows=10, horizon=800, stride=400, n_seeds=1),
        full=dict(n_windows=50, horizon=1000, stride=400, n_seeds=3),
    ),
    "lorenz63_ngrc_euler": dict(
        system="lorenz63_euler", dt=0.025, threshold=0.3, n_train=400, spinup=200, context=200,
        normalise="component", one_step=True,
        quick=dict(n_windows=10, horizon=800, stride=400, n_seeds=1),
        full=dict(n_windows=50, horizon=1000, stride=400, n_seeds=3),
    ),
}

MACKEY_GLASS = dict(
    n_train=3000, spinup=1000, context=1000, free_run=84, stride=1084, n_one_step=3000,
    quick=dict(n_trials=20, n_seeds=1), full=dict(n_trials=100, n_seeds=3),
)

NARMA10 = dict(spinup=200, n_train=2000, n_test=2000, quick=dict(n_seeds=1), full=dict(n_seeds=3))

MEMORY = dict(n_timesteps=7200, washout=200, test_size=2000, input_range=(-0.8, 0.8),
              quick=dict(n_seeds=1), full=dict(n_seeds=3))

PROTOCOLS = {**{k: v for k, v in FORECAST.items()}, "mackey_glass": MACKEY_GLASS,
             "narma10": NARMA10, "memory_capacity": MEMORY, "japanese_vowels": CLASSIFICATION,
             "online_readouts": ONLINE}

# Which models a task runs. The memory capacity is a property of a fixed
# reservoir driven by i.i.d. input; a trained RNN has no such measure. The
# spatially extended systems use parallel reservoirs with shared weights, which
# ReservoirPy's Reservoir/Ridge nodes do not express.
TASK_MODELS = {
    "lorenz63": ("esn", "elman", "lstm", "gru", "reservoirpy"),
    "mackey_glass": ("esn", "elman", "lstm", "gru", "reservoirpy"),
    "lorenz96": ("esn", "elman", "lstm", "gru"),
    "kuramoto_sivashinsky": ("esn", "elman", "lstm", "gru"),
    "narma10": ("esn", "elman", "lstm", "gru", "reservoirpy"),
    "memory_capacity": ("esn", "reservoirpy"),
    "lorenz63_ngrc": ("esn", "nvar"),
    "lorenz63_ngrc_euler": ("esn", "nvar"),
    "japanese_vowels": CLASSIFIERS,
    "online_readouts": ("esn",),
}

# Models without a random draw: one fit stands for every seed.
DETERMINISTIC_MODELS = ("nvar",)


def unavailable_reason(task):
    """Why ``task`` cannot run here (its data cannot be found or fetched), or None."""
    if task == "japanese_vowels":
        return _japanese_vowels_unavailable()
    return None


# --------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------

_GENERATORS = {
    "lorenz63": lambda n, dt, seed: lorenz63(n, dt=dt, random_state=seed),
    "lorenz63_euler": lambda n, dt, seed: lorenz63_euler(n, dt=dt, random_state=seed),
    "lorenz96": lambda n, dt, seed: lorenz96(n, dimension=40, forcing=8.0, dt=dt, random_state=seed),
    "kuramoto_sivashinsky": lambda n, dt, seed: kuramoto_sivashinsky(
        n, domain_length=22.0, n_points=64, dt=dt, random_state=seed),
}


def cached(cache_dir, name, builder, **key):
    """``builder()``, stored as .npy under ``cache_dir`` keyed by ``name`` and ``key``."""
    if cache_dir is None:
        return builder()
    digest = hashlib.sha1(json.dumps(key, sort_keys=True).encode()).hexdigest()[:12]
    path = Path(cache_dir) / f"{name}-{digest}.npy"
    if path.exists():
        return np.load(path)
    data = builder()
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, data)
    return data


def normaliser(train, how):
    axis = 0 if how == "component" else None
    return train.mean(axis=axis), train.std(axis=axis)


def forecast_data(task, mode, seed, cache_dir=None, *, n_windows=None, horizon=None):
    """Normalised training series and test windows of a forecasting task."""
    spec = FORECAST[task]
    m = spec[mode]
    n_windows = n_windows or m["n_windows"]
    horizon = horizon or m["horizon"]
    n_fit = spec["spinup"] + spec["n_train"] + 1
    n_total = n_fit + (n_windows - 1) * m["stride"] + spec["context"] + horizon
    series = cached(cache_dir, spec["system"],
                    lambda: _GENERATORS[spec["system"]](n_total, spec["dt"], seed),
                    n=n_total, dt=spec["dt"], seed=seed)
    train, test = series[:n_fit], series[n_fit:]
    mean, std = normaliser(train, spec["normalise"])
    train, test = (train - mean) / std, (test - mean) / std
    contexts, targets = forecast_windows(test, n_windows=n_windows, horizon=horizon,
                                         warmup=spec["context"], stride=m["stride"])
    return dict(train=train, test=test, contexts=contexts, targets=targets, dt=spec["dt"],
                threshold=spec["threshold"], spinup=spec["spinup"],
                lyapunov_exponent=LYAPUNOV_EXPONENTS["lorenz63" if spec["system"] == "lorenz63_euler"
                                                     else spec["system"]].value)


# --------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------

class Backend:
    """Moves arrays to the chosen array library (NumPy or CuPy) and back."""

    def __init__(self, name="numpy"):
        self.name = name
        if name == "cupy":
            try:
                import cupy
            except ImportError as exc:
                raise RuntimeError(
                    "--backend cupy needs CuPy and a CUDA device: pip install 'reservoir-esn[cuda12]'"
                ) from exc
            self.xp = cupy
        elif name == "numpy":
            self.xp = np
        else:
            raise ValueError(f"backend must be 'numpy' or 'cupy', got {name!r}")

    def put(self, a):
        return self.xp.asarray(a)

    def get(self, a):
        return a.get() if hasattr(a, "get") and not isinstance(a, np.ndarray) else np.asarray(a)

    def sync(self):
        if self.name == "cupy":
            self.xp.cuda.Device().synchronize()


def _timed(fn, backend):
    start = time.perf_counter()
    out = fn()
    backend.sync()
    return out, time.perf_counter() - start


def _row(task, model, metric, values, *, fit_times, predict_times, params, better, **extra):
    values = np.asarray(values, dtype=float)
    return dict(
        task=task, model=model, metric=metric, better=better,
        mean=float(np.mean(values)), std=float(np.std(values)),
        median=float(np.median(values)), min=float(np.min(values)), max=float(np.max(values)),
        n=int(values.size), values=[float(v) for v in values],
        fit_time_s=float(np.mean(fit_times)) if len(fit_times) else None,
        predict_time_s=float(np.mean(predict_times)) if len(predict_times) else None,
        params={k: v for k, v in params.items() if _jsonable(v)}, **extra,
    )


def _jsonable(v):
    try:
        json.dumps(v)
    except TypeError:
        return False
    return True


def _model_backend(model_name, backend):
    # ReservoirPy is NumPy-only; its adapter takes host arrays.
    return Backend("numpy") if model_name == "reservoirpy" else backend


def _timed_fit(model, X, y, backend):
    """Fit and its wall time, without the RNNs' ConvergenceWarning (a fixed epoch budget is the protocol)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        _, fit_time = _timed(lambda: model.fit(X, y), backend)
    return fit_time


# --------------------------------------------------------------------------
# Forecasting tasks: valid prediction time
# --------------------------------------------------------------------------

def score_vpt(data, forecasts):
    return valid_prediction_time(
        data["targets"], forecasts, dt=data["dt"], lyapunov_exponent=data["lyapunov_exponent"],
        threshold=data["threshold"], y_train=data["train"])


def run_forecast(task, model_name, mode, seed, *, backend, cache_dir=None, artifacts=None,
                 progress=None, overrides=None):
    data = forecast_data(task, mode, seed, cache_dir)
    m = FORECAST[task][mode]
    b = _model_backend(model_name, backend)
    train = b.put(data["train"])
    contexts = b.put(data["contexts"])
    horizon = data["targets"].shape[1]
    vpts, fit_times, predict_times, reached, per_seed, one_step = [], [], [], [], [], []
    if model_name in ("esn", "reservoirpy", "nvar"):
        overrides = {"washout": data["spinup"], **(overrides or {})}
    params = {}
    n_seeds_run = 1 if model_name in DETERMINISTIC_MODELS else m["n_seeds"]
    for k in range(n_seeds_run):
        model, params = make_model(model_name, task, mode=mode, seed=seed + k, overrides=overrides)
        fit_time = _timed_fit(model, train[:-1], train[1:], b)
        # A forecast that diverges overflows; it is scored as invalid from that step.
        with np.errstate(over="ignore", invalid="ignore"):
            forecasts, predict_time = _timed(partial(model.forecast, horizon, context=contexts), b)
            forecasts = b.get(forecasts)
            vpt = score_vpt(data, forecasts)
        vpts.append(np.asarray(vpt.lyapunov_times))
        reached.append(np.asarray(vpt.reached_horizon))
        per_seed.append(float(np.mean(vpt.lyapunov_times)))
        fit_times.append(fit_time)
        predict_times.append(predict_time)
        if FORECAST[task].get("one_step"):
            # One step ahead over the test trajectory, from the zero state; the
            # first ``spinup`` predictions (the state forgetting its start) are not scored.
            test = data["test"]
            pred = np.asarray(b.get(model.predict(b.put(test[:-1]))))
            one_step.append(nrmse(test[1 + data["spinup"]:], pred[data["spinup"]:]))
        if artifacts is not None and k == 0:
            artifacts.setdefault("vpt", {}).setdefault(task, {})[model_name] = None
            artifacts.setdefault("forecast", {}).setdefault(task, {})[model_name] = dict(
                truth=data["targets"][0], forecast=forecasts[0], errors=vpt.errors[0],
                n_valid=int(np.asarray(vpt.n_valid_steps)[0]), dt=data["dt"],
                lyapunov_exponent=data["lyapunov_exponent"], threshold=data["threshold"])
            if model_name in RNN_CLASSES and task == "lorenz63":
                artifacts.setdefault("gradient", {})[model_name] = _gradient_norms(model, data)
        if progress is not None:
            progress.update(1)
    all_vpts = np.concatenate(vpts)
    if artifacts is not None:
        artifacts["vpt"][task][model_name] = all_vpts
    n_units = params.get("n_units")
    rows = [_row(task, model_name, f"VPT (Lyapunov times, eps={data['threshold']})", all_vpts,
                 fit_times=fit_times, predict_times=predict_times, params=params, better="higher",
                 per_seed_mean=per_seed, n_seeds=n_seeds_run,
                 n_windows=int(data["targets"].shape[0]),
                 horizon_lyapunov_times=horizon * data["dt"] * data["lyapunov_exponent"],
                 reached_horizon=int(np.sum(np.concatenate(reached))), n_units=n_units)]
    if one_step:
        rows.append(_row(task, model_name, "NRMSE one step", one_step, fit_times=fit_times,
                         predict_times=[], params=params, better="lower", n_seeds=n_seeds_run,
                         n_units=n_units))
    return rows


def _gradient_norms(model, data, n_series=8, length=300):
    """Gradient norm against lag for a fitted RNN, on training windows."""
    train = np.asarray(data["train"])
    starts = np.linspace(0, train.shape[0] - length - 2, n_series).astype(int)
    X = np.stack([train[s:s + length] for s in starts])
    Y = np.stack([train[s + 1:s + length + 1] for s in starts])
    lags, norms = gradient_norm_by_lag(model, X, Y)
    return dict(lags=lags, norms=norms)


# --------------------------------------------------------------------------
# Mackey-Glass: NRMSE at 84 free-running steps, and one step ahead
# --------------------------------------------------------------------------

def mackey_glass_data(mode, seed, cache_dir=None, n_trials=None):
    p = MACKEY_GLASS
    n_trials = n_trials or p[mode]["n_trials"]
    n_test = max((n_trials - 1) * p["stride"] + p["context"] + p["free_run"], p["n_one_step"] + 1)
    n_total = p["n_train"] + 1 + n_test
    # The history draws a constant from the seed, so that seeds give different trajectories.
    series = cached(cache_dir, "mackey_glass",
                    lambda: mackey_glass(n_total, tau=17.0, history=None, random_state=seed),
                    n=n_total, seed=seed)
    train, test = series[:p["n_train"] + 1], series[p["n_train"] + 1:]
    mean, std = train.mean(), train.std()
    train, test = (train - mean) / std, (test - mean) / std
    contexts, targets = forecast_windows(test, n_windows=n_trials, horizon=p["free_run"],
                                         warmup=p["context"], stride=p["stride"])
    return dict(train=train, test=test, contexts=contexts, targets=targets, spinup=p["spinup"])


def nrmse84(data, forecasts):
    """Jaeger's NRMSE84: sqrt(mean over trials of e(84)^2) with e the error / sigma(train).

    The per-step normalised errors come from ``valid_prediction_time``
    (its ``errors``, normalised by the training data's standard deviation);
    the threshold plays no part in them.
    """
    vpt = valid_prediction_time(data["targets"], forecasts, dt=1.0,
                                lyapunov_exponent=LYAPUNOV_EXPONENTS["mackey_glass"].value,
                                threshold=1.0, y_train=data["train"])
    e84 = vpt.errors[:, MACKEY_GLASS["free_run"] - 1]
    return float(np.sqrt(np.mean(e84 ** 2)))


def run_mackey_glass(task, model_name, mode, seed, *, backend, cache_dir=None, artifacts=None,
                     progress=None, overrides=None):
    p = MACKEY_GLASS
    data = mackey_glass_data(mode, seed, cache_dir)
    b = _model_backend(model_name, backend)
    train, contexts = b.put(data["train"]), b.put(data["contexts"])
    test = data["test"][:p["n_one_step"] + 1]
    if model_name in ("esn", "reservoirpy"):
        overrides = {"washout": data["spinup"], **(overrides or {})}
    scores84, scores1, fit_times, predict_times, params = [], [], [], [], {}
    for k in range(p[mode]["n_seeds"]):
        model, params = make_model(model_name, task, mode=mode, seed=seed + k, overrides=overrides)
        fit_time = _timed_fit(model, train[:-1], train[1:], b)
        with np.errstate(over="ignore", invalid="ignore"):
            forecasts, predict_time = _timed(partial(model.forecast, p["free_run"], context=contexts), b)
            scores84.append(nrmse84(data, b.get(forecasts)))
        # One step ahead over the test series, from the zero state; the first
        # ``spinup`` predictions (the state forgetting its start) are not scored.
        one_step = b.get(model.predict(b.put(test[:-1])))
        scores1.append(nrmse(test[1 + p["spinup"]:], one_step[p["spinup"]:].reshape(-1, 1)))
        fit_times.append(fit_time)
        predict_times.append(predict_time)
        if progress is not None:
            progress.update(1)
    common = dict(fit_times=fit_times, predict_times=predict_times, params=params, better="lower",
                  n_seeds=p[mode]["n_seeds"], n_units=params.get("n_units"))
    return [
        _row(task, model_name, "NRMSE84", scores84, n_trials=int(data["targets"].shape[0]),
             log10_mean=float(np.log10(np.sqrt(np.mean(np.square(scores84))))), **common),
        _row(task, model_name, "NRMSE one step", scores1, **common),
    ]


# --------------------------------------------------------------------------
# NARMA10
# --------------------------------------------------------------------------

def narma_data(seed):
    p = NARMA10
    n = p["spinup"] + p["n_train"] + p["n_test"] + 1
    u, y = narma(n, order=10, random_state=seed)
    n_fit = p["spinup"] + p["n_train"]
    u_mean, u_std = u[:n_fit].mean(), u[:n_fit].std()
    y_mean, y_std = y[1:n_fit + 1].mean(), y[1:n_fit + 1].std()
    # Input u(t), target y(t+1): the system's memory of 10 steps must be in the model.
    X, Y = (u[:-1] - u_mean) / u_std, (y[1:] - y_mean) / y_std
    return dict(X=X, Y=Y, n_fit=n_fit, spinup=p["spinup"])


def run_narma(task, model_name, mode, seed, *, backend, cache_dir=None, artifacts=None,
              progress=None, overrides=None):
    data = narma_data(seed)
    b = _model_backend(model_name, backend)
    n_fit = data["n_fit"]
    if model_name in ("esn", "reservoirpy"):
        overrides = {"washout": data["spinup"], **(overrides or {})}
    scores, fit_times, predict_times, params = [], [], [], {}
    for k in range(NARMA10[mode]["n_seeds"]):
        model, params = make_model(model_name, task, mode=mode, seed=seed + k, overrides=overrides)
        fit_time = _timed_fit(model, b.put(data["X"][:n_fit]), b.put(data["Y"][:n_fit]), b)
        # The test part continues the training run: predict over the whole input
        # from the zero state and score the steps after the training part.
        pred, predict_time = _timed(partial(model.predict, b.put(data["X"])), b)
        pred = np.asarray(b.get(pred)).reshape(-1, 1)
        scores.append(nrmse(data["Y"][n_fit:], pred[n_fit:]))
        fit_times.append(fit_time)
        predict_times.append(predict_time)
        if progress is not None:
            progress.update(1)
    return [_row(task, model_name, "NRMSE", scores, fit_times=fit_times,
                 predict_times=predict_times, params=params, better="lower",
                 n_seeds=NARMA10[mode]["n_seeds"], n_units=params.get("n_units"))]


# --------------------------------------------------------------------------
# Memory capacity
# --------------------------------------------------------------------------

_RESERVOIR_ARGS = ("n_units", "spectral_radius", "leak_rate", "input_scaling", "bias_scaling",
                   "density", "in_degree", "input_density", "topology", "distribution",
                   "activation", "dtype")


def run_memory(task, model_name, mode, seed, *, backend, cache_dir=None, artifacts=None,
               progress=None, overrides=None):
    p = MEMORY
    params = esn_params(task, mode)
    params.update(overrides or {})
    scores, times = [], []
    for k in range(p[mode]["n_seeds"]):
        start = time.perf_counter()
        if model_name == "esn":
            reservoir = ReservoirTransformer(
                **{a: v for a, v in params.items() if a in _RESERVOIR_ARGS}, random_state=seed + k)
            mc = memory_capacity(reservoir, n_timesteps=p["n_timesteps"], washout=p["washout"],
                                 test_size=p["test_size"], input_range=p["input_range"],
                                 random_state=seed + k)
        elif model_name == "reservoirpy":
            # The same reservoir as the ESN row, built with ReservoirPy's nodes.
            model = ReservoirPyESN(**{**params, "alpha": 1e-8, "washout": p["washout"],
                                      "random_state": seed + k})
            # The input memory_capacity draws for this seed.
            u = np.random.default_rng(seed + k).uniform(*p["input_range"], (p["n_timesteps"], 1))
            states = model.states(u)
            mc = memory_capacity_from_states(states, u, max_delay=2 * params["n_units"],
                                             washout=p["washout"], test_size=p["test_size"])
        else:
            raise ValueError(f"memory capacity is not defined for {model_name!r}")
        scores.append(mc)
        times.append(time.perf_counter() - start)
        if progress is not None:
            progress.update(1)
    return [_row(task, model_name, f"MC (max delay {2 * params['n_units']})", scores,
                 fit_times=times, predict_times=[], params=params, better="higher",
                 n_seeds=p[mode]["n_seeds"], n_units=params.get("n_units"))]


RUNNERS = {
    "lorenz63_ngrc": run_forecast,
    "lorenz63_ngrc_euler": run_forecast,
    "japanese_vowels": run_classification,
    "online_readouts": run_online,
    "lorenz63": run_forecast,
    "lorenz96": run_forecast,
    "kuramoto_sivashinsky": run_forecast,
    "mackey_glass": run_mackey_glass,
    "narma10": run_narma,
    "memory_capacity": run_memory,
}


def n_seeds(task, mode, model=None):
    if model in DETERMINISTIC_MODELS:
        return 1
    return PROTOCOLS[task][mode]["n_seeds"]


def run_task(task, model_name, mode, seed, **kwargs):
    """Result rows of ``model_name`` on ``task``."""
    return RUNNERS[task](task, model_name, mode, seed, **kwargs)
