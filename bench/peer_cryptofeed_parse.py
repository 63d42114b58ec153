"""cryptofeed 3.0.1's BYBIT / COINBASE message handlers over a file of raw frames (no network).

    /tmp/peers/cf/bin/python bench/peer_cryptofeed_parse.py EXCHANGE CHANNEL FRAMES.jsonl

Does not import trio_feeds.  EXCHANGE is ``bybit`` or ``coinbase``; CHANNEL one of
``trades``, ``ticker``, ``book``, ``candles`` (cryptofeed's L2_BOOK, TRADES, TICKER,
CANDLES).  Per frame, timed: ``await feed.message_handler(text, conn, ts)``, what
cryptofeed's connection handler calls for every text message (msgspec decoding with
``Decimal`` floats, dispatch, ``Decimal`` per number, the record or the ``order_book``
C-extension book, and a no-op user callback; candles with ``candle_closed_only=False``,
so that every push makes a record as in trio_feeds).  A book's first frame (a snapshot) is
applied untimed.  Bybit frames are handled as linear (``BTC-USDT-PERP``): cryptofeed maps
spot names through an extra lookup.  Prints one ``RESULT {json}`` line (best of
``--repeat``).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import sys
import time
from collections import defaultdict

from cryptofeed.defines import CANDLES, L2_BOOK, TICKER, TRADES
from cryptofeed.exchanges import Bybit, Coinbase
from cryptofeed.symbols import Symbols

CHANNELS = {"trades": TRADES, "ticker": TICKER, "book": L2_BOOK, "candles": CANDLES}


class Conn:
    """What the handlers read from a connection."""

    def __init__(self, address: str, subscription: dict[str, list[str]]) -> None:
        self.address = address
        self.uuid = "bench"
        self.subscription = subscription


def setup(exchange: str) -> tuple[type, str, str]:
    if exchange == "bybit":
        Symbols.set(
            Bybit.id,
            {"BTC-USDT-PERP": "BTCUSDT"},
            defaultdict(
                dict,
                {
                    "tick_size": {"BTC-USDT-PERP": "0.1"},
                    "instrument_type": {"BTC-USDT-PERP": "perpetual"},
                },
            ),
        )
        return Bybit, "BTC-USDT-PERP", "BTCUSDT"
    Symbols.set(
        Coinbase.id,
        {"BTC-USD": "BTC-USD"},
        defaultdict(
            dict, {"tick_size": {"BTC-USD": "0.01"}, "instrument_type": {"BTC-USD": "spot"}}
        ),
    )
    return Coinbase, "BTC-USD", "BTC-USD"


async def run_once(exchange: str, channel: str, frames: list[str]) -> tuple[float, int]:
    cls, symbol, native = setup(exchange)
    count = [0]

    async def cb(*args: object) -> None:
        count[0] += 1

    chan = CHANNELS[channel]
    extra = {"candle_closed_only": False} if channel == "candles" else {}  # every push
    feed = cls(symbols=[symbol], channels=[chan], callbacks={chan: cb}, **extra)
    wire = feed.std_channel_to_exchange(chan)
    conn = Conn("wss://stream.bybit.com/v5/public/linear", {wire: [native]})
    handler = feed.message_handler
    ts = time.time()
    if channel == "book":
        await handler(frames[0], conn, ts)  # the snapshot, untimed
        frames = frames[1:]
    count[0] = 0
    gc.collect()
    t0 = time.perf_counter()
    for msg in frames:
        await handler(msg, conn, ts)
    return time.perf_counter() - t0, count[0]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("exchange", choices=("bybit", "coinbase"))
    ap.add_argument("channel", choices=tuple(CHANNELS))
    ap.add_argument("frames")
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()
    with open(a.frames, encoding="utf-8") as f:
        frames = [line.rstrip("\n") for line in f if line.strip()]
    best, records = float("inf"), 0
    for _ in range(a.repeat):
        dt, records = asyncio.run(run_once(a.exchange, a.channel, frames))
        best = min(best, dt)
    timed = len(frames) - (1 if a.channel == "book" else 0)
    print(
        "RESULT "
        + json.dumps(
            {"frames": timed, "records": records, "seconds": best, "python": sys.version.split()[0]}
        )
    )


if __name__ == "__main__":
    main()
