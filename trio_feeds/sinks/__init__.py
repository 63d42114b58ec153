"""Sinks: publish a feed's records to Redis Streams or JSON-lines files, read them back,
and split symbols across processes.

::

    from trio_feeds.sinks import open_sink, run_sink

    async with open_feed(["binance"], ["BTC-USDT"], ["trade"]) as feed:
        async with open_sink("redis://127.0.0.1:6379/0") as sink:
            await run_sink(feed, sink)

See ``docs/scaling.md``.  Redis needs the ``redis`` extra (``pip install
'trio-feeds[redis]'``); files and sharding need nothing more.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import unquote, urlsplit

import trio

from trio_feeds.core.errors import ConfigError
from trio_feeds.core.redact import redact
from trio_feeds.sinks._base import DEFAULT_EVENTS_STREAM as DEFAULT_EVENTS_STREAM
from trio_feeds.sinks._base import DEFAULT_STREAM_TEMPLATE as DEFAULT_STREAM_TEMPLATE
from trio_feeds.sinks._base import ItemSource as ItemSource
from trio_feeds.sinks._base import Sink as Sink
from trio_feeds.sinks._base import SinkStats as SinkStats
from trio_feeds.sinks._base import run_sink as run_sink
from trio_feeds.sinks._base import stream_keys as stream_keys
from trio_feeds.sinks._file import JsonlFileSink as JsonlFileSink
from trio_feeds.sinks._file import iter_jsonl as iter_jsonl
from trio_feeds.sinks._file import read_jsonl as read_jsonl
from trio_feeds.sinks._redis import RedisStreamSink as RedisStreamSink
from trio_feeds.sinks._redis import StreamEntry as StreamEntry
from trio_feeds.sinks._redis import open_redis as open_redis
from trio_feeds.sinks._redis import parse_redis_url
from trio_feeds.sinks._redis import read_entries as read_entries
from trio_feeds.sinks._redis import read_stream as read_stream
from trio_feeds.sinks._shard import shard_of as shard_of
from trio_feeds.sinks._shard import shard_symbols as shard_symbols

__all__ = [
    "DEFAULT_EVENTS_STREAM",
    "DEFAULT_STREAM_TEMPLATE",
    "ItemSource",
    "JsonlFileSink",
    "RedisStreamSink",
    "Sink",
    "SinkStats",
    "StreamEntry",
    "iter_jsonl",
    "make_sink",
    "open_redis",
    "open_sink",
    "read_entries",
    "read_jsonl",
    "read_stream",
    "run_sink",
    "shard_of",
    "shard_symbols",
    "stream_keys",
]

#: sink settings a ``redis://`` URL may carry in its query string
REDIS_URL_OPTIONS = frozenset(
    {
        "stream_template",
        "events_stream",
        "maxlen",
        "buffer_size",
        "batch_size",
        "method",
        "reconnect_delay",
        "max_reconnect_delay",
        "connect_timeout",
        "write_timeout",
        "close_timeout",
        "producer",
    }
)


def make_sink(url: str, **options: Any) -> RedisStreamSink | JsonlFileSink:
    """The sink for ``url``, not started (see :func:`open_sink`)."""
    if not isinstance(url, str) or not url.strip():
        raise ConfigError(f"sink URL must be a non-empty string, got {redact(repr(url))}")
    try:
        return _make_sink(url, **options)
    except TypeError as exc:  # an unknown keyword option
        raise ConfigError(f"sink URL {redact(repr(url))}: {redact(exc)}") from None


def _make_sink(url: str, **options: Any) -> RedisStreamSink | JsonlFileSink:
    if url == "-":
        return JsonlFileSink("-", **options)
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme in ("redis", "rediss"):
        base, query = parse_redis_url(url)
        unknown = sorted(set(query) - REDIS_URL_OPTIONS)
        if unknown:
            raise ConfigError(
                f"sink URL {redact(repr(url))}: unknown option(s) {unknown}; "
                f"known: {', '.join(sorted(REDIS_URL_OPTIONS))}"
            )
        merged: dict[str, Any] = {**query, **options}
        try:
            return RedisStreamSink(base, **merged)
        except ConfigError as exc:
            raise ConfigError(f"sink URL {redact(repr(url))}: {redact(exc)}") from None
    if scheme == "file":
        if parts.netloc not in ("", "localhost") or not parts.path or parts.query:
            raise ConfigError(f"sink URL {redact(repr(url))}: expected file:///absolute/path.jsonl")
        return JsonlFileSink(unquote(parts.path), **options)
    if "://" in url or (scheme and len(scheme) > 1):
        raise ConfigError(
            f"sink URL {redact(repr(url))}: expected redis://host:port[/db], file:///path.jsonl, "
            "a file path or '-' (standard output)"
        )
    return JsonlFileSink(url, **options)


@asynccontextmanager
async def open_sink(url: str, **options: Any) -> AsyncIterator[RedisStreamSink | JsonlFileSink]:
    """Open the sink ``url`` names; flush and close it on the way out.

    * ``redis://host:port[/db][?option=value&…]`` (or ``rediss://``): a
      :class:`RedisStreamSink`; the query and ``options`` are its settings
      (``maxlen``, ``buffer_size``, ``batch_size``, ``stream_template``, …).
      Redis need not be up: the sink buffers and connects when it can.
    * ``file:///path.jsonl``, a plain path, or ``-`` (standard output): a
      :class:`JsonlFileSink` (appends).

    A bad URL or option raises :class:`~trio_feeds.ConfigError` naming it.  On
    exit the sink gets ``close_timeout`` seconds (default 5) to flush, even when
    the block was cancelled (a shielded, time-bounded flush); what is left is
    counted as dropped.  ``sink.stats.summary()`` is then a one-line account.
    """
    sink = make_sink(url, **options)
    if isinstance(sink, JsonlFileSink):
        try:
            await sink.open()
        except OSError as exc:
            raise ConfigError(
                f"sink URL {redact(repr(url))}: cannot open the file: {redact(exc)}"
            ) from None
        try:
            yield sink
        finally:
            await sink.aclose()
        return
    async with trio.open_nursery() as nursery:
        # The writer is shielded from the caller's cancellation: leaving the block under an
        # outer cancel (a deadline, Ctrl-C) must still flush.  ``aclose`` bounds that flush
        # with ``close_timeout`` and then stops the writer itself.
        await nursery.start(_shielded_writer, sink)
        try:
            yield sink
        finally:
            await sink.aclose()


async def _shielded_writer(
    sink: RedisStreamSink, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
) -> None:
    with trio.CancelScope(shield=True):
        await sink.run(task_status=task_status)
