"""Order-book benchmark: ``python bench/bench_book.py``.

* OKX: a 400-level book per side and ~25-level update deltas shaped like the
  OKX adapter's ``BookDelta`` (mostly size changes near the top, some inserts
  and deletes), applied through ``OkxBookSync``; with and without the
  legacy checksum (texts kept + CRC per update).  If
  ``trio_feeds.exchanges.okx.adapter`` exists, also raw-JSON parse + apply.
* Binance: diff-depth deltas through ``BinanceBookSync``.
* ``top(20)`` and ``to_record(depth=20)`` cost, on an unchanged book and after each update.
* Memory of 100 symbols x 400-level books (tracemalloc).
"""

from __future__ import annotations

import gc
import importlib.util
import random
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Any

if importlib.util.find_spec("trio_feeds") is None:  # run from a checkout without install
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from trio_feeds.books.orderbook import SPEEDUPS, OrderBook
from trio_feeds.core.records import BookDelta
from trio_feeds.exchanges.binance.book import BinanceBookSync
from trio_feeds.exchanges.okx.book import OkxBookSync, book_crc32, okx_crc32

TICK = 0.1
MID = 30000.0
LEVELS = 400


def px(i: int) -> float:
    return round(i * TICK, 1)


def txt(x: float) -> str:
    s = repr(x)
    return s[:-2] if s.endswith(".0") else s


class OkxSim:
    """Generates an OKX-like book stream over integer ticks."""

    def __init__(self, seed: int = 1) -> None:
        self.rng = random.Random(seed)
        mid = int(MID / TICK)
        self.bids: dict[int, float] = {mid - 1 - i: self.size() for i in range(LEVELS)}
        self.asks: dict[int, float] = {mid + 1 + i: self.size() for i in range(LEVELS)}
        self.seq = 10_000_000

    def size(self) -> float:
        return round(self.rng.uniform(0.001, 50.0), 8)

    def snapshot(self, with_text: bool) -> BookDelta:
        bids = tuple((px(t), s) for t, s in sorted(self.bids.items(), reverse=True))
        asks = tuple((px(t), s) for t, s in sorted(self.asks.items()))
        text = None
        if with_text:
            text = (
                tuple((txt(p), txt(s)) for p, s in bids),
                tuple((txt(p), txt(s)) for p, s in asks),
            )
        d = BookDelta(
            "okx",
            "BTC-USDT",
            0,
            0.0,
            bids,
            asks,
            True,
            self.seq,
            -1,
            None,
            0,
            text,
        )
        if with_text:
            d = _with_checksum(d)
        return d

    def _side(
        self, book: dict[int, float], best: int, sign: int, n: int
    ) -> list[tuple[int, float]]:
        out: dict[int, float] = {}
        rng = self.rng
        for _ in range(n):
            r = rng.random()
            # distance from the best: mostly near the top
            dist = int(rng.expovariate(1 / 30))
            t = best + sign * min(dist, LEVELS - 1)
            # an existing level: 70 % size change, 30 % delete; else an insert
            s = 0.0 if (t in book and r >= 0.7) else self.size()
            out[t] = s
        for t, s in out.items():
            if s:
                book[t] = s
            else:
                book.pop(t, None)
        # keep the book ~400 levels like OKX does: drop far levels with a delete
        extra = sorted(book, reverse=(sign > 0))[LEVELS:]
        for t in extra:
            book.pop(t)
            out[t] = 0.0
        return list(out.items())

    def update(self, n: int, with_text: bool) -> BookDelta:
        nb = n // 2
        bb = max(self.bids)
        ba = min(self.asks)
        b = self._side(self.bids, bb, -1, nb)
        a = self._side(self.asks, ba, +1, n - nb)
        b.sort(reverse=True)
        a.sort()
        bids = tuple((px(t), s) for t, s in b)
        asks = tuple((px(t), s) for t, s in a)
        prev = self.seq
        self.seq += self.rng.randint(1, 20)
        text = None
        if with_text:
            text = (
                tuple((txt(p), txt(s) if s else "0") for p, s in bids),
                tuple((txt(p), txt(s) if s else "0") for p, s in asks),
            )
        return BookDelta(
            "okx",
            "BTC-USDT",
            0,
            0.0,
            bids,
            asks,
            False,
            self.seq,
            prev,
            None,
            self.checksum() if with_text else 0,
            text,
        )

    def checksum(self) -> int:
        b = [(txt(px(t)), txt(self.bids[t])) for t in sorted(self.bids, reverse=True)[:25]]
        a = [(txt(px(t)), txt(self.asks[t])) for t in sorted(self.asks)[:25]]
        return okx_crc32(b, a)


def _with_checksum(d: BookDelta) -> BookDelta:
    assert d.text is not None
    import attrs

    return attrs.evolve(d, checksum=okx_crc32(d.text[0][:25], d.text[1][:25]))


def okx_frame(d: BookDelta) -> bytes:
    import orjson

    def lv(levels: Any) -> list[list[str]]:
        return [[txt(p), txt(s) if s else "0", "0", "1"] for p, s in levels]

    return orjson.dumps(
        {
            "arg": {"channel": "books", "instId": "BTC-USDT"},
            "action": "snapshot" if d.snapshot else "update",
            "data": [
                {
                    "asks": lv(d.asks),
                    "bids": lv(d.bids),
                    "ts": "1597026383085",
                    "checksum": d.checksum or 0,
                    "prevSeqId": d.prev_sequence if not d.snapshot else -1,
                    "seqId": d.sequence,
                }
            ],
        }
    )


def bench_okx(n_updates: int, with_text: bool) -> float:
    sim = OkxSim(seed=7)
    snap = sim.snapshot(with_text)
    updates = [sim.update(25, with_text) for _ in range(n_updates)]
    sync = OkxBookSync("BTC-USDT")
    sync.on_delta(snap)
    assert sync.synced
    gc.collect()
    t0 = time.perf_counter()
    on_delta = sync.on_delta
    for d in updates:
        on_delta(d)
    dt = time.perf_counter() - t0
    assert sync.synced, sync.state
    assert sync.book.sequence == sim.seq
    assert sync.book.depth == (len(sim.bids), len(sim.asks))
    return n_updates / dt


def _adapter(exchange: str) -> Any:
    try:
        from trio_feeds.protocol import get_adapter

        return get_adapter(exchange)()
    except Exception as e:  # adapter not written yet, or the package is mid-edit
        print(f"  ({exchange} adapter not usable: {type(e).__name__}: {e})")
        return None


def bench_okx_parse(n_updates: int) -> None:
    """Raw OKX ``books`` JSON frames -> adapter ``parse`` -> ``OkxBookSync``."""
    adapter = _adapter("okx")
    if adapter is None:
        return
    sim = OkxSim(seed=7)
    snap = okx_frame(sim.snapshot(False))
    frames = [okx_frame(sim.update(25, False)) for _ in range(n_updates)]
    out: list[Any] = []
    adapter.parse(snap, 0.0, out)
    deltas = [r for r in out if isinstance(r, BookDelta)]
    if not deltas:
        print(f"  OKX adapter gave no BookDelta for a books snapshot: {out[:1]}")
        return
    sync = OkxBookSync("BTC-USDT")
    sync.on_delta(deltas[0])
    parse = adapter.parse
    on_delta = sync.on_delta
    gc.collect()
    t0 = time.perf_counter()
    for f in frames:
        out.clear()
        parse(f, 0.0, out)
        for r in out:
            on_delta(r)
    dt = time.perf_counter() - t0
    ok = sync.synced and sync.book.sequence == sim.seq
    print(
        f"  OKX raw JSON -> adapter.parse -> on_delta: {n_updates / dt:,.0f} updates/s"
        f"{'' if ok else '  (BOOK NOT IN SYNC: adapter output differs)'}"
    )


def bench_binance_parse(frames: list[bytes], snap: BookDelta, first: BookDelta) -> None:
    adapter = _adapter("binance")
    if adapter is None:
        return
    sync = BinanceBookSync("BTC-USDT")
    sync.on_snapshot(snap)
    sync.on_delta(first)
    out: list[Any] = []
    parse = adapter.parse
    on_delta = sync.on_delta
    gc.collect()
    t0 = time.perf_counter()
    for f in frames:
        out.clear()
        parse(f, 0.0, out)
        for r in out:
            if isinstance(r, BookDelta):
                on_delta(r)
    dt = time.perf_counter() - t0
    print(
        f"  Binance raw JSON -> adapter.parse -> on_delta: {len(frames) / dt:,.0f} updates/s"
        f"{'' if sync.synced else '  (BOOK NOT IN SYNC)'}"
    )


def binance_frame(d: BookDelta) -> bytes:
    import orjson

    return orjson.dumps(
        {
            "stream": "btcusdt@depth@100ms",
            "data": {
                "e": "depthUpdate",
                "E": 1700000000000,
                "s": "BTCUSDT",
                "U": d.first_sequence,
                "u": d.sequence,
                "b": [[f"{p:.8f}", f"{q:.8f}"] for p, q in d.bids],
                "a": [[f"{p:.8f}", f"{q:.8f}"] for p, q in d.asks],
            },
        }
    )


def bench_binance(n_updates: int) -> float:
    rng = random.Random(3)
    mid = int(MID / TICK)
    bids = tuple((px(mid - 1 - i), 1.0 + i) for i in range(1000))
    asks = tuple((px(mid + 1 + i), 1.0 + i) for i in range(1000))
    snap = BookDelta("binance", "BTC-USDT", 0, 0.0, bids, asks, True, 1000)
    deltas = []
    u = 1001
    for _ in range(n_updates):
        nb = rng.randint(5, 40)
        na = rng.randint(5, 40)
        b = tuple(
            (px(mid - 1 - int(rng.expovariate(1 / 60))), rng.choice((0.0, rng.uniform(0.01, 9))))
            for _ in range(nb)
        )
        a = tuple(
            (px(mid + 1 + int(rng.expovariate(1 / 60))), rng.choice((0.0, rng.uniform(0.01, 9))))
            for _ in range(na)
        )
        U = u + 1
        u = u + rng.randint(1, 50)
        deltas.append(BookDelta("binance", "BTC-USDT", 0, 0.0, b, a, False, u, None, U))
    sync = BinanceBookSync("BTC-USDT")
    sync.on_snapshot(snap)
    first = BookDelta("binance", "BTC-USDT", 0, 0.0, (), (), False, 1001, None, 990)
    sync.on_delta(first)
    assert sync.synced
    levels = sum(len(d.bids) + len(d.asks) for d in deltas)
    gc.collect()
    t0 = time.perf_counter()
    on_delta = sync.on_delta
    for d in deltas:
        on_delta(d)
    dt = time.perf_counter() - t0
    assert sync.synced and sync.book.sequence == u
    bench_binance_parse([binance_frame(d) for d in deltas], snap, first)
    print(
        f"  Binance diffs (avg {levels / n_updates:.1f} levels, 1000-level snapshot): "
        f"{n_updates / dt:,.0f} updates/s ({levels / dt:,.0f} levels/s)"
    )
    return n_updates / dt


def bench_top(n: int) -> None:
    sim = OkxSim(seed=5)
    snap = sim.snapshot(False)
    book = OrderBook()
    book.load_snapshot(snap.bids, snap.asks)
    t0 = time.perf_counter()
    for _ in range(n):
        book.top(20)
    dt = time.perf_counter() - t0
    print(f"  top(20), book unchanged between calls: {dt / n * 1e6:.2f} us/call")
    # after each 25-level update (the feed's case): the apply-only loop subtracted
    updates = [sim.update(25, False) for _ in range(n // 4)]
    costs = []
    for query in (False, True):
        best = float("inf")
        for _ in range(3):
            b = OrderBook()
            b.load_snapshot(snap.bids, snap.asks)
            t0 = time.perf_counter()
            for d in updates:
                b.apply(d.bids, d.asks)
                if query:
                    b.to_record("okx", "BTC-USDT", 0, 0.0, 20)
            best = min(best, time.perf_counter() - t0)
        costs.append(best / len(updates))
    print(f"  to_record(depth=20) after each 25-level update: {(costs[1] - costs[0]) * 1e6:.2f} us")
    t0 = time.perf_counter()
    for _ in range(n):
        book.to_record("okx", "BTC-USDT", 0, 0.0, 20)
    dt = time.perf_counter() - t0
    print(f"  to_record(depth=20), book unchanged: {dt / n * 1e6:.2f} us/call")
    t0 = time.perf_counter()
    for _ in range(n // 10):
        book_crc32(book)
    dt = time.perf_counter() - t0
    print(f"  book_crc32(book) (formatted floats): {dt / (n // 10) * 1e6:.2f} us/call")


def bench_memory(symbols: int = 100) -> None:
    snaps = [OkxSim(seed=i).snapshot(False) for i in range(symbols)]
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    books = []
    for s in snaps:
        b = OrderBook()
        b.load_snapshot(s.bids, s.asks)
        books.append(b)
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    total = after - before
    print(
        f"  {symbols} symbols x {LEVELS}+{LEVELS} levels: {total / 1e6:.2f} MB "
        f"({total / symbols / 1e3:.1f} kB/book, {total / symbols / (2 * LEVELS):.0f} B/level)"
        "  [snapshot floats shared with the input deltas]"
    )
    # Same with texts kept (checksum mode) and with fresh float objects per level.
    snaps_t = [OkxSim(seed=i).snapshot(True) for i in range(symbols)]
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    books = []
    for s in snaps_t:
        b = OrderBook()
        bids = tuple((float(t[0]), float(t[1])) for t in s.text[0])  # type: ignore[index]
        asks = tuple((float(t[0]), float(t[1])) for t in s.text[1])  # type: ignore[index]
        b.load_snapshot(bids, asks, s.text)
        books.append(b)
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    total = after - before
    print(
        f"  same, owning its floats + texts kept (checksum mode): {total / 1e6:.2f} MB "
        f"({total / symbols / 1e3:.1f} kB/book)  [texts shared with the input deltas]"
    )
    del books


def main() -> None:
    print(f"Python {sys.version.split()[0]}, book loops in {'C' if SPEEDUPS else 'pure Python'}")
    n = 50_000
    print("OKX books, 400 levels/side, 25-level updates via OkxBookSync.on_delta:")
    for label, wt in (("checksum 0 (current OKX)", False), ("legacy checksum verified", True)):
        rates = [bench_okx(n if not wt else n // 5, wt) for _ in range(3)]
        print(
            f"  {label}: {max(rates):,.0f} updates/s (best of 3; {max(rates) * 25:,.0f} levels/s)"
        )
    bench_okx_parse(n)
    print("Binance:")
    bench_binance(n)
    print("Queries:")
    bench_top(100_000)
    print("Memory (tracemalloc):")
    bench_memory()


if __name__ == "__main__":
    main()
