"""How a session's WebSocket connection is opened: the transport interface and its registry.

A *transport* opens one client WebSocket and hands the engine a :class:`Connection`; the
engine needs no more than that from it (like httpx's transports: one interface, several
implementations).  Two ship with trio_feeds:

``"default"``
    :mod:`trio_feeds.engine.ws`: reads up to 256 KiB per socket read and returns every
    data frame of that read as one batch (the fast path, see ``docs/performance.md``).
``"trio-websocket"``
    :mod:`trio_feeds.engine.tws`: a `trio-websocket <https://trio-websocket.readthedocs.io>`_
    connection, one message per batch.

Both run under the same engine: connect timeouts, TLS errors, handshake refusals,
heartbeats, close codes and reconnects are reported alike.  Select one with
``open_feed(..., transport="trio-websocket")``, or pass any object implementing
:class:`Transport`.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

import trio

from trio_feeds.core.errors import ConfigError
from trio_feeds.engine.ws import Connector, ConnectProgress, connect_websocket

__all__ = [
    "DEFAULT_TRANSPORT",
    "TRANSPORTS",
    "Connection",
    "DefaultTransport",
    "Transport",
    "get_transport",
]


class Connection(Protocol):
    """One open client WebSocket, as a session uses it.

    Errors: every method raises :class:`trio_feeds.engine.ws.ConnectionClosed` (with the
    close code and reason, 1006 when the connection ended without a close frame) once the
    connection is gone.
    """

    #: called with the payload of every pong that answers one of :meth:`ping`'s pings
    on_pong: Callable[[bytes], None] | None

    async def receive_batch(self) -> list[Any]:
        """Wait for data; return the complete data messages received (``bytes``, text
        messages UTF-8 encoded).  May return an empty list.  Server pings are answered by
        the connection itself, whatever the caller does meanwhile."""
        ...

    async def send_text(self, text: str) -> None:
        """Send one text message."""
        ...

    async def ping(self, payload: bytes) -> None:
        """Send a ping control frame and return without waiting for its pong (the pong's
        payload goes to :attr:`on_pong`)."""
        ...

    async def aclose(self, code: int = 1000, reason: str = "") -> None:
        """Close politely (bounded by a short timeout, shielded), then drop the stream."""
        ...


@runtime_checkable
class Transport(Protocol):
    """Opens the WebSocket connections of a feed's sessions."""

    #: the name ``open_feed(transport=...)`` knows it by
    name: str

    async def connect(
        self,
        url: str,
        connector: Connector | None,
        *,
        ssl_context: ssl.SSLContext | None,
        progress: ConnectProgress,
        nursery: trio.Nursery,
    ) -> Connection:
        """Open ``url`` and complete the WebSocket handshake.

        ``connector`` opens the byte stream (None: TCP, and TLS with ``ssl_context`` for
        ``wss://``); ``progress.phase`` says how far the attempt got (the engine wraps the
        call in ``trio.fail_after(connect_timeout)``).  ``nursery`` outlives the
        connection, for transports that need background tasks; they must end once
        :meth:`Connection.aclose` returns.  Failures raise what
        :func:`trio_feeds.engine.ws.connect_websocket` raises:
        :class:`~trio_feeds.TLSError`, :class:`~trio_feeds.HandshakeRejected`,
        :class:`~trio_feeds.ProtocolError`, ``ConnectionClosed``, ``OSError``.
        """
        ...


class DefaultTransport:
    """The built-in receive path (:mod:`trio_feeds.engine.ws`): whole socket reads cut
    into frames, one batch per read."""

    name = "default"

    async def connect(
        self,
        url: str,
        connector: Connector | None,
        *,
        ssl_context: ssl.SSLContext | None,
        progress: ConnectProgress,
        nursery: trio.Nursery,
    ) -> Connection:
        """See :meth:`Transport.connect` (``nursery`` is not needed)."""
        return await connect_websocket(url, connector, ssl_context=ssl_context, progress=progress)

    def __repr__(self) -> str:
        return "DefaultTransport()"


def _trio_websocket() -> Transport:
    from trio_feeds.engine.tws import TrioWebsocketTransport

    return TrioWebsocketTransport()


DEFAULT_TRANSPORT: Transport = DefaultTransport()
"""The transport feeds use unless told otherwise."""

#: transport name -> factory (``open_feed(transport=name)``)
TRANSPORTS: dict[str, Callable[[], Transport]] = {
    "default": lambda: DEFAULT_TRANSPORT,
    "trio-websocket": _trio_websocket,
}


def get_transport(value: str | Transport) -> Transport:
    """The transport for ``open_feed(transport=value)``: a name of :data:`TRANSPORTS` or an
    object implementing :class:`Transport`; anything else raises
    :class:`~trio_feeds.ConfigError`."""
    if isinstance(value, str):
        factory = TRANSPORTS.get(value)
        if factory is None:
            raise ConfigError(
                f"transport must be one of {', '.join(repr(n) for n in TRANSPORTS)} "
                f"(or a Transport object), got {value!r}"
            )
        return factory()
    if isinstance(value, Transport) and callable(getattr(value, "connect", None)):
        return value
    raise ConfigError(
        f"transport must be one of {', '.join(repr(n) for n in TRANSPORTS)} "
        f"(or a Transport object with a name and an async connect()), got {value!r}"
    )
