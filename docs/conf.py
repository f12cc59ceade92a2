"""Sphinx configuration for umapc's documentation.

The API reference is generated from the docstrings of the *installed* package: install umapc
first (``python -m pip install ".[docs]"``, or the README's test command in CI), then build with
``python -m sphinx -W --keep-going -b html docs build/docs-html``. Nothing here puts the source tree
on ``sys.path``: ``python/umapc`` has no compiled extension, so importing it would fail (or, worse,
mix a stale build with new sources).
"""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

project = "umapc"
author = "umapc developers"
copyright = "umapc developers"
try:
    release = importlib.metadata.version("umapc")
except importlib.metadata.PackageNotFoundError:  # a PYTHONPATH build, not an installed one
    import umapc

    release = umapc.__version__
version = release

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
]

# Markdown pages (the existing docs/*.md, linked from the README, are pages as they are).
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "**/.ipynb_checkpoints", "Thumbs.db", ".DS_Store"]
# Anchors for the Markdown headings, so that in-page links such as (#custom-metrics) resolve as
# they do on GitHub.
myst_heading_anchors = 4
myst_enable_extensions = ["colon_fence"]

# Pages that a checkout may not have yet (docs/plots.md, the figures of umapc.plot, comes with the
# plotting work): each is put into the index's Reference toctree, after the entry named here, when
# its file exists, and left out otherwise. (A glob entry would warn when it matches nothing, a
# warning Sphinx gives no type to suppress.)
_OPTIONAL_PAGES = {"plots": "benchmarks"}

# API reference: numpy-style docstrings through napoleon, members in source order.
autodoc_default_options = {"members": True, "member-order": "bysource"}
autodoc_typehints = "description"
autodoc_class_signature = "separated"
napoleon_google_docstring = False
napoleon_numpy_docstring = True
napoleon_use_rtype = False

# No intersphinx: the build runs offline.
html_theme = "alabaster"
html_title = f"umapc {release}"
html_static_path: list[str] = []


def _add_optional_pages(app, docname, source):
    if docname != root_doc:
        return
    for page, after in _OPTIONAL_PAGES.items():
        listed = f"\n{page}\n" in source[0]  # once a toctree names it, nothing to add
        if not listed and (Path(app.srcdir) / f"{page}.md").exists():
            source[0] = source[0].replace(f"\n{after}\n", f"\n{after}\n{page}\n", 1)


def _skip_member(app, what, name, obj, skip, options):
    # scikit-learn's metadata-routing setters (set_fit_request, ...) are generated on every
    # estimator class; their docstrings point into scikit-learn's own documentation.
    if name.startswith("set_") and name.endswith("_request"):
        return True
    return None


def setup(app):
    app.connect("source-read", _add_optional_pages)
    app.connect("autodoc-skip-member", _skip_member)
