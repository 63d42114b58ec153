"""The pieces every record class is made of (shared by :mod:`.records` and :mod:`.perp`)."""

from __future__ import annotations

from typing import Any, Literal, TypeAlias

import attrs

__all__ = ["Level", "Levels", "Side"]

Side: TypeAlias = Literal["buy", "sell"]
Level: TypeAlias = tuple[float, float]
"""One book level: ``(price, size)``."""
Levels: TypeAlias = tuple[Level, ...]

_RAW = attrs.field(default=None, repr=False, eq=False, kw_only=True)


def _kind(value: str) -> Any:
    return attrs.field(default=value, init=False)
