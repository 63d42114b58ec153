"""Bybit v5 public market data: spot (``BTC-USDT``) and USDT perpetuals (``BTC-USDT-PERP``).

Protocol adapter, book sync, simulator and the facts the engine needs (``SPEC``; the
protocol facts and their pages are in ``docs/exchanges.md``).

>>> from trio_feeds.exchanges.bybit import BybitAdapter
>>> BybitAdapter().subscription("trade", "BTC-USDT").topic
'publicTrade.BTCUSDT'
"""

from trio_feeds.core.symbols import from_binance
from trio_feeds.exchanges.bybit import facts as facts
from trio_feeds.exchanges.bybit.adapter import STREAMS as STREAMS
from trio_feeds.exchanges.bybit.adapter import BybitAdapter as BybitAdapter
from trio_feeds.exchanges.bybit.adapter import split_symbol as split_symbol
from trio_feeds.exchanges.bybit.book import BybitBookSync as BybitBookSync
from trio_feeds.exchanges.bybit.history import HISTORY
from trio_feeds.exchanges.bybit.instruments import INSTRUMENT_PATHS, parse_instruments
from trio_feeds.exchanges.spec import (
    BookRules,
    ExchangeSpec,
    Heartbeat,
    InstrumentList,
    Limits,
    SymbolMap,
)


def to_bybit(symbol: str) -> str:
    """``BTC-USDT`` / ``BTC-USDT-PERP`` → ``BTCUSDT`` (the category is the URL path)."""
    return split_symbol(symbol)[1]


def from_bybit(symbol: str) -> str:
    """``BTCUSDT`` → ``BTC-USDT`` (the spot name; the wire does not say the category)."""
    return from_binance(symbol)


SPEC = ExchangeSpec(
    name=facts.NAME,
    label="Bybit",
    adapter=BybitAdapter,
    simulator="trio_feeds.exchanges.bybit.simulator:SimulatedBybit",
    # 500 new connections / 5 min / IP per WebSocket domain: a bucket of 10 refilled at
    # 1.5/s stays below (10 + 1.5 * 300 = 460).  No documented client message rate on the
    # public streams; spot takes at most 10 args per request (the adapter batches by 10)
    # and one connection's args at most 21,000 characters (the adapter's 350-topic cap).
    # REST: the instrument list and trade backfill (.history) only; books start with an
    # in-band snapshot. 10 requests/s is well under the public limit per IP.
    limits=Limits(
        connect_rate=1.5,
        connect_capacity=10,
        messages_per_second=None,
        requests_per_hour=None,
        streams_per_connection=facts.MAX_STREAMS_PER_CONNECTION,
        rest_rate=10.0,
        rest_capacity=20,
        rest_unit="requests",
    ),
    # application JSON {"op":"ping"} (answered by {"ret_msg":"pong","op":"ping"}); Bybit
    # asks for one every 20 s.  It cuts a connection after 10 minutes with neither
    # ping-pong nor data from the server: a connection receiving data is not cut, so this
    # is no client_idle_limit (our pings every 20 s keep a quiet one open anyway)
    heartbeat=Heartbeat(style="json", interval=facts.PING_INTERVAL, client_idle_limit=None),
    max_connection_age=facts.MAX_CONNECTION_AGE,
    books=BookRules(
        # snapshot + deltas with the u chain; a gap resubscribes (no REST snapshot)
        full_streams=frozenset(facts.FULL_BOOK_STREAMS),
        sync=BybitBookSync,
        snapshot=None,
        snapshot_exchange_time=True,
        # level 1 is the only stream whose every push is a whole book
        partial_stream=facts.PARTIAL_BOOK_STREAM,
    ),
    symbols=SymbolMap(to_native=to_bybit, from_native=from_bybit),
    rest_instruments=facts.REST_INSTRUMENTS_SPOT,
    instruments=InstrumentList(INSTRUMENT_PATHS, parse_instruments),
    # spot: the newest 60 trades over REST after a reconnect (ids not consecutive; .history)
    trade_history=HISTORY,
)

__all__ = [
    "SPEC",
    "STREAMS",
    "BybitAdapter",
    "BybitBookSync",
    "facts",
    "from_bybit",
    "split_symbol",
    "to_bybit",
]
