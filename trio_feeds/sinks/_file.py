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
from trio_feeds.sinks._base import SinkStats

_CHUNK = 1 << 20


class JsonlFileSink:
    """Appends every item to a JSON-lines file (``"-"``: standard output).

    Each batch is encoded in the caller's task and written with one write (and
    one flush), so a batch costs one trip to trio's worker thread.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        append: bool = True,
        fsync: bool = False,
        converter: cattrs.Converter | None = None,
    ) -> None:
        self.path = os.fspath(path)
        self._append = append
        self._fsync = fsync
        self._conv = converter
        self._file: Any = None
        self._closed = False
        self._lock = trio.Lock()
        self._stats = SinkStats()

    @property
    def stats(self) -> SinkStats:
        return self._stats

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
        try:
            async with self._lock:
                if self._file is None:
                    await self.open()
                await self._file.write(data)
                await self._file.flush()
                if self._fsync and self.path != "-":
                    await trio.to_thread.run_sync(os.fsync, self._file.fileno())
        except OSError as exc:
            self._stats.errors += 1
            self._stats.dropped += len(items)
            self._stats.last_error = redact(repr(exc))
            raise
        except BaseException:
            # cancelled before the batch was known to be written: never silently lost
            self._stats.dropped += len(items)
            raise
        self._stats.sent += len(items)
        self._stats.batches += 1

    async def flush(self) -> None:
        """Nothing to wait for: every batch is written before ``send_many`` returns."""
        await trio.lowlevel.checkpoint()

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._stats.connected = False
        f, self._file = self._file, None
        if f is not None and self.path != "-":
            with trio.CancelScope(shield=True):
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
