"""Bybit and Coinbase through ``open_feed`` against their simulators (issue 16 acceptance).

* every channel yields the contract records for ``bybit`` and ``coinbase``;
* books stay equal to an independently computed book (the simulated market's own levels at
  the same tick, not anything the adapters or syncs computed) through snapshots, deltas,
  lost messages, ``u == 1`` restarts, re-sent snapshots, stalls and resyncs;
* ``open_feed(["bybit", "coinbase"], ["BTC-USDT"], ["quote"])`` fails over between them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
import trio
import trio.testing
from book_truth import Truth

import trio_feeds
from trio_feeds import Book, Candle, Gap, Quote, SubscriptionRejected, Ticker, Trade, exchanges
from trio_feeds.exchanges.bybit.simulator import SimulatedBybit
from trio_feeds.exchanges.coinbase.simulator import SimulatedCoinbase
from trio_feeds.testing import MarketSimulator, MarketTick

SYMBOL = "BTC-USDT"


class Sims:
    """A simulated Bybit and Coinbase on one market, and a connector reaching both."""

    def __init__(self, market: MarketSimulator, bybit: SimulatedBybit, cb: SimulatedCoinbase):
        self.market = market
        self.bybit = bybit
        self.coinbase = cb

    async def connector(self, url: str) -> trio.abc.Stream:
        sim = self.bybit if url.startswith(self.bybit.url) else self.coinbase
        return await sim.connect(url)

    def options(self, **kw: Any) -> dict[str, Any]:
        opts: dict[str, Any] = dict(
            urls={"bybit": self.bybit.url, "coinbase": self.coinbase.url},
            connector=self.connector,
            clock=self.market.clock,
            stale_after=2.0,
            failback_after=5.0,
            reconnect_delay=0.5,
            max_reconnect_delay=2.0,
            seed=7,
        )
        opts.update(kw)
        return opts


@asynccontextmanager
async def sims(rate: float = 50.0) -> AsyncIterator[Sims]:
    market = MarketSimulator([SYMBOL], seed=11, rate=rate)
    bybit, cb = SimulatedBybit(market), SimulatedCoinbase(market)
    async with trio.open_nursery() as nursery:
        await nursery.start(market.run)
        async with bybit.serve(memory=True), cb.serve(memory=True):
            yield Sims(market, bybit, cb)
        nursery.cancel_scope.cancel()


async def collect(feed: trio_feeds.Feed, seconds: float) -> list[Any]:
    out: list[Any] = []
    with trio.move_on_after(seconds):
        async for item in feed:
            out.append(item)  # noqa: PERF401 - a cancelled comprehension would lose them all
    return out


def test_both_are_built_in() -> None:
    assert {"bybit", "coinbase"} <= set(exchanges.names())
    for name in ("bybit", "coinbase"):
        spec = exchanges.get(name)
        assert spec.simulator_class() is (SimulatedBybit if name == "bybit" else SimulatedCoinbase)
        assert spec.books.sync is not None and spec.books.snapshot is None


@pytest.mark.parametrize("exchange", ["bybit", "coinbase"])
async def test_every_channel_yields_contract_records(
    autojump_clock: trio.testing.MockClock, exchange: str
) -> None:
    channels = ["trade", "ticker", "quote", "book", "candle"]
    async with sims() as s:
        async with trio_feeds.open_feed([exchange], [SYMBOL], channels, **s.options()) as feed:
            items = await collect(feed, 320.0)  # a closed Coinbase candle needs 5 minutes
        if exchange == "bybit":  # JSON pings every 20 s, each answered (no pong timeout)
            (conn,) = s.bybit.all_connections
            assert conn.pings_received >= 10 and conn.pongs_sent == conn.pings_received
        else:  # the adapter subscribed heartbeats by itself: quiet subscriptions stay open
            (conn,) = s.coinbase.all_connections
            assert "heartbeats:heartbeats" in conn.subscriptions
    data = [i for i in items if i.kind in channels]
    assert {i.kind for i in data} == set(channels)
    assert {(i.exchange, i.symbol) for i in data} == {(exchange, SYMBOL)}
    assert not [i for i in items if i.kind == "gap"]
    trades = [i for i in data if isinstance(i, Trade)]
    assert len({t.trade_id for t in trades}) == len(trades) > 100
    assert {t.side for t in trades} == {"buy", "sell"}
    assert all(t.price > 0 and t.amount > 0 for t in trades)
    for q in (i for i in data if isinstance(i, Quote)):
        assert 0 < q.bid < q.ask and q.bid_size > 0 and q.ask_size > 0
    tickers = [i for i in data if isinstance(i, Ticker)]
    assert all(t.price > 0 and t.volume >= 0 for t in tickers)
    books = [i for i in data if isinstance(i, Book)]
    assert all(b.bids[0][0] < b.asks[0][0] for b in books)
    candles = [i for i in data if isinstance(i, Candle)]
    assert {c.interval for c in candles} == {"1m" if exchange == "bybit" else "5m"}
    assert any(c.closed for c in candles) and any(not c.closed for c in candles)
    assert all(c.low <= min(c.open, c.close) <= max(c.open, c.close) <= c.high for c in candles)


async def _books_through_faults(exchange: str, faults: list[Any]) -> None:
    depth = 20
    async with sims() as s:
        truth = Truth(s.market, SYMBOL, depth)
        opts = s.options(book_depth=depth, stale_after=5.0)
        async with trio_feeds.open_feed([exchange], [SYMBOL], ["book"], **opts) as feed:
            items = await collect(feed, 3.0)
            for fault in faults:
                fault(s)
                items += await collect(feed, 3.0)
    books = [i for i in items if isinstance(i, Book)]
    gaps = [i for i in items if isinstance(i, Gap)]
    for b in books:
        truth.check(b)
    assert len(books) > 300
    return_after = [b for b in books if gaps and b.timestamp > max(g.end for g in gaps)]
    assert return_after, "books resumed after the last gap"
    assert len(gaps) >= sum(1 for f in faults if getattr(f, "gap", True))


def _fault(fn: Any, gap: bool = True) -> Any:
    fn.gap = gap
    return fn


async def test_bybit_books_equal_the_market_through_gaps_restarts_and_resyncs(
    autojump_clock: trio.testing.MockClock,
) -> None:
    await _books_through_faults(
        "bybit",
        [
            _fault(lambda s: s.bybit.sequence_gap(SYMBOL)),  # u jumps: resubscribe
            _fault(lambda s: s.bybit.corrupt("gap", SYMBOL)),
            _fault(lambda s: s.bybit.restart_books(SYMBOL), gap=False),  # u == 1 snapshot
            _fault(lambda s: s.bybit.resend_snapshot(SYMBOL), gap=False),
            _fault(lambda s: s.bybit.corrupt("malformed", SYMBOL)),  # a refused delta
            _fault(lambda s: s.bybit.drop()),  # reconnect: a new subscription's snapshot
        ],
    )


async def test_coinbase_books_equal_the_market_through_lost_messages_and_resyncs(
    autojump_clock: trio.testing.MockClock,
) -> None:
    def stall(s: Sims) -> None:
        s.coinbase.silence()
        s.market.add_listener(_resume_later(s))

    await _books_through_faults(
        "coinbase",
        [
            _fault(lambda s: s.coinbase.sequence_gap(SYMBOL)),  # sequence_num hole
            _fault(lambda s: s.coinbase.corrupt("gap", SYMBOL)),
            _fault(lambda s: s.coinbase.corrupt("malformed", SYMBOL)),
            _fault(stall),  # messages lost during a stall: a hole, then resync
            _fault(lambda s: s.coinbase.drop()),
        ],
    )


def _resume_later(s: Sims) -> Any:
    start = trio.current_time()

    def listener(tick: MarketTick) -> None:
        if tick.time - start >= 0.5:
            s.coinbase.resume()
            s.market.remove_listener(listener)

    return listener


async def test_quote_fails_over_between_bybit_and_coinbase(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with sims(rate=20.0) as s:
        opts = s.options()
        async with trio_feeds.open_feed(["bybit", "coinbase"], [SYMBOL], ["quote"], **opts) as feed:
            before = await collect(feed, 3.0)
            assert feed.active_source == "bybit"
            assert {i.exchange for i in before if i.kind == "quote"} == {"bybit"}
            s.bybit.refuse_connections(6)
            s.bybit.drop()
            during = await collect(feed, 5.0)
            switches = [i for i in during if i.kind == "source_switch"]
            assert switches and switches[0].to_source == "coinbase"
            after = during[during.index(switches[0]) :]
            assert any(i.kind == "quote" and i.exchange == "coinbase" for i in after)
            later = await collect(feed, 20.0)
            back = [i for i in later if i.kind == "source_switch"]
            assert back and back[-1].to_source == "bybit"
            assert feed.active_source == "bybit"
            # and the other way: Coinbase as the primary, Bybit stalls are not involved
        opts = s.options(primary="coinbase")
        async with trio_feeds.open_feed(["bybit", "coinbase"], [SYMBOL], ["quote"], **opts) as feed:
            await collect(feed, 3.0)
            assert feed.active_source == "coinbase"
            s.coinbase.silence(answer_pings=False)  # a stall: no data, no pongs
            during = await collect(feed, 6.0)
            switches = [i for i in during if i.kind == "source_switch"]
            assert switches and switches[0].to_source == "bybit"
            assert any(i.kind == "quote" and i.exchange == "bybit" for i in during)


@pytest.mark.parametrize("exchange", ["bybit", "coinbase"])
async def test_a_refused_subscription_is_an_event_and_the_others_stream(
    autojump_clock: trio.testing.MockClock, exchange: str
) -> None:
    async with sims() as s:
        if exchange == "bybit":
            s.bybit.reject("BTCUSDT", "tickers")
        else:
            s.coinbase.reject("BTC-USDT", "market_trades")
        refused = "ticker" if exchange == "bybit" else "trade"
        channels = ["trade", "ticker", "quote"]
        async with trio_feeds.open_feed([exchange], [SYMBOL], channels, **s.options()) as feed:
            items = await collect(feed, 5.0)
    rejected = [i for i in items if isinstance(i, SubscriptionRejected)]
    assert [(r.exchange, r.symbol, r.channel) for r in rejected] == [(exchange, SYMBOL, refused)]
    assert ("BTCUSDT" if exchange == "bybit" else SYMBOL) in rejected[0].message  # Bybit's text
    kinds = {i.kind for i in items if i.kind in channels}
    assert kinds == set(channels) - {refused}
