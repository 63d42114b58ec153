"""Shared helpers for the engine tests: a feed wired to the simulated exchanges, a collector
that records everything the feed yields, and the market's own record of every trade."""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import attrs
import pytest
import trio

import trio_feeds
from trio_feeds.testing import MarketTick, SimulatedExchanges, open_simulated_exchanges

SYMBOLS = ["BTC-USDT", "ETH-USDT"]
#: OKX numbers its ``trades`` pushes with the market's fill id plus this (see the simulator)
OKX_TRADE_ID_OFFSET = 100_000_000

#: the transports the engine integration tests run over (``open_feed(transport=...)``);
#: ``TRIO_FEEDS_TEST_TRANSPORTS=default`` (comma separated) restricts them
TRANSPORTS = [
    name.strip()
    for name in os.environ.get("TRIO_FEEDS_TEST_TRANSPORTS", "default,trio-websocket").split(",")
    if name.strip()
]

#: the transport of the test running now (set by the ``transport`` fixture); the helpers
#: here (``simulated_feed``) and in the test modules open their feeds with it
_active = {"transport": "default"}


def active_transport() -> str:
    """The transport the running test asked for (``"default"`` unless it uses the
    ``transport`` fixture)."""
    return _active["transport"]


@pytest.fixture(params=TRANSPORTS)
def transport(request: pytest.FixtureRequest) -> Any:
    """Runs a test once per transport (``TRIO_FEEDS_TEST_TRANSPORTS``); the feeds its
    helpers open use it.  A module opts in with
    ``pytestmark = pytest.mark.usefixtures("transport")``."""
    name: str = request.param
    _active["transport"] = name
    yield name
    _active["transport"] = "default"


#: limitations of the trio-websocket transport (docs/engine.md, "Transports"), for xfail_on
TWS_ONE_MESSAGE_PER_BATCH = (
    "trio-websocket hands over one message per batch, not one socket read: frames sent in "
    "one read arrive in separate batches"
)
TWS_PINGS_BEHIND_MESSAGES = (
    "trio-websocket's reader yields after every message it queues: a consumer blocking the "
    "loop lets it take one message per item, the backlog stays in the socket and server "
    "pings wait behind it"
)


def xfail_on(request: pytest.FixtureRequest, transport: str, reason: str) -> None:
    """Mark the running test ``xfail(strict=True)`` when it runs over ``transport`` (a
    limitation of that transport, documented in ``docs/engine.md``)."""
    if _active["transport"] == transport:
        request.applymarker(pytest.mark.xfail(strict=True, reason=reason))


class Collector:
    """Everything a feed yields, in order, gathered by a background task."""

    def __init__(self) -> None:
        self.items: list[Any] = []
        self.error: BaseException | None = None
        self.done = trio.Event()

    async def run(self, feed: trio_feeds.Feed) -> None:
        try:
            async for item in feed:
                self.items.append(item)
        except trio_feeds.TrioFeedsError as exc:
            self.error = exc
        finally:
            self.done.set()

    def of(self, kind: str, exchange: str | None = None, **fields: Any) -> list[Any]:
        return [
            x
            for x in self.items
            if x.kind == kind
            and (exchange is None or getattr(x, "exchange", None) == exchange)
            and all(getattr(x, k) == v for k, v in fields.items())
        ]

    def events(self, exchange: str, state: str | None = None) -> list[Any]:
        return [
            x
            for x in self.items
            if x.kind == "source" and x.exchange == exchange and (state is None or x.state == state)
        ]

    def gaps(self, exchange: str | None = None, channel: str | None = None) -> list[Any]:
        return [
            x
            for x in self.items
            if x.kind == "gap"
            and (exchange is None or x.exchange == exchange)
            and (channel is None or x.channel in (channel, "*"))
        ]

    def since(self, index: int) -> Collector:
        c = Collector()
        c.items = self.items[index:]
        return c


@attrs.frozen
class MarketTrade:
    exchange: str
    symbol: str
    trade_id: int
    timestamp: int


class TradeLog:
    """The trades each simulated exchange publishes, from the market's ticks.

    Binance ``@trade``: one per fill, id = fill id.  OKX ``trades``: one per run of fills at
    one price within a taker order, id = last fill id + 100,000,000.
    """

    def __init__(self) -> None:
        self.trades: dict[tuple[str, str], list[MarketTrade]] = defaultdict(list)

    def __call__(self, tick: MarketTick) -> None:
        for sym, up in tick.updates.items():
            for order in up.orders:
                last_price = None
                group_last = None
                for f in order.fills:
                    self.trades["binance", sym].append(
                        MarketTrade("binance", sym, f.trade_id, up.ts)
                    )
                    if last_price is not None and f.price != last_price:
                        self.trades["okx", sym].append(
                            MarketTrade("okx", sym, group_last + OKX_TRADE_ID_OFFSET, up.ts)
                        )
                    last_price, group_last = f.price, f.trade_id
                if group_last is not None:
                    self.trades["okx", sym].append(
                        MarketTrade("okx", sym, group_last + OKX_TRADE_ID_OFFSET, up.ts)
                    )


def check_trades(
    log: TradeLog, items: Sequence[Any], exchanges: Iterable[str], symbols: Iterable[str]
) -> dict[tuple[str, str], list[MarketTrade]]:
    """Assert no trade is duplicated and every one missing between the first and the last
    delivered trade (per exchange and symbol) lies inside a Gap for that symbol and channel.

    Returns the missing trades (covered by gaps) per (exchange, symbol).
    """
    missing_all: dict[tuple[str, str], list[MarketTrade]] = {}
    for ex in exchanges:
        for sym in symbols:
            got = [
                int(x.trade_id)
                for x in items
                if x.kind == "trade" and x.exchange == ex and x.symbol == sym
            ]
            assert got, f"no {ex} {sym} trades at all"
            assert len(got) == len(set(got)), f"{ex} {sym}: duplicated trades"
            assert got == sorted(got), f"{ex} {sym}: trades out of order"
            first, last = got[0], got[-1]
            seen = set(got)
            expected = [t for t in log.trades[ex, sym] if first <= t.trade_id <= last]
            assert {t.trade_id for t in expected} >= seen, f"{ex} {sym}: unknown trade ids"
            missing = [t for t in expected if t.trade_id not in seen]
            gaps = [
                g
                for g in items
                if g.kind == "gap"
                and g.exchange == ex
                and g.symbol in (sym, "*")
                and g.channel in ("trade", "*")
            ]
            for t in missing:
                assert any(g.start <= t.timestamp <= g.end for g in gaps), (
                    f"{ex} {sym}: trade {t.trade_id} at {t.timestamp} lost without a Gap "
                    f"covering it (gaps: {[(g.start, g.end) for g in gaps]})"
                )
            missing_all[ex, sym] = missing
    return missing_all


@attrs.define
class Harness:
    sims: SimulatedExchanges
    feeds: dict[str, trio_feeds.Feed]
    col: Collector
    trades: TradeLog

    @property
    def feed(self) -> trio_feeds.Feed:
        (feed,) = set(self.feeds.values())
        return feed

    def source(self, exchange: str) -> Any:
        return self.feeds[exchange].sources[exchange]

    @property
    def binance(self) -> Any:
        return self.sims.binance

    @property
    def okx(self) -> Any:
        return self.sims.okx


@asynccontextmanager
async def simulated_feed(
    exchanges: Sequence[str] = ("binance", "okx"),
    symbols: Sequence[str] = SYMBOLS,
    channels: Sequence[str] = ("trade",),
    *,
    rate: float = 10.0,
    seed: int = 1,
    collect: bool = True,
    combined: bool = False,
    binance_options: dict[str, Any] | None = None,
    okx_options: dict[str, Any] | None = None,
    sim_symbols: Sequence[str] | None = None,
    **feed_options: Any,
) -> AsyncIterator[Harness]:
    """Simulated exchanges (memory mode) and feeds on them; a Collector reads the feeds in
    the background unless ``collect`` is False.  Run under a MockClock.

    By default each exchange gets its own feed, so that every record of every exchange
    reaches the collector whatever the feed's source policy; ``combined`` opens one feed
    over all of ``exchanges`` instead.
    """
    async with open_simulated_exchanges(
        sim_symbols or symbols,
        seed=seed,
        memory=True,
        rate=rate,
        binance_options=binance_options,
        okx_options=okx_options,
    ) as sims:
        log = TradeLog()
        sims.market.add_listener(log)
        groups = [list(exchanges)] if combined else [[e] for e in exchanges]
        col = Collector()
        async with AsyncExitStack() as stack:
            feeds: dict[str, trio_feeds.Feed] = {}
            for group in groups:
                options: dict[str, Any] = {
                    "urls": {e: sims.urls[e] for e in group},
                    "rest_urls": {e: sims.rest_urls[e] for e in group},
                    "connector": sims.connector,
                    "http_transport": sims.http_transport,
                    "clock": sims.clock,
                    "seed": seed,
                    "transport": active_transport(),
                }
                options.update(feed_options)
                feed = await stack.enter_async_context(
                    trio_feeds.open_feed(group, symbols, channels, **options)
                )
                feeds.update(dict.fromkeys(group, feed))
            async with trio.open_nursery() as nursery:
                if collect:
                    for feed in set(feeds.values()):
                        nursery.start_soon(col.run, feed)
                yield Harness(sims, feeds, col, log)
                nursery.cancel_scope.cancel()


def drain(feed: trio_feeds.Feed) -> list[Any]:
    """Everything the feed has buffered, without waiting."""
    out = []
    while True:
        try:
            out.append(feed.receive_nowait())
        except trio.WouldBlock:
            return out


def ms(sims: SimulatedExchanges) -> int:
    return int(sims.clock() * 1000)


def pytest_configure(config: Any) -> None:
    """The ``trio_feeds`` pytest plugin comes with the package (entry point ``pytest11``); in
    a checkout not (re)installed since it was added, register it here under the same name."""
    if not config.pluginmanager.has_plugin("trio_feeds"):
        from trio_feeds.testing import pytest_plugin

        config.pluginmanager.register(pytest_plugin, "trio_feeds")
