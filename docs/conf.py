"""Sphinx configuration: the API reference (numpydoc), the guides, and the
chapter as a sphinx-gallery of the scripts in examples/chapter/.

Build: ``pip install ".[docs]"``, then
``python -m sphinx -W -b html docs docs/_build/html``.
"""

import importlib.util
import os
import sys
import warnings

import convreg

sys.path.insert(0, os.path.dirname(__file__))  # _gallery_order

project = "convreg"
author = "the convreg developers"
copyright = "the convreg developers, BSD-3-Clause"
release = version = convreg.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "numpydoc",
    "myst_parser",
    "sphinx_gallery.gen_gallery",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "api_torch.rst", "auto_examples/*.ipynb", "auto_examples/*.py",
                    "auto_examples/*.zip", "auto_examples/*.md5", "auto_examples/*.json"]

# The API pages: one per function or class, from its numpydoc docstring.
autosummary_generate = ["api.rst", "api_torch.rst"]
autodoc_default_options = {"members": False}
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False

# convreg.torch's section needs PyTorch to import; without it the page says
# so (api_torch.rst is written here, at every build).
_TORCH_API = """convreg.torch
-------------

.. currentmodule:: convreg.torch

convreg's ops as PyTorch custom ops with autograd (``pip install "convreg[torch]"``).

.. autosummary::
   :toctree: generated/

   conv2d
   corr2d
   max_pool2d
   avg_pool2d
   Conv2d
"""
_NO_TORCH_API = """convreg.torch
-------------

This build of the documentation had no PyTorch to import ``convreg.torch``
from; install ``torch`` and build again for its reference.
"""
with open(os.path.join(os.path.dirname(__file__), "api_torch.rst"), "w") as _f:
    _f.write(_TORCH_API if importlib.util.find_spec("torch") else _NO_TORCH_API)

# Markdown pages (the guides, design, the benchmark tables) through MyST.
myst_heading_anchors = 3
myst_enable_extensions = ["colon_fence"]

# The gallery is the chapter: every script in examples/chapter/, in the
# chapter's order, each run during the build and shown with its figures.
# convreg.torch's example runs only where PyTorch is installed.
_ignore = r"__init__\.py"
if importlib.util.find_spec("torch") is None:
    _ignore += r"|learn_kernel_torch\.py"
sphinx_gallery_conf = {
    "examples_dirs": "../examples/chapter",
    "gallery_dirs": "auto_examples",
    "filename_pattern": r".*\.py",
    "ignore_pattern": _ignore,
    "within_subsection_order": "_gallery_order.ChapterOrder",
    "download_all_examples": False,
    "image_scrapers": ("matplotlib",),
    "reset_modules": ("matplotlib",),
    "remove_config_comments": True,
    "show_memory": False,
    "min_reported_time": 1,
}

html_theme = "pydata_sphinx_theme"
html_title = f"convreg {version}"
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "footer_start": ["copyright"],
    "footer_end": [],
}
# The theme's colour mode: light unless the reader switches (without it, a
# fresh browser logs "invalid theme mode" to its console).
html_context = {"default_mode": "light"}
html_static_path: list[str] = []
html_show_sourcelink = False

# Figures are drawn off screen while the gallery builds.
os.environ.setdefault("MPLBACKEND", "Agg")
warnings.filterwarnings("ignore", message="Matplotlib is currently using agg")
