"""Reading back what a :class:`~trio_feeds.sinks.RedisStreamSink` wrote: XREAD, or
XREADGROUP + XACK for workers sharing a group."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Mapping
from typing import TYPE_CHECKING, Any

import attrs
import cattrs
import trio

from trio_feeds.core.convert import loads
from trio_feeds.core.errors import ConfigError, ProtocolError
from trio_feeds.core.records import Item
from trio_feeds.core.validate import seconds
from trio_feeds.sinks._redis_client import _positive_int

if TYPE_CHECKING:
    import coredis

__all__ = ["StreamEntry", "read_entries", "read_stream"]


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
