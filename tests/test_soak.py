"""Soak: 24 simulated hours of both exchanges with periodic faults, in a few seconds.

Faults: a drop every hour (alternating exchanges), a shutdown notice every five hours, a
silence and a spell of unanswered pings; Binance's own 24 h cut comes due too.  The consumer
checks every trade as it arrives against the market's own record (nothing lost that a Gap
does not cover, nothing repeated) without keeping the records, so that memory can be
compared between hour 2 and hour 24: what the engine holds must stay flat.
"""

from __future__ import annotations

import gc
import os
import tracemalloc
from collections import deque
from typing import Any

import pytest
import trio
import trio.testing
from conftest import OKX_TRADE_ID_OFFSET

import trio_feeds
from trio_feeds.testing import MarketTick, open_simulated_exchanges

HOUR = 3600.0
SYMBOLS = ["BTC-USDT", "ETH-USDT"]
EXCHANGES = ("binance", "okx")
#: the engine's own modules (not the simulator, not the parsers' records the test holds)
ENGINE_DIRS = tuple(os.sep + os.path.join("trio_feeds", d, "") for d in ("engine", "feed"))


class StreamingCheck:
    """Expected trades from the market, checked off as the feed delivers them."""

    def __init__(self) -> None:
        self.expected: dict[tuple[str, str], deque[tuple[int, int]]] = {
            (e, s): deque() for e in EXCHANGES for s in SYMBOLS
        }
        self.last: dict[tuple[str, str], int] = {}
        self.gaps: list[Any] = []
        self.delivered = 0
        self.missing = 0
        self.events: dict[str, int] = {}

    def on_tick(self, tick: MarketTick) -> None:
        for sym, up in tick.updates.items():
            for order in up.orders:
                prev_price = None
                group_last = None
                for f in order.fills:
                    self.expected["binance", sym].append((f.trade_id, up.ts))
                    if prev_price is not None and f.price != prev_price:
                        self.expected["okx", sym].append((group_last + OKX_TRADE_ID_OFFSET, up.ts))
                    prev_price, group_last = f.price, f.trade_id
                if group_last is not None:
                    self.expected["okx", sym].append((group_last + OKX_TRADE_ID_OFFSET, up.ts))

    def on_item(self, x: Any) -> None:
        if x.kind == "gap":
            self.gaps.append(x)
            return
        if x.kind == "source":
            self.events[x.state] = self.events.get(x.state, 0) + 1
            return
        if x.kind != "trade":
            return
        key = (x.exchange, x.symbol)
        tid = int(x.trade_id)
        prev = self.last.get(key)
        assert prev is None or tid > prev, f"{key}: trade {tid} repeated or out of order"
        self.last[key] = tid
        q = self.expected[key]
        while q and q[0][0] < tid:
            lost_id, ts = q.popleft()
            if prev is None:
                continue  # before the first delivered trade: not subscribed yet
            self.missing += 1
            assert any(
                g.exchange == x.exchange
                and g.symbol == x.symbol
                and g.channel == "trade"
                and g.start <= ts <= g.end
                for g in self.gaps
            ), f"{key}: trade {lost_id} at {ts} lost without a Gap"
        assert q and q[0][0] == tid, f"{key}: trade {tid} not published by the exchange"
        q.popleft()
        self.delivered += 1


def _engine_bytes(snapshot: tracemalloc.Snapshot) -> int:
    stats = snapshot.statistics("filename")
    return sum(s.size for s in stats if any(d in s.traceback[0].filename for d in ENGINE_DIRS))


@pytest.mark.slow
# a simulated day under tracemalloc: ~60 s on an idle 2-core machine, more when it is shared;
# the default 120 s guard is for hangs, not for this test's CPU time
@pytest.mark.timeout(900)
def test_soak_24_hours() -> None:
    async def main() -> None:
        check = StreamingCheck()
        async with open_simulated_exchanges(SYMBOLS, seed=11, memory=True, rate=0.2) as sims:
            sims.market.add_listener(check.on_tick)
            async with (
                trio_feeds.open_feed(
                    ["binance"],
                    SYMBOLS,
                    ["trade"],
                    urls={"binance": sims.urls["binance"]},
                    connector=sims.connector,
                    clock=sims.clock,
                    seed=3,
                    stale_after=60,
                ) as binance_feed,
                trio_feeds.open_feed(
                    ["okx"],
                    SYMBOLS,
                    ["trade"],
                    urls={"okx": sims.urls["okx"]},
                    connector=sims.connector,
                    clock=sims.clock,
                    seed=4,
                    stale_after=60,
                ) as okx_feed,
                trio.open_nursery() as nursery,
            ):
                feeds = {"binance": binance_feed, "okx": okx_feed}

                async def consume(feed: trio_feeds.Feed) -> None:
                    async for x in feed:
                        check.on_item(x)

                for feed in feeds.values():
                    nursery.start_soon(consume, feed)
                memory: dict[int, int] = {}
                sizes: dict[int, dict[str, int]] = {}
                for hour in range(1, 25):
                    await trio.sleep(HOUR / 2)
                    ex = EXCHANGES[hour % 2]
                    sim = sims.sims[ex]
                    if hour % 5 == 0:
                        sim.shutdown_notice(lead=5.0 if ex == "binance" else 60.0)
                    elif hour == 7:
                        sim.silence()
                    elif hour == 8:
                        sims.binance.resume()
                        sims.okx.resume()
                        sim.stop_pongs()
                    else:
                        sim.drop()
                    await trio.sleep(HOUR / 2)
                    if hour in (2, 24):
                        gc.collect()
                        memory[hour] = _engine_bytes(tracemalloc.take_snapshot())
                        sizes[hour] = _sizes(feeds)
                nursery.cancel_scope.cancel()

        # the whole day was checked trade by trade (on_item asserts); and it was a real day
        assert sims.clock() - sims.market.epoch >= 24 * HOUR
        for key in check.expected:
            assert key in check.last, f"{key}: no trades at all"
        assert check.delivered > 5_000
        assert check.events.get("handoff", 0) >= 4
        assert check.events.get("reconnecting", 0) >= 15
        assert check.gaps
        assert not sims.binance.violations and not sims.okx.violations
        # memory is flat: what the engine holds at hour 24 is what it held at hour 2
        growth = memory[24] - memory[2]
        assert growth < 64 * 1024, f"engine memory grew by {growth} bytes from hour 2 to 24"
        for name, n in sizes[24].items():
            assert n <= max(sizes[2][name], 1) * 2 + 8, (name, sizes[2][name], n)

    tracemalloc.start()
    try:
        trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    finally:
        tracemalloc.stop()


def _sizes(feeds: dict[str, trio_feeds.Feed]) -> dict[str, int]:
    out: dict[str, int] = {}
    for name, feed in feeds.items():
        src = feed.sources[name]
        out[f"{name}.buffer"] = len(feed._buffer)
        for attr in ("last_data", "last_ts", "idle_strikes", "rejected"):
            out[f"{name}.{attr}"] = len(getattr(src, attr))
        out[f"{name}.rtt"] = len(src.rtt)
        out[f"{name}.lag"] = len(src.lag)
        out[f"{name}.live_sessions"] = src.live_sessions
    return out
