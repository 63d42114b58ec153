"""Pieces the Bybit and Coinbase packages share until they move to the protocol layer.

* :func:`price` / :func:`size` / :func:`levels`: the number rule (finite; prices
  > 0; sizes >= 0).  TODO(validation): replace with the shared rule being built in
  ``trio_feeds/protocol/`` (same semantics) once it lands.
* :class:`ConnectionGap`: a generic control event, "messages were lost on this
  connection"; it lives in ``trio_feeds/protocol/_events.py`` (re-exported here) and the
  engine emits its ``gaps`` and resyncs the books it names.
* :func:`iso_ms`: RFC 3339 text to Unix milliseconds (Coinbase times).
* :func:`describe`: a short text for an exception caught while parsing a frame.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from trio_feeds.core.records import Levels
from trio_feeds.protocol._events import ConnectionGap as ConnectionGap

__all__ = ["ConnectionGap", "describe", "iso_ms", "levels", "price", "size"]

_INF = math.inf
_loads = orjson.loads


def _number(value: Any, what: str) -> float:
    cls = value.__class__
    if cls is str or cls is float or cls is int:
        return float(value)
    raise TypeError(f"{what} {value!r} is neither a numeric string nor a number")


def price(value: Any, what: str = "price") -> float:
    """A finite price > 0 from the exchange's string (or JSON number)."""
    v = _number(value, what)
    if not 0.0 < v < _INF:
        raise ValueError(f"{what} {value!r} is not a finite number > 0")
    return v


def size(value: Any, what: str = "size") -> float:
    """A finite size >= 0 from the exchange's string (or JSON number)."""
    v = _number(value, what)
    if not 0.0 <= v < _INF:
        raise ValueError(f"{what} {value!r} is not a finite number >= 0")
    return v


def levels(raw: Any) -> Levels:
    """``[["px", "sz"], ...]`` → ``((px, sz), ...)``: prices > 0, sizes >= 0, finite."""
    if raw.__class__ is not list:
        raise TypeError(f"levels must be a list, got {type(raw).__name__}")
    n = len(raw)
    if not n:
        return ()
    try:
        # One orjson call instead of two float() per level; "e0" makes every value a float
        # (and refuses anything that is not a plain decimal number).
        values = _loads("[" + "e0,".join(map("e0,".join, raw)) + "e0]")
    except (orjson.JSONDecodeError, TypeError):
        values = None
    if values is not None and len(values) == 2 * n and set(map(len, raw)) == {2}:
        prices = values[0::2]
        sizes = values[1::2]
        if min(prices) > 0.0 and max(prices) < _INF and min(sizes) >= 0.0 and max(sizes) < _INF:
            return tuple(zip(prices, sizes, strict=True))
    # the careful path: name the level that is wrong
    checked = []
    for i, lv in enumerate(raw):
        if lv.__class__ is not list or len(lv) < 2:
            raise ValueError(f"level {i} {lv!r} is not a [price, size] list")
        checked.append((price(lv[0], f"level {i} price"), size(lv[1], f"level {i} size")))
    return tuple(checked)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)


def iso_ms(text: Any) -> int:
    """``"2024-10-08T09:10:52.378779Z"`` → Unix ms (floor); up to 9 fraction digits.

    >>> iso_ms("1970-01-01T00:00:01.2399Z")
    1239
    """
    if text.__class__ is not str:
        raise TypeError(f"time {text!r} is not an RFC 3339 string")
    dt = datetime.fromisoformat(text)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return (dt - _EPOCH) // _MS


def describe(exc: BaseException) -> str:
    if isinstance(exc, KeyError):
        return f"missing field {exc.args[0]!r}" if exc.args else "missing field"
    if isinstance(exc, IndexError):
        return f"too few elements ({exc})"
    return f"{type(exc).__name__}: {exc}"
