"""The simulated USD-M's REST endpoints under ``/fapi/v1/``: ``depth`` (with ``E``/``T``; the
diffs after it chain on ``pu``), ``openInterest``, ``exchangeInfo``, ``ping`` and ``time``,
with USD-M's request weights in ``x-mbx-used-weight-1m``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson
import trio

from trio_feeds.exchanges.binance.simulator.rest import (
    limit_param,
    snapshot_served,
    symbol_param,
)
from trio_feeds.exchanges.binance.simulator.state import _JSON
from trio_feeds.simulator.market import format_fixed
from trio_feeds.simulator.server import RestResult

if TYPE_CHECKING:
    from trio_feeds.exchanges.binance_usdm.simulator.server import SimulatedBinanceUsdm

__all__ = ["rest"]

#: ``/fapi/v1/depth`` limits and their weights
_DEPTH_WEIGHTS = {5: 2, 10: 2, 20: 2, 50: 2, 100: 5, 500: 10, 1000: 20}


def _ok(sim: SimulatedBinanceUsdm, weight: int, body: Any) -> RestResult:
    used = str(sim._used_weight(weight))
    return 200, [*_JSON, ("x-mbx-used-weight-1m", used)], orjson.dumps(body)


def rest(sim: SimulatedBinanceUsdm, method: str, path: str, query: dict[str, str]) -> RestResult:
    if method != "GET":
        return 405, _JSON, b'{"code":-1,"msg":"Method not allowed."}'
    now = sim.clock.stamp(sim.market.to_ms(trio.current_time()))
    if path == "/fapi/v1/ping":
        return _ok(sim, 1, {})
    if path == "/fapi/v1/time":
        return _ok(sim, 1, {"serverTime": now})
    if path == "/fapi/v1/exchangeInfo":
        return _ok(sim, 1, _exchange_info(sim, now))
    if path not in ("/fapi/v1/depth", "/fapi/v1/openInterest"):
        return 404, _JSON, b'{"code":-1,"msg":"Not found."}'
    sym = symbol_param(sim, query)
    if not isinstance(sym, str):
        return sym
    if path == "/fapi/v1/openInterest":
        oi = sim.perp.open_interest(sym, sim.market.to_ms(trio.current_time()))
        amount = format_fixed(oi, sim.market.spec(sym).size_decimals, 3)
        return _ok(sim, 1, {"openInterest": amount, "symbol": sim._bn[sym], "time": now})
    limit = limit_param(query, 500, 1000)
    if not isinstance(limit, int):
        return limit
    if limit not in _DEPTH_WEIGHTS:  # USD-M takes only these
        limit = min((k for k in _DEPTH_WEIGHTS if k >= limit), default=1000)
    px, qty = sim._px(sym), sim._qty(sym)
    bids, asks = sim.market.book(sym, limit)
    snapshot_served(sim, sym)
    body = {
        "lastUpdateId": sim.market.update_id(sym),
        "E": now,
        "T": now,
        "bids": [[px(p), qty(q)] for p, q in bids],
        "asks": [[px(p), qty(q)] for p, q in asks],
    }
    return _ok(sim, _DEPTH_WEIGHTS[limit], body)


def _exchange_info(sim: SimulatedBinanceUsdm, now: int) -> dict[str, Any]:
    symbols = []
    for native, sym in sim._upper.items():
        spec = sim.market.spec(sym)
        tick, step = format_fixed(1, spec.price_decimals), format_fixed(1, spec.size_decimals)
        base, quote = sym.split("-")[:2]
        symbols.append(
            {
                "symbol": native,
                "pair": native,
                "contractType": "PERPETUAL",
                "status": "TRADING",
                "baseAsset": base,
                "quoteAsset": quote,
                "marginAsset": quote,
                "pricePrecision": spec.price_decimals,
                "quantityPrecision": spec.size_decimals,
                "filters": [
                    {"filterType": "PRICE_FILTER", "tickSize": tick},
                    {"filterType": "LOT_SIZE", "stepSize": step},
                ],
            }
        )
    limits = [
        {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 2400},
    ]
    return {"timezone": "UTC", "serverTime": now, "rateLimits": limits, "symbols": symbols}
