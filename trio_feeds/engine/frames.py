"""Cutting plain WebSocket data frames out of a socket read (internal; the fast part of
:meth:`trio_feeds.engine.ws.WebSocket._split`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from trio_feeds.core.accel import speedups

__all__: list[str] = []


def frame_header(buf: bytes | bytearray, pos: int, n: int) -> tuple[int, int] | None:
    """``(payload length, header length)`` of the frame at ``buf[pos:n]`` (its mask bit
    aside), or None while the header is incomplete."""
    length = buf[pos + 1] & 0x7F
    if length < 126:
        return length, 2
    if length == 126:
        return None if n - pos < 4 else ((buf[pos + 2] << 8) | buf[pos + 3], 4)
    return None if n - pos < 10 else (int.from_bytes(buf[pos + 2 : pos + 10], "big"), 10)


def _py_cut_frames(buf: bytes | bytearray, pos: int, out: list[Any], max_message: int) -> int:
    """The payloads of the plain data frames at ``buf[pos:]`` appended to ``out`` (FIN text
    or binary, no RSV bits, unmasked, at most ``max_message`` bytes); returns where they end:
    the end of ``buf``, an incomplete frame, or a frame of any other kind, which
    :meth:`WebSocket._split` hands to websockets.  ``_speedups.cut_frames`` is its C twin."""
    n = len(buf)
    append = out.append
    while n - pos >= 2:
        b0 = buf[pos]
        b1 = buf[pos + 1]
        if (b0 != 0x81 and b0 != 0x82) or b1 & 0x80:
            break
        header = frame_header(buf, pos, n)
        if header is None:
            break
        length, head = header
        end = pos + head + length
        if length > max_message or end > n:
            break
        append(bytes(buf[pos + head : end]))
        pos = end
    return pos


_cut_frames: Callable[[bytes | bytearray, int, list[Any], int], int] = (
    _py_cut_frames if speedups is None else speedups.cut_frames
)
