"""What the adapters' msgspec typed paths share (internal).

The constrained types carry the validation rule of :mod:`._rules` into msgspec's C
decoder: a value outside the rule makes the decode fail, and the frame takes the ordinary
path, which names the field.
"""

from __future__ import annotations

from typing import Annotated, Final

import msgspec

_MAX_FLOAT: Final = 1.7976931348623157e308
Finite = Annotated[float, msgspec.Meta(ge=-_MAX_FLOAT, le=_MAX_FLOAT)]
"""A finite float, read from a JSON number or (with ``strict=False``) a numeric string,
correctly rounded like ``float()``: NaN fails both bounds, infinities one of them."""
Price = Annotated[float, msgspec.Meta(gt=0.0, le=_MAX_FLOAT)]
"""A price (:func:`._rules.price`): finite and > 0."""
Size = Annotated[float, msgspec.Meta(ge=0.0, le=_MAX_FLOAT)]
"""A size (:func:`._rules.size`): finite and >= 0."""
Int64 = Annotated[int, msgspec.Meta(ge=-(2**63), le=2**63 - 1)]
"""An integer that fits 64 bits.  Declare it with ``float`` and ``str`` beside it
(``Int64 | float | str``): with ``strict=False`` msgspec would otherwise read ``2.0`` and
``"7"`` as integers where the ordinary path refuses them; the typed handlers let only
``int`` through and send anything else down the ordinary path."""


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
