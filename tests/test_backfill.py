"""Trades missed across a reconnect are fetched over REST and delivered in order (issue 19).

The acceptance runs: a simulated exchange cuts one feed's connection and refuses its
reconnects for seconds while the market keeps trading.  A second feed on the same
simulator stays connected the whole time and is the reference: the first feed must
deliver every trade id exactly once, in increasing order, equal field for field to the
reference's (receive times aside), with one ``gap_filled`` event per symbol counting the
trades fetched.  Then what happens when the history cannot help: REST refused, too slow.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import attrs
import httpx
import pytest
import trio
import trio.testing
from conftest import SYMBOLS, Collector, TradeLog, active_transport

import trio_feeds
from trio_feeds.testing import SimulatedExchanges, open_simulated_exchanges


def _options(sims: SimulatedExchanges, exchange: str, seed: int) -> dict[str, Any]:
    return {
        "urls": {exchange: sims.urls[exchange]},
        "rest_urls": {exchange: sims.rest_urls[exchange]},
        "connector": sims.connector,
        "http_transport": sims.http_transport,
        "clock": sims.clock,
        "seed": seed,
        "transport": active_transport(),
        "reconnect_delay": 0.5,
    }


@attrs.define
class Run:
    sims: SimulatedExchanges
    sim: Any
    feed: Collector
    reference: Collector
    log: TradeLog

    def trades(self, col: Collector, symbol: str) -> list[Any]:
        return [x for x in col.items if x.kind == "trade" and x.symbol == symbol]


@asynccontextmanager
async def two_feeds(
    exchange: str, seed: int = 1, channels: tuple[str, ...] = ("trade",), **feed_options: Any
) -> AsyncIterator[Run]:
    """A feed under test (``feed_options``) and a reference feed (backfill off) that is
    opened second, so its connections are the simulator's last ones."""
    async with open_simulated_exchanges(SYMBOLS, seed=seed, memory=True, rate=50) as sims:
        log = TradeLog()
        sims.market.add_listener(log)
        sim = sims.sims[exchange]
        options = _options(sims, exchange, seed)
        a, b = Collector(), Collector()
        async with (
            trio_feeds.open_feed([exchange], SYMBOLS, channels, **options, **feed_options) as fa,
            trio.open_nursery() as nursery,
        ):
            nursery.start_soon(a.run, fa)
            await trio.sleep(1.0)
            options["http_transport"] = sims.http_transport
            async with trio_feeds.open_feed(
                [exchange], SYMBOLS, ["trade"], backfill=False, **options
            ) as fb:
                nursery.start_soon(b.run, fb)
                await trio.sleep(1.0)
                yield Run(sims, sim, a, b, log)
            nursery.cancel_scope.cancel()


async def cut_first_feed(sim: Any, refusals: int = 3) -> None:
    """Drop the feed under test's connection (the simulator's first) and refuse its next
    ``refusals`` connection attempts: it stays down for a few seconds."""
    first = sorted(sim.connections, key=lambda c: c.id)[0]
    sim.refuse_connections(refusals)
    sim.drop(first)


def _same(a: Any, b: Any) -> bool:
    return attrs.evolve(a, received_at=0.0) == attrs.evolve(b, received_at=0.0)


def _check_complete(run: Run, exchange: str) -> None:
    """Every trade id exactly once, in order, equal to the reference's; one gap_filled per
    symbol whose count is the trades between the hole's edges."""
    filled = run.feed.of("gap_filled")
    assert sorted(x.symbol for x in filled) == sorted(SYMBOLS), filled
    for symbol in SYMBOLS:
        got = run.trades(run.feed, symbol)
        ids = [int(t.trade_id) for t in got]
        assert ids == sorted(set(ids)), f"{symbol}: repeated or out of order"
        expected = [t.trade_id for t in run.log.trades[exchange, symbol]]
        assert ids == [i for i in expected if ids[0] <= i <= ids[-1]], f"{symbol}: trades lost"
        ref = {int(t.trade_id): t for t in run.trades(run.reference, symbol)}
        common = [t for t in got if int(t.trade_id) in ref]
        assert len(common) > 100
        bad = [t for t in common if not _same(t, ref[int(t.trade_id)])]
        assert not bad, f"{symbol}: fields differ from the live stream's: {bad[:2]}"
        (event,) = [x for x in filled if x.symbol == symbol]
        first, last = int(event.first_id), int(event.last_id)
        i, j = ids.index(first), ids.index(last)
        assert event.count == j - i + 1 > 10
        assert (event.exchange, event.channel) == (exchange, "trade")
        # the fill came before the first live trade after the hole, right after its last
        items = run.feed.items
        assert items[items.index(got[j]) + 1] is event


@pytest.mark.parametrize("exchange", ["binance", "okx"])
def test_a_feed_down_for_seconds_misses_no_trade(exchange: str) -> None:
    async def main() -> None:
        async with two_feeds(exchange, seed=5) as run:
            await trio.sleep(2.0)
            await cut_first_feed(run.sim)
            await trio.sleep(15.0)
            assert run.feed.of("source", state="connected").__len__() == 2
            # the reconnect's Gap stays (it said data may be missing), and was answered
            assert len(run.feed.gaps(exchange, "trade")) == len(SYMBOLS)
            assert not run.feed.of("source", state="gap_not_filled")
            _check_complete(run, exchange)
            paths = {r.path for r in run.sim.rest_log}
            assert paths & {"/api/v3/historicalTrades", "/api/v5/market/history-trades"}

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))


def test_rest_refused_leaves_the_gap_and_says_why() -> None:
    async def main() -> None:
        async with two_feeds("binance", seed=6) as run:
            await trio.sleep(2.0)
            run.sim.throttle_rest(1000, retry_after=1)
            await cut_first_feed(run.sim)
            await trio.sleep(15.0)
            events = run.feed.of("source", state="gap_not_filled")
            assert {e.reason for e in events} == {"rest_refused"}
            assert all("429" in e.detail for e in events)
            assert not run.feed.of("gap_filled")
            assert len(run.feed.gaps("binance", "trade")) == len(SYMBOLS)
            for symbol in SYMBOLS:
                ids = [int(t.trade_id) for t in run.trades(run.feed, symbol)]
                assert ids == sorted(set(ids))
                # live trades resumed after the hole (which stays a hole)
                assert any(b - a > 1 for a, b in itertools.pairwise(ids))
                assert (
                    ids[-1] > max(int(t.trade_id) for t in run.trades(run.reference, symbol)) - 50
                )

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))


class _SlowHistory(httpx.AsyncBaseTransport):
    """The simulator's REST, with every trade-history answer ``delay`` seconds late."""

    def __init__(self, inner: httpx.AsyncBaseTransport, delay: float) -> None:
        self.inner = inner
        self.delay = delay

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if "rade" in request.url.path:  # historicalTrades, history-trades
            await trio.sleep(self.delay)
        return await self.inner.handle_async_request(request)


def test_a_backfill_past_its_timeout_is_given_up_and_live_trades_resume() -> None:
    async def main() -> None:
        async with open_simulated_exchanges(SYMBOLS, seed=7, memory=True, rate=50) as sims:
            options = _options(sims, "okx", 7)
            options["http_transport"] = _SlowHistory(sims.http_transport, delay=30.0)
            col = Collector()
            async with (
                trio_feeds.open_feed(
                    ["okx"], SYMBOLS, ["trade", "quote"], backfill_timeout=2.0, **options
                ) as feed,
                trio.open_nursery() as nursery,
            ):
                nursery.start_soon(col.run, feed)
                await trio.sleep(2.0)
                sims.okx.refuse_connections(3)
                sims.okx.drop()
                await trio.sleep(15.0)
                nursery.cancel_scope.cancel()
        events = col.of("source", state="gap_not_filled")
        assert sorted(e.reason for e in events) == ["timeout", "timeout"]
        assert not col.of("gap_filled")
        reconnected = col.items.index(col.of("source", state="connected")[1])
        for symbol in SYMBOLS:
            ids = [int(t.trade_id) for t in col.items if t.kind == "trade" and t.symbol == symbol]
            assert ids == sorted(set(ids))
            (event,) = [e for e in events if symbol in e.detail]
            at = col.items.index(event)
            after = [x for x in col.items[at:] if x.kind == "trade" and x.symbol == symbol]
            assert len(after) > 50, "live trades did not resume"
            # while the symbol's trades waited, its quotes kept flowing
            waiting = col.items[reconnected:at]
            assert [x for x in waiting if x.kind == "quote" and x.symbol == symbol]
            assert not [x for x in waiting if x.kind == "trade" and x.symbol == symbol]

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))


def test_backfill_off_fetches_nothing() -> None:
    async def main() -> None:
        async with two_feeds("binance", seed=8, backfill=False) as run:
            await trio.sleep(2.0)
            await cut_first_feed(run.sim)
            await trio.sleep(10.0)
            assert not [r for r in run.sim.rest_log if "Trades" in r.path]
            assert not run.feed.of("gap_filled")
            assert len(run.feed.gaps("binance", "trade")) == len(SYMBOLS)

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))


def test_backfill_must_be_a_bool() -> None:
    async def main() -> None:
        with pytest.raises(trio_feeds.ConfigError, match="backfill"):
            async with trio_feeds.open_feed(["binance"], backfill="yes"):  # type: ignore[arg-type]
                pass

    trio.run(main)


async def test_a_reconnect_before_the_first_trade_leaves_the_gap_and_says_why(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """No trade was delivered before the drop: there is no id to fetch the missed trades
    from, so the Gap stands and a ``gap_not_filled`` event (``no_trade_yet``) says so."""
    async with (
        open_simulated_exchanges(["BTC-USDT"], seed=3, memory=True, rate=0.5) as sims,
        trio_feeds.open_feed(
            ["binance"], ["BTC-USDT"], ["trade"], **_options(sims, "binance", 1)
        ) as feed,
        trio.open_nursery() as nursery,
    ):
        col = Collector()
        nursery.start_soon(col.run, feed)
        with trio.fail_after(30):
            while not col.of("source", state="connected"):  # noqa: ASYNC110
                await trio.sleep(0.01)
        assert not col.of("trade")
        sims.binance.drop()
        with trio.fail_after(30):
            while not col.of("source", state="gap_not_filled"):  # noqa: ASYNC110
                await trio.sleep(0.01)
        (gap,) = col.of("gap", channel="trade")
        (event,) = col.of("source", state="gap_not_filled")
        assert event.reason == "no_trade_yet" and "BTC-USDT" in event.detail
        assert col.items.index(event) == col.items.index(gap) + 1
        assert not col.of("gap_filled")
        nursery.cancel_scope.cancel()
