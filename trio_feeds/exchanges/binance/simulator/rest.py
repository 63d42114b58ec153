"""The simulated Binance's REST endpoints: ``/api/v3/depth``, ``/exchangeInfo``, ``/ping``,
``/time``, with request weights and 429 answers."""

from __future__ import annotations

from typing import TYPE_CHECKING

import orjson
import trio

from trio_feeds.core.symbols import canonical
from trio_feeds.exchanges.binance.simulator import history
from trio_feeds.exchanges.binance.simulator.state import _JSON
from trio_feeds.simulator.server import RestResult

if TYPE_CHECKING:
    from trio_feeds.exchanges.binance.simulator.server import SimulatedBinance

__all__ = [
    "exchange_info",
    "limit_param",
    "rest",
    "rest_throttled",
    "set_listing",
    "snapshot_served",
    "symbol_param",
    "used_weight",
]


def rest_throttled(sim: SimulatedBinance) -> RestResult:
    body = orjson.dumps(
        {
            "code": -1003,
            "msg": "Too many requests; current limit of IP(127.0.0.1) is 6000 requests per "
            "minute. Please use the websocket for live updates to avoid polling the API.",
        }
    )
    return 429, [*_JSON, ("retry-after", str(sim._rest_retry_after))], body


def used_weight(sim: SimulatedBinance, add: int) -> int:
    now = trio.current_time()
    sim._weight_log = [(t, w) for t, w in sim._weight_log if t > now - 60.0]
    sim._weight_log.append((now, add))
    return sum(w for _, w in sim._weight_log)


def set_listing(sim: SimulatedBinance, symbol: str, status: str | None) -> None:
    """List ``symbol`` (canonical, simulated by the market) in ``exchangeInfo`` with
    ``status`` (``"TRADING"``, ``"BREAK"``, …), or delist it (``None``).  Streams keep
    being served either way, as Binance does for a moment after a delisting."""
    sym = canonical(symbol)
    if status is None:
        sim.listing.pop(sym, None)
    elif sym in sim._sym:
        sim.listing[sym] = status
    else:
        raise KeyError(f"{sym} is not simulated by this market")


def _step(decimals: int) -> str:
    return f"{10.0**-decimals:.{decimals}f}" if decimals > 0 else "1"


def exchange_info(sim: SimulatedBinance) -> bytes:
    """``GET /api/v3/exchangeInfo``: every listed symbol (:meth:`set_listing`), with the
    ``PRICE_FILTER`` / ``LOT_SIZE`` filters of its market spec."""
    rows = []
    for sym, status in sim.listing.items():
        spec = sim.market.spec(sym)
        base, quote = sym.split("-")
        filters = [
            {"filterType": "PRICE_FILTER", "minPrice": _step(spec.price_decimals),
             "maxPrice": "1000000.00000000", "tickSize": _step(spec.price_decimals)},
            {"filterType": "LOT_SIZE", "minQty": _step(spec.size_decimals),
             "maxQty": "9000000.00000000", "stepSize": _step(spec.size_decimals)},
        ]  # fmt: skip
        rows.append(
            {"symbol": sim._bn[sym], "status": status, "baseAsset": base,
             "baseAssetPrecision": 8, "quoteAsset": quote, "quotePrecision": 8,
             "orderTypes": ["LIMIT", "MARKET"], "isSpotTradingAllowed": True,
             "filters": filters, "permissions": [], "permissionSets": [["SPOT"]]}
        )  # fmt: skip
    now_ms = sim.clock.stamp(sim.market.to_ms(trio.current_time()))
    return orjson.dumps(
        {"timezone": "UTC", "serverTime": now_ms, "rateLimits": [], "exchangeFilters": [],
         "symbols": rows}
    )  # fmt: skip


def rest(sim: SimulatedBinance, method: str, path: str, query: dict[str, str]) -> RestResult:
    if method != "GET":
        return 405, _JSON, b'{"code":-1,"msg":"Method not allowed."}'
    if path == "/api/v3/ping":
        return 200, [*_JSON, ("x-mbx-used-weight-1m", str(sim._used_weight(1)))], b"{}"
    if path == "/api/v3/time":
        now_ms = sim.clock.stamp(sim.market.to_ms(trio.current_time()))
        body = orjson.dumps({"serverTime": now_ms})
        return 200, [*_JSON, ("x-mbx-used-weight-1m", str(sim._used_weight(1)))], body
    if path in history.PATHS:
        return history.serve(sim, path, query)
    if path == "/api/v3/exchangeInfo":
        sim.instrument_requests += 1
        used = str(sim._used_weight(20))
        return 200, [*_JSON, ("x-mbx-used-weight-1m", used)], exchange_info(sim)
    if path != "/api/v3/depth":
        return 404, _JSON, b'{"code":-1,"msg":"Not found."}'
    sym = symbol_param(sim, query)
    if not isinstance(sym, str):
        return sym
    limit = limit_param(query, 100, 5000)
    if not isinstance(limit, int):
        return limit
    weight = 5 if limit <= 100 else 25 if limit <= 500 else 50 if limit <= 1000 else 250
    px, qty = sim._px(sym), sim._qty(sym)
    bids, asks = sim.market.book(sym, limit)
    snapshot_served(sim, sym)
    body = orjson.dumps(
        {
            "lastUpdateId": sim.market.update_id(sym),
            "bids": [[px(p), qty(q)] for p, q in bids],
            "asks": [[px(p), qty(q)] for p, q in asks],
        }
    )
    return 200, [*_JSON, ("x-mbx-used-weight-1m", str(sim._used_weight(weight)))], body


def symbol_param(sim: SimulatedBinance, query: dict[str, str]) -> str | RestResult:
    """The canonical symbol of the ``symbol`` parameter, or Binance's 400 answer."""
    raw = query.get("symbol")
    if not raw:
        msg = "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed."
        return 400, _JSON, orjson.dumps({"code": -1102, "msg": msg})
    sym = sim._upper.get(raw)
    if sym is None:
        return 400, _JSON, b'{"code":-1121,"msg":"Invalid symbol."}'
    return sym


def limit_param(query: dict[str, str], default: int, most: int) -> int | RestResult:
    """The ``limit`` parameter (clamped to 1..``most``), or Binance's 400 answer."""
    try:
        limit = int(query.get("limit", str(default)))
    except ValueError:
        msg = "Illegal characters found in parameter 'limit'; legal range is '^[0-9]{1,20}$'."
        return 400, _JSON, orjson.dumps({"code": -1100, "msg": msg})
    return max(1, min(limit, most))


def snapshot_served(sim: SimulatedBinance, sym: str) -> None:
    """A depth snapshot of ``sym`` was served: a ``corrupt("gap")`` armed for new connections
    now waits for the diff that syncs the book (see ``payloads.faulted``)."""
    for faults in sim._armed.values():
        for f in faults:
            if f.kind == "gap" and f.fresh and f.symbol in (None, sym) and f.stage == 0:
                f.stage = 1
