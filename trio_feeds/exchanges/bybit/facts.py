"""Bybit v5 public WebSocket: the plain facts an engine spec needs (no code).

Sources (checked 2026, see ``docs/exchanges.md``):
https://bybit-exchange.github.io/docs/v5/ws/connect,
https://bybit-exchange.github.io/docs/v5/websocket/public/orderbook,
…/public/ticker, …/public/trade, …/public/kline.
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "BOOK_RESYNC",
    "CONNECTIONS_PER_WINDOW",
    "CONNECTION_WINDOW",
    "FULL_BOOK_STREAMS",
    "HEARTBEAT",
    "IDLE_CLOSE_AFTER",
    "LINEAR_PATH",
    "MAX_ARGS_CHARS_PER_CONNECTION",
    "MAX_ARGS_PER_REQUEST",
    "MAX_CONNECTION_AGE",
    "MAX_STREAMS_PER_CONNECTION",
    "NAME",
    "PARTIAL_BOOK_STREAM",
    "PING_INTERVAL",
    "REST_INSTRUMENTS_LINEAR",
    "REST_INSTRUMENTS_SPOT",
    "REST_URL",
    "SPOT_PATH",
    "WS_TESTNET_URL",
    "WS_URL",
]


NAME: Final = "bybit"

#: default WebSocket base URL (scheme, host, port); the path picks the category
WS_URL: Final = "wss://stream.bybit.com"
#: testnet host, same paths
WS_TESTNET_URL: Final = "wss://stream-testnet.bybit.com"
#: REST base URL (market data: instruments, order book, tickers)
REST_URL: Final = "https://api.bybit.com"

#: ``BTC-USDT`` (spot) is served here
SPOT_PATH: Final = "/v5/public/spot"
#: ``BTC-USDT-PERP`` (USDT perpetuals, category "linear") is served here
LINEAR_PATH: Final = "/v5/public/linear"

#: heartbeat style: the client sends an application JSON ping, the server answers with
#: ``{"success":true,"ret_msg":"pong","op":"ping",...}`` (spot, linear).
HEARTBEAT: Final = "app-json-ping"
#: Bybit recommends a ping every 20 s
PING_INTERVAL: Final = 20.0
#: without ping-pong and without data the server cuts a connection after 10 minutes
IDLE_CLOSE_AFTER: Final = 600.0
#: no documented maximum connection age (public streams)
MAX_CONNECTION_AGE: Final[float | None] = None

#: at most 500 new connections per 5 minutes per WebSocket domain (per IP)
CONNECTIONS_PER_WINDOW: Final = 500
CONNECTION_WINDOW: Final = 300.0
#: spot accepts at most 10 args per subscribe request (linear: no limit "for now";
#: we batch by 10 on both)
MAX_ARGS_PER_REQUEST: Final = 10
#: the args of one public connection together may not exceed 21,000 characters
MAX_ARGS_CHARS_PER_CONNECTION: Final = 21_000
#: our cap on topics per connection, so that even the longest topic this adapter can
#: build (``orderbook.1000.`` + a 40-character symbol, quoted, with a comma) keeps
#: the args under 21,000 characters: 350 × 58 = 20,300
MAX_STREAMS_PER_CONNECTION: Final = 350

#: ``book_mode="full"`` streams (snapshot + deltas, ``u`` chain)
FULL_BOOK_STREAMS: Final = ("orderbook.50", "orderbook.200", "orderbook.1000")
#: Bybit has no whole-top-N stream beyond level 1: ``orderbook.1`` (snapshot only, re-sent
#: after 3 s without change) is the only stream whose every push is a whole book
PARTIAL_BOOK_STREAM: Final = "orderbook.1"
#: no REST snapshot is needed: every subscription starts with an in-band snapshot;
#: a gap resyncs by unsubscribing and subscribing on the same connection
BOOK_RESYNC: Final = "resubscribe"

#: REST instrument lists (for later: symbol validation against the venue)
REST_INSTRUMENTS_SPOT: Final = "/v5/market/instruments-info?category=spot"
REST_INSTRUMENTS_LINEAR: Final = "/v5/market/instruments-info?category=linear"
