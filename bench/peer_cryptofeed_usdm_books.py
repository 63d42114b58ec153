"""cryptofeed 3.0.1's Binance USD-M (``BINANCE_FUTURES``) book over raw frames (no network).

    /tmp/peers/cf/bin/python bench/peer_cryptofeed_usdm_books.py FRAMES.jsonl SNAPSHOT.json
        [--mode noop|top20|both] [--repeat 3]

FRAMES.jsonl: one combined-stream ``depthUpdate`` frame per line (``{"stream":
"btcusdt@depth@0ms","data":{…}}``, as in the capture); SNAPSHOT.json: the ``/fapi/v1/depth``
answer.  Does not import trio_feeds.

The snapshot is installed untimed before each run through cryptofeed's own ``_snapshot``
(its HTTP read answered from the file).  Then, per frame, timed: ``await
BinanceFutures.message_handler(text, None, ts)``: ``json.loads(parse_float=Decimal)``,
dispatch on ``e``, ``BinanceBase._book``: ``BinanceFutures._check_update_id`` (drop
``u < L``, the first event straddles ``L``, then the ``pu`` chain), ``Decimal`` price and
size per level, set/delete in the ``order_book`` C book, the delta dict, then
``Feed.book_callback`` and the user's L2_BOOK callback (``noop``, or ``top20``: copy the 20
best levels per side as ``bids.index(i)``, as in ``peer_cryptofeed_books.py``).

Prints one ``RESULT {json}`` line per mode (best of ``--repeat``).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import sys
import time
from collections import defaultdict

from cryptofeed.defines import L2_BOOK
from cryptofeed.exchanges import BinanceFutures
from cryptofeed.symbols import Symbols

SYMBOL = "BTC-USDT-PERP"
NATIVE = "BTCUSDT"


def setup_symbols() -> None:
    # No REST exchangeInfo fetch: the mapping cryptofeed would build for the perpetual.
    info = defaultdict(
        dict, {"tick_size": {SYMBOL: "0.10"}, "instrument_type": {SYMBOL: "perpetual"}}
    )
    Symbols.set(BinanceFutures.id, {SYMBOL: NATIVE}, info)


class _Http:
    """Answers cryptofeed's snapshot request from the file."""

    def __init__(self, body: str) -> None:
        self.body = body

    async def read(self, *args, **kwargs) -> str:
        return self.body


async def run_once(frames: list[str], snapshot: str, mode: str) -> tuple[float, dict]:
    last: list = [None]
    if mode == "noop":

        async def cb(book, receipt_timestamp):
            pass

    else:

        async def cb(book, receipt_timestamp):
            bids = book.book.bids
            asks = book.book.asks
            last[0] = (
                tuple([bids.index(i) for i in range(min(20, len(bids)))]),
                tuple([asks.index(i) for i in range(min(20, len(asks)))]),
            )

    feed = BinanceFutures(symbols=[SYMBOL], channels=[L2_BOOK], callbacks={L2_BOOK: cb})
    feed.http_conn = _Http(snapshot)
    await feed._snapshot(NATIVE)  # untimed, as the trio_feeds side gets its snapshot
    handler = feed.message_handler
    ts = time.time()
    gc.collect()
    t0 = time.perf_counter()
    for msg in frames:
        await handler(msg, None, ts)
    dt = time.perf_counter() - t0
    ob = feed._l2_book[SYMBOL]
    bids = ob.book.bids.to_dict()
    asks = ob.book.asks.to_dict()
    final = {
        "seq": feed.last_update_id[SYMBOL],
        "depth": [len(ob.book.bids), len(ob.book.asks)],
        "bids": [[float(p), float(s)] for p, s in list(bids.items())[:20]],
        "asks": [[float(p), float(s)] for p, s in list(asks.items())[:20]],
    }
    return len(frames) / dt, final


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("frames")
    ap.add_argument("snapshot")
    ap.add_argument("--mode", choices=("noop", "top20", "both"), default="both")
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()
    setup_symbols()
    with open(a.frames, encoding="utf-8") as f:
        frames = [line.rstrip("\n") for line in f if line.strip()]  # websockets gives str
    with open(a.snapshot, encoding="utf-8") as f:
        snapshot = f.read()
    modes = ("noop", "top20") if a.mode == "both" else (a.mode,)
    for mode in modes:
        rates = []
        final: dict = {}
        for _ in range(a.repeat):
            rate, final = asyncio.run(run_once(frames, snapshot, mode))
            rates.append(rate)
        print(
            f"cryptofeed {mode}: {max(rates):,.0f} updates/s (best of {a.repeat})",
            file=sys.stderr,
        )
        result = {
            "side": "cryptofeed",
            "mode": mode,
            "updates": len(frames),
            "rates": rates,
            "best": max(rates),
            "final": final,
            "python": sys.version.split()[0],
        }
        print("RESULT " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
