"""Parse throughput of the Binance Spot adapter, per channel (no I/O).

Run: ``python bench/bench_parse_binance.py [--frames N] [--batch B] [--str] [--worst-case]``

Frames are generated here in the exact combined-stream shapes of Binance Spot
(``{"stream": ..., "data": ...}``).  Prices follow a random walk with the
repetition seen in real BTCUSDT traffic (2024-08-08 capture: the best bid/ask
price is unchanged from the previous bookTicker frame ~95% of the time, its
size ~50%; a trade repeats the previous trade's price ~59%), which the adapter
exploits.  ``--worst-case`` makes every price and size new in every frame.
Each channel is parsed ``--frames`` times (best of 3) into an output list that
is cleared every ``--batch`` frames, as the engine does once per socket read.
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import orjson

try:
    from trio_feeds.exchanges.binance.adapter import BinanceAdapter
except ImportError:  # run from a checkout without installing
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from trio_feeds.exchanges.binance.adapter import BinanceAdapter

from trio_feeds.core.records import Quote, Trade

T0 = 1_723_161_253_937  # 2024-08-08 23:54:13.937 UTC, ms


def _px(rng: random.Random, mid: float) -> str:
    return f"{mid + rng.randint(-5000, 5000) / 100:.8f}"


def _qty(rng: random.Random) -> str:
    return f"{rng.randint(1, 2_000_000) / 100_000:.8f}"


def make_frames(channel: str, n: int, seed: int = 1, worst_case: bool = False) -> list[bytes]:
    """``n`` combined-stream frames of one channel, BTCUSDT."""
    rng = random.Random(seed)
    frames: list[bytes] = []
    add = frames.append
    # random-walk state (cents)
    mid = 6_100_000
    bid_qty, ask_qty = _qty(rng), _qty(rng)
    p_move, p_size, p_trade_move = (1.0, 1.0, 1.0) if worst_case else (0.05, 0.5, 0.41)
    for i in range(n):
        t = T0 + i * 7
        if channel == "trade":
            if rng.random() < p_trade_move:
                mid += rng.choice((-3, -2, -1, 1, 2, 3)) if not worst_case else rng.randint(1, 99)
            data: dict[str, Any] = {
                "e": "trade", "E": t + 1, "s": "BTCUSDT", "t": 3_741_593_000 + i,
                "p": f"{mid / 100:.8f}", "q": _qty(rng), "T": t, "m": rng.random() < 0.5,
                "M": True,
            }  # fmt: skip
            stream = "btcusdt@trade"
        elif channel == "aggTrade":
            a = 3_100_000_000 + i
            data = {
                "e": "aggTrade", "E": t + 1, "s": "BTCUSDT", "a": a, "p": _px(rng, 61_000.0),
                "q": _qty(rng), "f": a * 2, "l": a * 2 + rng.randint(0, 3), "T": t,
                "m": rng.random() < 0.5, "M": True,
            }  # fmt: skip
            stream = "btcusdt@aggTrade"
        elif channel == "bookTicker":
            if rng.random() < p_move:
                mid += rng.choice((-2, -1, 1, 2)) if not worst_case else rng.randint(1, 99)
            if rng.random() < p_size:
                bid_qty = _qty(rng)
            if rng.random() < p_size:
                ask_qty = _qty(rng)
            data = {
                "u": 50_093_239_000 + i * 3, "s": "BTCUSDT", "b": f"{mid / 100:.8f}",
                "B": bid_qty, "a": f"{(mid + 1) / 100:.8f}", "A": ask_qty,
            }  # fmt: skip
            stream = "btcusdt@bookTicker"
        elif channel == "ticker":
            data = {
                "e": "24hrTicker", "E": t, "s": "BTCUSDT", "p": "156.02000000", "P": "0.182",
                "w": "60748.34072691", "x": "60948.00000000", "c": _px(rng, 61_000.0),
                "Q": _qty(rng), "b": _px(rng, 61_000.0), "B": _qty(rng), "a": _px(rng, 61_000.0),
                "A": _qty(rng), "o": "60948.00000000", "h": "61725.12000000",
                "l": "59972.01000000", "v": "13625.56497000", "q": "828369587.64419700",
                "O": t - 86_400_000, "C": t, "F": 3_736_717_189, "L": 3_741_593_000 + i,
                "n": 2_729_323 + i,
            }  # fmt: skip
            stream = "btcusdt@ticker"
        elif channel in ("depth@100ms", "depth20@100ms"):
            levels = 3 if channel == "depth@100ms" else 20
            bids = [[_px(rng, 60_990.0), _qty(rng)] for _ in range(levels)]
            asks = [[_px(rng, 61_010.0), _qty(rng)] for _ in range(levels)]
            if channel == "depth@100ms":
                u = 50_093_239_218 + i * 10
                data = {
                    "e": "depthUpdate", "E": t, "s": "BTCUSDT", "U": u - 9, "u": u,
                    "b": bids, "a": asks,
                }  # fmt: skip
            else:
                data = {"lastUpdateId": 50_093_239_218 + i * 10, "bids": bids, "asks": asks}
            stream = f"btcusdt@{channel}"
        elif channel == "kline_1m":
            start = t - t % 60_000
            data = {
                "e": "kline", "E": t, "s": "BTCUSDT",
                "k": {
                    "t": start, "T": start + 59_999, "s": "BTCUSDT", "i": "1m",
                    "f": 3_741_590_000, "L": 3_741_593_000 + i, "o": "61000.01000000",
                    "c": _px(rng, 61_000.0), "h": "61100.00000000", "l": "60900.00000000",
                    "v": "34.97348000", "n": 1818 + i % 100, "x": i % 100 == 99,
                    "q": "2128264.16711630", "V": "12.19449000", "Q": "743961.52039660", "B": "0",
                },
            }  # fmt: skip
            stream = "btcusdt@kline_1m"
        else:
            raise ValueError(channel)
        add(orjson.dumps({"stream": stream, "data": data}))
    return frames


def time_parse(
    parse: Callable[[Any, float, list[Any]], None], frames: list[Any], batch: int
) -> float:
    out: list[Any] = []
    clear = out.clear
    received_at = time.time()
    t0 = time.perf_counter()
    for i, frame in enumerate(frames):
        parse(frame, received_at, out)
        if i % batch == 0:
            clear()
    return time.perf_counter() - t0


def floor_trade(frames: list[Any], batch: int) -> float:
    """orjson.loads + attrs ``Trade(...)``, no dispatch, no checks: the naive floor."""
    loads, trade, f = orjson.loads, Trade, float
    out: list[Any] = []
    t0 = time.perf_counter()
    for i, frame in enumerate(frames):
        d = loads(frame)["data"]
        out.append(
            trade("binance", "BTC-USDT", d["T"], 1.0, f(d["p"]), f(d["q"]),
                  "sell" if d["m"] else "buy", str(d["t"]))
        )  # fmt: skip
        if i % batch == 0:
            out.clear()
    return time.perf_counter() - t0


def floor_quote(frames: list[Any], batch: int) -> float:
    """orjson.loads + attrs ``Quote(...)``, no dispatch, no checks: the naive floor."""
    loads, quote, f = orjson.loads, Quote, float
    out: list[Any] = []
    t0 = time.perf_counter()
    for i, frame in enumerate(frames):
        d = loads(frame)["data"]
        out.append(
            quote("binance", "BTC-USDT", 1, 1.0, f(d["b"]), f(d["B"]), f(d["a"]), f(d["A"]),
                  d["u"], False)
        )  # fmt: skip
        if i % batch == 0:
            out.clear()
    return time.perf_counter() - t0


CHANNELS = ("trade", "aggTrade", "bookTicker", "ticker", "depth@100ms", "depth20@100ms", "kline_1m")
HOT = ("trade", "aggTrade", "bookTicker")
#: distinct frames generated for the other channels (then cycled, to bound memory)
DISTINCT = 20_000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=200_000)
    ap.add_argument("--batch", type=int, default=100, help="records per output batch")
    ap.add_argument("--str", action="store_true", help="feed str frames instead of bytes")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--worst-case", action="store_true", help="every price and size new")
    args = ap.parse_args()
    n = args.frames

    frames: dict[str, list[Any]] = {}
    for channel in CHANNELS:
        distinct = n if channel in HOT else min(n, DISTINCT)
        made: list[Any] = make_frames(channel, distinct, worst_case=args.worst_case)
        if args.str:
            made = [f.decode() for f in made]
        frames[channel] = (made * (n // distinct + 1))[:n]
        check = BinanceAdapter().parse_one(made[0])
        assert len(check) == 1 and type(check[0]).__name__ != "ParseError", check

    # Repeats are interleaved across channels so that load from other processes
    # spreads over all rows instead of spoiling one.
    best: dict[str, float] = {}
    runs: list[tuple[str, Callable[[], float]]] = []
    for channel in CHANNELS:
        parse = BinanceAdapter().parse
        runs.append((channel, partial(time_parse, parse, frames[channel], args.batch)))
        if channel == "trade":
            runs.append(
                ("  loads+Trade() floor", partial(floor_trade, frames[channel], args.batch))
            )
        if channel == "bookTicker":
            runs.append(
                ("  loads+Quote() floor", partial(floor_quote, frames[channel], args.batch))
            )
    for _ in range(args.repeat):
        for name, run in runs:
            gc.collect()
            elapsed = run()
            best[name] = min(best.get(name, elapsed), elapsed)

    print(f"Python {sys.version.split()[0]}, orjson {orjson.__version__}, ", end="")
    print(f"{n:,} frames per channel, best of {args.repeat}, ", end="")
    print(f"{'str' if args.str else 'bytes'} frames, batch {args.batch}", end="")
    print(", worst case (no repeated prices)" if args.worst_case else "")
    print(f"load average {os.getloadavg()[0]:.2f} (other processes skew the numbers)\n")
    print(f"{'channel':<22}{'records/s':>12}{'µs/frame':>10}")
    for name, _ in runs:
        t = best[name]
        print(f"{name:<22}{n / t:>12,.0f}{t / n * 1e6:>10.2f}")


if __name__ == "__main__":
    main()
