"""Normalized market-data records and the stream events that travel beside them.

Every record is a frozen, slotted attrs class.  Data records share five fields:

``kind``
    ``"trade" | "ticker" | "quote" | "book" | "candle"`` (and ``"book_delta"``).
``exchange``
    ``"binance" | "okx"``.
``symbol``
    canonical ``BASE-QUOTE``, e.g. ``"BTC-USDT"``.
``timestamp``
    int, Unix **milliseconds**: the exchange's event or trade time.  Where the
    frame carries no event time (Binance spot ``bookTicker`` and partial depth;
    OKX candles, which carry only the interval's open time) it is the local
    receive time in ms, and ``exchange_time`` is False.
``received_at``
    float, Unix **seconds** (``time.time()``) when the frame was read from the
    socket.  One clock read per socket read, shared by every record parsed
    from it.

Numbers are ``float``.  See ``docs/records.md`` for the measurement behind that
choice; the exchange's original strings are kept where they matter (OKX book
checksums) and the whole original payload is reachable through ``raw`` when
the feed is opened with ``keep_raw=True``.

Events (gaps, subscription results, source switches, …) have a ``kind`` too,
so a script that only iterates a feed sees them in order with the data.
"""

from __future__ import annotations

from typing import Any, Literal, TypeAlias

import attrs

from trio_feeds.core.fields import _RAW, _kind
from trio_feeds.core.fields import Level as Level
from trio_feeds.core.fields import Levels as Levels
from trio_feeds.core.fields import Side as Side

DataKind: TypeAlias = Literal[
    "trade", "ticker", "quote", "book", "candle", "funding", "mark", "open_interest", "liquidation"
]
DATA_KINDS: tuple[DataKind, ...] = (
    "trade",
    "ticker",
    "quote",
    "book",
    "candle",
    "funding",
    "mark",
    "open_interest",
    "liquidation",
)
#: Channels only perpetual swaps have.
PERP_KINDS: tuple[DataKind, ...] = ("funding", "mark", "open_interest", "liquidation")


@attrs.frozen(slots=True)
class Trade:
    """One trade (or one aggregate of fills, for Binance ``aggTrade``)."""

    exchange: str
    symbol: str
    timestamp: int
    received_at: float
    price: float
    amount: float
    side: Side
    """The taker's side."""
    trade_id: str
    raw: Any = _RAW
    kind: Literal["trade"] = _kind("trade")


@attrs.frozen(slots=True)
class Ticker:
    """Rolling 24 h statistics with the last price and the top of the book."""

    exchange: str
    symbol: str
    timestamp: int
    received_at: float
    price: float
    """Last traded price."""
    bid: float
    ask: float
    volume: float
    """24 h volume in the base currency."""
    open: float
    high: float
    low: float
    quote_volume: float
    """24 h volume in the quote currency."""
    bid_size: float | None = None
    ask_size: float | None = None
    raw: Any = _RAW
    kind: Literal["ticker"] = _kind("ticker")


@attrs.frozen(slots=True)
class Quote:
    """Best bid and ask (top of book)."""

    exchange: str
    symbol: str
    timestamp: int
    received_at: float
    bid: float
    bid_size: float
    ask: float
    ask_size: float
    sequence: int | None = None
    """Binance ``u`` (book update id), OKX ``seqId``."""
    exchange_time: bool = True
    """False when the exchange sent no time and ``timestamp`` is the receive time."""
    raw: Any = _RAW
    kind: Literal["quote"] = _kind("quote")


@attrs.frozen(slots=True)
class Book:
    """A whole L2 order book (or its top ``depth`` levels), best levels first."""

    exchange: str
    symbol: str
    timestamp: int
    received_at: float
    bids: Levels
    asks: Levels
    sequence: int | None
    """Binance ``lastUpdateId``/``u``, OKX ``seqId``."""
    exchange_time: bool = True
    raw: Any = _RAW
    kind: Literal["book"] = _kind("book")

    @property
    def best_bid(self) -> Level | None:
        return self.bids[0] if self.bids else None

    @property
    def best_ask(self) -> Level | None:
        return self.asks[0] if self.asks else None

    @property
    def crossed(self) -> bool:
        """True when the best bid is at or above the best ask."""
        return bool(self.bids and self.asks and self.bids[0][0] >= self.asks[0][0])


@attrs.frozen(slots=True)
class BookDelta:
    """A book frame as the exchange sent it: a snapshot or a set of changed levels.

    Sizes are absolute; a size of ``0`` removes the level.  ``first_sequence``
    and ``sequence`` are Binance ``U``/``u``; ``prev_sequence`` and
    ``sequence`` are OKX ``prevSeqId``/``seqId``.  ``checksum`` is OKX's CRC32
    (``0`` or ``None`` when the exchange sends none); when it is non-zero,
    ``text`` keeps the exchange's original ``(price, size)`` strings for bids
    and asks, which the checksum is computed over.
    """

    exchange: str
    symbol: str
    timestamp: int
    received_at: float
    bids: Levels
    asks: Levels
    snapshot: bool
    sequence: int | None
    prev_sequence: int | None = None
    first_sequence: int | None = None
    checksum: int | None = None
    text: tuple[tuple[tuple[str, str], ...], tuple[tuple[str, str], ...]] | None = attrs.field(
        default=None, repr=False
    )
    raw: Any = _RAW
    kind: Literal["book_delta"] = _kind("book_delta")


@attrs.frozen(slots=True)
class Candle:
    """A candlestick; ``closed`` is False while the interval is still open.

    ``timestamp`` follows the rule of every record: the exchange's event time (Binance
    kline ``E``), else the receive time with ``exchange_time=False`` (OKX); the interval's
    open time is ``start``, whatever the exchange."""

    exchange: str
    symbol: str
    timestamp: int
    received_at: float
    start: int
    """Open time of the interval, Unix ms."""
    interval: str
    open: float
    high: float
    low: float
    close: float
    volume: float
    closed: bool
    quote_volume: float | None = None
    trades: int | None = None
    exchange_time: bool = True
    """False when the frame has no event time and ``timestamp`` is the receive time (OKX:
    a candle push carries only its open time, which is ``start``)."""
    raw: Any = _RAW
    kind: Literal["candle"] = _kind("candle")


from trio_feeds.core.perp import Funding as Funding  # noqa: E402
from trio_feeds.core.perp import Liquidation as Liquidation  # noqa: E402
from trio_feeds.core.perp import MarkPrice as MarkPrice  # noqa: E402
from trio_feeds.core.perp import OpenInterest as OpenInterest  # noqa: E402

Record: TypeAlias = (
    Trade
    | Ticker
    | Quote
    | Book
    | BookDelta
    | Candle
    | Funding
    | MarkPrice
    | OpenInterest
    | Liquidation
)
"""Any normalized data record."""

RECORD_TYPES: dict[str, type[Record]] = {
    "trade": Trade,
    "ticker": Ticker,
    "quote": Quote,
    "book": Book,
    "book_delta": BookDelta,
    "candle": Candle,
    "funding": Funding,
    "mark": MarkPrice,
    "open_interest": OpenInterest,
    "liquidation": Liquidation,
}


# --------------------------------------------------------------------------- stream events

from trio_feeds.core.events import Dropped as Dropped  # noqa: E402
from trio_feeds.core.events import FailoverFailed as FailoverFailed  # noqa: E402
from trio_feeds.core.events import Gap as Gap  # noqa: E402
from trio_feeds.core.events import GapFilled as GapFilled  # noqa: E402
from trio_feeds.core.events import SourceEvent as SourceEvent  # noqa: E402
from trio_feeds.core.events import SourceSwitch as SourceSwitch  # noqa: E402
from trio_feeds.core.events import SubscriptionChange as SubscriptionChange  # noqa: E402
from trio_feeds.core.events import SubscriptionRejected as SubscriptionRejected  # noqa: E402

Event: TypeAlias = (
    Gap
    | GapFilled
    | Dropped
    | SubscriptionRejected
    | SubscriptionChange
    | SourceEvent
    | SourceSwitch
    | FailoverFailed
)
"""Any stream event: what a feed yields besides records (gaps, drops, source changes, …)."""

EVENT_TYPES: dict[str, type[Event]] = {
    "gap": Gap,
    "gap_filled": GapFilled,
    "dropped": Dropped,
    "subscription_rejected": SubscriptionRejected,
    "subscription_change": SubscriptionChange,
    "source": SourceEvent,
    "source_switch": SourceSwitch,
    "failover_failed": FailoverFailed,
}

Item: TypeAlias = Record | Event
"""Anything a feed yields."""

__all__ = [
    "DATA_KINDS",
    "EVENT_TYPES",
    "RECORD_TYPES",
    "Book",
    "BookDelta",
    "Candle",
    "DataKind",
    "Dropped",
    "Event",
    "FailoverFailed",
    "Gap",
    "GapFilled",
    "Item",
    "Level",
    "Levels",
    "Quote",
    "Record",
    "Side",
    "SourceEvent",
    "SourceSwitch",
    "SubscriptionChange",
    "SubscriptionRejected",
    "Ticker",
    "Trade",
]
