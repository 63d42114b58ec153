"""How long leaving ``open_sink`` under an outer cancel takes, and what arrives:
``python bench/bench_sink_close.py``.

For each backlog size, items are handed to the sink and the enclosing scope is cancelled at
once; the shielded flush (bounded by ``close_timeout``) writes the backlog before the block
exits.  Prints the time from the cancel to the block's exit and what reached the destination.
Starts its own ``redis-server`` on a loopback ephemeral port (no persistence).
"""

from __future__ import annotations

import importlib.util
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if importlib.util.find_spec("trio_feeds") is None:  # run from a checkout without install
    sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

import trio  # noqa: E402
from redis_server import RedisServer, redis_server_path  # noqa: E402

from trio_feeds import Item, Trade  # noqa: E402
from trio_feeds.sinks import open_redis, open_sink  # noqa: E402


def make_trades(n: int) -> list[Item]:
    return [
        Trade("binance", "BTC-USDT", 1_700_000_000_000 + i, 1.7e9, 50_000.0, 0.01, "buy", str(i))
        for i in range(n)
    ]


async def one(url: str, n: int) -> tuple[float, int, int]:
    items = make_trades(n)
    with trio.CancelScope() as scope:
        async with open_sink(url, close_timeout=30) as sink:
            await sink.send_many(items)
            scope.cancel()
            t0 = time.perf_counter()
    elapsed = time.perf_counter() - t0
    return elapsed, sink.stats.sent, sink.stats.dropped


async def main() -> None:
    sizes = (1_000, 10_000, 100_000)
    with tempfile.TemporaryDirectory() as tmp:
        for n in sizes:
            path = Path(tmp) / f"out{n}.jsonl"
            elapsed, sent, dropped = await one(str(path), n)
            lines = len(path.read_bytes().splitlines())
            print(f"jsonl  backlog {n:>7}: exit after {elapsed * 1000:8.1f} ms, "
                  f"sent {sent}, dropped {dropped}, lines in file {lines}")  # fmt: skip
        if redis_server_path() is None:
            print("redis-server not installed: Redis skipped")
            return
        server = RedisServer(Path(tmp) / "redis", persist=False)
        server.start()
        try:
            for n in sizes:
                async with open_redis(server.url) as redis:
                    await redis.flushdb()
                elapsed, sent, dropped = await one(server.url, n)
                async with open_redis(server.url) as redis:
                    stored = await redis.xlen("trio_feeds:binance:trade:BTC-USDT")
                print(f"redis  backlog {n:>7}: exit after {elapsed * 1000:8.1f} ms, "
                      f"sent {sent}, dropped {dropped}, entries in Redis {stored}")  # fmt: skip
        finally:
            server.stop()


if __name__ == "__main__":
    trio.run(main)
