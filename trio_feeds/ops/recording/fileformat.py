"""Reading recording files: gzip JSON lines, including files cut short by a crash.

A recorder sync-flushes its gzip stream at every write (``flush_interval``, 0.25 s by
default), so a recorder killed with SIGKILL leaves a file whose compressed data decodes up to
its last flush; only the end-of-stream marker (and whatever was not flushed yet) is missing.
:func:`read_recording` reads such a file up to the break and says where it broke.
"""

from __future__ import annotations

import base64
import inspect
import math
import os
import zlib
from typing import Any

import attrs
import orjson

from trio_feeds.core.errors import ConfigError
from trio_feeds.feed.feed import open_feed
from trio_feeds.ops.recording._common import FORMAT_VERSION, logger

__all__ = ["RecordingFile", "Truncation", "load_recording", "read_recording"]

_READ_CHUNK = 64 * 1024

#: what a recording's header may name (open_feed's arguments)
FEED_ARGS = frozenset(inspect.signature(open_feed).parameters)


@attrs.frozen
class Truncation:
    """Where a recording that was cut short (a crash, a kill, a full disk) breaks."""

    offset: int
    """Bytes of the file that decoded (the compressed offset of the break)."""
    size: int
    """The file's size in bytes."""
    entries: int
    """Entries read before the break (the header included); replay delivers these."""
    data_offset: int
    """Bytes of JSON lines decoded before the break (the uncompressed offset)."""
    reason: str
    """What is wrong at the break."""

    def __str__(self) -> str:
        return (
            f"breaks at byte {self.offset} of {self.size} (after entry {self.entries}, "
            f"{self.data_offset} bytes of JSON lines): {self.reason}"
        )


@attrs.frozen
class RecordingFile:
    """A recording read from disk: every intact entry, and where it broke if it did."""

    path: str
    entries: list[dict[str, Any]]
    truncation: Truncation | None = None


def read_recording(path: str | os.PathLike[str]) -> RecordingFile:
    """Read the recording ``path`` up to its end, or up to where it breaks.

    A file cut short (the recorder was killed, the disk filled) gives every complete entry
    before the break and a :class:`Truncation` naming the byte and record offsets; a file
    with no intact header, or an entry of the wrong shape before the break, raises
    :class:`~trio_feeds.ConfigError`.  Blocking: use a thread.
    """
    p = os.fspath(path)
    try:
        with open(p, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            lines, data_bytes, offset, reason = _decode(f)
    except OSError as exc:
        raise ConfigError(f"cannot read the recording {p!r}: {exc}") from None
    entries: list[dict[str, Any]] = []
    for i, line in enumerate(lines, 1):
        try:
            entry = orjson.loads(line)
        except ValueError as exc:
            if i == len(lines) and reason is not None:  # garbage right at the break
                break
            raise ConfigError(f"cannot read the recording {p!r}: line {i}: {exc}") from None
        entries.append(entry)
    if not entries or not isinstance(entries[0], dict) or entries[0].get("type") != "header":
        if size == 0:
            raise ConfigError(
                f"{p!r} is empty (the recorder stopped before its first flush): nothing to replay"
            )
        why = f" ({reason} at byte {offset})" if reason and not entries else ""
        raise ConfigError(f"{p!r} is not a trio_feeds recording (no header){why}")
    version = entries[0].get("version")
    if version != FORMAT_VERSION:
        raise ConfigError(
            f"{p!r}: recording format version {version!r}, this trio_feeds reads {FORMAT_VERSION}"
        )
    for i, entry in enumerate(entries, 1):
        problem = check_entry(entry)
        if problem:
            raise ConfigError(f"{p!r} line {i}: {problem}")
    truncation = None
    if reason is not None:
        truncation = Truncation(offset, size, len(entries), data_bytes, reason)
    return RecordingFile(p, entries, truncation)


def _decode(f: Any) -> tuple[list[bytes], int, int, str | None]:
    """The complete lines of a gzip stream (several members allowed), the bytes of them,
    and where and why decoding stopped early (``reason`` None: the stream is whole)."""
    lines: list[bytes] = []
    rest = b""
    good = 0  # uncompressed bytes in complete lines
    offset = 0  # compressed bytes consumed
    d = zlib.decompressobj(31)
    member_started = False
    reason: str | None = None
    pending = b""
    while True:
        chunk = pending or f.read(_READ_CHUNK)
        pending = b""
        if not chunk:
            break
        saved = d.copy()
        try:
            out = d.decompress(chunk)
        except zlib.error as exc:
            # again, a byte at a time: keep what decodes, and find the bad byte
            d, out, bad = saved, b"", 0
            for bad in range(len(chunk)):
                try:
                    out += d.decompress(chunk[bad : bad + 1])
                except zlib.error:
                    break
            reason = f"corrupt compressed data at byte {offset + bad}: {exc}"
            offset += bad
            pending = b""
            chunk = b""
        member_started = True
        if reason is not None:
            pass
        elif d.eof:
            used = len(chunk) - len(d.unused_data)
            offset += used
            pending = d.unused_data.lstrip(b"\0")  # padding after a member is harmless
            offset += len(d.unused_data) - len(pending)
            d = zlib.decompressobj(31)
            member_started = False
        else:
            offset += len(chunk)
        if out:
            parts = (rest + out).split(b"\n")
            rest = parts.pop()
            for part in parts:
                good += len(part) + 1
                if part.strip():
                    lines.append(part)
        if reason is not None:
            break
    if reason is None and member_started:
        tail = d.flush()
        if tail:
            parts = (rest + tail).split(b"\n")
            rest = parts.pop()
            for part in parts:
                good += len(part) + 1
                if part.strip():
                    lines.append(part)
        reason = "the compressed stream ends early (no end-of-stream marker: the recorder was "
        reason += "killed or the file was cut)"
    if rest.strip():
        why = f"an incomplete last line ({len(rest)} bytes) was left out"
        reason = f"{reason}; {why}" if reason else why
    return lines, good, offset, reason


def load_recording(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Every entry of a recording (header first), as dicts.  Blocking: use a thread.

    A recording cut short gives the entries before the break, with a warning logged (see
    :func:`read_recording` for where it broke)."""
    rec = read_recording(path)
    if rec.truncation is not None:
        logger.warning("recording %r %s", rec.path, rec.truncation)
    return rec.entries


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


def check_entry(e: Any) -> str | None:
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
        unknown = set(e.get("feed", {})) - FEED_ARGS
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
