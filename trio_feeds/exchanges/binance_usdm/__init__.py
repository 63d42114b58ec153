"""Binance USD-M futures (USDT-margined perpetuals): adapter, book rules, ``SPEC``.

Exchange name ``"binance-usdm"``; symbols ``BTC-USDT-PERP``.  Facts from
https://developers.binance.com/docs/derivatives/usds-margined-futures/websocket-market-streams
(see :mod:`.streams`) and the REST general info (2,400 request weight per minute per IP).
"""

from trio_feeds.exchanges.binance.history import history_for
from trio_feeds.exchanges.binance.instruments import parse_usdm_exchange_info
from trio_feeds.exchanges.binance.symbols import from_binance, to_binance
from trio_feeds.exchanges.binance_usdm.adapter import BinanceUsdmAdapter as BinanceUsdmAdapter
from trio_feeds.exchanges.binance_usdm.book import UsdmBookSync as UsdmBookSync
from trio_feeds.exchanges.binance_usdm.snapshot import (
    OPEN_INTEREST_WEIGHT,
    depth_snapshot_path,
    depth_snapshot_weight,
    open_interest_path,
    parse_depth_snapshot,
    parse_open_interest,
)
from trio_feeds.exchanges.spec import (
    BookRules,
    ExchangeSpec,
    Heartbeat,
    InstrumentList,
    Limits,
    RestPoll,
    RestSnapshot,
    SymbolMap,
)


def _from_native(symbol: str) -> str:
    return from_binance(symbol) + "-PERP"


SPEC = ExchangeSpec(
    name="binance-usdm",
    label="Binance USD-M",
    adapter=BinanceUsdmAdapter,
    simulator="trio_feeds.exchanges.binance_usdm.simulator:SimulatedBinanceUsdm",
    # 10 incoming messages / s / connection (we send at most 8 in any second); connection
    # attempts as on spot; REST weight 2,400/min per IP (we budget 1,920; a 1000-level
    # snapshot weighs 20).
    limits=Limits(
        connect_rate=0.9,
        connect_capacity=30,
        messages_per_second=6.0,
        messages_burst=2,
        streams_per_connection=1024,
        rest_rate=32.0,
        rest_capacity=480,
        rest_unit="weight",
    ),
    # the server pings every 3 minutes and wants a pong within 10; we ping too (RTT)
    heartbeat=Heartbeat(style="websocket"),
    max_connection_age=23.5 * 3600,
    books=BookRules(
        full_streams=frozenset({"depth", "depth@100ms", "depth@250ms", "depth@500ms", "depth@0ms"}),
        sync=UsdmBookSync,
        snapshot=RestSnapshot(
            path=depth_snapshot_path,
            parse=parse_depth_snapshot,
            depth=1000,
            weight=depth_snapshot_weight,
        ),
        snapshot_exchange_time=True,  # /fapi/v1/depth carries E
        partial_stream="depth20@100ms",
    ),
    symbols=SymbolMap(to_native=to_binance, from_native=_from_native),
    rest_instruments="/fapi/v1/exchangeInfo",
    instruments=InstrumentList(("/fapi/v1/exchangeInfo",), parse_usdm_exchange_info),
    # ids go up by one per symbol: 21,313 @trade frames of the 2024-08-08 capture, no jump
    contiguous_trade_ids=frozenset({"trade", "aggTrade"}),
    # open interest has no WebSocket stream: the engine polls /fapi/v1/openInterest
    rest_polls=(
        RestPoll(
            channel="open_interest",
            path=open_interest_path,
            parse=parse_open_interest,
            weight=OPEN_INTEREST_WEIGHT,
        ),
    ),
    # /fapi/v1/historicalTrades needs an API key: only @aggTrade is backfilled
    # (/fapi/v1/aggTrades, weight 20, 1000 a page)
    trade_history=history_for(
        "/fapi/v1", "binance-usdm", trades=False, trade_weight=5, agg_weight=20
    ),
)

__all__ = ["SPEC", "BinanceUsdmAdapter", "UsdmBookSync"]
