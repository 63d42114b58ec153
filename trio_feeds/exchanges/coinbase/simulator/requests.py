"""How the simulated Coinbase answers subscribe/unsubscribe requests: ``subscriptions``
messages and Coinbase's error messages."""

from __future__ import annotations

from typing import TYPE_CHECKING

import orjson
import trio

from trio_feeds.exchanges.coinbase.simulator.state import (
    CHANNELS,
    _ConnState,
)
from trio_feeds.simulator.faults import dumps
from trio_feeds.simulator.server import SimConnection

if TYPE_CHECKING:
    from trio_feeds.exchanges.coinbase.simulator.server import SimulatedCoinbase

__all__: list[str] = []


def product(sim: SimulatedCoinbase, product: str) -> str | None:
    """The market symbol serving ``product`` (``-USDC`` → ``-USD`` when simulated)."""
    if sim.market.has_symbol(product):
        return product
    if product.endswith("-USDC") and sim.market.has_symbol(product[:-1]):
        return product[:-1]
    return None


def error(
    sim: SimulatedCoinbase, conn: SimConnection, reason: str, message: str = "Failed to subscribe"
) -> None:
    conn.send_reply(dumps({"type": "error", "message": message, "reason": reason}))


def on_text(sim: SimulatedCoinbase, conn: SimConnection, text: str) -> None:
    st = sim._conn[conn]
    if st.messages.add(trio.current_time()) > sim.max_messages_per_second:
        sim._violation("message_rate", conn, f"> {sim.max_messages_per_second}/s")
    try:
        msg = orjson.loads(text)
    except orjson.JSONDecodeError:
        msg = None
    if not isinstance(msg, dict):
        sim._error(conn, "malformed JSON", "Failed to parse message")
        return
    op = msg.get("type")
    channel = msg.get("channel")
    products = msg.get("product_ids", [])
    if op not in ("subscribe", "unsubscribe"):
        sim._error(conn, f"unknown type {op!r}", "Failed to process message")
        return
    if not isinstance(channel, str) or channel not in CHANNELS:
        sim._error(conn, f"channel {channel!r} is not a valid channel")
        return
    if not isinstance(products, list) or not all(isinstance(p, str) for p in products):
        sim._error(conn, "product_ids must be a list of strings")
        return
    if op == "unsubscribe":
        keys = [k for k in sim._subs if k[0] == channel and conn in sim._subs[k]]
        for key in keys:
            if products and key[1] not in products:
                continue
            sim._remove(conn, st, key)
        if channel == "heartbeats":
            st.heartbeats = False
        sim._send_subscriptions(conn, st)
        return
    st.subscribed = True
    if channel == "heartbeats":
        st.heartbeats = True
        sim._add(conn, st, ("heartbeats", "heartbeats"), snapshot=False)
    else:
        bad = []
        for product in products:
            if sim._product(product) is None or sim._rejected(product, channel):
                bad.append(product)
                continue
            sim._add(conn, st, (channel, product), snapshot=True)
        for product in bad:
            sim._error(conn, f"{product} is not a valid product")
    sim._send_subscriptions(conn, st)


def rejected(sim: SimulatedCoinbase, product: str, channel: str) -> bool:
    return any((p is None or p == product) and (c is None or c == channel) for p, c in sim._rejects)


def add(
    sim: SimulatedCoinbase,
    conn: SimConnection,
    st: _ConnState,
    key: tuple[str, str],
    snapshot: bool,
) -> None:
    conns = sim._subs.setdefault(key, set())
    if conn in conns:
        return
    conns.add(conn)
    conn._subs[f"{key[0]}:{key[1]}"] = None
    if snapshot:
        st.pending.add(key)


def remove(
    sim: SimulatedCoinbase, conn: SimConnection, st: _ConnState, key: tuple[str, str]
) -> None:
    conns = sim._subs.get(key)
    if conns is None or conn not in conns:
        return
    conns.discard(conn)
    if not conns:
        del sim._subs[key]
    conn._subs.pop(f"{key[0]}:{key[1]}", None)
    st.pending.discard(key)


def send_subscriptions(sim: SimulatedCoinbase, conn: SimConnection, st: _ConnState) -> None:
    listed: dict[str, list[str]] = {}
    for channel, product in sim._subs:
        if conn in sim._subs[(channel, product)]:
            listed.setdefault(channel, []).append(product)
    sim._send(conn, st, "subscriptions", [{"subscriptions": listed}], reply=True)
