"""The simulated USD-M's stream payloads where they differ from spot's: trades with ``X``,
book tickers with ``E``/``T``, diffs chained by ``pu``, partial books shaped like diffs,
``markPriceUpdate`` and ``forceOrder``."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any

from trio_feeds.exchanges.binance.simulator import payloads as spot
from trio_feeds.exchanges.binance.simulator.payloads import _timed
from trio_feeds.exchanges.binance.simulator.state import _DiffBuf, _Stream
from trio_feeds.simulator.market import Fill, SymbolUpdate, format_fixed
from trio_feeds.simulator.perp import SimLiquidation

if TYPE_CHECKING:
    from trio_feeds.exchanges.binance_usdm.simulator.server import SimulatedBinanceUsdm

__all__ = [
    "diff_builder",
    "liquidation_builder",
    "mark_builder",
    "partial_builder",
    "realtime",
]


def realtime(
    sim: SimulatedBinanceUsdm,
    sym: str,
    up: SymbolUpdate,
    aggs: list[tuple[int, bool, list[Fill]]],
    names: dict[str, _Stream],
) -> None:
    """``@trade`` and ``@bookTicker`` in the futures shapes; ``@aggTrade`` as on spot."""
    S = sim._bn[sym]
    px, qty = sim._px(sym), sim._qty(sym)
    ets = sim.clock.stamp(up.ts)
    for name, s in list(names.items()):
        if s.kind == "trade":
            for order in up.orders:
                for f in order.fills:
                    trade = {
                        "e": "trade",
                        "E": ets,
                        "T": ets,
                        "s": S,
                        "t": f.trade_id,
                        "p": px(f.price),
                        "q": qty(f.size),
                        "X": "MARKET",
                        "m": not order.is_buy,
                    }
                    sim._publish(name, partial(_timed, trade, ("E", "T")))
        elif s.kind == "bookTicker" and up.bbo_changed:
            bid, bq, ask, aq = sim.market.bbo(sym)
            data = {
                "e": "bookTicker",
                "u": up.last_update_id,
                "s": S,
                "b": px(bid or 0),
                "B": qty(bq),
                "a": px(ask or 0),
                "A": qty(aq),
                "T": ets,
                "E": ets,
            }
            sim._publish(name, partial(_timed, data, ("E", "T")))
    others = {n: s for n, s in names.items() if s.kind == "aggTrade"}
    if others:
        spot.realtime(sim, sym, up, aggs, others)


def diff_builder(
    sim: SimulatedBinanceUsdm, sym: str, ts: int, buf: _DiffBuf
) -> Callable[[int], dict[str, Any]]:
    """``depthUpdate`` with ``pu``: the ``u`` of this stream's previous event."""
    px, qty = sim._px(sym), sim._qty(sym)
    data = {
        "e": "depthUpdate",
        "E": sim.clock.stamp(ts),
        "T": sim.clock.stamp(ts),
        "s": sim._bn[sym],
        "U": buf.first,
        "u": buf.last,
        "pu": buf.prev,
        "b": [[px(p), qty(q)] for p, q in sorted(buf.bids.items(), reverse=True)],
        "a": [[px(p), qty(q)] for p, q in sorted(buf.asks.items())],
    }
    return partial(_timed, data, ("E", "T"))


def partial_builder(
    sim: SimulatedBinanceUsdm, sym: str, levels: int
) -> Callable[[int], dict[str, Any]]:
    """USD-M partial depth: the diff's shape (``E``, ``U``, ``u``, ``pu``), top levels."""
    px, qty = sim._px(sym), sim._qty(sym)
    bids, asks = sim.market.book(sym, levels)
    u = sim.market.update_id(sym)
    prev = sim._partial_u.get((sym, levels), u)
    sim._partial_u[(sym, levels)] = u
    ets = sim.clock.stamp(sim.market.to_ms(sim._now()))
    data = {
        "e": "depthUpdate",
        "E": ets,
        "T": ets,
        "s": sim._bn[sym],
        "U": min(prev + 1, u),
        "u": u,
        "pu": prev,
        "b": [[px(p), qty(q)] for p, q in bids],
        "a": [[px(p), qty(q)] for p, q in asks],
    }
    return partial(_timed, data, ("E", "T"))


def mark_builder(sim: SimulatedBinanceUsdm, sym: str, ts: int) -> Callable[[int], dict[str, Any]]:
    """``markPriceUpdate``: mark ``p``, index ``i``, funding rate ``r``, its settlement ``T``."""
    px, perp = sim._px(sym), sim.perp
    ets = sim.clock.stamp(ts)
    mark = perp.mark(sym)
    data = {
        "e": "markPriceUpdate",
        "E": ets,
        "s": sim._bn[sym],
        "p": px(mark),
        "P": px(mark),
        "i": px(perp.index(sym, ts)),
        "r": format_fixed(perp.funding_e8(sym, ts), 8),
        "T": perp.next_funding_time(ets),
    }
    return partial(_timed, data, ("E", "T"))


def liquidation_builder(
    sim: SimulatedBinanceUsdm, liq: SimLiquidation
) -> Callable[[int], dict[str, Any]]:
    """``forceOrder``: the liquidation order ``o`` (side ``S``, price ``p``, quantity ``q``,
    trade time ``T``)."""
    px, qty = sim._px(liq.symbol), sim._qty(liq.symbol)
    ets = sim.clock.stamp(liq.ts)
    order = {
        "s": sim._bn[liq.symbol],
        "S": "BUY" if liq.is_buy else "SELL",
        "o": "LIMIT",
        "f": "IOC",
        "q": qty(liq.size),
        "p": px(liq.price),
        "ap": px(liq.price),
        "X": "FILLED",
        "l": qty(liq.size),
        "z": qty(liq.size),
        "T": ets,
    }

    def build(mul: int) -> dict[str, Any]:
        return {"e": "forceOrder", "E": ets * mul, "o": _timed(order, ("T",), mul)}

    return build
