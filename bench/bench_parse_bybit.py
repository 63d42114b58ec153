"""Throughput of the Bybit v5 sans-I/O parser, per channel (no I/O).

Run: ``python bench/bench_parse_bybit.py [--frames N] [--repeat R]``

Frames are generated here in the wire shapes of Bybit v5 public pushes (see
``trio_feeds/exchanges/bybit/adapter.py``) with varied prices, sizes, ids and times;
each channel is parsed ``--frames`` times (default 100,000), best of ``--repeat``
(default 3), as bytes, in batches of 100 frames whose records are then dropped.
Prints frames/s and records/s.
"""

from __future__ import annotations

import argparse
import random
import time
from collections.abc import Callable
from typing import Any

import orjson

from trio_feeds.exchanges.bybit import BybitAdapter

RNG = random.Random(20260801)
T0 = 1_785_000_000_000
BATCH = 100


def _px(mid: float, step: int) -> str:
    return f"{mid + step * 0.1:.2f}"


def _sz() -> str:
    return f"{RNG.choice((RNG.uniform(0.001, 3.0), RNG.uniform(0.01, 40.0))):.3f}"


def _push(topic: str, kind: str, ts: int, data: Any, **extra: Any) -> bytes:
    return orjson.dumps({"topic": topic, "type": kind, "ts": ts, "data": data, **extra})


def trades(n: int) -> list[bytes]:
    out = []
    for i in range(n):
        d = {"T": T0 + i * 7, "s": "BTCUSDT", "S": RNG.choice(("Buy", "Sell")), "v": _sz(),
             "p": _px(64000.0, RNG.randint(-500, 500)), "L": "PlusTick",
             "i": f"20f43950-d8dd-5b31-9112-{i:012x}", "BT": False}  # fmt: skip
        out.append(_push("publicTrade.BTCUSDT", "snapshot", T0 + i * 7 + 2, [d]))
    return out


def tickers(n: int) -> list[bytes]:
    """Linear: one snapshot, then deltas of two to five changed fields (merged)."""
    full = {"symbol": "BTCUSDT", "tickDirection": "PlusTick", "price24hPcnt": "0.0171",
            "lastPrice": "64000.10", "prevPrice24h": "63000.50", "highPrice24h": "65000.00",
            "lowPrice24h": "62000.00", "prevPrice1h": "63900.00", "markPrice": "64000.33",
            "indexPrice": "64001.36", "openInterest": "68744.761",
            "openInterestValue": "4399664704.00", "turnover24h": "1570383121.943499",
            "volume24h": "91705.276", "nextFundingTime": "1785024000000",
            "fundingRate": "-0.000212", "bid1Price": "64000.00", "bid1Size": "84.489",
            "ask1Price": "64000.10", "ask1Size": "83.020"}  # fmt: skip
    out = [_push("tickers.BTCUSDT", "snapshot", T0, full, cs=1)]
    for i in range(1, n):
        last = 64000.0 + RNG.randint(-500, 500) / 10
        d = {"symbol": "BTCUSDT", "lastPrice": f"{last:.2f}", "bid1Price": f"{last - 0.1:.2f}",
             "bid1Size": _sz()}  # fmt: skip
        if i % 3 == 0:
            d["markPrice"] = f"{last + 0.2:.2f}"
            d["ask1Size"] = _sz()
        out.append(_push("tickers.BTCUSDT", "delta", T0 + i * 100, d, cs=1 + i))
    return out


def level1(n: int) -> list[bytes]:
    out = []
    for i in range(n):
        mid = 64000.0 + RNG.randint(-500, 500) / 10
        d = {"s": "BTCUSDT", "b": [[_px(mid, 0), _sz()]], "a": [[_px(mid, 1), _sz()]],
             "u": 18_000_000 + i, "seq": 7_961_638_724 + 3 * i}  # fmt: skip
        out.append(_push("orderbook.1.BTCUSDT", "snapshot", T0 + i * 10, d, cts=T0 + i * 10 - 1))
    return out


def book(n: int, levels: int = 25) -> list[bytes]:
    out = []
    for i in range(n):
        mid = 64000.0 + RNG.randint(-500, 500) / 10
        nb = RNG.randint(levels // 2 - 3, levels // 2 + 3)
        bids = [[_px(mid, -s), RNG.choice(("0", _sz()))] for s in sorted(RNG.sample(range(40), nb))]
        asks = [[_px(mid, s), RNG.choice(("0", _sz()))]
                for s in sorted(RNG.sample(range(1, 41), levels - nb))]  # fmt: skip
        d = {"s": "BTCUSDT", "b": bids, "a": asks, "u": 18_000_000 + i, "seq": 7_961_638_724 + i}
        out.append(_push("orderbook.50.BTCUSDT", "delta", T0 + i * 20, d, cts=T0 + i * 20 - 1))
    return out


def klines(n: int) -> list[bytes]:
    out = []
    for i in range(n):
        o = 64000.0 + RNG.randint(-500, 500) / 10
        c = o + RNG.randint(-30, 30) / 10
        start = T0 - T0 % 60000 + 60000 * (i // 60)
        d = {"start": start, "end": start + 59999, "interval": "1", "open": f"{o:.2f}",
             "close": f"{c:.2f}", "high": f"{max(o, c) + 1:.2f}", "low": f"{min(o, c) - 1:.2f}",
             "volume": _sz(), "turnover": f"{RNG.uniform(0, 2e6):.4f}", "confirm": i % 60 == 59,
             "timestamp": start + 1000 * (i % 60)}  # fmt: skip
        out.append(_push("kline.1.BTCUSDT", "snapshot", start + 1000 * (i % 60), [d]))
    return out


def measure(frames: list[bytes], repeat: int, channel: str, symbol: str) -> tuple[float, int]:
    """Best time of ``repeat`` runs over all frames, and records per run."""
    best = float("inf")
    records = 0
    for _ in range(repeat):
        adapter = BybitAdapter()
        adapter.subscribe([adapter.subscription(channel, symbol)])
        parse = adapter.parse
        out: list[object] = []
        records = 0
        t = time.perf_counter()
        for start in range(0, len(frames), BATCH):
            for frame in frames[start : start + BATCH]:
                parse(frame, 1.0, out)
            records += len(out)
            out.clear()
        best = min(best, time.perf_counter() - t)
        bad = [
            r for r in adapter.parse_many(frames[1:1000], 1.0) if type(r).__name__ == "ParseError"
        ]
        assert not bad, bad[:3]
    return best, records


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    n = args.frames
    cases: list[tuple[str, str, str, Callable[[int], list[bytes]]]] = [
        ("publicTrade", "trade", "BTC-USDT-PERP", trades),
        ("tickers (linear, merged deltas)", "ticker", "BTC-USDT-PERP", tickers),
        ("orderbook.1 (Quote)", "quote", "BTC-USDT", level1),
        ("orderbook.50 delta ~25 lv", "book", "BTC-USDT", book),
        ("orderbook.50 delta ~50 lv", "book", "BTC-USDT", lambda k: book(k, 50)),
        ("kline.1", "candle", "BTC-USDT", klines),
    ]
    print(f"Bybit parse, {n:,} frames per channel, best of {args.repeat}")
    print(f"{'channel':36s} {'frames/s':>12s} {'records/s':>12s} {'us/frame':>9s}")
    for label, channel, symbol, make in cases:
        frames = make(n)
        t, records = measure(frames, args.repeat, channel, symbol)
        print(f"{label:36s} {n / t:12,.0f} {records / t:12,.0f} {t / n * 1e6:9.2f}")


if __name__ == "__main__":
    main()
