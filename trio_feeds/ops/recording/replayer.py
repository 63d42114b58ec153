"""The replaying side: a connector, an httpx transport and a clock that hand a recording
back to an engine, in recorded order."""

from __future__ import annotations

import base64
import hashlib
import math
import os
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import trio
import trio.testing

from trio_feeds.core.errors import ConfigError
from trio_feeds.ops.recording._common import (
    WS_GUID,
    StepClock,
    essential,
    logger,
    path_key,
    relatch,
    replay_ping_interval,
)
from trio_feeds.ops.recording.fileformat import Truncation, read_recording

__all__ = ["Replay", "open_replay"]


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
        accept = base64.b64encode(hashlib.sha1(self._key + WS_GUID).digest())
        return data[:start] + b" " + accept + data[end:]

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        if self._closed:
            raise trio.ClosedResourceError("stream closed")
        if self._key is None and not self._handshake_done:
            for line in bytes(data).split(b"\r\n"):
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"sec-websocket-key":
                    self._key = value.strip()
        key_send = not self._sent or essential(bytes(data[:256]))
        self._sent = True
        if key_send and self._sends:
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
        relatch(self, self._replay.clock)

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
        queue = rp._rest.get((request.method, path_key(str(request.url))))
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
        truncation: Truncation | None = None,
    ) -> None:
        if speed is not None and (not math.isfinite(speed) or speed <= 0):
            raise ConfigError(f"speed must be None (as fast as possible) or > 0, got {speed!r}")
        self.path = path
        self.speed = speed
        #: where the recording broke (it was cut short: a crash, a kill), or None
        self.truncation = truncation
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
                self._attempts.setdefault(path_key(e["url"]), deque()).append(e)
                continue
            if kind in ("chunk", "eof", "close", "send"):
                if kind == "close":
                    e = {**e, "type": "eof", "error": None}
                per_conn.setdefault(e["conn"], []).append(len(self._entries))
                owners.append(("conn", e["conn"]))
            elif kind == "rest":
                key = (e["method"], path_key(e["url"]))
                self._rest.setdefault(key, deque()).append(len(self._entries))
                owners.append(("rest", e["id"]))
            else:
                continue
            self._entries.append(e)
        self._per_conn = per_conn
        self._per_conn_sends = per_conn_sends
        self._seq = _Sequencer([float(e["t"]) for e in self._entries], owners, speed)
        self.now = float(header.get("created") or (self._entries[0]["t"] if self._entries else 0))
        self.clock = StepClock(lambda: self.now)
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
        queue = self._attempts.get(path_key(url))
        if not queue:
            raise OSError(f"replay: no more recorded connections to {path_key(url)!r}")
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
        kwargs.update(
            connector=self.connector,
            http_transport=self.http_transport,
            clock=self.clock,
            heartbeat_interval=replay_ping_interval(exchanges),
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
    """Load the recording ``path`` and yield a :class:`Replay` (its watcher runs meanwhile).

    A recording cut short replays up to where it breaks; a warning is logged and
    :attr:`Replay.truncation` says where."""
    loaded = await trio.to_thread.run_sync(read_recording, path)
    if loaded.truncation is not None:
        logger.warning(
            "recording %r %s: replaying the %d entries before the break",
            loaded.path, loaded.truncation, loaded.truncation.entries,
        )  # fmt: skip
    rp = Replay(loaded.entries, speed, path=loaded.path, truncation=loaded.truncation)
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
