"""cryptofeed 3.0.1's OKX ``books`` handler over a file of raw frames (no network).

    /tmp/peers/cf/bin/python bench/peer_cryptofeed_books.py FRAMES.jsonl [--mode noop|top20|both]

FRAMES.jsonl: one OKX ``books`` push per line, a snapshot first (see
``gen_okx_book_frames.py``).  Does not import trio_feeds.

Per frame, timed: ``await OKX.message_handler(text, None, ts)``, i.e. what
cryptofeed's connection handler calls for every websocket text message:
``cryptofeed._json.loads(msg, parse_float=Decimal)`` (msgspec), dispatch on
``arg.channel``, ``OKX._book``: ``prevSeqId``/``seqId`` chain check
(``_sequence_ok``), ``Decimal(price)``/``Decimal(size)`` per level, set/delete
in the ``order_book`` C-extension book, the ``delta`` dict, then
``Feed.book_callback`` (sets timestamp/raw/sequence/delta, crossed-book check)
and the user's L2_BOOK callback.  cryptofeed's OKX handler has no checksum code
at all (and the frames carry ``checksum: 0``).

Modes (the L2_BOOK callback):

``noop``   ``async def cb(book, ts): pass``; ``max_depth=0`` (cryptofeed's
           default; the payload is the live book object plus the delta dict).
``top20``  as ``noop`` but the callback copies the 20 best levels per side
           into tuples of ``(price, size)`` (``bids.index(i)`` for i < 20, the
           fastest of ``to_list()[:20]``, ``keys()[:20]`` + lookups and this), the
           equivalent of trio_feeds emitting a top-20 ``Book`` record.
           (``OKX(max_depth=20)`` is not used: ``order_book`` then keeps only
           20 levels per side, a lossy book that does less work.)

The snapshot frame is applied untimed before each run; each run starts with a
fresh feed.  Prints one ``RESULT {json}`` line per mode (best of ``--repeat``).
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
from cryptofeed.exchanges import OKX
from cryptofeed.symbols import Symbols

SYMBOL = "BTC-USDT"


def setup_symbols() -> None:
    # No REST instrument fetch: the mapping cryptofeed would have built for BTC-USDT spot.
    Symbols.set(
        OKX.id,
        {SYMBOL: SYMBOL},
        defaultdict(dict, {"tick_size": {SYMBOL: "0.1"}, "instrument_type": {SYMBOL: "spot"}}),
    )


def load(path: str) -> list[str]:
    with open(path, encoding="utf-8") as f:
        # websockets hands cryptofeed text frames as str
        return [line.rstrip("\n") for line in f if line.strip()]


async def run_once(frames: list[str], mode: str) -> tuple[float, dict]:
    last: list = [None]
    if mode == "noop":

        async def cb(book, receipt_timestamp):
            pass

        feed = OKX(symbols=[SYMBOL], channels=[L2_BOOK], callbacks={L2_BOOK: cb})
    else:

        async def cb(book, receipt_timestamp):
            # the fastest way found to copy the 20 best levels out of order_book
            bids = book.book.bids
            asks = book.book.asks
            top = (
                tuple([bids.index(i) for i in range(min(20, len(bids)))]),
                tuple([asks.index(i) for i in range(min(20, len(asks)))]),
            )
            last[0] = top

        feed = OKX(symbols=[SYMBOL], channels=[L2_BOOK], callbacks={L2_BOOK: cb})
    handler = feed.message_handler
    ts = time.time()
    await handler(frames[0], None, ts)  # snapshot, untimed
    updates = frames[1:]
    gc.collect()
    t0 = time.perf_counter()
    for msg in updates:
        await handler(msg, None, ts)
    dt = time.perf_counter() - t0
    ob = feed._l2_book[SYMBOL]
    bids = ob.book.bids.to_dict()
    asks = ob.book.asks.to_dict()
    final = {
        "seq": feed.seq_no[SYMBOL],
        "depth": [len(ob.book.bids), len(ob.book.asks)],
        "bids": [[float(p), float(s)] for p, s in list(bids.items())[:20]],
        "asks": [[float(p), float(s)] for p, s in list(asks.items())[:20]],
    }
    return len(updates) / dt, final


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("frames")
    ap.add_argument("--mode", choices=("noop", "top20", "both"), default="both")
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()
    setup_symbols()
    frames = load(a.frames)
    modes = ("noop", "top20") if a.mode == "both" else (a.mode,)
    for mode in modes:
        rates = []
        final: dict = {}
        for _ in range(a.repeat):
            rate, final = asyncio.run(run_once(frames, mode))
            rates.append(rate)
        print(
            f"cryptofeed {mode}: {max(rates):,.0f} updates/s (best of {a.repeat}: "
            + ", ".join(f"{r:,.0f}" for r in rates)
            + ")",
            file=sys.stderr,
        )
        print(
            "RESULT "
            + json.dumps(
                {
                    "side": "cryptofeed",
                    "mode": mode,
                    "updates": len(frames) - 1,
                    "rates": rates,
                    "best": max(rates),
                    "final": final,
                    "python": sys.version.split()[0],
                }
            ),
            flush=True,
        )


if __name__ == "__main__":
    main()
