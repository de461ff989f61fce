"""The documentation builds offline without a warning, and its pages' examples run."""

import doctest
import os
import subprocess
import sys
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parent.parent / "docs"

PAGES = ["getting_started.rst", "guide.rst", "forecasting.rst", "classification.rst", "saving.rst"]


@pytest.mark.parametrize("page", PAGES)
def test_page_examples_run(page, tmp_path, monkeypatch):
    # Pages save files (a plot, a model) where a reader would: in the
    # working directory, here a fresh one.
    monkeypatch.chdir(tmp_path)
    if page == "getting_started.rst":
        pytest.importorskip("matplotlib", reason="the page's plot needs matplotlib")
    result = doctest.testfile(str(DOCS / page), module_relative=False,
                              optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0
    assert result.failed == 0


def test_sphinx_builds_without_warnings_and_without_network(tmp_path):
    """``python -m sphinx -W -b html docs <out>``, with every network request made to fail.

    Intersphinx is off unless RESERVOIR_DOCS_INTERSPHINX=1 (docs/conf.py), so
    the build must not need the network; a proxy that refuses every
    connection makes any download attempt a warning, and -W an error.
    """
    pytest.importorskip("sphinx", reason="building the docs needs sphinx (the test extra has it)")
    pytest.importorskip("numpydoc", reason="building the docs needs numpydoc (the test extra has it)")
    env = {k: v for k, v in os.environ.items() if k != "RESERVOIR_DOCS_INTERSPHINX"}
    refused = "http://127.0.0.1:9"
    env.update(HTTP_PROXY=refused, HTTPS_PROXY=refused, http_proxy=refused, https_proxy=refused,
               NO_PROXY="", no_proxy="")
    result = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html",
         "-d", str(tmp_path / "doctrees"), str(DOCS), str(tmp_path / "html")],
        capture_output=True, text=True, env=env, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-5000:]
    html = tmp_path / "html"
    assert (html / "getting_started.html").exists()
    # Every method of an estimator is rendered with its parameters.
    page = (html / "generated" / "reservoir.ESNRegressor.html").read_text()
    for method in ("fit", "predict", "forecast", "score", "step"):
        assert f'id="reservoir.ESNRegressor.{method}"' in page
    assert "divergence_bound" in page and "initial_state" in page


def test_readme_example_prints_what_the_readme_says(tmp_path, monkeypatch, capsys):
    """The README's example runs, and prints the numbers the README shows (to 10%)."""
    import re

    readme = (DOCS.parent / "README.md").read_text()
    match = re.search(r"## Example\n\n```python\n(.*?)```\n\nprints\n\n```text\n(.*?)```", readme,
                      re.S)
    assert match, "the README's Example section lost its code or its printed output"
    code, shown = match.groups()
    monkeypatch.chdir(tmp_path)
    exec(compile(code, "README.md", "exec"), {})
    printed = capsys.readouterr().out
    number = r"[-+]?\d+\.?\d*(?:e[-+]?\d+)?"
    assert re.sub(number, "#", printed) == re.sub(number, "#", shown)
    np = pytest.importorskip("numpy")
    np.testing.assert_allclose([float(v) for v in re.findall(number, printed)],
                               [float(v) for v in re.findall(number, shown)], rtol=0.1)
