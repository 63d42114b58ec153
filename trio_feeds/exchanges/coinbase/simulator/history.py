"""The simulated Coinbase's REST market trades: ``GET
/api/v3/brokerage/market/products/{product_id}/ticker``, from the market's
:class:`~trio_feeds.simulator.tape.TradeTape`.

``limit`` is required (at most :data:`MAX_LIMIT`); the newest trades only, newest first,
one per fill as on ``market_trades`` (``side`` the maker's), with the book's best bid and
ask; no cursor by trade id.  A ``-USDC`` product is answered with its ``-USD`` market.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import orjson

from trio_feeds.exchanges.coinbase.simulator.state import rfc3339
from trio_feeds.simulator.server import RestResult

if TYPE_CHECKING:
    from trio_feeds.exchanges.coinbase.simulator.server import SimulatedCoinbase

__all__ = ["MAX_LIMIT", "PREFIX", "matches", "serve"]

PREFIX = "/api/v3/brokerage/market/products/"
#: the most trades one answer holds
MAX_LIMIT = 1000
_JSON = [("content-type", "application/json")]


def _error(status: int, code: str, message: str) -> RestResult:
    return status, _JSON, orjson.dumps({"error": code, "message": message})


def matches(path: str) -> bool:
    """True for a market-trades path."""
    return path.startswith(PREFIX) and path.endswith("/ticker")


def serve(sim: SimulatedCoinbase, path: str, query: dict[str, str]) -> RestResult:
    """Answer one market-trades request (``matches(path)``)."""
    product = path[len(PREFIX) : -len("/ticker")]
    sym = product[:-1] if product.endswith("-USDC") else product
    if not sim.market.has_symbol(sym):
        return _error(404, "NOT_FOUND", "ProductID is invalid")
    try:
        limit = int(query["limit"])
    except (KeyError, ValueError):
        return _error(400, "INVALID_ARGUMENT", "limit is required and must be an integer")
    limit = max(1, min(limit, MAX_LIMIT))
    trades = [
        {
            "trade_id": str(f.trade_id),
            "product_id": product,
            "price": sim._fmt(sym, f.price, True),
            "size": sim._fmt(sym, f.size, False),
            "time": rfc3339(sim.clock.stamp(f.ts)),
            "side": "SELL" if f.taker_is_buy else "BUY",  # the maker's side
            "exchange": "",
        }
        for f in reversed(sim.market.tape.latest(sym, limit))
    ]
    bid, _, ask, _ = sim.market.bbo(sym)
    body = {
        "trades": trades,
        "best_bid": sim._fmt(sym, bid, True) if bid else "",
        "best_ask": sim._fmt(sym, ask, True) if ask else "",
    }
    return 200, _JSON, orjson.dumps(body)
