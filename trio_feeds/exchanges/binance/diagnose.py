"""Why a Binance frame was refused (cold path): names the stream and the field."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any, Final

import orjson

from trio_feeds.core.records import Levels
from trio_feeds.exchanges.binance.streams import _EVENT_STREAM, _Bad, _Invalid, _loads, _stream_kind
from trio_feeds.protocol import _rules as rules
from trio_feeds.protocol._events import (
    ParseError,
    excerpt,
)

__all__ = ["Checker"]


# --------------------------------------------------------------------------- diagnosis (cold path)


def _text(field: str, v: Any) -> str:
    if not isinstance(v, str):
        raise rules.BadValue(field, v, "a string")
    return v


def _obj(field: str, v: Any) -> dict[str, Any]:
    if not isinstance(v, dict):
        raise rules.BadValue(field, v, "an object")
    return v


def _pairs(field: str, v: Any) -> Levels:
    return rules.levels(field, v, pairs=True)


Checker = Callable[[str, Any], object]
"""``checker(field, value)``: the validation rule for one field; raises ``BadValue``."""

_SCHEMAS: Final[dict[str, tuple[tuple[str, Checker], ...]]] = {
    "trade": (
        ("T", rules.timestamp),
        ("p", rules.price),
        ("q", rules.amount),
        ("m", rules.flag),
        ("t", partial(rules.trade_id, strings=False)),
    ),
    "aggTrade": (
        ("T", rules.timestamp),
        ("p", rules.price),
        ("q", rules.amount),
        ("m", rules.flag),
        ("a", partial(rules.trade_id, strings=False)),
    ),
    "bookTicker": (
        ("u", rules.update_id),
        ("b", rules.best),
        ("B", rules.size),
        ("a", rules.best),
        ("A", rules.size),
    ),
    "ticker": (
        ("E", rules.timestamp),
        *[(k, rules.best) for k in "cbaohl"],
        *[(k, rules.size) for k in "vqBA"],
    ),
    "depth_partial": (("lastUpdateId", rules.update_id), ("bids", _pairs), ("asks", _pairs)),
    "depth_diff": (
        ("E", rules.timestamp),
        ("U", rules.update_id),
        ("u", rules.update_id),
        ("b", _pairs),
        ("a", _pairs),
    ),
    "kline": (("E", rules.timestamp), ("k", _obj)),
    "kline.k": (
        ("t", rules.timestamp),
        ("i", _text),
        *[(k, rules.price) for k in "ohlc"],
        ("v", rules.size),
        ("q", rules.size),
        ("x", rules.flag),
        ("n", rules.count),
    ),
}


def _type_name(v: object) -> str:
    return {dict: "an object", list: "an array", str: "a string", type(None): "null"}.get(
        type(v), type(v).__name__
    )


def _check(data: dict[str, Any], schema: str, prefix: str = "") -> str | None:
    """The first field of ``data`` breaking the validation rule, as a message (or None)."""
    for name, checker in _SCHEMAS[schema]:
        field = prefix + name
        if name not in data:
            return f"field {field!r} is missing"
        try:
            checker(field, data[name])
        except rules.BadValue as exc:
            return str(exc)
    if schema == "kline":
        return _check(data["k"], "kline.k", "k.")
    return None


def _diagnose(frame: object, exc: BaseException) -> str:
    """Say what is wrong with a frame whose parsing raised ``exc`` (slow, error path only)."""
    if isinstance(exc, _Bad):
        return str(exc.args[0])
    try:
        msg = _loads(frame)  # type: ignore[arg-type]
    except orjson.JSONDecodeError as e:
        return f"invalid JSON: {e}"
    except TypeError:
        return f"frame is {type(frame).__name__}, expected bytes or str"
    if not isinstance(msg, dict):
        return f"expected a JSON object, got {_type_name(msg)}"
    kind: str | None = None
    stream = msg.get("stream")
    if stream is not None:
        where = f"stream {stream!r}"
        if not isinstance(stream, str):
            return f"envelope 'stream' is {_type_name(stream)}, expected a string"
        if "data" not in msg:
            return f"{where}: envelope has no 'data'"
        data = msg["data"]
        kind = _stream_kind(stream.partition("@")[2])
    else:
        data = msg
        event = msg.get("e")
        where = f"{event!r} event"
        if isinstance(event, str):
            suffix = _EVENT_STREAM.get(event)
            kind = _stream_kind(suffix) if suffix else None
        elif "lastUpdateId" in msg:
            where, kind = "partial depth", "depth_partial"
        elif "u" in msg:
            where, kind = "bookTicker", "bookTicker"
    if not isinstance(data, dict):
        return f"{where}: payload is {_type_name(data)}, expected an object"
    if kind is not None:
        found = _check(data, kind)
        if found:
            return f"{where}: {found}"
    if isinstance(exc, _Invalid):  # pragma: no cover - _check names every rule break
        return f"{where}: a value breaks the validation rule"
    return f"{where}: {type(exc).__name__}: {exc}"


def _parse_error(frame: object, exc: BaseException) -> ParseError:
    try:
        return ParseError(_diagnose(frame, exc), excerpt(frame))  # type: ignore[arg-type]
    except Exception:  # pragma: no cover - the diagnosis must not raise either
        return ParseError(f"{type(exc).__name__}: {exc}", repr(frame)[:200])
