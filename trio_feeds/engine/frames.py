"""Cutting plain WebSocket data frames out of a socket read (internal; the fast part of
:meth:`trio_feeds.engine.ws.WebSocket._split`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from trio_feeds.core.accel import speedups

__all__: list[str] = []


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
        length = b1 & 0x7F
        head = 2
        if length == 126:
            if n - pos < 4:
                break
            length = (buf[pos + 2] << 8) | buf[pos + 3]
            head = 4
        elif length == 127:
            if n - pos < 10:
                break
            length = int.from_bytes(buf[pos + 2 : pos + 10], "big")
            head = 10
        end = pos + head + length
        if length > max_message or end > n:
            break
        append(bytes(buf[pos + head : end]))
        pos = end
    return pos


_cut_frames: Callable[[bytes | bytearray, int, list[Any], int], int] = (
    _py_cut_frames if speedups is None else speedups.cut_frames
)
