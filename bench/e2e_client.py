"""trio_feeds end to end: loopback WebSocket server -> open_feed -> consumer.

    python bench/e2e_client.py [--transport default|trio-websocket] PORT N

For ``../shared/peers/compare.sh`` (it appends PORT and N).  Subscribes to
BTC-USDT bookTicker the way trio_feeds does on the real Binance (``/stream``
plus a SUBSCRIBE message), counts Quote records from the first to the N-th and
prints msg/s.  ``--transport`` picks ``open_feed(transport=...)``.
"""

from __future__ import annotations

import argparse
import time

import trio

import trio_feeds


async def main(port: int, n: int, transport: str) -> None:
    count = 0
    t0 = 0.0
    async with trio_feeds.open_feed(
        ["binance"],
        ["BTC-USDT"],
        ["quote"],
        urls={"binance": f"ws://127.0.0.1:{port}"},
        transport=transport,
    ) as feed:
        async for record in feed:
            if record.kind != "quote":
                continue
            if count == 0:
                t0 = time.perf_counter()
            count += 1
            if count >= n:
                break
    elapsed = time.perf_counter() - t0
    print(
        f"trio_feeds ({transport}) {n} bookTicker in {elapsed:.3f}s = {n / elapsed:,.0f} msg/s",
        flush=True,
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--transport", default="default", choices=["default", "trio-websocket"])
    parser.add_argument("port", type=int)
    parser.add_argument("n", type=int)
    args = parser.parse_args()
    trio.run(main, args.port, args.n, args.transport)
