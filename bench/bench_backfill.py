"""Time from a reconnect to the first live trade, with and without backfill.

    python bench/bench_backfill.py [--repeat 3]

A simulated exchange (in memory, virtual time: ``MockClock(autojump_threshold=0)``) drops
the feed's connection and refuses reconnects until ``N`` trades (100, 10,000) went by
unseen, then accepts again.  We time, from the ``connected`` event of the reconnect to the
first live trade after it:

* ``wall ms``: the CPU time the feed spends (fetching the pages from the in-memory
  simulator, parsing and delivering the missed trades).  No network: on a real exchange
  add one round trip per page (Binance: 1000 trades a page; OKX: 100).
* ``virtual ms``: the delay the consumer sees in trio time, i.e. waits on the REST budget.

Without backfill the first live trade follows the reconnect at once (the missed trades are
only a ``Gap``); with it, the missed trades come first.  Runs A/B interleaved.
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

import trio
import trio.testing

import trio_feeds
from trio_feeds.testing import open_simulated_exchanges

SYMBOL = "BTC-USDT"


async def one(exchange: str, missed: int, backfill: bool, seed: int) -> tuple[float, float, int]:
    """(wall s, virtual s, trades delivered by the fill) for one reconnect."""
    async with open_simulated_exchanges([SYMBOL], seed=seed, memory=True, rate=500) as sims:
        sim = sims.sims[exchange]
        async with trio_feeds.open_feed(
            [exchange], [SYMBOL], ["trade"], reconnect_delay=0.1, max_reconnect_delay=0.2,
            backfill=backfill, backfill_timeout=60, buffer_size=1_000_000,
            **sims.feed_kwargs(),
        ) as feed:  # fmt: skip
            trades = 0
            async for item in feed:
                trades += item.kind == "trade"
                if trades == 50:
                    break
            start_id = sims.market.last_trade_id(SYMBOL)
            sim.refuse_connections(10**6)
            sim.drop()
            while sims.market.last_trade_id(SYMBOL) - start_id < missed:  # noqa: ASYNC110 - polling the market, no event for it
                await trio.sleep(0.01)
            sim.accept_connections()
            reconnected = False
            t0 = v0 = 0.0
            filled = 0
            async for item in feed:
                if item.kind == "source" and item.state == "connected":
                    reconnected = True
                    t0, v0 = time.perf_counter(), trio.current_time()
                elif item.kind == "gap_filled":
                    filled = item.count
                elif reconnected and item.kind == "trade" and (filled or not backfill):
                    return time.perf_counter() - t0, trio.current_time() - v0, filled
    raise AssertionError("no live trade after the reconnect")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(f"{'exchange':9} {'missed':>7} {'backfill':>8} {'filled':>7} {'wall ms':>9} "
          f"{'virtual ms':>10}")  # fmt: skip
    for exchange in ("binance", "okx"):
        for missed in (100, 10_000):
            runs: dict[bool, list[tuple[float, float, int]]] = {True: [], False: []}
            for i in range(args.repeat):
                for backfill in (False, True):  # A/B interleaved
                    result: Any = trio.run(
                        one, exchange, missed, backfill, i + 1,
                        clock=trio.testing.MockClock(autojump_threshold=0),
                    )  # fmt: skip
                    runs[backfill].append(result)
            for backfill in (False, True):
                rs = runs[backfill]
                wall = statistics.median(r[0] for r in rs) * 1000
                virt = statistics.median(r[1] for r in rs) * 1000
                filled = int(statistics.median(r[2] for r in rs))
                print(
                    f"{exchange:9} {missed:>7} {'on' if backfill else 'off':>8} {filled:>7} "
                    f"{wall:>9.1f} {virt:>10.1f}"
                )


if __name__ == "__main__":
    main()
