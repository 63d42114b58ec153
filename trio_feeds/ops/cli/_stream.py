"""``trio-feeds stream`` and ``trio-feeds record``: a live feed to stdout, a sink or a file."""

from __future__ import annotations

import argparse
import functools
import logging
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import trio

import trio_feeds.core.convert as _convert
from trio_feeds.feed.feed import Feed
from trio_feeds.ops.cli._board import _table
from trio_feeds.ops.cli._options import check_port_free, feed_config
from trio_feeds.ops.cli._output import _Output, _stdout


async def _stream(args: argparse.Namespace) -> int:
    config = feed_config(args)
    open_sink: Callable[[str], Any] | None = None
    if args.sink:
        try:
            from trio_feeds.sinks import open_sink as _open_sink
        except ImportError as exc:
            print(f"trio-feeds: --sink needs trio_feeds.sinks, which is not available: {exc}",
                  file=sys.stderr)  # fmt: skip
            return 2
        open_sink = _open_sink
    if args.monitor_port is not None:
        check_port_free(args.monitor_host, args.monitor_port, "--monitor-port", "--monitor-host")
    sinks: list[Any] = []  # the monitor's sink metrics read this list at every scrape
    async with config.open_feed() as feed, trio.open_nursery() as nursery:
        if args.monitor_port is not None:
            from trio_feeds.ops.monitoring import serve_monitoring

            url = await nursery.start(
                functools.partial(serve_monitoring, sinks=sinks),
                feed, args.monitor_host, args.monitor_port,
            )  # fmt: skip
            print(
                f"monitor: {url}/api/websocket/health  {url}/metrics\nstatus page: {url}/",
                file=sys.stderr, flush=True,
            )  # fmt: skip
        async with _stdout() as out:
            with trio.move_on_after(args.duration if args.duration else float("inf")):
                if open_sink is not None:
                    with _sink_warnings():
                        try:
                            async with open_sink(args.sink) as sink:
                                sinks.append(sink)
                                await _to_sink(feed, sink)
                        finally:
                            _sink_summary(sinks, args)
                elif args.output == "table":
                    await _table(feed, config.exchanges, out)
                elif args.output == "text":
                    await _text_lines(feed, out)
                else:
                    await _json_lines(feed, out)
        nursery.cancel_scope.cancel()
    return int(getattr(args, "exit_code", 0))


@contextmanager
def _sink_warnings() -> Iterator[None]:
    """The sink's warnings (down, still down, back, unsent at close) as lines on stderr."""
    log = logging.getLogger("trio_feeds.sinks")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("trio-feeds: %(message)s"))
    log.addHandler(handler)
    try:
        yield
    finally:
        log.removeHandler(handler)


def _sink_summary(sinks: list[Any], args: argparse.Namespace) -> None:
    """One line per sink at the end; exit code 1 when nothing reached it."""
    from trio_feeds.ops.monitoring import sink_name

    for i, sink in enumerate(sinks):
        st = sink.stats
        print(f"trio-feeds: sink {sink_name(sink, i)}: {st.summary()}", file=sys.stderr)
        if st.all_dropped:
            print(f"trio-feeds: nothing reached the sink ({st.received} items dropped)",
                  file=sys.stderr)  # fmt: skip
            args.exit_code = 1  # read by _stream and by _interruptible (Ctrl-C)


async def _json_lines(feed: Any, out: _Output) -> None:
    async for item in feed:
        await out.write(_convert.dumps(item) + b"\n")


async def _text_lines(feed: Any, out: _Output) -> None:
    from trio_feeds.ops.cli._replay import _line

    async for item in feed:
        await out.write(_line(item).encode() + b"\n")


async def _to_sink(feed: Feed, sink: Any, batch: int = 500) -> None:
    while True:
        items = [await feed.receive()]
        while len(items) < batch:
            try:
                items.append(feed.receive_nowait())
            except trio.WouldBlock:
                break
        await sink.send_many(items)


async def _record(args: argparse.Namespace) -> int:
    from trio_feeds.ops.recording import recorded_feed, show_progress

    config = feed_config(args)
    kinds: Counter[str] = Counter()
    async with recorded_feed(args.out, **config.feed_kwargs()) as (feed, rec):
        with trio.move_on_after(args.duration if args.duration else float("inf")):
            async with trio.open_nursery() as nursery:  # progress on a terminal only
                nursery.start_soon(show_progress, rec, kinds.total)
                async for item in feed:
                    kinds[item.kind] += 1
                nursery.cancel_scope.cancel()
    summary = ", ".join(f"{n} {k}" for k, n in sorted(kinds.items())) or "nothing"
    print(f"recorded to {args.out}: {summary}", file=sys.stderr)
    return 0
