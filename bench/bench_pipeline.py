"""The receive pipeline without sockets, stage by stage, for load-independent comparisons.

    python bench/bench_pipeline.py [--frames FILE] [-n 300000] [--stage STAGE]
    valgrind --tool=callgrind --callgrind-out-file=/dev/null \\
        python bench/bench_pipeline.py -n 50000 --stage feed      # instructions

The same real Binance BTCUSDT ``bookTicker`` frames as ``bench/bench_breakdown.py``,
pre-framed and handed over in 256 KiB reads by an in-memory stream (no kernel, no
other process), through cumulative stages:

``cut``     the WebSocket receive path: frames cut out of each read
``parse``   + the adapter's ``parse_many`` of each read's frames
``feed``    + everything else: ``open_feed`` over that stream (the session's receive loop,
            dedupe, freshness, the aggregator, the consumer's buffer) and the consumer
            loop of ``bench/e2e_client.py``

Prints ns per record (best of ``--rounds``).  Under valgrind the machine's load does not
matter: the instruction counts of two runs with different ``-n`` (say 10,000 and 30,000,
both with ``--prepare 30000``), their difference divided by the difference of ``n``, is
what a record costs up to that stage (startup and imports cancel out).  Add ``--no-yield``
for ``feed`` under valgrind: the consumer's buffer yields to the other tasks after 2 ms of
its own time, which valgrind stretches fiftyfold.
"""

from __future__ import annotations

import argparse
import ssl
import sys
import time
from pathlib import Path
from typing import Any

import trio
from websockets.client import ClientProtocol
from websockets.protocol import State
from websockets.uri import parse_uri

import trio_feeds
from trio_feeds.engine.transport import Connection
from trio_feeds.engine.ws import READ_SIZE, WebSocket
from trio_feeds.protocol import get_adapter

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_breakdown import load_frames, ws_frame


def reads_of(frames: list[bytes], n: int) -> list[bytes]:
    """``n`` frames (cycled), framed, in 256 KiB reads, then a close frame."""
    block = b"".join(ws_frame(f) for f in frames)
    whole, rest = divmod(n, len(frames))
    data = block * whole + b"".join(ws_frame(f) for f in frames[:rest])
    data += bytes([0x88, 2]) + (1000).to_bytes(2, "big")
    return [data[i : i + READ_SIZE] for i in range(0, len(data), READ_SIZE)]


class MemoryStream(trio.abc.Stream):
    """Hands out the given reads, one per ``receive_some``, then EOF."""

    def __init__(self, reads: list[bytes]) -> None:
        self._reads = iter(reads)

    async def receive_some(self, max_bytes: int | None = None) -> bytes:
        await trio.lowlevel.checkpoint()
        return next(self._reads, b"")

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        await trio.lowlevel.checkpoint()

    async def wait_send_all_might_not_block(self) -> None:
        await trio.lowlevel.checkpoint()

    async def aclose(self) -> None:
        await trio.lowlevel.checkpoint()


def websocket(reads: list[bytes]) -> WebSocket:
    protocol = ClientProtocol(parse_uri("ws://127.0.0.1/stream"), state=State.OPEN)
    return WebSocket(MemoryStream(reads), protocol, "ws://127.0.0.1/stream")


class MemoryTransport:
    """``open_feed(transport=...)``: one connection over :class:`MemoryStream`."""

    name = "memory"

    def __init__(self, reads: list[bytes]) -> None:
        self.reads = reads

    async def connect(
        self,
        url: str,
        connector: Any,
        *,
        ssl_context: ssl.SSLContext | None,
        progress: Any,
        nursery: trio.Nursery,
    ) -> Connection:
        return websocket(self.reads)


async def cut(reads: list[bytes], n: int) -> int:
    ws = websocket(reads)
    got = 0
    while got < n:
        got += len(await ws.receive_batch())
    return got


async def parse(reads: list[bytes], n: int) -> int:
    ws = websocket(reads)
    adapter = get_adapter("binance")()
    adapter.subscribe([adapter.subscription("quote", "BTC-USDT")])
    got = 0
    while got < n:
        got += len(adapter.parse_many(await ws.receive_batch(), time.time()))
    return got


async def feed(reads: list[bytes], n: int) -> int:
    count = 0
    if n == 0:
        return 0
    async with trio_feeds.open_feed(
        ["binance"],
        ["BTC-USDT"],
        ["quote"],
        urls={"binance": "ws://127.0.0.1:9"},
        transport=MemoryTransport(reads),
    ) as f:
        async for record in f:
            if record.kind != "quote":
                continue
            count += 1
            if count >= n:
                break
    return count


STAGES = {"cut": cut, "parse": parse, "feed": feed}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", help="one frame per line (default: the capture)")
    parser.add_argument("-n", type=int, default=300_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--stage", choices=[*STAGES, "all"], default="all")
    parser.add_argument(
        "--prepare", type=int, default=0, help="frames to prepare (>= n: same setup for any n)"
    )
    parser.add_argument(
        "--no-yield",
        action="store_true",
        help="the consumer never yields on time (for valgrind, which slows the clock's view)",
    )
    args = parser.parse_args()
    if args.no_yield:
        from trio_feeds.feed import buffer, running

        for module in (buffer, running):
            if hasattr(module, "YIELD_AFTER"):
                module.YIELD_AFTER = float("inf")  # type: ignore[attr-defined]
    frames = load_frames(args.frames)
    reads = reads_of(frames, max(args.n, args.prepare))
    stages = list(STAGES) if args.stage == "all" else [args.stage]
    results = {}
    for name in stages:
        best = float("inf")
        for _ in range(args.rounds):
            t = time.perf_counter_ns()
            got = trio.run(STAGES[name], reads, args.n)
            best = min(best, time.perf_counter_ns() - t)
            assert got >= args.n, (name, got)
        results[name] = best / max(args.n, 1)
    prev = 0.0
    for name, ns in results.items():
        print(f"{name:<6} {ns:8.0f} ns/record cumulative   {ns - prev:8.0f} this stage")
        prev = ns


if __name__ == "__main__":
    main()
