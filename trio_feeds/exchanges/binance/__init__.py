"""Binance: protocol adapter, book sync, symbols, simulator and the facts the engine needs.

``SPEC`` is all the engine sees (see :mod:`trio_feeds.exchanges.spec`).
"""

from trio_feeds.exchanges.binance.adapter import BinanceAdapter as BinanceAdapter
from trio_feeds.exchanges.binance.adapter import (
    depth_snapshot_path,
    depth_snapshot_weight,
    parse_depth_snapshot,
)
from trio_feeds.exchanges.binance.book import BinanceBookSync as BinanceBookSync
from trio_feeds.exchanges.binance.history import history_for
from trio_feeds.exchanges.binance.instruments import EXCHANGE_INFO_WEIGHT, parse_exchange_info
from trio_feeds.exchanges.binance.symbols import from_binance, to_binance
from trio_feeds.exchanges.spec import (
    BookRules,
    ExchangeSpec,
    Heartbeat,
    InstrumentList,
    Limits,
    RestSnapshot,
    SymbolMap,
)

SPEC = ExchangeSpec(
    name="binance",
    label="Binance",
    adapter=BinanceAdapter,
    simulator="trio_feeds.exchanges.binance.simulator:SimulatedBinance",
    # 300 connection attempts / 5 min / IP; 5 incoming messages / s / connection (pings,
    # pongs and JSON control messages count).  We keep a margin below both: a token bucket
    # lets ``burst + rate`` messages through in any one-second window, and our answers to
    # the server's pings are sent outside the budget: 1 + 3 (+ 1 pong) <= 5.
    # REST: request *weight* 6000/min per IP (we budget 4800; a 1000-level snapshot
    # weighs 50); a 429/418 answer is honoured with its Retry-After.
    limits=Limits(
        connect_rate=0.9,
        connect_capacity=30,
        messages_per_second=3.0,
        messages_burst=1,
        requests_per_hour=None,
        rest_rate=80.0,
        rest_capacity=1200,
        rest_unit="weight",
    ),
    # WebSocket control pings; the server pings too (and we answer)
    heartbeat=Heartbeat(style="websocket"),
    # Binance closes every connection after 24 h: hand over to a new one before that
    max_connection_age=23.5 * 3600,
    books=BookRules(
        full_streams=frozenset({"depth", "depth@100ms"}),
        sync=BinanceBookSync,
        snapshot=RestSnapshot(
            path=depth_snapshot_path,
            parse=parse_depth_snapshot,
            depth=1000,
            weight=depth_snapshot_weight,
        ),
        # a REST snapshot has no event time
        snapshot_exchange_time=False,
        partial_stream="depth20@100ms",
    ),
    symbols=SymbolMap(to_native=to_binance, from_native=from_binance),
    rest_instruments="/api/v3/exchangeInfo",
    instruments=InstrumentList(
        ("/api/v3/exchangeInfo",), parse_exchange_info, cost=EXCHANGE_INFO_WEIGHT
    ),
    # trade ids ``t`` (``@trade``) and aggregate trade ids ``a`` (``@aggTrade``) are
    # consecutive per symbol
    contiguous_trade_ids=frozenset({"trade", "aggTrade"}),
    # trades missed across a reconnect or a hole: historicalTrades (weight 25) for
    # @trade, aggTrades (weight 2) for @aggTrade, 1000 a page
    trade_history=history_for("/api/v3", "binance", trades=True, trade_weight=25, agg_weight=2),
)

__all__ = ["SPEC", "BinanceAdapter", "BinanceBookSync"]
