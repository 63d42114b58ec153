"""The simulated Binance's stream payloads (trades, book tickers, diffs, partial books,
klines, tickers) and the data faults applied to them."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any

import orjson

from trio_feeds.exchanges.binance.simulator.state import _DAMAGE, _DiffBuf, _Stream
from trio_feeds.simulator.faults import cut, damage, dumps
from trio_feeds.simulator.market import Candle, Fill, SymbolUpdate, format_fixed
from trio_feeds.simulator.server import SimConnection

if TYPE_CHECKING:
    from trio_feeds.exchanges.binance.simulator.server import SimulatedBinance

__all__ = [
    "diff_builder",
    "faulted",
    "kline_builder",
    "mini_builder",
    "partial_builder",
    "px",
    "qty",
    "realtime",
    "ticker_builder",
    "ticker_shape",
    "trade_shape",
]


def faulted(sim: SimulatedBinance, conn: SimConnection, name: str, text: str) -> str | None:
    """``text`` after the fault armed on ``conn`` for this stream (None: lost)."""
    stream = sim._parse(name)
    if isinstance(stream, str):
        return text
    kind, sym = stream.kind, stream.symbol
    if kind == "depth":
        gap = sim._peek(conn, ("gap",), sym)
        if gap is not None:
            # on a new connection: the diffs before the REST snapshot and the one that
            # syncs the book pass; the next, the first live diff, is lost
            if not gap.fresh or gap.stage == 2:
                sim._take(conn, ("gap",), sym)
                return None  # this diff is lost
            if gap.stage == 1:
                gap.stage = 2
    kinds = ["malformed"]
    if kind in _DAMAGE or kind == "kline_1m":
        kinds += ["nan", "negative"]
    if kind in ("trade", "aggTrade"):
        kinds.append("bad_trade_id")
    fault = sim._take(conn, kinds, sym)
    if fault is None:
        return text
    if fault.kind == "malformed":
        return cut(text)
    msg = orjson.loads(text)
    data = msg["data"] if "stream" in msg and "data" in msg else msg
    if fault.kind == "bad_trade_id":
        data["t" if kind == "trade" else "a"] = {"id": 1}
    elif kind == "kline_1m":
        damage(fault.kind, data["k"], ("o",), ("v",))
    elif not damage(fault.kind, data, *_DAMAGE[kind]):
        sim._arm(conn, fault)  # nowhere to put it (an empty diff): the next frame
        return text
    return dumps(msg)


def px(sim: SimulatedBinance, symbol: str) -> Callable[[int], str]:
    pd = sim.market.spec(symbol).price_decimals
    return lambda v: format_fixed(v, pd)


def qty(sim: SimulatedBinance, symbol: str) -> Callable[[int], str]:
    sd = sim.market.spec(symbol).size_decimals
    return lambda v: format_fixed(v, sd)


def realtime(
    sim: SimulatedBinance,
    sym: str,
    up: SymbolUpdate,
    aggs: list[tuple[int, bool, list[Fill]]],
    names: dict[str, _Stream],
) -> None:
    S = sim._bn[sym]
    px, qty = sim._px(sym), sim._qty(sym)
    ts = sim.clock.stamp(up.ts)
    for name, s in list(names.items()):
        if s.kind == "trade":
            for order in up.orders:
                for f in order.fills:
                    trade = {
                        "e": "trade",
                        "E": ts,
                        "s": S,
                        "t": f.trade_id,
                        "p": px(f.price),
                        "q": qty(f.size),
                        "T": ts,
                        "m": not order.is_buy,
                        "M": True,
                    }
                    sim._publish(name, partial(_timed, sim._trade_shape(trade), ("E", "T")))
        elif s.kind == "aggTrade":
            for agg_id, is_buy, fills in aggs:
                agg = {
                    "e": "aggTrade",
                    "E": ts,
                    "s": S,
                    "a": agg_id,
                    "p": px(fills[0].price),
                    "q": qty(sum(f.size for f in fills)),
                    "f": fills[0].trade_id,
                    "l": fills[-1].trade_id,
                    "T": ts,
                    "m": not is_buy,
                    "M": True,
                }
                sim._publish(name, partial(_timed, agg, ("E", "T")))
        elif s.kind == "bookTicker" and up.bbo_changed:
            bid, bq, ask, aq = sim.market.bbo(sym)
            data = {
                "u": up.last_update_id,
                "s": S,
                "b": px(bid or 0),
                "B": qty(bq),
                "a": px(ask or 0),
                "A": qty(aq),
            }
            data, fields = sim._ticker_shape(data, ts)
            sim._publish(name, partial(_timed, data, fields))


def trade_shape(trade: dict[str, Any]) -> dict[str, Any]:
    """A ``trade`` event as spot sends it (the USD-M simulator changes this)."""
    return trade


def ticker_shape(data: dict[str, Any], ts: int) -> tuple[dict[str, Any], tuple[str, ...]]:
    """A ``bookTicker`` event as spot sends it (no time), and its time fields."""
    return data, ()


def diff_builder(
    sim: SimulatedBinance, sym: str, ts: int, buf: _DiffBuf
) -> Callable[[int], dict[str, Any]]:
    px, qty = sim._px(sym), sim._qty(sym)
    b = [[px(p), qty(q)] for p, q in sorted(buf.bids.items(), reverse=True)]
    a = [[px(p), qty(q)] for p, q in sorted(buf.asks.items())]
    first, last, S = buf.first, buf.last, sim._bn[sym]
    ets = sim.clock.stamp(ts)
    return lambda m: {
        "e": "depthUpdate",
        "E": ets * m,
        "s": S,
        "U": first,
        "u": last,
        "b": b,
        "a": a,
    }


def partial_builder(
    sim: SimulatedBinance, sym: str, levels: int
) -> Callable[[int], dict[str, Any]]:
    px, qty = sim._px(sym), sim._qty(sym)
    bids, asks = sim.market.book(sym, levels)
    data = {
        "lastUpdateId": sim.market.update_id(sym),
        "bids": [[px(p), qty(q)] for p, q in bids],
        "asks": [[px(p), qty(q)] for p, q in asks],
    }
    return lambda m: data


def kline_builder(
    sim: SimulatedBinance, sym: str, ts: int, c: Candle
) -> Callable[[int], dict[str, Any]]:
    px, qty = sim._px(sym), sim._qty(sym)
    spec = sim.market.spec(sym)
    qd = spec.price_decimals + spec.size_decimals
    S = sim._bn[sym]
    ets = sim.clock.stamp(ts)  # the event time; the candle's own times stay on the minute
    return lambda m: {
        "e": "kline",
        "E": ets * m,
        "s": S,
        "k": {
            "t": c.open_time * m,
            "T": (c.open_time + 60000) * m - 1,
            "s": S,
            "i": "1m",
            "f": c.first_id,
            "L": c.last_id,
            "o": px(c.open),
            "c": px(c.close),
            "h": px(c.high),
            "l": px(c.low),
            "v": qty(c.volume),
            "n": c.trades,
            "x": c.closed,
            "q": format_fixed(c.quote_volume, qd),
            "V": qty(c.taker_buy_volume),
            "Q": format_fixed(c.taker_buy_quote, qd),
            "B": "0",
        },
    }


def ticker_builder(sim: SimulatedBinance, sym: str, ts: int) -> Callable[[int], dict[str, Any]]:
    px, qty = sim._px(sym), sim._qty(sym)
    spec = sim.market.spec(sym)
    qd = spec.price_decimals + spec.size_decimals
    st = sim.market.stats(sym, ts)
    bid, bq, ask, aq = sim.market.bbo(sym)
    change = st.last - st.open
    pct = f"{change * 100 / st.open:.3f}" if st.open else "0.000"
    w = round(st.quote_volume / st.volume) if st.volume else st.last
    S = sim._bn[sym]
    ets = sim.clock.stamp(ts)
    return lambda m: {
        "e": "24hrTicker",
        "E": ets * m,
        "s": S,
        "p": px(change),
        "P": pct,
        "w": px(w),
        "x": px(st.open),
        "c": px(st.last),
        "Q": qty(st.last_size),
        "b": px(bid or 0),
        "B": qty(bq),
        "a": px(ask or 0),
        "A": qty(aq),
        "o": px(st.open),
        "h": px(st.high),
        "l": px(st.low),
        "v": qty(st.volume),
        "q": format_fixed(st.quote_volume, qd),
        "O": st.open_time * m,
        "C": ets * m,
        "F": st.first_id,
        "L": st.last_id,
        "n": st.count,
    }


def mini_builder(sim: SimulatedBinance, sym: str, ts: int) -> Callable[[int], dict[str, Any]]:
    px, qty = sim._px(sym), sim._qty(sym)
    spec = sim.market.spec(sym)
    st = sim.market.stats(sym, ts)
    S = sim._bn[sym]
    ets = sim.clock.stamp(ts)
    return lambda m: {
        "e": "24hrMiniTicker",
        "E": ets * m,
        "s": S,
        "c": px(st.last),
        "o": px(st.open),
        "h": px(st.high),
        "l": px(st.low),
        "v": qty(st.volume),
        "q": format_fixed(st.quote_volume, spec.price_decimals + spec.size_decimals),
    }


def _timed(data: dict[str, Any], fields: tuple[str, ...], mul: int) -> dict[str, Any]:
    """``data`` with the time ``fields`` multiplied by ``mul`` (1 = ms, 1000 = µs)."""
    if mul == 1 or not fields:
        return data
    out = dict(data)
    for f in fields:
        out[f] = data[f] * mul
    return out
