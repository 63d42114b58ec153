"""Coinbase Advanced Trade market-data WebSocket: the plain facts an engine spec needs.

Sources (checked 2026, see ``docs/exchanges.md``):
https://docs.cdp.coinbase.com/coinbase-app/advanced-trade-apis/websocket/websocket-overview,
…/websocket-channels, …/websocket-rate-limits, and the AsyncAPI reference
https://docs.cdp.coinbase.com/api-reference/advanced-trade-api/advanced-trade-asyncapi.json.
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "BOOK_RESYNC",
    "CANDLE_INTERVAL",
    "CANDLE_INTERVAL_MS",
    "CLIENT_MESSAGES_PER_SECOND",
    "CONNECTIONS_PER_SECOND",
    "FULL_BOOK_STREAMS",
    "HEARTBEAT",
    "IDLE_CLOSE_AFTER",
    "MAX_CONNECTION_AGE",
    "MAX_PRODUCTS_PER_REQUEST",
    "MAX_STREAMS_PER_CONNECTION",
    "NAME",
    "PARTIAL_BOOK_STREAM",
    "REST_PRODUCTS",
    "REST_URL",
    "SEQUENCE_SCOPE",
    "SERVER_HEARTBEAT_INTERVAL",
    "SUBSCRIBE_WITHIN",
    "WS_PATH",
    "WS_URL",
]


NAME: Final = "coinbase"

#: market data endpoint (path ``/``); no authentication needed for the public channels
WS_URL: Final = "wss://advanced-trade-ws.coinbase.com"
WS_PATH: Final = "/"
#: REST base URL (public market data: ``/api/v3/brokerage/market/products``)
REST_URL: Final = "https://api.coinbase.com"

#: heartbeat style: the server sends a ``heartbeats`` message every second once that
#: channel is subscribed (the adapter subscribes it on every connection); no client ping
#: is required, WebSocket control pings measure the round trip
HEARTBEAT: Final = "server-heartbeats-channel"
SERVER_HEARTBEAT_INTERVAL: Final = 1.0
#: "most channels close within 60-90 seconds if no updates are sent" (without heartbeats)
IDLE_CLOSE_AFTER: Final = 60.0
#: a connection that has sent no subscribe within 5 seconds is closed
SUBSCRIBE_WITHIN: Final = 5.0
#: no documented maximum connection age
MAX_CONNECTION_AGE: Final[float | None] = None

#: WebSocket connections: 8 per second per IP (coinbase-app rate-limit page; the
#: coinbase-business copy of the page says 750 per second: we budget the lower figure)
CONNECTIONS_PER_SECOND: Final = 8
#: unauthenticated messages the client sends: 8 per second per IP
CLIENT_MESSAGES_PER_SECOND: Final = 8
#: one channel per subscribe message; products per message are not limited in the docs:
#: this is our own cap, to keep frames small
MAX_PRODUCTS_PER_REQUEST: Final = 100
#: not documented; our cap per connection (each product-channel pair counts one)
MAX_STREAMS_PER_CONNECTION: Final = 200

#: ``sequence_num`` numbers every message of a connection, all channels together:
#: a hole means whole messages were missed (see ``ConnectionGap``)
SEQUENCE_SCOPE: Final = "connection"

#: ``level2`` (pushes arrive as channel ``l2_data``): snapshot, then updates
FULL_BOOK_STREAMS: Final = ("level2",)
#: no whole-top-N book stream exists
PARTIAL_BOOK_STREAM: Final[str | None] = None
BOOK_RESYNC: Final = "resubscribe"

#: candles are five-minute buckets, updated every second
CANDLE_INTERVAL: Final = "5m"
CANDLE_INTERVAL_MS: Final = 300_000

#: REST product list (for later: symbol validation against the venue)
REST_PRODUCTS: Final = "/api/v3/brokerage/market/products"
