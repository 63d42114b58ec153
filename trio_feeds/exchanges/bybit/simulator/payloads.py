"""The simulated Bybit's pushes (publicTrade, tickers, orderbook, kline) and the data faults
applied to them."""

from __future__ import annotations

import copy
import uuid
from typing import TYPE_CHECKING, Any

from trio_feeds.exchanges.bybit.simulator.state import (
    _BOOK_DEPTHS,
    _DAMAGE,
    _FUNDING_MS,
    _LEVEL1_RESEND,
    _TICKER_EVERY,
    _BookTopic,
)
from trio_feeds.simulator.faults import cut, damage, dumps
from trio_feeds.simulator.market import Candle, SymbolUpdate, format_fixed
from trio_feeds.simulator.server import SimConnection

if TYPE_CHECKING:
    from trio_feeds.exchanges.bybit.simulator.server import SimulatedBybit

__all__: list[str] = []


def faulted(
    sim: SimulatedBybit,
    conn: SimConnection,
    linear: bool,
    topic: str,
    msg: dict[str, Any],
    text: str,
) -> list[str]:
    """The frames ``conn`` gets instead of ``text`` under its armed faults."""
    symbol = sim._feed_symbol(linear, topic)
    stream = topic.partition(".")[0]
    delta = stream == "orderbook" and msg["type"] == "delta"
    if delta and sim._take(conn, ("gap",), symbol) is not None:
        return []  # this delta is lost: the next one's u jumps
    kinds = ["malformed", "nan", "negative"]
    if stream == "publicTrade":
        kinds.append("bad_trade_id")
    fault = sim._take(conn, kinds, symbol)
    if fault is None:
        return [text]
    if fault.kind == "malformed":
        return [cut(text)]
    bad = copy.deepcopy(msg)
    data = bad["data"]
    item = data[0] if isinstance(data, list) else data
    if fault.kind == "bad_trade_id":
        item["i"] = {"id": 1}
    elif not damage(fault.kind, item, *_DAMAGE[stream]):
        sim._arm(conn, fault)  # nowhere to put it (an empty delta): the next frame
        return [text]
    return [dumps(bad)]


def trades(
    sim: SimulatedBybit, linear: bool, topic: str, sym: str, up: SymbolUpdate, ts: int
) -> None:
    sim._trade_seq += 1
    data = []
    last_px = None
    for order in up.orders:
        side = "Buy" if order.is_buy else "Sell"
        for f in order.fills:
            item: dict[str, Any] = {
                "T": ts,
                "s": topic.rpartition(".")[2],
                "S": side,
                "v": sim._fmt_sz(sym, f.size),
                "p": sim._fmt_px(sym, f.price),
            }
            if linear:
                tick_dir = "ZeroPlusTick"
                if last_px is not None and f.price != last_px:
                    tick_dir = "PlusTick" if f.price > last_px else "MinusTick"
                item["L"] = tick_dir
                item["i"] = str(uuid.UUID(int=(sim.market.seed << 64) | f.trade_id))
            else:
                item["i"] = str(f.trade_id)
            item["BT"] = False
            item["RPI"] = False
            item["seq"] = up.seq_id
            last_px = f.price
            data.append(item)
    msg = {"topic": topic, "ts": ts, "type": "snapshot", "data": data}
    sim._take_pending(linear, topic)
    for conn in list(sim._subs.get((linear, topic), ())):
        sim._send(conn, linear, topic, msg)


def ticker_fields(sim: SimulatedBybit, linear: bool, sym: str, ts: int) -> dict[str, str]:
    st = sim.market.stats(sym, ts)
    spec = sim.market.spec(sym)

    def px(v: int) -> str:
        return sim._fmt_px(sym, v)

    change = (st.last - st.open) / st.open if st.open else 0.0
    turnover = format_fixed(st.quote_volume, spec.price_decimals + spec.size_decimals, 4)
    fields = {
        "symbol": sym.replace("-", ""),
        "lastPrice": px(st.last),
        "highPrice24h": px(st.high),
        "lowPrice24h": px(st.low),
        "prevPrice24h": px(st.open),
        "volume24h": sim._fmt_sz(sym, st.volume),
        "turnover24h": turnover,
        "price24hPcnt": f"{change:.4f}",
    }
    bid, bq, ask, aq = sim.market.bbo(sym)
    mid = ((bid or 0) + (ask or 0)) // 2
    if not linear:
        fields["usdIndexPrice"] = px(mid)
        return fields
    next_funding = ts - ts % _FUNDING_MS + _FUNDING_MS
    oi = 50_000 * 10**spec.size_decimals + st.volume // 10
    fields.update(
        {
            "tickDirection": "PlusTick",
            "prevPrice1h": px(st.open),
            "markPrice": px(mid),
            "indexPrice": px(mid),
            "openInterest": sim._fmt_sz(sym, oi),
            "openInterestValue": format_fixed(
                oi * mid, spec.price_decimals + spec.size_decimals, 2
            ),
            "nextFundingTime": str(next_funding),
            "fundingRate": "0.0001",
            "bid1Price": px(bid or 0),
            "bid1Size": sim._fmt_sz(sym, bq),
            "ask1Price": px(ask or 0),
            "ask1Size": sim._fmt_sz(sym, aq),
        }
    )
    return fields


def ticker(sim: SimulatedBybit, linear: bool, topic: str, sym: str, t: float, ts: int) -> None:
    tt = sim._tickers[(linear, topic)]
    pending = sim._take_pending(linear, topic)
    due = bool(pending) or t + 1e-9 >= tt.next_push
    if not due:
        return
    fields = sim._ticker_fields(linear, sym, ts)
    changed = {k: v for k, v in fields.items() if tt.state.get(k) != v}
    conns = sim._subs.get((linear, topic), set())
    if due:
        tt.next_push = t + _TICKER_EVERY[linear]
    tt.cs += 1
    base = {"topic": topic, "type": "snapshot", "data": fields, "cs": tt.cs, "ts": ts}
    if not linear:  # spot: snapshots only, pushed on change
        targets = list(conns) if (due and changed) else pending
        for conn in targets:
            sim._send(conn, linear, topic, base)
        tt.state = fields
        return
    for conn in pending:
        sim._send(conn, linear, topic, base)
    if due and changed:
        changed["symbol"] = fields["symbol"]
        delta = {"topic": topic, "type": "delta", "data": changed, "cs": tt.cs, "ts": ts}
        for conn in conns:
            if conn not in pending:
                sim._send(conn, linear, topic, delta)
    tt.state = fields


def book(sim: SimulatedBybit, linear: bool, topic: str, sym: str, t: float, ts: int) -> None:
    bt = sim._books[(linear, topic)]
    pending = sim._take_pending(linear, topic)
    due = t + 1e-9 >= bt.next_push
    if not pending and not due:
        return
    bids, asks = sim.market.book(sym, bt.depth)
    new_b, new_a = dict(bids), dict(asks)
    if due:
        bt.next_push = t + _BOOK_DEPTHS[bt.depth]
    changed = new_b != bt.bids or new_a != bt.asks
    conns = sim._subs.get((linear, topic), set())
    if bt.u == 0 or bt.resend:  # a first push, a restart or a re-sent snapshot: all
        bt.u += 1
        bt.resend = False
        bt.bids, bt.asks, bt.last_push = new_b, new_a, t
        sim._push_book(linear, topic, sym, bt, "snapshot", bids, asks, ts, list(conns))
        return
    if bt.depth == 1:  # level 1: snapshots only, and again after 3 s without change
        resend = t - bt.last_push >= _LEVEL1_RESEND - 1e-9
        if due and (changed or resend):
            if changed:
                bt.u += 1
            bt.bids, bt.asks, bt.last_push = new_b, new_a, t
            sim._push_book(linear, topic, sym, bt, "snapshot", bids, asks, ts, list(conns))
        elif pending:
            published = sim._published(bt)
            sim._push_book(linear, topic, sym, bt, "snapshot", *published, ts, pending)
        return
    if due and changed:
        d_bids = [(p, q) for p, q in new_b.items() if bt.bids.get(p) != q]
        d_bids += [(p, 0) for p in bt.bids if p not in new_b]
        d_asks = [(p, q) for p, q in new_a.items() if bt.asks.get(p) != q]
        d_asks += [(p, 0) for p in bt.asks if p not in new_a]
        d_bids.sort(reverse=True)
        d_asks.sort()
        bt.u += 1
        bt.bids, bt.asks, bt.last_push = new_b, new_a, t
        targets = [
            c
            for c in conns
            if c not in pending and not sim._take_gap(c, sim._feed_symbol(linear, topic))
        ]
        sim._push_book(linear, topic, sym, bt, "delta", d_bids, d_asks, ts, targets)
    if pending:
        sim._push_book(linear, topic, sym, bt, "snapshot", *sim._published(bt), ts, pending)


def published(bt: _BookTopic) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    return sorted(bt.bids.items(), reverse=True), sorted(bt.asks.items())


def push_book(
    sim: SimulatedBybit,
    linear: bool,
    topic: str,
    sym: str,
    bt: _BookTopic,
    kind: str,
    bids: list[tuple[int, int]],
    asks: list[tuple[int, int]],
    ts: int,
    conns: list[SimConnection],
) -> None:
    if not conns:
        return
    data = {
        "s": topic.rpartition(".")[2],
        "b": sim._levels(sym, bids),
        "a": sim._levels(sym, asks),
        "u": bt.u,
        "seq": sim.market.seq_id(sym),
    }
    if bt.depth == 1:  # level 1 and spot put ts before type (parse by name)
        msg = {"topic": topic, "ts": ts, "type": kind, "data": data, "cts": ts}
    else:
        msg = {"topic": topic, "type": kind, "ts": ts, "data": data, "cts": ts}
    for conn in conns:
        sim._send(conn, linear, topic, msg)


def kline(
    sim: SimulatedBybit,
    linear: bool,
    topic: str,
    sym: str,
    c: Candle,
    ts: int,
    conns: list[SimConnection] | None,
) -> None:
    spec = sim.market.spec(sym)
    item = {
        "start": c.open_time,
        "end": c.open_time + 59_999,
        "interval": "1",
        "open": sim._fmt_px(sym, c.open),
        "close": sim._fmt_px(sym, c.close),
        "high": sim._fmt_px(sym, c.high),
        "low": sim._fmt_px(sym, c.low),
        "volume": sim._fmt_sz(sym, c.volume),
        "turnover": format_fixed(c.quote_volume, spec.price_decimals + spec.size_decimals, 4),
        "confirm": c.closed,
        "timestamp": ts,
    }
    msg = {"topic": topic, "data": [item], "ts": ts, "type": "snapshot"}
    targets = list(sim._subs.get((linear, topic), ())) if conns is None else conns
    for conn in targets:
        sim._send(conn, linear, topic, msg)
