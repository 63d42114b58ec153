"""JSON-lines files: one record or event per line, as :func:`trio_feeds.dumps` writes it."""

from __future__ import annotations

import os
import sys
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any

import cattrs
import trio

from trio_feeds.core.convert import dumps, loads
from trio_feeds.core.errors import ProtocolError
from trio_feeds.core.records import Item
from trio_feeds.core.redact import redact
from trio_feeds.core.validate import seconds
from trio_feeds.sinks._base import SinkStats

_CHUNK = 1 << 20


class JsonlFileSink:
    """Appends every item to a JSON-lines file (``"-"``: standard output).

    Each batch is encoded in the caller's task and written with one write (and
    one flush), so a batch costs one trip to trio's worker thread.  A batch handed
    to :meth:`send_many` is written even if the caller is cancelled meanwhile (the
    write is shielded; a batch cancelled before its write started waits and goes
    out with the next one or at close): ``stats.sent`` counts exactly what is in
    the file.  :meth:`aclose` flushes what waits, for up to ``close_timeout``
    seconds, shielded from the caller's cancellation.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        append: bool = True,
        fsync: bool = False,
        close_timeout: float = 5.0,
        converter: cattrs.Converter | None = None,
    ) -> None:
        self.path = os.fspath(path)
        self._append = append
        self._fsync = fsync
        self.close_timeout = seconds("close_timeout", close_timeout, allow_zero=True)
        self._conv = converter
        self._file: Any = None
        self._closed = False
        self._lock = trio.Lock()
        self._stats = SinkStats()
        #: encoded batches not written yet: (data, item count)
        self._pending: list[tuple[bytes, int]] = []

    @property
    def stats(self) -> SinkStats:
        return self._stats

    @property
    def name(self) -> str:
        """The file's path (``-``: standard output)."""
        return self.path

    async def open(self) -> None:
        if self._file is not None:
            return
        if self.path == "-":
            self._file = trio.wrap_file(sys.stdout.buffer)
        else:
            self._file = await trio.open_file(self.path, "ab" if self._append else "wb")
        self._stats.connected = True

    async def send_many(self, items: Sequence[Item]) -> None:
        if self._closed:
            raise trio.ClosedResourceError("the sink is closed")
        if not items:
            return
        conv = self._conv
        data = b"\n".join([dumps(i, conv) for i in items]) + b"\n"
        self._stats.received += len(items)
        self._pending.append((data, len(items)))
        self._stats.buffered += len(items)
        # a cancel while waiting for the lock leaves the batch pending (written later)
        async with self._lock:
            await self._write_pending()

    async def _write_pending(self) -> None:
        """Write every pending batch with one shielded write (the lock is held)."""
        if not self._pending:
            return
        batches, self._pending = self._pending, []
        data = b"".join(d for d, _ in batches)
        n = sum(k for _, k in batches)
        with trio.CancelScope(shield=True):
            try:
                if self._file is None:
                    await self.open()
                await self._file.write(data)
                await self._file.flush()
                if self._fsync and self.path != "-":
                    await trio.to_thread.run_sync(os.fsync, self._file.fileno())
            except OSError as exc:
                self._stats.errors += 1
                self._stats.dropped += n
                self._stats.buffered -= n
                self._stats.last_error = redact(repr(exc))
                raise
        self._stats.buffered -= n
        self._stats.sent += n
        self._stats.batches += len(batches)

    async def flush(self) -> None:
        """Write what waits (batches whose caller was cancelled before their write)."""
        async with self._lock:
            await self._write_pending()
        await trio.lowlevel.checkpoint()

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        with trio.CancelScope(shield=True):
            with trio.move_on_after(self.close_timeout):
                try:
                    async with self._lock:
                        await self._write_pending()
                except OSError:
                    pass  # counted in stats
            lost = sum(k for _, k in self._pending)
            self._pending.clear()
            self._stats.dropped += lost
            self._stats.buffered -= lost
            self._stats.connected = False
            f, self._file = self._file, None
            if f is not None and self.path != "-":
                await f.aclose()


async def read_jsonl(
    path: str | os.PathLike[str], *, converter: cattrs.Converter | None = None
) -> AsyncIterator[Item]:
    """The items of a JSON-lines file, in order (blank lines are skipped).

    A line that is not a record raises :class:`~trio_feeds.ProtocolError`
    naming the file and line.
    """
    name = os.fspath(path)
    async with await trio.open_file(name, "rb") as f:
        rest = b""
        lineno = 0
        while True:
            chunk = await f.read(_CHUNK)
            if not chunk:
                break
            lines = (rest + chunk).split(b"\n")
            rest = lines.pop()
            for line in lines:
                lineno += 1
                if line.strip():
                    yield _decode(line, name, lineno, converter)
        if rest.strip():
            yield _decode(rest, name, lineno + 1, converter)


def iter_jsonl(
    path: str | os.PathLike[str], *, converter: cattrs.Converter | None = None
) -> Iterator[Item]:
    """Like :func:`read_jsonl`, but synchronous (for scripts and notebooks)."""
    name = os.fspath(path)
    with open(name, "rb") as f:
        for lineno, line in enumerate(f, 1):
            if line.strip():
                yield _decode(line, name, lineno, converter)


def _decode(line: bytes, name: str, lineno: int, conv: cattrs.Converter | None) -> Item:
    try:
        return loads(line, conv)
    except Exception as exc:
        raise ProtocolError(f"{name}:{lineno}: not a trio_feeds record: {exc}") from exc
