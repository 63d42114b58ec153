"""Redis Streams: a buffering, reconnecting sink and readers (XREAD, XREADGROUP + XACK).

Needs the ``redis`` extra (coredis, which runs on anyio and so natively under Trio).

Every stream entry has two fields:

``d``
    the item as :func:`trio_feeds.dumps` writes it (orjson bytes);
``s``
    ``b"<producer>:<seq>"``: the writing sink's id and a number that grows by one
    per entry it writes.  After a connection breaks in the middle of a write the
    sink looks for its newest ``s`` in each stream it was writing to and skips
    what is there already, so a retry never writes an entry twice.
"""

from __future__ import annotations

import os
import secrets
import time
from collections import defaultdict, deque
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import parse_qsl, urlsplit

import attrs
import cattrs
import trio

from trio_feeds.core.convert import dumps, loads
from trio_feeds.core.errors import ConfigError, ProtocolError
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

if TYPE_CHECKING:
    import coredis

#: one EVAL per stream key and batch: XADD every entry server-side
#: (KEYS[1] = stream, ARGV[1] = MAXLEN or 0, then d, s pairs)
XADD_SCRIPT = """
local n = ARGV[1]
for i = 2, #ARGV, 2 do
  if n == '0' then
    redis.call('XADD', KEYS[1], '*', 'd', ARGV[i], 's', ARGV[i + 1])
  else
    redis.call('XADD', KEYS[1], 'MAXLEN', '~', n, '*', 'd', ARGV[i], 's', ARGV[i + 1])
  end
end
return (#ARGV - 1) / 2
"""
_SCRIPT_CHUNK = 1000
_RECOVER_SCAN = 10_000


def _coredis() -> Any:
    try:
        import coredis
    except ImportError:  # pragma: no cover - depends on the install
        raise ConfigError("Redis support needs coredis: pip install 'trio-feeds[redis]'") from None
    return coredis


def _errors() -> tuple[type[BaseException], ...]:
    """What a lost or unusable connection raises."""
    import coredis.exceptions as ce

    return (ce.ConnectionError, ce.RedisError, OSError, TimeoutError, trio.TooSlowError)


def _connection_errors() -> tuple[type[BaseException], ...]:
    """What a lost connection raises (the outcome of a write is then unknown)."""
    import coredis.exceptions as ce

    return (ce.ConnectionError, OSError, TimeoutError, trio.TooSlowError)


def _response_error() -> type[BaseException]:
    import coredis.exceptions as ce

    return ce.ResponseError


def _positive_int(name: str, value: Any, *, allow_zero: bool = False) -> int:
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < (0 if allow_zero else 1):
        what = "an int >= 0" if allow_zero else "a positive int"
        raise ConfigError(f"{name} must be {what}, got {value!r}")
    return value


def parse_redis_url(url: str) -> tuple[str, dict[str, str]]:
    """Check ``redis://host:port[/db][?option=value…]``; return the connection URL and options.

    ``rediss://`` (TLS) is accepted too.  The query options are sink settings
    (``maxlen``, ``buffer_size``, …), not coredis ones.
    """
    if not isinstance(url, str):
        raise ConfigError(f"Redis URL must be a string, got {redact(repr(url))}")
    parts = urlsplit(url)
    if parts.scheme not in ("redis", "rediss"):
        raise ConfigError(f"Redis URL {redact(repr(url))}: expected redis://host:port[/db]")
    try:
        port = parts.port
    except ValueError:
        raise ConfigError(f"Redis URL {redact(repr(url))}: bad port") from None
    if not parts.hostname:
        raise ConfigError(
            f"Redis URL {redact(repr(url))}: no host (expected redis://host:port[/db])"
        )
    db = parts.path.strip("/")
    if db and not db.isdigit():
        raise ConfigError(
            f"Redis URL {redact(repr(url))}: the path must be a database number, got {db!r}"
        )
    netloc = parts.netloc
    if port is None:
        netloc += ":6379"
    base = f"{parts.scheme}://{netloc}/{db or 0}"
    return base, dict(parse_qsl(parts.query, keep_blank_values=True))


@asynccontextmanager
async def open_redis(
    url: str,
    *,
    connect_timeout: float = 5.0,
    stream_timeout: float | None = None,
    retry: bool = False,
) -> AsyncIterator[coredis.Redis[bytes]]:
    """A coredis client for ``redis://host:port[/db]`` (bytes responses).

    ``retry=False`` (the default here) turns off coredis' own command retries:
    the sink and the readers decide themselves what may be repeated.
    """
    cd = _coredis()
    base, _ = parse_redis_url(url)
    from coredis.retry import NoRetryPolicy

    kwargs: dict[str, Any] = {"connect_timeout": connect_timeout, "stream_timeout": stream_timeout}
    if not retry:
        kwargs["retry_policy"] = NoRetryPolicy()
    client: coredis.Redis[bytes] = cd.Redis.from_url(base, decode_responses=False, **kwargs)
    async with client:
        yield client


# --------------------------------------------------------------------------------- the sink


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
                            delay = self.reconnect_delay
                            await self._write_loop(client)
                    except* errors as group:
                        self._stats.errors += 1
                        self._stats.last_error = redact(repr(group.exceptions[0]))
                    self._stats.connected = False
                    self._progress.unpark_all()
                    await trio.sleep(delay * (0.5 + secrets.randbelow(1000) / 1000))
                    delay = min(self.max_reconnect_delay, max(delay * 2, 0.01))
        finally:
            self._stats.connected = False
            self._finished.set()
            self._progress.unpark_all()

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
        groups: dict[str, list[tuple[bytes, bytes]]] = defaultdict(list)
        for key, payload, tag in batch:
            groups[key].append((payload, tag))
        requests: list[tuple[int, Any]] = []
        async with client.pipeline(transaction=False, raise_on_error=False) as pipe:
            if self.method == "script":
                maxlen = self.maxlen
                for key, entries in groups.items():
                    for start in range(0, len(entries), _SCRIPT_CHUNK):
                        chunk = entries[start : start + _SCRIPT_CHUNK]
                        args: list[bytes | int] = [maxlen]
                        for payload, tag in chunk:
                            args.append(payload)
                            args.append(tag)
                        requests.append((len(chunk), pipe.eval(XADD_SCRIPT, [key], args)))
            else:
                from coredis import PureToken

                trim: dict[str, Any] = {}
                if self.maxlen:
                    trim = {
                        "trim_strategy": PureToken.MAXLEN,
                        "threshold": self.maxlen,
                        "trim_operator": PureToken.APPROXIMATELY,
                    }
                for key, entries in groups.items():
                    for payload, tag in entries:
                        requests.append((1, pipe.xadd(key, {b"d": payload, b"s": tag}, **trim)))
        failed = 0
        response_error = _response_error()
        connection_errors = _connection_errors()
        for n, request in requests:
            result = await request
            if isinstance(result, connection_errors):
                raise result
            if isinstance(result, response_error):
                failed += n
                self._stats.errors += 1
                self._stats.last_error = redact(repr(result))
        return failed

    async def _recover(
        self, client: coredis.Redis[bytes], batch: list[tuple[str, bytes, bytes]]
    ) -> None:
        """Drop from ``batch`` what an interrupted write of it already put in Redis."""
        prefix = self._prefix
        keys = {key for key, _, _ in batch}
        last: dict[str, int] = {}
        for key in keys:
            seen = 0
            end: bytes = b"+"
            while seen < _RECOVER_SCAN:
                entries = await client.xrevrange(key, end, b"-", count=500)
                if not entries:
                    break
                hit = None
                for entry in entries:
                    tag = entry.field_values.get(b"s", b"")
                    if isinstance(tag, bytes) and tag.startswith(prefix):
                        hit = int(tag[len(prefix) :])
                        break
                if hit is not None:
                    last[key] = hit
                    break
                seen += len(entries)
                ident = entries[-1].identifier
                end = b"(" + (ident if isinstance(ident, bytes) else ident.encode())
        keep = [b for b in batch if int(b[2][len(prefix) :]) > last.get(b[0], -1)]
        skipped = len(batch) - len(keep)
        if skipped:
            self._stats.duplicates_skipped += skipped
            self._stats.sent += skipped
        self._inflight = keep or None
        self._update_buffered()


# ------------------------------------------------------------------------------ the readers


@attrs.frozen(slots=True)
class StreamEntry:
    """One entry read from a stream: its key, its id and the item it holds."""

    stream: str
    id: str
    item: Item


def _streams(streams: str | Iterable[str] | Mapping[str, str], start: str) -> dict[str, str]:
    if isinstance(streams, str):
        out = {streams: start}
    elif isinstance(streams, Mapping):
        out = {str(k): str(v) for k, v in streams.items()}
    else:
        out = dict.fromkeys(streams, start)
    if not out:
        raise ConfigError("streams must name at least one stream key")
    return out


def _text(v: Any) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


def _decode(key: str, entry: Any, conv: cattrs.Converter | None) -> StreamEntry:
    ident = _text(entry.identifier)
    data = entry.field_values.get(b"d")
    if data is None:
        raise ProtocolError(
            f"stream {key!r} entry {ident}: no 'd' field (not written by trio_feeds)"
        )
    try:
        item = loads(data, conv)
    except Exception as exc:
        raise ProtocolError(
            f"stream {key!r} entry {ident}: not a trio_feeds record: {exc}"
        ) from exc
    return StreamEntry(key, ident, item)


async def read_entries(
    redis: coredis.Redis[bytes],
    streams: str | Iterable[str] | Mapping[str, str],
    *,
    start: str = "0",
    group: str | None = None,
    consumer: str | None = None,
    count: int = 1000,
    block: float = 1.0,
    idle_timeout: float | None = None,
    ack: bool = True,
    converter: cattrs.Converter | None = None,
) -> AsyncIterator[StreamEntry]:
    """Entries of one or more streams, in order per stream (see :func:`read_stream`)."""
    positions = _streams(streams, start)
    count = _positive_int("count", count)
    block_ms = max(1, int(seconds("block", block, parse_str=True) * 1000))
    if idle_timeout is not None:
        idle_timeout = seconds("idle_timeout", idle_timeout, allow_zero=True, parse_str=True)
    if (group is None) != (consumer is None):
        raise ConfigError("group and consumer go together: give both or neither")
    idle_since = trio.current_time()
    if group is None:
        while True:
            wait = block_ms
            if idle_timeout is not None:
                left = idle_timeout - (trio.current_time() - idle_since)
                if left <= 0:
                    return
                wait = max(1, min(block_ms, int(left * 1000)))
            reply = await redis.xread(positions, count=count, block=wait)
            if not reply:
                continue
            idle_since = trio.current_time()
            for raw_key, entries in reply.items():
                key = _text(raw_key)
                for entry in entries:
                    yield _decode(key, entry, converter)
                if entries:
                    positions[key] = _text(entries[-1].identifier)
    assert consumer is not None
    import coredis.exceptions as ce

    for key, pos in positions.items():
        try:
            await redis.xgroup_create(key, group, pos, mkstream=True)
        except ce.StreamDuplicateConsumerGroupError:
            pass
    # first what this consumer was given and never acknowledged (a restart), then new entries
    pending = dict.fromkeys(positions, "0")
    while True:
        wait = block_ms
        if idle_timeout is not None:
            left = idle_timeout - (trio.current_time() - idle_since)
            if left <= 0 and not pending:
                return
            wait = max(1, min(block_ms, int(max(left, 0) * 1000)))
        ids = pending or dict.fromkeys(positions, ">")
        reply = await redis.xreadgroup(
            group, consumer, ids, count=count, block=None if pending else wait
        )
        got = False
        for raw_key, entries in (reply or {}).items():
            key = _text(raw_key)
            for entry in entries:
                if entry.field_values is None or not entry.field_values:
                    continue  # deleted (trimmed) while pending
                got = True
                e = _decode(key, entry, converter)
                yield e
            if pending:
                if entries:
                    pending[key] = _text(entries[-1].identifier)
                else:
                    del pending[key]
            if ack and entries:
                await redis.xack(key, group, [_text(x.identifier) for x in entries])
        if pending and not reply:
            pending.clear()
        if got:
            idle_since = trio.current_time()


async def read_stream(
    redis: coredis.Redis[bytes],
    streams: str | Iterable[str] | Mapping[str, str],
    *,
    start: str = "0",
    group: str | None = None,
    consumer: str | None = None,
    count: int = 1000,
    block: float = 1.0,
    idle_timeout: float | None = None,
    ack: bool = True,
    converter: cattrs.Converter | None = None,
) -> AsyncIterator[Item]:
    """The items a :class:`RedisStreamSink` wrote, read back::

        async with open_redis("redis://127.0.0.1:6379") as redis:
            async for record in read_stream(redis, stream_keys("binance", "trade", "BTC-USDT")):
                ...

    ``streams``: one key, several, or ``{key: last_id}``.  Without ``group``
    this is ``XREAD``: from ``start`` (``"0"``: everything still in the
    stream, ``"$"``: only new entries, or an entry id), blocking up to
    ``block`` seconds per call.  With ``group`` and ``consumer`` it is
    ``XREADGROUP``: several workers sharing a group each get a disjoint part
    of the entries; the group is created (at ``start``) if needed, entries this
    consumer left unacknowledged are delivered again first, and a batch is
    acknowledged (``XACK``) once every entry of it has been yielded and the loop
    asks for more (at-least-once; ``ack=False`` leaves it to you).

    ``idle_timeout``: stop after that many seconds without a new entry (None:
    never stop).  The client is yours: no task runs inside this generator.
    """
    async for entry in read_entries(
        redis,
        streams,
        start=start,
        group=group,
        consumer=consumer,
        count=count,
        block=block,
        idle_timeout=idle_timeout,
        ack=ack,
        converter=converter,
    ):
        yield entry.item
