"""Whole-market scale: 10 → 100 → every symbol, on a simulated Binance and OKX.

    python bench/bench_scale.py [SECONDS]          # steady window per configuration (3 s)
    python bench/bench_scale.py --profile N         # cProfile the feed process at N symbols

A subprocess runs the simulated Binance (2,000 listed instruments) and OKX (700) over
loopback (real sockets, real time), driven by ``MarketSimulator(symbols_per_tick=…)`` with
bursts of ×5 steps in one millisecond.  The feed runs in this process, so
``time.process_time()`` here is the library's CPU, not the simulator's.

For each configuration (10, 100, all symbols; channels trade + quote; books for 10 symbols)
it prints:

* ``subscribed``: seconds from ``open_feed`` until the simulators hold every stream (they
  report it), beside the floor the exchanges' limits impose on the subscribe frames alone;
* ``cpu/rec``: this process's CPU time per record over the steady window;
* ``rss/sym``: RSS growth per subscribed (exchange, symbol) pair, and per book;
* ``p99``: consumer receipt time − the simulated exchange's event time (the simulator's
  epoch is its process's ``time.time()``, the same clock as ours; 1 ms resolution), over the
  steady window, which includes the bursts.
"""

from __future__ import annotations

import cProfile
import math
import multiprocessing as mp
import os
import pstats
import resource
import sys
import time
from typing import Any

import trio

import trio_feeds

BINANCE_LISTED = 2000
OKX_LISTED = 700
SYMBOLS = [f"C{i:04d}-USDT" for i in range(BINANCE_LISTED)]
# market steps per second per exchange (every step of a symbol gives ~1.5-3 messages on the
# trade + quote channels): 2,000 + 700 symbol steps at 20 ticks/s, with bursts of 1-4 more
RATE = 20.0
STEPS = {"binance": 500, "okx": 200}
BURSTS = 0.2
BOOKS = 20
# thin books and one change per step: the simulator's CPU goes to messages, not to books
CHEAP: dict[str, Any] = {
    "min_levels": 3,
    "max_levels": 8,
    "max_changes": 1,
    "trade_probability": 0.6,
}


def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


# --- the simulator process ---------------------------------------------------------------


def serve(conn: Any) -> None:
    trio.run(_serve, conn)


async def _serve(conn: Any) -> None:
    from trio_feeds.testing import MarketSimulator

    markets = {
        "binance": MarketSimulator(
            SYMBOLS,
            seed=1,
            rate=RATE,
            symbols_per_tick=STEPS["binance"],
            bursts=BURSTS,
            **CHEAP,
        ),
        "okx": MarketSimulator(
            SYMBOLS[:OKX_LISTED],
            seed=2,
            rate=RATE,
            symbols_per_tick=STEPS["okx"],
            bursts=BURSTS,
            **CHEAP,
        ),
    }
    for market in markets.values():  # stamp events with the time they are made, not the
        # time they were due: a lagging simulator must not count as the feed's latency
        step = market.step
        market.step = lambda now=None, _step=step: _step(trio.current_time())  # type: ignore
    async with trio.open_nursery() as nursery:
        sims: dict[str, Any] = {}
        for name, market in markets.items():
            sims[name] = await nursery.start(_one, name, market)
        conn.send(
            {
                "urls": {n: s.urls[n] for n, s in sims.items()},
                "rest_urls": {n: s.rest_urls[n] for n, s in sims.items()},
            }
        )
        while True:
            await trio.to_thread.run_sync(conn.poll, None)
            want = conn.recv()
            if want is None:
                nursery.cancel_scope.cancel()
                return
            cpu0 = time.process_time()
            full: dict[str, float] = {}
            while True:  # report when every stream is subscribed
                held = {
                    n: sum(len(c.subscriptions) for c in s.sims[n].connections)
                    for n, s in sims.items()
                }
                for n, k in want.items():
                    if held[n] >= k and n not in full:
                        full[n] = time.time()
                if len(full) == len(want):
                    conn.send(full)
                    break
                await trio.sleep(0.005)
            await trio.to_thread.run_sync(conn.recv)  # steady window over
            conn.send(time.process_time() - cpu0)


async def _one(name: str, market: Any, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
    from trio_feeds.testing import open_simulated_exchanges

    async with open_simulated_exchanges(market=market, exchanges=[name]) as sims:
        task_status.started(sims)
        await trio.sleep_forever()


# --- the feed process --------------------------------------------------------------------


def floor_seconds(n_binance: int, n_okx: int, channels: int) -> tuple[float, float]:
    """Lower bounds on the time to full subscription from the limits alone (Binance, OKX).

    Binance: ≤ 1,024 streams per connection and ≤ 5 incoming messages/s per connection;
    with ≤ 200 streams per SUBSCRIBE frame at 3 frames/s (the library's margin) the last
    frame of the fullest connection goes out (frames - 1) / 3 s after the first.  OKX:
    3 connections/s per IP (the library keeps 2/s) and the library's 240 streams per
    connection: the last connection opens (connections - 1) / 2 s after the first; one
    subscribe request per connection fits 64 KB of args and the 480 requests/h budget.
    """
    streams = n_binance * channels
    conns = math.ceil(streams / 1024)
    frames = math.ceil(math.ceil(streams / conns) / 200)
    okx_conns = math.ceil(n_okx * channels / 240)
    return max(0.0, (frames - 1) / 3), max(0.0, (okx_conns - 1) / 2)


async def run_config(
    pipe: Any, env: dict[str, Any], n: int, seconds: float, books: int
) -> dict[str, float]:
    symbols: Any = "*" if n >= BINANCE_LISTED else SYMBOLS[:n]
    n_okx = min(n, OKX_LISTED)
    want = {"binance": n * 2 + books, "okx": n_okx * 2 + books}
    rss0 = _rss()
    t0 = time.time()
    pipe.send(want)
    lat: list[int] = []
    records = 0
    async with trio_feeds.open_feed(
        ["binance", "okx"], symbols, ["trade", "quote"], urls=env["urls"],
        rest_urls=env["rest_urls"],
    ) as feed:  # fmt: skip
        if books:
            await feed.subscribe(SYMBOLS[:books], ["book"])
        done = await trio.to_thread.run_sync(pipe.recv)
        subscribed = max(done.values()) - t0
        each = {n: t - t0 for n, t in done.items()}
        with trio.move_on_after(1.0):  # warm-up: books sync, first frames
            async for _item in feed:
                pass
        rss1 = _rss()
        cpu0, w0 = time.process_time(), time.time()
        with trio.move_on_after(seconds):
            async for item in feed:
                records += 1
                ts = getattr(item, "timestamp", None)
                if ts and item.kind in ("trade", "quote"):
                    lat.append(int(time.time() * 1000) - ts)
        cpu = time.process_time() - cpu0
        wall = time.time() - w0
        pipe.send(True)
        sim_cpu = await trio.to_thread.run_sync(pipe.recv)
    lat.sort()
    p99 = lat[int(0.99 * (len(lat) - 1))] if lat else float("nan")
    pairs = n + n_okx
    return {
        "n": n,
        "pairs": pairs,
        "subscribed": subscribed,
        "binance_s": each["binance"],
        "okx_s": each["okx"],
        "floor_binance": floor_seconds(n, n_okx, 2)[0],
        "floor_okx": floor_seconds(n, n_okx, 2)[1],
        "rate": records / wall,
        "cpu_rec_us": cpu / max(records, 1) * 1e6,
        "cpu_share": cpu / wall,
        "sim_share": sim_cpu / (wall + subscribed + 1.0),
        "rss_pair_kb": (rss1 - rss0) / pairs / 1024,
        "p50": lat[len(lat) // 2] if lat else float("nan"),
        "p99": p99,
    }


def main() -> None:
    args = sys.argv[1:]
    profile = None
    if args[:1] == ["--profile"]:
        profile = int(args[1])
        args = args[2:]
    seconds = float(args[0]) if args else 3.0
    parent, child = mp.Pipe()
    proc = mp.Process(target=serve, args=(child,), daemon=True)
    proc.start()
    env = parent.recv()
    try:
        if profile is not None:
            prof = cProfile.Profile()
            prof.enable()
            row = trio.run(run_config, parent, env, profile, seconds, 0)
            prof.disable()
            print(row)
            stats = pstats.Stats(prof).sort_stats("tottime")
            stats.print_stats(25)
            stats.print_callers("__hash__|setcomp|listcomp")
            return
        print(f"load average {os.getloadavg()}, {os.cpu_count()} CPUs")
        print(
            f"{'symbols':>8} {'pairs':>6} {'subscribed':>10} {'bn/okx':>11} {'floor':>11} "
            f"{'rec/s':>8} "
            f"{'cpu/rec':>8} {'feed cpu':>8} {'sim cpu':>8} {'rss/pair':>9} {'p50':>5} {'p99':>5}"
        )
        trio.run(run_config, parent, env, 10, 0.5, 0)  # warm-up: imports, first allocations
        rows = []
        for n, books in ((10, 0), (100, 0), (BINANCE_LISTED, 0), (100, BOOKS)):
            r = trio.run(run_config, parent, env, n, seconds, books)
            rows.append(r)
            print(
                f"{r['n']:>5}{'+bk' if books else '   '} {r['pairs']:>6} "
                f"{r['subscribed']:>9.2f}s {r['binance_s']:>5.2f}/{r['okx_s']:<5.2f} "
                f"{r['floor_binance']:>5.2f}/{r['floor_okx']:<5.2f} "
                f"{r['rate']:>8,.0f} {r['cpu_rec_us']:>6.1f}µs {r['cpu_share']:>7.0%} "
                f"{r['sim_share']:>7.0%} {r['rss_pair_kb']:>7.1f}kB {r['p50']:>3.0f}ms "
                f"{r['p99']:>3.0f}ms",
                flush=True,
            )
        per_book = (rows[3]["rss_pair_kb"] * rows[3]["pairs"] - rows[1]["rss_pair_kb"] * 200) / (
            2 * BOOKS
        )
        print(f"books: {BOOKS} symbols x 2 exchanges, about {per_book:.0f} kB per book")
        print(f"max RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
    finally:
        parent.send(None)
        proc.join(5)


if __name__ == "__main__":
    main()
