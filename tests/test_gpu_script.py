"""The device run's script (benchmarks/gpu.py) runs end to end in its dry run.

On a machine without a GPU, NumPy stands in for CuPy; the sections, the
budgets, the row records and the files are those of the device run, so
that the one run on a GPU cannot fail for a reason a CPU could catch.
"""

import json

import pytest

from benchmarks import gpu


@pytest.fixture(scope="module")
def dry_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("gpu")
    status = gpu.main(["--dry-run", "--out", str(out), "--sections",
                       "tests,products,table,search,reservoirpy"])
    return status, out, json.loads((out / "gpu.json").read_text())


def test_every_section_runs_without_an_error(dry_run):
    status, out, summary = dry_run
    errors = [r for r in summary["rows"] if r.get("status") == "error"]
    assert not errors, errors[0]["traceback"]
    assert status == 0
    assert set(summary["sections"]) == {"setup", "tests", "products", "table", "search",
                                        "reservoirpy"}
    for name in ("gpu.log", "gpu-rows.jsonl", "gpu-tests.log"):
        assert (out / name).stat().st_size > 0
    lines = (out / "gpu-rows.jsonl").read_text().splitlines()
    assert len(lines) == len(summary["rows"])


def test_the_table_has_every_workload_and_implementation(dry_run):
    _, _, summary = dry_run
    done = {(r["workload"], r["impl"], r["n_series"]) for r in summary["rows"]
            if r["section"] == "table" and r.get("status") == "ok"}
    for impl in ("ours-device", "ours-host"):
        for workload, batch in (("fit", 1), ("fit", 4), ("predict", 1), ("predict", 4),
                                ("forecast", 1), ("path", 4)):
            assert (workload, impl, batch) in done
    torch_rows = [r for r in summary["rows"] if r.get("impl") == "torch"]
    assert torch_rows
    if summary["environment"]["torch"] is None:
        assert all(r["status"] == "skipped" and "PyTorch" in r["reason"] for r in torch_rows)
    else:
        assert any(r["status"] == "ok" for r in torch_rows)
    ratios = summary["ratios"]
    assert ratios and all(r["ours-host_over_device"] > 0 for r in ratios)


def test_the_product_table_is_what_the_package_reads(dry_run):
    """Rows of (n_units, density, n_series, dtype, dense us, CSR us): DEVICE_PRODUCTS' format."""
    from reservoir._states import prefers_sparse

    _, _, summary = dry_run
    table = [tuple(r) for r in summary["product_table"]]
    assert table and all(len(r) == 6 and r[3] in ("float32", "float64") for r in table)
    import array_api_strict
    import scipy.sparse

    W = scipy.sparse.random(table[0][0], table[0][0], density=table[0][1], format="csr",
                            random_state=0)
    n, density, B, dtype, dense, csr = table[0]
    assert prefers_sparse(W, array_api_strict, n_series=B, dtype=dtype, table=table) == (csr < dense)


def test_the_tests_section_ran_pytest_on_the_gpu_tests(dry_run):
    _, _, summary = dry_run
    (row,) = [r for r in summary["rows"] if r["section"] == "tests"]
    assert row["exit_status"] == 0
    assert row["counts"].get("skipped", 0) > 0 or row["counts"].get("passed", 0) > 0


def test_a_spent_budget_skips_rows_with_the_reason(tmp_path):
    status = gpu.main(["--dry-run", "--out", str(tmp_path), "--sections", "table,search",
                       "--budget-scale", "0"])
    summary = json.loads((tmp_path / "gpu.json").read_text())
    skipped = [r for r in summary["rows"] if r["section"] in ("table", "search")]
    assert status == 0 and skipped
    assert all(r["status"] == "skipped" and "budget" in r["reason"] for r in skipped)


def test_gpu_test_files_are_the_files_with_gpu_tests():
    from pathlib import Path

    files = gpu.gpu_test_files(Path(__file__).resolve().parents[1])
    assert "tests/test_backends.py" in files and "tests/test_cupy_kernels.py" in files
    assert "tests/test_gpu_script.py" not in files
