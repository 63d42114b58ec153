"""Throughput of the Coinbase Advanced Trade sans-I/O parser, per channel (no I/O).

Run: ``python bench/bench_parse_coinbase.py [--frames N] [--repeat R]``

Frames are generated here in the wire shapes of Coinbase Advanced Trade market data
(see ``trio_feeds/exchanges/coinbase/adapter.py``), numbered by one ``sequence_num`` per
channel run (no holes); each channel is parsed ``--frames`` times (default 100,000),
best of ``--repeat`` (default 3), as bytes, in batches of 100 frames whose records are
then dropped.  Prints frames/s and records/s.
"""

from __future__ import annotations

import argparse
import random
import time
from collections.abc import Callable
from typing import Any

import orjson

from trio_feeds.exchanges.coinbase import CoinbaseAdapter

RNG = random.Random(20260802)
BATCH = 100


def _ts(i: int, step_us: int) -> str:
    us = 1_785_000_000_000_000 + i * step_us
    s, frac = divmod(us, 1_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(s)) + f".{frac:06d}123Z"


def _msg(channel: str, i: int, step_us: int, events: list[Any]) -> bytes:
    return orjson.dumps({"channel": channel, "client_id": "", "timestamp": _ts(i, step_us),
                         "sequence_num": i, "events": events})  # fmt: skip


def _px(mid: float, step: int) -> str:
    return f"{mid + step * 0.01:.2f}"


def _sz() -> str:
    return f"{RNG.uniform(0.00001, 3.0):.8f}"


def trades(n: int) -> list[bytes]:
    out = []
    for i in range(n):
        t = {"product_id": "BTC-USD", "trade_id": str(699_871_154 + i),
             "price": _px(64000.0, RNG.randint(-500, 500)), "size": _sz(),
             "time": _ts(i, 7000), "side": RNG.choice(("BUY", "SELL"))}  # fmt: skip
        out.append(_msg("market_trades", i, 7000, [{"type": "update", "trades": [t]}]))
    return out


def tickers(n: int) -> list[bytes]:
    out = []
    for i in range(n):
        last = 64000.0 + RNG.randint(-500, 500) / 100
        t = {"type": "ticker", "product_id": "BTC-USD", "price": f"{last:.2f}",
             "volume_24_h": "16038.28770938", "low_24_h": "62835.29", "high_24_h": "65011.18",
             "low_52_w": "15460", "high_52_w": "108240", "price_percent_chg_24_h": "-1.157",
             "best_bid": f"{last - 0.01:.2f}", "best_bid_quantity": _sz(),
             "best_ask": f"{last:.2f}", "best_ask_quantity": _sz()}  # fmt: skip
        out.append(_msg("ticker", i, 100_000, [{"type": "update", "tickers": [t]}]))
    return out


def level2(n: int, levels: int = 25) -> list[bytes]:
    out = []
    for i in range(n):
        mid = 64000.0 + RNG.randint(-500, 500) / 100
        ups = []
        for _ in range(levels):
            side = RNG.choice(("bid", "offer"))
            step = -RNG.randint(0, 60) if side == "bid" else RNG.randint(1, 61)
            ups.append({"side": side, "event_time": _ts(i, 20_000), "price_level": _px(mid, step),
                        "new_quantity": RNG.choice(("0", _sz()))})  # fmt: skip
        ev = {"type": "update", "product_id": "BTC-USD", "updates": ups}
        out.append(_msg("l2_data", i, 20_000, [ev]))
    return out


def candles(n: int) -> list[bytes]:
    out = []
    for i in range(n):
        o = 64000.0 + RNG.randint(-500, 500) / 100
        c = o + RNG.randint(-30, 30) / 100
        k = {"start": str(1_785_000_000 + 300 * (i // 300)), "high": f"{max(o, c) + 1:.2f}",
             "low": f"{min(o, c) - 1:.2f}", "open": f"{o:.2f}", "close": f"{c:.2f}",
             "volume": _sz(), "product_id": "BTC-USD"}  # fmt: skip
        out.append(_msg("candles", i, 1_000_000, [{"type": "update", "candles": [k]}]))
    return out


def measure(frames: list[bytes], repeat: int, channel: str) -> tuple[float, int]:
    """Best time of ``repeat`` runs over all frames, and records per run."""
    best = float("inf")
    records = 0
    for _ in range(repeat):
        adapter = CoinbaseAdapter()
        adapter.subscribe([adapter.subscription(channel, "BTC-USD")])
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
        check = CoinbaseAdapter().parse_many(frames[:1000], 1.0)
        bad = [r for r in check if type(r).__name__ in ("ParseError", "ConnectionGap")]
        assert not bad, bad[:3]
    return best, records


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    n = args.frames
    cases: list[tuple[str, str, Callable[[int], list[bytes]]]] = [
        ("market_trades", "trade", trades),
        ("ticker", "ticker", tickers),
        ("ticker as Quote", "quote", tickers),
        ("l2_data update 25 lv", "book", level2),
        ("l2_data update 50 lv", "book", lambda k: level2(k, 50)),
        ("candles", "candle", candles),
    ]
    print(f"Coinbase parse, {n:,} frames per channel, best of {args.repeat}")
    print(f"{'channel':36s} {'frames/s':>12s} {'records/s':>12s} {'us/frame':>9s}")
    for label, channel, make in cases:
        frames = make(n)
        t, records = measure(frames, args.repeat, channel)
        print(f"{label:36s} {n / t:12,.0f} {records / t:12,.0f} {t / n * 1e6:9.2f}")


if __name__ == "__main__":
    main()
