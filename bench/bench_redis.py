"""Redis Streams sink benchmark: ``python bench/bench_redis.py [--records N]``.

Starts its own ``redis-server`` on a loopback ephemeral port (no persistence) and prints:

* throughput: trades pushed with ``send_nowait`` until Redis has acknowledged them all
  (encoding included), for ``method="script"`` (default) and ``method="pipeline"``;
* latency: a feed on the simulated exchanges (memory mode) → ``run_sink`` → Redis →
  ``read_stream`` (XREAD, blocking) in the same process; latency is the reader's clock
  minus the record's ``received_at`` (the simulator's clock), p50 / p99 / max.
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if importlib.util.find_spec("trio_feeds") is None:  # run from a checkout without install
    sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

import trio  # noqa: E402
import trio.lowlevel  # noqa: E402
from redis_server import RedisServer, redis_server_path  # noqa: E402

import trio_feeds  # noqa: E402
from trio_feeds import Item, Trade, dumps  # noqa: E402
from trio_feeds.sinks import (  # noqa: E402
    RedisStreamSink,
    open_redis,
    open_sink,
    read_stream,
    run_sink,
    stream_keys,
)
from trio_feeds.testing import open_simulated_exchanges  # noqa: E402

SYMBOLS = ["BTC-USDT", "ETH-USDT", "SOL-USDT", "XRP-USDT"]


def make_trades(n: int) -> list[Item]:
    return [
        Trade(
            "binance",
            SYMBOLS[i % len(SYMBOLS)],
            1_700_000_000_000 + i,
            1_700_000_000.0 + i / 1000,
            50_000.0 + (i % 997) * 0.01,
            0.001 * (1 + i % 13),
            "buy" if i % 2 else "sell",
            str(10_000_000 + i),
        )
        for i in range(n)
    ]


async def throughput(url: str, n: int, method: str) -> float:
    items = make_trades(n)
    async with open_redis(url) as redis:
        await redis.flushdb()
    async with open_sink(url, method=method, buffer_size=n + 1, maxlen=None) as sink:
        assert isinstance(sink, RedisStreamSink)
        await sink.send_many(make_trades(100))  # connect and warm up
        await sink.flush()
        t0 = time.perf_counter()
        for i in range(0, n, 5000):
            sink.send_nowait(items[i : i + 5000])
            await trio.lowlevel.checkpoint()  # let the writer run, as a feed consumer would
        await sink.flush()
        dt = time.perf_counter() - t0
        assert sink.stats.sent == n + 100 and sink.stats.dropped == 0
    return n / dt


async def latency(url: str, seconds: float, rate: float) -> list[float]:
    lat: list[float] = []
    keys = stream_keys("binance", ["trade", "quote"], SYMBOLS)
    async with open_simulated_exchanges(SYMBOLS, seed=5, memory=True, rate=rate) as sims:
        async with (
            trio_feeds.open_feed(
                ["binance"],
                SYMBOLS,
                ["trade", "quote"],
                urls={"binance": sims.urls["binance"]},
                rest_urls={"binance": sims.rest_urls["binance"]},
                connector=sims.connector,
                http_transport=sims.http_transport,
                clock=sims.clock,
            ) as feed,
            open_sink(url) as sink,
            open_redis(url) as redis,
            trio.open_nursery() as nursery,
        ):

            async def reader() -> None:
                async for x in read_stream(redis, keys, start="$", block=1.0):
                    received = getattr(x, "received_at", None)
                    if received is not None:
                        lat.append(sims.clock() - received)

            nursery.start_soon(reader)
            await trio.sleep(0.2)
            nursery.start_soon(run_sink, feed, sink)
            await trio.sleep(seconds)
            nursery.cancel_scope.cancel()
    return lat


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p / 100 * len(xs)))]


async def main(args: argparse.Namespace) -> None:
    t = make_trades(1)[0]
    t0 = time.perf_counter()
    for _ in range(50_000):
        dumps(t)
    print(f"encode (cattrs + orjson):      {50_000 / (time.perf_counter() - t0):>10,.0f} records/s")
    with tempfile.TemporaryDirectory() as tmp:
        server = RedisServer(Path(tmp), persist=False)
        server.start()
        try:
            for method in ("script", "pipeline"):
                rate = await throughput(server.url, args.records, method)
                print(
                    f"into Redis, method={method:<9} {rate:>10,.0f} records/s  ({args.records:,})"
                )
            lat = await latency(server.url, args.seconds, args.rate)
            ms = [x * 1000 for x in lat]
            print(
                f"feed -> Redis -> reader latency over {len(ms):,} records: "
                f"p50 {pct(ms, 50):.2f} ms, p99 {pct(ms, 99):.2f} ms, max {max(ms):.2f} ms, "
                f"mean {statistics.fmean(ms):.2f} ms"
            )
        finally:
            server.stop()


if __name__ == "__main__":
    if redis_server_path() is None:
        sys.exit("redis-server is not installed (apt-get install -y redis-server)")
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rate", type=float, default=200.0, help="simulated market ticks/s")
    trio.run(main, parser.parse_args())
