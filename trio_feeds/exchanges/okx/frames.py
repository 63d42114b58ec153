"""OKX channel names, level helpers and the typed shapes of book pushes (decoded by msgspec)."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import Any, Final, TypeAlias

import msgspec
import orjson

from trio_feeds.books.orderbook import _fmt as _written
from trio_feeds.core.accel import speedups
from trio_feeds.core.records import Levels
from trio_feeds.protocol import _rules as rules
from trio_feeds.protocol._rules import parse_levels, parse_sides
from trio_feeds.protocol._typed import Int64, Price, Size

__all__ = ["BUSINESS_PATH", "CANDLE_INTERVALS", "PUBLIC_PATH", "STREAMS", "TextLevels"]


_EXCHANGE: Final = "okx"
PUBLIC_PATH: Final = "/ws/v5/public"
BUSINESS_PATH: Final = "/ws/v5/business"

#: OKX candlestick intervals (channel ``"candle" + interval``); case matters (1m ≠ 1M).
CANDLE_INTERVALS: Final[tuple[str, ...]] = (
    "1m", "1s", "3m", "5m", "15m", "30m", "1H", "2H", "4H", "6H", "12H",
    "1D", "2D", "3D", "5D", "1W", "1M", "3M",
    "6Hutc", "12Hutc", "1Dutc", "2Dutc", "3Dutc", "5Dutc", "1Wutc", "1Mutc", "3Mutc",
)  # fmt: skip

#: Normalized channel → the OKX channels (``stream``) that serve it; the first is the default.
STREAMS: Final[dict[str, tuple[str, ...]]] = {
    "trade": ("trades", "trades-all"),
    "ticker": ("tickers",),
    "quote": ("bbo-tbt",),
    "book": ("books", "books5", "bbo-tbt"),
    # the default is candle1m (1-minute candles), then every other interval
    "candle": ("candle1m", *(f"candle{i}" for i in CANDLE_INTERVALS if i != "1m")),
    # perpetual swaps (BTC-USDT-PERP) only
    "funding": ("funding-rate",),
    "mark": ("mark-price",),
    "open_interest": ("open-interest",),
    "liquidation": ("liquidation-orders",),
}
#: channels only swaps have
SWAP_ONLY: Final = ("funding", "mark", "open_interest", "liquidation")

TextLevels: TypeAlias = tuple[tuple[str, str], ...]
_Key: TypeAlias = tuple[str, str]
"""``(channel, instId)``: one OKX subscription arg."""
_Handler: TypeAlias = Callable[[Any, str, dict[str, Any], float, list[Any]], None]

_loads = orjson.loads
_set = object.__setattr__  # to attach ``raw`` to a frozen record right after building it
_SIDES: Final[dict[str, Any]] = {"buy": "buy", "sell": "sell"}


class _Invalid(Exception):
    """Internal: a hot-path check of the validation rule failed; :func:`_check_item`
    names the field."""


_INF: Final = rules.INF
_MAX_TS: Final = rules.MAX_TS
_MAX_ID: Final = rules.MAX_ID
_MAX_DIGITS: Final = rules.MAX_ID_DIGITS
# "Wrong URL or channel:tickers,instId:NMR-USDT doesn't exist…" (60018)
_NAMED_ARG = re.compile(r"channel:\s*([A-Za-z0-9_-]+)\s*,\s*instId:\s*([A-Za-z0-9_-]+)")
_MAX_PENDING = 1000
#: the arg at the start of a push, even a cut one
_ARG_PREFIX = re.compile(
    rb'\s*\{\s*"arg"\s*:\s*\{\s*"channel"\s*:\s*"([A-Za-z0-9_-]{1,40})"\s*,'
    rb'\s*"instId"\s*:\s*"([A-Za-z0-9_-]{1,60})"'
)


# --------------------------------------------------------------------------- level helpers


def _levels(levels: Any, field: str = "levels") -> Levels:
    """``[["px","sz","0","n"], …]`` → ``((px, sz), …)`` floats under the validation rule."""
    return parse_levels(field, levels)


def _sides(bids: Any, asks: Any) -> tuple[Levels, Levels]:
    """Both sides of a book push in one orjson call (the common case), else side by side."""
    return parse_sides(bids, asks, "bids", "asks")


# ----------------------------------------------------------------- typed book pushes
# Book-shaped pushes decoded by msgspec into these structs: level numbers become
# floats in C, checked against the validation rule by the constrained types.  Anything
# they do not describe raises msgspec.DecodeError and the frame takes the ordinary path.

_BOOK_TAG: Final = b'"asks":['


class _Level(msgspec.Struct, array_like=True, gc=False):
    """``["px","sz",…]``: the elements after price and size are ignored."""

    price: Price
    size: Size


class _BookItem(msgspec.Struct, gc=False):
    asks: list[_Level]
    bids: list[_Level]
    ts: str
    # only an int (or a str, read as the ordinary path reads it) is used: a float sends
    # the frame down the ordinary path, which refuses it
    seqId: Int64 | float | str | None = None
    prevSeqId: Int64 | float | str | None = None
    checksum: Int64 | float | str | None = None


class _BookArg(msgspec.Struct, gc=False):
    channel: str
    instId: str


class _BookPush(msgspec.Struct, gc=False):
    arg: _BookArg
    data: list[_BookItem]
    action: str | None = None


_decode_book_push: Final = msgspec.json.Decoder(_BookPush, strict=False).decode


def _py_pairs(levels: list[_Level]) -> Levels:
    return tuple([(lv.price, lv.size) for lv in levels])


if speedups is not None:
    # the C twin reads the two slots of each struct directly
    _pairs: Callable[[list[_Level]], Levels] = functools.partial(
        speedups.pairs, _Level.price, _Level.size
    )
else:
    _pairs = _py_pairs


def _text_levels(levels: Any) -> TextLevels:
    """The exchange's own ``(price, size)`` strings, for the checksum."""
    text = tuple([(lv[0], lv[1]) for lv in levels])
    for p, s in text:
        if p.__class__ is not str or s.__class__ is not str:
            raise TypeError(f"level {[p, s]!r}: price and size must be strings")
    return text


def _padded(text: tuple[TextLevels, TextLevels]) -> bool:
    """True when some number is not written as its float would be (``"3366.10"``,
    ``"7.00"``): a checksum over this instrument's book needs the exchange's own strings,
    the floats written back (``OrderBook.top_text``) would not give it."""
    for side in text:
        for p, s in side:
            try:
                if _written(float(p)) != p or _written(float(s)) != s:
                    return True
            except ValueError:
                return True
    return False


def _snapshot_text(bids: Any, asks: Any) -> tuple[TextLevels, TextLevels] | None:
    """A checksum-0 snapshot's texts, for a later non-zero checksum; None when its levels
    are not strings (JSON numbers: nothing to verify over, and no reason to refuse it)."""
    try:
        return _text_levels(bids), _text_levels(asks)
    except TypeError:
        return None


def _ts(value: Any) -> int:
    """An OKX time (``"1597026383085"``) under the rule; raises naming the field ``ts``."""
    t = int(value) if value.__class__ is str else value
    if t.__class__ is int and 0 <= t < _MAX_TS:
        return t
    raise rules.BadValue("ts", value, rules.TIMESTAMP)


def _seq(value: Any, field: str) -> int | None:
    """An optional OKX ``seqId``/``prevSeqId`` under the rule."""
    if value is None:
        return None
    if value.__class__ is int and -1 <= value < _MAX_ID:
        return value
    return rules.sequence(field, value, strings=True)


def _crc(value: Any) -> int | None:
    """An optional OKX ``checksum`` under the rule (a signed 32-bit integer)."""
    if value is None:
        return None
    if value.__class__ is int and rules.MIN_CRC <= value < rules.MAX_CRC:
        return value
    return rules.checksum("checksum", value)


def _describe(exc: Exception) -> str:
    if isinstance(exc, rules.BadValue):
        return str(exc)
    if isinstance(exc, KeyError):
        return f"missing field {exc.args[0]!r}" if exc.args else "missing field"
    if isinstance(exc, IndexError):
        return f"too few elements ({exc})"
    return f"{type(exc).__name__}: {exc}"
