"""Binance USD-M book updates/s: trio_feeds vs cryptofeed 3.0.1 (``BINANCE_FUTURES``) on the
same real frames.

    python bench/bench_usdm_book_vs_cryptofeed.py [--capture PATH] [--rounds 3] [--cpu N]

Frames: every ``depthUpdate`` of ``../shared/captures/binance_usdm_btcusdt_20240808.gz``
(BTCUSDT ``depth@0ms``, 6,551 diffs chained by ``pu``, often hundreds of levels each) and its
``/fapi/v1/depth`` snapshot (1,000 levels per side).  Both sides get the snapshot untimed,
then every diff, timed (those older than the snapshot are dropped by both, as Binance says):

* trio_feeds (this interpreter), per frame as the ``bytes`` the websocket layer hands over:
  ``apply`` = ``BinanceUsdmAdapter.parse`` -> ``BookDelta`` -> ``UsdmBookSync.on_delta``
  (``pu`` chain, apply to ``OrderBook``); ``top20`` = ``apply`` + a top-20 ``Book`` record
  per update (``sync.to_record``, what the feed emits with ``book_depth=20``): headline.
* cryptofeed (``--peer-python``): ``peer_cryptofeed_usdm_books.py`` drives
  ``BinanceFutures.message_handler`` with the same frames as ``str``: ``noop`` callback,
  and ``top20`` (copies the 20 best levels per side).

Rounds alternate the two (machine load hits both alike); best of ``--rounds``.  The final
books are cross-checked (last ``u``, 20 best levels per side).  Skips cryptofeed with a
message when ``--peer-python`` does not exist (see ``/work/shared/peers/compare.sh``).
"""

from __future__ import annotations

import argparse
import gc
import gzip
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

from trio_feeds.books.orderbook import SPEEDUPS, BookUpdated  # noqa: E402
from trio_feeds.exchanges.binance_usdm import BinanceUsdmAdapter, UsdmBookSync  # noqa: E402
from trio_feeds.exchanges.binance_usdm.snapshot import parse_depth_snapshot  # noqa: E402

CAPTURE = HERE.parents[1] / "shared/captures/binance_usdm_btcusdt_20240808.gz"
PEER = HERE / "peer_cryptofeed_usdm_books.py"
SYM = "BTC-USDT-PERP"
DEPTH = 20


def load(path: Path) -> tuple[list[bytes], bytes]:
    """The capture's depth diffs (in order) and its REST snapshot."""
    diffs: list[bytes] = []
    snapshot = b""
    with gzip.open(path) as f:
        for line in f:
            frame = line.strip().partition(b" ")[2]
            if b'"e":"depthUpdate"' in frame[:80]:
                diffs.append(frame)
            elif frame.startswith(b'{"lastUpdateId"'):
                snapshot = frame
    if not snapshot:
        raise SystemExit(f"{path}: no /fapi/v1/depth snapshot in the capture")
    return diffs, snapshot


def run_trio(diffs: list[bytes], snapshot: bytes, mode: str) -> tuple[float, dict[str, Any]]:
    adapter = BinanceUsdmAdapter()
    adapter.subscribe([adapter.subscription("book", SYM, stream="depth@0ms")])
    sync = UsdmBookSync(SYM)
    received_at = time.time()
    sync.on_snapshot(parse_depth_snapshot(snapshot, SYM, received_at))  # untimed
    parse = adapter.parse
    on_delta = sync.on_delta
    to_record = sync.to_record
    out: list[Any] = []
    last: Any = None
    gc.collect()
    t0 = time.perf_counter()
    if mode == "apply":
        for f in diffs:
            out.clear()
            parse(f, received_at, out)
            for r in out:
                on_delta(r)
    else:
        for f in diffs:
            out.clear()
            parse(f, received_at, out)
            for r in out:
                for o in on_delta(r):
                    if o.__class__ is BookUpdated:
                        last = to_record(o.timestamp, o.received_at, DEPTH)
    dt = time.perf_counter() - t0
    assert sync.synced, "the book must be in sync at the end of the capture"
    assert mode == "apply" or last is not None
    bids, asks = sync.book.top(DEPTH)
    final = {
        "seq": sync.book.sequence,
        "bids": [list(lv) for lv in bids],
        "asks": [list(lv) for lv in asks],
    }
    return len(diffs) / dt, final


def run_peer(python: str, frames: Path, snapshot: Path) -> list[dict[str, Any]]:
    cmd = [python, str(PEER), str(frames), str(snapshot), "--mode", "both", "--repeat", "1"]
    res = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if res.returncode != 0:
        raise RuntimeError(f"peer failed ({res.returncode}):\n{res.stderr[-2000:]}")
    return [json.loads(line[7:]) for line in res.stdout.splitlines() if line.startswith("RESULT ")]


def _same(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return a["seq"] == b["seq"] and a["bids"] == b["bids"] and a["asks"] == b["asks"]


def _uptime() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True).stdout.rstrip()
    except OSError:
        return " n/a"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--capture", type=Path, default=CAPTURE)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--peer-python", default="/tmp/peers/cf/bin/python")
    ap.add_argument("--no-peer", action="store_true")
    ap.add_argument("--cpu", type=int, default=None, help="pin both sides to this core")
    ap.add_argument("--work", type=Path, default=Path("/tmp/usdm_book_bench"))
    a = ap.parse_args()
    if a.cpu is not None:
        os.sched_setaffinity(0, {a.cpu})  # inherited by the peer process
    if not a.capture.exists():
        print(f"no capture at {a.capture}: nothing to compare (give --capture)")
        return
    diffs, snapshot = load(a.capture)
    levels = sum(f.count(b'","') for f in diffs) / len(diffs)
    a.work.mkdir(parents=True, exist_ok=True)
    frames_path, snap_path = a.work / "depth.jsonl", a.work / "snapshot.json"
    frames_path.write_bytes(b"\n".join(diffs) + b"\n")
    snap_path.write_bytes(snapshot)
    peer = None if a.no_peer else a.peer_python
    if peer is not None and not Path(peer).exists():
        print(f"cryptofeed skipped: {peer} not found (see /work/shared/peers/compare.sh)")
        peer = None
    print(
        f"frames: {a.capture.name}: {len(diffs):,} depth diffs, ~{levels:.0f} levels each, "
        f"1,000-level snapshot\ntrio_feeds: Python {sys.version.split()[0]}, book loops in "
        f"{'C' if SPEEDUPS else 'pure Python'}; uptime:{_uptime()}"
    )
    rates: dict[str, list[float]] = {}
    finals: dict[str, dict[str, Any]] = {}
    py = "?"
    for rnd in range(a.rounds):
        for mode in ("apply", "top20"):
            r, fin = run_trio(diffs, snapshot, mode)
            rates.setdefault(f"trio_feeds {mode}", []).append(r)
            finals[f"trio_feeds {mode}"] = fin
        if peer is not None:
            for res in run_peer(peer, frames_path, snap_path):
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
    best = {k: max(v) for k, v in rates.items()}
    print(
        f"  (cryptofeed ran on Python {py})\nratios:\n"
        f"  trio_feeds top20 / cryptofeed noop  = "
        f"{best['trio_feeds top20'] / best['cryptofeed noop']:.2f}x\n"
        f"  trio_feeds top20 / cryptofeed top20 = "
        f"{best['trio_feeds top20'] / best['cryptofeed top20']:.2f}x\n"
        f"  trio_feeds apply / cryptofeed noop  = "
        f"{best['trio_feeds apply'] / best['cryptofeed noop']:.2f}x"
    )
    print(f"uptime:{_uptime()}")


if __name__ == "__main__":
    main()
