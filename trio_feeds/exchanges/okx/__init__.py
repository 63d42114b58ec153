"""OKX: protocol adapter, book sync, symbols, simulator and the facts the engine needs.

``SPEC`` is all the engine sees (see :mod:`trio_feeds.exchanges.spec`).
"""

from collections.abc import Sequence

from trio_feeds.exchanges.okx.adapter import OkxAdapter as OkxAdapter
from trio_feeds.exchanges.okx.adapter import parse_rest_books, rest_books_path
from trio_feeds.exchanges.okx.book import OkxBookSync as OkxBookSync
from trio_feeds.exchanges.okx.history import HISTORY
from trio_feeds.exchanges.okx.instruments import INSTRUMENT_PATHS, parse_instruments
from trio_feeds.exchanges.okx.perps import INSTRUMENTS_PATH, SWAP_SUFFIX
from trio_feeds.exchanges.okx.symbols import from_okx, to_okx
from trio_feeds.exchanges.spec import (
    AdapterSetup,
    BookRules,
    ExchangeSpec,
    Heartbeat,
    InstrumentList,
    Limits,
    RestSnapshot,
    SymbolMap,
)
from trio_feeds.protocol import Subscription


def _load_instruments(adapter: OkxAdapter, body: bytes) -> object:
    return adapter.load_instruments(body)


def _swaps_wanted(subscriptions: Sequence[Subscription]) -> bool:
    return any(s.topic.endswith(SWAP_SUFFIX) for s in subscriptions)


SPEC = ExchangeSpec(
    name="okx",
    label="OKX",
    adapter=OkxAdapter,
    simulator="trio_feeds.exchanges.okx.simulator:SimulatedOkx",
    # 3 new connections / s / IP; 480 subscribe+unsubscribe / h / connection.  A bucket
    # lets ``capacity + rate`` through in any one-second window: 1 + 2 = 3.
    # REST: 40 requests / 2 s per IP (we budget 15/s).
    limits=Limits(
        connect_rate=2.0,
        connect_capacity=1,
        messages_per_second=None,
        messages_burst=1,
        requests_per_hour=460,
        book_streams_per_connection=OkxAdapter.MAX_BOOK_CHANNELS_PER_CONNECTION,
        rest_rate=15.0,
        rest_capacity=20,
        rest_unit="requests",
    ),
    # text "ping" / "pong" when the line is quiet; OKX also closes (4004) a connection
    # whose client sends nothing for 30 s, however much data it receives
    heartbeat=Heartbeat(style="text", client_idle_limit=30.0),
    # swap sizes are contracts: their contract values (ctVal), before subscribing swaps
    adapter_setup=AdapterSetup(INSTRUMENTS_PATH, _load_instruments, _swaps_wanted),
    max_connection_age=None,
    books=BookRules(
        full_streams=frozenset({"books"}),
        sync=OkxBookSync,
        # used when the exchange sends no snapshot push
        snapshot=RestSnapshot(path=rest_books_path, parse=parse_rest_books, depth=400),
        snapshot_exchange_time=True,
        partial_stream="books5",
    ),
    symbols=SymbolMap(to_native=to_okx, from_native=from_okx),
    rest_instruments="/api/v5/public/instruments?instType=SPOT",
    # trade ids increase per instrument but skip (see .history): fetched after reconnects
    trade_history=HISTORY,
    instruments=InstrumentList(INSTRUMENT_PATHS, parse_instruments),
)

__all__ = ["SPEC", "OkxAdapter", "OkxBookSync"]
