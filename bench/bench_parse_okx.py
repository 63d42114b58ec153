"""Throughput of the OKX v5 sans-I/O parser, per channel (no I/O).

Run: ``python bench/bench_parse_okx.py [--frames N] [--repeat R]``

Frames are generated here in the exact wire shapes of OKX v5 (see the
adapter's docstring) with varied prices, sizes, ids and times; each channel is
parsed ``--frames`` times (default 100,000), best of ``--repeat`` (default 3),
as bytes (what a WebSocket reader hands over), in batches of 100 frames whose
records are then dropped (as the engine hands each batch on).  Prints frames/s and records/s.
"""

from __future__ import annotations

import argparse
import random
import time
from collections.abc import Callable

import orjson

from trio_feeds.exchanges.okx.adapter import OkxAdapter

RNG = random.Random(20240808)
T0 = 1_722_000_000_000
BATCH = 100
"""Frames per batch: the parser appends to one list per socket read, which the engine hands on."""


def _px(mid: float, tick: float, step: int) -> str:
    return f"{mid + step * tick:.1f}".rstrip("0").rstrip(".")


def _sz() -> str:
    return (
        f"{RNG.choice((0.0, RNG.uniform(0.00001, 3.0), RNG.uniform(0.0001, 40.0))):.8f}".rstrip(
            "0"
        ).rstrip(".")
        or "0"
    )


def _amount() -> str:
    """A trade size: never 0 (a trade of size 0 is malformed); the same draws as _sz."""
    sz = _sz()
    return sz if sz != "0" else "0.1"


def _level(px: str, sz: str) -> list[str]:
    return [px, sz, "0", str(RNG.randint(0, 30) if sz != "0" else 0)]


def _side_levels(mid: float, sign: int, n: int, spread: int = 1) -> list[list[str]]:
    steps = sorted(RNG.sample(range(spread, spread + 4 * n), n))
    return [_level(_px(mid, 0.1, sign * s), _sz()) for s in steps]


def trades(n: int) -> list[bytes]:
    out = []
    for i in range(n):
        px = _px(64000.0, 0.1, RNG.randint(-500, 500))
        d = {
            "instId": "BTC-USDT",
            "tradeId": str(530_000_000 + i),
            "px": px,
            "sz": _amount(),
            "side": RNG.choice(("buy", "sell")),
            "ts": str(T0 + i * 7),
            "count": str(RNG.randint(1, 4)),
            "source": "0",
            "seqId": 41_000_000_000 + i,
        }
        out.append(orjson.dumps({"arg": {"channel": "trades", "instId": "BTC-USDT"}, "data": [d]}))
    return out


def tickers(n: int) -> list[bytes]:
    out = []
    for i in range(n):
        last = 64000.0 + RNG.randint(-500, 500) / 10
        d = {
            "instType": "SPOT",
            "instId": "BTC-USDT",
            "last": _px(last, 0.1, 0),
            "lastSz": _sz(),
            "askPx": _px(last, 0.1, 1),
            "askSz": _sz(),
            "bidPx": _px(last, 0.1, 0),
            "bidSz": _sz(),
            "open24h": "63511.2",
            "high24h": _px(65000.0, 0.1, RNG.randint(0, 50)),
            "low24h": _px(63000.0, 0.1, -RNG.randint(0, 50)),
            "sodUtc0": "63805.1",
            "sodUtc8": "63990.4",
            "volCcy24h": f"{RNG.uniform(5e8, 9e8):.8f}",
            "vol24h": f"{RNG.uniform(8000, 14000):.8f}",
            "ts": str(T0 + i * 100),
        }
        out.append(orjson.dumps({"arg": {"channel": "tickers", "instId": "BTC-USDT"}, "data": [d]}))
    return out


def bbo(n: int) -> list[bytes]:
    out = []
    for i in range(n):
        mid = 64000.0 + RNG.randint(-500, 500) / 10
        d = {
            "asks": [_level(_px(mid, 0.1, 1), _sz() or "0.1")],
            "bids": [_level(_px(mid, 0.1, 0), _sz() or "0.1")],
            "ts": str(T0 + i * 10),
            "seqId": 41_000_000_000 + 3 * i,
        }
        out.append(orjson.dumps({"arg": {"channel": "bbo-tbt", "instId": "BTC-USDT"}, "data": [d]}))
    return out


def books5(n: int) -> list[bytes]:
    out = []
    for i in range(n):
        mid = 64000.0 + RNG.randint(-500, 500) / 10
        d = {
            "asks": _side_levels(mid, 1, 5),
            "bids": _side_levels(mid, -1, 5, 0),
            "instId": "BTC-USDT",
            "ts": str(T0 + i * 100),
            "seqId": 41_000_000_000 + 3 * i,
        }
        out.append(orjson.dumps({"arg": {"channel": "books5", "instId": "BTC-USDT"}, "data": [d]}))
    return out


def books(n: int, levels: int = 25, checksum: bool = False) -> list[bytes]:
    out = []
    seq = 41_000_000_000
    for i in range(n):
        mid = 64000.0 + RNG.randint(-500, 500) / 10
        nb = RNG.randint(levels // 2 - 3, levels // 2 + 3)
        d = {
            "asks": _side_levels(mid, 1, levels - nb),
            "bids": list(reversed(_side_levels(mid, -1, nb, 0)))[::-1],
            "ts": str(T0 + i * 100),
            "checksum": RNG.randint(-(2**31), 2**31 - 1) if checksum else 0,
            "prevSeqId": seq,
            "seqId": seq + RNG.randint(1, 40),
        }
        seq = d["seqId"]  # type: ignore[assignment]
        out.append(
            orjson.dumps(
                {"arg": {"channel": "books", "instId": "BTC-USDT"}, "action": "update", "data": [d]}
            )
        )
    return out


def candles(n: int) -> list[bytes]:
    out = []
    for i in range(n):
        o = 64000.0 + RNG.randint(-500, 500) / 10
        c = o + RNG.randint(-30, 30) / 10
        d = [
            str(T0 - T0 % 60000 + 60000 * (i // 60)),
            _px(o, 0.1, 0),
            _px(max(o, c), 0.1, RNG.randint(0, 10)),
            _px(min(o, c), 0.1, -RNG.randint(0, 10)),
            _px(c, 0.1, 0),
            f"{RNG.uniform(0, 30):.8f}",
            f"{RNG.uniform(0, 2e6):.4f}",
            f"{RNG.uniform(0, 2e6):.4f}",
            "1" if i % 60 == 59 else "0",
        ]
        out.append(
            orjson.dumps({"arg": {"channel": "candle1m", "instId": "BTC-USDT"}, "data": [d]})
        )
    return out


def measure(frames: list[bytes], repeat: int) -> tuple[float, int]:
    """Best time of ``repeat`` runs over all frames, and records per run."""
    best = float("inf")
    records = 0
    for _ in range(repeat):
        adapter = OkxAdapter()
        parse = adapter.parse
        out: list[object] = []
        records = 0
        t = time.perf_counter()
        for start in range(0, len(frames), BATCH):
            for frame in frames[start : start + BATCH]:
                parse(frame, 1.0, out)
            records += len(out)
            out.clear()  # a consumer takes each batch
        best = min(best, time.perf_counter() - t)
        out = adapter.parse_many(frames[:1000], 1.0)
        bad = [r for r in out if type(r).__name__ == "ParseError"]
        assert not bad, bad[:3]
    return best, records


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    n = args.frames
    cases: list[tuple[str, Callable[[int], list[bytes]]]] = [
        ("trades", trades),
        ("tickers", tickers),
        ("bbo-tbt (Quote)", bbo),
        ("books5 (Book)", books5),
        ("books update ~25 lv", books),
        ("books update ~25 lv, checksum!=0", lambda k: books(k, checksum=True)),
        ("books update ~50 lv", lambda k: books(k, levels=50)),
        ("candle1m", candles),
    ]
    print(f"OKX parse, {n:,} frames per channel, best of {args.repeat}")
    print(f"{'channel':36s} {'frames/s':>12s} {'records/s':>12s} {'us/frame':>9s}")
    for label, make in cases:
        frames = make(n)
        t, records = measure(frames, args.repeat)
        print(f"{label:36s} {n / t:12,.0f} {records / t:12,.0f} {t / n * 1e6:9.2f}")


if __name__ == "__main__":
    main()
