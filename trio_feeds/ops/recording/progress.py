"""A recording's progress on a terminal: records, bytes and elapsed time on one line."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import TextIO

import trio

from trio_feeds.ops.recording.recorder import Recorder

__all__ = ["progress_text", "show_progress"]


def _size(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")  # pragma: no cover


def progress_text(rec: Recorder, records: int, elapsed: float) -> str:
    """``recording btc.tfrec.gz: 1,234 records, 210.3 KB (1.9 MB raw), 0:01:05``."""
    s = int(elapsed)
    return (
        f"recording {rec.path}: {records:,} records, {_size(rec.file_bytes)} "
        f"({_size(rec.bytes)} raw), {s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"
    )


def _isatty(file: TextIO) -> bool:
    try:
        return file.isatty() and os.environ.get("TERM") != "dumb"
    except (AttributeError, ValueError):
        return False


async def show_progress(
    rec: Recorder,
    records: Callable[[], int],
    *,
    file: TextIO | None = None,
    interval: float = 1.0,
) -> None:
    """Until cancelled, rewrite one status line on ``file`` (standard error) every
    ``interval`` seconds; ``records()`` is the count to show.  Does nothing unless ``file``
    is a terminal (a log file or a pipe stays quiet).  The line is cleared at the end."""
    out = sys.stderr if file is None else file
    if not _isatty(out):
        return
    start = trio.current_time()
    try:
        while True:
            line = progress_text(rec, records(), trio.current_time() - start)
            out.write("\r\x1b[K" + line)
            out.flush()
            await trio.sleep(interval)
    finally:
        out.write("\r\x1b[K")
        out.flush()
