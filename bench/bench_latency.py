"""Added latency from a loopback server's send to the consumer's receipt.

    python bench/bench_latency.py [RATE] [SECONDS]

A separate server process sends Binance bookTicker frames at RATE msgs/s
(default 10,000), each stamped with its send time (``time.time_ns()``, in the
``u`` field).  The consumer (``open_feed`` → ``async for``) computes
receipt time − send time per Quote and prints p50/p90/p99/max.
"""

from __future__ import annotations

import base64
import hashlib
import multiprocessing as mp
import socket
import statistics
import struct
import sys
import time

import trio

import trio_feeds

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def _frame(payload: bytes) -> bytes:
    n = len(payload)
    header = bytes([0x81, n]) if n < 126 else bytes([0x81, 126]) + struct.pack("!H", n)
    return header + payload


def serve(port_q: mp.Queue, rate: float, seconds: float) -> None:  # type: ignore[type-arg]
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    port_q.put(srv.getsockname()[1])
    conn, _ = srv.accept()
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    req = b""
    while b"\r\n\r\n" not in req:
        req += conn.recv(4096)
    key = next(
        ln.split(b":", 1)[1].strip()
        for ln in req.split(b"\r\n")
        if ln.lower().startswith(b"sec-websocket-key")
    )
    accept = base64.b64encode(hashlib.sha1(key + GUID).digest())
    conn.sendall(
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
        b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n"
    )
    conn.setblocking(False)
    interval = 1.0 / rate
    start = time.perf_counter()
    n = int(rate * seconds)
    for i in range(n):
        target = start + i * interval
        while time.perf_counter() < target:
            pass
        payload = (
            b'{"stream":"btcusdt@bookTicker","data":{"u":%d,"s":"BTCUSDT",'
            b'"b":"61234.12000000","B":"1.50000000","a":"61234.13000000","A":"0.25000000"}}'
            % time.time_ns()
        )
        try:
            conn.sendall(_frame(payload))
        except BlockingIOError:
            conn.setblocking(True)
            conn.sendall(_frame(payload))
            conn.setblocking(False)
        try:
            conn.recv(65536)  # drain the client's subscribe/pings
        except (BlockingIOError, OSError):
            pass
    conn.setblocking(True)
    conn.sendall(bytes([0x88, 2]) + struct.pack("!H", 1000))
    time.sleep(0.5)
    conn.close()


async def consume(port: int, expected: int) -> list[float]:
    lat: list[float] = []
    async with trio_feeds.open_feed(
        ["binance"],
        ["BTC-USDT"],
        ["quote"],
        urls={"binance": f"ws://127.0.0.1:{port}"},
        max_reconnect_attempts=0,
    ) as feed:
        with trio.move_on_after(expected / 1000 + 30):
            async for q in feed:
                if q.kind != "quote":
                    continue
                lat.append((time.time_ns() - q.sequence) / 1e6)
                if len(lat) >= expected:
                    break
    return lat


def main() -> None:
    rate = float(sys.argv[1]) if len(sys.argv) > 1 else 10_000.0
    seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 5.0
    q: mp.Queue = mp.Queue()  # type: ignore[type-arg]
    proc = mp.Process(target=serve, args=(q, rate, seconds))
    proc.start()
    port = q.get()
    lat = trio.run(consume, port, int(rate * seconds))
    proc.join(5)
    warm = lat[len(lat) // 10 :]  # skip the first 10 % (connection warm-up)
    warm.sort()

    def pct(p: float) -> float:
        return warm[min(len(warm) - 1, int(p * len(warm)))]

    print(
        f"send→consumer latency at {rate:,.0f} msg/s over {len(lat):,} quotes: "
        f"p50 {pct(0.5):.3f} ms, p90 {pct(0.9):.3f} ms, p99 {pct(0.99):.3f} ms, "
        f"max {warm[-1]:.3f} ms, mean {statistics.fmean(warm):.3f} ms"
    )


if __name__ == "__main__":
    main()
