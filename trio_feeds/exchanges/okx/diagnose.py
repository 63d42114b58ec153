"""Why an OKX push was refused (cold path): the per-channel field checks."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, Final, TypeAlias

from trio_feeds.protocol import _rules as rules

__all__: list[str] = []


# --------------------------------------------------------------------------- diagnosis
# The hot paths apply the rule inline and raise whatever fails; these schemas, through
# ``_rules``, name the field (slow, error path only).


def _side(field: str, value: Any) -> str:
    if value == "buy" or value == "sell":
        return value  # type: ignore[no-any-return]
    raise rules.BadValue(field, value, '"buy" or "sell"')


def _confirm(field: str, value: Any) -> bool:
    if value == "0" or value == "1":
        return value == "1"  # type: ignore[no-any-return]
    raise rules.BadValue(field, value, '"0" or "1"')


def _best_or_none(field: str, value: Any) -> float:
    """A ticker price: ``""`` (none) or a price >= 0."""
    return 0.0 if value == "" else rules.best(field, value)


def _size_or_none(field: str, value: Any) -> float:
    return 0.0 if value == "" else rules.size(field, value)


def _ts_check(field: str, value: Any) -> int:
    return rules.timestamp(field, value, strings=True)


_Checker: TypeAlias = Callable[[str, Any], object]
_TRADE_ID = functools.partial(rules.trade_id, strings=True)
_SCHEMAS: Final[dict[str, tuple[tuple[str | int, _Checker, bool], ...]]] = {
    # (key, checker, required)
    "trades": (
        ("ts", _ts_check, True),
        ("px", rules.price, True),
        ("sz", rules.amount, True),
        ("side", _side, True),
        ("tradeId", _TRADE_ID, True),
    ),
    "tickers": (
        ("ts", _ts_check, True),
        *[(k, _best_or_none, True) for k in ("last", "bidPx", "askPx")],
        *[(k, _best_or_none, True) for k in ("open24h", "high24h", "low24h")],
        ("vol24h", _size_or_none, True),
        ("volCcy24h", _size_or_none, True),
        ("bidSz", rules.optional_size, False),
        ("askSz", rules.optional_size, False),
    ),
    "book": (
        ("ts", _ts_check, True),
        ("bids", rules.levels, True),
        ("asks", rules.levels, True),
        ("seqId", functools.partial(rules.sequence, strings=True), False),
        ("prevSeqId", functools.partial(rules.sequence, strings=True), False),
        ("checksum", rules.checksum, False),
    ),
    "candle": (
        (0, _ts_check, True),
        *[(i, rules.price, True) for i in (1, 2, 3, 4)],
        (5, rules.size, True),
        (7, rules.size, False),
        (8, _confirm, False),
    ),
}
_CANDLE_FIELDS: Final = ("ts", "o", "h", "l", "c", "vol", "volCcy", "volCcyQuote", "confirm")
_SCHEMA_OF: Final[dict[str, str]] = {
    "trades": "trades",
    "trades-all": "trades",
    "tickers": "tickers",
}


def _check_item(channel: str, item: Any) -> str | None:
    """The first field of one ``data`` item breaking the rule, as a message (or None)."""
    schema = _SCHEMA_OF.get(channel) or ("candle" if channel.startswith("candle") else "book")
    if schema == "candle":
        if item.__class__ is not list:
            return None
        present: Callable[[str | int], bool] = lambda key: key < len(item)  # type: ignore[operator]  # noqa: E731
    elif item.__class__ is not dict:
        return f"a data item is {rules.show(item)}, expected an object"
    else:
        present = item.__contains__
    for key, checker, required in _SCHEMAS[schema]:
        if not present(key):
            if required:
                return f"field {key!r} is missing"
            continue
        try:
            name = key if isinstance(key, str) else f"{_CANDLE_FIELDS[key]} ([{key}])"
            checker(name, item[key])
        except rules.BadValue as exc:
            return str(exc)
    return None
