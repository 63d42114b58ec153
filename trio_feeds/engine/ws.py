"""A WebSocket client connection on a trio stream, driven by websockets' sans-I/O protocol.

Why not trio-websocket here: its reader task hands over one message at a time
through a channel, ~10–15 µs of task switching per message.  This class
reads up to 256 KiB at a time, lets ``websockets.client.ClientProtocol``
(measured at ~260k frames/s, against ~112k/s for wsproto) cut it into
frames, answers pings in the same step, and returns every data frame of that
read as one batch.  See ``docs/performance.md``.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable
from typing import Any, cast

import trio
from websockets.client import ClientProtocol
from websockets.exceptions import InvalidHandshake, InvalidURI
from websockets.frames import Frame, Opcode
from websockets.http11 import Response
from websockets.protocol import State
from websockets.uri import parse_uri

from trio_feeds.core.errors import (
    ConfigError,
    HandshakeRejected,
    ProtocolError,
)
from trio_feeds.core.redact import redact
from trio_feeds.engine.frames import _cut_frames, frame_header
from trio_feeds.engine.streams import _PROGRESS
from trio_feeds.engine.streams import Connector as Connector
from trio_feeds.engine.streams import ConnectProgress as ConnectProgress
from trio_feeds.engine.streams import default_connector as default_connector
from trio_feeds.engine.streams import open_stream as open_stream
from trio_feeds.engine.streams import start_tls as start_tls
from trio_feeds.engine.streams import tls_connector as tls_connector
from trio_feeds.engine.streams import tls_error as tls_error

READ_SIZE = 256 * 1024
MAX_MESSAGE = 16 * 1024 * 1024

_TEXT = Opcode.TEXT
_BINARY = Opcode.BINARY
_CONT = Opcode.CONT
_PING = Opcode.PING
_PONG = Opcode.PONG
_CLOSE = Opcode.CLOSE


class ConnectionClosed(Exception):
    """The WebSocket is closed; ``code`` and ``reason`` as the peer sent them (1006 if none)."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(f"connection closed: {code} {reason}".strip())
        self.code = code
        self.reason = reason


class WebSocket:
    """One open client WebSocket.  Create with :func:`connect_websocket`."""

    def __init__(self, stream: trio.abc.Stream, protocol: ClientProtocol, url: str) -> None:
        self.url = url
        self._stream = stream
        self._protocol = protocol
        self._send_lock = trio.Lock()
        self._fragments: list[Any] = []
        self._fragment_text = True
        #: called with the payload of every pong received (for round-trip times)
        self.on_pong: Callable[[bytes], None] | None = None
        #: pings received from the server (answered at once)
        self.pings_received = 0
        self.bytes_received = 0
        self._pending: list[Any] = []
        self._fast = True
        self._tail: bytes | bytearray = b""
        self._control = False

    @property
    def closed(self) -> bool:
        return self._protocol.state is State.CLOSED

    async def receive_batch(self) -> list[Any]:
        """Wait for the next socket read; return its complete data messages.

        Text messages come back as ``bytes`` (orjson parses bytes directly).
        Pings are answered before this returns.  May return an empty list (a
        read held only control frames or part of a frame).  Raises
        :class:`ConnectionClosed` at the end.
        """
        if self._pending:
            pending, self._pending = self._pending, []
            return pending
        protocol = self._protocol
        if protocol.close_rcvd is not None or protocol.parser_exc is not None:
            self._raise_closed()
        try:
            data = await self._stream.receive_some(READ_SIZE)
        except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
            raise ConnectionClosed(1006, f"transport error: {exc}") from None
        if not data:
            protocol.receive_eof()
            self._raise_closed()
        self.bytes_received += len(data)
        out = self._absorb(data)
        if self._control or protocol.state is not State.OPEN:
            # pongs (and the close reply) go out before anything else happens
            self._control = False
            await self._flush()
        if not out and (
            protocol.close_rcvd is not None
            or protocol.parser_exc is not None
            or protocol.state is State.CLOSED
        ):
            self._raise_closed()
        return out

    def _absorb(self, data: bytes | bytearray) -> list[Any]:
        """Cut ``data`` into messages (fast path first, websockets for the rest)."""
        out: list[Any] = []
        if self._fast:
            data = self._split(data, out)
        if data:
            protocol = self._protocol
            protocol.receive_data(data)
            # after the handshake the protocol yields frames only
            events = cast("list[Frame]", protocol.events_received())
            if events:
                self._frames(events, out)
        return out

    def _frames(self, events: list[Frame], out: list[Any]) -> None:
        append = out.append
        for frame in events:
            op = frame.opcode
            if op is _TEXT or op is _BINARY:
                if frame.fin:
                    append(frame.data)
                else:
                    self._fragments = [frame.data]
                    self._fragment_text = op is _TEXT
            elif op is _CONT:
                self._fragments.append(frame.data)
                if frame.fin:
                    append(b"".join(self._fragments))
                    self._fragments = []
            elif op is _PING:
                self.pings_received += 1
                self._control = True
            elif op is _PONG:
                if self.on_pong is not None:
                    self.on_pong(bytes(frame.data))
            elif op is _CLOSE:
                self._control = True

    def _split(self, data: bytes | bytearray, out: list[Any]) -> bytes | bytearray:
        """The fast path for the frames that matter: whole, unfragmented data frames.

        Cuts complete ``FIN`` text/binary frames (no RSV bits, unmasked, as a
        server sends them) straight out of the buffer.  Any other frame (ping,
        pong, close, fragments, anything unusual) is handed, whole and in
        order, to websockets' protocol, which stays the authority on the rest
        of the protocol (answering pings, closing, fragmentation, errors).
        Returns the bytes websockets must see after the ones cut here.
        """
        buf = self._tail + data if self._tail else data
        n = len(buf)
        pos = 0
        protocol = self._protocol
        append = out.append
        while n - pos >= 2:
            if not self._fragments:
                # the run of plain data frames from here, in one call (C when built)
                pos = _cut_frames(buf, pos, out, MAX_MESSAGE)
                if n - pos < 2:
                    break
            b0 = buf[pos]
            header = frame_header(buf, pos, n)
            if header is None:
                break
            length, head = header
            if buf[pos + 1] & 0x80 or length > MAX_MESSAGE:
                # masked by the server, or too big: let websockets fail the connection
                self._fast = False
                self._tail = b""
                return buf[pos:]
            end = pos + head + length
            if end > n:
                break
            if (b0 == 0x81 or b0 == 0x82) and not self._fragments:
                append(buf[pos + head : end])
            else:
                protocol.receive_data(buf[pos:end])
                events = cast("list[Frame]", protocol.events_received())
                if events:
                    self._frames(events, out)
                if protocol.state is not State.OPEN or protocol.parser_exc is not None:
                    # closing: nothing after a close frame counts
                    self._fast = False
                    self._tail = b""
                    return b""
            pos = end
        self._tail = buf[pos:] if pos < n else b""
        return b""

    def _raise_closed(self) -> None:
        rcvd = self._protocol.close_rcvd
        if rcvd is not None:
            raise ConnectionClosed(rcvd.code, rcvd.reason)
        exc = self._protocol.parser_exc
        if exc is not None and not isinstance(exc, EOFError):
            raise ConnectionClosed(1002, f"protocol error: {exc}")
        raise ConnectionClosed(1006, "connection lost without a close frame")

    async def _flush(self) -> None:
        chunks = self._protocol.data_to_send()
        if not chunks:
            return
        data = b"".join(c for c in chunks if c)
        if not data:
            return
        async with self._send_lock:
            try:
                await self._stream.send_all(data)
            except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
                raise ConnectionClosed(1006, f"transport error: {exc}") from None

    async def send_text(self, text: str) -> None:
        self._protocol.send_text(text.encode())
        await self._flush()

    async def ping(self, payload: bytes) -> None:
        """Send a ping control frame; the pong's payload goes to :attr:`on_pong`."""
        self._protocol.send_ping(payload)
        await self._flush()

    async def aclose(self, code: int = 1000, reason: str = "") -> None:
        """Close politely (bounded by a short timeout), then drop the transport."""
        with trio.move_on_after(2) as scope:
            scope.shield = True
            try:
                if self._protocol.state is State.OPEN:
                    self._protocol.send_close(code, reason)
                    await self._flush()
            except (ConnectionClosed, trio.BrokenResourceError, trio.ClosedResourceError):
                pass
        await trio.aclose_forcefully(self._stream)


async def connect_websocket(
    url: str,
    connector: Connector | None = None,
    *,
    ssl_context: ssl.SSLContext | None = None,
    progress: ConnectProgress | None = None,
) -> WebSocket:
    """Open ``url`` and complete the WebSocket handshake.

    ``connector`` opens the byte stream (default: TCP, and TLS for ``wss://`` with
    ``ssl_context`` or the system trust store).  No timeout of its own: wrap it in
    ``trio.fail_after`` (the engine does, with ``connect_timeout``); ``progress.phase``
    then says which step was too slow.  A refused handshake raises
    :class:`~trio_feeds.HandshakeRejected` with the HTTP status.
    """
    shown = redact(url)
    try:
        uri = parse_uri(url)
    except InvalidURI as exc:
        raise ConfigError(f"invalid WebSocket URL {shown!r}: {redact(exc)}") from None
    token = _PROGRESS.set(progress)
    try:
        if connector is None:
            stream = await open_stream(url, ssl_context, progress)
        else:
            if progress is not None:
                progress.phase = "connect"
            stream = await connector(url)
    finally:
        _PROGRESS.reset(token)
    if progress is not None:
        progress.phase = "WebSocket handshake"
    try:
        protocol = ClientProtocol(uri, max_size=MAX_MESSAGE)
        request = protocol.connect()
        protocol.send_request(request)
        ws = WebSocket(stream, protocol, url)
        await ws._flush()
        raw = b""
        while True:
            try:
                data = await stream.receive_some(READ_SIZE)
            except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
                raise ConnectionClosed(
                    1006, f"transport error during handshake: {redact(exc)}"
                ) from None
            if not data:
                protocol.receive_eof()
                raise ConnectionClosed(1006, "connection closed during the handshake")
            raw += data
            end = raw.find(b"\r\n\r\n")
            if end >= 0:
                break
            if len(raw) > 65536:
                raise ProtocolError(f"WebSocket handshake with {shown}: response head too large")
        _check_status(shown, raw, end)
        # websockets sees exactly the response head; frames after it start at a boundary
        protocol.receive_data(raw[: end + 4])
        events = protocol.events_received()
        response = next((e for e in events if isinstance(e, Response)), None)
        failure = protocol.handshake_exc
        if failure is not None or response is None:
            status = getattr(response, "status_code", "?")
            raise ProtocolError(
                f"WebSocket handshake with {shown} failed (HTTP {status}): "
                f"{redact(failure or 'incomplete response')}"
            )
        ws._pending = ws._absorb(raw[end + 4 :])
        await ws._flush()
        return ws
    except BaseException:
        await trio.aclose_forcefully(stream)
        raise


def _check_status(url: str, raw: bytes, end: int) -> None:
    """Raise :class:`HandshakeRejected` when the response is not ``101 Switching Protocols``.

    Read here, not by websockets: it waits for the whole body of an error response before it
    reports anything, and the status must not be lost.
    """
    line = raw[: raw.find(b"\r\n")].decode("latin-1", "replace")
    parts = line.split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
        raise ProtocolError(f"WebSocket handshake with {url}: not an HTTP response: {line[:80]!r}")
    status = int(parts[1])
    if status == 101:
        return
    phrase = parts[2].strip() if len(parts) > 2 else ""
    body = raw[end + 4 : end + 4 + 300].decode("utf-8", "replace")
    body = " ".join(body.split())
    raise HandshakeRejected(url, status, phrase, redact(body))


__all__ = [
    "ConnectProgress",
    "ConnectionClosed",
    "Connector",
    "InvalidHandshake",
    "WebSocket",
    "connect_websocket",
    "default_connector",
    "open_stream",
    "start_tls",
    "tls_connector",
    "tls_error",
]
