"""One client WebSocket connection as a simulated exchange sees it (:class:`SimConnection`).

The WebSocket side is a small server on :mod:`wsproto` (the sans-I/O protocol that
trio-websocket itself is built on) rather than on trio-websocket's connection object, because
the simulator needs what a normal server hides: it must see every ping and pong (they count
against Binance's message budget), be able to *not* answer pings, keep the raw stream so a
connection can be cut without a close frame, and put garbage on the wire.
"""

from __future__ import annotations

import contextlib
import math
import socket
import struct
from typing import TYPE_CHECKING, ClassVar, Literal
from urllib.parse import parse_qs, unquote, urlsplit

import attrs
import trio
from wsproto import WSConnection
from wsproto.connection import ConnectionState
from wsproto.events import (
    BytesMessage,
    CloseConnection,
    Message,
    Ping,
    Pong,
    TextMessage,
)
from wsproto.utilities import LocalProtocolError, RemoteProtocolError

if TYPE_CHECKING:
    from trio_feeds.simulator.server import SimulatedExchange

__all__ = ["SimConnection"]

_DATA: Literal[0] = 0
_REPLY: Literal[1] = 1
_KEEPALIVE: Literal[2] = 2


@attrs.define
class _Out:
    kind: int
    text: str
    created: float


class SimConnection:
    """One client WebSocket connection, as the simulated server sees it.

    Counters (read them in tests): :attr:`messages_sent` (text frames sent: data and
    replies), :attr:`messages_received` (text/binary frames received),
    :attr:`pings_sent`/:attr:`pongs_received` (server WS pings and client WS pongs),
    :attr:`pings_received`/:attr:`pongs_sent` (client pings — WS control frames on Binance,
    text ``ping`` on OKX — and the server's answers), :attr:`subscriptions`.

    After the connection ends, :attr:`closed_at`, :attr:`close_code` (the code the server sent
    or received; ``None`` for an abrupt end), :attr:`close_reason` and :attr:`ended_by`
    (``"server"``, ``"client"``, ``"drop"``, ``"eof"``) say how.
    """

    _next_id: ClassVar[int] = 0

    def __init__(
        self,
        sim: SimulatedExchange,
        stream: trio.abc.Stream,
        ws: WSConnection,
        target: str,
        remote: str,
    ) -> None:
        SimConnection._next_id += 1
        self.id: int = SimConnection._next_id
        self.sim = sim
        split = urlsplit(target)
        #: URL path of the handshake request (percent-decoded).
        self.path: str = unquote(split.path)
        #: Query parameters of the handshake request (last value wins).
        self.query: dict[str, str] = {k: v[-1] for k, v in parse_qs(split.query).items()}
        self.target = target
        self.remote = remote
        self.opened_at: float = trio.current_time()
        self.closed_at: float | None = None
        self.close_code: int | None = None
        self.close_reason: str | None = None
        self.ended_by: str | None = None
        self.messages_sent = 0
        self.messages_received = 0
        self.pings_sent = 0
        self.pongs_received = 0
        self.pings_received = 0
        self.pongs_sent = 0
        self.last_received: float = self.opened_at
        #: Fault state (see the methods of :class:`SimulatedExchange`).
        self.silenced = False
        self.answer_pings = True
        self.pongs_stopped = False
        self.malformed_pending = 0
        self.latency: float | None = None
        self.gaps: dict[str, int] = {}
        self._subs: dict[str, None] = {}
        self._stream = stream
        self._ws = ws
        self._send_lock = trio.StrictFIFOLock()
        self._out_send, self._out_recv = trio.open_memory_channel[_Out](math.inf)
        self._scope = trio.CancelScope()
        self._nursery: trio.Nursery | None = None
        self._closing = False
        self._dropped = False
        self._peer_closed = trio.Event()
        self._pending_pings: dict[bytes, float] = {}
        self._ping_counter = 0
        #: Set when the connection has ended.
        self.closed = trio.Event()

    def __repr__(self) -> str:
        return f"<SimConnection #{self.id} {self.path} subs={len(self._subs)}>"

    @property
    def subscriptions(self) -> list[str]:
        """Current subscriptions, in order (Binance stream names; OKX ``"channel:instId"``)."""
        return list(self._subs)

    @property
    def is_open(self) -> bool:
        """True until the connection starts closing."""
        return not self._closing and not self.closed.is_set()

    @property
    def backlog(self) -> int:
        """Frames queued but not yet written."""
        return self._out_send.statistics().current_buffer_used

    # --- sending --------------------------------------------------------------------

    def send_data(self, text: str) -> None:
        """Queue a data frame (dropped while silenced)."""
        if self._closing or self.silenced:
            return
        self._out_send.send_nowait(_Out(_DATA, text, trio.current_time()))
        limit = self.sim.max_backlog
        if limit is not None and self.backlog > limit:
            self.sim._on_backlog(self)

    def send_reply(self, text: str) -> None:
        """Queue a reply to a client request (dropped while silenced)."""
        if self._closing or self.silenced:
            return
        self._out_send.send_nowait(_Out(_REPLY, text, trio.current_time()))

    def send_keepalive(self, text: str) -> None:
        """Queue a text keepalive answer (OKX ``pong``): sent even while silenced, unless
        pings are not answered (``silence(answer_pings=False)`` or ``stop_pongs``)."""
        if self._closing or not self.answer_pings or self.pongs_stopped:
            return
        self.pongs_sent += 1
        self._out_send.send_nowait(_Out(_KEEPALIVE, text, trio.current_time()))

    async def _send_bytes(self, data: bytes) -> None:
        try:
            async with self._send_lock:
                await self._stream.send_all(data)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            self._end("eof")

    async def send_ping(self, payload: bytes | None = None) -> bytes:
        """Send a WS ping control frame now and remember it until a matching pong arrives."""
        if payload is None:
            self._ping_counter += 1
            payload = b"%d" % (
                self.sim.market.to_ms(trio.current_time()) * 100 + self._ping_counter % 100
            )
        if self._ws.state is not ConnectionState.OPEN:
            return payload
        self._pending_pings[payload] = trio.current_time()
        self.pings_sent += 1
        await self._send_bytes(self._ws.send(Ping(payload=payload)))
        return payload

    def oldest_pending_ping(self) -> float | None:
        """Trio time of the oldest server ping not yet answered, or ``None``."""
        return min(self._pending_pings.values(), default=None)

    # --- closing --------------------------------------------------------------------

    def close(self, code: int = 1000, reason: str = "") -> None:
        """Start a clean close: send a close frame now, end after the client answers (or 2 s)."""
        if self._closing or self.closed.is_set():
            return
        self._closing = True
        if self._nursery is not None:
            self._nursery.start_soon(self._close_now, code, reason)
        else:
            self._scope.cancel()

    async def _close_now(self, code: int, reason: str) -> None:
        self.close_code = code
        self.close_reason = reason
        self.ended_by = "server"
        if self._ws.state is ConnectionState.OPEN:
            with contextlib.suppress(LocalProtocolError):
                await self._send_bytes(self._ws.send(CloseConnection(code=code, reason=reason)))
        with trio.move_on_after(self.sim.close_timeout):
            await self._peer_closed.wait()
        self._scope.cancel()

    def drop(self) -> None:
        """End the connection abruptly: no close frame (TCP: a reset)."""
        if self.closed.is_set():
            return
        self._dropped = True
        self._closing = True
        if self.ended_by is None:
            self.ended_by = "drop"
        self._scope.cancel()

    def _end(self, how: str) -> None:
        if self.ended_by is None:
            self.ended_by = how
        self._closing = True
        self._scope.cancel()

    # --- tasks ----------------------------------------------------------------------

    async def _run(self) -> None:
        try:
            with self._scope:
                async with trio.open_nursery() as nursery:
                    self._nursery = nursery
                    nursery.start_soon(self._reader)
                    nursery.start_soon(self._writer)
                    self.sim._connection_tasks(self, nursery)
                    self.sim._on_open(self)
        finally:
            self._closing = True
            self.closed_at = trio.current_time()
            self.sim._on_close(self)
            if self._dropped:
                linger_zero(self._stream)
            await trio.aclose_forcefully(self._stream)
            self.closed.set()

    async def _reader(self) -> None:
        ws = self._ws
        parts: list[str] = []
        size = 0
        while True:
            for event in ws.events():
                if isinstance(event, (TextMessage, BytesMessage)):
                    data = event.data
                    text = data if isinstance(data, str) else bytes(data).decode("utf-8", "replace")
                    parts.append(text)
                    size += len(text)
                    if size > self.sim.max_message_size:
                        self.close(1009, "message too big")
                        parts, size = [], 0
                        continue
                    if event.message_finished:
                        msg = "".join(parts)
                        parts, size = [], 0
                        self.messages_received += 1
                        self.last_received = trio.current_time()
                        if self.sim._count_incoming(self) and not self._closing:
                            self.sim._on_text(self, msg)
                elif isinstance(event, Ping):
                    self.pings_received += 1
                    self.last_received = trio.current_time()
                    if not self.sim._count_incoming(self):
                        continue
                    if (
                        self.answer_pings
                        and not self.pongs_stopped
                        and ws.state is ConnectionState.OPEN
                    ):
                        self.pongs_sent += 1
                        await self._send_bytes(ws.send(event.response()))
                elif isinstance(event, Pong):
                    self.pongs_received += 1
                    self.last_received = trio.current_time()
                    payload = bytes(event.payload)
                    if payload in self._pending_pings:
                        sent = self._pending_pings[payload]
                        for key in [k for k, t in self._pending_pings.items() if t <= sent]:
                            del self._pending_pings[key]
                    self.sim._count_incoming(self)
                elif isinstance(event, CloseConnection):
                    if ws.state is ConnectionState.REMOTE_CLOSING:
                        self.close_code = event.code
                        self.close_reason = event.reason
                        self.ended_by = "client"
                        self._closing = True
                        with contextlib.suppress(LocalProtocolError):
                            await self._send_bytes(ws.send(event.response()))
                        self._scope.cancel()
                        return
                    self._peer_closed.set()
                    return
            try:
                data = await self._stream.receive_some(65536)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                data = b""
            if not data:
                self._end("eof")
                return
            try:
                ws.receive_data(bytes(data))
            except RemoteProtocolError:
                self.close(1002, "protocol error")
                return

    async def _writer(self) -> None:
        out = self._out_recv
        async for item in out:
            latency = self.latency if self.latency is not None else self.sim._latency
            if latency > 0:
                await trio.sleep_until(item.created + latency)
            chunks: list[bytes] = []
            self._encode(item, chunks)
            if latency <= 0:
                # what is already queued goes out in one write, as a busy server's frames
                # share TCP segments: a whole-market simulation stays cheap
                for _ in range(_COALESCE - 1):
                    try:
                        self._encode(out.receive_nowait(), chunks)
                    except (trio.WouldBlock, trio.EndOfChannel):
                        break
            if chunks:
                await self._send_bytes(b"".join(chunks))

    def _encode(self, item: _Out, chunks: list[bytes]) -> None:
        if self._closing or self._ws.state is not ConnectionState.OPEN:
            return
        if self.silenced and item.kind != _KEEPALIVE:
            return
        text = item.text
        if item.kind == _DATA and self.malformed_pending > 0:
            self.malformed_pending -= 1
            text = _garble(text, self.malformed_pending)
        self.messages_sent += 1
        chunks.append(self._ws.send(Message(data=text)))


#: frames already queued that one write may carry
_COALESCE = 256


def linger_zero(stream: trio.abc.Stream) -> None:
    """Make closing this (TCP) stream send a reset instead of a clean FIN."""
    while isinstance(stream, trio.SSLStream):
        stream = stream.transport_stream
    if isinstance(stream, trio.SocketStream):
        with contextlib.suppress(OSError):
            stream.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


def _garble(text: str, n: int) -> str:
    if n % 2 == 0:
        return text[: max(1, len(text) // 2)]
    return "\x00garbage{" + text[::-1][:40]
