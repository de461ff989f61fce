"""The NG-RC and classification tasks of the benchmark suite: data, skipping, rows and figures."""

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def bench_extra():
    """The suite's command line and figures need the bench extra (tqdm, matplotlib)."""
    pytest.importorskip("matplotlib")
    pytest.importorskip("tqdm")


def test_euler_data_follow_the_euler_map_by_hand():
    from benchmarks.ngrc import lorenz63_euler

    s = lorenz63_euler(50, dt=0.025, random_state=3, transient=10)
    x, y, z = s[:-1].T
    step = np.column_stack([10 * (y - x), x * (28 - z) - y, x * y - 8 / 3 * z])
    np.testing.assert_allclose(s[1:], s[:-1] + 0.025 * step, rtol=1e-13, atol=1e-12)


def test_classification_task_skips_with_the_reason_when_the_data_cannot_be_found(tmp_path,
                                                                                bench_extra):
    """Offline, without aeon or sktime and with an empty cache: a skip line, exit code 0."""
    if any(importlib.util.find_spec(name) for name in ("aeon", "sktime")):
        pytest.skip("aeon or sktime is installed: its shipped copy of the data would be found")
    refused = "http://127.0.0.1:9"
    env = dict(os.environ, RESERVOIR_DATA=str(tmp_path / "empty"), HTTP_PROXY=refused,
               HTTPS_PROXY=refused, http_proxy=refused, https_proxy=refused, NO_PROXY="",
               no_proxy="")
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks", "quick", "--tasks", "japanese_vowels", "--models",
         "esn,lstm", "--out", str(tmp_path / "out"), "--no-progress"],
        cwd=ROOT, capture_output=True, text=True, timeout=120, env=env, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "skipped japanese_vowels (esn, lstm): JapaneseVowels data unavailable" in proc.stdout


def _fake_japanese_vowels():
    """Random utterances with the problem's shape, the speaker written into the means."""
    rng = np.random.default_rng(0)

    def part(n):
        labels = np.array([str(1 + i % 9) for i in range(n)])
        X = [rng.standard_normal((7 + i % 23, 12)) + 0.8 * int(labels[i]) * np.eye(12)[int(labels[i])]
             for i in range(n)]
        return X, labels

    X_train, y_train = part(270)
    X_test, y_test = part(370)
    return X_train, y_train, X_test, y_test


def test_classification_rows_confusion_matrix_and_plot(tmp_path, monkeypatch, bench_extra):
    from benchmarks import classification
    from benchmarks.plots import make_plots
    from benchmarks.tasks import Backend, run_task

    monkeypatch.setattr(classification, "_raw_data", _fake_japanese_vowels)
    artifacts = {}
    (row,) = run_task("japanese_vowels", "esn", "quick", 0, backend=Backend(), artifacts=artifacts)
    assert (row["task"], row["model"], row["metric"]) == ("japanese_vowels", "esn", "test accuracy")
    assert row["mean"] > 0.9 and row["n"] == 1 and row["n_test"] == 370
    assert row["n_errors"] == [round((1 - row["mean"]) * 370)]
    run = artifacts["confusion"]["japanese_vowels"]["esn"]
    assert run["matrix"].sum() == 370 and run["matrix"].trace() == 370 - row["n_errors"][0]
    written = make_plots(tmp_path, artifacts)
    assert written == ["japanese_vowels_confusion.png"]
    assert (tmp_path / written[0]).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_every_classifier_of_the_task_is_an_estimator_that_clones_with_its_seed():
    from sklearn.base import clone

    from benchmarks.classification import CLASSIFIERS
    from benchmarks.models import make_model

    for name in CLASSIFIERS:
        model, _ = make_model(name, "japanese_vowels", mode="quick", seed=3)
        params, cloned = model.get_params(), clone(model).get_params()
        assert params["random_state"] == 3
        for key, value in params.items():
            if hasattr(value, "get_params"):
                assert cloned[key].get_params() == value.get_params()
            else:
                assert cloned[key] == value
