"""How the simulated Binance answers a client's requests (SUBSCRIBE, UNSUBSCRIBE,
LIST_SUBSCRIPTIONS, SET_PROPERTY, GET_PROPERTY), with Binance's error shapes."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson

from trio_feeds.exchanges.binance.simulator.state import (
    _ID_STR,
    _INVALID_STREAM,
    _METHODS,
    _Stream,
)
from trio_feeds.simulator.server import SimConnection

if TYPE_CHECKING:
    from trio_feeds.exchanges.binance.simulator.server import SimulatedBinance

__all__ = ["error", "on_text", "parse", "rejected", "reply"]


def reply(sim: SimulatedBinance, conn: SimConnection, result: Any, rid: Any) -> None:
    conn.send_reply(orjson.dumps({"result": result, "id": rid}).decode())


def error(
    sim: SimulatedBinance,
    conn: SimConnection,
    code: int,
    msg: str,
    rid: Any = None,
    with_id: bool = True,
) -> None:
    err: dict[str, Any] = {"error": {"code": code, "msg": msg}}
    if with_id:
        err["id"] = rid
    conn.send_reply(orjson.dumps(err).decode())


def parse(sim: SimulatedBinance, name: str) -> _Stream | str:
    """The stream ``name`` names, or an error message (``"unknown-symbol"`` for a well-formed
    name of a symbol not listed)."""
    m = sim._STREAM_RE.match(name)
    if m is None:
        return _INVALID_STREAM
    lower, suffix = m.groups()
    symbol = sim._lower.get(lower)
    if symbol is None:
        return "unknown-symbol"
    base, _, speed = suffix.partition("@")
    cadence = sim._cadence(base, speed)
    if base.startswith("depth") and base != "depth":
        return _Stream(name, symbol, "partial", cadence, int(base[5:]))
    return _Stream(name, symbol, base, cadence, 0)


def rejected(sim: SimulatedBinance, parsed: _Stream | str, name: str) -> int | None:
    suffix = name.partition("@")[2]
    sym = parsed.symbol if isinstance(parsed, _Stream) else None
    for r in sim._rejects:
        if r.symbol is not None and r.symbol != sym:
            continue
        if r.channel is not None and not (
            suffix == r.channel or suffix.startswith(r.channel + "@")
        ):
            continue
        return r.code if r.code is not None else 2
    return None


def on_text(sim: SimulatedBinance, conn: SimConnection, text: str) -> None:
    try:
        msg = orjson.loads(text)
    except orjson.JSONDecodeError:
        sim._error(conn, 3, "Invalid JSON: expected value at line 1 column 1", with_id=False)
        return
    if not isinstance(msg, dict):
        sim._error(conn, 3, "Invalid JSON: expected an object", with_id=False)
        return
    rid = msg.get("id")
    if not (
        rid is None
        or (isinstance(rid, int) and not isinstance(rid, bool) and -(2**63) <= rid < 2**63)
        or (isinstance(rid, str) and _ID_STR.match(rid))
    ):
        sim._error(conn, 2, "Invalid request: request ID must be an unsigned integer", None)
        return
    method = msg.get("method")
    if method is None:
        sim._error(conn, 2, "Invalid request: missing field `method`", rid)
        return
    if method not in _METHODS:
        sim._error(
            conn,
            2,
            f"Invalid request: unknown variant `{method}`, expected one of "
            "`SUBSCRIBE`, `UNSUBSCRIBE`, `LIST_SUBSCRIPTIONS`, `SET_PROPERTY`, `GET_PROPERTY`",
            rid,
        )
        return
    params = msg.get("params", [])
    if not isinstance(params, list):
        sim._error(conn, 2, "Invalid request: params must be an array", rid)
        return
    st = sim._conn[conn]
    if method == "SUBSCRIBE":
        if not all(isinstance(p, str) for p in params):
            sim._error(conn, 2, _INVALID_STREAM, rid)
            return
        for name in params:
            parsed = sim._parse(name)
            code = sim._rejected(parsed, name)
            if code is not None:
                sim._error(conn, code, _INVALID_STREAM, rid)
                return
            if isinstance(parsed, str) and not (
                parsed == "unknown-symbol" and sim.unknown_symbol == "accept"
            ):
                sim._error(conn, 2, _INVALID_STREAM, rid)
                return
        if len(set(conn._subs) | set(params)) > sim.max_streams:
            sim._violation("too_many_streams", conn, f"> {sim.max_streams}")
            sim._error(conn, 2, "Invalid request: too many streams", rid)
            return
        for name in params:
            sim._add_sub(conn, name)
        sim._reply(conn, None, rid)
    elif method == "UNSUBSCRIBE":
        for name in params:
            if isinstance(name, str):
                sim._remove_sub(conn, name)
        sim._reply(conn, None, rid)
    elif method == "LIST_SUBSCRIPTIONS":
        sim._reply(conn, conn.subscriptions, rid)
    elif method == "SET_PROPERTY":
        if len(params) != 2:
            sim._error(conn, 2, "Invalid request: too many parameters", rid)
        elif not isinstance(params[0], str):
            sim._error(conn, 2, "Invalid request: property name must be a string", rid)
        elif params[0] != "combined":
            sim._error(conn, 0, "Unknown property", rid)
        elif not isinstance(params[1], bool):
            sim._error(conn, 1, "Invalid value type: expected Boolean", rid)
        else:
            st.combined = params[1]
            sim._reply(conn, None, rid)
    else:  # GET_PROPERTY
        if len(params) != 1:
            sim._error(conn, 2, "Invalid request: too many parameters", rid)
        elif not isinstance(params[0], str):
            sim._error(conn, 2, "Invalid request: property name must be a string", rid)
        elif params[0] != "combined":
            sim._error(conn, 0, "Unknown property", rid)
        else:
            sim._reply(conn, st.combined, rid)
