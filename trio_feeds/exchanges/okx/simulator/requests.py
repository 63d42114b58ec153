"""How the simulated OKX answers subscribe/unsubscribe requests and text pings, with
OKX's error events."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson
import trio

from trio_feeds.exchanges.okx.simulator.state import (
    _MESSAGES,
    BUSINESS_CHANNELS,
    PUBLIC_CHANNELS,
    _Reject,
    _wrong_url,
)
from trio_feeds.exchanges.okx.simulator.swaps import LIQUIDATIONS, SWAP_CHANNELS
from trio_feeds.simulator.server import SimConnection

if TYPE_CHECKING:
    from trio_feeds.exchanges.okx.simulator.server import SimulatedOkx

__all__ = ["error", "on_text", "rejected", "send_event"]


def send_event(
    sim: SimulatedOkx, conn: SimConnection, msg: dict[str, Any], rid: Any, has_id: bool
) -> None:
    out: dict[str, Any] = {"id": rid} if has_id else {}
    out.update(msg)
    out["connId"] = sim._conn[conn].conn_id
    conn.send_reply(orjson.dumps(out).decode())


def error(
    sim: SimulatedOkx, conn: SimConnection, code: str, msg: str, rid: Any, has_id: bool
) -> None:
    sim._send_event(conn, {"event": "error", "code": code, "msg": msg}, rid, has_id)


def rejected(sim: SimulatedOkx, channel: str, inst: str) -> _Reject | None:
    for r in sim._rejects:
        if (r.symbol is None or r.symbol == inst) and (r.channel is None or r.channel == channel):
            return r
    return None


def on_text(sim: SimulatedOkx, conn: SimConnection, text: str) -> None:
    if text == "ping":
        conn.pings_received += 1
        conn.send_keepalive("pong")
        return
    st = sim._conn[conn]
    try:
        msg = orjson.loads(text)
    except orjson.JSONDecodeError:
        msg = None
    if not isinstance(msg, dict):
        sim._error(conn, "60012", f"Invalid request: {text}", None, False)
        return
    has_id = "id" in msg
    rid = msg.get("id")
    op = msg.get("op")
    args = msg.get("args")
    if op not in ("subscribe", "unsubscribe"):
        sim._error(conn, "60019", f"Invalid op: op : {op}", rid, has_id)
        return
    if not isinstance(args, list) or not args:
        sim._error(conn, "60012", f"Invalid request: {text}", rid, has_id)
        return
    if st.ops.add(trio.current_time()) > sim.max_ops_per_hour:
        sim._violation("subscribe_rate", conn, f"> {sim.max_ops_per_hour}/h")
        sim._error(conn, "60014", "Requests too frequent.", rid, has_id)
        return
    for arg in args:
        channel = arg.get("channel") if isinstance(arg, dict) else None
        inst = arg.get("instId") if isinstance(arg, dict) else None
        if channel == LIQUIDATIONS and inst is None:
            inst = arg.get("instType")  # subscribed by instrument type
            sym = inst if inst == "SWAP" else None
        elif channel == LIQUIDATIONS:
            sym = None  # by instType only
        else:
            sym = sim.swaps.market_symbol(inst) if isinstance(inst, str) else None
        if not isinstance(channel, str) or not isinstance(inst, str):
            sim._error(conn, "60012", f"Invalid request: {text}", rid, has_id)
            continue
        if op == "unsubscribe":
            sim._remove_sub(conn, channel, sym or inst)
            sim._send_event(conn, {"event": "unsubscribe", "arg": arg}, rid, has_id)
            continue
        rule = sim._rejected(channel, inst)
        if rule is not None:
            code = rule.code or "60018"
            text_ = (
                _wrong_url(channel, inst) if code == "60018" else _MESSAGES.get(code, "Rejected")
            )
            sim._error(conn, code, text_, rid, has_id)
            continue
        allowed = BUSINESS_CHANNELS if st.business else PUBLIC_CHANNELS
        if sym is not None and channel in SWAP_CHANNELS and not sim.swaps.is_swap(sym):
            sym = None  # funding, mark price, open interest: swaps only
        if channel not in allowed or sym is None:
            sim._error(conn, "60018", _wrong_url(channel, inst), rid, has_id)
            continue
        sim._add_sub(conn, channel, sym)
        sim._send_event(conn, {"event": "subscribe", "arg": arg}, rid, has_id)
