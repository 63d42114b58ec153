"""Bybit and Coinbase parse speed: trio_feeds' adapters vs cryptofeed 3.0.1, same frames.

    python bench/bench_parse_vs_cryptofeed.py [--frames 50000] [--repeat 3]
        [--peer-python /tmp/peers/cf/bin/python]

Frames come from ``bench_parse_bybit.py`` / ``bench_parse_coinbase.py`` (the wire shapes
of the two exchanges), written to a temporary file.  trio_feeds parses them with its
adapter (records built, batches of 100); cryptofeed with its feed's ``message_handler``
and a no-op callback (``peer_cryptofeed_parse.py``, in its own Python).  Frames/s, one
record per frame on both sides.

Channels where cryptofeed has the stream: Bybit ``publicTrade``, ``tickers`` (linear
deltas), ``orderbook`` deltas, ``kline``; Coinbase ``market_trades``, ``ticker``,
``l2_data`` updates, ``candles``.  For books cryptofeed also keeps the book (its handler
does both); trio_feeds' row is the parse alone (its book upkeep: ``bench_book.py``).
Skips cryptofeed with a message when ``--peer-python`` does not exist (see
``/work/shared/peers/compare.sh``, which builds that environment).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import bench_parse_bybit as by  # noqa: E402
import bench_parse_coinbase as cb  # noqa: E402

PEER = HERE / "peer_cryptofeed_parse.py"


def ours(exchange: str, channel: str, frames: list[bytes], repeat: int) -> float:
    if exchange == "bybit":
        symbol = "BTC-USDT-PERP" if channel in ("trade", "ticker") else "BTC-USDT"
        t, _ = by.measure(frames, repeat, channel, symbol)
    else:
        t, _ = cb.measure(frames, repeat, channel)
    return len(frames) / t


def peer(python: str, exchange: str, channel: str, frames: list[bytes], repeat: int) -> float:
    with tempfile.NamedTemporaryFile("wb", suffix=".jsonl", delete=False) as f:
        for frame in frames:
            f.write(frame + b"\n")
        path = f.name
    try:
        out = subprocess.run(
            [python, str(PEER), exchange, channel, path, "--repeat", str(repeat)],
            check=True, capture_output=True, text=True,
        ).stdout  # fmt: skip
    finally:
        Path(path).unlink()
    res = json.loads(next(line for line in out.splitlines() if line.startswith("RESULT "))[7:])
    return float(res["frames"]) / float(res["seconds"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=50_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--peer-python", default="/tmp/peers/cf/bin/python")
    a = ap.parse_args()
    n = a.frames
    have_peer = Path(a.peer_python).exists()
    if not have_peer:
        print(f"cryptofeed skipped: {a.peer_python} not found (see /work/shared/peers/compare.sh)")
    cases = [
        ("bybit", "publicTrade", "trade", "trades", by.trades(n)),
        ("bybit", "tickers (linear deltas)", "ticker", "ticker", by.tickers(n)),
        ("bybit", "orderbook.50 delta ~25 lv", "book", "book", by.book(n)),
        ("bybit", "kline.1", "candle", "candles", by.klines(n)),
        ("coinbase", "market_trades", "trade", "trades", cb.trades(n)),
        ("coinbase", "ticker", "ticker", "ticker", cb.tickers(n)),
        ("coinbase", "l2_data update 25 lv", "book", "book", cb.level2(n)),
        ("coinbase", "candles", "candle", "candles", cb.candles(n)),
    ]
    print(f"{n:,} frames per channel, best of {a.repeat}; frames/s (one record per frame)")
    print(f"{'exchange':9s} {'channel':28s} {'trio_feeds':>12s} {'cryptofeed':>12s} {'ratio':>6s}")
    for exchange, label, channel, cf_channel, frames in cases:
        if cf_channel == "book" and exchange == "bybit":
            snap = json.loads(frames[0])
            snap["type"] = "snapshot"
            frames = [json.dumps(snap).encode(), *frames]
        if cf_channel == "book" and exchange == "coinbase":
            msgs = [json.loads(f) for f in frames]
            snap = json.loads(frames[0])
            snap["events"][0]["type"] = "snapshot"
            for i, m in enumerate(msgs):  # the snapshot takes sequence_num 0
                m["sequence_num"] = snap["sequence_num"] + 1 + i
            frames = [json.dumps(m).encode() for m in (snap, *msgs)]
        mine = ours(exchange, channel, frames, a.repeat)
        theirs = peer(a.peer_python, exchange, cf_channel, frames, a.repeat) if have_peer else 0.0
        ratio = f"{mine / theirs:5.1f}x" if theirs else "  -"
        print(f"{exchange:9s} {label:28s} {mine:12,.0f} {theirs:12,.0f} {ratio:>6s}")


if __name__ == "__main__":
    main()
