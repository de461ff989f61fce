"""The zoo benchmark's pieces that need no dysts: its metric, split, table and command line."""

import numpy as np
import pytest

from benchmarks import zoo


def test_smape_valid_time_is_the_first_step_where_the_running_smape_exceeds_the_threshold():
    truth = np.ones((6, 2))
    forecast = np.ones((6, 2))
    forecast[3:, 0] = 3.0        # per-step sMAPE 0, 0, 0, 50, 50, 50 (one feature of two off by 100 %)
    # Running means: 0, 0, 0, 12.5, 20, 25; then 30 is never exceeded.
    assert zoo.smape_vpt(truth, forecast, threshold=30.0, steps_per_lyapunov=2.0) == 3.0
    # Exceeded at the 5th step (20 > 15): 4 valid steps, 2 Lyapunov times.
    assert zoo.smape_vpt(truth, forecast, threshold=15.0, steps_per_lyapunov=2.0) == 2.0


def test_smape_valid_time_counts_a_diverged_step_as_the_largest_error():
    truth = np.ones((4, 1))
    forecast = np.array([[1.0], [np.nan], [1.0], [1.0]])
    # Step 2 scores 200 %: the running mean 100 exceeds 30 there.
    assert zoo.smape_vpt(truth, forecast, threshold=30.0, steps_per_lyapunov=1.0) == 1.0


def test_split_alternates_in_alphabetical_order():
    development, held_out = zoo.split(["Lorenz", "Aizawa", "Rossler", "Chua", "Thomas"])
    assert development == ["Aizawa", "Lorenz", "Thomas"]
    assert held_out == ["Chua", "Rossler"]


def test_aggregate_reports_median_quartiles_and_counts_per_half():
    results = [dict(protocol="a", system=f"S{i}",
                    models={"auto": dict(median_vpt=float(v), fit_time=1.0 + i)})
               for i, v in enumerate([0.5, 2.0, 4.0, 8.0, 10.0])]
    table = zoo.aggregate(results, ["auto", "esn"], {"held-out": [f"S{i}" for i in range(5)],
                                                     "development": []})
    assert len(table) == 1
    row = table[0]
    assert (row["median"], row["q1"], row["q3"]) == (4.0, 2.0, 8.0)
    assert row["below_1"] == 1 and row["at_least_3"] == 3 and row["n_systems"] == 5
    assert row["max_fit_time"] == 5.0
    assert "held-out" in zoo.format_table(table)


def test_command_line_refuses_unknown_protocols_and_models():
    pytest.importorskip("dysts", reason="the zoo's systems come from dysts (the bench extra)")
    with pytest.raises(SystemExit, match="--protocols"):
        zoo.main(["--protocols", "c", "--systems", "Lorenz"])
    with pytest.raises(SystemExit, match="--models"):
        zoo.main(["--models", "lstm", "--systems", "Lorenz"])
