"""Parse rates of the perpetual-swap channels beside spot ones, in one run (same load).

    python bench/bench_parse_perps.py [--frames 50000] [--repeat 3]

Frames generated in the documented wire shapes, parsed as ``bytes`` in batches of 100
(a consumer takes each batch), best of ``--repeat``:

* OKX swaps (``BTC-USDT-PERP`` = ``BTC-USDT-SWAP``): ``funding-rate``, ``mark-price``,
  ``open-interest``, and ``trades`` on the swap (contracts → base with ``ctVal``) beside
  ``trades`` on spot;
* Bybit linear ``tickers`` (snapshot + deltas of 2-5 changed fields, a third of them moving
  the mark price, a tenth the open interest, a twentieth the funding rate) subscribed as
  ``ticker`` only, and as ``ticker`` + ``funding`` + ``mark`` + ``open_interest``;
* Binance USD-M ``GET /fapi/v1/openInterest`` answers through ``parse_open_interest`` (what
  the engine's poller calls per answer).

USD-M's streams (``markPrice``, ``forceOrder``, depth) are in ``bench_parse_usdm.py``.
"""

from __future__ import annotations

import argparse
import importlib.util
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

if importlib.util.find_spec("trio_feeds") is None:  # run from a checkout without install
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from trio_feeds.exchanges.binance_usdm.snapshot import parse_open_interest
from trio_feeds.exchanges.bybit import BybitAdapter
from trio_feeds.exchanges.okx import OkxAdapter

BATCH = 100
T0 = 1_785_000_000_000
RNG = random.Random(7)
SWAP = "BTC-USDT-SWAP"
INSTRUMENTS = orjson.dumps({"code": "0", "msg": "", "data": [
    {"instId": SWAP, "instType": "SWAP", "ctVal": "0.01", "ctValCcy": "BTC"},
]})  # fmt: skip


def _okx(channel: str, inst: str, items: list[dict[str, str]]) -> bytes:
    return orjson.dumps({"arg": {"channel": channel, "instId": inst}, "data": items})


def okx_funding(n: int) -> list[bytes]:
    return [
        _okx("funding-rate", SWAP, [{
            "fundingRate": f"0.000{RNG.randint(10, 99)}", "fundingTime": "1785024000000",
            "instId": SWAP, "instType": "SWAP", "method": "current_period",
            "maxFundingRate": "0.00375", "minFundingRate": "-0.00375", "nextFundingRate": "",
            "nextFundingTime": "1785052800000", "premium": "0.0001", "settFundingRate": "0.0001",
            "settState": "settled", "ts": str(T0 + i * 1000),
        }])
        for i in range(n)
    ]  # fmt: skip


def okx_mark(n: int) -> list[bytes]:
    return [
        _okx("mark-price", SWAP, [{"instType": "SWAP", "instId": SWAP,
                                   "markPx": f"{64000 + RNG.randint(-500, 500) / 10:.1f}",
                                   "ts": str(T0 + i * 200)}])
        for i in range(n)
    ]  # fmt: skip


def okx_open_interest(n: int) -> list[bytes]:
    return [
        _okx("open-interest", SWAP, [{"instId": SWAP, "instType": "SWAP",
                                      "oi": f"{2216113 + i}.01", "oiCcy": f"{22161 + i}.1301",
                                      "oiUsd": "1418315523.2", "ts": str(T0 + i * 3000)}])
        for i in range(n)
    ]  # fmt: skip


def okx_trades(inst: str) -> Callable[[int], list[bytes]]:
    def make(n: int) -> list[bytes]:
        return [
            _okx("trades", inst, [{"instId": inst, "tradeId": str(100000 + i),
                                   "px": f"{64000 + RNG.randint(-500, 500) / 10:.1f}",
                                   "sz": str(RNG.randint(1, 90)), "side": "buy",
                                   "ts": str(T0 + i), "count": "1"}])
            for i in range(n)
        ]  # fmt: skip

    return make


def bybit_tickers(n: int) -> list[bytes]:
    full = {"symbol": "BTCUSDT", "tickDirection": "PlusTick", "price24hPcnt": "0.0171",
            "lastPrice": "64000.10", "prevPrice24h": "63000.50", "highPrice24h": "65000.00",
            "lowPrice24h": "62000.00", "prevPrice1h": "63900.00", "markPrice": "64000.33",
            "indexPrice": "64001.36", "openInterest": "68744.761",
            "openInterestValue": "4399664704.00", "turnover24h": "1570383121.943499",
            "volume24h": "91705.276", "nextFundingTime": "1785024000000",
            "fundingRate": "-0.000212", "bid1Price": "64000.00", "bid1Size": "84.489",
            "ask1Price": "64000.10", "ask1Size": "83.020"}  # fmt: skip

    def push(kind: str, i: int, data: dict[str, str]) -> bytes:
        msg = {"topic": "tickers.BTCUSDT", "type": kind, "data": data, "cs": i, "ts": T0 + i}
        return orjson.dumps(msg)

    out = [push("snapshot", 0, full)]
    for i in range(1, n):
        last = 64000.0 + RNG.randint(-500, 500) / 10
        d = {"symbol": "BTCUSDT", "lastPrice": f"{last:.2f}", "bid1Price": f"{last - 0.1:.2f}",
             "bid1Size": f"{RNG.randint(1, 9000) / 1000:.3f}"}  # fmt: skip
        if i % 3 == 0:
            d["markPrice"] = f"{last + 0.2:.2f}"
        if i % 10 == 0:
            d["openInterest"] = f"{68000 + i / 1000:.3f}"
        if i % 20 == 0:
            d["fundingRate"] = f"-0.000{RNG.randint(100, 999)}"
        out.append(push("delta", i, d))
    return out


def measure(adapter: Callable[[], Any], frames: list[bytes], repeat: int) -> tuple[float, int]:
    best = float("inf")
    records = 0
    for _ in range(repeat):
        a = adapter()
        parse = a.parse
        out: list[Any] = []
        records = 0
        t = time.perf_counter()
        for start in range(0, len(frames), BATCH):
            for frame in frames[start : start + BATCH]:
                parse(frame, 1.0, out)
            records += len(out)
            out.clear()
        best = min(best, time.perf_counter() - t)
        bad = [r for r in a.parse_many(frames[1:500], 1.0) if type(r).__name__ == "ParseError"]
        assert not bad, bad[:3]
    return best, records


def okx(*channels: tuple[str, str]) -> Callable[[], OkxAdapter]:
    def make() -> OkxAdapter:
        a = OkxAdapter()
        a.load_instruments(INSTRUMENTS)
        a.subscribe([a.subscription(c, s) for c, s in channels])
        return a

    return make


def bybit(*channels: str) -> Callable[[], BybitAdapter]:
    def make() -> BybitAdapter:
        a = BybitAdapter()
        a.subscribe([a.subscription(c, "BTC-USDT-PERP") for c in channels])
        return a

    return make


def open_interest_rate(n: int, repeat: int) -> float:
    bodies = [
        b'{"symbol":"BTCUSDT","openInterest":"%d.%03d","time":%d}' % (80000 + i, i % 1000, T0 + i)
        for i in range(n)
    ]
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        for body in bodies:
            parse_open_interest(body, "BTC-USDT-PERP", 1.0)
        best = min(best, time.perf_counter() - t)
    return n / best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=50_000)
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()
    n = a.frames
    perp = ("trade", "BTC-USDT-PERP")
    cases: list[tuple[str, Callable[[], Any], list[bytes]]] = [
        ("okx trades, spot", okx(("trade", "BTC-USDT")), okx_trades("BTC-USDT")(n)),
        ("okx trades, swap (ctVal → base)", okx(perp), okx_trades(SWAP)(n)),
        ("okx funding-rate → Funding", okx(("funding", "BTC-USDT-PERP")), okx_funding(n)),
        ("okx mark-price → MarkPrice", okx(("mark", "BTC-USDT-PERP")), okx_mark(n)),
        ("okx open-interest → OpenInterest", okx(("open_interest", "BTC-USDT-PERP")),
         okx_open_interest(n)),
        ("bybit linear tickers: ticker", bybit("ticker"), bybit_tickers(n)),
        ("bybit linear tickers: + funding, mark, OI",
         bybit("ticker", "funding", "mark", "open_interest"), bybit_tickers(n)),
    ]  # fmt: skip
    print(f"perp parse, {n:,} frames per case, batches of {BATCH}, best of {a.repeat}")
    print(f"{'case':44s} {'frames/s':>10s} {'records/s':>10s} {'us/frame':>9s}")
    for label, make, frames in cases:
        t, records = measure(make, frames, a.repeat)
        print(f"{label:44s} {n / t:10,.0f} {records / t:10,.0f} {t / n * 1e6:9.2f}")
    rate = open_interest_rate(n, a.repeat)
    print(f"{'binance-usdm /fapi/v1/openInterest body':44s} {rate:10,.0f} {rate:10,.0f} "
          f"{1e6 / rate:9.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
