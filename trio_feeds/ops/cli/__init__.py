"""The ``trio-feeds`` command line (also ``python -m trio_feeds``).

Commands: ``demo``, ``stream``, ``serve-sim``, ``health``, ``record``, ``replay``; see
``trio-feeds --help`` and docs/operations.md.  The modules:

* ``_main``: the parser, signals, exit codes (:func:`main`);
* ``_options``: the flags shared by the feed commands, their checks, the FeedConfig they make;
* ``_stream``: ``stream`` and ``record``;  ``_replay``: ``replay``;  ``_health``: ``health``;
* ``_sim``: ``demo`` and ``serve-sim`` (exchanges and flags from the registry);
* ``_output``: non-blocking standard output;  ``_board``: the live table.
"""

from trio_feeds.ops.cli._main import build_parser as build_parser
from trio_feeds.ops.cli._main import main as main

__all__ = ["build_parser", "main"]
