"""The ``trio-feeds`` command (kept at this path; the code is in :mod:`trio_feeds.ops.cli`)."""

from trio_feeds.ops.cli import main as main

__all__ = ["main"]
