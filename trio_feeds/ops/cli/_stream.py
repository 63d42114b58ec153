"""``trio-feeds stream`` and ``trio-feeds record``: a live feed to stdout, a sink or a file."""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from collections.abc import Callable
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
        check_port_free(args.monitor_host, args.monitor_port, "--monitor-port")
    async with config.open_feed() as feed, trio.open_nursery() as nursery:
        if args.monitor_port is not None:
            from trio_feeds.ops.monitoring import serve_monitoring

            url = await nursery.start(serve_monitoring, feed, args.monitor_host, args.monitor_port)
            print(
                f"monitor: {url}/api/websocket/health  {url}/metrics", file=sys.stderr, flush=True
            )
        async with _stdout() as out:
            with trio.move_on_after(args.duration if args.duration else float("inf")):
                if open_sink is not None:
                    async with open_sink(args.sink) as sink:
                        await _to_sink(feed, sink)
                elif args.output == "table":
                    await _table(feed, config.exchanges, out)
                elif args.output == "text":
                    await _text_lines(feed, out)
                else:
                    await _json_lines(feed, out)
        nursery.cancel_scope.cancel()
    return 0


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
    from trio_feeds.ops.recording import record

    config = feed_config(args)
    kinds: Counter[str] = Counter()
    async with record(args.out, **config.feed_kwargs()) as feed:
        with trio.move_on_after(args.duration if args.duration else float("inf")):
            async for item in feed:
                kinds[item.kind] += 1
    summary = ", ".join(f"{n} {k}" for k, n in sorted(kinds.items())) or "nothing"
    print(f"recorded to {args.out}: {summary}", file=sys.stderr)
    return 0
