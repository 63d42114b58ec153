"""How one session connects: the feed's connection :class:`Settings`, the single function
that opens a WebSocket (:func:`open_websocket`), and how a connection's end is explained
(:class:`SessionEnded`, :func:`explain`).
"""

from __future__ import annotations

import base64
import math
import random
import ssl
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

import attrs
import httpx
import trio

from trio_feeds.core.errors import (
    HandshakeRejected,
    ProtocolError,
    TLSError,
)
from trio_feeds.core.redact import redact
from trio_feeds.engine.transport import DEFAULT_TRANSPORT, Connection, Transport
from trio_feeds.engine.ws import (
    ConnectionClosed,
    Connector,
    ConnectProgress,
    tls_error,
)

__all__ = [
    "CONNECT_ERRORS",
    "SessionEnded",
    "Settings",
    "explain",
    "jitter_bounds",
    "open_websocket",
]


@attrs.define
class Settings:
    """Per-feed connection settings (validated by :func:`trio_feeds.open_feed`)."""

    connect_timeout: float = 10.0
    heartbeat_interval: float = 20.0
    pong_timeout: float = 10.0
    stale_after: float = 10.0
    reconnect_delay: float = 1.0
    max_reconnect_delay: float = 60.0
    stable_after: float = 60.0
    max_reconnect_attempts: int | None = None
    keep_raw: bool = False
    connector: Connector | None = None
    clock: Callable[[], float] = time.time
    rng: random.Random = attrs.field(factory=random.Random)
    max_connection_age: float | None = None
    subscribe_timeout: float = 10.0
    http_transport: Any = None
    book_depth: int = 20
    book_deltas: bool = False
    #: TLS for the default connector (None: the system trust store)
    ssl_context: ssl.SSLContext | None = None
    #: "retry" (a certificate failure is retried like any connect failure) or "fatal"
    certificate_errors: str = "retry"
    #: a ping round trip above this counts as slow: the next ping goes out sooner
    max_source_latency: float = 5.0
    #: opens each session's WebSocket (``open_feed(transport=...)``)
    transport: Transport = DEFAULT_TRANSPORT
    #: channel -> seconds between two REST polls of one symbol, for the channels an
    #: exchange serves by REST polling (``ExchangeSpec.rest_polls``; default
    #: :data:`~trio_feeds.engine.polling.DEFAULT_POLL_INTERVAL`)
    poll_intervals: dict[str, float] = attrs.field(factory=dict)


#: what a connection attempt may fail with (anything else is a bug and is raised)
CONNECT_ERRORS = (
    OSError,
    ConnectionClosed,
    trio.TooSlowError,
    trio.BrokenResourceError,
    trio.ClosedResourceError,
    ProtocolError,
    TLSError,
)


async def open_websocket(
    url: str, settings: Settings, progress: ConnectProgress, nursery: trio.Nursery
) -> Connection:
    """Open one session's WebSocket: the single place a connection is opened, by the
    feed's transport (``nursery`` outlives the connection, for the transport's tasks)."""
    return await settings.transport.connect(
        url,
        settings.connector,
        ssl_context=settings.ssl_context,
        progress=progress,
        nursery=nursery,
    )


class SessionEnded(Exception):
    """Why a session stopped: ``reason`` is short and machine-friendly."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


def _split_userinfo(url: str) -> tuple[str, tuple[str, str] | None]:
    """``https://user:pw@host:port`` -> (``https://host:port``, (user, pw))."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url, None
    host = parts.netloc.rpartition("@")[2]
    auth = (unquote(parts.username or ""), unquote(parts.password or ""))
    return urlunsplit(parts._replace(netloc=host)), auth


class _BasicAuth(httpx.AsyncBaseTransport):
    """Adds HTTP Basic credentials to every request (for REST base URLs with userinfo)."""

    def __init__(self, inner: httpx.AsyncBaseTransport | None, user: str, password: str) -> None:
        self._inner = inner or httpx.AsyncHTTPTransport()
        token = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
        self._header = f"Basic {token}"

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        request.headers["Authorization"] = self._header
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()


def _leaves(exc: BaseException) -> list[BaseException]:
    if isinstance(exc, BaseExceptionGroup):
        out: list[BaseException] = []
        for e in exc.exceptions:
            out.extend(_leaves(e))
        return out
    return [exc]


def explain(exc: BaseException) -> tuple[str, str]:
    """``(reason, detail)`` for why a connection ended; re-raises anything unexpected."""
    leaves = _leaves(exc)
    for leaf in leaves:
        if isinstance(leaf, SessionEnded):
            return leaf.reason, redact(leaf.detail)
    for leaf in leaves:
        if isinstance(leaf, TLSError):
            return leaf.reason, redact(leaf.detail)
        if isinstance(leaf, ConnectionClosed):
            return "closed", redact(f"{leaf.code} {leaf.reason}".strip())
        if isinstance(leaf, trio.TooSlowError):
            return "timeout", "timed out"
        if isinstance(leaf, HandshakeRejected):
            return "handshake_rejected", redact(str(leaf))
        if isinstance(leaf, ProtocolError):
            return "protocol_error", redact(str(leaf))
        if isinstance(leaf, (trio.BrokenResourceError, trio.ClosedResourceError, ssl.SSLError)):
            cause = leaf.__cause__ or leaf.__context__
            if isinstance(leaf, ssl.SSLError) or isinstance(cause, ssl.SSLError):
                # a connector that did its own TLS: classified like ours
                tls = tls_error(leaf)
                return tls.reason, redact(tls.detail)
            return "connect_failed", redact(f"{type(leaf).__name__}: {leaf} {cause or ''}".strip())
        if isinstance(leaf, OSError):
            return "connect_failed", redact(f"{type(leaf).__name__}: {leaf}")
    raise exc


def jitter_bounds(base: float, cap: float, failures: int) -> tuple[float, float]:
    """The interval a full-jitter backoff delay falls in after ``failures`` failures."""
    return 0.0, min(cap, base * math.pow(2, failures))
