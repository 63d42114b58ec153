"""The parser, the signal handling and the exit codes of the ``trio-feeds`` command."""

from __future__ import annotations

import argparse
import signal
import sys
import warnings
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, NoReturn

import trio

from trio_feeds.core.errors import ConfigError, TrioFeedsError
from trio_feeds.core.redact import redact
from trio_feeds.feed.feed import _unwrap
from trio_feeds.ops.cli._options import add_feed_options, positive
from trio_feeds.ops.cli._output import quiet_stdout

_DESCRIPTION = """\
Stream normalized crypto market data with failover (trio_feeds).

Exit codes: 0 done (or stopped with Ctrl-C), 1 unhealthy (health), 2 a bad value, setting or
answer (one line on stderr).
"""


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors: ``trio-feeds: <what was wrong> (see --help)``, exit 2."""

    def error(self, message: str) -> NoReturn:
        command = self.prog.removeprefix("trio-feeds").strip()
        where = f"trio-feeds: {command}: " if command else "trio-feeds: "
        sys.stderr.write(f"{where}{message} (see {self.prog} --help)\n")
        sys.exit(2)


def _version() -> str:
    from trio_feeds import __version__

    return f"trio-feeds {__version__}"


def build_parser() -> argparse.ArgumentParser:
    """The ``trio-feeds`` argument parser (every command and flag)."""
    from trio_feeds.ops.cli._sim import add_port_flags

    parser = _Parser(prog="trio-feeds", description=_DESCRIPTION,
                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("--version", action="version", version=_version())
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    demo = sub.add_parser("demo", help="offline: two simulated exchanges, a failover drill")
    demo.add_argument("--duration", type=positive, default=20.0, metavar="S",
                      help="seconds (default 20)")  # fmt: skip
    demo.add_argument("--seed", type=int, default=1)
    demo.add_argument("--exchange", action="append", metavar="NAME",
                      help="the two simulated exchanges to use, primary first")  # fmt: skip

    stream = sub.add_parser("stream", help="stream records (JSON lines, a live table, a sink)")
    add_feed_options(stream)
    stream.add_argument("--output", choices=["json", "table", "text"], default="json",
                        help="json: JSON lines (default); table: a live table; "
                             "text: one readable line per record")  # fmt: skip
    from trio_feeds.ops.cli._options import port

    stream.add_argument("--monitor-port", type=port, metavar="N",
                        help="serve the HTTP monitor on this port (0: any free port)")  # fmt: skip
    stream.add_argument("--monitor-host", default="127.0.0.1")
    stream.add_argument("--sink", metavar="URL", help="publish to a sink (redis://…, file path)")

    sim = sub.add_parser("serve-sim", help="run the simulated exchanges on loopback")
    sim.add_argument("--exchange", action="append", metavar="NAME",
                     help="only these (default: every exchange with a simulator)")  # fmt: skip
    sim.add_argument("--symbol", action="append", metavar="SYMBOL",
                     help="symbols to simulate (repeatable, or comma separated)")  # fmt: skip
    sim.add_argument("--seed", type=int, default=1)
    sim.add_argument("--rate", type=positive, default=20.0, help="market ticks per second")
    sim.add_argument("--host", default="127.0.0.1")
    add_port_flags(sim)

    health = sub.add_parser("health", help="query a running monitor; exit 0 healthy, 1 not")
    health.add_argument("--url", required=True,
                        help="the monitor, e.g. http://127.0.0.1:8000, or the health URL "
                             "that stream prints")  # fmt: skip
    health.add_argument("--json", action="store_true")
    health.add_argument("--timeout", type=positive, default=5.0, metavar="S")

    rec = sub.add_parser("record", help="record a feed's raw transport to a file")
    rec.add_argument("--out", required=True, metavar="FILE")
    add_feed_options(rec)

    rep = sub.add_parser("replay", help="replay a recording through the feed pipeline")
    rep.add_argument("file")
    rep.add_argument("--speed", type=positive, default=None,
                     help="1.0: recorded pace (default: as fast as possible)")  # fmt: skip
    rep.add_argument("--output", choices=["text", "json", "none"], default="text",
                     help="text: one readable line per record (default); json: JSON lines; "
                          "none: only the summary")  # fmt: skip
    rep.add_argument("--json", dest="output", action="store_const", const="json",
                     help="the same as --output json")  # fmt: skip
    rep.add_argument("--quiet", dest="output", action="store_const", const="none",
                     help="the same as --output none")  # fmt: skip
    return parser


async def _interruptible(runner: Callable[[argparse.Namespace], Awaitable[int]],
                         args: argparse.Namespace) -> int:  # fmt: skip
    """Run ``runner``; Ctrl-C (SIGINT) or SIGTERM cancels it cleanly and gives exit code 0."""
    result = 0
    error: BaseException | None = None
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with trio.open_nursery() as nursery:

            async def watch() -> None:
                async for _ in signals:
                    print("trio-feeds: stopping", file=sys.stderr, flush=True)
                    nursery.cancel_scope.cancel()
                    return

            async def run() -> None:
                nonlocal result, error
                try:
                    result = await runner(args)
                except (TrioFeedsError, BrokenPipeError) as exc:  # reported by main()
                    error = exc
                except BaseExceptionGroup as group:
                    leaf = _unwrap(group)
                    if isinstance(leaf, OSError) and not isinstance(leaf, BrokenPipeError):
                        # e.g. a listening socket that could not be opened after all
                        error = ConfigError(f"{type(leaf).__name__}: {leaf}")
                    elif not isinstance(leaf, (TrioFeedsError, BrokenPipeError)):
                        raise
                    else:
                        error = leaf
                nursery.cancel_scope.cancel()

            nursery.start_soon(watch)
            nursery.start_soon(run)
    if error is not None:
        raise error
    return int(getattr(args, "exit_code", 0)) or result  # a verdict set before a Ctrl-C


@contextmanager
def _one_line_warnings() -> Iterator[None]:
    """Warnings (e.g. a suspicious setting) as one line on stderr."""

    def show(message: Any, category: Any, *_: Any, **__: Any) -> None:
        sys.stderr.write(f"trio-feeds: warning: {redact(message)}\n")

    with warnings.catch_warnings():
        warnings.simplefilter("default")
        # a library's unclosed internals (coredis after a refused connection) are not the
        # user's business
        warnings.simplefilter("ignore", ResourceWarning)
        warnings.showwarning = show
        yield


def main(argv: Sequence[str] | None = None, *, clock: trio.abc.Clock | None = None) -> int:
    """Run the command line; returns the exit code.  ``clock``: the trio clock to run under
    (tests run ``replay`` under ``trio.testing.MockClock``)."""
    from trio_feeds.ops.cli._health import _health
    from trio_feeds.ops.cli._replay import _replay
    from trio_feeds.ops.cli._sim import _demo, _serve_sim
    from trio_feeds.ops.cli._stream import _record, _stream

    args = build_parser().parse_args(argv)
    runners: dict[str, Callable[[argparse.Namespace], Awaitable[int]]] = {
        "demo": _demo, "stream": _stream, "serve-sim": _serve_sim, "record": _record,
        "replay": _replay,
    }  # fmt: skip
    try:
        with _one_line_warnings():
            if args.command == "health":
                return _health(args)
            return trio.run(_interruptible, runners[args.command], args, clock=clock)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # the reader of stdout went away (``… | head``): not an error
        quiet_stdout()
        return 0
    except TrioFeedsError as exc:
        print(f"trio-feeds: {redact(exc)}", file=sys.stderr)
        return 2
