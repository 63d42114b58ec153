"""The simulated Binance's REST trade history: ``GET /api/v3/historicalTrades`` (weight 25),
from the market's :class:`~trio_feeds.simulator.tape.TradeTape`.

``symbol`` (required), ``limit`` (default 500, at most 1000), ``fromId`` (default: the
most recent trades).  Trades older than the tape are gone: a ``fromId`` before it starts
at the oldest kept, as Binance does for trades it no longer keeps.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import orjson

from trio_feeds.exchanges.binance.simulator.state import _JSON
from trio_feeds.simulator.server import RestResult

if TYPE_CHECKING:
    from trio_feeds.exchanges.binance.simulator.server import SimulatedBinance

__all__ = ["PATHS", "serve"]

PATHS = frozenset({"/api/v3/historicalTrades"})
WEIGHT = 25


def _bad(code: int, msg: str) -> RestResult:
    return 400, _JSON, orjson.dumps({"code": code, "msg": msg})


def serve(sim: SimulatedBinance, path: str, query: dict[str, str]) -> RestResult:
    """Answer one trade-history request (``path`` in :data:`PATHS`)."""
    raw = query.get("symbol")
    if not raw:
        return _bad(
            -1102, "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed."
        )
    sym = sim._upper.get(raw)
    if sym is None:
        return _bad(-1121, "Invalid symbol.")
    try:
        limit = int(query.get("limit", "500"))
        from_id = int(query["fromId"]) if "fromId" in query else None
    except ValueError:
        return _bad(-1100, "Illegal characters found in a parameter.")
    if not 1 <= limit <= 1000:
        return _bad(-1130, "Invalid data sent for a parameter: limit.")
    tape = sim.market.tape
    fills = tape.latest(sym, limit) if from_id is None else tape.since(sym, from_id, limit)
    px, qty = sim._px(sym), sim._qty(sym)
    body = orjson.dumps(
        [
            {
                "id": f.trade_id,
                "price": px(f.price),
                "qty": qty(f.size),
                "quoteQty": "0",
                "time": sim.clock.stamp(f.ts),
                "isBuyerMaker": not f.taker_is_buy,
                "isBestMatch": True,
            }
            for f in fills
        ]
    )
    return 200, [*_JSON, ("x-mbx-used-weight-1m", str(sim._used_weight(WEIGHT)))], body
