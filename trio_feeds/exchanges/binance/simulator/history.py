"""The simulated Binance's REST trade history: ``GET /api/v3/historicalTrades`` (weight 25),
from the market's :class:`~trio_feeds.simulator.tape.TradeTape`, and ``GET
/api/v3/aggTrades`` (weight 2), from the aggregate trades the simulator numbered as it
streamed them (:func:`record_aggs`).

``symbol`` (required), ``limit`` (default 500, at most 1000), ``fromId`` (default: the
most recent trades).  Trades older than the tape are gone: a ``fromId`` before it starts
at the oldest kept, as Binance does for trades it no longer keeps.
"""

from __future__ import annotations

from bisect import bisect_left
from typing import TYPE_CHECKING, NamedTuple

import orjson

from trio_feeds.exchanges.binance.simulator.state import _JSON
from trio_feeds.simulator.marketdata import Fill
from trio_feeds.simulator.server import RestResult

if TYPE_CHECKING:
    from trio_feeds.exchanges.binance.simulator.server import SimulatedBinance

__all__ = ["PATHS", "record_aggs", "serve"]

PATHS = frozenset({"/api/v3/historicalTrades", "/api/v3/aggTrades"})
WEIGHT = {"/api/v3/historicalTrades": 25, "/api/v3/aggTrades": 2}
#: aggregate trades kept per symbol
KEEP = 100_000


class _Agg(NamedTuple):
    agg_id: int
    ts: int
    taker_is_buy: bool
    fills: list[Fill]


def record_aggs(
    sim: SimulatedBinance, symbol: str, ts: int, aggs: list[tuple[int, bool, list[Fill]]]
) -> None:
    """Keep one tick's aggregate trades (``(id, taker is buy, fills)``) for ``aggTrades``."""
    tapes: dict[str, list[_Agg]] | None = getattr(sim, "_agg_tape", None)
    if tapes is None:
        tapes = sim._agg_tape = {}  # type: ignore[attr-defined]
    tape = tapes.setdefault(symbol, [])
    tape.extend(_Agg(a, ts, buy, fills) for a, buy, fills in aggs)
    if len(tape) > 2 * KEEP:
        del tape[:-KEEP]


def _agg_page(
    sim: SimulatedBinance, sym: str, from_id: int | None, limit: int
) -> list[dict[str, object]]:
    tape: list[_Agg] = getattr(sim, "_agg_tape", {}).get(sym, [])
    if from_id is None:
        page = tape[-limit:]
    else:
        i = bisect_left(tape, from_id, key=lambda a: a.agg_id)
        page = tape[i : i + limit]
    px, qty = sim._px(sym), sim._qty(sym)
    return [
        {
            "a": a.agg_id,
            "p": px(a.fills[0].price),
            "q": qty(sum(f.size for f in a.fills)),
            "f": a.fills[0].trade_id,
            "l": a.fills[-1].trade_id,
            "T": sim.clock.stamp(a.ts),
            "m": not a.taker_is_buy,
            "M": True,
        }
        for a in page
    ]


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
    headers = [*_JSON, ("x-mbx-used-weight-1m", str(sim._used_weight(WEIGHT[path])))]
    if path == "/api/v3/aggTrades":
        return 200, headers, orjson.dumps(_agg_page(sim, sym, from_id, limit))
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
    return 200, headers, body
