"""A loopback exchange that answers the subscribe protocol and then pushes pre-rendered frames.

Used by ``bench/bench_scale_load.py``: one process per exchange (``binance`` or ``okx``).
It speaks just enough WebSocket (RFC 6455, no extensions) and just enough of the exchange's
subscribe protocol (Binance ``SUBSCRIBE`` → ``{"result": null, "id": …}``; OKX
``{"op": "subscribe", "args": […]}`` → one ``{"event": "subscribe", "arg": …}`` per arg,
text ``ping`` → ``pong``) for trio_feeds to subscribe, then writes frames of the subscribed
streams round-robin at ``rate`` messages/s, with ×``burst`` for ``burst_ms`` every second.
Frames have the real shapes (Binance ``{"stream", "data": trade/bookTicker}``, OKX
``{"arg", "data": [trades/bbo-tbt]}``), increasing trade ids and update ids, and event times
= the wall-clock millisecond they are written, so receive − event time is real latency.
Frames are framed by hand and written to the socket in one ``write`` per connection per
tick: the load side costs a few µs per message, not the tens a full simulator spends.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import itertools
import struct
import time
from typing import Any

import orjson

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
TICK = 0.005


def _frame(payload: bytes, opcode: int = 1) -> bytes:
    n = len(payload)
    if n < 126:
        head = struct.pack("!BB", 0x80 | opcode, n)
    elif n < 65536:
        head = struct.pack("!BBH", 0x80 | opcode, 126, n)
    else:
        head = struct.pack("!BBQ", 0x80 | opcode, 127, n)
    return head + payload


class _Conn:
    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self.writer = writer
        self.streams: list[tuple[str, str]] = []  # (kind, key)
        self.out: list[bytes] = []


class LoadExchange:
    """One exchange's load: connections, their streams, the round-robin writer."""

    def __init__(self, name: str, rate: float, burst: float, burst_ms: float, shared: Any):
        self.name = name
        self.rate, self.burst, self.burst_ms = rate, burst, burst_ms
        self.shared = shared  # mp.Array('d', [subscribed streams, sent, cpu seconds, dropped])
        self.conns: list[_Conn] = []
        self.ids: dict[tuple[str, str], itertools.count[int]] = {}  # per stream
        self.sent = 0
        self.dropped = 0

    # -- WebSocket ----------------------------------------------------------------------
    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        key = b""
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"sec-websocket-key:"):
                key = line.split(b":", 1)[1].strip()
        accept = base64.b64encode(hashlib.sha1(key + _GUID).digest())
        writer.write(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n"
        )
        conn = _Conn(writer)
        self.conns.append(conn)
        try:
            while True:
                b0, b1 = await reader.readexactly(2)
                opcode, n = b0 & 0x0F, b1 & 0x7F
                if n == 126:
                    (n,) = struct.unpack("!H", await reader.readexactly(2))
                elif n == 127:
                    (n,) = struct.unpack("!Q", await reader.readexactly(8))
                mask = await reader.readexactly(4) if b1 & 0x80 else b"\0\0\0\0"
                raw = await reader.readexactly(n)
                data = bytes(c ^ mask[i % 4] for i, c in enumerate(raw))
                if opcode == 8:
                    writer.write(_frame(data[:2], 8))
                    break
                if opcode == 9:
                    writer.write(_frame(data, 10))
                elif opcode == 1:
                    self.on_text(conn, data)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self.conns.remove(conn)
            self.shared[0] -= len(conn.streams)
            writer.close()

    def on_text(self, conn: _Conn, data: bytes) -> None:
        if data == b"ping":
            conn.writer.write(_frame(b"pong"))
            return
        msg = orjson.loads(data)
        if self.name == "binance":
            if msg.get("method") == "SUBSCRIBE":
                for s in msg["params"]:
                    sym, _, kind = s.partition("@")
                    conn.streams.append((kind, sym))
                self.shared[0] += len(msg["params"])
            conn.writer.write(_frame(orjson.dumps({"result": None, "id": msg.get("id")})))
            return
        if msg.get("op") == "subscribe":
            for arg in msg["args"]:
                conn.streams.append((arg["channel"], arg["instId"]))
                reply: dict[str, Any] = {"event": "subscribe", "arg": arg, "connId": "ld"}
                if "id" in msg:
                    reply["id"] = msg["id"]
                conn.writer.write(_frame(orjson.dumps(reply)))
            self.shared[0] += len(msg["args"])

    # -- frames -------------------------------------------------------------------------
    def render(self, kind: str, key: str, ms: int) -> bytes:
        ids = self.ids.get((kind, key))
        if ids is None:
            ids = self.ids[kind, key] = itertools.count(1_000_000)
        t = next(ids)
        px = 100 + (t % 50) / 100
        if self.name == "binance":
            if kind == "trade":
                s = (
                    f'{{"stream":"{key}@trade","data":{{"e":"trade","E":{ms},"s":"{key.upper()}",'
                    f'"t":{t},"p":"{px:.2f}","q":"0.{t % 997 + 1:03d}","T":{ms},'
                    f'"m":{"true" if t & 1 else "false"},"M":true}}}}'
                )
            else:
                s = (
                    f'{{"stream":"{key}@bookTicker","data":{{"u":{t},'
                    f'"s":"{key.upper()}","b":"{px:.2f}","B":"1.{t % 97:02d}",'
                    f'"a":"{px + 0.01:.2f}","A":"2.{t % 89:02d}"}}}}'
                )
        elif kind == "trades":
            s = (
                f'{{"arg":{{"channel":"trades","instId":"{key}"}},"data":[{{"instId":"{key}",'
                f'"tradeId":"{t}","px":"{px:.2f}","sz":"0.{t % 997 + 1:03d}",'
                f'"side":"{"buy" if t & 1 else "sell"}","ts":"{ms}","count":"1"}}]}}'
            )
        else:
            s = (
                f'{{"arg":{{"channel":"bbo-tbt","instId":"{key}"}},"data":[{{"asks":'
                f'[["{px + 0.01:.2f}","2.{t % 89:02d}","0","1"]],"bids":[["{px:.2f}",'
                f'"1.{t % 97:02d}","0","2"]],"ts":"{ms}","seqId":{t}}}]}}'
            )
        return _frame(s.encode())

    async def pump(self) -> None:
        t0 = last = time.monotonic()
        owed = 0.0
        cursor = 0
        while True:
            await asyncio.sleep(TICK)
            now = time.monotonic()
            in_burst = (now - t0) % 1.0 < self.burst_ms / 1000
            owed += (now - last) * self.rate * (self.burst if in_burst else 1.0)
            last = now
            streams = [(c, k, key) for c in self.conns for k, key in c.streams]
            if not streams:
                owed = 0.0
                continue
            n = int(owed)
            owed -= n
            ms = int(time.time() * 1000)
            for i in range(n):
                c, k, key = streams[(cursor + i) % len(streams)]
                c.out.append(self.render(k, key, ms))
            cursor = (cursor + n) % len(streams)
            for c in self.conns:
                if c.out:
                    if c.writer.transport.get_write_buffer_size() > 8 << 20:
                        self.dropped += len(c.out)  # the client is not reading
                    else:
                        c.writer.write(b"".join(c.out))
                        self.sent += len(c.out)
                    c.out.clear()
            self.shared[1] = self.sent
            self.shared[2] = time.process_time()
            self.shared[3] = self.dropped


async def _main(name: str, port: int, rate: float, burst: float, burst_ms: float, shared: Any):
    ex = LoadExchange(name, rate, burst, burst_ms, shared)
    server = await asyncio.start_server(ex.handle, "127.0.0.1", port, limit=1 << 22)
    async with server:
        await ex.pump()


def serve(name: str, port: int, rate: float, burst: float, burst_ms: float, shared: Any) -> None:
    """Run one exchange's load server until killed (a ``multiprocessing`` target)."""
    asyncio.run(_main(name, port, rate, burst, burst_ms, shared))
