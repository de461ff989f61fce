"""Figures of a benchmark run (matplotlib, Agg backend: files only, no display)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

COLORS = {"esn": "tab:blue", "reservoirpy": "tab:purple", "elman": "tab:orange", "lstm": "tab:green",
          "gru": "tab:red"}
TITLES = {"lorenz63": "Lorenz-63", "lorenz96": "Lorenz-96 (D=40, F=8)",
          "kuramoto_sivashinsky": "Kuramoto-Sivashinsky (L=22)"}


def forecast_plot(path, task, runs):
    """Truth against each model's forecast of the first test window, VPT marked."""
    models = list(runs)
    first = runs[models[0]]
    n_components = min(first["truth"].shape[1], 3)
    fig, axes = plt.subplots(n_components + 1, 1, figsize=(10, 2.0 * (n_components + 1)), sharex=True)
    lt = np.arange(1, first["truth"].shape[0] + 1) * first["dt"] * first["lyapunov_exponent"]
    labels = "xyz" if task == "lorenz63" else [f"component {i}" for i in range(n_components)]
    for i in range(n_components):
        ax = axes[i]
        ax.plot(lt, first["truth"][:, i], color="black", lw=1.6, label="truth")
        for m in models:
            ax.plot(lt, runs[m]["forecast"][:, i], color=COLORS.get(m), lw=0.9, alpha=0.85, label=m)
        ax.set_ylabel(f"{labels[i]} (normalised)")
    for m in models:
        vpt = runs[m]["n_valid"] * first["dt"] * first["lyapunov_exponent"]
        for ax in axes[:n_components]:
            ax.axvline(vpt, color=COLORS.get(m), ls="--", lw=1)
    axes[0].legend(loc="upper right", ncol=len(models) + 1, fontsize=8)
    ax = axes[-1]
    for m in models:
        ax.semilogy(lt, np.maximum(runs[m]["errors"], 1e-8), color=COLORS.get(m), lw=1, label=m)
    ax.axhline(first["threshold"], color="black", ls=":", lw=1, label=f"eps = {first['threshold']}")
    ax.set_ylabel("normalised error e(t)")
    ax.set_xlabel("time (Lyapunov times); dashed lines: valid prediction time")
    ax.legend(loc="lower right", fontsize=8)
    fig.suptitle(f"{TITLES.get(task, task)}: closed-loop forecast of the first test window")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def vpt_distribution_plot(path, vpts):
    """Box plots of the valid prediction time over test windows and seeds, per task and model."""
    tasks = [t for t in vpts if vpts[t]]
    fig, axes = plt.subplots(1, len(tasks), figsize=(4.5 * len(tasks), 4), squeeze=False)
    for ax, task in zip(axes[0], tasks, strict=True):
        models = list(vpts[task])
        data = [np.asarray(vpts[task][m]) for m in models]
        box = ax.boxplot(data, patch_artist=True, showmeans=True)
        ax.set_xticks(range(1, len(models) + 1), models)
        for patch, m in zip(box["boxes"], models, strict=True):
            patch.set_facecolor(COLORS.get(m, "grey"))
            patch.set_alpha(0.5)
        for i, d in enumerate(data, start=1):
            jitter = np.random.default_rng(i).uniform(-0.12, 0.12, d.size)
            ax.plot(i + jitter, d, ".", color="black", ms=3, alpha=0.5)
        ax.set_title(TITLES.get(task, task))
        ax.set_ylabel("valid prediction time (Lyapunov times)")
        ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def gradient_plot(path, gradients):
    """Norm of dL_T/dh(T - lag) against the lag, for the fitted RNNs on Lorenz-63."""
    fig, ax = plt.subplots(figsize=(7, 4))
    for m, g in gradients.items():
        ax.semilogy(g["lags"], np.maximum(g["norms"], 1e-300), color=COLORS.get(m), label=m)
    ax.set_xlabel("lag (time steps back from the loss)")
    ax.set_ylabel("||dL_T / dh(T - lag)||")
    ax.set_title("Gradient norm against lag (fitted RNNs, Lorenz-63 training windows)")
    ax.grid(alpha=0.3, which="both")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def make_plots(out_dir, artifacts):
    """Write every figure the artifacts allow; returns the file names written."""
    out_dir = Path(out_dir)
    written = []
    for task, runs in artifacts.get("forecast", {}).items():
        if runs:
            name = f"{task}_forecast.png"
            forecast_plot(out_dir / name, task, runs)
            written.append(name)
    vpts = {t: {m: v for m, v in d.items() if v is not None} for t, d in artifacts.get("vpt", {}).items()}
    if any(vpts.values()):
        vpt_distribution_plot(out_dir / "vpt_distribution.png", vpts)
        written.append("vpt_distribution.png")
    if artifacts.get("gradient"):
        gradient_plot(out_dir / "gradient_norm_by_lag.png", artifacts["gradient"])
        written.append("gradient_norm_by_lag.png")
    return written
