"""Record a feed's raw transport, and replay it through the same pipeline.

Recording wraps the transport, not the records: a :class:`Recorder` gives ``open_feed`` a
connector whose streams write every chunk ``receive_some`` returns, an httpx transport that
writes every REST response, and a clock.  :class:`Replay` gives the inverse: a connector
whose streams hand the recorded chunks back (whatever the client sends), a transport that
answers with the recorded responses, and a clock that returns the recorded times.  The
engine (handshakes, parsing, books, dedupe, aggregation) runs unchanged on top.

File format (version 1): gzip-compressed JSON lines, one object per line, in the order the
events happened.  ``t`` is the feed clock (Unix seconds) when the event happened::

    {"type": "header", "version": 1, "created": t, "feed": {open_feed arguments}}
    {"type": "open", "conn": 1, "url": "wss://…/stream", "t": t}      connector returned
    {"type": "connect_error", "url": "…", "error": "…", "t": t}      connector raised
    {"type": "chunk", "conn": 1, "t": t, "data": "<base64>"}         one receive_some result
    {"type": "eof", "conn": 1, "t": t, "error": null | "…"}          peer closed / broke
    {"type": "close", "conn": 1, "t": t}                             the client closed it
    {"type": "rest", "id": 1, "t": t, "method": "GET", "url": "…", "status": 200,
     "headers": [[k, v], …], "body": "<base64>"} | {…, "error": "…"}
    {"type": "end", "t": t}                                          the recorded feed closed

Clock rule (the same while recording and replaying, which is what makes ``received_at``
replay exactly): inside the task step in which a stream returned a chunk (or a transport a
response), the clock returns that chunk's time ``t``; it keeps doing so after that task sends
on the same stream once (a pong flushed before the batch is stamped).  Elsewhere it returns
the wrapped clock (recording) or the newest time replayed so far (replay).
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import inspect
import logging
import math
import os
import ssl
import time
import zlib
from collections import deque
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson
import trio
import trio.testing

from trio_feeds.core.errors import ConfigError
from trio_feeds.core.records import Item
from trio_feeds.core.redact import redact
from trio_feeds.engine.ws import Connector, tls_connector
from trio_feeds.feed.feed import Feed, open_feed

__all__ = [
    "FORMAT_VERSION",
    "Recorder",
    "Replay",
    "ReplayFeed",
    "load_recording",
    "open_recorder",
    "open_replay",
    "record",
    "replay",
]

logger = logging.getLogger("trio_feeds.recording")

FORMAT_VERSION = 1
_WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
_JSONABLE = (str, int, float, bool, type(None), list, tuple, dict)


# -- the clock ----------------------------------------------------------------------------
class _StepClock(trio.abc.Instrument):
    """A clock that returns a latched time inside the task step that latched it."""

    def __init__(self, fallback: Callable[[], float]) -> None:
        self.fallback = fallback
        self._latched: dict[trio.lowlevel.Task, float] = {}

    def latch(self, t: float) -> None:
        try:
            self._latched[trio.lowlevel.current_task()] = t
        except RuntimeError:  # pragma: no cover - outside trio
            pass

    def after_task_step(self, task: trio.lowlevel.Task) -> None:
        if self._latched:
            self._latched.pop(task, None)

    def __call__(self) -> float:
        if self._latched:
            try:
                t = self._latched.get(trio.lowlevel.current_task())
            except RuntimeError:  # pragma: no cover - outside trio
                t = None
            if t is not None:
                return t
        return self.fallback()


def _path_key(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + ("?" + parts.query if parts.query else "")


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


# -- recording ----------------------------------------------------------------------------
class _RecordingStream(trio.abc.Stream):
    def __init__(self, recorder: Recorder, conn: int, inner: trio.abc.Stream) -> None:
        self._rec = recorder
        self._conn = conn
        self._inner = inner
        self._last_rx: tuple[trio.lowlevel.Task, float] | None = None
        self._ended = False
        self._sent = False

    async def receive_some(self, max_bytes: int | None = None) -> bytes | bytearray:
        rec = self._rec
        try:
            data = await self._inner.receive_some(max_bytes)
        except trio.BrokenResourceError as exc:
            if not self._ended:
                self._ended = True
                rec._write(
                    {"type": "eof", "conn": self._conn, "t": rec._now(), "error": redact(exc)}
                )
            raise
        t = rec._now()
        if data:
            rec._write({"type": "chunk", "conn": self._conn, "t": t, "data": _b64(bytes(data))})
        elif not self._ended:
            self._ended = True
            rec._write({"type": "eof", "conn": self._conn, "t": t, "error": None})
        rec.clock.latch(t)
        self._last_rx = (trio.lowlevel.current_task(), t)
        return data

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        if not self._sent or _essential(bytes(data[:256])):
            self._rec._write({"type": "send", "conn": self._conn, "t": self._rec._now()})
        self._sent = True
        await self._inner.send_all(data)
        _relatch(self, self._rec.clock)

    async def wait_send_all_might_not_block(self) -> None:
        await self._inner.wait_send_all_might_not_block()

    async def aclose(self) -> None:
        if not self._ended:
            self._ended = True
            self._rec._write({"type": "close", "conn": self._conn, "t": self._rec._now()})
        await self._inner.aclose()


def _essential(data: bytes) -> bool:
    """Does this client send start with a WebSocket text frame other than ``ping``?

    The handshake and such frames (subscriptions) are sequence points of a recording: their
    order relative to the chunks received shows how far the engine had got.  Pings, pongs
    and closes depend on timers, so they are not."""
    if len(data) < 2 or data[0] & 0x0F != 0x1:
        return False
    masked = data[1] & 0x80
    n = data[1] & 0x7F
    if n != 4 or not masked or len(data) < 10:
        return True
    key = data[2:6]
    payload = bytes(b ^ key[i % 4] for i, b in enumerate(data[6:10]))
    return payload != b"ping"


def _relatch(stream: _RecordingStream | _ReplayStream, clock: _StepClock) -> None:
    """After the task that last received on ``stream`` sends on it (once), latch again."""
    last = stream._last_rx
    if last is not None and last[0] is trio.lowlevel.current_task():
        stream._last_rx = None
        clock.latch(last[1])


class _RecordingTransport(httpx.AsyncBaseTransport):
    def __init__(self, recorder: Recorder, inner: httpx.AsyncBaseTransport) -> None:
        self._rec = recorder
        self._inner = inner

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        rec = self._rec
        rec._rest_ids += 1
        entry: dict[str, Any] = {
            "type": "rest", "id": rec._rest_ids, "method": request.method,
            "url": redact(str(request.url)),
        }  # fmt: skip
        try:
            response = await self._inner.handle_async_request(request)
            try:
                body = b"".join([part async for part in response.aiter_raw()])
            except httpx.StreamConsumed:  # an in-process transport that read it already
                body = response.content
            await response.aclose()
        except Exception as exc:
            entry.update(t=rec._now(), error=redact(f"{type(exc).__name__}: {exc}"))
            rec._write(entry)
            raise
        t = rec._now()
        headers = [[k.decode("latin-1"), v.decode("latin-1")] for k, v in response.headers.raw]
        entry.update(t=t, status=response.status_code, headers=headers, body=_b64(body))
        rec._write(entry)
        rec.clock.latch(t)
        return httpx.Response(response.status_code, headers=response.headers.raw, content=body)

    async def aclose(self) -> None:
        pass  # the recorder closes the wrapped transport (RestClients come and go)


class Recorder:
    """Writes a feed's transport to a recording.  Create with :func:`open_recorder`.

    Pass :attr:`connector`, :attr:`http_transport` and :attr:`clock` to
    :func:`~trio_feeds.open_feed` (or use :func:`record`, which does).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        connector: Connector | None = None,
        http_transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], float] | None = None,
        feed_args: Mapping[str, Any] | None = None,
        flush_interval: float = 0.25,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.path = os.fspath(path)
        self._connector = connector or tls_connector(ssl_context)
        self._owns_transport = http_transport is None
        self._inner_transport = http_transport or httpx.AsyncHTTPTransport(
            verify=ssl_context if ssl_context is not None else True
        )
        self.clock = _StepClock(clock or time.time)
        self.http_transport: httpx.AsyncBaseTransport = _RecordingTransport(
            self, self._inner_transport
        )
        self.feed_args = dict(feed_args or {})
        self.flush_interval = flush_interval
        self._conns = 0
        self._rest_ids = 0
        self._pending: list[bytes] = []
        self._file: Any = None
        self._wake = trio.Event()
        #: chunks written so far
        self.chunks = 0
        #: bytes of payload recorded so far
        self.bytes = 0
        self.ended = False

    @property
    def transport(self) -> httpx.AsyncBaseTransport:
        """Same as :attr:`http_transport`."""
        return self.http_transport

    def _now(self) -> float:
        return self.clock.fallback()

    def _write(self, entry: dict[str, Any]) -> None:
        if entry["type"] == "chunk":
            self.chunks += 1
        self._pending.append(orjson.dumps(entry) + b"\n")
        if len(self._pending) >= 1024:
            self._wake.set()

    async def connector(self, url: str) -> trio.abc.Stream:
        """The wrapped connector, whose streams are recorded."""
        try:
            stream = await self._connector(url)
        except Exception as exc:
            self._write(
                {"type": "connect_error", "url": redact(url), "t": self._now(),
                 "error": redact(f"{type(exc).__name__}: {exc}")}
            )  # fmt: skip
            raise
        self._conns += 1
        self._write({"type": "open", "conn": self._conns, "url": redact(url), "t": self._now()})
        return _RecordingStream(self, self._conns, stream)

    def mark_end(self) -> None:
        """The recorded feed is closing: what follows is not replayed."""
        if not self.ended:
            self.ended = True
            self._write({"type": "end", "t": self._now()})

    async def _flush(self) -> None:
        if self._pending:
            data = b"".join(self._pending)
            self._pending.clear()
            self.bytes += len(data)
            await trio.to_thread.run_sync(self._file.write, data)

    async def _writer(self) -> None:
        while True:
            with trio.move_on_after(self.flush_interval):
                await self._wake.wait()
            self._wake = trio.Event()
            await self._flush()


@asynccontextmanager
async def open_recorder(
    path: str | os.PathLike[str],
    *,
    connector: Connector | None = None,
    http_transport: httpx.AsyncBaseTransport | None = None,
    clock: Callable[[], float] | None = None,
    feed_args: Mapping[str, Any] | None = None,
    ssl_context: ssl.SSLContext | None = None,
) -> AsyncIterator[Recorder]:
    """A :class:`Recorder` writing to ``path`` (gzip JSON lines) until the block exits.

    ``connector`` / ``http_transport`` / ``clock`` are what it wraps (defaults: TCP/TLS,
    a new ``httpx.AsyncHTTPTransport``, ``time.time``; both defaults use ``ssl_context``
    for TLS when given).  URLs and errors are written with credentials redacted.
    ``feed_args`` (JSON-compatible open_feed arguments) go into the header so that
    :func:`replay` can rebuild the feed.
    """
    rec = Recorder(
        path, connector=connector, http_transport=http_transport, clock=clock,
        feed_args=feed_args, ssl_context=ssl_context,
    )  # fmt: skip
    try:
        rec._file = await trio.to_thread.run_sync(gzip.open, rec.path, "wb")
    except OSError as exc:
        raise ConfigError(f"cannot write the recording {rec.path!r}: {exc}") from None
    header = {
        "type": "header", "version": FORMAT_VERSION, "created": rec._now(),
        "feed": _jsonable(rec.feed_args),
    }  # fmt: skip
    rec._pending.append(orjson.dumps(header) + b"\n")
    trio.lowlevel.add_instrument(rec.clock)
    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(rec._writer)
            try:
                yield rec
            finally:
                nursery.cancel_scope.cancel()
    finally:
        trio.lowlevel.remove_instrument(rec.clock)
        with trio.CancelScope(shield=True):
            await rec._flush()
            await trio.to_thread.run_sync(rec._file.close)
            if rec._owns_transport:
                await rec._inner_transport.aclose()


def _jsonable(args: Mapping[str, Any]) -> dict[str, Any]:
    """The JSON-compatible arguments, credentials in strings redacted (a recording is a
    file that travels)."""
    out: dict[str, Any] = {}
    for key, value in args.items():
        if isinstance(value, (set, frozenset)):
            value = sorted(value)
        if isinstance(value, _JSONABLE):
            out[key] = _redacted(list(value) if isinstance(value, tuple) else value)
    return out


def _redacted(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: _redacted(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_redacted(v) for v in value]
    return value


#: what a recording's header may name (open_feed's arguments)
_FEED_ARGS = frozenset(inspect.signature(open_feed).parameters)

_NOT_RECORDED = frozenset({"connector", "http_transport", "clock", "ssl_context"})


@asynccontextmanager
async def record(
    path: str | os.PathLike[str],
    exchanges: Any = ("binance",),
    symbols: Any = ("BTC-USDT",),
    channels: Any = ("trade",),
    **kwargs: Any,
) -> AsyncIterator[Feed]:
    """:func:`~trio_feeds.open_feed` with its transport recorded to ``path``.

    Takes open_feed's arguments; ``connector``, ``http_transport`` and ``clock`` are
    wrapped (so recording works on the simulators too).  Yields the live feed::

        async with trio_feeds.record("btc.tfrec.gz", ["binance"], ["BTC-USDT"]) as feed:
            async for record in feed: ...
    """
    feed_args = {
        "exchanges": [exchanges] if isinstance(exchanges, str) else list(exchanges),
        "symbols": [symbols] if isinstance(symbols, str) else list(symbols),
        "channels": [channels] if isinstance(channels, str) else list(channels),
        **{k: v for k, v in kwargs.items() if k not in _NOT_RECORDED},
    }
    async with open_recorder(
        path,
        connector=kwargs.pop("connector", None),
        http_transport=kwargs.pop("http_transport", None),
        clock=kwargs.pop("clock", None),
        feed_args=feed_args,
        ssl_context=kwargs.get("ssl_context"),  # what the wrapped defaults use
    ) as rec, open_feed(
        exchanges, symbols, channels,
        connector=rec.connector, http_transport=rec.http_transport, clock=rec.clock,
        **kwargs,
    ) as feed:  # fmt: skip
        try:
            yield feed
        finally:
            rec.mark_end()


# -- replay -------------------------------------------------------------------------------
def load_recording(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Every entry of a recording (header first), as dicts.  Blocking: use a thread."""
    p = os.fspath(path)
    try:
        with gzip.open(p, "rb") as f:
            entries = [orjson.loads(line) for line in f if line.strip()]
    except (OSError, EOFError, ValueError, zlib.error) as exc:  # JSONDecodeError: ValueError
        raise ConfigError(f"cannot read the recording {p!r}: {exc}") from None
    if not entries or not isinstance(entries[0], dict) or entries[0].get("type") != "header":
        raise ConfigError(f"{p!r} is not a trio_feeds recording (no header)")
    version = entries[0].get("version")
    if version != FORMAT_VERSION:
        raise ConfigError(
            f"{p!r}: recording format version {version!r}, this trio_feeds reads {FORMAT_VERSION}"
        )
    for i, entry in enumerate(entries, 1):
        problem = _check_entry(entry)
        if problem:
            raise ConfigError(f"{p!r} line {i}: {problem}")
    return entries


_CONN_KINDS = frozenset({"open", "send", "chunk", "eof", "close"})


def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_b64(v: Any) -> bool:
    if not isinstance(v, str):
        return False
    try:
        base64.b64decode(v, validate=True)
    except ValueError:
        return False
    return True


def _check_entry(e: Any) -> str | None:
    """What is wrong with one recording entry (None: usable).  Unknown types are skipped
    by replay, so only their ``type`` must be a string."""
    if not isinstance(e, dict):
        return f"not a JSON object: {str(e)[:60]!r}"
    kind = e.get("type")
    if not isinstance(kind, str):
        return f"'type' must be a string, got {kind!r}"
    if kind == "header":
        if not isinstance(e.get("feed", {}), dict):
            return "the header's 'feed' must be an object"
        unknown = set(e.get("feed", {})) - _FEED_ARGS
        if unknown:
            return f"the header names unknown open_feed arguments {sorted(unknown)}"
        if e.get("created") is not None and not _is_num(e["created"]):
            return f"'created' must be a number, got {e['created']!r}"
        return None
    if kind not in (*_CONN_KINDS, "connect_error", "rest", "end"):
        return None
    if not _is_num(e.get("t")):
        return f"{kind}: 't' must be a number, got {e.get('t')!r}"
    if kind in _CONN_KINDS and not _is_int(e.get("conn")):
        return f"{kind}: 'conn' must be an integer, got {e.get('conn')!r}"
    if kind in ("open", "connect_error", "rest") and not isinstance(e.get("url"), str):
        return f"{kind}: 'url' must be a string, got {e.get('url')!r}"
    if not isinstance(e.get("error"), (str, type(None))):
        return f"{kind}: 'error' must be a string or null, got {e.get('error')!r}"
    if kind == "chunk" and not _is_b64(e.get("data")):
        return "chunk: 'data' must be base64"
    if kind == "rest":
        if not isinstance(e.get("method"), str) or not isinstance(e.get("id"), (int, str)):
            return "rest: 'method' must be a string and 'id' a number"
        if e.get("error") is None:
            status, headers = e.get("status"), e.get("headers")
            if not (isinstance(status, int) and _is_int(status) and 100 <= status <= 599):
                return f"rest: 'status' must be an HTTP status, got {status!r}"
            if not isinstance(headers, list) or not all(
                isinstance(h, list) and len(h) == 2 and all(isinstance(x, str) for x in h)
                for h in headers
            ):
                return "rest: 'headers' must be a list of [name, value] strings"
            if not _is_b64(e.get("body")):
                return "rest: 'body' must be base64"
    return None


class _Sequencer:
    """Hands out the recorded deliveries in recorded order (optionally at recorded pace)."""

    def __init__(self, times: list[float], owners: list[Any], speed: float | None) -> None:
        self.times = times
        self.owners = owners
        self.speed = speed
        self.done = [False] * len(times)
        self.cursor = 0
        self.waiting: set[int] = set()
        self.lot = trio.lowlevel.ParkingLot()
        self.all_done = trio.Event()
        self.last_progress = 0.0
        self.skipped = 0
        self.start: float | None = None
        self.t0 = times[0] if times else 0.0
        if not times:
            self.all_done.set()

    async def turn(self, seq: int) -> None:
        self.waiting.add(seq)
        try:
            while self.cursor < seq and not self.done[seq]:
                await self.lot.park()
            if self.speed is not None and not self.done[seq]:
                if self.start is None:
                    self.start = trio.current_time()
                await trio.sleep_until(self.start + (self.times[seq] - self.t0) / self.speed)
            # lockstep: the engine (and the consumer) finish with everything delivered so
            # far before the next delivery, as they (nearly always) did while recording
            await trio.testing.wait_all_tasks_blocked()
        finally:
            self.waiting.discard(seq)

    def finish(self, seq: int) -> None:
        if self.done[seq]:
            return
        self.done[seq] = True
        self.last_progress = trio.current_time()
        n = len(self.done)
        while self.cursor < n and self.done[self.cursor]:
            self.cursor += 1
        if self.cursor >= n:
            self.all_done.set()
        self.lot.unpark_all()

    def skip_owner(self, owner: Any) -> None:
        for i, o in enumerate(self.owners):
            if o == owner and not self.done[i]:
                self.skipped += 1
                self.finish(i)

    async def watch(self, stall: float) -> None:
        """Skip the deliveries of a connection or request the engine never makes."""
        self.last_progress = trio.current_time()
        while self.cursor < len(self.done):
            await trio.sleep(stall / 4)
            c = self.cursor
            if (
                c < len(self.done)
                and c not in self.waiting
                and trio.current_time() - self.last_progress > stall
            ):
                logger.warning("replay: %r was never asked for; skipping it", self.owners[c])
                self.skip_owner(self.owners[c])


class _ReplayStream(trio.abc.Stream):
    def __init__(self, replay: Replay, conn: int, seqs: list[int], sends: list[int]) -> None:
        self._replay = replay
        self._conn = conn
        self._seqs = deque(seqs)
        self._sends = deque(sends)
        self._sent = False
        self._rest = b""
        self._closed = False
        self._scope: trio.CancelScope | None = None
        self._send_scope: trio.CancelScope | None = None
        self._last_rx: tuple[trio.lowlevel.Task, float] | None = None
        self._key: bytes | None = None
        self._handshake_done = False

    async def receive_some(self, max_bytes: int | None = None) -> bytes | bytearray:
        if self._closed:
            raise trio.ClosedResourceError("stream closed")
        rp = self._replay
        if self._rest:
            data, self._rest = self._cut(self._rest, max_bytes)
            await trio.lowlevel.checkpoint()
            return data
        with trio.CancelScope() as scope:
            self._scope = scope
            if not self._seqs:
                await trio.sleep_forever()
            seq = self._seqs[0]
            await rp._seq.turn(seq)
        self._scope = None
        if self._closed:
            raise trio.ClosedResourceError("stream closed")
        self._seqs.popleft()
        entry = rp._entries[seq]
        rp._seq.finish(seq)
        t = float(entry["t"])
        rp._delivered(t)
        rp.clock.latch(t)
        self._last_rx = (trio.lowlevel.current_task(), t)
        kind = entry["type"]
        if kind == "chunk":
            data = base64.b64decode(entry["data"])
            if not self._handshake_done:
                data = self._fix_handshake(data)
            data, self._rest = self._cut(data, max_bytes)
            return data
        error = entry.get("error")
        self._seqs.clear()
        if error:
            raise trio.BrokenResourceError(f"recorded: {error}")
        return b""

    @staticmethod
    def _cut(data: bytes, max_bytes: int | None) -> tuple[bytes, bytes]:
        if max_bytes is None or len(data) <= max_bytes:
            return data, b""
        return data[:max_bytes], data[max_bytes:]

    def _fix_handshake(self, data: bytes) -> bytes:
        """Put the accept value for this client's key into the recorded handshake answer."""
        marker = b"sec-websocket-accept:"
        low = data.lower()
        i = low.find(marker)
        if i < 0:
            return data
        self._handshake_done = True
        if self._key is None:
            return data
        start = i + len(marker)
        end = data.find(b"\r\n", start)
        accept = base64.b64encode(hashlib.sha1(self._key + _WS_GUID).digest())
        return data[:start] + b" " + accept + data[end:]

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        if self._closed:
            raise trio.ClosedResourceError("stream closed")
        if self._key is None and not self._handshake_done:
            for line in bytes(data).split(b"\r\n"):
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"sec-websocket-key":
                    self._key = value.strip()
        essential = not self._sent or _essential(bytes(data[:256]))
        self._sent = True
        if essential and self._sends:
            # wait until the engine is where it was when it sent this while recording
            seq = self._sends.popleft()
            seqr = self._replay._seq
            with trio.CancelScope() as scope:
                self._send_scope = scope
                await seqr.turn(seq)
            self._send_scope = None
            seqr.finish(seq)
            if self._closed:
                raise trio.ClosedResourceError("stream closed")
        else:
            await trio.lowlevel.checkpoint()
        _relatch(self, self._replay.clock)

    async def wait_send_all_might_not_block(self) -> None:
        await trio.lowlevel.checkpoint()

    async def aclose(self) -> None:
        if not self._closed:
            self._closed = True
            for scope in (self._scope, self._send_scope):
                if scope is not None:
                    scope.cancel()
            self._replay._seq.skip_owner(("conn", self._conn))
        await trio.lowlevel.checkpoint()


class _ReplayTransport(httpx.AsyncBaseTransport):
    def __init__(self, replay: Replay) -> None:
        self._replay = replay

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        rp = self._replay
        queue = rp._rest.get((request.method, _path_key(str(request.url))))
        if not queue:
            await trio.lowlevel.checkpoint()
            return httpx.Response(
                404, json={"error": f"replay: no recorded response for {request.url}"}
            )
        seq = queue.popleft()
        await rp._seq.turn(seq)
        rp._seq.finish(seq)
        entry = rp._entries[seq]
        t = float(entry["t"])
        rp._delivered(t)
        if entry.get("error"):
            raise httpx.ConnectError(f"recorded: {entry['error']}", request=request)
        rp.clock.latch(t)
        headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in entry["headers"]]
        return httpx.Response(
            entry["status"], headers=headers, content=base64.b64decode(entry["body"])
        )


class Replay:
    """A loaded recording, ready to feed an engine.  Create with :func:`open_replay`.

    Pass :attr:`connector`, :attr:`http_transport` and :attr:`clock` to
    :func:`~trio_feeds.open_feed`; :attr:`feed_args` are the recorded feed's arguments.
    """

    def __init__(
        self,
        entries: list[dict[str, Any]],
        speed: float | None = None,
        *,
        path: str = "<memory>",
    ) -> None:
        if speed is not None and (not math.isfinite(speed) or speed <= 0):
            raise ConfigError(f"speed must be None (as fast as possible) or > 0, got {speed!r}")
        self.path = path
        self.speed = speed
        header = entries[0]
        self.header = header
        self.feed_args: dict[str, Any] = dict(header.get("feed") or {})
        body: list[dict[str, Any]] = []
        for e in entries[1:]:
            if e.get("type") == "end":
                break
            body.append(e)
        # deliveries, in order: chunks, eofs, client closes (replayed as EOF) and REST answers
        self._entries: list[dict[str, Any]] = []
        owners: list[Any] = []
        per_conn: dict[int, list[int]] = {}
        self._attempts: dict[str, deque[dict[str, Any]]] = {}
        self._rest: dict[tuple[str, str], deque[int]] = {}
        per_conn_sends: dict[int, list[int]] = {}
        for e in body:
            kind = e.get("type")
            if kind == "send":
                per_conn_sends.setdefault(e["conn"], []).append(len(self._entries))
                owners.append(("conn", e["conn"]))
                self._entries.append(e)
                continue
            if kind in ("open", "connect_error"):
                self._attempts.setdefault(_path_key(e["url"]), deque()).append(e)
                continue
            if kind in ("chunk", "eof", "close", "send"):
                if kind == "close":
                    e = {**e, "type": "eof", "error": None}
                per_conn.setdefault(e["conn"], []).append(len(self._entries))
                owners.append(("conn", e["conn"]))
            elif kind == "rest":
                key = (e["method"], _path_key(e["url"]))
                self._rest.setdefault(key, deque()).append(len(self._entries))
                owners.append(("rest", e["id"]))
            else:
                continue
            self._entries.append(e)
        self._per_conn = per_conn
        self._per_conn_sends = per_conn_sends
        self._seq = _Sequencer([float(e["t"]) for e in self._entries], owners, speed)
        self.now = float(header.get("created") or (self._entries[0]["t"] if self._entries else 0))
        self.clock = _StepClock(lambda: self.now)
        self.http_transport: httpx.AsyncBaseTransport = _ReplayTransport(self)
        #: set once every recorded delivery was made (or skipped) and the engine settled
        self.finished = trio.Event()
        #: connections the engine opened
        self.connections = 0

    @property
    def transport(self) -> httpx.AsyncBaseTransport:
        """Same as :attr:`http_transport`."""
        return self.http_transport

    @property
    def skipped(self) -> int:
        """Recorded deliveries the engine never asked for."""
        return self._seq.skipped

    def _delivered(self, t: float) -> None:
        if t > self.now:
            self.now = t

    async def connector(self, url: str) -> trio.abc.Stream:
        """Returns the next recorded connection to ``url``'s path (in recorded order)."""
        await trio.lowlevel.checkpoint()
        queue = self._attempts.get(_path_key(url))
        if not queue:
            raise OSError(f"replay: no more recorded connections to {_path_key(url)!r}")
        attempt = queue.popleft()
        if attempt["type"] == "connect_error":
            raise OSError(f"recorded: {attempt['error']}")
        self.connections += 1
        conn = attempt["conn"]
        return _ReplayStream(
            self, conn, self._per_conn.get(conn, []), self._per_conn_sends.get(conn, [])
        )

    def feed_kwargs(self, **overrides: Any) -> dict[str, Any]:
        """The recorded open_feed arguments, with the replay's transport and timing."""
        kwargs = dict(self.feed_args)
        exchanges = kwargs.get("exchanges")
        okx = isinstance(exchanges, (str, list, tuple)) and "okx" in exchanges
        kwargs.update(
            connector=self.connector,
            http_transport=self.http_transport,
            clock=self.clock,
            # the replayed server never answers our pings: never time out waiting
            heartbeat_interval=25.0 if okx else 3600.0,
            pong_timeout=1e9,
            buffer_size=2**40,
        )
        if self.speed is None:
            kwargs.update(reconnect_delay=0.0, max_reconnect_delay=0.0)
        kwargs.update(overrides)
        return kwargs

    async def run(self, stall_timeout: float | None = None) -> None:
        """Watch the replay until it is finished (run it beside the feed)."""
        if stall_timeout is None:
            stall_timeout = 5.0
            if self.speed is not None:
                stall_timeout += float(self.feed_args.get("max_reconnect_delay", 60.0))
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._seq.watch, stall_timeout)
            await self._seq.all_done.wait()
            nursery.cancel_scope.cancel()
        # let the engine finish with the last deliveries
        await trio.testing.wait_all_tasks_blocked(0.01)
        self.finished.set()


@asynccontextmanager
async def open_replay(
    path: str | os.PathLike[str], speed: float | None = None
) -> AsyncIterator[Replay]:
    """Load the recording ``path`` and yield a :class:`Replay` (its watcher runs meanwhile)."""
    entries = await trio.to_thread.run_sync(load_recording, path)
    rp = Replay(entries, speed, path=os.fspath(path))
    trio.lowlevel.add_instrument(rp.clock)
    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(rp.run)
            try:
                yield rp
            finally:
                nursery.cancel_scope.cancel()
    finally:
        trio.lowlevel.remove_instrument(rp.clock)


class ReplayFeed:
    """What :func:`replay` yields: iterate it for the replayed records and events; the
    iteration ends when the recording is exhausted.  :attr:`feed` is the underlying
    :class:`~trio_feeds.Feed` (``health()``, ``switches``, …) and :attr:`replay` the
    :class:`Replay`."""

    def __init__(self, feed: Feed, replay: Replay) -> None:
        self.feed = feed
        self.replay = replay
        self._waiting: trio.CancelScope | None = None

    def health(self) -> Any:
        return self.feed.health()

    def __aiter__(self) -> ReplayFeed:
        return self

    async def __anext__(self) -> Item:
        feed = self.feed
        while True:
            try:
                return feed.receive_nowait()
            except trio.WouldBlock:
                pass
            if self.replay.finished.is_set():
                raise StopAsyncIteration
            with trio.CancelScope() as scope:
                self._waiting = scope
                try:
                    return await feed.receive()
                except trio.EndOfChannel:
                    raise StopAsyncIteration from None
                finally:
                    self._waiting = None

    def _wake(self) -> None:
        if self._waiting is not None:
            self._waiting.cancel()

    async def collect(self) -> list[Item]:
        """Everything the replay yields, as a list."""
        return [item async for item in self]


@asynccontextmanager
async def replay(
    path: str | os.PathLike[str], speed: float | None = None, **overrides: Any
) -> AsyncIterator[ReplayFeed]:
    """Replay a recording through a new feed built with the recorded arguments.

    ``speed=None`` replays as fast as possible, ``speed=1.0`` at the recorded pace (2.0:
    twice as fast).  ``overrides`` change open_feed arguments.  Yields a :class:`ReplayFeed`::

        async with trio_feeds.replay("btc.tfrec.gz") as feed:
            async for record in feed:
                print(record)
    """
    async with open_replay(path, speed) as rp, open_feed(**rp.feed_kwargs(**overrides)) as feed:
        rf = ReplayFeed(feed, rp)
        async with trio.open_nursery() as nursery:

            async def wake_at_end() -> None:
                await rp.finished.wait()
                rf._wake()

            nursery.start_soon(wake_at_end)
            yield rf
            nursery.cancel_scope.cancel()
