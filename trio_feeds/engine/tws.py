"""The ``"trio-websocket"`` transport: sessions over `trio-websocket`_ connections.

``open_feed(..., transport="trio-websocket")``.  The byte stream is opened exactly as for
the default transport (the feed's ``connector``, or TCP plus TLS with the same error
handling), then ``trio_websocket.wrap_client_stream`` does the WebSocket handshake and
runs its reader task, which answers server pings and queues whole messages.  What this
module adds:

- the connection's background tasks (trio-websocket's reader, the tasks waiting for pongs)
  live in a nursery of their own, started in the nursery the engine passes; they end when
  the connection is closed, and nothing they raise escapes into the engine's nursery;
- a handshake refused with an HTTP status becomes :class:`~trio_feeds.HandshakeRejected`
  (status, phrase and the start of the body), a connection lost during the handshake a
  ``ConnectionClosed(1006)`` at once (trio-websocket alone would wait for
  ``connect_timeout``), and every ``trio_websocket.ConnectionClosed`` the engine's own
  :class:`~trio_feeds.engine.ws.ConnectionClosed` with the same code and reason;
- :meth:`TwsConnection.ping` returns at once; the pong's payload goes to ``on_pong``.

Each :meth:`TwsConnection.receive_batch` returns one message: trio-websocket hands messages
over one at a time through a channel, the per-message task switch that makes it slower
than the default transport (``docs/performance.md``).

.. _trio-websocket: https://trio-websocket.readthedocs.io
"""

from __future__ import annotations

import ssl
from collections.abc import Callable
from http import HTTPStatus
from typing import Any
from urllib.parse import urlsplit

import trio
import trio_websocket

from trio_feeds.core.errors import ConfigError, HandshakeRejected, ProtocolError
from trio_feeds.core.redact import redact
from trio_feeds.engine.streams import _PROGRESS, Connector, ConnectProgress, open_stream
from trio_feeds.engine.ws import MAX_MESSAGE, ConnectionClosed

__all__ = ["TrioWebsocketTransport", "TwsConnection"]

#: messages trio-websocket may queue before its reader waits for ours (the engine's reader
#: never blocks on the consumer, so this only smooths bursts)
MESSAGE_QUEUE_SIZE = 1024
#: bytes per socket read of trio-websocket's reader (its default is 4 KiB)
RECEIVE_BYTES = 64 * 1024


class TrioWebsocketTransport:
    """Opens sessions' connections with trio-websocket (see the module docstring)."""

    name = "trio-websocket"

    def __init__(
        self, message_queue_size: int = MESSAGE_QUEUE_SIZE, receive_bytes: int = RECEIVE_BYTES
    ) -> None:
        self.message_queue_size = message_queue_size
        self.receive_bytes = receive_bytes

    def __repr__(self) -> str:
        return f"TrioWebsocketTransport(message_queue_size={self.message_queue_size})"

    async def connect(
        self,
        url: str,
        connector: Connector | None,
        *,
        ssl_context: ssl.SSLContext | None,
        progress: ConnectProgress,
        nursery: trio.Nursery,
    ) -> TwsConnection:
        """Open ``url`` (see :meth:`trio_feeds.engine.transport.Transport.connect`)."""
        shown = redact(url)
        parts = urlsplit(url)
        try:
            port = parts.port
        except ValueError:
            port = -1
        if parts.scheme not in ("ws", "wss") or not parts.hostname or port == -1:
            raise ConfigError(f"invalid WebSocket URL {shown!r}")
        host = parts.hostname
        if ":" in host:
            host = f"[{host}]"
        if port is not None and port != (443 if parts.scheme == "wss" else 80):
            host = f"{host}:{port}"
        resource = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        token = _PROGRESS.set(progress)
        try:
            if connector is None:
                stream = await open_stream(url, ssl_context, progress)
            else:
                progress.phase = "connect"
                stream = await connector(url)
        finally:
            _PROGRESS.reset(token)
        progress.phase = "WebSocket handshake"
        conn = TwsConnection(url, stream)
        try:
            await nursery.start(conn._run, host, resource, self)
        except BaseException:
            await trio.aclose_forcefully(stream)
            raise
        return conn


class _Spawner:
    """What ``wrap_client_stream`` takes as its nursery: it starts trio-websocket's reader
    task in the connection's nursery and tells the connection when that task ended."""

    def __init__(self, nursery: trio.Nursery, conn: TwsConnection) -> None:
        self._nursery = nursery
        self._conn = conn

    def start_soon(self, fn: Callable[..., Any], *args: Any) -> None:
        self._nursery.start_soon(self._watch, fn, *args)

    async def _watch(self, fn: Callable[..., Any], *args: Any) -> None:
        try:
            await fn(*args)
        finally:
            scope = self._conn._handshake_scope
            if scope is not None:
                # the reader ended before the handshake completed: stop waiting for it
                scope.cancel()


class TwsConnection:
    """One trio-websocket client connection, with the engine's connection interface
    (:class:`trio_feeds.engine.transport.Connection`)."""

    def __init__(self, url: str, stream: trio.abc.Stream) -> None:
        self.url = url
        #: called with the payload of every pong answering :meth:`ping`
        self.on_pong: Callable[[bytes], None] | None = None
        self._stream = stream
        self._ws: trio_websocket.WebSocketConnection | None = None
        self._nursery: trio.Nursery | None = None
        self._handshake_scope: trio.CancelScope | None = None
        self._closing = trio.Event()
        #: what ended the background tasks unexpectedly (reported as a 1006 close)
        self.error: BaseException | None = None

    async def _run(
        self,
        host: str,
        resource: str,
        transport: TrioWebsocketTransport,
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        started = False
        shown = redact(self.url)
        try:
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                with trio.CancelScope() as scope:
                    self._handshake_scope = scope
                    self._ws = await trio_websocket.wrap_client_stream(
                        _Spawner(nursery, self),  # type: ignore[arg-type]
                        self._stream,  # type: ignore[arg-type]
                        host,
                        resource,
                        message_queue_size=transport.message_queue_size,
                        max_message_size=MAX_MESSAGE,
                        receive_buffer_size=transport.receive_bytes,
                    )
                self._handshake_scope = None
                if self._ws is None:
                    raise ConnectionClosed(
                        1006,
                        "the connection ended during the WebSocket handshake "
                        "(closed, or the response was not a WebSocket upgrade)",
                    )
                started = True
                task_status.started()
                await self._closing.wait()
                nursery.cancel_scope.cancel()
        except Exception as exc:
            if started:
                # the connection is closed now; receive_batch reports it
                self.error = exc
                return
            raise _handshake_error(exc, shown) from None

    # -- the engine's connection interface -------------------------------------------------
    def _closed(self, exc: trio_websocket.ConnectionClosed | None = None) -> ConnectionClosed:
        assert self._ws is not None
        reason = exc.reason if exc is not None and exc.reason is not None else self._ws.closed
        if reason is None or reason.code == 1006:
            why = "connection lost without a close frame"
            if self.error is not None:
                why = f"transport error: {type(self.error).__name__}: {self.error}"
            return ConnectionClosed(1006, redact(why))
        return ConnectionClosed(reason.code, reason.reason or "")

    async def receive_batch(self) -> list[Any]:
        """The next message, as a batch of one (``bytes``; text UTF-8 encoded)."""
        assert self._ws is not None
        try:
            message = await self._ws.get_message()
        except trio_websocket.ConnectionClosed as exc:
            raise self._closed(exc) from None
        if isinstance(message, str):
            return [message.encode()]
        return [message]

    async def send_text(self, text: str) -> None:
        """Send one text message."""
        assert self._ws is not None
        try:
            await self._ws.send_message(text)
        except trio_websocket.ConnectionClosed as exc:
            raise self._closed(exc) from None

    async def ping(self, payload: bytes) -> None:
        """Send a ping; returns at once, the pong's payload goes to :attr:`on_pong`."""
        assert self._ws is not None and self._nursery is not None
        if self._ws.closed is not None:
            raise self._closed()
        self._nursery.start_soon(self._await_pong, payload)

    async def _await_pong(self, payload: bytes) -> None:
        assert self._ws is not None
        try:
            await self._ws.ping(payload)
        except (trio_websocket.ConnectionClosed, ValueError):
            return
        if self.on_pong is not None:
            self.on_pong(payload)

    async def aclose(self, code: int = 1000, reason: str = "") -> None:
        """Close politely (at most 2 s, shielded), then drop the stream and the tasks."""
        try:
            if self._ws is not None:
                with trio.move_on_after(2) as scope:
                    scope.shield = True
                    try:
                        await self._ws.aclose(code, reason or None)
                    except (trio.BrokenResourceError, trio.ClosedResourceError):
                        pass
            await trio.aclose_forcefully(self._stream)
        finally:
            self._closing.set()


def _handshake_error(exc: BaseException, url: str) -> BaseException:
    """What a failed handshake raises, as the default transport would raise it."""
    leaves = _leaves(exc)
    for leaf in leaves:
        if isinstance(leaf, trio_websocket.ConnectionRejected):
            status = leaf.status_code
            try:
                phrase = HTTPStatus(status).phrase
            except ValueError:
                phrase = ""
            body = (leaf.body or b"")[:300].decode("utf-8", "replace")
            return HandshakeRejected(url, status, phrase, redact(" ".join(body.split())))
    for leaf in leaves:
        if isinstance(leaf, trio_websocket.ConnectionClosed):
            reason = leaf.reason
            code = reason.code if reason is not None else 1006
            return ConnectionClosed(code, "during the WebSocket handshake")
        if isinstance(leaf, trio_websocket.HandshakeError):
            return ProtocolError(f"WebSocket handshake with {url} failed: {redact(leaf)}")
    if len(leaves) == 1:
        return leaves[0]
    return exc


def _leaves(exc: BaseException) -> list[BaseException]:
    if isinstance(exc, BaseExceptionGroup):
        out: list[BaseException] = []
        for e in exc.exceptions:
            out.extend(_leaves(e))
        return out
    return [exc]
