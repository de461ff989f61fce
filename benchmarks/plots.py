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


# One marker shape per model, so that VPT markers stay distinguishable where
# colours are hard to tell apart or two models share a VPT.
MARKERS = {"esn": "o", "reservoirpy": "s", "elman": "^", "lstm": "D", "gru": "v"}
_FALLBACK_MARKERS = "PX*hp<>"

# The models and tasks of the NG-RC protocol and of sequence classification.
COLORS.update({"nvar": "tab:brown", "bidirectional": "tab:cyan", "deep": "tab:olive",
               "ensemble": "tab:pink"})
MARKERS.update({"nvar": "X", "bidirectional": "P", "deep": "h", "ensemble": "*"})
TITLES.update({"lorenz63_ngrc": "Lorenz-63, NG-RC protocol (dt = 0.025, accurate data)",
               "lorenz63_ngrc_euler": "Lorenz-63, NG-RC protocol (dt = 0.025, forward Euler data)",
               "japanese_vowels": "JapaneseVowels (UEA/UCR archive)"})


def _marker(model, index):
    return MARKERS.get(model, _FALLBACK_MARKERS[index % len(_FALLBACK_MARKERS)])


def forecast_plot(path, task, runs):
    """Truth against each model's forecast of the first test window, VPT marked.

    Each model's valid prediction time is a dashed line in its colour with
    its own marker shape at the top of every panel and where its error
    crosses the threshold (markers of equal VPTs are stacked, not hidden);
    the legend, outside the axes, gives each model's VPT.
    """
    models = list(runs)
    first = runs[models[0]]
    n_components = min(first["truth"].shape[1], 3)
    fig, axes = plt.subplots(n_components + 1, 1, figsize=(11, 2.1 * (n_components + 1)),
                             sharex=True, layout="constrained")
    lt = np.arange(1, first["truth"].shape[0] + 1) * first["dt"] * first["lyapunov_exponent"]
    labels = "xyz" if task == "lorenz63" else [f"site {i}" for i in range(n_components)]
    vpts = {m: runs[m]["n_valid"] * first["dt"] * first["lyapunov_exponent"] for m in models}
    # Markers of models with the same VPT (to the plot's resolution) are stacked upwards.
    resolution = 0.005 * lt[-1]
    level = {}
    for i, m in enumerate(models):
        level[m] = sum(abs(vpts[m] - vpts[o]) < resolution for o in models[:i])
    handles = []
    for i in range(n_components):
        ax = axes[i]
        (truth,) = ax.plot(lt, first["truth"][:, i], color="black", lw=1.6, label="truth")
        for m in models:
            ax.plot(lt, runs[m]["forecast"][:, i], color=COLORS.get(m), lw=0.9, alpha=0.85)
        for k, m in enumerate(models):
            ax.axvline(vpts[m], color=COLORS.get(m), ls="--", lw=1)
            ax.plot(vpts[m], 0.93 - 0.1 * level[m], _marker(m, k), color=COLORS.get(m), ms=6,
                    mec="black", mew=0.5, transform=ax.get_xaxis_transform())
        ax.set_ylabel(f"{labels[i]} (normalised)")
        if i == 0:
            handles.append(truth)
    ax = axes[-1]
    for k, m in enumerate(models):
        ax.semilogy(lt, np.maximum(runs[m]["errors"], 1e-8), color=COLORS.get(m), lw=1)
        (h,) = ax.plot([vpts[m]], [first["threshold"] * 2.0 ** level[m]], _marker(m, k),
                       color=COLORS.get(m), ms=6,
                       mec="black", mew=0.5, ls="--", lw=1,
                       label=f"{m}: VPT {vpts[m]:.2f}")
        handles.append(h)
    threshold = ax.axhline(first["threshold"], color="black", ls=":", lw=1,
                           label=f"threshold eps = {first['threshold']}")
    handles.append(threshold)
    ax.set_ylabel("normalised error e(t)")
    ax.set_xlabel("time (Lyapunov times)")
    fig.align_ylabels(axes)
    fig.legend(handles=handles, loc="outside right upper", fontsize=8,
               title="dashed lines and markers:\nvalid prediction time", title_fontsize=8)
    fig.suptitle(f"{TITLES.get(task, task)}: closed-loop forecast of the first test window")
    fig.savefig(path, dpi=110)
    plt.close(fig)


def vpt_distribution_plot(path, vpts):
    """Box plots of the valid prediction time over test windows and seeds, per task and model.

    Boxes span the quartiles; the black line is the median, the white
    triangle the mean, dots single windows: all explained in the legend,
    below the panels.
    """
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    tasks = [t for t in vpts if vpts[t]]
    fig, axes = plt.subplots(1, len(tasks), figsize=(4.6 * len(tasks), 4.4), squeeze=False,
                             layout="constrained")
    mean_style = dict(marker="^", markerfacecolor="white", markeredgecolor="black", markersize=7)
    for ax, task in zip(axes[0], tasks, strict=True):
        models = list(vpts[task])
        data = [np.asarray(vpts[task][m]) for m in models]
        box = ax.boxplot(data, patch_artist=True, showmeans=True, meanprops=mean_style,
                         medianprops=dict(color="black", lw=1.5), flierprops=dict(marker=""))
        ax.set_xticks(range(1, len(models) + 1), models, rotation=30 if len(models) > 4 else 0)
        for patch, m in zip(box["boxes"], models, strict=True):
            patch.set_facecolor(COLORS.get(m, "grey"))
            patch.set_alpha(0.5)
        for i, d in enumerate(data, start=1):
            jitter = np.random.default_rng(i).uniform(-0.12, 0.12, d.size)
            ax.plot(i + jitter, d, ".", color="black", ms=3, alpha=0.5)
        ax.set_title(TITLES.get(task, task), fontsize=10)
        ax.grid(axis="y", alpha=0.3)
    axes[0, 0].set_ylabel("valid prediction time (Lyapunov times)")
    legend = [Patch(facecolor="lightgrey", edgecolor="black",
                    label="quartiles (box), 1.5 IQR (whiskers)"),
              Line2D([], [], color="black", lw=1.5, label="median"),
              Line2D([], [], ls="", **mean_style, label="mean"),
              Line2D([], [], ls="", marker=".", color="black", alpha=0.5,
                     label="one test window of one seed")]
    fig.legend(handles=legend, loc="outside lower center", ncol=4, fontsize=8)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def gradient_plot(path, gradients):
    """Norm of dL_T/dh(T - lag) against the lag, for the fitted RNNs on Lorenz-63."""
    fig, ax = plt.subplots(figsize=(8, 4), layout="constrained")
    for k, (m, g) in enumerate(gradients.items()):
        ax.semilogy(g["lags"], np.maximum(g["norms"], 1e-300), color=COLORS.get(m), label=m,
                    marker=_marker(m, k), markevery=max(1, len(g["lags"]) // 8), ms=5)
    ax.set_xlabel("lag (time steps back from the loss)")
    ax.set_ylabel("||dL_T / dh(T - lag)||")
    ax.set_title("Gradient norm against lag (fitted RNNs, Lorenz-63 training windows)", fontsize=10)
    ax.grid(alpha=0.3, which="both")
    fig.legend(loc="outside right upper", fontsize=8)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def confusion_matrix_plot(path, task, runs):
    """The test set's confusion matrix of each classifier, true class by row.

    ``runs`` maps a model to ``dict(matrix, labels, accuracy, n_seeds)``;
    the counts are summed over the model's seeds. Each panel is drawn by
    scikit-learn's ``ConfusionMatrixDisplay``, its title giving the model
    and its mean accuracy.
    """
    from sklearn.metrics import ConfusionMatrixDisplay

    models = list(runs)
    n_cols = min(4, len(models))
    n_rows = -(-len(models) // n_cols)
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(3.4 * n_cols, 3.4 * n_rows), squeeze=False,
                             layout="constrained")
    for ax, m in zip(axes.ravel(), models, strict=False):
        run = runs[m]
        ConfusionMatrixDisplay(run["matrix"], display_labels=run["labels"]).plot(
            ax=ax, colorbar=False, cmap="Blues", values_format="d")
        seeds = f", {run['n_seeds']} seeds" if run["n_seeds"] > 1 else ""
        ax.set_title(f"{m}: accuracy {run['accuracy']:.3f}{seeds}", fontsize=9)
        ax.tick_params(labelsize=7)
        ax.set_xlabel("predicted", fontsize=8)
        ax.set_ylabel("true", fontsize=8)
    for ax in axes.ravel()[len(models):]:
        ax.set_visible(False)
    fig.suptitle(f"{TITLES.get(task, task)}: test-set confusion matrices")
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
    for task, runs in artifacts.get("confusion", {}).items():
        if runs:
            name = f"{task}_confusion.png"
            confusion_matrix_plot(out_dir / name, task, runs)
            written.append(name)
    return written
