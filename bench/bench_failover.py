"""Failover time and two-source throughput per conflict mode.

    python bench/bench_failover.py

1. Failover on disconnect: simulated Binance (primary) and OKX on loopback TCP,
   both streaming (hot standby); Binance is dropped (and refuses reconnects);
   we time from the drop to the first record from OKX.
2. Failover on staleness: Binance goes silent (still answering pings); time from
   the silence to the first OKX record, minus ``stale_after``.
3. Throughput of the aggregator with two sources in each conflict mode
   (synthetic batches, records/s through ``Aggregator.process``).
"""

from __future__ import annotations

import statistics
import time

import trio

import trio_feeds
from trio_feeds import Quote, Trade
from trio_feeds.feed.aggregate import Aggregator
from trio_feeds.testing import open_simulated_exchanges

RATE = 200.0  # market ticks per second in the simulators
STALE = 1.0


async def one_failover(kind: str, seed: int) -> float:
    async with open_simulated_exchanges(["BTC-USDT"], seed=seed, rate=RATE) as sims:
        async with trio_feeds.open_feed(
            ["binance", "okx"], ["BTC-USDT"], ["trade", "quote"],
            urls=sims.urls, rest_urls=sims.rest_urls, stale_after=STALE, failback_after=60,
        ) as feed:  # fmt: skip
            # warm up: both sources streaming
            seen: set[str] = set()
            with trio.fail_after(10):
                async for item in feed:
                    if item.kind in ("trade", "quote"):
                        seen.add(item.exchange)
                    if feed.health().connected_sources == 2 and "binance" in seen:
                        break
                await trio.sleep(0.5)
            while True:  # drain
                try:
                    feed.receive_nowait()
                except trio.WouldBlock:
                    break
            t0 = time.perf_counter()
            if kind == "disconnect":
                sims.binance.refuse_connections(100)
                sims.binance.drop()
            else:
                sims.binance.silence(answer_pings=True)
            with trio.fail_after(10):
                async for item in feed:
                    if item.kind in ("trade", "quote") and item.exchange == "okx":
                        return (time.perf_counter() - t0) * 1000
    raise AssertionError("unreachable")


def aggregator_throughput(mode: str, n: int = 200_000) -> float:
    """Batches of 100 records (quotes and trades, half each) alternating between the two
    sources; a record every 10 µs, its exchange time 1 ms ahead of the previous batch's
    (so ``latest`` compares every batch's first quote with the other source's)."""
    clock = time.time
    agg = Aggregator(
        ["binance", "okx"], primary="binance", conflict=mode, clock=clock,
        now=time.monotonic, connected=lambda s: True,
    )  # fmt: skip
    now = clock()
    batches = []
    for b in range(n // 100):
        src = "binance" if b % 2 == 0 else "okx"
        batch: list[object] = []
        received = now + b * 0.001
        for i in range(100):
            k = b * 100 + i
            ts = int(received * 1000)
            if i % 2:
                batch.append(Quote(src, "BTC-USDT", ts, received, 100.0, 1.0, 101.0, 1.0, k))
            else:
                batch.append(Trade(src, "BTC-USDT", ts, received, 100.0, 1.0, "buy", str(k)))
        batches.append((src, batch))
    t0 = time.perf_counter()
    delivered = 0
    for src, batch in batches:
        delivered += len(agg.process(src, batch))
    elapsed = time.perf_counter() - t0
    expected = n // 2 if mode == "primary" else n  # primary: the active source's only
    assert delivered == expected, f"{mode}: {delivered} delivered, expected {expected}"
    return n / elapsed


def main() -> None:
    for kind in ("disconnect", "staleness"):
        times = [trio.run(one_failover, kind, seed) for seed in range(5)]
        extra = "" if kind == "disconnect" else f" (includes stale_after = {STALE * 1000:.0f} ms)"
        print(
            f"failover on {kind}: median {statistics.median(times):.1f} ms, "
            f"max {max(times):.1f} ms over {len(times)} runs{extra}; "
            f"sim tick interval {1000 / RATE:.1f} ms"
        )
    for mode in ("primary", "latest", "average"):
        print(
            f"aggregator, two sources, conflict={mode}: "
            f"{aggregator_throughput(mode):,.0f} records/s"
        )


if __name__ == "__main__":
    main()
