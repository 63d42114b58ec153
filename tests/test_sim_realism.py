"""The simulated exchanges show reality's habits, and the feed copes with them.

Clock offsets of either sign between this machine and an exchange, event time falling behind
under load and recovering, bursts of events in one millisecond, OKX candle pushes stamped
with their open time.  Everything runs on the in-memory simulators under virtual time.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest
import trio
import trio.testing

import trio_feeds
from trio_feeds.testing import (
    ExchangeClock,
    LagEpisode,
    SimulatedExchanges,
    open_simulated_exchanges,
)

DATA = {"trade", "ticker", "quote", "book", "candle"}
#: event-time records of both simulators on these channels
STAMPED = {"trade", "ticker"}


@asynccontextmanager
async def sims_and_feed(
    channels: list[str],
    *,
    offsets: tuple[float, float] = (0.0, 0.0),
    bursts: float = 0.0,
    **kw: Any,
) -> AsyncIterator[tuple[SimulatedExchanges, trio_feeds.Feed]]:
    async with open_simulated_exchanges(
        ["BTC-USDT"],
        memory=True,
        rate=20,
        bursts=bursts,
        binance_options={"clock_offset": offsets[0]},
        okx_options={"clock_offset": offsets[1]},
    ) as sims:
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
        async with trio_feeds.open_feed(["binance", "okx"], ["BTC-USDT"], channels, **opts) as feed:
            yield sims, feed


async def collect(
    feed: trio_feeds.Feed, seconds: float, until: Callable[[Any], bool] | None = None
) -> list[tuple[float, Any]]:
    out: list[tuple[float, Any]] = []
    with trio.move_on_after(seconds):
        async for item in feed:
            out.append((trio.current_time(), item))
            if until is not None and until(item):
                break
    return out


def test_lag_episode_shape() -> None:
    e = LagEpisode(10.0, peak=6.0, rise=3.0, hold=2.0, fall=1.0)
    assert [e.at(t) for t in (9.0, 10.0, 11.5, 13.0, 14.0, 15.0, 15.5, 16.0, 20.0)] == [
        0.0, 0.0, 3.0, 6.0, 6.0, 6.0, 3.0, 0.0, 0.0,
    ]  # fmt: skip
    assert e.above(5.0) == pytest.approx((12.5, 15.0 + 1.0 / 6.0))
    assert e.above(6.0) is None
    clock = ExchangeClock(offset=-8.0)
    clock.episodes.append(e)
    assert clock.stamp(100_000, t=11.5) == 100_000 - 8_000 - 3_000


@pytest.mark.parametrize("offsets", [(-8.0, -8.0), (90.0, -150.0), (-240.0, 3.5)])
async def test_clock_offsets_of_either_sign_are_no_lag(
    autojump_clock: trio.testing.MockClock, offsets: tuple[float, float]
) -> None:
    """Both exchanges stamp 8 s in the past, or minutes off in opposite directions: their
    records carry the offset, health shows it as clock_offset, no switch, data flows from
    both in latest mode."""
    async with sims_and_feed(
        ["trade", "quote", "ticker", "candle"], offsets=offsets, conflict="latest"
    ) as (_, feed):
        items = await collect(feed, 30)
        health = feed.health()
    data = [i for _, i in items if i.kind in DATA]
    for ex, off in zip(("binance", "okx"), offsets, strict=True):
        stamped = [i for i in data if i.exchange == ex and i.kind in STAMPED]
        assert len(stamped) > 100
        for r in stamped:
            # memory transport: no delay; the stamp is the market time plus the offset
            assert r.timestamp / 1000 - r.received_at == pytest.approx(off, abs=0.002)
        st = health.sources[ex]
        assert st.clock_offset == pytest.approx(-off, abs=0.002)
        assert st.latency is not None and st.latency < 0.01
        # data from both sources throughout the run, not only at the start
        assert any(i.exchange == ex for _, i in items[-len(items) // 4 :] if i.kind in DATA)
    assert health.healthy and feed.switches == []
    assert not any(i.kind == "failover_failed" for _, i in items)


async def test_event_time_falling_6s_behind_on_the_primary_switches_within_seconds(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Both exchanges stamp 8 s in the past (their normal); then the primary's event time
    falls 6 s further behind over 3 s (max_source_latency is 5 s) and recovers."""
    async with sims_and_feed(["trade", "ticker"], offsets=(-8.0, -8.0)) as (sims, feed):
        await collect(feed, 10)
        episode = sims.binance.clock.lag_episode(peak=6.0, rise=3.0, hold=10.0, fall=2.0)
        crossed = episode.above(5.0)
        assert crossed is not None
        items = await collect(feed, 10, until=lambda i: i.kind == "source_switch")
        assert items[-1][1].kind == "source_switch"
        switched_at = items[-1][0]
        sw = items[-1][1]
        assert (sw.from_source, sw.to_source) == ("binance", "okx") and "lag" in sw.reason
        # detected within about a second (a second of samples above) of crossing 5 s
        assert crossed[0] < switched_at <= crossed[0] + 1.5
        later = await collect(feed, 25, until=lambda i: i.kind == "source_switch")
    back = later[-1][1]
    assert back.kind == "source_switch" and back.to_source == "binance"
    assert back.reason.startswith("failback")
    assert later[-1][0] >= crossed[1] + 5.0  # the hold-down after the recovery


async def test_when_every_source_lags_data_keeps_flowing_flagged_degraded(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with sims_and_feed(["trade", "quote"], max_source_latency=1.0) as (sims, feed):
        await collect(feed, 5)
        for sim in (sims.binance, sims.okx):
            sim.clock.lag_episode(peak=3.0, rise=0.5, hold=10.0, fall=0.5)
        items = await collect(feed, 8)
        assert not feed.health().healthy
        recovered = await collect(feed, 10)
    failed = [i for _, i in items if i.kind == "failover_failed"]
    assert len(failed) == 1
    assert "binance: latency" in failed[0].reason and "okx: latency" in failed[0].reason
    after = [t for t, i in items if i.kind in DATA and t > items[0][0] + 2.0]
    assert len(after) > 50 and max(b - a for a, b in itertools.pairwise(after)) < 1.0
    sw = [i for _, i in recovered if i.kind == "source_switch"]
    assert sw and sw[0].reason.startswith("recovered")


async def test_bursts_in_one_millisecond_are_all_delivered_in_latest_mode(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """With bursts, OKX quotes and both exchanges' trades share their millisecond; latest
    keeps each source's quotes in their own (sequence) order and loses none of them."""
    async with sims_and_feed(["trade", "quote"], bursts=0.5, conflict="latest") as (sims, feed):
        sent: list[int] = []

        def listener(tick: Any) -> None:
            up = tick.updates["BTC-USDT"]
            if up.bbo_changed:
                sent.append(up.seq_id)

        await collect(feed, 3)
        sims.market.add_listener(listener)
        items = await collect(feed, 10)
        sims.market.remove_listener(listener)
    okx_quotes = [i for _, i in items if i.kind == "quote" and i.exchange == "okx"]
    stamps = [q.timestamp for q in okx_quotes]
    assert len(stamps) - len(set(stamps)) > 20, "bursts put several quotes in one millisecond"
    seqs = [q.sequence for q in okx_quotes]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    # every top-of-book change the market made in the window reached the consumer: none of
    # the same-millisecond quotes was dropped (the first and last may fall outside)
    inside = [s for s in sent if seqs[0] <= s <= seqs[-1]]
    assert seqs == inside
    trades = [i for _, i in items if i.kind == "trade" and i.exchange == "binance"]
    ids = [int(t.trade_id) for t in trades]
    assert ids == list(range(ids[0], ids[0] + len(ids)))
    assert len(ids) - len({t.timestamp for t in trades}) > 20


async def test_okx_candles_are_pushed_with_their_open_time_and_every_close_arrives(
    autojump_clock: trio.testing.MockClock,
) -> None:
    # stale_after above Binance's 2 s kline cadence (a candle-only feed is quiet between)
    async with sims_and_feed(["candle"], conflict="latest", keep_raw=True, stale_after=10.0) as (
        _,
        feed,
    ):
        items = await collect(feed, 150)
    assert not [i for _, i in items if i.kind in ("gap", "source_switch", "failover_failed")]
    candles = [i for _, i in items if i.kind == "candle"]
    okx = [c for c in candles if c.exchange == "okx"]
    assert okx and all(int(c.raw[0]) == c.start for c in okx)  # the push's only time
    assert all(not c.exchange_time and c.timestamp == int(c.received_at * 1000) for c in okx)
    binance = [c for c in candles if c.exchange == "binance"]
    assert binance and all(c.exchange_time and c.timestamp == c.raw["E"] for c in binance)
    for ex in ("binance", "okx"):
        closed = [c.start for c in candles if c.exchange == ex and c.closed]
        assert len(closed) >= 2 and closed == sorted(set(closed))
        # every minute that closed during the run had updates before its close
        for start in closed:
            assert any(c.start == start and not c.closed for c in candles if c.exchange == ex)
