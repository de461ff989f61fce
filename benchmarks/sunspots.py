"""Monthly sunspot numbers: a real, noisy series, forecast a year ahead from 35 origins.

``python -m benchmarks sunspots [--out DIR]``

The data are pmdarima's copy of the monthly mean sunspot numbers (January
1749 to December 1983). Every model is fitted on the training months only,
1749 to 1948 (2400 months), and then, without refitting, forecasts the 12
months after each of 35 yearly origins (January 1949, 1950, ..., 1983),
given the series up to the origin. The score is the RMSE over all 420
forecast months in the series' own units.

Models: persistence (the last month repeated); statsmodels' ARIMA(p, 0, q)
with p, q in 0..3 chosen by AIC on the training months, its parameters then
held and applied to each origin's history, on the raw months and on their
square roots (which steady the variance of counts; forecasts squared back); :class:`reservoir.AutoESNForecaster`
with ``horizon=12`` (the task's horizon is all it is told), fitted on the raw
months; and :class:`reservoir.ESNRegressor` with ``washout=100`` on the series
standardised by its training part.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np

from reservoir import AutoESNForecaster, ESNRegressor

from .report import machine_description

N_TRAIN = 2400          # January 1749 to December 1948
N_ORIGINS = 35          # January 1949 to January 1983
HORIZON = 12


def unavailable_reason():
    try:
        import pmdarima  # noqa: F401
        import statsmodels  # noqa: F401
    except ImportError as exc:
        return f"needs pmdarima (the data) and statsmodels (ARIMA): {exc}"
    return None


def load_series():
    from pmdarima.datasets import load_sunspots

    return np.asarray(load_sunspots(as_series=False), dtype=np.float64)


def origins():
    return [N_TRAIN + 12 * k for k in range(N_ORIGINS)]


def rmse(truth, forecast):
    return float(np.sqrt(np.mean((np.asarray(forecast) - np.asarray(truth)) ** 2)))


def persistence_forecasts(series):
    return np.stack([np.full(HORIZON, series[o - 1]) for o in origins()])


def arima_forecasts(series, transform=None):
    """ARIMA(p, 0, q) by AIC on the training months, applied without refitting at each origin.

    ``transform="sqrt"`` fits the square roots and squares the forecasts back.
    """
    from statsmodels.tsa.arima.model import ARIMA

    if transform == "sqrt":
        forecasts, order = arima_forecasts(np.sqrt(series))
        return np.clip(forecasts, 0, None) ** 2, order
    train = series[:N_TRAIN]
    best = None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for p in range(4):
            for q in range(4):
                try:
                    fit = ARIMA(train, order=(p, 0, q)).fit()
                except (ValueError, np.linalg.LinAlgError):
                    continue
                if best is None or fit.aic < best[1].aic:
                    best = ((p, 0, q), fit)
        order, fit = best
        out = [fit.apply(series[:o]).forecast(HORIZON) for o in origins()]
    return np.stack(out), order


def auto_forecasts(series, seed):
    train = series[:N_TRAIN]
    auto = AutoESNForecaster(horizon=HORIZON, random_state=seed).fit(train)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = [auto.forecast(HORIZON, context=series[:o]) for o in origins()]
    return np.stack(out), auto


def esn_forecasts(series, seed):
    train = series[:N_TRAIN]
    mean, std = train.mean(), train.std()
    z = ((series - mean) / std)[:, None]
    esn = ESNRegressor(washout=100, random_state=seed).fit(z[:N_TRAIN - 1], z[1:N_TRAIN])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = [esn.forecast(HORIZON, context=z[:o])[:, 0] * std + mean for o in origins()]
    return np.stack(out)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks sunspots", description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=0, help="seed of the reservoir models (default: 0)")
    parser.add_argument("--out", type=Path, default=Path("benchmark-results"),
                        help="output directory for sunspots.json (default: benchmark-results/)")
    args = parser.parse_args(argv)
    reason = unavailable_reason()
    if reason is not None:
        print(f"skipped sunspots: {reason}")
        return 0
    series = load_series()
    truth = np.stack([series[o:o + HORIZON] for o in origins()])
    rows, extra = {}, {}
    for name in ("persistence", "arima", "arima_sqrt", "auto", "esn"):
        t0 = time.perf_counter()
        if name == "persistence":
            forecasts = persistence_forecasts(series)
        elif name.startswith("arima"):
            forecasts, order = arima_forecasts(series, "sqrt" if name == "arima_sqrt" else None)
            extra[f"{name}_order"] = list(order)
        elif name == "auto":
            forecasts, auto = auto_forecasts(series, args.seed)
            extra["auto_best_params"] = auto.best_params_
            extra["auto_search_time"] = auto.search_time_
        else:
            forecasts = esn_forecasts(series, args.seed)
        elapsed = time.perf_counter() - t0
        finite = np.all(np.isfinite(forecasts))
        rows[name] = dict(rmse=rmse(truth, forecasts) if finite else float("nan"), seconds=elapsed)
        print(f"{name:<12} RMSE {rows[name]['rmse']:6.2f}   ({elapsed:.1f} s)", flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "sunspots.json"
    path.write_text(json.dumps(dict(models=rows, **extra, n_train=N_TRAIN, origins=N_ORIGINS,
                                    horizon=HORIZON, machine=machine_description()),
                               indent=1, default=float))
    print(f"ARIMA orders by AIC: {tuple(extra['arima_order'])} (raw), "
          f"{tuple(extra['arima_sqrt_order'])} (square roots); AutoESNForecaster chose "
          f"{extra['auto_best_params']}; results in {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
