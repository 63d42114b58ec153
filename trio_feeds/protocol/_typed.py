"""What the adapters' msgspec typed paths share (internal)."""

from __future__ import annotations

from typing import Annotated, Final

import msgspec

_MAX_FLOAT: Final = 1.7976931348623157e308
Finite = Annotated[float, msgspec.Meta(ge=-_MAX_FLOAT, le=_MAX_FLOAT)]
"""A finite float, read from a JSON number or (with ``strict=False``) a numeric string,
correctly rounded like ``float()``: NaN fails both bounds, infinities one of them."""


def reads_as_strings_do(frame: bytes) -> bool:
    """Whether msgspec will read ``frame`` exactly as the ordinary ``orjson`` + ``float()``
    path does; frames where it may not take the ordinary path.  Two known differences:

    * msgspec reads the string ``"-0"`` as ``0.0`` where ``float()`` gives ``-0.0``:
      no JSON string may start with a minus.  Minus signs are rare in book frames (an
      OKX instId's, a negative checksum), so this hops between them with ``find``
      (memchr); ``b'"-' in frame`` is four times slower, every ``"`` being a candidate.
    * msgspec does not check the UTF-8 of fields it skips: the frame must be ASCII.
    """
    if not frame.isascii():
        return False
    i = frame.find(45)  # "-"
    while i > 0:
        if frame[i - 1] == 34:  # '"'
            return False
        i = frame.find(45, i + 1)
    return True
