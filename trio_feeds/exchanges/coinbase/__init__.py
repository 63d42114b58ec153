"""Coinbase Advanced Trade public market data (``BTC-USD``, ``BTC-USDT``, …).

Protocol adapter, book sync, simulator and the facts the engine needs (``SPEC``; the
protocol facts and their pages are in ``docs/exchanges.md``).

>>> from trio_feeds.exchanges.coinbase import CoinbaseAdapter
>>> CoinbaseAdapter().subscription("book", "BTC-USD").topic
'level2:BTC-USD'
"""

from trio_feeds.core.symbols import canonical
from trio_feeds.exchanges.coinbase import facts as facts
from trio_feeds.exchanges.coinbase.adapter import STREAMS as STREAMS
from trio_feeds.exchanges.coinbase.adapter import CoinbaseAdapter as CoinbaseAdapter
from trio_feeds.exchanges.coinbase.book import CoinbaseBookSync as CoinbaseBookSync
from trio_feeds.exchanges.coinbase.history import HISTORY
from trio_feeds.exchanges.coinbase.instruments import parse_products
from trio_feeds.exchanges.spec import (
    BookRules,
    ExchangeSpec,
    Heartbeat,
    InstrumentList,
    Limits,
    SymbolMap,
)

SPEC = ExchangeSpec(
    name=facts.NAME,
    label="Coinbase",
    adapter=CoinbaseAdapter,
    simulator="trio_feeds.exchanges.coinbase.simulator:SimulatedCoinbase",
    # 8 new connections / s / IP and 8 unauthenticated client messages / s / IP: buckets
    # let ``capacity + rate`` through in any second: 2 + 4 = 6 connections, 3 + 4 = 7
    # messages per connection (a subscribe is one frame per channel, heartbeats first).
    limits=Limits(
        connect_rate=4.0,
        connect_capacity=2,
        messages_per_second=4.0,
        messages_burst=3,
        requests_per_hour=None,
        streams_per_connection=facts.MAX_STREAMS_PER_CONNECTION,
        rest_rate=10.0,
        rest_capacity=10,
        rest_unit="requests",
    ),
    # the adapter subscribes the heartbeats channel on every connection (one message a
    # second keeps quiet subscriptions open); WebSocket control pings measure the round trip
    heartbeat=Heartbeat(style="websocket"),
    max_connection_age=facts.MAX_CONNECTION_AGE,
    books=BookRules(
        # level2 (pushed as l2_data): a snapshot, then absolute updates; a hole in the
        # connection's sequence_num (a ConnectionGap) or a broken product chain resubscribes
        full_streams=frozenset(facts.FULL_BOOK_STREAMS),
        sync=CoinbaseBookSync,
        snapshot=None,
        snapshot_exchange_time=True,
        partial_stream=facts.PARTIAL_BOOK_STREAM,
    ),
    # product ids are canonical symbols, one to one
    symbols=SymbolMap(to_native=canonical, from_native=canonical),
    rest_instruments=facts.REST_PRODUCTS,
    instruments=InstrumentList((facts.REST_PRODUCTS,), parse_products),
    # the newest 1000 trades over REST after a reconnect (ids not consecutive; .history)
    trade_history=HISTORY,
)

__all__ = ["SPEC", "STREAMS", "CoinbaseAdapter", "CoinbaseBookSync", "facts"]
