"""Standard output that never blocks the event loop (``stream``, ``replay``)."""

from __future__ import annotations

import functools
import io
import os
import sys
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import trio


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


class _Output:
    """Standard output that never blocks the event loop.

    Writes go to a bounded queue (``limit`` bytes); a worker thread writes it to the file
    descriptor.  :meth:`write` waits while the queue is full, so a reader that stops
    reading slows only the command's own consumer: the feed's readers, heartbeats, the
    monitor and ``--duration`` keep running, and the feed applies its slow-consumer policy
    (quotes conflated, trades dropped with a ``Dropped`` event).  :meth:`write_nowait`
    (live table) drops instead.  At the end, :meth:`aclose` gives the reader ``grace``
    seconds, then gives up on what is left (counted in :attr:`unwritten`).
    """

    def __init__(
        self, fd: int | None, limit: int = 1 << 20, writer: Callable[[bytes], None] | None = None
    ) -> None:
        self.fd = fd
        self.limit = limit
        if writer is None:
            assert fd is not None
            writer = functools.partial(_write_all, fd)
        self._writer = writer
        self._chunks: deque[bytes] = deque()
        self._pending = 0
        self._wake = trio.Event()
        self._space = trio.Event()
        self._idle = trio.Event()
        self._idle.set()
        #: writes refused by write_nowait because the queue was full
        self.dropped = 0
        #: writes still queued when the command ended (the reader never took them)
        self.unwritten = 0
        #: the reader went away (``… | head``): the command should end quietly
        self.broken = False
        #: called once when the reader goes away
        self.on_broken: Callable[[], None] = lambda: None

    def _append(self, data: bytes) -> None:
        self._chunks.append(data)
        self._pending += len(data)
        self._idle = trio.Event() if self._idle.is_set() else self._idle
        self._wake.set()

    async def write(self, data: bytes) -> None:
        while self._pending >= self.limit:
            if self._space.is_set():
                self._space = trio.Event()
            await self._space.wait()
        self._append(data)

    def write_nowait(self, data: bytes) -> bool:
        if self._pending >= self.limit:
            self.dropped += 1
            return False
        self._append(data)
        return True

    async def run(self) -> None:
        """The writer: run it in a nursery for as long as the output is used."""
        while True:
            if not self._chunks:
                self._idle.set()
                self._wake = trio.Event()
                await self._wake.wait()
                continue
            parts: list[bytes] = []
            size = 0
            while self._chunks and size < 256 * 1024:
                part = self._chunks.popleft()
                parts.append(part)
                size += len(part)
            try:
                # abandon_on_cancel: a reader that never reads must not hold the exit
                await trio.to_thread.run_sync(self._writer, b"".join(parts), abandon_on_cancel=True)
            except BrokenPipeError:  # the reader is gone: nothing more to write
                self._chunks.clear()
                if not self.broken:
                    self.broken = True
                    self.on_broken()
            except trio.Cancelled:
                self.unwritten += len(parts)
                raise
            finally:
                self._pending -= size
                self._space.set()

    async def aclose(self, grace: float = 1.0) -> None:
        """Wait (at most ``grace`` s) for the queue to be written."""
        with trio.move_on_after(grace):
            await self._idle.wait()
        self.unwritten += len(self._chunks)
        self._chunks.clear()

    def file(self) -> Any:
        """A text file object for rich's Console: writes are ``write_nowait``."""
        return _OutputFile(self)


class _OutputFile(io.TextIOBase):
    def __init__(self, out: _Output) -> None:
        self._out = out

    def write(self, text: str) -> int:
        self._out.write_nowait(text.encode())
        return len(text)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return self._out.fd is not None and os.isatty(self._out.fd)


@asynccontextmanager
async def _stdout() -> AsyncIterator[_Output]:
    """Standard output through an :class:`_Output`, reporting on stderr what it could not
    write."""
    sys.stdout.flush()
    try:
        out = _Output(sys.stdout.fileno())
    except (AttributeError, OSError, ValueError):  # replaced by something without a descriptor

        def write(data: bytes, stdout: Any = sys.stdout) -> None:
            stdout.write(data.decode("utf-8", "replace"))
            stdout.flush()

        out = _Output(None, writer=write)
    async with trio.open_nursery() as nursery:
        out.on_broken = nursery.cancel_scope.cancel  # ends the command's body too
        nursery.start_soon(out.run)
        try:
            yield out
        finally:
            with trio.CancelScope(shield=True):
                await out.aclose()
            nursery.cancel_scope.cancel()
    if out.broken:
        quiet_stdout()
        return
    lost = out.unwritten + out.dropped
    if lost:
        print(f"trio-feeds: standard output was not being read: {lost} writes discarded",
              file=sys.stderr)  # fmt: skip


def quiet_stdout() -> None:
    """The reader of standard output went away (``trio-feeds … | head``): point the
    descriptor at /dev/null so that nothing (not the interpreter's final flush either)
    complains about the broken pipe."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (AttributeError, OSError, ValueError):
        pass
