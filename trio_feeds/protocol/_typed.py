"""What the adapters' msgspec typed paths share (internal)."""

from __future__ import annotations

from typing import Annotated, Final

import msgspec

_MAX_FLOAT: Final = 1.7976931348623157e308
Finite = Annotated[float, msgspec.Meta(ge=-_MAX_FLOAT, le=_MAX_FLOAT)]
"""A finite float, read from a JSON number or (with ``strict=False``) a numeric string,
correctly rounded like ``float()``: NaN fails both bounds, infinities one of them."""
