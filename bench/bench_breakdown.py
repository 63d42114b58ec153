"""Where the time per record goes, end to end on one connection (issue 17).

    python bench/bench_breakdown.py [--frames FILE] [-n 300000] [--rounds 3]

Serves ``-n`` real Binance BTCUSDT ``bookTicker`` frames (the 2024-08-08 capture, one
frame per line, as ``../shared/peers/compare.sh`` extracts it to ``/tmp/peers``) from a
server process on loopback that sends them pre-framed, and runs ``open_feed`` with the
consumer of ``bench/e2e_client.py`` against it.  Two measurements per round:

1. **In the run**, a trio :class:`~trio.abc.Instrument` adds up the time of every task step
   between the first record the consumer gets and the last: the connection's reader task
   (socket read, frame cutting, parsing, the session's bookkeeping), the aggregator task
   (failover policy, the consumer's buffer), the consumer task (``async for`` and its loop
   body), the other tasks, and trio's scheduler and I/O polls (what is left of the wall
   time).  Frame cutting is timed inside the reader (one timer per socket read).
2. **Alone** (no I/O, same frames, same batch sizes as the reads of the run): cutting
   frames out of 256 KiB reads, and the adapter's parse of each batch.  The reader's
   "engine" share is the reader task minus frame cutting minus parsing.

Prints ns per record per stage, the median of ``--rounds`` rounds.  Run A/B comparisons
interleaved (see ``docs/performance.md``): the machine's load moves every figure.
"""

from __future__ import annotations

import argparse
import gzip
import multiprocessing
import os
import socket
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import trio

import trio_feeds
from trio_feeds.engine import ws as ws_module
from trio_feeds.engine.ws import READ_SIZE
from trio_feeds.protocol import get_adapter

ROOT = Path(__file__).resolve().parent.parent
CAPTURE = ROOT.parent / "shared/captures/binance_spot_btcusdt_20240808.gz"
EXTRACTED = Path("/tmp/peers/bookticker.txt")


def load_frames(path: str | None) -> list[bytes]:
    """The ``bookTicker`` frames: a file of one frame per line, or the capture itself."""
    if path is None and EXTRACTED.exists():
        path = str(EXTRACTED)
    if path is not None:
        return [line.rstrip(b"\n") for line in open(path, "rb") if line.strip()]
    if not CAPTURE.exists():  # a user's clone has no captures: nothing to measure
        print(f"no frames: pass --frames FILE (one frame per line) or provide {CAPTURE}")
        sys.exit(0)
    frames = []
    with gzip.open(CAPTURE, "rb") as f:
        for line in f:
            payload = line.rstrip(b"\n").split(b" ", 1)[1]
            if b'"stream":"btcusdt@bookTicker"' in payload:
                frames.append(payload)
    return frames


def ws_frame(payload: bytes) -> bytes:
    n = len(payload)
    if n < 126:
        return bytes([0x81, n]) + payload
    if n < 65536:
        return bytes([0x81, 126]) + n.to_bytes(2, "big") + payload
    return bytes([0x81, 127]) + n.to_bytes(8, "big") + payload


def serve(listener: socket.socket, frames: list[bytes], n: int, rounds: int) -> None:
    """The blast server (``../shared/peers/blast_server.py``): handshake, N frames, close."""
    import base64
    import hashlib

    block = b"".join(ws_frame(f) for f in frames)
    guid = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
    for _ in range(rounds):
        conn, _ = listener.accept()
        try:
            request = b""
            while b"\r\n\r\n" not in request:
                request += conn.recv(4096)
            key = next(
                line.split(b":", 1)[1].strip()
                for line in request.split(b"\r\n")
                if line.lower().startswith(b"sec-websocket-key")
            )
            accept = base64.b64encode(hashlib.sha1(key + guid).digest())
            conn.sendall(
                b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n"
            )
            sent = 0
            while sent < n:
                if n - sent >= len(frames):
                    conn.sendall(block)
                    sent += len(frames)
                else:
                    conn.sendall(b"".join(ws_frame(f) for f in frames[: n - sent]))
                    sent = n
            conn.sendall(bytes([0x88, 2]) + (1000).to_bytes(2, "big"))
            conn.settimeout(3)
            while conn.recv(65536):
                pass
        except OSError:
            pass
        finally:
            conn.close()


class Steps(trio.abc.Instrument):
    """Time of every task step, by task, while ``on``."""

    def __init__(self) -> None:
        self.on = False
        self.by_task: dict[str, int] = defaultdict(int)
        self.io_wait = 0
        self._t = 0
        self._w = 0

    def before_task_step(self, task: trio.lowlevel.Task) -> None:
        self._t = time.perf_counter_ns()

    def after_task_step(self, task: trio.lowlevel.Task) -> None:
        if self.on:
            self.by_task[_stage_of(task.name)] += time.perf_counter_ns() - self._t

    def before_io_wait(self, timeout: float) -> None:
        self._w = time.perf_counter_ns()

    def after_io_wait(self, timeout: float) -> None:
        if self.on:
            self.io_wait += time.perf_counter_ns() - self._w


def _stage_of(name: str) -> str:
    if name.endswith("_Session.read"):
        return "reader"
    if name.endswith("Feed._aggregate"):
        return "aggregator"
    if name.endswith("run_once"):
        return "consumer"
    return "other tasks"


async def run_once(port: int, n: int, steps: Steps, cut: list[int], reads: list[int]) -> float:
    count = 0
    t0 = 0.0
    async with trio_feeds.open_feed(
        ["binance"], ["BTC-USDT"], ["quote"], urls={"binance": f"ws://127.0.0.1:{port}"}
    ) as feed:
        async for record in feed:
            if record.kind != "quote":
                continue
            if count == 0:
                t0 = time.perf_counter()
                steps.on = True
                cut.clear()
                reads.clear()
            count += 1
            if count >= n:
                break
        steps.on = False
    return time.perf_counter() - t0


def in_run(port: int, n: int) -> tuple[dict[str, float], list[int]]:
    steps = Steps()
    cut: list[int] = []  # ns spent cutting frames, per socket read
    reads: list[int] = []  # data frames per socket read
    absorb = ws_module.WebSocket._absorb

    def timed_absorb(self: Any, data: Any) -> list[Any]:
        t = time.perf_counter_ns()
        out = absorb(self, data)
        cut.append(time.perf_counter_ns() - t)
        reads.append(len(out))
        return out

    ws_module.WebSocket._absorb = timed_absorb  # type: ignore[method-assign]
    try:
        wall = trio.run(run_once, port, n, steps, cut, reads, instruments=[steps])
    finally:
        ws_module.WebSocket._absorb = absorb  # type: ignore[method-assign]
    tasks = dict(steps.by_task)
    result = {f"task: {k}": v / n for k, v in tasks.items()}
    result["frame cutting (in the reader)"] = sum(cut) / n
    result["trio scheduler + epoll"] = (wall * 1e9 - sum(tasks.values())) / n
    result["io wait (in scheduler)"] = steps.io_wait / n
    result["wall"] = wall * 1e9 / n
    return result, reads


def alone(frames: list[bytes], batch: int) -> dict[str, float]:
    """Frame cutting and parsing alone, best of 5, ns per frame."""
    from websockets.client import ClientProtocol
    from websockets.protocol import State
    from websockets.uri import parse_uri

    stream = b"".join(ws_frame(f) for f in frames)
    stream = stream * max(1, 300_000 // len(frames))
    chunks = [stream[i : i + READ_SIZE] for i in range(0, len(stream), READ_SIZE)]

    def websocket() -> ws_module.WebSocket:
        protocol = ClientProtocol(parse_uri("ws://127.0.0.1/stream"))
        protocol.state = State.OPEN
        return ws_module.WebSocket(None, protocol, "ws://127.0.0.1/stream")  # type: ignore[arg-type]

    best_cut = best_parse = float("inf")
    batches: list[list[Any]] = []
    total = 0
    for _ in range(5):
        ws = websocket()
        t = time.perf_counter_ns()
        batches = [ws._absorb(c) for c in chunks]
        best_cut = min(best_cut, time.perf_counter_ns() - t)
    total = sum(map(len, batches))
    flat = [f for b in batches for f in b]
    batches = [flat[i : i + batch] for i in range(0, len(flat), batch)]
    adapter = get_adapter("binance")()
    adapter.subscribe([adapter.subscription("quote", "BTC-USDT")])
    parse_batch = getattr(adapter, "parse_batch", None)
    for _ in range(5):
        t = time.perf_counter_ns()
        for b in batches:
            out: list[Any] = []
            if parse_batch is not None:
                parse_batch(b, 1.0, out)
            else:
                parse = adapter.parse
                for frame in b:
                    parse(frame, 1.0, out)
        best_parse = min(best_parse, time.perf_counter_ns() - t)
    return {"frame cutting": best_cut / total, "parse": best_parse / total}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", help="one frame per line (default: the capture)")
    parser.add_argument("-n", type=int, default=300_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    frames = load_frames(args.frames)
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)
    port = listener.getsockname()[1]
    server = multiprocessing.get_context("fork").Process(
        target=serve, args=(listener, frames, args.n, args.rounds), daemon=True
    )
    server.start()
    runs: list[dict[str, float]] = []
    sizes: list[int] = []
    for _ in range(args.rounds):
        result, reads = in_run(port, args.n)
        sizes += reads
        batch = int(statistics.mean(reads)) if reads else 1700
        result.update({f"alone: {k}": v for k, v in alone(frames, batch).items()})
        runs.append(result)
    server.join(timeout=10)
    med = {k: statistics.median(r.get(k, 0.0) for r in runs) for k in runs[0]}
    reader = med.get("task: reader", 0.0)
    cut = med["frame cutting (in the reader)"]
    parse = med["alone: parse"]
    rows = [
        ("WebSocket frame cutting", cut),
        ("parse (adapter, measured alone)", parse),
        ("engine: rest of the reader task (+ recv)", reader - cut - parse),
        ("aggregator task (policy + buffer put)", med.get("task: aggregator", 0.0)),
        ("consumer task (async for + loop body)", med.get("task: consumer", 0.0)),
        ("other tasks", med.get("task: other tasks", 0.0)),
        ("trio scheduler + epoll", med["trio scheduler + epoll"]),
    ]
    wall = med["wall"]
    print(
        f"{args.n} bookTicker records, {args.rounds} rounds (median), "
        f"{statistics.mean(sizes):.0f} frames per socket read, "
        f"load average {os.getloadavg()[0]:.2f}"
    )
    print(f"{'stage':<42} {'ns/record':>10} {'share':>7}")
    for name, ns in rows:
        print(f"{name:<42} {ns:>10.0f} {ns / wall:>7.1%}")
    print(f"{'wall (end to end)':<42} {wall:>10.0f} {'':>7}  = {1e9 / wall:,.0f} records/s")
    print(f"(frame cutting alone, no I/O: {med['alone: frame cutting']:.0f} ns/frame)")


if __name__ == "__main__":
    main()
