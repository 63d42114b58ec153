"""Plumbing shared by the simulated exchanges: WebSocket connections, HTTP, faults, counters.

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
import ssl
import struct
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any, ClassVar, Literal
from urllib.parse import parse_qs, unquote, urlsplit

import attrs
import h11
import httpx
import orjson
import trio
import trio.testing
from wsproto import ConnectionType, WSConnection
from wsproto.connection import ConnectionState
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Message,
    Ping,
    Pong,
    RejectConnection,
    RejectData,
    Request,
    TextMessage,
)
from wsproto.utilities import LocalProtocolError, RemoteProtocolError

from trio_feeds.engine.ws import start_tls
from trio_feeds.simulator.market import MarketSimulator, MarketTick
from trio_feeds.simulator.tls import TLS_FAULTS, TestPKI

if TYPE_CHECKING:
    from typing import Self

__all__ = [
    "ConnectionAttempt",
    "RestRequest",
    "SimConnection",
    "SimulatedExchange",
    "Violation",
]

_DATA: Literal[0] = 0
_REPLY: Literal[1] = 1
_KEEPALIVE: Literal[2] = 2


@attrs.frozen
class ConnectionAttempt:
    """One incoming WebSocket connection attempt.

    ``outcome`` is ``"accepted"``, ``"refused"`` (fault: closed before the handshake),
    ``"rejected"`` (handshake answered with an HTTP error; ``status`` says which),
    ``"failed"`` (the client went away or sent garbage during the handshake) or
    ``"tls_failed"`` (a TLS fault was injected, ``detail`` names it; or the TLS handshake
    failed, ``detail`` says how).
    """

    time: float
    remote: str
    path: str
    outcome: str
    status: int | None = None
    detail: str = ""


@attrs.frozen
class Violation:
    """A broken exchange rule: ``kind`` is e.g. ``"message_rate"``, ``"connection_rate"``,
    ``"subscribe_rate"``, ``"pong_timeout"``, ``"too_many_streams"``.  ``connection`` is
    the :attr:`SimConnection.id` when it concerns one connection."""

    time: float
    kind: str
    connection: int | None
    detail: str = ""


@attrs.frozen
class RestRequest:
    """A REST request served: trio ``time``, ``method``, ``path``, decoded ``query``, ``status``."""

    time: float
    method: str
    path: str
    query: dict[str, str]
    status: int


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
                _linger_zero(self._stream)
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
        async for item in self._out_recv:
            latency = self.latency if self.latency is not None else self.sim._latency
            if latency > 0:
                await trio.sleep_until(item.created + latency)
            if self._closing or self._ws.state is not ConnectionState.OPEN:
                continue
            if self.silenced and item.kind != _KEEPALIVE:
                continue
            text = item.text
            if item.kind == _DATA and self.malformed_pending > 0:
                self.malformed_pending -= 1
                text = _garble(text, self.malformed_pending)
            self.messages_sent += 1
            await self._send_bytes(self._ws.send(Message(data=text)))


def _linger_zero(stream: trio.abc.Stream) -> None:
    """Make closing this (TCP) stream send a reset instead of a clean FIN."""
    while isinstance(stream, trio.SSLStream):
        stream = stream.transport_stream
    if isinstance(stream, trio.SocketStream):
        with contextlib.suppress(OSError):
            stream.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


def _netloc(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _garble(text: str, n: int) -> str:
    if n % 2 == 0:
        return text[: max(1, len(text) // 2)]
    return "\x00garbage{" + text[::-1][:40]


async def _next_h11_event(stream: trio.abc.Stream, conn: h11.Connection) -> Any:
    while True:
        event = conn.next_event()
        if event is h11.NEED_DATA:
            conn.receive_data(bytes(await stream.receive_some(65536)))
            continue
        return event


RestResult = tuple[int, list[tuple[str, str]], bytes]


class SimulatedExchange:
    """Base class of the exchange simulators: serving, connection bookkeeping, faults.

    A simulator serves WebSocket clients (over loopback TCP or in-memory streams) and a
    REST endpoint, and pushes market data from a :class:`MarketSimulator` to subscribed
    connections.  Counters for tests: :attr:`connections` (open ones),
    :attr:`all_connections`, :attr:`connection_log` (every attempt), :attr:`violations`,
    :attr:`rest_log`.

    Fault methods act on every open connection, or on the one given as ``connection``.
    """

    #: Short exchange name ("binance", "okx").
    name: ClassVar[str] = "exchange"
    #: Hosts used for URLs in memory mode.
    memory_host: ClassVar[str] = "exchange.invalid"
    memory_port: ClassVar[int] = 443
    memory_rest_host: ClassVar[str] = "api.exchange.invalid"

    def __init__(
        self,
        market: MarketSimulator,
        *,
        host: str = "127.0.0.1",
        max_message_size: int = 1 << 20,
        max_backlog: int | None = 100_000,
        close_timeout: float = 2.0,
        handshake_timeout: float = 10.0,
        tls: bool | TestPKI = False,
    ) -> None:
        self.market = market
        #: the test certificate authority (``tls=True``), else None
        self.pki: TestPKI | None = (
            tls if isinstance(tls, TestPKI) else TestPKI([host]) if tls else None
        )
        self._tls_faults: list[tuple[str, float]] = []
        self.host = host
        self.max_message_size = max_message_size
        self.max_backlog = max_backlog
        self.close_timeout = close_timeout
        self.handshake_timeout = handshake_timeout
        self.connections: list[SimConnection] = []
        self.all_connections: list[SimConnection] = []
        self.connection_log: list[ConnectionAttempt] = []
        self.violations: list[Violation] = []
        self.rest_log: list[RestRequest] = []
        self._nursery: trio.Nursery | None = None
        self._memory = False
        self._port: int | None = None
        self._rest_port: int | None = None
        self._latency = 0.0
        self._refuse: list[int | None] = []
        self._rest_throttle = 0
        self._rest_retry_after = 1
        self._serving = False

    # --- URLs and transports ------------------------------------------------------------

    @property
    def tls(self) -> bool:
        """True when serving ``wss://`` and ``https://`` (see :attr:`ssl_context`)."""
        return self.pki is not None

    @property
    def ssl_context(self) -> ssl.SSLContext | None:
        """A client ``ssl.SSLContext`` trusting this simulator's test CA (None without TLS).

        Pass it to ``open_feed(ssl_context=...)``; certificate and host name are verified as
        for a real exchange.
        """
        return self.pki.client_context if self.pki is not None else None

    @property
    def url(self) -> str:
        """``ws://host:port`` (``wss://`` with TLS; no path) of the WebSocket server; valid
        while serving."""
        scheme = "wss" if self.pki is not None else "ws"
        if self._memory:
            return f"{scheme}://{self.memory_host}:{self.memory_port}"
        if self._port is None:
            raise RuntimeError("not serving yet")
        return f"{scheme}://{_netloc(self.host)}:{self._port}"

    @property
    def rest_url(self) -> str:
        """``http://host:port`` (``https://`` with TLS) of the REST server; valid while
        serving."""
        scheme = "https" if self.pki is not None else "http"
        if self._memory:
            return f"{scheme}://{self.memory_rest_host}"
        if self._rest_port is None:
            raise RuntimeError("not serving yet")
        return f"{scheme}://{_netloc(self.host)}:{self._rest_port}"

    @property
    def connector(self) -> Callable[[str], Awaitable[trio.abc.Stream]]:
        """``async connect(url) -> trio.abc.Stream`` reaching this server.

        Memory mode: a fresh in-memory stream pair whose server half this simulator serves.
        TCP mode: ``trio.open_tcp_stream`` to the server's port.  With TLS, the TLS
        handshake is done (verifying the test certificate, as trio_feeds' default connector
        does, with the same errors).  The client then performs its normal WebSocket
        handshake on the stream; the path it asks for is honoured.
        """
        return self.connect

    async def connect(self, url: str = "") -> trio.abc.Stream:
        """See :attr:`connector`; ``url`` is ignored except in error messages."""
        if self._nursery is None:
            raise RuntimeError(f"{self.name} simulator is not serving")
        stream: trio.abc.Stream
        if self._memory:
            client, server = trio.testing.memory_stream_pair()
            self._nursery.start_soon(self._handle_stream, server, "memory")
            stream, host = client, self.memory_host
        else:
            assert self._port is not None
            stream, host = await trio.open_tcp_stream(self.host, self._port), self.host
        if self.pki is None:
            return stream
        return await start_tls(stream, self.pki.client_context, host, url or self.url)

    @property
    def http_transport(self) -> httpx.AsyncBaseTransport:
        """An ``httpx.MockTransport`` answering REST requests in-process (any mode)."""
        return httpx.MockTransport(self._httpx_handler)

    async def _httpx_handler(self, request: httpx.Request) -> httpx.Response:
        status, headers, body = self.rest_request(
            request.method, request.url.raw_path.decode("ascii")
        )
        return httpx.Response(status, headers=headers, content=body)

    # --- serving ----------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def serve(
        self, *, memory: bool = False, port: int = 0, rest_port: int = 0
    ) -> AsyncIterator[Self]:
        """Serve until the block exits (TCP on :attr:`host`, or in memory if ``memory``).

        Starts the market's tick loop too, unless something already runs it.
        """
        async with trio.open_nursery() as nursery:
            if memory:
                self._memory = True
                self._nursery = nursery
                self._attach()
                if not self.market.running:
                    await nursery.start(self.market.run)
            else:
                await nursery.start(self._serve_tcp_inner, port, rest_port)
            try:
                yield self
            finally:
                nursery.cancel_scope.cancel()

    async def serve_tcp(
        self,
        port: int = 0,
        rest_port: int = 0,
        *,
        task_status: trio.TaskStatus[Self] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Serve over TCP forever; ``await nursery.start(sim.serve_tcp)`` returns the simulator."""
        await self._serve_tcp_inner(port, rest_port, task_status=task_status)

    async def _serve_tcp_inner(
        self,
        port: int,
        rest_port: int,
        *,
        task_status: trio.TaskStatus[Any] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            self._memory = False
            listeners = await nursery.start(_serve_tcp, self._handle_tcp, port, self.host)
            self._port = listeners[0].socket.getsockname()[1]
            rest = await nursery.start(_serve_tcp, self._handle_http, rest_port, self.host)
            self._rest_port = rest[0].socket.getsockname()[1]
            self._attach()
            if not self.market.running:
                await nursery.start(self.market.run)
            try:
                task_status.started(self)
                await trio.sleep_forever()
            finally:
                self._detach()

    def _attach(self) -> None:
        if not self._serving:
            self._serving = True
            self.market.add_listener(self._on_tick)

    def _detach(self) -> None:
        self._serving = False
        self.market.remove_listener(self._on_tick)

    async def _handle_tcp(self, stream: trio.SocketStream) -> None:
        try:
            remote = str(stream.socket.getpeername()[0])
        except OSError:
            remote = "?"
        await self._handle_stream(stream, remote)

    async def _handle_stream(self, stream: trio.abc.Stream, remote: str) -> None:
        now = trio.current_time()
        self._check_connection_rate(remote, now)
        if self._refuse:
            status = self._refuse.pop(0)
            if status is None:
                self.connection_log.append(ConnectionAttempt(now, remote, "", "refused"))
                await trio.aclose_forcefully(stream)
                return
        else:
            status = None
        if self.pki is not None:
            secure = await self._tls_handshake(stream, remote, now)
            if secure is None:
                return
            stream = secure
        ws = WSConnection(ConnectionType.SERVER)
        request: Request | None = None
        try:
            with trio.fail_after(self.handshake_timeout):
                while request is None:
                    data = await stream.receive_some(65536)
                    if not data:
                        break
                    ws.receive_data(bytes(data))
                    for event in ws.events():
                        if isinstance(event, Request):
                            request = event
                            break
        except (
            trio.TooSlowError,
            trio.BrokenResourceError,
            trio.ClosedResourceError,
            RemoteProtocolError,
        ):
            request = None
        if request is None:
            self.connection_log.append(ConnectionAttempt(now, remote, "", "failed"))
            await trio.aclose_forcefully(stream)
            return
        conn = SimConnection(self, stream, ws, request.target, remote)
        if status is None:
            status = self._handshake_status(conn)
        if status is not None:
            self.connection_log.append(
                ConnectionAttempt(now, remote, request.target, "rejected", status)
            )
            body = orjson.dumps({"code": status, "msg": "rejected by simulator"})
            with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
                await stream.send_all(
                    ws.send(
                        RejectConnection(
                            status_code=status,
                            headers=[
                                (b"content-type", b"application/json"),
                                (b"content-length", b"%d" % len(body)),
                            ],
                            has_body=True,
                        )
                    )
                    + ws.send(RejectData(data=body))
                )
            await trio.aclose_forcefully(stream)
            return
        self.connection_log.append(ConnectionAttempt(now, remote, request.target, "accepted"))
        try:
            await stream.send_all(ws.send(AcceptConnection()))
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            self._on_close(conn)
            await trio.aclose_forcefully(stream)
            return
        self.connections.append(conn)
        self.all_connections.append(conn)
        try:
            await conn._run()
        finally:
            if conn in self.connections:
                self.connections.remove(conn)

    async def _tls_handshake(
        self, raw: trio.abc.Stream, remote: str, now: float
    ) -> trio.abc.Stream | None:
        """The server side of TLS, with the next injected fault if any; None: it failed."""
        assert self.pki is not None
        fault, delay = self._tls_faults.pop(0) if self._tls_faults else ("", 0.0)
        if fault:
            self.connection_log.append(
                ConnectionAttempt(now, remote, "", "tls_failed", None, fault)
            )
        which = {"certificate": "untrusted", "hostname": "wrong_host"}.get(fault, "good")
        if fault in ("reset", "close", "plain_http"):
            with trio.move_on_after(self.handshake_timeout):
                try:
                    await raw.receive_some(65536)  # the ClientHello
                    if fault == "plain_http":
                        body = b"This port speaks plain HTTP, not TLS.\n"
                        await raw.send_all(
                            b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\n"
                            b"Connection: close\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
                        )
                except (trio.BrokenResourceError, trio.ClosedResourceError):
                    pass
            if fault == "reset":
                _linger_zero(raw)  # TCP: a reset, not a clean close
            await trio.aclose_forcefully(raw)
            return None
        if fault == "slow":
            await trio.sleep(delay)
        tls = trio.SSLStream(raw, self.pki.server_context(which), server_side=True)
        try:
            with trio.fail_after(self.handshake_timeout):
                await tls.do_handshake()
        except (trio.TooSlowError, trio.BrokenResourceError, trio.ClosedResourceError) as exc:
            if not fault:
                cause = exc.__cause__ or exc
                detail = f"handshake failed: {type(cause).__name__}: {cause}"
                self.connection_log.append(
                    ConnectionAttempt(now, remote, "", "tls_failed", None, detail)
                )
            await trio.aclose_forcefully(tls)
            return None
        return tls

    async def _handle_http(self, stream: trio.abc.Stream) -> None:
        if self.pki is not None:
            tls = trio.SSLStream(stream, self.pki.server_context(), server_side=True)
            try:
                with trio.fail_after(self.handshake_timeout):
                    await tls.do_handshake()
            except (trio.TooSlowError, trio.BrokenResourceError, trio.ClosedResourceError):
                await trio.aclose_forcefully(tls)
                return
            stream = tls
        conn = h11.Connection(h11.SERVER)
        try:
            while True:
                event = await _next_h11_event(stream, conn)
                if not isinstance(event, h11.Request):
                    return
                while not isinstance(
                    ev := await _next_h11_event(stream, conn),
                    (h11.EndOfMessage, h11.ConnectionClosed),
                ):
                    pass
                if isinstance(ev, h11.ConnectionClosed):
                    return
                status, headers, body = self.rest_request(
                    event.method.decode(), event.target.decode()
                )
                hdrs = [*headers, ("content-length", str(len(body)))]
                await stream.send_all(conn.send(h11.Response(status_code=status, headers=hdrs)))
                await stream.send_all(conn.send(h11.Data(data=body)))
                await stream.send_all(conn.send(h11.EndOfMessage()))
                if conn.our_state is h11.MUST_CLOSE or conn.their_state is h11.MUST_CLOSE:
                    return
                conn.start_next_cycle()
        except (h11.ProtocolError, trio.BrokenResourceError, trio.ClosedResourceError):
            return
        finally:
            await trio.aclose_forcefully(stream)

    # --- REST ---------------------------------------------------------------------------

    def rest_request(self, method: str, target: str) -> RestResult:
        """Answer one REST request (``target`` = path + query); records it in :attr:`rest_log`.

        Returns ``(status, headers, body)``.
        """
        split = urlsplit(target)
        query = {k: v[-1] for k, v in parse_qs(split.query).items()}
        path = split.path
        if self._rest_throttle > 0:
            self._rest_throttle -= 1
            result = self._rest_throttled()
        else:
            result = self._rest(method, path, query)
        self.rest_log.append(RestRequest(trio.current_time(), method, path, query, result[0]))
        return result

    def _rest_throttled(self) -> RestResult:
        body = orjson.dumps({"code": 429, "msg": "Too many requests"})
        return (
            429,
            [("content-type", "application/json"), ("retry-after", str(self._rest_retry_after))],
            body,
        )

    def _rest(self, method: str, path: str, query: dict[str, str]) -> RestResult:
        return 404, [("content-type", "application/json")], b'{"code":404,"msg":"Not found"}'

    # --- hooks for subclasses ----------------------------------------------------------

    def _handshake_status(self, conn: SimConnection) -> int | None:
        """HTTP status to reject the handshake with, or ``None`` to accept."""
        return None

    def _on_open(self, conn: SimConnection) -> None:
        """Called once the handshake is accepted."""

    def _on_close(self, conn: SimConnection) -> None:
        """Called when a connection ends (remove its subscriptions here)."""

    def _on_text(self, conn: SimConnection, text: str) -> None:
        """A text message from the client."""

    def _on_tick(self, tick: MarketTick) -> None:
        """A market tick."""

    def _connection_tasks(self, conn: SimConnection, nursery: trio.Nursery) -> None:
        """Start per-connection background tasks (pinger, watchdogs)."""

    def _count_incoming(self, conn: SimConnection) -> bool:
        """Account for one incoming frame; return False if the connection is being closed."""
        return True

    def _check_connection_rate(self, remote: str, now: float) -> None:
        """Count connection-rate violations."""

    def _on_backlog(self, conn: SimConnection) -> None:
        """The client reads too slowly (default: drop it)."""
        conn.drop()

    def _violation(self, kind: str, conn: SimConnection | None, detail: str = "") -> None:
        self.violations.append(
            Violation(trio.current_time(), kind, conn.id if conn else None, detail)
        )

    # --- faults -----------------------------------------------------------------------------

    def _targets(self, connection: SimConnection | None) -> list[SimConnection]:
        return [connection] if connection is not None else list(self.connections)

    def drop(self, connection: SimConnection | None = None) -> None:
        """Cut connections abruptly: no close frame (a TCP reset; EOF in memory mode)."""
        for c in self._targets(connection):
            c.drop()

    def close(
        self, code: int = 1000, reason: str = "", connection: SimConnection | None = None
    ) -> None:
        """Close connections cleanly with a close frame ``code``/``reason``."""
        for c in self._targets(connection):
            c.close(code, reason)

    def silence(self, answer_pings: bool = True, connection: SimConnection | None = None) -> None:
        """Stop sending anything but keepalive on open connections (new ones are normal).

        With ``answer_pings=False`` the connection goes fully quiet: no data, no replies,
        no pongs and (Binance) no server pings.
        """
        for c in self._targets(connection):
            c.silenced = True
            c.answer_pings = answer_pings

    def resume(self, connection: SimConnection | None = None) -> None:
        """Undo :meth:`silence` (data frames generated meanwhile are lost)."""
        for c in self._targets(connection):
            c.silenced = False
            c.answer_pings = True

    def stop_pongs(self, connection: SimConnection | None = None) -> None:
        """Stop answering the client's pings on open connections."""
        for c in self._targets(connection):
            c.pongs_stopped = True

    def resume_pongs(self, connection: SimConnection | None = None) -> None:
        """Undo :meth:`stop_pongs`."""
        for c in self._targets(connection):
            c.pongs_stopped = False

    def malformed(self, n: int = 1, connection: SimConnection | None = None) -> None:
        """Replace the next ``n`` data frames of each connection by truncated JSON or garbage."""
        for c in self._targets(connection):
            c.malformed_pending += n

    def latency(self, seconds: float, connection: SimConnection | None = None) -> None:
        """Delay every frame by ``seconds`` (timestamps inside stay at generation time).

        Without ``connection`` this is the default for current *and* future connections.
        """
        if connection is None:
            self._latency = seconds
            for c in self.connections:
                c.latency = None
        else:
            connection.latency = seconds

    def fail_tls(self, fault: str = "reset", n: int = 1, *, delay: float = 60.0) -> None:
        """Break the TLS handshake of the next ``n`` connection attempts (needs ``tls=True``).

        ``fault``: ``"reset"`` (the server reads the ClientHello, then resets the TCP
        connection; in memory mode it closes), ``"close"`` (closes cleanly instead),
        ``"certificate"`` (serves a certificate from a CA the client does not trust),
        ``"hostname"`` (a trusted certificate for another host name), ``"plain_http"``
        (answers the ClientHello with a plain-text HTTP 400) or ``"slow"`` (waits ``delay``
        seconds before answering: the client's connect timeout fires).
        """
        if self.pki is None:
            raise RuntimeError(f"{self.name} simulator does not serve TLS (tls=True)")
        if fault not in TLS_FAULTS:
            raise ValueError(f"fault must be one of {', '.join(TLS_FAULTS)}, got {fault!r}")
        self._tls_faults.extend([(fault, delay)] * n)

    def refuse_connections(self, n: int = 1, status: int | None = None) -> None:
        """Refuse the next ``n`` connection attempts: close the socket before the handshake,
        or, with ``status``, answer the handshake with that HTTP status (e.g. 429, 503)."""
        self._refuse.extend([status] * n)

    def throttle_rest(self, n: int = 1, retry_after: int = 1) -> None:
        """Answer the next ``n`` REST requests with HTTP 429 and ``Retry-After: retry_after``."""
        self._rest_throttle += n
        self._rest_retry_after = retry_after

    def sequence_gap(self, symbol: str, connection: SimConnection | None = None) -> None:
        """Lose the next incremental book message for ``symbol`` (canonical) on each connection,
        so the client sees a break in ``U``/``u`` (Binance) or ``prevSeqId`` (OKX)."""
        for c in self._targets(connection):
            c.gaps[symbol] = c.gaps.get(symbol, 0) + 1

    # --- helpers for subclasses ---------------------------------------------------------

    def _take_gap(self, conn: SimConnection, symbol: str) -> bool:
        n = conn.gaps.get(symbol, 0)
        if n <= 0:
            return False
        if n == 1:
            del conn.gaps[symbol]
        else:
            conn.gaps[symbol] = n - 1
        return True

    def _later(self, delay: float, fn: Callable[[], None]) -> None:
        async def run() -> None:
            await trio.sleep(delay)
            fn()

        if self._nursery is not None:
            self._nursery.start_soon(run)


class _RateWindow:
    """Timestamps of recent events inside a sliding window."""

    def __init__(self, window: float) -> None:
        self.window = window
        self.times: deque[float] = deque()

    def add(self, now: float) -> int:
        self.times.append(now)
        while self.times and self.times[0] <= now - self.window:
            self.times.popleft()
        return len(self.times)


async def _serve_tcp(
    handler: Callable[[trio.SocketStream], Awaitable[None]],
    port: int,
    host: str,
    *,
    task_status: trio.TaskStatus[list[trio.SocketListener]] = trio.TASK_STATUS_IGNORED,
) -> None:
    await trio.serve_tcp(handler, port, host=host, task_status=task_status)
