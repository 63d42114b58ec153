"""The simulated OKX's REST endpoints (``/api/v5/market/books``, ``/public/instruments``,
``/time``) and 429 answers."""

from __future__ import annotations

from typing import TYPE_CHECKING

import orjson
import trio

from trio_feeds.exchanges.okx.simulator import history, swaps
from trio_feeds.exchanges.okx.simulator.state import (
    _JSON,
)
from trio_feeds.simulator.server import RestResult

if TYPE_CHECKING:
    from trio_feeds.exchanges.okx.simulator.server import SimulatedOkx

__all__ = ["rest", "rest_throttled"]


def rest_throttled(sim: SimulatedOkx) -> RestResult:
    body = b'{"msg":"Too Many Requests","code":"50011"}'
    return 429, [*_JSON, ("retry-after", str(sim._rest_retry_after))], body


def rest(sim: SimulatedOkx, method: str, path: str, query: dict[str, str]) -> RestResult:
    if sim._rest_window.add(trio.current_time()) > 40:
        sim._violation("rest_rate", None, "> 40 requests / 2 s")
    if method != "GET":
        return 405, _JSON, b'{"code":"405","msg":"Method Not Allowed","data":[]}'
    if path == "/api/v5/public/time":
        ts = str(sim.clock.stamp(sim.market.to_ms(trio.current_time())))
        return 200, _JSON, orjson.dumps({"code": "0", "msg": "", "data": [{"ts": ts}]})
    if path == "/api/v5/public/instruments":
        items = swaps.instruments(sim, query.get("instType", ""))
        if not items and query.get("instType") not in ("SPOT", "SWAP"):
            body = b'{"code":"51000","msg":"Parameter instType error","data":[]}'
            return 200, _JSON, body
        return 200, _JSON, orjson.dumps({"code": "0", "msg": "", "data": items})
    if path in history.PATHS:
        return history.serve(sim, path, query)
    if path != "/api/v5/market/books":
        return 404, _JSON, b'{"code":"404","msg":"Not Found","data":[]}'
    wire = query.get("instId")
    inst = sim.swaps.market_symbol(wire) if wire else wire
    if not wire:
        return (
            200,
            _JSON,
            b'{"code":"50014","msg":"Parameter instId can not be empty.","data":[]}',
        )
    if inst is None:
        return 200, _JSON, b'{"code":"51001","msg":"Instrument ID doesn\'t exist.","data":[]}'
    try:
        sz = max(1, min(int(query.get("sz", "1")), 400))
    except ValueError:
        return 200, _JSON, b'{"code":"51000","msg":"Parameter sz error","data":[]}'
    bids, asks = sim.market.book(inst, sz)
    item = {
        "asks": sim._levels(inst, asks),
        "bids": sim._levels(inst, bids),
        "ts": str(sim.clock.stamp(sim.market.to_ms(trio.current_time()))),
        "seqId": sim.market.seq_id(inst),
    }
    return 200, _JSON, orjson.dumps({"code": "0", "msg": "", "data": [item]})
