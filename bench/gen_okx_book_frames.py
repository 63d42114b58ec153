"""Write a JSON-lines file of OKX v5 ``books`` frames (stdlib only, any Python >= 3.9).

    python bench/gen_okx_book_frames.py OUT.jsonl [--updates 50000] [--changes 25]

Line 1 is an ``action:"snapshot"`` push with ``--levels`` (400) levels per
side; then ``--updates`` ``action:"update"`` pushes, each changing about
``--changes`` (25) levels, exactly as PROTOCOLS.md 3.4/3.5 describe them:

* BTC-USDT, tick 0.1, prices written like OKX (``"30000"``, ``"29999.9"``),
  sizes up to 8 decimals without padding (``"0.0312"``), levels
  ``[px, sz, "0", orderCount]``; a delete is ``[px, "0", "0", "0"]``;
  bids descending, asks ascending.
* changes cluster near the top (distance from a mid price that random-walks
  one tick in 10 % of the updates ~ 1 + exponential, mean 8 ticks): size
  changes of existing levels, deletes (25 % of hits on an existing level)
  and new levels; levels the moving mid crosses are deleted.  The book stays
  at ``--levels`` per side as on OKX: the far end is refilled (inserts) or
  trimmed (deletes) in the same update.
* ``prevSeqId`` = the previous ``seqId``; ``seqId`` steps by 1..20;
  ``checksum`` 0 (as OKX sends since 2026-06-23); ``ts`` +100 ms.

Deterministic for a given ``--seed``.  The last line on stderr gives the
final book depth and ``seqId`` for cross-checking.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

TICKS_PER_UNIT = 10  # tick 0.1
MID_TICK = 30_000 * TICKS_PER_UNIT


def fmt_price(tick: int) -> str:
    whole, frac = divmod(tick, TICKS_PER_UNIT)
    return str(whole) if frac == 0 else f"{whole}.{frac}"


def fmt_size(units: int) -> str:
    """Size in 1e-8 units -> OKX text (no padding, no exponent)."""
    whole, frac = divmod(units, 100_000_000)
    if frac == 0:
        return str(whole)
    return f"{whole}.{frac:08d}".rstrip("0")


class BookSim:
    def __init__(self, seed: int, levels: int) -> None:
        self.rng = random.Random(seed)
        self.levels = levels
        self.bids: dict[int, tuple[int, int]] = {}  # tick -> (size units, order count)
        self.asks: dict[int, tuple[int, int]] = {}
        for i in range(levels):
            self.bids[MID_TICK - 1 - i] = self.level()
            self.asks[MID_TICK + 1 + i] = self.level()
        self.mid = MID_TICK
        self.seq = 8_123_456_789
        self.ts = 1_752_000_000_000

    def level(self) -> tuple[int, int]:
        rng = self.rng
        r = rng.random()
        if r < 0.5:  # small resting orders
            units = rng.randint(1_000, 5_000_000)  # 0.00001 .. 0.05
        elif r < 0.9:
            units = rng.randint(5_000_000, 200_000_000)
        else:
            units = rng.randint(200_000_000, 5_000_000_000)
        if rng.random() < 0.3:  # round lots are common
            units -= units % 100_000
            units = max(units, 100_000)
        return units, rng.randint(1, 30)

    def _side_changes(self, is_bid: bool, n: int) -> dict[int, tuple[int, int] | None]:
        book = self.bids if is_bid else self.asks
        rng = self.rng
        m = self.mid
        sign = -1 if is_bid else 1  # direction away from the mid
        out: dict[int, tuple[int, int] | None] = {}
        # the mid moved: levels now on the wrong side of it go
        for t in [t for t in book if (t >= m if is_bid else t <= m)]:
            del book[t]
            out[t] = None
        while len(out) < n:
            t = m + sign * (1 + int(rng.expovariate(1 / 8)))
            # an existing level: 75 % size change, 25 % delete; else a new level
            v = self.level() if t not in book or rng.random() >= 0.25 else None
            if v is None:
                del book[t]
            else:
                book[t] = v
            out[t] = v
            # OKX keeps `levels` per side: the far end is trimmed or refilled
            while len(book) > self.levels:
                far = min(book) if is_bid else max(book)
                del book[far]
                out[far] = None
            while len(book) < self.levels:
                far = (min(book) if is_bid else max(book)) + sign * rng.randint(1, 3)
                book[far] = v2 = self.level()
                out[far] = v2
        return out

    def snapshot(self) -> dict:
        return self._frame("snapshot", self.bids, self.asks, -1)

    def update(self, changes: int) -> dict:
        if self.rng.random() < 0.1:  # the mid price walks
            self.mid += self.rng.choice((-1, 1))
        nb = changes // 2 + self.rng.randint(-3, 3)
        nb = min(max(nb, 1), changes - 1)
        b = self._side_changes(True, nb)
        a = self._side_changes(False, changes - nb)
        prev = self.seq
        self.seq += self.rng.randint(1, 20)
        self.ts += 100
        return self._frame("update", b, a, prev)

    def _frame(self, action: str, bids: dict, asks: dict, prev: int) -> dict:
        def levels(side: dict, reverse: bool) -> list[list[str]]:
            out = []
            for t in sorted(side, reverse=reverse):
                v = side[t]
                if v is None:
                    out.append([fmt_price(t), "0", "0", "0"])
                else:
                    out.append([fmt_price(t), fmt_size(v[0]), "0", str(v[1])])
            return out

        return {
            "arg": {"channel": "books", "instId": "BTC-USDT"},
            "action": action,
            "data": [
                {
                    "asks": levels(asks, False),
                    "bids": levels(bids, True),
                    "ts": str(self.ts),
                    "checksum": 0,
                    "prevSeqId": prev,
                    "seqId": self.seq,
                }
            ],
        }


def generate(
    path: str | Path, updates: int, changes: int = 25, levels: int = 400, seed: int = 42
) -> dict:
    """Write the file; return a summary (final depth, seqId, mean levels per update)."""
    sim = BookSim(seed, levels)
    total = 0
    dumps = json.JSONEncoder(separators=(",", ":")).encode
    with open(path, "w", encoding="utf-8") as f:
        f.write(dumps(sim.snapshot()) + "\n")
        for _ in range(updates):
            frame = sim.update(changes)
            d = frame["data"][0]
            total += len(d["bids"]) + len(d["asks"])
            f.write(dumps(frame) + "\n")
    return {
        "updates": updates,
        "mean_levels": total / updates if updates else 0.0,
        "final_depth": [len(sim.bids), len(sim.asks)],
        "final_seq": sim.seq,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out")
    ap.add_argument("--updates", type=int, default=50_000)
    ap.add_argument("--changes", type=int, default=25)
    ap.add_argument("--levels", type=int, default=400)
    ap.add_argument("--seed", type=int, default=42)
    a = ap.parse_args()
    info = generate(a.out, a.updates, a.changes, a.levels, a.seed)
    print(json.dumps(info), file=sys.stderr)


if __name__ == "__main__":
    main()
