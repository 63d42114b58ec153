"""Redis Streams: a buffering, reconnecting sink (see :class:`RedisStreamSink`).

Needs the ``redis`` extra (coredis, which runs on anyio and so natively under Trio).  The
entry format is described in :mod:`trio_feeds.sinks._redis_write`; the readers are in
:mod:`trio_feeds.sinks._redis_read`, connections in :mod:`trio_feeds.sinks._redis_client`
(all re-exported here and by :mod:`trio_feeds.sinks`).
"""

from __future__ import annotations

import logging
import os
import secrets
import time
from collections import defaultdict, deque
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Literal

import cattrs
import trio

from trio_feeds.core.convert import dumps
from trio_feeds.core.errors import ConfigError
from trio_feeds.core.records import Dropped, Item
from trio_feeds.core.redact import redact
from trio_feeds.core.validate import seconds
from trio_feeds.sinks._base import (
    DEFAULT_EVENTS_STREAM,
    DEFAULT_STREAM_TEMPLATE,
    SinkStats,
    check_template,
    route,
)
from trio_feeds.sinks._redis_client import _coredis, _errors, _positive_int
from trio_feeds.sinks._redis_client import open_redis as open_redis
from trio_feeds.sinks._redis_client import parse_redis_url as parse_redis_url
from trio_feeds.sinks._redis_read import StreamEntry as StreamEntry
from trio_feeds.sinks._redis_read import read_entries as read_entries
from trio_feeds.sinks._redis_read import read_stream as read_stream
from trio_feeds.sinks._redis_write import XADD_SCRIPT as XADD_SCRIPT
from trio_feeds.sinks._redis_write import unwritten, write_batch

if TYPE_CHECKING:
    import coredis

__all__ = [
    "XADD_SCRIPT",
    "RedisStreamSink",
    "StreamEntry",
    "open_redis",
    "parse_redis_url",
    "read_entries",
    "read_stream",
]

logger = logging.getLogger("trio_feeds.sinks")

#: while Redis stays down, a warning this often (seconds)
_WARN_EVERY = 10.0


class RedisStreamSink:
    """Publishes items to Redis Streams, one stream per exchange, kind and symbol.

    Run it with :func:`open_sink` (``redis://…``), or start :meth:`run` in your
    own nursery.  :meth:`send_many` encodes the items and puts them in a bounded
    buffer; it never waits for Redis.  A background task takes up to
    ``batch_size`` entries at a time and writes them with one pipeline: with
    ``method="script"`` (the default) one ``EVAL`` per stream key that runs
    ``XADD … MAXLEN ~ maxlen`` for each entry on the server (about five times
    the throughput of a command per entry, and still one key per command, so it
    works on Redis Cluster); with ``method="pipeline"`` one ``XADD`` per entry.

    **Outages.**  While Redis is unreachable the buffer keeps filling; the
    writer reconnects with exponential backoff (``reconnect_delay`` doubling up
    to ``max_reconnect_delay``) and flushes the buffer when it is back.  A batch
    that was being written when the connection broke is written again, minus
    what Redis already has (see the module's notes on the ``s`` field).

    **Overflow drops the oldest.**  When more than ``buffer_size`` items wait,
    the oldest go first: during an outage the newest market data is the most
    useful, and what is kept stays contiguous.  Each loss is counted in
    ``stats.dropped``, and the next batch starts with a
    :class:`~trio_feeds.Dropped` event per stream that lost entries (``count``
    for that stream, ``total`` for the sink), written into that stream exactly
    where the lost entries would have been.
    """

    def __init__(
        self,
        url: str,
        *,
        stream_template: str = DEFAULT_STREAM_TEMPLATE,
        events_stream: str = DEFAULT_EVENTS_STREAM,
        maxlen: int | None = 100_000,
        buffer_size: int = 100_000,
        batch_size: int = 5_000,
        method: Literal["script", "pipeline"] = "script",
        reconnect_delay: float = 0.1,
        max_reconnect_delay: float = 5.0,
        connect_timeout: float = 5.0,
        write_timeout: float = 10.0,
        close_timeout: float = 5.0,
        producer: str | None = None,
        converter: cattrs.Converter | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.url, options = parse_redis_url(url)
        if options:
            raise ConfigError(
                f"Redis URL {redact(repr(url))}: give options with open_sink(); "
                f"RedisStreamSink takes none in the URL, got {sorted(options)}"
            )
        self.stream_template = check_template(stream_template)
        if not isinstance(events_stream, str) or not events_stream:
            raise ConfigError(f"events_stream must be a non-empty string, got {events_stream!r}")
        self.events_stream = events_stream
        self.maxlen = 0 if maxlen is None else _positive_int("maxlen", maxlen, allow_zero=True)
        self.buffer_size = _positive_int("buffer_size", buffer_size)
        self.batch_size = _positive_int("batch_size", batch_size)
        if method not in ("script", "pipeline"):
            raise ConfigError(f"method must be 'script' or 'pipeline', got {method!r}")
        self.method = method
        self.reconnect_delay = seconds(
            "reconnect_delay", reconnect_delay, allow_zero=True, parse_str=True
        )
        self.max_reconnect_delay = max(
            self.reconnect_delay,
            seconds("max_reconnect_delay", max_reconnect_delay, parse_str=True),
        )
        self.connect_timeout = seconds("connect_timeout", connect_timeout, parse_str=True)
        self.write_timeout = seconds("write_timeout", write_timeout, parse_str=True)
        self.close_timeout = seconds(
            "close_timeout", close_timeout, allow_zero=True, parse_str=True
        )
        if producer is None:
            producer = f"{os.getpid():x}{secrets.token_hex(4)}"
        if not isinstance(producer, str) or not producer or ":" in producer:
            raise ConfigError(f"producer must be a non-empty string without ':', got {producer!r}")
        self.producer = producer
        self._prefix = producer.encode() + b":"
        self._conv = converter
        self._clock = clock

        self._stats = SinkStats()
        self._buf: deque[tuple[str, bytes]] = deque()
        #: a batch taken from the buffer and not yet acknowledged: (key, payload, tag)
        self._inflight: list[tuple[str, bytes, bytes]] | None = None
        self._seq = 0
        #: entries lost to overflow per stream key, not yet reported with a Dropped event
        self._pending_drops: dict[str, int] = defaultdict(int)
        self._key_meta: dict[str, tuple[str, str, str]] = {}
        self._keys: dict[tuple[str, str, str], str] = {}
        self._wake = trio.Event()
        self._progress = trio.lowlevel.ParkingLot()
        self._scope: trio.CancelScope | None = None
        self._closed = False
        self._finished = trio.Event()
        self._down_since: float | None = None
        self._warned_at = 0.0
        self._dropped_at_down = 0

    @property
    def stats(self) -> SinkStats:
        return self._stats

    # -- the producer's side ----------------------------------------------------------------
    def _key(self, item: Item) -> str:
        r = route(item)
        if r is None:
            return self.events_stream
        key = self._keys.get(r)
        if key is None:
            exchange, kind, symbol = r
            key = self.stream_template.format(exchange=exchange, kind=kind, symbol=symbol)
            self._keys[r] = key
            self._key_meta[key] = (exchange, symbol, kind)
        return key

    async def send_many(self, items: Sequence[Item]) -> None:
        """Buffer ``items`` for writing; never waits for Redis (only a checkpoint)."""
        if self._closed:
            raise trio.ClosedResourceError("the sink is closed")
        self.send_nowait(items)
        await trio.lowlevel.checkpoint()

    def send_nowait(self, items: Sequence[Item]) -> None:
        """Like :meth:`send_many`, synchronously."""
        if self._closed:
            raise trio.ClosedResourceError("the sink is closed")
        if not items:
            return
        conv = self._conv
        key = self._key
        buf = self._buf
        buf.extend([(key(i), dumps(i, conv)) for i in items])
        self._stats.received += len(items)
        over = len(buf) - self.buffer_size
        if over > 0:
            drops = self._pending_drops
            popleft = buf.popleft
            for _ in range(over):
                drops[popleft()[0]] += 1
            self._stats.dropped += over
        self._update_buffered()
        self._wake.set()

    def _update_buffered(self) -> None:
        self._stats.buffered = len(self._buf) + len(self._inflight or ())

    async def flush(self) -> None:
        """Wait until everything buffered so far is in Redis (no timeout: add your own)."""
        while self._buf or self._inflight or self._pending_drops:
            if self._finished.is_set():
                return
            await self._progress.park()
        await trio.lowlevel.checkpoint()

    async def aclose(self) -> None:
        """Stop taking items, flush for up to ``close_timeout`` seconds, stop the writer.

        What is still unsent then is added to ``stats.dropped``.
        """
        if self._closed:
            await trio.lowlevel.checkpoint()
            return
        self._closed = True
        with trio.CancelScope(shield=True):
            if self._scope is not None and not self._finished.is_set():
                with trio.move_on_after(self.close_timeout):
                    await self.flush()
                self._scope.cancel()
                await self._finished.wait()
        lost = len(self._buf) + len(self._inflight or ())
        if lost:
            logger.warning(
                "sink %s closed with %d items unsent (counted as dropped): %s",
                self.name, lost, self._stats.last_error or "close_timeout reached",
            )  # fmt: skip
        self._buf.clear()
        self._inflight = None
        self._stats.dropped += lost
        self._update_buffered()
        self._stats.connected = False

    # -- the writer -------------------------------------------------------------------------
    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """The writer task: connect, write, reconnect.  Runs until cancelled or :meth:`aclose`."""
        _coredis()
        errors = _errors()
        delay = self.reconnect_delay
        first = True
        try:
            with trio.CancelScope() as self._scope:
                task_status.started()
                while True:
                    try:
                        async with open_redis(
                            self.url,
                            connect_timeout=self.connect_timeout,
                            stream_timeout=self.write_timeout,
                        ) as client:
                            with trio.fail_after(self.connect_timeout):
                                await client.ping()
                            if not first:
                                self._stats.reconnects += 1
                            first = False
                            self._stats.connected = True
                            self._back_up()
                            delay = self.reconnect_delay
                            await self._write_loop(client)
                    except* errors as group:
                        self._stats.errors += 1
                        self._stats.last_error = redact(repr(group.exceptions[0]))
                        self._still_down()
                    self._stats.connected = False
                    self._progress.unpark_all()
                    await trio.sleep(delay * (0.5 + secrets.randbelow(1000) / 1000))
                    delay = min(self.max_reconnect_delay, max(delay * 2, 0.01))
        finally:
            self._stats.connected = False
            self._finished.set()
            self._progress.unpark_all()

    @property
    def name(self) -> str:
        """The sink's URL, credentials redacted (for logs, summaries and metrics)."""
        return redact(self.url)

    def _still_down(self) -> None:
        """A connection attempt or write failed: warn at the start of an outage, then every
        ``_WARN_EVERY`` seconds while it lasts."""
        now = trio.current_time()
        st = self._stats
        if self._down_since is None:
            self._down_since = self._warned_at = now
            self._dropped_at_down = st.dropped
            logger.warning(
                "sink %s is down: %s; buffering (%d buffered, %d dropped so far)",
                self.name, st.last_error, len(self._buf), st.dropped,
            )  # fmt: skip
        elif now - self._warned_at >= _WARN_EVERY:
            self._warned_at = now
            logger.warning(
                "sink %s still down after %.0f s: %s; %d buffered, %d dropped so far",
                self.name, now - self._down_since, st.last_error, len(self._buf), st.dropped,
            )  # fmt: skip

    def _back_up(self) -> None:
        if self._down_since is not None:
            logger.warning(
                "sink %s is back after %.1f s down (%d dropped meanwhile)",
                self.name, trio.current_time() - self._down_since,
                self._stats.dropped - self._dropped_at_down,
            )  # fmt: skip
            self._down_since = None

    def _take_batch(self) -> list[tuple[str, bytes, bytes]]:
        batch: list[tuple[str, bytes, bytes]] = []
        if self._pending_drops:
            now = int(self._clock() * 1000)
            for key, count in self._pending_drops.items():
                exchange, symbol, channel = self._key_meta.get(key, ("*", "*", "*"))
                event = Dropped(exchange, symbol, channel, count, self._stats.dropped, now)
                batch.append((key, dumps(event, self._conv), b""))
            self._pending_drops.clear()
        buf = self._buf
        n = min(len(buf), self.batch_size)
        popleft = buf.popleft
        batch.extend([(*popleft(), b"") for _ in range(n)])
        prefix = self._prefix
        seq = self._seq
        for i, (key, payload, _) in enumerate(batch):
            seq += 1
            batch[i] = (key, payload, prefix + str(seq).encode())
        self._seq = seq
        return batch

    async def _write_loop(self, client: coredis.Redis[bytes]) -> None:
        if self._inflight:
            await self._recover(client, self._inflight)
        while True:
            if not self._inflight:
                if not self._buf and not self._pending_drops:
                    self._progress.unpark_all()
                    self._wake = trio.Event()
                    await self._wake.wait()
                    continue
                self._inflight = self._take_batch()
            batch = self._inflight
            with trio.fail_after(self.write_timeout):
                failed = await self._write(client, batch)
            self._inflight = None
            if failed:
                self._stats.dropped += failed
            self._stats.sent += len(batch) - failed
            self._stats.batches += 1
            self._update_buffered()
            self._progress.unpark_all()

    async def _write(
        self, client: coredis.Redis[bytes], batch: list[tuple[str, bytes, bytes]]
    ) -> int:
        """Write ``batch``; return how many entries Redis refused (a wrong-type key, …)."""
        return await write_batch(
            client, batch, method=self.method, maxlen=self.maxlen, stats=self._stats
        )

    async def _recover(
        self, client: coredis.Redis[bytes], batch: list[tuple[str, bytes, bytes]]
    ) -> None:
        """Drop from ``batch`` what an interrupted write of it already put in Redis."""
        keep = await unwritten(client, batch, self._prefix)
        skipped = len(batch) - len(keep)
        if skipped:
            self._stats.duplicates_skipped += skipped
            self._stats.sent += skipped
        self._inflight = keep or None
        self._update_buffered()
