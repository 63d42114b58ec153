"""Make docs/status-page.png: the monitor's status page in headless Chromium, against a
feed of two simulated exchanges (with one failover and failback on the way).

    python docs/_tools/status_page_screenshot.py [OUT.png]
"""

from __future__ import annotations

import sys
import tempfile

import httpx
import trio

import trio_feeds
from trio_feeds.monitoring import serve_monitoring
from trio_feeds.testing import open_simulated_exchanges


async def main(out: str) -> None:
    symbols = ["BTC-USDT", "ETH-USDT"]
    async with (
        open_simulated_exchanges(symbols, memory=True, rate=40) as sims,
        trio_feeds.open_feed(
            ["binance", "okx"], symbols, ["trade", "quote"],
            **sims.feed_kwargs(),  # REST too: the missed trades are backfilled from it
            stale_after=1.0, reconnect_delay=0.3, failback_after=2.0, heartbeat_interval=0.5,
        ) as feed,
        trio.open_nursery() as nursery,
    ):  # fmt: skip

        async def consume() -> None:
            async for _ in feed:
                pass

        nursery.start_soon(consume)
        url = await nursery.start(serve_monitoring, feed)
        await trio.sleep(2)
        sims.binance.refuse_connections(1)  # away long enough to miss some trades
        sims.binance.drop()  # a switch to okx, a gap (backfilled), and later a failback
        await trio.sleep(2.5)
        async with httpx.AsyncClient() as http:  # a first report: msg/s is measured from it
            await http.get(url + "/api/websocket/status")
        await trio.sleep(1.5)
        with tempfile.TemporaryDirectory() as profile:
            argv = [
                "chromium", "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                f"--user-data-dir={profile}", "--window-size=1480,900",
                "--virtual-time-budget=1500", f"--screenshot={out}", url + "/",
            ]  # fmt: skip
            await trio.run_process(argv, capture_stderr=True)
        nursery.cancel_scope.cancel()
    print(out)


if __name__ == "__main__":
    trio.run(main, sys.argv[1] if len(sys.argv) > 1 else "docs/status-page.png")
