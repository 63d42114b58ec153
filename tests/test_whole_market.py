"""Whole-market feeds and runtime subscriptions, checked from the simulated exchange's side.

A simulated Binance lists 1,500 symbols; ``open_feed(["binance"], "*", ["trade"])`` must
subscribe every one of them without breaking Binance's rules (at most 1,024 streams per
connection, 5 incoming messages per second per connection, 300 connection attempts per
5 minutes), trades of sampled symbols must arrive, and ``Feed.subscribe`` /
``Feed.unsubscribe`` must change exactly the named streams.  Virtual time throughout.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest
import trio

import trio_feeds
from trio_feeds import SubscriptionChange, SymbolError
from trio_feeds.simulator.market import MarketSimulator
from trio_feeds.testing import SimulatedExchanges, open_simulated_exchanges

SYMBOLS = [f"C{i:04d}-USDT" for i in range(1500)]


def _stream(symbol: str, suffix: str = "trade") -> str:
    return f"{symbol.replace('-', '').lower()}@{suffix}"


class _Watch:
    """What the simulated Binance received: incoming frame times per connection and
    connection attempts."""

    def __init__(self, sims: SimulatedExchanges) -> None:
        sim = sims.binance
        self.frames: dict[int, list[float]] = defaultdict(list)
        self.attempts: list[float] = []
        count, check = sim._count_incoming, sim._check_connection_rate

        def counting(conn: Any) -> bool:
            self.frames[conn.id].append(trio.current_time())
            return count(conn)

        def attempt(remote: str, now: float) -> None:
            self.attempts.append(now)
            check(remote, now)

        sim._count_incoming = counting  # type: ignore[method-assign]
        sim._check_connection_rate = attempt  # type: ignore[method-assign]
        self.sim = sim

    def subscribed(self) -> dict[int, set[str]]:
        return {c.id: set(c.subscriptions) for c in self.sim.connections}

    def all_streams(self) -> set[str]:
        return set().union(*self.subscribed().values())

    def assert_within_limits(self) -> None:
        assert self.sim.violations == []
        for subs in self.subscribed().values():
            assert len(subs) <= 1024
        for times in self.frames.values():  # at most 5 incoming messages in any 1 s window
            for i, t in enumerate(times):
                assert sum(1 for u in times[i:] if u < t + 1.0) <= 5
        for i, t in enumerate(self.attempts):
            assert sum(1 for u in self.attempts[i:] if u < t + 300.0) <= 300


@asynccontextmanager
async def _market(n: int = 1500) -> AsyncIterator[tuple[SimulatedExchanges, _Watch]]:
    # 1,500 symbols, 100 of them moving per tick at 20 ticks/s: about 600 trades/s in all
    market = MarketSimulator(SYMBOLS[:n], seed=5, rate=20.0, symbols_per_tick=100)
    async with open_simulated_exchanges(market=market, memory=True, exchanges=["binance"]) as sims:
        yield sims, _Watch(sims)


async def _until(condition: Callable[[], bool], seconds: float = 60.0) -> None:
    """Wait (virtual time) until ``condition()`` holds; fail after ``seconds``."""
    for _ in range(int(seconds / 0.25)):
        if condition():
            return
        await trio.sleep(0.25)
    raise AssertionError("condition not reached in time")


async def _changes(feed: trio_feeds.Feed, action: str) -> SubscriptionChange:
    async for item in feed:
        if item.kind == "subscription_change" and item.action == action:
            return item
    raise AssertionError("feed ended")


async def test_star_subscribes_every_listed_symbol_within_binance_limits(
    autojump_clock: Any,
) -> None:
    async with _market() as (sims, watch):
        sims.binance.set_listing(SYMBOLS[7], "BREAK")  # listed, not trading: left out
        async with trio_feeds.open_feed(["binance"], "*", ["trade"], **sims.feed_kwargs()) as feed:
            # subscribed as fast as the limits allow: 6 SUBSCRIBE frames of <= 200 streams
            # on the first connection at 3 per second (5 is Binance's limit): ~2 s
            start = trio.current_time()
            await _until(lambda: len(watch.all_streams()) == 1499)
            assert trio.current_time() - start <= 2.5
            wanted = random.Random(1).sample(SYMBOLS[8:], 25)
            seen: set[str] = set()
            with trio.fail_after(120):
                async for item in feed:
                    if item.kind == "trade" and item.symbol in wanted:
                        seen.add(item.symbol)
                        if seen == set(wanted):
                            break
            streams = watch.all_streams()
            assert streams == {_stream(s) for s in SYMBOLS if s != SYMBOLS[7]}
            assert len(watch.subscribed()) == 2  # 1,024 + 475: as few connections as allowed
            watch.assert_within_limits()
            assert sims.binance.instrument_requests == 1


async def test_runtime_subscribe_and_unsubscribe_change_exactly_the_named_streams(
    autojump_clock: Any,
) -> None:
    async with _market() as (sims, watch):
        async with trio_feeds.open_feed(["binance"], "*", ["trade"], **sims.feed_kwargs()) as feed:
            await _until(lambda: len(watch.all_streams()) == 1500)
            before = watch.subscribed()
            gone = [SYMBOLS[3], SYMBOLS[1200]]
            await feed.unsubscribe(gone, "trade")
            event = await _changes(feed, "unsubscribed")
            assert set(event.symbols) == set(gone) and event.channels == ("trade",)
            await trio.sleep(1.0)
            after = watch.subscribed()
            assert set(after) == set(before)  # same connections, nothing reconnected
            for cid, subs in before.items():
                assert after[cid] == subs - {_stream(s) for s in gone}
            # no trade of an unsubscribed symbol follows the event
            with trio.move_on_after(5):
                async for item in feed:
                    assert not (item.kind == "trade" and item.symbol in gone)

            # 600 quote streams: the second connection fills up to 1,024, a third opens
            added = SYMBOLS[:600]
            await feed.subscribe(added, ["quote"])
            event = await _changes(feed, "subscribed")
            assert event.symbols == tuple(added) and event.channels == ("quote",)
            await _until(lambda: len(watch.all_streams()) == 1498 + 600)
            now = watch.subscribed()
            assert watch.all_streams() == (
                {_stream(s) for s in SYMBOLS if s not in gone}
                | {_stream(s, "bookTicker") for s in added}
            )
            assert len(now) == 3 and all(len(s) <= 1024 for s in now.values())
            for cid, subs in before.items():  # old streams stayed where they were
                assert now[cid] >= subs - {_stream(s) for s in gone}
            watch.assert_within_limits()
            with trio.fail_after(30):
                async for item in feed:
                    if item.kind == "quote" and item.symbol in added:
                        break


async def test_an_unknown_symbol_is_named_and_changes_nothing(autojump_clock: Any) -> None:
    async with _market(20) as (sims, watch):
        async with trio_feeds.open_feed(
            ["binance"], ["C0001-USDT"], ["trade"], **sims.feed_kwargs()
        ) as feed:
            await _until(lambda: bool(watch.all_streams()))
            before = watch.subscribed()
            with pytest.raises(SymbolError, match="NOPE-USDT"):
                await feed.subscribe(["C0002-USDT", "NOPE-USDT"], "trade")
            with pytest.raises(SymbolError, match="C0005-USDT"):
                await feed.unsubscribe(["C0005-USDT"], "trade")
            await trio.sleep(1.0)
            assert watch.subscribed() == before


async def test_spot_exchange_info_lists_only_what_the_spot_simulator_serves(
    autojump_clock: Any,
) -> None:
    async with open_simulated_exchanges(
        ["BTC-USDT", "BTC-USDT-PERP"], memory=True, exchanges=["binance"]
    ) as sims:
        listed = await trio_feeds.fetch_instruments(
            "binance", rest_url=sims.rest_urls["binance"], http_transport=sims.http_transport
        )
        assert [i.symbol for i in listed] == ["BTC-USDT"]


async def test_star_perp_on_the_simulated_usdm(autojump_clock: Any) -> None:
    perps = [f"C{i:02d}-USDT-PERP" for i in range(40)]
    async with open_simulated_exchanges(perps, memory=True, exchanges=["binance-usdm"]) as sims:
        async with trio_feeds.open_feed(
            ["binance-usdm"], "*-PERP", ["trade"], **sims.feed_kwargs()
        ) as feed:
            with trio.fail_after(60):
                async for item in feed:
                    if item.kind == "trade":
                        assert item.symbol in perps
                        break
            sim = sims.sims["binance-usdm"]
            streams = {s for c in sim.connections for s in c.subscriptions}
            assert len(streams) == 40 and sim.violations == []
