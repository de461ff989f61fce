"""Results as a table on stdout and a JSON file with the machine that produced them."""

from __future__ import annotations

import datetime
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

import numpy as np


def _cpu_model():
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _memory_gib():
    try:
        pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        return round(pages / 2**30, 1)
    except (ValueError, OSError, AttributeError):
        return None


def _gpu():
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=name,memory.total", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def _version(module):
    try:
        return __import__(module).__version__
    except Exception:  # an optional package that is absent or broken
        return None


def _git_commit():
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                             timeout=10, check=False, cwd=Path(__file__).resolve().parent)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def machine_description():
    """CPU, cores, memory, GPU and the versions of the libraries that did the work."""
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "usable_cores": usable,
        "memory_gib": _memory_gib(),
        "gpu": _gpu(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scipy": _version("scipy"),
        "scikit-learn": _version("sklearn"),
        "reservoir": _version("reservoir"),
        "reservoirpy": _version("reservoirpy"),
        "cupy": _version("cupy") if "cupy" in sys.modules else None,
        "git_commit": _git_commit(),
    }


def _fmt(value):
    if value is None:
        return "-"
    if value == 0:
        return "0"
    magnitude = abs(value)
    if magnitude >= 1000 or magnitude < 0.01:
        return f"{value:.2e}"
    return f"{value:.3g}" if magnitude < 10 else f"{value:.1f}"


def format_table(rows):
    """A fixed-width table: task, model, metric, mean +- std (n), training and prediction time."""
    header = ("task", "model", "units", "metric", "mean", "+- std", "n", "train s", "predict s")
    lines = [header]
    for r in rows:
        lines.append((
            r["task"], r["model"], str(r.get("n_units") or "-"), r["metric"], _fmt(r["mean"]),
            _fmt(r["std"]), str(r["n"]), _fmt(r["fit_time_s"]), _fmt(r["predict_time_s"]),
        ))
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    numeric = {2, 4, 5, 6, 7, 8}
    out = []
    for j, line in enumerate(lines):
        cells = [c.rjust(w) if i in numeric else c.ljust(w)
                 for i, (c, w) in enumerate(zip(line, widths, strict=True))]
        out.append("  ".join(cells).rstrip())
        if j == 0:
            out.append("  ".join("-" * w for w in widths))
    return "\n".join(out)


def write_json(path, *, rows, mode, argv, seed, backend, started, elapsed, plots, skipped):
    doc = {
        "command": "python -m benchmarks " + " ".join(argv),
        "mode": mode,
        "seed": seed,
        "backend": backend,
        "started": started,
        "finished": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "elapsed_s": round(elapsed, 1),
        "machine": machine_description(),
        "results": rows,
        "skipped": skipped,
        "plots": plots,
    }
    Path(path).write_text(json.dumps(doc, indent=1) + "\n")
    return doc
