"""The one rule every number and id from an exchange must keep (both adapters, every kind).

A frame (an OKX ``data`` item) that breaks it is malformed: the adapter yields one
:class:`~trio_feeds.protocol.ParseError` naming the field and no record; the other frames
of the batch are not affected.  ``docs/records.md`` ("What a record guarantees") is the
user-facing statement of the same table:

=========================  ===============================================================
value                      rule
=========================  ===============================================================
price                      finite, > 0: trade prices, book levels, candle open/high/low/close
best bid/ask, ticker       finite, >= 0: ``0`` means "none" (an empty book side, no trade
prices                     in 24 h; OKX sends ``""`` or no level there)
size, volume               finite, >= 0: book level sizes (``0`` deletes the level), quote
                           and ticker sizes, volumes
trade amount               finite, > 0
number encoding            a JSON number or a string ``float()`` reads; never ``true`` /
                           ``false``, ``null``, an array or an object
timestamp                  an integer, 0 <= ts < 10**14 (Unix ms before the year 5138: a
                           value in µs or ns is refused, not read as a far future);
                           Binance: a JSON integer; OKX: a JSON integer or a decimal string
sequence id                an integer, -1 <= id < 2**63 (Binance ``U``/``u``/
                           ``lastUpdateId``: >= 0; OKX ``prevSeqId`` is -1 on a snapshot)
OKX checksum               an integer, -2**31 <= c < 2**31 (a signed CRC-32)
trade id                   Binance ``t``/``a``: a JSON integer, 0 <= id < 2**63; OKX
                           ``tradeId``: a string of 1 to 19 ASCII digits (or a JSON
                           integer in that range).  Stored as ``str`` in ``Trade.trade_id``
flag                       JSON ``true`` / ``false`` (Binance ``m``, ``x``); OKX
                           ``confirm`` ``"0"`` / ``"1"``
=========================  ===============================================================

The hot paths apply the rule inline (a chained comparison such as ``0.0 < price < INF``
costs ~30 ns, a function call twice that); the msgspec typed paths apply it through the
constrained types of :mod:`._typed`; everything else, and every error message, goes through
the functions below.  ``tests/test_rules.py`` checks all of them against one another.
"""

from __future__ import annotations

import math
from typing import Any, Final

import orjson

from trio_feeds.core.records import Levels
from trio_feeds.protocol._events import excerpt

INF: Final = math.inf
#: timestamps are Unix milliseconds below this (the year 5138); µs of today are ~1.7e15
MAX_TS: Final = 10**14
#: ids and sequence numbers are below this (they fit a signed 64-bit integer)
MAX_ID: Final = 2**63
#: OKX trade ids: at most this many digits
MAX_ID_DIGITS: Final = 19
MIN_CRC: Final = -(2**31)
MAX_CRC: Final = 2**31

PRICE: Final = "a price: a finite number > 0"
BEST: Final = "a price: a finite number >= 0 (0: none)"
SIZE: Final = "a size: a finite number >= 0"
AMOUNT: Final = "an amount: a finite number > 0"
TIMESTAMP: Final = "a timestamp: an integer of Unix milliseconds, 0 <= ts < 10**14"
SEQUENCE: Final = "a sequence id: an integer from -1 to 2**63-1"
ID: Final = "an id: an integer from 0 to 2**63-1"
TRADE_ID: Final = "a trade id: an integer from 0 to 2**63-1"
TRADE_ID_TEXT: Final = f"a trade id: 1 to {MAX_ID_DIGITS} ASCII digits (or an integer)"
CHECKSUM: Final = "a checksum: a signed 32-bit integer"
COUNT: Final = "a count: an integer from 0 to 2**63-1"
FLAG: Final = "true or false"
LEVELS: Final = "a list of [price, size, ...] levels: price > 0, size >= 0, both finite"


class BadValue(ValueError):
    """A field breaks the rule; the message names it, shows the value and the rule."""

    def __init__(self, field: str, value: object, expected: str) -> None:
        super().__init__(f"field {field!r} is {show(value)}, expected {expected}")
        self.field = field
        self.expected = expected


def show(value: object) -> str:
    """A short JSON-ish rendering of a value for an error message."""
    try:
        return excerpt(orjson.dumps(value), 40)
    except (TypeError, orjson.JSONEncodeError):
        return excerpt(repr(value), 40)


# --------------------------------------------------------------------------- numbers


def number(field: str, value: Any, expected: str) -> float:
    """``float(value)`` for a JSON number or numeric string; anything else is refused."""
    cls = value.__class__
    if cls is str or cls is float or cls is int:
        try:
            return float(value)
        except (ValueError, OverflowError):
            pass
    raise BadValue(field, value, expected)


def price(field: str, value: Any) -> float:
    """A trade, level or candle price: finite and > 0."""
    x = number(field, value, PRICE)
    if 0.0 < x < INF:
        return x
    raise BadValue(field, value, PRICE)


def best(field: str, value: Any) -> float:
    """A best bid/ask or ticker price: finite and >= 0 (0: none)."""
    x = number(field, value, BEST)
    if 0.0 <= x < INF:
        return x
    raise BadValue(field, value, BEST)


def size(field: str, value: Any) -> float:
    """A size or volume: finite and >= 0."""
    x = number(field, value, SIZE)
    if 0.0 <= x < INF:
        return x
    raise BadValue(field, value, SIZE)


def amount(field: str, value: Any) -> float:
    """A trade amount: finite and > 0."""
    x = number(field, value, AMOUNT)
    if 0.0 < x < INF:
        return x
    raise BadValue(field, value, AMOUNT)


def optional_size(field: str, value: Any) -> float | None:
    """OKX ``bidSz``/``askSz``: ``""``, ``"0"``-less absence (None) or a size."""
    if value is None or value == "":
        return None
    return size(field, value)


# --------------------------------------------------------------------------- integers


def integer(
    field: str, value: Any, lo: int, hi: int, expected: str, *, strings: bool = False
) -> int:
    """An integer ``lo <= v < hi``: a JSON integer, or (``strings``) a decimal string."""
    cls = value.__class__
    if cls is int:
        v = value
    elif strings and cls is str:
        try:
            v = int(value)
        except ValueError:
            raise BadValue(field, value, expected) from None
    else:
        raise BadValue(field, value, expected)
    if lo <= v < hi:
        return v  # type: ignore[no-any-return]
    raise BadValue(field, value, expected)


def timestamp(field: str, value: Any, *, strings: bool = False) -> int:
    return integer(field, value, 0, MAX_TS, TIMESTAMP, strings=strings)


def sequence(field: str, value: Any, *, strings: bool = False) -> int:
    """OKX ``seqId``/``prevSeqId`` (-1 allowed)."""
    return integer(field, value, -1, MAX_ID, SEQUENCE, strings=strings)


def update_id(field: str, value: Any) -> int:
    """Binance ``U``/``u``/``lastUpdateId``/``u`` of a bookTicker: a JSON integer >= 0."""
    return integer(field, value, 0, MAX_ID, ID)


def count(field: str, value: Any) -> int:
    return integer(field, value, 0, MAX_ID, COUNT)


def checksum(field: str, value: Any) -> int:
    return integer(field, value, MIN_CRC, MAX_CRC, CHECKSUM, strings=True)


def trade_id(field: str, value: Any, *, strings: bool) -> str:
    """A trade id as the ``str`` a :class:`~trio_feeds.Trade` keeps.

    Binance (``strings=False``): a JSON integer in [0, 2**63).  OKX (``strings=True``):
    also a string of 1 to 19 ASCII digits, kept as sent.
    """
    cls = value.__class__
    if cls is int and 0 <= value < MAX_ID:
        return str(value)
    if strings and cls is str and is_digits(value):
        return value  # type: ignore[no-any-return]
    raise BadValue(field, value, TRADE_ID_TEXT if strings else TRADE_ID)


def is_digits(text: str) -> bool:
    """1 to 19 ASCII digits (``str.isdigit`` alone accepts superscripts and other scripts)."""
    return text.isascii() and text.isdigit() and len(text) <= MAX_ID_DIGITS


def flag(field: str, value: Any) -> bool:
    if value is True or value is False:
        return value
    raise BadValue(field, value, FLAG)


# --------------------------------------------------------------------------- book levels


def levels(field: str, rows: Any, *, pairs: bool = False) -> Levels:
    """``[[price, size, ...], ...]`` as ``((price, size), ...)`` floats, every level checked.

    Rows of fewer than two elements are refused; elements after the size are ignored
    (OKX sends ``[px, sz, "0", orderCount]``), unless ``pairs`` (Binance: exactly two).
    """
    if rows.__class__ is not list:
        raise BadValue(field, rows, LEVELS)
    out: list[tuple[float, float]] = []
    for i, row in enumerate(rows):
        if row.__class__ is not list or len(row) < 2 or (pairs and len(row) != 2):
            shape = "a [price, size] pair" if pairs else "a [price, size, ...] level"
            raise BadValue(f"{field}[{i}]", row, shape)
        out.append((price(f"{field}[{i}][0]", row[0]), size(f"{field}[{i}][1]", row[1])))
    return tuple(out)


_loads = orjson.loads
_JSONError = orjson.JSONDecodeError


def _joined(rows: list[Any]) -> str:
    """The strings of ``rows`` (lists of strings) as JSON numbers: ``"1e0,2e0,..."``
    (``"e0"`` makes each a float).  Raises TypeError unless every element is a str."""
    return "e0,".join(map("e0,".join, rows)) + "e0"


_list_len = list.__len__  # raises TypeError for anything but a list: a type check in C


def _shape(rows: list[Any], width: int, pairs: bool) -> bool:
    """Every row is a list of ``width`` (>= 2; exactly 2 with ``pairs``) elements."""
    try:
        return (width == 2 or (width > 2 and not pairs)) and set(map(_list_len, rows)) == {width}
    except TypeError:
        return False


def _few(rows: list[Any], pairs: bool) -> Levels | None:
    """A few levels of strings, one ``float()`` each (one orjson call costs more for
    them); None for anything else, which then takes the other paths."""
    out = []
    inf = INF
    f = float
    for row in rows:
        if row.__class__ is not list:
            return None
        n = len(row)
        if n != 2 and (pairs or n < 2):
            return None
        p = row[0]
        s = row[1]
        if p.__class__ is not str or s.__class__ is not str:
            return None
        try:
            level = (f(p), f(s))
        except ValueError:
            return None
        if not (0.0 < level[0] < inf and 0.0 <= level[1] < inf):
            return None
        out.append(level)
    return tuple(out)


_FEW: Final = 4
"""Up to this many levels per side are read by :func:`_few`."""


def parse_levels(field: str, rows: Any, *, pairs: bool = False) -> Levels:
    """:func:`levels`, fast: a few levels one by one, more in one orjson call; anything
    else (and every error message) through :func:`levels`.  All give the same floats
    (orjson and ``float()`` round correctly)."""
    if rows.__class__ is list and len(rows) <= _FEW:
        few = _few(rows, pairs)
        if few is not None:
            return few
    elif rows.__class__ is list and rows and rows[0].__class__ is list:
        width = len(rows[0])
        try:
            values = _loads("[" + _joined(rows) + "]")
        except (_JSONError, TypeError):
            values = None
        if values is not None and len(values) == width * len(rows) and _shape(rows, width, pairs):
            prices = values[0::width]
            sizes = values[1::width]
            # orjson reads no NaN or infinity: only the signs are left to check
            if min(prices) > 0.0 and min(sizes) >= 0.0:
                return tuple(zip(prices, sizes, strict=True))
    return levels(field, rows, pairs=pairs)


def parse_sides(
    bids: Any, asks: Any, bid_field: str, ask_field: str, *, pairs: bool = False
) -> tuple[Levels, Levels]:
    """Both sides of a book frame (:func:`parse_levels`) in one orjson call when both are
    non-empty lists of decimal strings of one width (a few levels: one by one)."""
    if (
        bids.__class__ is list
        and asks.__class__ is list
        and len(bids) <= _FEW
        and len(asks) <= _FEW
    ):
        b = _few(bids, pairs)
        a = _few(asks, pairs)
        if b is not None and a is not None:
            return b, a
    elif bids and asks and bids.__class__ is list and asks.__class__ is list:
        b0 = bids[0]
        if b0.__class__ is list:
            width = len(b0)
            try:
                values = _loads("[" + _joined(bids) + "," + _joined(asks) + "]")
            except (_JSONError, TypeError):
                values = None
            if (
                values is not None
                and len(values) == width * (len(bids) + len(asks))
                and _shape(bids, width, pairs)
                and _shape(asks, width, pairs)
            ):
                k = width * len(bids)
                bp = values[0:k:width]
                bs = values[1:k:width]
                ap = values[k::width]
                as_ = values[k + 1 :: width]
                if min(bp) > 0.0 and min(ap) > 0.0 and min(bs) >= 0.0 and min(as_) >= 0.0:
                    return tuple(zip(bp, bs, strict=True)), tuple(zip(ap, as_, strict=True))
    return parse_levels(bid_field, bids, pairs=pairs), parse_levels(ask_field, asks, pairs=pairs)


def numbers(values: list[Any], *, empty: float | None = None) -> list[float]:
    """``values`` as finite floats: decimal strings in one orjson call (~4x faster than
    ``float()`` each), anything else one by one (``float()``, never a bool, never NaN or
    an infinity; ``""`` reads as ``empty`` when that is given).  Raises ``ValueError``
    without naming the field: the caller's diagnosis does that.  Signs are the caller's.
    """
    try:
        fast = _loads("[" + "e0,".join(values) + "e0]")
    except (_JSONError, TypeError):
        fast = None
    if fast is not None and len(fast) == len(values):
        return fast  # type: ignore[no-any-return]
    out: list[float] = []
    for v in values:
        cls = v.__class__
        if empty is not None and cls is str and v == "":
            out.append(empty)
            continue
        if cls is not str and cls is not int and cls is not float:
            raise ValueError(f"{show(v)} is not a number")
        x = float(v)
        if not -INF < x < INF:
            raise ValueError(f"{show(v)} is not finite")
        out.append(x)
    return out
