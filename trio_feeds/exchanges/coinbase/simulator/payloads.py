"""The simulated Coinbase's pushes (market_trades, ticker, ticker_batch, level2, candles) and
the data faults applied to them."""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

from trio_feeds.exchanges.coinbase.simulator.state import (
    _CANDLE_S,
    _DAMAGE,
    _SNAPSHOT_TIME,
    _Bucket,
    _l2,
    rfc3339,
)
from trio_feeds.simulator.faults import cut, damage, dumps
from trio_feeds.simulator.market import (
    SymbolUpdate,
)
from trio_feeds.simulator.server import SimConnection

if TYPE_CHECKING:
    from trio_feeds.exchanges.coinbase.simulator.server import SimulatedCoinbase

__all__: list[str] = []


def faulted(
    sim: SimulatedCoinbase, conn: SimConnection, channel: str, product: str, msg: dict[str, Any]
) -> list[str]:
    event = msg["events"][0]
    update = channel == "l2_data" and event.get("type") == "update"
    if update and sim._take(conn, ("gap",), product) is not None:
        return []  # this message is lost: a hole in sequence_num
    kinds = ["malformed", "nan", "negative"]
    if channel == "market_trades":
        kinds.append("bad_trade_id")
    fault = sim._take(conn, kinds, product)
    text = dumps(msg)
    if fault is None:
        return [text]
    if fault.kind == "malformed":
        return [cut(text)]
    bad = copy.deepcopy(msg)
    field, prices, sizes = _DAMAGE[channel]
    items = bad["events"][0][field]
    if not items:
        sim._arm(conn, fault)
        return [text]
    if fault.kind == "bad_trade_id":
        items[0]["trade_id"] = {"id": 1}
    else:
        damage(fault.kind, items[0], prices, sizes)
    return [dumps(bad)]


def record_trades(sim: SimulatedCoinbase, sym: str, up: SymbolUpdate, ts: int) -> None:
    if not up.orders:
        return
    bucket = sim._bucket(sym, ts)
    for order in up.orders:
        maker_side = "SELL" if order.is_buy else "BUY"  # Coinbase reports the maker's side
        for f in order.fills:
            trade = {
                "trade_id": str(f.trade_id),
                "product_id": sym,
                "price": sim._fmt(sym, f.price, True),
                "size": sim._fmt(sym, f.size, False),
                "side": maker_side,
                "time": rfc3339(ts),
            }
            sim._recent[sym].append(trade)
            sim._batch[sym].append(trade)
            bucket.high = max(bucket.high, f.price)
            bucket.low = min(bucket.low, f.price)
            bucket.close = f.price
            bucket.volume += f.size


def bucket(sim: SimulatedCoinbase, sym: str, ts: int) -> _Bucket:
    start = ts // 1000 - ts // 1000 % _CANDLE_S
    b = sim._buckets.get(sym)
    if b is None or b.start != start:
        if b is not None:
            px = b.close
        else:
            bid, _, ask, _ = sim.market.bbo(sym)
            px = ((bid or 0) + (ask or 0)) // 2
        b = sim._buckets[sym] = _Bucket(start, px, px, px, px)
    return b


def push_trades(
    sim: SimulatedCoinbase, product: str, kind: str, trades: list[dict[str, Any]], ts: int
) -> None:
    for conn, st, pending in sim._subscribers(("market_trades", product)):
        if pending and kind == "update":
            st.pending.add(("market_trades", product))  # it gets its snapshot first
            continue
        event = {"type": kind, "trades": trades}
        sim._send(conn, st, "market_trades", [event], product=product, ts=ts)


def trades_snapshot(sim: SimulatedCoinbase, product: str, sym: str, ts: int) -> None:
    waiting = [c for c, _, p in sim._peek_pending(("market_trades", product)) if p]
    if not waiting:
        return
    # newest first; the trades of the batch not pushed yet come in that update, not twice
    unsent = {id(t) for t in sim._batch[sym]}
    trades = [t for t in reversed(sim._recent[sym]) if id(t) not in unsent]
    for conn, st, pending in sim._subscribers(("market_trades", product)):
        if pending:
            event = {"type": "snapshot", "trades": trades}
            sim._send(conn, st, "market_trades", [event], product=product, ts=ts)


def ticker(
    sim: SimulatedCoinbase, channel: str, product: str, sym: str, ts: int, changed: bool
) -> None:
    targets = sim._subscribers((channel, product))
    if not changed and not any(p for _, _, p in targets):
        return
    st24 = sim.market.stats(sym, ts)
    bid, bq, ask, aq = sim.market.bbo(sym)
    change = (st24.last - st24.open) / st24.open * 100 if st24.open else 0.0
    item: dict[str, Any] = {
        "type": "ticker",
        "product_id": sym,
        "price": sim._fmt(sym, st24.last, True),
        "volume_24_h": sim._fmt(sym, st24.volume, False),
        "low_24_h": sim._fmt(sym, st24.low, True),
        "high_24_h": sim._fmt(sym, st24.high, True),
        "low_52_w": sim._fmt(sym, st24.low, True),
        "high_52_w": sim._fmt(sym, st24.high, True),
        "price_percent_chg_24_h": f"{change:.8f}",
    }
    if channel == "ticker":
        item.update(
            best_bid=sim._fmt(sym, bid or 0, True),
            best_bid_quantity=sim._fmt(sym, bq, False),
            best_ask=sim._fmt(sym, ask or 0, True),
            best_ask_quantity=sim._fmt(sym, aq, False),
        )
    for conn, st, pending in targets:
        if not pending and not changed:
            continue
        event = {"type": "snapshot" if pending else "update", "tickers": [item]}
        sim._send(conn, st, channel, [event], product=product, ts=ts)


def level2(sim: SimulatedCoinbase, product: str, sym: str, up: SymbolUpdate, ts: int) -> None:
    changes: dict[tuple[bool, int], int] = {}
    for c in up.changes:
        changes[(c.is_bid, c.price)] = c.size
    snapshot: list[dict[str, Any]] | None = None
    update: list[dict[str, Any]] | None = None
    for conn, st, pending in sim._subscribers(("level2", product)):
        if pending:
            if snapshot is None:
                bids, asks = sim.market.book(sym)
                snapshot = [_l2("bid", p, q, _SNAPSHOT_TIME) for p, q in sim._levels(sym, bids)] + [
                    _l2("offer", p, q, _SNAPSHOT_TIME) for p, q in sim._levels(sym, asks)
                ]
            event = {"type": "snapshot", "product_id": sym, "updates": snapshot}
        elif changes:
            if update is None:
                when = rfc3339(ts)
                update = [
                    _l2(
                        "bid" if is_bid else "offer",
                        sim._fmt(sym, price, True),
                        sim._fmt(sym, size, False),
                        when,
                    )
                    for (is_bid, price), size in changes.items()
                ]
            if conn.gaps and sim._take_gap(conn, product):
                st.seq += 1  # lost on the way: a hole in sequence_num
                continue
            event = {"type": "update", "product_id": sym, "updates": update}
        else:
            continue
        sim._send(conn, st, "l2_data", [event], product=product, ts=ts)


def candles(sim: SimulatedCoinbase, product: str, sym: str, ts: int, only_pending: bool) -> None:
    b = sim._bucket(sym, ts)
    candle = {
        "start": str(b.start),
        "high": sim._fmt(sym, b.high, True),
        "low": sim._fmt(sym, b.low, True),
        "open": sim._fmt(sym, b.open, True),
        "close": sim._fmt(sym, b.close, True),
        "volume": sim._fmt(sym, b.volume, False),
        "product_id": sym,
    }
    for conn, st, pending in sim._subscribers(("candles", product)):
        if only_pending and not pending:
            continue
        event = {"type": "snapshot" if pending else "update", "candles": [candle]}
        sim._send(conn, st, "candles", [event], product=product, ts=ts)
