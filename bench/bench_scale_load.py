"""Whole market at ≥ 20,000 messages/s: 10 → 100 → 2,000 + 700 symbols, bursts ×5.

    python bench/bench_scale_load.py [SECONDS] [RATE]   # steady window (4 s), total msg/s (20,000)

``bench_scale.py`` drives the data with the full simulators, which top out near 4,000
records/s; here the load comes from ``bench/load_server.py``: one process per exchange
(Binance, OKX) answering the subscribe protocol over loopback WebSocket and then writing
pre-rendered frames of every subscribed stream round-robin, at ``RATE`` messages/s in total
(Binance 2,000/2,700 of it, OKX 700/2,700) with ×5 for 50 ms of every second.  Event times are
the wall-clock millisecond a frame is written, so ``p99`` is the feed's latency (plus the
load processes' scheduling on a shared machine), not a simulator's backlog.

Per configuration (channels trade + quote, no books: see ``bench_scale.py`` for books):
``subscribed`` (both ``open_feed`` calls → the servers hold every stream; one feed per
exchange, explicit symbol lists: a feed of several exchanges delivers only its active source,
the others being failover standbys),
``sent``/``rec/s`` (messages the servers wrote / records the consumer took per second),
``cpu/rec`` and ``feed cpu`` (this process), ``load cpu`` (each server process,
Binance / OKX, in shares of a core),
``rss/pair`` (RSS growth per subscribed (exchange, symbol)), ``p50``/``p99`` latency
(trade records of both exchanges and OKX quotes: Binance spot bookTicker has no time).
"""

from __future__ import annotations

import multiprocessing as mp
import os
import resource
import socket
import sys
import time
from typing import Any

import trio

import trio_feeds

sys.path.insert(0, os.path.dirname(__file__))
from load_server import serve

BINANCE_LISTED = 2000
OKX_LISTED = 700
SYMBOLS = [f"C{i:04d}-USDT" for i in range(BINANCE_LISTED)]
BURST, BURST_MS = 5.0, 50.0


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


async def run_config(servers: dict[str, Any], n: int, seconds: float) -> dict[str, float]:
    n_okx = min(n, OKX_LISTED)
    want = {"binance": 2 * n, "okx": 2 * n_okx}
    urls = {name: f"ws://127.0.0.1:{s['port']}" for name, s in servers.items()}
    dead = _port()  # no REST: explicit symbol lists
    rest = {name: f"http://127.0.0.1:{dead}" for name in servers}
    rss0 = _rss()
    lat: list[int] = []
    count = [0]
    window = trio.Event()
    t0 = time.time()

    async def one(name: str, symbols: list[str], task_status: Any) -> None:
        # one feed per exchange: a feed of several exchanges delivers the active source's
        # records (the others are its failover standbys), a whole-market user of both
        # venues opens one per venue
        async with trio_feeds.open_feed(
            [name], symbols, ["trade", "quote"], urls=urls, rest_urls=rest
        ) as feed:
            task_status.started()
            with trio.move_on_after(60):  # warm-up until the window opens
                async for _item in feed:
                    if window.is_set():
                        break
            stamped = name == "okx"  # Binance spot bookTicker has no event time
            async for item in feed:
                count[0] += 1
                if item.kind == "trade" or (stamped and item.kind == "quote"):
                    lat.append(int(time.time() * 1000) - item.timestamp)

    async with trio.open_nursery() as nursery:
        await nursery.start(one, "binance", SYMBOLS[:n])
        await nursery.start(one, "okx", SYMBOLS[:n_okx])
        done: dict[str, float] = {}
        while len(done) < 2:
            for name, k in want.items():
                if name not in done and servers[name]["shared"][0] >= k:
                    done[name] = time.time() - t0
            await trio.sleep(0.005)
        await trio.sleep(1.0)  # warm-up: first frames, caches
        rss1 = _rss()
        sh = {name: list(s["shared"]) for name, s in servers.items()}
        cpu0, w0 = time.process_time(), time.time()
        window.set()
        await trio.sleep(seconds)
        records = count[0]
        cpu = time.process_time() - cpu0
        wall = time.time() - w0
        sh1 = {name: list(s["shared"]) for name, s in servers.items()}
        nursery.cancel_scope.cancel()
    lat.sort()
    sent = sum(sh1[x][1] - sh[x][1] for x in sh)
    return {
        "n": n,
        "pairs": n + n_okx,
        "subscribed": max(done.values()),
        "binance_s": done["binance"],
        "okx_s": done["okx"],
        "sent": sent / wall,
        "dropped": sum(sh1[x][3] - sh[x][3] for x in sh),
        "rate": records / wall,
        "cpu_rec_us": cpu / max(records, 1) * 1e6,
        "cpu_share": cpu / wall,
        "load_bn": (sh1["binance"][2] - sh["binance"][2]) / wall,
        "load_okx": (sh1["okx"][2] - sh["okx"][2]) / wall,
        "rss_pair_kb": (rss1 - rss0) / (n + n_okx) / 1024,
        "p50": lat[len(lat) // 2] if lat else float("nan"),
        "p99": lat[int(0.99 * (len(lat) - 1))] if lat else float("nan"),
        "max": lat[-1] if lat else float("nan"),
    }


def main() -> None:
    args = sys.argv[1:]
    seconds = float(args[0]) if args else 4.0
    total = float(args[1]) if len(args) > 1 else 20_000.0
    share = {"binance": BINANCE_LISTED, "okx": OKX_LISTED}
    servers: dict[str, Any] = {}
    procs = []
    for name, listed in share.items():
        port = _port()
        shared = mp.Array("d", 4, lock=False)
        rate = total * listed / sum(share.values())
        p = mp.Process(target=serve, args=(name, port, rate, BURST, BURST_MS, shared), daemon=True)
        p.start()
        procs.append(p)
        servers[name] = {"port": port, "shared": shared}
    time.sleep(0.5)
    try:
        print(f"load average {os.getloadavg()}, {os.cpu_count()} CPUs; target {total:,.0f} msg/s")
        print(
            f"{'symbols':>7} {'pairs':>6} {'subscribed':>10} {'bn/okx':>11} {'sent/s':>8} "
            f"{'rec/s':>8} {'cpu/rec':>8} {'feed cpu':>8} {'load cpu':>9} {'rss/pair':>9} "
            f"{'p50':>6} {'p99':>6} {'max':>6}"
        )
        trio.run(run_config, servers, 10, 0.5)  # warm-up: imports, first allocations
        for n in (10, 100, BINANCE_LISTED):
            r = trio.run(run_config, servers, n, seconds)
            print(
                f"{r['n']:>7} {r['pairs']:>6} {r['subscribed']:>9.2f}s "
                f"{r['binance_s']:>5.2f}/{r['okx_s']:<5.2f} {r['sent']:>8,.0f} "
                f"{r['rate']:>8,.0f} {r['cpu_rec_us']:>6.1f}µs {r['cpu_share']:>7.0%} "
                f"{r['load_bn']:>4.0%}/{r['load_okx']:<4.0%} {r['rss_pair_kb']:>7.1f}kB "
                f"{r['p50']:>4.0f}ms "
                f"{r['p99']:>4.0f}ms {r['max']:>4.0f}ms"
                + (f"  (dropped {r['dropped']:,.0f}: feed not reading)" if r["dropped"] else ""),
                flush=True,
            )
        print(f"max RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
    finally:
        for p in procs:
            p.terminate()
            p.join(5)


if __name__ == "__main__":
    main()
