"""Binance USD-M futures: parse rates per channel, and the real capture's book checked.

Run: ``python bench/bench_parse_usdm.py [--capture PATH] [--frames N]``

* Parse rates of the USD-M adapter per stream: real frames from the capture
  (``../shared/captures/binance_usdm_btcusdt_20240808.gz``: trade, bookTicker, depth@0ms),
  and generated ``markPrice``/``forceOrder`` frames in the documented shapes.
* Book check: the capture's REST snapshot and diffs through ``UsdmBookSync``, compared after
  every diff with a book computed independently here (snapshot, drop ``u < L``, first event
  ``U <= L <= u``, then every ``pu`` equal to the previous ``u``).
"""

from __future__ import annotations

import argparse
import gc
import gzip
import sys
import time
from pathlib import Path

try:
    from trio_feeds.exchanges.binance_usdm import BinanceUsdmAdapter, UsdmBookSync
except ImportError:  # run from a checkout without installing
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from trio_feeds.exchanges.binance_usdm import BinanceUsdmAdapter, UsdmBookSync

from trio_feeds.books.orderbook import BookGap
from trio_feeds.core.records import BookDelta
from trio_feeds.exchanges.binance_usdm.snapshot import parse_depth_snapshot

CAPTURE = Path(__file__).resolve().parents[2] / "shared/captures/binance_usdm_btcusdt_20240808.gz"
SYM = "BTC-USDT-PERP"


def load(path: Path) -> list[tuple[float, bytes]]:
    with gzip.open(path) as f:
        return [(int(ts) / 1e9, frame) for ts, _, frame in (ln.strip().partition(b" ") for ln in f)]


def adapter() -> BinanceUsdmAdapter:
    a = BinanceUsdmAdapter()
    a.subscribe([
        a.subscription("trade", SYM), a.subscription("quote", SYM),
        a.subscription("book", SYM, stream="depth@0ms"), a.subscription("funding", SYM),
        a.subscription("mark", SYM), a.subscription("liquidation", SYM),
    ])  # fmt: skip
    return a


def rate(frames: list[bytes], n: int) -> float:
    a = adapter()
    reps = max(1, n // max(1, len(frames)))
    best = float("inf")
    for _ in range(3):
        out: list[object] = []
        gc.collect()
        t0 = time.perf_counter()
        for _ in range(reps):
            for i, fr in enumerate(frames):
                a.parse(fr, 1.0, out)
                if i % 100 == 99:
                    out.clear()
        best = min(best, time.perf_counter() - t0)
    return reps * len(frames) / best


def generated(stream: str) -> list[bytes]:
    if stream == "markPrice":
        return [
            b'{"stream":"btcusdt@markPrice","data":{"e":"markPriceUpdate","E":%d,"s":"BTCUSDT",'
            b'"p":"61800.%02d000000","i":"61790.1","P":"61795.2","r":"0.00010000","T":1723190400000}}'
            % (1723161256000 + i, i % 100)
            for i in range(1000)
        ]
    return [
        b'{"stream":"btcusdt@forceOrder","data":{"e":"forceOrder","E":%d,"o":{"s":"BTCUSDT",'
        b'"S":"SELL","o":"LIMIT","f":"IOC","q":"0.0%02d","p":"61700.%d","ap":"61700.1",'
        b'"X":"FILLED","l":"0.014","z":"0.014","T":%d}}}'
        % (1723161256000 + i, i % 90 + 10, i % 10, 1723161256000 + i)
        for i in range(1000)
    ]


def book_check(lines: list[tuple[float, bytes]]) -> str:
    a = adapter()
    s = UsdmBookSync(SYM)
    Sides = tuple[dict[float, float], dict[float, float]]
    diffs: list[tuple[BookDelta, bool, Sides | None]] = []  # each diff, synced?, its book
    snap: BookDelta | None = None
    gaps = 0
    for r, frame in lines:
        if frame.startswith(b'{"lastUpdateId"'):
            got = parse_depth_snapshot(frame, SYM, r)
            snap = snap or got
            s.on_snapshot(got)
            continue
        if b"depthUpdate" not in frame:
            continue
        (d,) = a.parse_one(frame, r)
        out = s.on_delta(d)
        gaps += sum(isinstance(o, BookGap) for o in out)
        book = (dict(s.book.bids), dict(s.book.asks)) if s.synced else None
        diffs.append((d, s.synced, book))
    if snap is None or snap.sequence is None:
        return "no snapshot in the capture"
    # Independently: the snapshot, then (step 2) drop u < L, (3) the first kept has
    # U <= L <= u, (4) then every pu equals the previous u.
    big = snap.sequence
    bids, asks = dict(snap.bids), dict(snap.asks)
    last_u: int | None = None
    applied = compared = wrong = 0
    for d, synced, seen in diffs:
        assert d.sequence is not None and d.first_sequence is not None
        if last_u is None:
            if d.sequence < big:
                continue
            if d.first_sequence > big:
                return f"independent book: no event straddles L={big}"
        elif d.prev_sequence != last_u:
            return f"independent book: pu chain broken at u={d.sequence}"
        for side, levels in ((bids, d.bids), (asks, d.asks)):
            for p, q in levels:
                if q:
                    side[p] = q
                else:
                    side.pop(p, None)
        last_u = d.sequence
        applied += 1
        if synced:
            compared += 1
            wrong += seen != (bids, asks)
    return (
        f"{applied:,} diffs applied; UsdmBookSync equal to the independent book after "
        f"{compared - wrong:,} of {compared:,}; gaps {gaps}"
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--capture", type=Path, default=CAPTURE)
    ap.add_argument("--frames", type=int, default=200_000)
    args = ap.parse_args()
    rows: list[tuple[str, list[bytes]]] = []
    lines: list[tuple[float, bytes]] = []
    if args.capture.exists():
        lines = load(args.capture)
        for name, tag in (("trade", b"@trade"), ("bookTicker (E)", b"@bookTicker"),
                          ("depth@0ms (pu)", b"@depth@0ms")):  # fmt: skip
            rows.append((name, [f for _, f in lines if tag in f[:40]]))
    else:
        print(f"(no capture at {args.capture}: generated frames only)")
    rows += [
        ("markPrice (funding+mark)", generated("markPrice")),
        ("forceOrder", generated("forceOrder")),
    ]
    print(f"Binance USD-M parse, ~{args.frames:,} frames per stream, best of 3")
    print(f"{'stream':28} {'frames':>8} {'records/s':>12}")
    for name, frames in rows:
        print(f"{name:28} {len(frames):>8,} {rate(frames, args.frames):>12,.0f}")
    if lines:
        print("book check:", book_check(lines))


if __name__ == "__main__":
    main()
