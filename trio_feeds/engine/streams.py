"""The byte stream a WebSocket runs on: TCP, TLS with certificate verification, the
connectors (``async (url) -> stream``) and how TLS failures are classified."""

from __future__ import annotations

import ssl
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from urllib.parse import urlsplit

import trio

from trio_feeds.core.errors import (
    TLSCertificateError,
    TLSError,
)
from trio_feeds.core.redact import redact

Connector = Callable[[str], Awaitable[trio.abc.Stream]]
"""``async (url) -> stream``: opens the byte stream a WebSocket runs on.

The default opens TCP (and TLS for ``wss://``, verifying the certificate).
``trio_feeds.testing`` supplies one that returns in-memory streams.
"""


_default_ssl: ssl.SSLContext | None = None


def _ssl_context() -> ssl.SSLContext:
    """The system trust store, certificate and host name verification on."""
    global _default_ssl
    if _default_ssl is None:
        _default_ssl = ssl.create_default_context()
    return _default_ssl


#: OpenSSL reasons that mean "the other side does not speak TLS here" (plain HTTP, …)
_NOT_TLS = frozenset(
    {"WRONG_VERSION_NUMBER", "HTTP_REQUEST", "HTTPS_PROXY_REQUEST", "PACKET_LENGTH_TOO_LONG",
     "RECORD_LAYER_FAILURE", "UNKNOWN_PROTOCOL"}
)  # fmt: skip


def tls_error(exc: BaseException, url: str = "") -> TLSError:
    """The :class:`TLSError` for a failed handshake (``exc``: what ``SSLStream`` raised).

    trio raises ``BrokenResourceError`` whose ``__cause__`` is the ``ssl`` or socket
    error; the reason is read from that.
    """
    where = redact(url)
    cause: BaseException | None = exc
    if isinstance(exc, (trio.BrokenResourceError, trio.ClosedResourceError)):
        cause = exc.__cause__ or exc.__context__
    if isinstance(cause, ssl.SSLCertVerificationError):
        why = cause.verify_message or cause.reason or str(cause)
        return TLSCertificateError(f"certificate not accepted: {why}", where)
    if isinstance(cause, ssl.SSLError) and not isinstance(
        cause, (ssl.SSLEOFError, ssl.SSLZeroReturnError, ssl.SSLSyscallError)
    ):
        name = cause.reason or type(cause).__name__
        hint = (
            " (the server does not speak TLS there: plain HTTP on a TLS port?)"
            if name in _NOT_TLS
            else ""
        )
        return TLSError("tls_protocol", f"{name}{hint}", where)
    if cause is None or isinstance(cause, (ssl.SSLError, EOFError)):
        return TLSError("tls_reset", "the server closed the connection during the handshake", where)
    detail = f"connection broken during the handshake: {type(cause).__name__}: {cause}"
    return TLSError("tls_reset", detail, where)


async def start_tls(
    stream: trio.abc.Stream,
    context: ssl.SSLContext | None,
    server_hostname: str,
    url: str = "",
) -> trio.SSLStream[trio.abc.Stream]:
    """Wrap ``stream`` in TLS and complete the handshake (``context=None``: system defaults).

    A failed handshake raises :class:`~trio_feeds.TLSError` (or
    :class:`~trio_feeds.TLSCertificateError`) naming the reason, with the ``ssl`` or socket
    error as ``__cause__``; the stream is closed.
    """
    progress = _PROGRESS.get()
    if progress is not None:
        progress.phase = "TLS handshake"
    tls = trio.SSLStream(
        stream, context or _ssl_context(), server_hostname=server_hostname, https_compatible=True
    )
    try:
        await tls.do_handshake()
    except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
        await trio.aclose_forcefully(tls)
        raise tls_error(exc, url) from (exc.__cause__ or exc)
    except BaseException:
        await trio.aclose_forcefully(tls)
        raise
    return tls


class ConnectProgress:
    """How far a connection attempt got (for timeout messages): ``phase`` is
    ``"TCP connect"``, ``"TLS handshake"`` or ``"WebSocket handshake"``."""

    __slots__ = ("phase",)

    def __init__(self) -> None:
        self.phase = "connect"


#: the attempt in progress in this task (so that connectors using start_tls report it too)
_PROGRESS: ContextVar[ConnectProgress | None] = ContextVar("trio_feeds_progress", default=None)


async def open_stream(
    url: str,
    ssl_context: ssl.SSLContext | None = None,
    progress: ConnectProgress | None = None,
) -> trio.abc.Stream:
    """TCP, plus TLS with certificate verification for ``wss://`` (``ssl_context``, or the
    system trust store)."""
    parts = urlsplit(url)
    secure = parts.scheme in ("wss", "https")
    host = parts.hostname or ""
    port = parts.port or (443 if secure else 80)
    progress = progress or _PROGRESS.get()
    if progress is not None:
        progress.phase = "TCP connect"
    tcp = await trio.open_tcp_stream(host, port)
    if not secure:
        return tcp
    return await start_tls(tcp, ssl_context, host, url)


async def default_connector(url: str) -> trio.abc.Stream:
    """TCP, plus TLS with certificate verification (system trust store) for ``wss://``."""
    return await open_stream(url)


def tls_connector(ssl_context: ssl.SSLContext | None) -> Connector:
    """A connector like :func:`default_connector` whose TLS uses ``ssl_context``."""
    if ssl_context is None:
        return default_connector

    async def connect(url: str) -> trio.abc.Stream:
        return await open_stream(url, ssl_context)

    return connect


__all__ = [
    "ConnectProgress",
    "Connector",
    "default_connector",
    "open_stream",
    "start_tls",
    "tls_connector",
    "tls_error",
]
