"""The simulated OKX's REST trade history: ``GET /api/v5/market/history-trades``, from the
market's :class:`~trio_feeds.simulator.tape.TradeTape`.

The trades are those of the ``trades`` channel (one per run of fills at one price within a
taker order, numbered by its last fill).  ``instId`` (required), ``type=1`` (trade-id
cursor; the only one served), ``after`` (trades older than this id; default: the latest),
``limit`` (default and at most 100).  Newest first, as OKX answers.
"""

from __future__ import annotations

from bisect import bisect_left
from typing import TYPE_CHECKING

import orjson

from trio_feeds.exchanges.okx.simulator.state import _JSON, _TRADE_ID_OFFSET
from trio_feeds.simulator.server import RestResult
from trio_feeds.simulator.tape import TapeFill

if TYPE_CHECKING:
    from trio_feeds.exchanges.okx.simulator.server import SimulatedOkx

__all__ = ["PATHS", "serve"]

PATHS = frozenset({"/api/v5/market/history-trades"})


def _error(code: str, msg: str) -> RestResult:
    return 200, _JSON, orjson.dumps({"code": code, "msg": msg, "data": []})


def _same(a: TapeFill, b: TapeFill) -> bool:
    return a.order == b.order and a.price == b.price


def groups_before(fills: list[TapeFill], end: int, limit: int) -> list[list[TapeFill]]:
    """Up to ``limit`` whole trades (runs of fills) that end before index ``end``, newest
    first; a run that goes on at ``end`` is not whole there and is left out."""
    if 0 < end < len(fills) and _same(fills[end - 1], fills[end]):
        while end > 0 and _same(fills[end - 1], fills[end]):
            end -= 1
    out: list[list[TapeFill]] = []
    i = end - 1
    while i >= 0 and len(out) < limit:
        group = [fills[i]]
        while i > 0 and _same(fills[i - 1], fills[i]):
            i -= 1
            group.append(fills[i])
        group.reverse()
        out.append(group)
        i -= 1
    return out


def serve(sim: SimulatedOkx, path: str, query: dict[str, str]) -> RestResult:
    """Answer one trade-history request (``path`` in :data:`PATHS`)."""
    inst = query.get("instId")
    if not inst:
        return _error("50014", "Parameter instId can not be empty.")
    if not sim.market.has_symbol(inst):
        return _error("51001", "Instrument ID doesn't exist.")
    if query.get("type", "1") != "1":
        return _error("51000", "Parameter type error")
    try:
        limit = int(query.get("limit", "100"))
        after = int(query["after"]) if "after" in query else None
    except ValueError:
        return _error("51000", "Parameter after error")
    limit = max(1, min(limit, 100))
    tape = sim.market.tape
    fills = tape._fills.get(inst, [])
    if after is None:
        end = len(fills)
    else:
        end = bisect_left(tape._ids.get(inst, []), after - _TRADE_ID_OFFSET)
    px, sz = sim._fmt(inst)
    data = [
        {
            "instId": inst,
            "side": "buy" if g[0].taker_is_buy else "sell",
            "sz": sz(sum(f.size for f in g)),
            "px": px(g[0].price),
            "source": "0",
            "tradeId": str(g[-1].trade_id + _TRADE_ID_OFFSET),
            "ts": str(sim.clock.stamp(g[-1].ts)),
        }
        for g in groups_before(fills, end, limit)
    ]
    return 200, _JSON, orjson.dumps({"code": "0", "msg": "", "data": data})
