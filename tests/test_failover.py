"""Multi-exchange feeds: failover triggers, failback, conflict modes, events (loopback sims)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest
import trio
import trio.testing
from conftest import active_transport

import trio_feeds
from trio_feeds.testing import SimulatedExchanges, open_simulated_exchanges

#: run over every transport (see conftest.TRANSPORTS)
pytestmark = pytest.mark.usefixtures("transport")

DATA = {"trade", "ticker", "quote", "book", "candle"}


@asynccontextmanager
async def feed_on(
    sims: SimulatedExchanges, channels: list[str] | None = None, **kw: Any
) -> AsyncIterator[trio_feeds.Feed]:
    opts: dict[str, Any] = dict(
        urls=sims.urls,
        rest_urls=sims.rest_urls,
        connector=sims.connector,
        http_transport=sims.http_transport,
        clock=sims.clock,
        stale_after=2.0,
        failback_after=5.0,
        reconnect_delay=0.5,
        max_reconnect_delay=2.0,
        seed=7,
    )
    opts.update(kw)
    async with trio_feeds.open_feed(
        ["binance", "okx"],
        ["BTC-USDT"],
        channels or ["trade", "quote"],
        **opts,
        transport=active_transport(),
    ) as feed:
        yield feed


async def collect(
    feed: trio_feeds.Feed, seconds: float, until: Callable[[Any], bool] | None = None
) -> list[Any]:
    out: list[Any] = []
    with trio.move_on_after(seconds):
        async for item in feed:
            out.append((trio.current_time(), item))
            if until is not None and until(item):
                break
    return out


def switches(items: list[Any]) -> list[trio_feeds.SourceSwitch]:
    return [i for _, i in items if i.kind == "source_switch"]


async def test_primary_mode_delivers_only_the_active_source(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with open_simulated_exchanges(["BTC-USDT"], memory=True, rate=20) as sims:
        async with feed_on(sims) as feed:
            items = await collect(feed, 10)
            assert feed.active_source == "binance"
            data = [i for _, i in items if i.kind in DATA]
            assert data and {i.exchange for i in data} == {"binance"}
            h = feed.health()
            assert h.healthy and h.active_source == "binance"
            assert h.connected_sources == 2 and h.total_sources == 2


async def test_failover_on_disconnect_and_failback_after_hold_down(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with open_simulated_exchanges(["BTC-USDT"], memory=True, rate=20) as sims:
        async with feed_on(sims) as feed:
            await collect(feed, 3)
            sims.binance.refuse_connections(3)
            sims.binance.drop()
            dropped_at = trio.current_time()
            items = await collect(feed, 30)
    sw = switches(items)
    assert sw[0].from_source == "binance" and sw[0].to_source == "okx"
    assert "disconnected" in sw[0].reason
    # the first okx record follows the switch quickly (hot standby: it was streaming)
    t_switch = next(t for t, i in items if i.kind == "source_switch")
    first_okx = next(t for t, i in items if i.kind in DATA and i.exchange == "okx")
    assert t_switch - dropped_at < 0.5
    assert first_okx - t_switch < 0.5
    # failback to binance, not sooner than the hold-down after it was healthy again
    back = [s for s in sw if s.to_source == "binance"]
    assert back, "no failback"
    t_back = next(t for t, i in items if i.kind == "source_switch" and i.to_source == "binance")
    reconnected = next(
        t
        for t, i in items
        if i.kind == "source" and i.exchange == "binance" and i.state == "connected"
    )
    assert t_back - reconnected >= 5.0 - 1e-6
    # primary mode: every data record came from the source active at that moment
    active = "binance"
    for _, item in items:
        if item.kind == "source_switch":
            active = item.to_source
        elif item.kind in DATA:
            assert item.exchange == active


async def test_failover_on_staleness(autojump_clock: trio.testing.MockClock) -> None:
    async with open_simulated_exchanges(["BTC-USDT"], memory=True, rate=20) as sims:
        async with feed_on(sims, stale_after=2.0) as feed:
            await collect(feed, 3)
            sims.binance.silence(answer_pings=True)
            silenced = trio.current_time()
            items = await collect(feed, 5, until=lambda i: i.kind == "source_switch")
    sw = switches(items)
    assert sw and sw[0].to_source == "okx" and "stale" in sw[0].reason
    t = items[-1][0]
    # detection within stale_after (+ one tick of slack)
    assert 2.0 - 0.1 <= t - silenced <= 2.0 + 0.2


async def test_failover_on_latency(autojump_clock: trio.testing.MockClock) -> None:
    async with open_simulated_exchanges(["BTC-USDT"], memory=True, rate=20) as sims:
        async with feed_on(sims, max_source_latency=1.0, stale_after=5.0) as feed:
            await collect(feed, 3)
            sims.binance.latency(2.0)
            items = await collect(feed, 10, until=lambda i: i.kind == "source_switch")
            st = feed.health().sources["binance"]
    sw = switches(items)
    assert sw and sw[0].to_source == "okx" and "latency" in sw[0].reason
    # the delayed batches show as lag above binance's normal offset (0 here), at once
    assert st.lag is not None and st.lag.max == pytest.approx(2.0, abs=0.01)
    assert st.latency == pytest.approx(2.0, abs=0.01)
    assert st.clock_offset == pytest.approx(0.0, abs=0.01)


async def test_failover_on_error_rate(autojump_clock: trio.testing.MockClock) -> None:
    async with open_simulated_exchanges(["BTC-USDT"], memory=True, rate=20) as sims:
        async with feed_on(sims) as feed:
            await collect(feed, 3)
            sims.binance.malformed(8)
            items = await collect(feed, 10, until=lambda i: i.kind == "source_switch")
    sw = switches(items)
    assert sw and sw[0].to_source == "okx" and "errors" in sw[0].reason
    errors = [i for _, i in items if i.kind == "source" and i.state == "error"]
    assert errors and "malformed" in errors[0].detail


async def test_failover_failed_when_no_source_is_healthy(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with open_simulated_exchanges(["BTC-USDT"], memory=True, rate=20) as sims:
        async with feed_on(sims) as feed:
            await collect(feed, 3)
            sims.binance.silence()
            sims.okx.silence()
            items = await collect(feed, 2.5, until=lambda i: i.kind == "failover_failed")
            assert not feed.health().healthy
            # the silent connections are replaced, data returns, the feed is healthy again
            later = await collect(feed, 10)
            assert feed.health().healthy
    failed = [i for _, i in items if i.kind == "failover_failed"]
    assert len(failed) == 1
    assert "binance" in failed[0].reason and "okx" in failed[0].reason
    assert any(i.kind in DATA for _, i in later)
    assert not any(i.kind == "failover_failed" for _, i in later)


async def test_latest_mode_merges_without_duplicates(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with open_simulated_exchanges(["BTC-USDT"], memory=True, rate=20) as sims:
        async with feed_on(sims, channels=["trade", "quote", "ticker"], conflict="latest") as feed:
            items = await collect(feed, 10)
    data = [i for _, i in items if i.kind in DATA]
    assert {i.exchange for i in data} == {"binance", "okx"}
    last: dict[tuple[str, str], Any] = {}
    for i in data:
        if i.kind == "trade":
            continue
        key = (i.kind, i.symbol)
        prev = last.get(key)
        if prev is not None and prev.exchange == i.exchange and i.kind == "quote":
            assert i.sequence > prev.sequence, "a source's quotes in its own order"
        elif prev is not None:
            # one clock here (no offsets): never back in time, ties allowed
            assert i.timestamp >= prev.timestamp - 1, (prev, i)
        last[key] = i
    trades = [(i.exchange, int(i.trade_id)) for i in data if i.kind == "trade"]
    assert len(trades) == len(set(trades))
    # every binance trade exactly once: its ids are consecutive
    ids = [t for ex, t in trades if ex == "binance"]
    assert ids == list(range(ids[0], ids[0] + len(ids)))


async def test_average_mode_combines_quotes(autojump_clock: trio.testing.MockClock) -> None:
    async with open_simulated_exchanges(["BTC-USDT"], memory=True, rate=20) as sims:
        async with feed_on(sims, channels=["quote"], conflict="average") as feed:
            items = await collect(feed, 10)
    quotes = [i for _, i in items if i.kind == "quote"]
    combined = [q for q in quotes if q.exchange == "binance+okx"]
    assert combined, "expected quotes combined from both sources"
    for q in combined:
        assert q.bid_size > 0 and q.ask_size > 0


async def test_cold_standby_starts_only_when_needed(autojump_clock: trio.testing.MockClock) -> None:
    async with open_simulated_exchanges(["BTC-USDT"], memory=True, rate=20) as sims:
        async with feed_on(sims, standby="cold") as feed:
            await collect(feed, 3)
            assert sims.okx.connection_log == []
            sims.binance.refuse_connections(50)
            sims.binance.drop()
            items = await collect(feed, 15)
            assert sims.okx.connection_log, "the cold standby was never started"
    sw = switches(items)
    assert sw and sw[-1].to_source == "okx"
    assert any(i.kind in DATA and i.exchange == "okx" for _, i in items)


async def test_events_on_their_own_channel_never_block_data(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with open_simulated_exchanges(["BTC-USDT"], memory=True, rate=20) as sims:
        async with feed_on(sims, events_in_stream=False) as feed:
            events = feed.events(max_buffer=2)  # deliberately tiny and never read until the end
            await collect(feed, 2)
            sims.binance.drop()
            items = await collect(feed, 10)
            got = []
            while True:
                try:
                    got.append(events.receive_nowait())
                except trio.WouldBlock:
                    break
    assert all(i.kind in DATA for _, i in items)
    assert any(i.exchange == "okx" for _, i in items)
    assert len(got) == 2 and feed.events_dropped > 0
