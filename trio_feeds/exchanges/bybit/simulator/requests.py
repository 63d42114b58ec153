"""How the simulated Bybit answers subscribe/unsubscribe requests and pings, with Bybit's
refusal texts."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson

from trio_feeds.exchanges.bybit.simulator.state import (
    _KLINE_INTERVALS,
    _BookTopic,
    _ConnState,
    _depths,
    _TickerTopic,
)
from trio_feeds.simulator.server import SimConnection

if TYPE_CHECKING:
    from trio_feeds.exchanges.bybit.simulator.server import SimulatedBybit

__all__: list[str] = []


def answer(
    sim: SimulatedBybit,
    conn: SimConnection,
    op: str,
    ok: bool,
    text: str,
    req_id: Any,
    keepalive: bool = False,
) -> None:
    st = sim._conn[conn]
    msg: dict[str, Any] = {"success": ok, "ret_msg": text, "conn_id": st.conn_id}
    if req_id is not None or st.linear:
        msg["req_id"] = "" if req_id is None else req_id
    msg["op"] = op
    text_ = orjson.dumps(msg).decode()
    if keepalive:
        conn.send_keepalive(text_)
    else:
        conn.send_reply(text_)


def on_text(sim: SimulatedBybit, conn: SimConnection, text: str) -> None:
    st = sim._conn[conn]
    try:
        msg = orjson.loads(text)
    except orjson.JSONDecodeError:
        msg = None
    if not isinstance(msg, dict):
        sim._answer(conn, "", False, f"error:request not json,data:{text[:100]}", None)
        return
    op = msg.get("op")
    req_id = msg.get("req_id")
    if op == "ping":
        conn.pings_received += 1
        sim._answer(conn, "ping", True, "pong", req_id, keepalive=True)
        return
    if op not in ("subscribe", "unsubscribe"):
        sim._answer(conn, str(op), False, f"error:handler not found,op:{op}", req_id)
        return
    args = msg.get("args")
    if not isinstance(args, list) or not all(isinstance(a, str) for a in args):
        sim._answer(conn, op, False, "error:args must be a list of topics", req_id)
        return
    if not st.linear and len(args) > sim.max_args_per_request:
        sim._violation("too_many_args", conn, f"{len(args)} args in one request")
        sim._answer(conn, op, False, f"args size >{sim.max_args_per_request}", req_id)
        return
    if op == "unsubscribe":
        for topic in args:
            sim._remove(conn, st, topic)
        ret = "unsubscribe" if not st.linear else ""
        sim._answer(conn, op, True, ret, req_id)
        return
    problem = None
    for topic in args:
        why = sim._refusal(conn, st, topic)
        if why is not None:
            problem = problem or why
            continue
        chars = len(topic) + 3
        if st.arg_chars + chars > sim.max_arg_chars:
            sim._violation("too_many_streams", conn, f"> {sim.max_arg_chars} arg chars")
            problem = problem or f"error:args length exceeds limit,topic:{topic}"
            continue
        st.arg_chars += chars
        sim._add(conn, st, topic)
    if problem is not None:
        sim._answer(conn, op, False, problem, req_id)
    else:
        sim._answer(conn, op, True, "subscribe" if not st.linear else "", req_id)


def refusal(sim: SimulatedBybit, conn: SimConnection, st: _ConnState, topic: str) -> str | None:
    stream, _, wire = topic.rpartition(".")
    for r in sim._rejects:
        if (r.symbol is None or r.symbol == wire) and (
            r.topic is None or r.topic in (stream, topic)
        ):
            return r.message or f"Invalid symbol :[{topic}]"
    parts = stream.split(".")
    known = (
        (parts[0] in ("publicTrade", "tickers") and len(parts) == 1)
        or (parts[0] == "orderbook" and len(parts) == 2 and parts[1] in _depths())
        or (parts[0] == "kline" and len(parts) == 2 and parts[1] in _KLINE_INTERVALS)
    )
    if not known:
        return f"error:handler not found,topic:{topic}"
    if wire not in sim._wire:
        return f"Invalid symbol :[{topic}]"
    if topic in conn._subs:
        return f"error:already subscribed,topic:{topic}"
    return None


def add(sim: SimulatedBybit, conn: SimConnection, st: _ConnState, topic: str) -> None:
    conn._subs[topic] = None
    sim._subs.setdefault((st.linear, topic), set()).add(conn)
    st.pending.add(topic)
    stream = topic.rpartition(".")[0]
    key = (st.linear, topic)
    if stream.startswith("orderbook.") and key not in sim._books:
        sim._books[key] = _BookTopic(int(stream.split(".")[1]))
    elif stream == "tickers" and key not in sim._tickers:
        sim._tickers[key] = _TickerTopic()


def remove(sim: SimulatedBybit, conn: SimConnection, st: _ConnState, topic: str) -> None:
    if topic not in conn._subs:
        return
    del conn._subs[topic]
    st.pending.discard(topic)
    st.arg_chars -= len(topic) + 3
    key = (st.linear, topic)
    subs = sim._subs.get(key)
    if subs is not None:
        subs.discard(conn)
        if not subs:
            del sim._subs[key]
            # nobody left: the next subscriber starts a fresh topic (as a new server would)
            sim._books.pop(key, None)
            sim._tickers.pop(key, None)
