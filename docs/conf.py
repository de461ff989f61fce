"""Sphinx configuration for the reservoir documentation.

Build with ``python -m sphinx -W -b html docs docs/_build/html``; the build
needs no network. Links to the documentation of Python, NumPy, SciPy and
scikit-learn (intersphinx) are made only when the environment variable
``RESERVOIR_DOCS_INTERSPHINX=1`` asks for them, because their inventories
are downloaded at build time: offline (and in CI) those references render as
plain text instead of failing the build.
"""

import os
import re

import reservoir

project = "reservoir"
author = "The reservoir developers"
release = reservoir.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.doctest",
    "sphinx.ext.mathjax",
    "numpydoc",
]
templates_path = ["_templates"]
autosummary_generate = True
# Each class page renders its methods (with their parameters) through
# autodoc (see _templates/autosummary/class.rst), not numpydoc's member table.
numpydoc_show_class_members = False
autodoc_default_options = {"member-order": "groupwise"}

if os.environ.get("RESERVOIR_DOCS_INTERSPHINX") == "1":
    extensions.append("sphinx.ext.intersphinx")
    intersphinx_mapping = {
        "python": ("https://docs.python.org/3", None),
        "numpy": ("https://numpy.org/doc/stable", None),
        "scipy": ("https://docs.scipy.org/doc/scipy", None),
        "sklearn": ("https://scikit-learn.org/stable", None),
    }

exclude_patterns = ["_build"]
html_theme = "alabaster"

# Methods inherited from scikit-learn (get_params, set_output, the metadata
# routing setters, RegressorMixin.score) carry references to labels and
# glossary terms of scikit-learn's own documentation. Without its inventory
# they cannot resolve: render them as their text.
_SKLEARN_ROLE = re.compile(r":(?:ref|term|doc):`([^`<]*?)\s*(?:<[^>`]*>)?`")


def _plain_sklearn_references(app, what, name, obj, options, lines):
    module = getattr(obj, "__module__", None) or ""
    if module.startswith("sklearn") and "sphinx.ext.intersphinx" not in app.config.extensions:
        lines[:] = [_SKLEARN_ROLE.sub(lambda m: m.group(1) or "", line) for line in lines]


def setup(app):
    app.connect("autodoc-process-docstring", _plain_sklearn_references)
