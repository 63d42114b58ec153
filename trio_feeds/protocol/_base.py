from __future__ import annotations

import abc
from collections.abc import Iterable, Sequence
from typing import Any, ClassVar

from trio_feeds.core.errors import ConfigError
from trio_feeds.protocol._subscription import Subscription

#: channel names accepted by ``open_feed(channels=...)`` -> the normalized channel
CHANNEL_ALIASES: dict[str, str] = {
    "trade": "trade",
    "trades": "trade",
    "ticker": "ticker",
    "tickers": "ticker",
    "quote": "quote",
    "quotes": "quote",
    "bbo": "quote",
    "book": "book",
    "books": "book",
    "depth": "book",
    "orderbook": "book",
    "order_book": "book",
    "candle": "candle",
    "candles": "candle",
    "kline": "candle",
    "klines": "candle",
    # perpetual swaps only
    "funding": "funding",
    "funding_rate": "funding",
    "mark": "mark",
    "mark_price": "mark",
    "open_interest": "open_interest",
    "liquidation": "liquidation",
    "liquidations": "liquidation",
}


def normalize_channel(channel: str) -> str:
    """``"depth"``/``"orderbook"`` → ``"book"``, ``"kline"`` → ``"candle"``, …"""
    try:
        return CHANNEL_ALIASES[channel.strip().lower()]
    except (KeyError, AttributeError):
        raise ConfigError(
            f"channel {channel!r} is not one of trade, ticker, quote, book, candle, and for "
            "perpetuals funding, mark, open_interest, liquidation (aliases: depth, orderbook, "
            "kline, mark_price)"
        ) from None


class Adapter(abc.ABC):
    """Sans-I/O protocol for one exchange connection.

    No sockets, no trio: it builds frames to send and turns received frames
    into normalized records and control events.  One instance per connection
    (it remembers request ids and what it subscribed).
    """

    #: exchange name, e.g. ``"binance"``.
    name: ClassVar[str]
    #: default WebSocket base URL (scheme, host, port).
    default_url: ClassVar[str]
    #: default REST base URL.
    default_rest_url: ClassVar[str]
    #: maximum subscriptions one connection may carry (the engine shards above it).
    max_streams_per_connection: ClassVar[int]

    def __init__(self, *, keep_raw: bool = False, only_subscribed: bool = False) -> None:
        self.keep_raw = keep_raw
        #: drop data frames of streams this adapter did not subscribe (the engine sets it)
        self.only_subscribed = only_subscribed
        #: how many such frames were dropped
        self.unsolicited = 0
        #: the first few distinct topics of those frames (``"btcusdt@trade"``, ``"trades:X-Y"``)
        self.unsolicited_topics: list[str] = []

    def _drop_unsolicited(self, topic: str) -> None:
        """Count a data frame for a stream nobody subscribed on this connection (it is
        dropped: no record and no per-topic state; the engine reports the count)."""
        self.unsolicited += 1
        topics = self.unsolicited_topics
        if len(topics) < 8 and topic not in topics:
            topics.append(topic)

    # -- subscriptions -------------------------------------------------------------------
    @abc.abstractmethod
    def subscription(self, channel: str, symbol: str, stream: str | None = None) -> Subscription:
        """Validate and build a subscription; ``stream`` picks a non-default variant.

        Raises :class:`~trio_feeds.ConfigError` / :class:`~trio_feeds.SymbolError`
        naming what is wrong.
        """

    @abc.abstractmethod
    def endpoint(self, subscription: Subscription) -> str:
        """The URL path (and query, if any) the subscription must be made on."""

    @abc.abstractmethod
    def subscribe(self, subscriptions: Sequence[Subscription]) -> list[str]:
        """Text frames that subscribe to these (batched as the exchange allows)."""

    @abc.abstractmethod
    def unsubscribe(self, subscriptions: Sequence[Subscription]) -> list[str]:
        """Text frames that unsubscribe from these."""

    def ping(self) -> str | None:
        """An application-level ping frame, or None when the exchange uses WS control pings."""
        return None

    # -- receiving -----------------------------------------------------------------------
    @abc.abstractmethod
    def parse(self, frame: bytes | str, received_at: float, out: list[Any]) -> None:
        """Append the records and control events found in ``frame`` to ``out``.

        Never raises on bad input: a frame that cannot be used appends a
        :class:`~trio_feeds.protocol.ParseError` naming the problem.  Every number and id
        is checked against the validation rule (``protocol/_rules.py``); a frame breaking
        it gives one ``ParseError`` naming the field and no record.  With
        ``only_subscribed``, a data frame of a stream this adapter did not subscribe gives
        nothing and is counted in :attr:`unsolicited`.
        """

    def parse_one(self, frame: bytes | str, received_at: float = 0.0) -> list[Any]:
        """Convenience: :meth:`parse` into a new list."""
        out: list[Any] = []
        self.parse(frame, received_at, out)
        return out

    def parse_many(self, frames: Iterable[bytes | str], received_at: float) -> list[Any]:
        out: list[Any] = []
        parse = self.parse
        for frame in frames:
            parse(frame, received_at, out)
        return out
