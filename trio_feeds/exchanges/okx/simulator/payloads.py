"""The simulated OKX's pushes (trades, tickers, bbo-tbt, books5, books, candles) and the data
faults applied to them."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import orjson

from trio_feeds.exchanges.okx.simulator.state import (
    _DAMAGE,
    _TRADE_ID_OFFSET,
    _orders,
    okx_checksum,
)
from trio_feeds.simulator.faults import cut, damage, dumps
from trio_feeds.simulator.market import Candle, SymbolUpdate, format_plain
from trio_feeds.simulator.server import SimConnection

if TYPE_CHECKING:
    from trio_feeds.exchanges.okx.simulator.server import SimulatedOkx

__all__ = [
    "checksum",
    "faulted",
    "flush_books",
    "fmt",
    "levels",
    "push_bbo",
    "push_candle",
    "push_ticker",
    "trades",
]


def faulted(
    sim: SimulatedOkx, conn: SimConnection, channel: str, inst: str, msg: dict[str, Any], text: str
) -> list[str]:
    """The frames ``conn`` gets instead of ``text`` under its armed fault."""
    action = msg.get("action")
    out = [text]
    if channel == "books" and action == "snapshot":
        snap = msg["data"][0]
        fault = sim._take(conn, ("bad_checksum",), inst)
        if fault is not None:
            bad = copy.deepcopy(msg)
            right = snap.get("checksum") or sim._checksum(inst)
            bad["data"][0]["checksum"] = right ^ 1 if right not in (0, 1) else 2
            out = [dumps(bad)]
        fault = sim._take(conn, ("snapshot_and_break",), inst)
        if fault is not None:
            seq = snap["seqId"]
            breaking = {
                "arg": msg["arg"],
                "action": "update",
                "data": [
                    {
                        "asks": [],
                        "bids": snap["bids"][:1],
                        "ts": snap["ts"],
                        "checksum": 0,
                        "prevSeqId": seq + 1000,  # not the snapshot's seqId
                        "seqId": seq + 2000,
                    }
                ],
            }
            out.append(dumps(breaking))
        gap = sim._take(conn, ("gap",), inst)
        if gap is not None:
            conn.gaps[inst] = conn.gaps.get(inst, 0) + 1  # lose the first update
    elif channel == "books" and sim._take(conn, ("gap",), inst) is not None:
        return []  # this update is lost
    kinds = ["malformed"]
    if channel in _DAMAGE or channel.startswith("candle"):
        kinds += ["nan", "negative"]
    if channel.startswith("trades"):
        kinds.append("bad_trade_id")
    fault = sim._take(conn, kinds, inst)
    if fault is None:
        return out
    if fault.kind == "malformed":
        return [cut(out[0]), *out[1:]]
    bad = orjson.loads(out[0])
    item = bad["data"][0]
    if fault.kind == "bad_trade_id":
        item["tradeId"] = {"id": 1}
    elif not damage(fault.kind, item, *_DAMAGE.get(channel, _DAMAGE["candle1m"])):
        sim._arm(conn, fault)  # nowhere to put it (an empty update): the next frame
        return out
    return [dumps(bad), *out[1:]]


def fmt(sim: SimulatedOkx, inst: str) -> tuple[Callable[[int], str], Callable[[int], str]]:
    """Price and size formatters of ``inst`` (a market symbol; a swap's sizes in contracts)."""
    spec = sim.market.spec(inst)
    pd, sd = spec.price_decimals, spec.size_decimals
    if sim.swaps.is_swap(inst):
        return (lambda v: format_plain(v, pd)), sim.swaps.contracts(inst, sd)
    return (lambda v: format_plain(v, pd)), (lambda v: format_plain(v, sd))


def levels(sim: SimulatedOkx, inst: str, levels: list[tuple[int, int]]) -> list[list[str]]:
    px, sz = sim._fmt(inst)
    return [[px(p), sz(q), "0", _orders(q)] for p, q in levels]


def trades(
    sim: SimulatedOkx, inst: str, up: SymbolUpdate, chans: dict[str, set[SimConnection]]
) -> None:
    px, sz = sim._fmt(inst)
    ts = str(sim.clock.stamp(up.ts))
    for order in up.orders:
        side = "buy" if order.is_buy else "sell"
        if "trades-all" in chans:
            for f in order.fills:
                item = {
                    "instId": sim.swaps.wire(inst),
                    "tradeId": str(f.trade_id + _TRADE_ID_OFFSET),
                    "px": px(f.price),
                    "sz": sz(f.size),
                    "side": side,
                    "source": "0",
                    "ts": ts,
                }
                sim._push("trades-all", inst, [item])
        if "trades" in chans:
            groups: list[list[Any]] = []
            for f in order.fills:
                if groups and groups[-1][-1].price == f.price:
                    groups[-1].append(f)
                else:
                    groups.append([f])
            for g in groups:
                agg: dict[str, Any] = {
                    "instId": sim.swaps.wire(inst),
                    "tradeId": str(g[-1].trade_id + _TRADE_ID_OFFSET),
                    "px": px(g[0].price),
                    "sz": sz(sum(f.size for f in g)),
                    "side": side,
                    "ts": ts,
                    "count": str(len(g)),
                    "source": "0",
                    "seqId": up.seq_id,
                }
                sim._push("trades", inst, [agg])


def push_bbo(sim: SimulatedOkx, inst: str, ts: int, conns: list[SimConnection] | None) -> None:
    bids, asks = sim.market.book(inst, 1)
    item = {
        "asks": sim._levels(inst, asks),
        "bids": sim._levels(inst, bids),
        "ts": str(sim.clock.stamp(ts)),
        "seqId": sim.market.seq_id(inst),
    }
    sim._push("bbo-tbt", inst, [item], conns)


def push_ticker(sim: SimulatedOkx, inst: str, ts: int, conns: list[SimConnection] | None) -> None:
    px, sz = sim._fmt(inst)
    spec = sim.market.spec(inst)
    st = sim.market.stats(inst, ts)
    bid, bq, ask, aq = sim.market.bbo(inst)
    swap = sim.swaps.is_swap(inst)
    # a swap's volCcy24h is in the base currency, a spot pair's in the quote currency
    vol_ccy = st.volume if swap else st.quote_volume
    vol_decimals = spec.size_decimals if swap else spec.price_decimals + spec.size_decimals
    item: dict[str, Any] = {
        "instType": "SWAP" if swap else "SPOT",
        "instId": sim.swaps.wire(inst),
        "last": px(st.last),
        "lastSz": sz(st.last_size),
        "askPx": px(ask or 0),
        "askSz": sz(aq),
        "bidPx": px(bid or 0),
        "bidSz": sz(bq),
        "open24h": px(st.open),
        "high24h": px(st.high),
        "low24h": px(st.low),
        "sodUtc0": px(st.day_open_utc0),
        "sodUtc8": px(st.day_open_utc8),
        "volCcy24h": format_plain(vol_ccy, vol_decimals),
        "vol24h": sz(st.volume),
        "ts": str(sim.clock.stamp(ts)),
    }
    sim._push("tickers", inst, [item], conns)


def push_candle(sim: SimulatedOkx, inst: str, c: Candle, conns: list[SimConnection] | None) -> None:
    px, sz = sim._fmt(inst)
    spec = sim.market.spec(inst)
    quote = format_plain(c.quote_volume, spec.price_decimals + spec.size_decimals)
    # volCcy: a swap's in the base currency, a spot pair's in the quote currency
    ccy = format_plain(c.volume, spec.size_decimals) if sim.swaps.is_swap(inst) else quote
    row = [
        str(c.open_time),
        px(c.open),
        px(c.high),
        px(c.low),
        px(c.close),
        sz(c.volume),
        ccy,
        quote,
        "1" if c.closed else "0",
    ]
    sim._push("candle1m", inst, [row], conns)


def flush_books(sim: SimulatedOkx, t: float, market_ts: int) -> None:
    ts = sim.clock.stamp(market_ts)
    for inst, ss in sim._sym.items():
        chans = sim._chans.get(inst)
        cur = sim.market.seq_id(inst)
        last = ss.books_seq if ss.books_seq is not None else cur
        changed = cur != last
        if chans and "books5" in chans:
            pending = sim._take_pending("books5", inst)
            bids, asks = sim.market.book(inst, 5)
            top5 = (bids, asks)
            if top5 != ss.top5 or pending:
                item = {
                    "asks": sim._levels(inst, asks),
                    "bids": sim._levels(inst, bids),
                    "instId": sim.swaps.wire(inst),
                    "ts": str(ts),
                    "seqId": cur,
                }
                sim._push("books5", inst, [item], None if top5 != ss.top5 else pending)
                ss.top5 = top5
        subs = chans.get("books") if chans else None
        if subs:
            pending = sim._take_pending("books", inst)
            checksum = sim._checksum(inst) if sim.checksum else 0
            if pending:
                bids, asks = sim.market.book(inst, 400)
                snap = {
                    "asks": sim._levels(inst, asks),
                    "bids": sim._levels(inst, bids),
                    "ts": str(ts),
                    "checksum": checksum,
                    "prevSeqId": -1,
                    "seqId": cur,
                }
                sim._push("books", inst, [snap], pending, action="snapshot")
            heartbeat = t - ss.books_last_push >= sim.book_heartbeat - 1e-9
            if changed or heartbeat:
                upd = {
                    "asks": sim._levels(inst, sorted(ss.book_asks.items())),
                    "bids": sim._levels(inst, sorted(ss.book_bids.items(), reverse=True)),
                    "ts": str(ts),
                    "checksum": checksum,
                    "prevSeqId": last,
                    "seqId": cur,
                }
                targets = [
                    c for c in subs if c not in pending and not (c.gaps and sim._take_gap(c, inst))
                ]
                sim._push("books", inst, [upd], targets, action="update")
        if changed or t - ss.books_last_push >= sim.book_heartbeat - 1e-9:
            ss.books_last_push = t
        ss.books_seq = cur
        ss.book_bids.clear()
        ss.book_asks.clear()


def checksum(sim: SimulatedOkx, inst: str) -> int:
    bids, asks = sim.market.book(inst, 25)
    return okx_checksum(sim._levels(inst, bids), sim._levels(inst, asks))
