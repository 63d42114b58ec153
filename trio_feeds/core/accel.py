"""The optional C extension, if it is built and not switched off (internal).

``trio_feeds._speedups`` is compiled at install time when a C compiler is
available; without one the package installs and runs the same logic in pure
Python.  Set ``TRIO_FEEDS_PURE_PYTHON=1`` to use the Python versions anyway.
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType

speedups: ModuleType | None = None
if not os.environ.get("TRIO_FEEDS_PURE_PYTHON"):
    try:
        # by name: a static ``from trio_feeds import _speedups`` reads as an import of the
        # package root (and everything it re-exports) to the import contracts
        speedups = importlib.import_module("trio_feeds._speedups")
    except ImportError:  # not built: callers use their pure-Python twins
        speedups = None

__all__ = [
    "speedups",
]
