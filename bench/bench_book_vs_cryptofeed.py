"""OKX ``books`` updates/s: trio_feeds vs cryptofeed 3.0.1 on the same raw frames.

    python bench/bench_book_vs_cryptofeed.py [--updates 50000] [--rounds 3] [--cpu N]

1. ``gen_okx_book_frames.py`` writes (once, cached in ``--frames``) one OKX
   ``books`` snapshot (400 levels/side) + ``--updates`` update pushes of ~25
   levels (``checksum: 0``, ``prevSeqId``/``seqId`` chain).
2. trio_feeds (this interpreter), per update frame, timed; the frame is the
   ``bytes`` the websocket layer hands the adapter:

   ``apply``  ``OkxAdapter.parse(frame, ts, out)`` -> ``BookDelta`` ->
              ``OkxBookSync.on_delta`` (seqId chain, apply to ``OrderBook``;
              checksum 0 so no texts kept, nothing verified).
   ``top20``  ``apply`` + ``sync.to_record(..., depth=20)`` for the
              ``BookUpdated`` output: a top-20 ``Book`` record per update,
              what the feed emits (default ``book_depth=20``).  Headline.
   ``keeper`` ``OkxAdapter.parse`` + the engine's ``BookKeeper.process`` on
              that frame's records (one frame per batch, i.e. no coalescing):
              ``top20`` plus the engine's routing.  Informational.
3. cryptofeed (``--peer-python``, default /tmp/peers/cf/bin/python):
   ``peer_cryptofeed_books.py`` drives ``OKX.message_handler`` with the
   same frames as ``str`` (what websockets gives it): ``noop`` callback and a
   callback that copies the top 20 per side (see that file).
4. Rounds alternate trio_feeds and cryptofeed runs (so machine load hits both
   alike); best of ``--rounds`` per mode.  Both are single-threaded, one
   process at a time; ``--cpu N`` pins both to core N.  Final books are
   cross-checked (seqId, depth, top 20 levels).

Skips cryptofeed with a message when ``--peer-python`` does not exist.
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
if importlib.util.find_spec("trio_feeds") is None:  # run from a checkout without install
    sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from gen_okx_book_frames import generate  # noqa: E402

from trio_feeds.books.orderbook import SPEEDUPS, BookUpdated  # noqa: E402
from trio_feeds.core.records import BookDelta  # noqa: E402
from trio_feeds.exchanges.okx.adapter import OkxAdapter  # noqa: E402
from trio_feeds.exchanges.okx.book import OkxBookSync  # noqa: E402

SYMBOL = "BTC-USDT"
DEPTH = 20
PEER = HERE / "peer_cryptofeed_books.py"


def load(path: Path) -> list[bytes]:
    return [line.rstrip(b"\n") for line in path.read_bytes().splitlines() if line.strip()]


def _final(sync: OkxBookSync) -> dict[str, Any]:
    bids, asks = sync.book.top(DEPTH)
    return {
        "seq": sync.book.sequence,
        "depth": list(sync.book.depth),
        "bids": [list(lv) for lv in bids],
        "asks": [list(lv) for lv in asks],
    }


def run_trio(frames: list[bytes], mode: str) -> tuple[float, dict[str, Any]]:
    adapter = OkxAdapter()
    sync = OkxBookSync(SYMBOL)
    out: list[Any] = []
    received_at = time.time()
    adapter.parse(frames[0], received_at, out)
    snap = [r for r in out if isinstance(r, BookDelta)]
    assert snap and snap[0].snapshot, out[:1]
    sync.on_delta(snap[0])
    assert sync.synced
    updates = frames[1:]
    parse = adapter.parse
    on_delta = sync.on_delta
    last: Any = None
    gc.collect()
    if mode == "apply":
        t0 = time.perf_counter()
        for f in updates:
            out.clear()
            parse(f, received_at, out)
            for r in out:
                on_delta(r)
        dt = time.perf_counter() - t0
    elif mode == "top20":
        to_record = sync.to_record
        t0 = time.perf_counter()
        for f in updates:
            out.clear()
            parse(f, received_at, out)
            for r in out:
                for o in on_delta(r):
                    if o.__class__ is BookUpdated:
                        last = to_record(o.timestamp, o.received_at, DEPTH)
        dt = time.perf_counter() - t0
    elif mode == "keeper":
        keeper = _keeper(sync)
        process = keeper.process
        t0 = time.perf_counter()
        for f in updates:
            out = []
            parse(f, received_at, out)
            last = process(out)
        dt = time.perf_counter() - t0
    else:
        raise ValueError(mode)
    assert sync.synced, sync.state
    assert mode == "apply" or last is not None
    return len(updates) / dt, _final(sync)


def _keeper(sync: OkxBookSync) -> Any:
    from trio_feeds.engine.books import BookKeeper
    from trio_feeds.exchanges import get

    def nope(*_: Any) -> None:
        raise AssertionError("unexpected resync during the benchmark")

    keeper = BookKeeper(
        get("okx"),
        [SYMBOL],
        depth=DEPTH,
        deltas=False,
        rest=None,  # type: ignore[arg-type]
        clock=time.time,
        spawn=nope,
        resubscribe=nope,  # type: ignore[arg-type]
        emit=nope,
        on_error=nope,
    )
    keeper.syncs[SYMBOL] = sync
    return keeper


def run_peer(python: str, path: Path) -> list[dict[str, Any]]:
    cmd = [python, str(PEER), str(path), "--mode", "both", "--repeat", "1"]
    res = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if res.returncode != 0:
        raise RuntimeError(f"peer failed ({res.returncode}):\n{res.stderr[-2000:]}")
    return [json.loads(line[7:]) for line in res.stdout.splitlines() if line.startswith("RESULT ")]


def _same(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return a["seq"] == b["seq"] and a["bids"] == b["bids"] and a["asks"] == b["asks"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--updates", type=int, default=50_000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--frames", type=Path, default=None, help="JSON-lines frames file (cached)")
    ap.add_argument("--peer-python", default="/tmp/peers/cf/bin/python")
    ap.add_argument("--no-peer", action="store_true")
    ap.add_argument("--cpu", type=int, default=None, help="pin both sides to this core")
    a = ap.parse_args()

    if a.cpu is not None:
        os.sched_setaffinity(0, {a.cpu})  # inherited by the peer process
    path = a.frames or Path(f"/tmp/okx_books_{a.updates}_s{a.seed}.jsonl")
    if not path.exists():
        info = generate(path, a.updates, seed=a.seed)
        print(f"wrote {path}: {json.dumps(info)}")
    frames = load(path)
    n = len(frames) - 1
    mean = sum(f.count(b"],[") + 2 for f in frames[1:]) / n  # levels (both sides non-empty)
    peer = None if a.no_peer else a.peer_python
    if peer is not None and not Path(peer).exists():
        print(f"cryptofeed skipped: {peer} not found (see /work/shared/peers/compare.sh)")
        peer = None
    print(
        f"frames: {path} ({n:,} updates, ~{mean:.1f} levels each, 400-level snapshot)\n"
        f"trio_feeds: Python {sys.version.split()[0]}, book loops in "
        f"{'C' if SPEEDUPS else 'pure Python'}; uptime:{_uptime()}"
    )

    trio_modes = ("apply", "top20", "keeper")
    rates: dict[str, list[float]] = {}
    finals: dict[str, dict[str, Any]] = {}
    for rnd in range(a.rounds):
        for mode in trio_modes:
            r, fin = run_trio(frames, mode)
            rates.setdefault(f"trio_feeds {mode}", []).append(r)
            finals[f"trio_feeds {mode}"] = fin
        if peer is not None:
            for res in run_peer(peer, path):
                key = f"cryptofeed {res['mode']}"
                rates.setdefault(key, []).append(res["best"])
                finals[key] = res["final"]
                py = res["python"]
        print(
            f"round {rnd + 1}: "
            + ", ".join(f"{k} {v[-1]:,.0f}" for k, v in rates.items())
            + f"  | load{_uptime().split('load average')[-1]}",
            flush=True,
        )

    ref = finals["trio_feeds apply"]
    print(f"\nbest of {a.rounds} (updates/s):")
    for k, v in rates.items():
        ok = _same(ref, finals[k])
        print(f"  {k:<20} {max(v):>10,.0f}   final book {'matches' if ok else 'DIFFERS'}")
    if peer is None:
        return
    print(f"  (cryptofeed ran on Python {py})")
    best = {k: max(v) for k, v in rates.items()}
    tf, cf = best["trio_feeds top20"], best["cryptofeed noop"]
    print(
        "ratios:\n"
        f"  trio_feeds top20 / cryptofeed noop  = {tf / cf:.2f}x"
        "   (headline: trio_feeds also builds a top-20 Book; cryptofeed builds nothing extra)\n"
        f"  trio_feeds top20 / cryptofeed top20 = {tf / best['cryptofeed top20']:.2f}x"
        "   (both copy out the 20 best levels per update)\n"
        f"  trio_feeds apply / cryptofeed noop  = {best['trio_feeds apply'] / cf:.2f}x"
        "   (parse + apply only)\n"
        f"  trio_feeds keeper / cryptofeed noop = {best['trio_feeds keeper'] / cf:.2f}x"
    )
    print(f"uptime:{_uptime()}")


def _uptime() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True).stdout.rstrip()
    except OSError:
        return " n/a"


if __name__ == "__main__":
    main()
