"""Sphinx configuration (MyST markdown pages)."""

project = "trio_feeds"
author = "trio_feeds developers"
extensions = ["myst_parser", "sphinx.ext.autodoc", "sphinx.ext.intersphinx"]
source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
exclude_patterns = ["_build"]
html_theme = "furo"
myst_heading_anchors = 3
intersphinx_mapping = {
    "python": ("https://docs.python.org/3", None),
    "trio": ("https://trio.readthedocs.io/en/stable", None),
    "attrs": ("https://www.attrs.org/en/stable", None),
}
autodoc_member_order = "bysource"
