"""The sink interface, its statistics, ``run_sink`` and stream-key routing."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import attrs
import trio

from trio_feeds.core.errors import ConfigError
from trio_feeds.core.records import DATA_KINDS, Item

#: where records go: one Redis stream per exchange, kind and symbol
DEFAULT_STREAM_TEMPLATE = "trio_feeds:{exchange}:{kind}:{symbol}"
#: where events that belong to no single data stream go
DEFAULT_EVENTS_STREAM = "trio_feeds:events"

_ROUTABLE_KINDS = frozenset({*DATA_KINDS, "book_delta"})


@attrs.define
class SinkStats:
    """Counters of a sink (a live object: read it any time)."""

    received: int = 0
    """Items handed to :meth:`Sink.send_many`."""
    sent: int = 0
    """Items the destination has acknowledged (written, for a file)."""
    dropped: int = 0
    """Items that will never reach the destination (buffer overflow, rejected, unsent at close)."""
    buffered: int = 0
    """Items waiting to be sent (including a batch in flight)."""
    batches: int = 0
    """Batches written."""
    errors: int = 0
    """Failed writes and connection attempts."""
    reconnects: int = 0
    """Connections made after the first."""
    duplicates_skipped: int = 0
    """Items of a batch that was interrupted mid-write and turned out to be written already."""
    connected: bool = False
    last_error: str | None = None

    def summary(self) -> str:
        """One line for people: ``sent 120, dropped 0, errors 0`` (and the last error)."""
        text = f"sent {self.sent}, dropped {self.dropped}, errors {self.errors}"
        if self.buffered:
            text += f", buffered {self.buffered}"
        if self.last_error:
            text += f" (last error: {self.last_error})"
        return text

    @property
    def all_dropped(self) -> bool:
        """Items came in and none of them was delivered."""
        return self.received > 0 and self.sent == 0


@runtime_checkable
class Sink(Protocol):
    """Where records go: a Redis stream, a file, … (see :func:`open_sink`)."""

    @property
    def stats(self) -> SinkStats: ...

    async def send_many(self, items: Sequence[Item]) -> None:
        """Take a batch of records and events; returns quickly (a sink buffers)."""

    async def aclose(self) -> None:
        """Flush what can be flushed in a bounded time, then release everything."""


class ItemSource(Protocol):
    """A :class:`~trio_feeds.Feed`, or any receive channel of items."""

    async def receive(self) -> Item: ...

    def receive_nowait(self) -> Item: ...


async def run_sink(feed: ItemSource, sink: Sink, *, max_batch: int = 4096) -> None:
    """Pump ``feed`` into ``sink`` until the feed ends.

    Waits for one item, then takes everything else already buffered (without
    waiting, up to ``max_batch``) and sends it as one batch.  Returns at the end
    of the feed (``trio.EndOfChannel``); the feed's errors propagate.
    """
    if isinstance(max_batch, bool) or not isinstance(max_batch, int) or max_batch < 1:
        raise ConfigError(f"max_batch must be a positive int, got {max_batch!r}")
    receive = feed.receive
    receive_nowait = feed.receive_nowait
    send_many = sink.send_many
    while True:
        try:
            batch = [await receive()]
        except trio.EndOfChannel:
            return
        try:
            while len(batch) < max_batch:
                batch.append(receive_nowait())
        except trio.WouldBlock:
            pass
        except trio.EndOfChannel:
            await send_many(batch)
            return
        await send_many(batch)


def check_template(template: str) -> str:
    """Raise :class:`ConfigError` unless ``template`` formats with exchange, kind and symbol."""
    if not isinstance(template, str) or not template:
        raise ConfigError(f"stream_template must be a non-empty string, got {template!r}")
    try:
        template.format(exchange="x", kind="trade", symbol="BTC-USDT")
    except (KeyError, IndexError, ValueError) as exc:
        raise ConfigError(
            f"stream_template {template!r} may only use "
            f"{{exchange}}, {{kind}} and {{symbol}}: {exc}"
        ) from None
    return template


def route(item: Item) -> tuple[str, str, str] | None:
    """``(exchange, kind, symbol)`` of the data stream an item belongs to, or None.

    Data records go to their own stream.  An event that names one exchange, one
    symbol and one data channel (a ``Gap``, ``Dropped`` or ``SubscriptionRejected``
    for ``binance`` ``BTC-USDT`` ``trade``) goes into that data stream, in order
    with the data; every other event (source changes, switches, ``"*"`` gaps)
    gets None: it goes to the events stream.
    """
    kind = item.kind
    if kind in _ROUTABLE_KINDS:
        return item.exchange, kind, item.symbol  # type: ignore[union-attr]
    exchange = getattr(item, "exchange", None)
    symbol = getattr(item, "symbol", None)
    channel = getattr(item, "channel", None)
    if (
        isinstance(exchange, str)
        and isinstance(symbol, str)
        and symbol != "*"
        and channel in _ROUTABLE_KINDS
    ):
        return exchange, str(channel), symbol
    return None


def stream_keys(
    exchanges: list[str] | tuple[str, ...] | str,
    kinds: list[str] | tuple[str, ...] | str,
    symbols: list[str] | tuple[str, ...] | str,
    *,
    template: str = DEFAULT_STREAM_TEMPLATE,
) -> list[str]:
    """Every stream key for these exchanges, kinds and symbols (for readers).

    >>> stream_keys("binance", ["trade"], ["BTC-USDT", "ETH-USDT"])
    ['trio_feeds:binance:trade:BTC-USDT', 'trio_feeds:binance:trade:ETH-USDT']
    """
    from trio_feeds.core.symbols import canonical

    check_template(template)

    def _list(v: list[str] | tuple[str, ...] | str) -> list[str]:
        return [v] if isinstance(v, str) else list(v)

    return [
        template.format(exchange=e, kind=k, symbol=canonical(s))
        for e in _list(exchanges)
        for k in _list(kinds)
        for s in _list(symbols)
    ]
