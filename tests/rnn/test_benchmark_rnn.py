"""The recurrent benchmark's data and commands (benchmarks/rnn.py), on tiny sizes."""

from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def bench(monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT))
    import benchmarks.rnn

    return benchmarks.rnn


def test_stream_recall_targets_are_the_inputs_lag_steps_back(bench):
    X, y = bench.stream_recall(50, 7, seed=3)
    assert X.shape == (50, 1) and y.shape == (50,)
    np.testing.assert_array_equal(y[7:], X[:-7, 0])
    assert np.all(np.abs(X) <= 1)


def test_marked_recall_holds_the_flagged_value(bench):
    X, y = bench.marked_recall(20, 5, seed=0)
    assert X.shape == (20, 6, 2) and y.shape == (20, 6)
    np.testing.assert_array_equal(X[:, :, 1], np.eye(6)[[0] * 20])   # the flag, at step 0 only
    np.testing.assert_array_equal(y, np.repeat(X[:, :1, 0], 6, axis=1))
    assert np.abs(X[:, 1:, 0]).max() > 1.0 >= np.abs(X[:, 0, 0]).max()   # larger distractors


def test_rtrl_cost_rows(bench, capsys):
    rows = bench.run_rtrl_cost(sizes=(3,), n_epochs=1)
    assert [(r[0], r[1]) for r in rows] == [("ElmanRegressor", 3), ("IndRNNRegressor", 3)]
    assert all(r[2] > 0 and r[3] > 0 for r in rows)
    assert "IndRNNRegressor" in capsys.readouterr().out


def test_vowels_without_the_data_says_so(bench, tmp_path, capsys):
    assert bench.run_vowels(path=tmp_path) is None
    assert "could not be loaded" in capsys.readouterr().out
