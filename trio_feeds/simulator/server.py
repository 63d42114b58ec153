"""The base class of the simulated exchanges: :class:`SimulatedExchange`.

It serves WebSocket clients (over loopback TCP or in-memory streams) and a REST endpoint,
keeps the books of connections, and has the hooks an exchange simulator overrides
(``_on_open``, ``_on_text``, ``_on_tick``, ``_rest`` …; see "hooks for subclasses").  The
pieces live next to it: :mod:`~trio_feeds.simulator.connection` (one WebSocket connection),
:mod:`~trio_feeds.simulator.handshake` (TLS, WebSocket handshake, HTTP),
:mod:`~trio_feeds.simulator.controls` (the fault methods) and
:mod:`~trio_feeds.simulator.records` (what is logged).  Every name that used to be importable
from here still is.
"""

from __future__ import annotations

import contextlib
import ssl
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import parse_qs, urlsplit

import httpx
import orjson
import trio
import trio.testing

from trio_feeds.engine.ws import start_tls
from trio_feeds.simulator import handshake
from trio_feeds.simulator.connection import SimConnection
from trio_feeds.simulator.controls import ConnectionFaults, FaultHandle
from trio_feeds.simulator.market import MarketSimulator, MarketTick
from trio_feeds.simulator.records import ConnectionAttempt, RestRequest, RestResult, Violation
from trio_feeds.simulator.tls import TestPKI

if TYPE_CHECKING:
    from typing import Self

__all__ = [
    "ConnectionAttempt",
    "FaultHandle",
    "RestRequest",
    "RestResult",
    "SimConnection",
    "SimulatedExchange",
    "Violation",
]


class SimulatedExchange(ConnectionFaults):
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

    @classmethod
    def memory_hosts(cls) -> tuple[str, str]:
        """The host names this simulator answers to in memory mode (WebSocket, REST)."""
        return (cls.memory_host, cls.memory_rest_host)

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
            tls
            if isinstance(tls, TestPKI)
            else TestPKI([host, *self.memory_hosts()])
            if tls
            else None
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
        self._rest_throttle = 0
        self._rest_retry_after = 1
        self._serving = False
        #: set while a lazy start (``SimulatedExchanges`` fixture) is under way
        self._starting: trio.Event | None = None
        self._init_controls()

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
        if self._nursery is None and self._starting is not None:
            await self._starting.wait()
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
            listeners = await nursery.start(handshake.serve_tcp, self._handle_tcp, port, self.host)
            self._port = listeners[0].socket.getsockname()[1]
            rest = await nursery.start(handshake.serve_tcp, self._handle_http, rest_port, self.host)
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
        await handshake.handle_tcp(self, stream)

    async def _handle_stream(self, stream: trio.abc.Stream, remote: str) -> None:
        """Take one connection: TLS, refusal faults, the WebSocket handshake, then serve it."""
        await handshake.handle_stream(self, stream, remote)

    async def _tls_handshake(
        self, raw: trio.abc.Stream, remote: str, now: float
    ) -> trio.abc.Stream | None:
        return await handshake.tls_handshake(self, raw, remote, now)

    async def _handle_http(self, stream: trio.abc.Stream) -> None:
        await handshake.handle_http(self, stream)

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


def _netloc(host: str) -> str:
    return f"[{host}]" if ":" in host else host
