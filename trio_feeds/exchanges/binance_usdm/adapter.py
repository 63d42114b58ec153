"""Binance USD-M futures (USDT-margined perpetuals) market data, sans-I/O.

The protocol is spot's (``SUBSCRIBE``/``UNSUBSCRIBE`` on ``/stream``, combined envelopes),
so :class:`BinanceUsdmAdapter` is :class:`~trio_feeds.exchanges.binance.BinanceAdapter`
with USD-M's hosts, streams and payload shapes (:mod:`.streams`, :mod:`.handlers`).

Symbols: canonical ``BTC-USDT-PERP`` ↔ USD-M ``BTCUSDT`` (``btcusdt`` in stream names).
Amounts (trade ``q``, book sizes, liquidation ``q``) are already in the base asset.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import ClassVar

from trio_feeds.core.errors import ConfigError
from trio_feeds.exchanges.binance.adapter import BinanceAdapter
from trio_feeds.exchanges.binance.streams import TypedHandler
from trio_feeds.exchanges.binance_usdm import snapshot
from trio_feeds.exchanges.binance_usdm.handlers import make_handler
from trio_feeds.exchanges.binance_usdm.streams import (
    NAME,
    REST_OPEN_INTEREST,
    STREAMS,
    stream_kind,
)
from trio_feeds.protocol import Subscription

__all__ = ["BinanceUsdmAdapter"]


class BinanceUsdmAdapter(BinanceAdapter):
    """Binance USD-M futures public market data (one instance per connection).

    >>> a = BinanceUsdmAdapter()
    >>> sub = a.subscription("funding", "BTC-USDT-PERP")
    >>> sub.topic, a.endpoint(sub)
    ('btcusdt@markPrice', '/stream')
    """

    name: ClassVar[str] = NAME
    default_url: ClassVar[str] = "wss://fstream.binance.com"
    default_rest_url: ClassVar[str] = "https://fapi.binance.com"
    max_streams_per_connection: ClassVar[int] = 1024
    perpetual: ClassVar[bool] = True
    streams: ClassVar[dict[str, tuple[str, tuple[str, ...]]]] = STREAMS
    stream_kind = staticmethod(stream_kind)
    make_handler = staticmethod(make_handler)
    #: USD-M depth frames carry ``pu``, which the typed (msgspec) spot shape does not keep:
    #: they take the orjson path.
    typed_handlers: ClassVar[dict[str, Callable[[str, str], TypedHandler]]] = {}

    parse_depth_snapshot = staticmethod(snapshot.parse_depth_snapshot)
    depth_snapshot_path = staticmethod(snapshot.depth_snapshot_path)
    depth_snapshot_weight = staticmethod(snapshot.depth_snapshot_weight)
    open_interest_path = staticmethod(snapshot.open_interest_path)
    parse_open_interest = staticmethod(snapshot.parse_open_interest)

    def subscribe(self, subscriptions: Sequence[Subscription]) -> list[str]:
        """As on spot; ``open_interest`` has no stream (the engine polls it over REST)."""
        for sub in subscriptions:
            if isinstance(sub, Subscription) and sub.stream == REST_OPEN_INTEREST:
                raise ConfigError(
                    f"{NAME} open_interest ({sub.symbol}) has no WebSocket stream: it is "
                    "polled from GET /fapi/v1/openInterest (SPEC.rest_polls)"
                )
        return super().subscribe(subscriptions)
