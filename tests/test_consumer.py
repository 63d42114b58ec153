"""What the consumer does cannot take the feed down: blocking work per item, falling behind
while the exchange sends garbage."""

from __future__ import annotations

import queue
import threading
import time
from typing import Any

import pytest
import trio
from conftest import TWS_PINGS_BEHIND_MESSAGES, active_transport, xfail_on

import trio_feeds
from trio_feeds.testing import MarketSimulator, SimulatedBinance, open_simulated_exchanges


def _binance_in_thread(ready: queue.Queue[Any], stop: threading.Event) -> None:
    """A simulated Binance on its own trio loop in a thread, so that it keeps sending (and
    pinging) while the consumer's thread is blocked."""

    async def main() -> None:
        market = MarketSimulator(["BTC-USDT", "ETH-USDT"], seed=3, rate=200.0)
        sim = SimulatedBinance(
            market, ping_interval=0.25, pong_timeout=1.0, max_messages_per_second=None
        )
        async with sim.serve():
            ready.put((sim.url, sim.rest_url))
            while not stop.is_set():  # noqa: ASYNC110
                await trio.sleep(0.05)
            ready.put(
                {
                    "connections": len(sim.all_connections),
                    "close_codes": [c.close_code for c in sim.all_connections],
                    "violations": [v.kind for v in sim.violations],
                    "pings_sent": sum(c.pings_sent for c in sim.all_connections),
                    "pongs_received": sum(c.pongs_received for c in sim.all_connections),
                }
            )

    trio.run(main)


@pytest.mark.usefixtures("transport")  # over every transport (conftest.TRANSPORTS)
async def test_a_consumer_blocking_20ms_per_item_keeps_the_pings_answered(
    request: pytest.FixtureRequest,
) -> None:
    """Real loopback and real time (blocking work does not exist in virtual time): the
    simulated Binance pings every 0.25 s and closes with 1008 when a pong is 1 s late.  The
    consumer blocks the event loop for 20 ms per item while a backlog builds up; the feed
    must still answer every ping between items, so the connection survives."""
    xfail_on(request, "trio-websocket", TWS_PINGS_BEHIND_MESSAGES)
    ready: queue.Queue[Any] = queue.Queue()
    stop = threading.Event()
    thread = threading.Thread(target=_binance_in_thread, args=(ready, stop), daemon=True)
    thread.start()
    url, rest_url = await trio.to_thread.run_sync(ready.get)
    items = 0
    backlog = 0
    events: list[Any] = []
    try:
        async with trio_feeds.open_feed(
            ["binance"], ["BTC-USDT", "ETH-USDT"], ["trade", "quote"],
            urls={"binance": url}, rest_urls={"binance": rest_url}, transport=active_transport(),
        ) as feed:  # fmt: skip
            with trio.move_on_after(4.0):
                async for item in feed:
                    time.sleep(0.02)  # blocking work, as a careless consumer does  # noqa: ASYNC251
                    items += 1
                    backlog = max(backlog, feed.buffered)
                    if item.kind == "source":
                        events.append(item)
    finally:
        stop.set()
        summary = await trio.to_thread.run_sync(ready.get)
        await trio.to_thread.run_sync(thread.join)
    assert backlog > 50, "the consumer was behind all along (the case that starved pings)"
    assert summary["connections"] == 1, summary  # never replaced
    assert 1008 not in summary["close_codes"]
    assert "pong_timeout" not in summary["violations"]
    assert summary["pings_sent"] >= 8
    assert summary["pongs_received"] >= summary["pings_sent"] - 1
    assert [e.state for e in events] == ["connected"]


async def test_an_error_storm_with_a_consumer_that_does_not_read_stays_bounded(
    autojump_clock: Any,
) -> None:
    """Thousands of malformed frames while the consumer reads nothing and buffer_size=1000:
    the errors are coalesced per (source, reason), so the buffer holds about buffer_size
    items, not one event per bad frame; every error is still counted."""
    async with (
        open_simulated_exchanges(["BTC-USDT", "ETH-USDT"], seed=5, memory=True, rate=200.0) as sims,
        trio_feeds.open_feed(
            ["binance"], ["BTC-USDT", "ETH-USDT"], ["trade", "quote"], urls=sims.urls,
            connector=sims.connector, clock=sims.clock, buffer_size=1000,
            transport=active_transport(),
        ) as feed,
    ):  # fmt: skip
        await trio.sleep(1)
        sims.binance.malformed(10**9)
        await trio.sleep(60)
        source = feed.sources["binance"]
        assert source.errors > 5000, "a real storm"
        assert feed.buffered < 1200
        items = []
        while True:
            try:
                items.append(feed.receive_nowait())
            except trio.WouldBlock:
                break
        disconnects = [x for x in items if x.kind == "source" and x.state == "disconnected"]
        errors = [x for x in items if x.kind == "source" and x.state == "error"]
        assert {x.reason for x in errors} == {"malformed_frame"}
        assert len(errors) <= 62  # the first, then one per second
        for conn in sims.binance.connections:  # the storm ends; what was coalesced comes out
            conn.malformed_pending = 0
        await trio.sleep(3)
        while True:
            try:
                x = feed.receive_nowait()
            except trio.WouldBlock:
                break
            if x.kind == "source" and x.state == "error":
                errors.append(x)
            elif x.kind == "source" and x.state == "disconnected":
                disconnects.append(x)  # a connection that only sends garbage goes stale
        # every error is counted: the coalesced counts plus the disconnects
        assert sum(x.count for x in errors) + len(disconnects) == source.errors


@pytest.mark.usefixtures("transport")  # over every transport (conftest.TRANSPORTS)
async def test_the_first_error_is_shown_at_once_and_repeats_are_counted(
    autojump_clock: Any,
) -> None:
    async with (
        open_simulated_exchanges(["BTC-USDT"], seed=5, memory=True, rate=50.0) as sims,
        trio_feeds.open_feed(
            ["binance"], ["BTC-USDT"], ["trade", "quote"], urls=sims.urls,
            connector=sims.connector, clock=sims.clock, transport=active_transport(),
        ) as feed,
    ):  # fmt: skip
        await trio.sleep(2)
        sims.binance.malformed(3)
        first_at = trio.current_time()
        errors: list[tuple[float, Any]] = []
        with trio.move_on_after(5):
            async for item in feed:
                if item.kind == "source" and item.state == "error":
                    errors.append((trio.current_time(), item))  # noqa: PERF401
        (t1, e1), (t2, e2) = errors
        assert e1.count == 1 and t1 - first_at < 0.5  # the first: at once
        assert e2.count == 2 and "2 more" in e2.detail  # the repeats: one event, counted
        assert 0.9 <= t2 - t1 <= 1.1
        assert e2.timestamp - e1.timestamp >= 900
