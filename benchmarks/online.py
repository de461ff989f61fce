"""The online-readout task: recursive least squares and FORCE against their targets.

Three measurements, each over reservoir seeds seed, seed + 1, ...:

* **RLS = ridge.** On NARMA10 (stationary), the coefficients of
  ``ESNRegressor(readout=RLSReadout(alpha))`` against those of the batch ridge
  readout with the same penalty and features (no intercept, so that both
  solve the same problem): relative difference ||w_RLS - w_ridge|| / ||w_ridge||.
* **Tracking a change.** Input u ~ U[-1, 1]; the target is u(t - 2) for 2000
  steps, then 0.3 - 0.5 u(t - 5). Both models are trained by ``partial_fit``
  on the stream up to 500 steps after the change, then predict the next
  1000 steps (continuing the stream); NRMSE of RLS with forgetting factor
  0.98 and of the ridge readout of the whole stream.
* **FORCE.** A pattern generator without input (500 units, spectral radius
  1.5, leak rate 0.3, feedback 1, no bias) learns
  sin(2 pi t / 100) + 0.5 sin(2 pi t / 50) + 0.25 sin(2 pi t / 25) by FORCE
  for 3000 steps (100 washout), then runs free for 2000 steps: NRMSE of the
  free run against the continued target.
"""

from __future__ import annotations

import time

import numpy as np

PROTOCOL = dict(quick=dict(n_seeds=1), full=dict(n_seeds=12))

FORCE_PARAMS = dict(n_units=500, spectral_radius=1.5, leak_rate=0.3, bias_scaling=0.0,
                    feedback_scaling=1.0, washout=100)
FORCE_STEPS = dict(train=3000, free=2000)
RLS_PARAMS = dict(n_units=50, washout=100, alpha=1e-4, readout_features=("input", "state"))
CHANGE_PARAMS = dict(n_units=100, washout=50, spectral_radius=0.9, input_scaling=0.5)


def force_target(t):
    return (np.sin(2 * np.pi * t / 100) + 0.5 * np.sin(2 * np.pi * t / 50)
            + 0.25 * np.sin(2 * np.pi * t / 25))


def _rls_against_ridge(seed):
    from reservoir import ESNRegressor, RLSReadout
    from reservoir.datasets import narma

    u, y = narma(1500, random_state=0)
    X, Y = u[:-1], y[1:]
    batch = ESNRegressor(**RLS_PARAMS, random_state=seed).fit(X, Y)
    online = ESNRegressor(**RLS_PARAMS, readout=RLSReadout(alpha=RLS_PARAMS["alpha"]),
                          random_state=seed).fit(X, Y)
    return float(np.linalg.norm(online.readout_.coef_ - batch.readout_.coef_)
                 / np.linalg.norm(batch.readout_.coef_))


def _tracking(seed):
    from reservoir import ESNRegressor, RLSReadout
    from reservoir.metrics import nrmse

    rng = np.random.default_rng(0)
    u = rng.uniform(-1, 1, (3500, 1))
    y = np.roll(u, 2, axis=0)
    y[2000:] = 0.3 - 0.5 * np.roll(u, 5, axis=0)[2000:]
    out = {}
    for name, readout in (("rls", RLSReadout(alpha=1e-2, forgetting_factor=0.98)), ("ridge", None)):
        model = ESNRegressor(**CHANGE_PARAMS, readout=readout, random_state=seed)
        model.partial_fit(u[:2000], y[:2000]).partial_fit(u[2000:2500], y[2000:2500])
        out[name] = float(nrmse(y[2500:], model.predict(u[2500:], initial_state="continue")))
    return out


def _force(seed):
    from reservoir import ESNRegressor, FORCEReadout
    from reservoir.metrics import nrmse

    T, free = FORCE_STEPS["train"], FORCE_STEPS["free"]
    model = ESNRegressor(**FORCE_PARAMS, readout=FORCEReadout(alpha=1.0), random_state=seed)
    start = time.perf_counter()
    model.fit(np.zeros((T, 1)), force_target(np.arange(T)))
    fit_time = time.perf_counter() - start
    start = time.perf_counter()
    out = model.predict(np.zeros((free, 1)), initial_state="continue")
    predict_time = time.perf_counter() - start
    return float(nrmse(force_target(T + np.arange(free)), out)), fit_time, predict_time


def run_online(task, model_name, mode, seed, *, backend, cache_dir=None, artifacts=None,
               progress=None, overrides=None):
    from .tasks import _row

    n = PROTOCOL[mode]["n_seeds"]
    rls, tracking_rls, tracking_ridge, force, fit_times, predict_times = [], [], [], [], [], []
    for k in range(n):
        rls.append(_rls_against_ridge(seed + k))
        tracked = _tracking(seed + k)
        tracking_rls.append(tracked["rls"])
        tracking_ridge.append(tracked["ridge"])
        error, fit_time, predict_time = _force(seed + k)
        force.append(error)
        fit_times.append(fit_time)
        predict_times.append(predict_time)
        if progress is not None:
            progress.update(1)
    common = dict(predict_times=[], better="lower", n_seeds=n)
    return [
        _row(task, "esn", "RLS vs ridge coefficients, relative", rls, fit_times=[],
             params=dict(RLS_PARAMS, readout="RLSReadout(alpha=1e-4)"), n_units=50, **common),
        _row(task, "esn", "NRMSE 500 steps after a change, RLS (lambda 0.98)", tracking_rls,
             fit_times=[], params=dict(CHANGE_PARAMS, readout="RLSReadout(alpha=1e-2, "
                                                            "forgetting_factor=0.98)"),
             n_units=100, **common),
        _row(task, "esn", "NRMSE 500 steps after a change, ridge", tracking_ridge, fit_times=[],
             params=dict(CHANGE_PARAMS, readout="RidgeReadout"), n_units=100, **common),
        _row(task, "esn", "FORCE closed loop NRMSE, 2000 steps", force, fit_times=fit_times,
             predict_times=predict_times, params=dict(FORCE_PARAMS, readout="FORCEReadout()"),
             better="lower", n_seeds=n, n_units=500,
             n_meeting_target=int(np.sum(np.asarray(force) <= 0.1))),
    ]
