"""The simulated USD-M's stream payloads where they differ from spot's: trades with ``X``,
book tickers with ``E``/``T`` (spot's events, reshaped), diffs chained by ``pu``, partial
books shaped like diffs, ``markPriceUpdate`` and ``forceOrder``."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any

from trio_feeds.exchanges.binance.simulator.payloads import _timed
from trio_feeds.exchanges.binance.simulator.state import _DiffBuf
from trio_feeds.simulator.market import format_fixed
from trio_feeds.simulator.perp import SimLiquidation

if TYPE_CHECKING:
    from trio_feeds.exchanges.binance_usdm.simulator.server import SimulatedBinanceUsdm

__all__ = [
    "diff_builder",
    "liquidation_builder",
    "mark_builder",
    "partial_builder",
    "ticker_shape",
    "trade_shape",
]


def trade_shape(trade: dict[str, Any]) -> dict[str, Any]:
    """A futures ``trade`` event: ``X`` (``MARKET``), no ``M``."""
    out = {k: v for k, v in trade.items() if k != "M"}
    out["X"] = "MARKET"
    return out


def ticker_shape(data: dict[str, Any], ts: int) -> tuple[dict[str, Any], tuple[str, ...]]:
    """A futures ``bookTicker`` event: with its event and transaction times ``E``/``T``."""
    return {"e": "bookTicker", **data, "T": ts, "E": ts}, ("E", "T")


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
