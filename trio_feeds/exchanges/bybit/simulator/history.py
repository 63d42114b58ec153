"""The simulated Bybit's REST recent trades: ``GET /v5/market/recent-trade``, from the
market's :class:`~trio_feeds.simulator.tape.TradeTape`.

``category`` (``spot`` or ``linear``) and ``symbol`` (``BTCUSDT``) are required; ``limit``
defaults to 60 on spot (at most 60) and 500 on linear (at most 1000).  The newest trades
only, newest first, one per fill as on ``publicTrade`` (numeric ids on spot, the push's
UUIDs on linear); no cursor, as Bybit serves none.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

import orjson
import trio

from trio_feeds.simulator.server import RestResult

if TYPE_CHECKING:
    from trio_feeds.exchanges.bybit.simulator.server import SimulatedBybit

__all__ = ["PATHS", "serve"]

PATHS = frozenset({"/v5/market/recent-trade"})
_JSON = [("content-type", "application/json")]
#: (default, most) trades per request, by category
_LIMITS = {"spot": (60, 60), "linear": (500, 1000)}


def _answer(sim: SimulatedBybit, code: int, msg: str, result: dict[str, Any]) -> RestResult:
    body = {"retCode": code, "retMsg": msg, "result": result, "retExtInfo": {}}
    body["time"] = sim.clock.stamp(sim.market.to_ms(trio.current_time()))
    return 200, _JSON, orjson.dumps(body)


def serve(sim: SimulatedBybit, path: str, query: dict[str, str]) -> RestResult:
    """Answer one recent-trade request (``path`` in :data:`PATHS`)."""
    category = query.get("category", "")
    if category not in _LIMITS:
        return _answer(sim, 10001, "Illegal category", {})
    wire = query.get("symbol", "")
    sym = sim._wire.get(wire)
    if sym is None:
        return _answer(sim, 10001, "params error: symbol invalid", {})
    default, most = _LIMITS[category]
    try:
        limit = int(query.get("limit", default))
    except ValueError:
        return _answer(sim, 10001, "params error: limit invalid", {})
    limit = max(1, min(limit, most))
    linear = category == "linear"
    items = []
    for f in reversed(sim.market.tape.latest(sym, limit)):
        tid = uuid.UUID(int=(sim.market.seed << 64) | f.trade_id) if linear else f.trade_id
        items.append(
            {
                "execId": str(tid),
                "symbol": wire,
                "price": sim._fmt_px(sym, f.price),
                "size": sim._fmt_sz(sym, f.size),
                "side": "Buy" if f.taker_is_buy else "Sell",
                "time": str(sim.clock.stamp(f.ts)),
                "isBlockTrade": False,
                "isRPITrade": False,
            }
        )
    return _answer(sim, 0, "OK", {"category": category, "list": items})
