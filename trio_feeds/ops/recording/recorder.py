"""The recording side: a connector, an httpx transport and a clock that write what they
carry to a recording file (see :mod:`trio_feeds.ops.recording` for the format)."""

from __future__ import annotations

import gzip
import os
import ssl
import time
import zlib
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any

import httpx
import orjson
import trio

from trio_feeds.core.errors import ConfigError
from trio_feeds.core.redact import redact
from trio_feeds.core.validate import seconds
from trio_feeds.engine.ws import Connector, tls_connector
from trio_feeds.exchanges import DEFAULT_EXCHANGES
from trio_feeds.feed.feed import Feed, open_feed
from trio_feeds.ops.recording._common import FORMAT_VERSION, StepClock, b64, essential, relatch

__all__ = ["Recorder", "open_recorder", "record", "recorded_feed"]

_JSONABLE = (str, int, float, bool, type(None), list, tuple, dict)


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
            rec._write({"type": "chunk", "conn": self._conn, "t": t, "data": b64(bytes(data))})
        elif not self._ended:
            self._ended = True
            rec._write({"type": "eof", "conn": self._conn, "t": t, "error": None})
        rec.clock.latch(t)
        self._last_rx = (trio.lowlevel.current_task(), t)
        return data

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        if not self._sent or essential(bytes(data[:256])):
            self._rec._write({"type": "send", "conn": self._conn, "t": self._rec._now()})
        self._sent = True
        await self._inner.send_all(data)
        relatch(self, self._rec.clock)

    async def wait_send_all_might_not_block(self) -> None:
        await self._inner.wait_send_all_might_not_block()

    async def aclose(self) -> None:
        if not self._ended:
            self._ended = True
            self._rec._write({"type": "close", "conn": self._conn, "t": self._rec._now()})
        await self._inner.aclose()


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
        entry.update(t=t, status=response.status_code, headers=headers, body=b64(body))
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
        self.flush_interval = seconds("flush_interval", flush_interval)
        self.path = os.fspath(path)
        self._connector = connector or tls_connector(ssl_context)
        self._owns_transport = http_transport is None
        self._inner_transport = http_transport or httpx.AsyncHTTPTransport(
            verify=ssl_context if ssl_context is not None else True
        )
        self.clock = StepClock(clock or time.time)
        self.http_transport: httpx.AsyncBaseTransport = _RecordingTransport(
            self, self._inner_transport
        )
        self.feed_args = dict(feed_args or {})
        self._conns = 0
        self._rest_ids = 0
        self._pending: list[bytes] = []
        self._file: Any = None
        self._raw: Any = None
        self._wake = trio.Event()
        #: chunks written so far
        self.chunks = 0
        #: entries (lines) written so far, the header included
        self.records = 0
        #: bytes of JSON lines recorded so far (uncompressed)
        self.bytes = 0
        #: bytes of the file on disk after the last flush (compressed)
        self.file_bytes = 0
        #: flushes made (each one a gzip sync flush: what was written survives a crash)
        self.flushes = 0
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

    def _open_file(self) -> None:
        self._raw = open(self.path, "wb")  # noqa: SIM115 - closed in _close_file
        self._file = gzip.GzipFile(filename="", mode="wb", fileobj=self._raw, mtime=0)

    def _write_file(self, data: bytes) -> None:
        """Write and sync-flush: the file then decodes up to here even if we are killed."""
        self._file.write(data)
        self._file.flush(zlib.Z_SYNC_FLUSH)  # also flushes the raw file to the OS
        self.file_bytes = self._raw.tell()

    def _close_file(self) -> None:
        try:
            self._file.close()
        finally:
            self._raw.close()
        self.file_bytes = os.path.getsize(self.path)

    async def _flush(self) -> None:
        if self._pending:
            data = b"".join(self._pending)
            self.records += len(self._pending)
            self._pending.clear()
            self.bytes += len(data)
            self.flushes += 1
            await trio.to_thread.run_sync(self._write_file, data)

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
    flush_interval: float = 0.25,
) -> AsyncIterator[Recorder]:
    """A :class:`Recorder` writing to ``path`` (gzip JSON lines) until the block exits.

    ``connector`` / ``http_transport`` / ``clock`` are what it wraps (defaults: TCP/TLS,
    a new ``httpx.AsyncHTTPTransport``, ``time.time``; both defaults use ``ssl_context``
    for TLS when given).  URLs and errors are written with credentials redacted.
    ``feed_args`` (JSON-compatible open_feed arguments) go into the header so that
    :func:`replay` can rebuild the feed.

    Crash safety: every ``flush_interval`` seconds (and every 1024 entries) what was
    recorded is written and the gzip stream sync-flushed, so a process killed (SIGKILL, an
    OOM kill) leaves a file that :func:`replay` reads up to its last flush.
    """
    rec = Recorder(
        path, connector=connector, http_transport=http_transport, clock=clock,
        feed_args=feed_args, ssl_context=ssl_context, flush_interval=flush_interval,
    )  # fmt: skip
    try:
        await trio.to_thread.run_sync(rec._open_file)
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
            await trio.to_thread.run_sync(rec._close_file)
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


_NOT_RECORDED = frozenset({"connector", "http_transport", "clock", "ssl_context"})


@asynccontextmanager
async def record(
    path: str | os.PathLike[str],
    exchanges: Any = DEFAULT_EXCHANGES,
    symbols: Any = ("BTC-USDT",),
    channels: Any = ("trade",),
    **kwargs: Any,
) -> AsyncIterator[Feed]:
    """:func:`~trio_feeds.open_feed` with its transport recorded to ``path``.

    Takes open_feed's arguments; ``connector``, ``http_transport`` and ``clock`` are
    wrapped (so recording works on the simulators too).  Yields the live feed::

        async with trio_feeds.record("btc.tfrec.gz", ["binance"], ["BTC-USDT"]) as feed:
            async for record in feed: ...

    (:func:`recorded_feed` yields the :class:`Recorder` too, for its counters.)
    """
    async with recorded_feed(path, exchanges, symbols, channels, **kwargs) as (feed, _):
        yield feed


@asynccontextmanager
async def recorded_feed(
    path: str | os.PathLike[str],
    exchanges: Any = DEFAULT_EXCHANGES,
    symbols: Any = ("BTC-USDT",),
    channels: Any = ("trade",),
    *,
    flush_interval: float = 0.25,
    **kwargs: Any,
) -> AsyncIterator[tuple[Feed, Recorder]]:
    """Like :func:`record`, yielding ``(feed, recorder)``: the recorder counts records,
    bytes and flushes (what ``trio-feeds record`` shows as progress)."""
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
        flush_interval=flush_interval,
    ) as rec, open_feed(
        exchanges, symbols, channels,
        connector=rec.connector, http_transport=rec.http_transport, clock=rec.clock,
        **kwargs,
    ) as feed:  # fmt: skip
        try:
            yield feed, rec
        finally:
            rec.mark_end()
