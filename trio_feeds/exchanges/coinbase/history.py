"""Coinbase REST market trades: the window the engine fetches to fill a hole in a
product's trades after a reconnect (``ExchangeSpec.trade_history``).

``GET /api/v3/brokerage/market/products/{product_id}/ticker?limit=N`` (public, no key)
answers ``{"trades":[{"trade_id","product_id","price","size","time","side","exchange"}],
"best_bid","best_ask"}``, the newest trades first; ``side`` is the maker's, as on
``market_trades``.  Its ``start``/``end`` are UNIX times, not trade ids, so there is no
cursor by id: we ask for the newest :data:`PAGE_SIZE` trades (``TradeHistory(paged=False)``)
and a hole older than that window stays (``gap_not_filled``, ``too_old``).  The page
states no maximum for ``limit``; :data:`PAGE_SIZE` is 1000, the Coinbase Exchange trades
page's maximum.

Trade ids are numeric strings per product on spot (the page's example shows a UUID); the
pages do not say they are consecutive, so they are not taken as such: a hole is looked for
after every reconnect.  ``market_trades`` resends recent trades after each subscribe, so a
short outage is often covered by that snapshot already (the fill then has nothing left).
"""

from __future__ import annotations

from typing import Any

import orjson

from trio_feeds.core.errors import ProtocolError
from trio_feeds.core.fast import new_trade
from trio_feeds.core.records import Trade
from trio_feeds.exchanges._shared import iso_ms, price, size
from trio_feeds.exchanges.coinbase._push import _TAKER
from trio_feeds.exchanges.coinbase.facts import NAME
from trio_feeds.exchanges.spec import TradeHistory
from trio_feeds.protocol._events import excerpt

__all__ = ["HISTORY", "PAGE_SIZE", "market_trades_path", "parse_market_trades"]

#: trades asked for per request
PAGE_SIZE = 1000


def market_trades_path(symbol: str, cursor: int = 0, limit: int = PAGE_SIZE) -> str:
    """The newest ``limit`` trades of product ``symbol`` (``cursor`` is ignored)."""
    return f"/api/v3/brokerage/market/products/{symbol.upper()}/ticker?limit={limit}"


def _products(symbol: str) -> tuple[str, ...]:
    s = symbol.upper()
    # a -USDC product is answered with -USD data (as on the WebSocket)
    return (s, s[:-1]) if s.endswith("-USDC") else (s,)


def parse_market_trades(body: bytes, symbol: str, received_at: float) -> list[Trade]:
    """A market-trades answer as the ``market_trades`` channel's records (newest first,
    as Coinbase answers)."""
    try:
        msg = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ProtocolError(f"coinbase market trades for {symbol}: invalid JSON: {exc}") from None
    items = msg.get("trades") if isinstance(msg, dict) else None
    if not isinstance(items, list):
        detail = msg.get("message") or msg.get("error") if isinstance(msg, dict) else None
        raise ProtocolError(
            f"coinbase market trades for {symbol}: "
            + (f"error: {detail}" if detail else f"unexpected body {excerpt(body)}")
        )
    products = _products(symbol)
    out: list[Any] = []
    for t in items:
        try:
            if t["product_id"] not in products:
                raise ValueError
            tid = t["trade_id"]
            if tid.__class__ is int:
                tid = str(tid)
            elif tid.__class__ is not str or not tid.isdigit():
                raise TypeError  # the engine orders the trades by their numeric ids
            out.append(
                new_trade(
                    NAME,
                    symbol,
                    iso_ms(t["time"]),
                    received_at,
                    price(t["price"]),
                    size(t["size"]),
                    _TAKER[t["side"]],
                    tid,
                )
            )
        except (KeyError, TypeError, ValueError):
            raise ProtocolError(
                f"coinbase market trades for {symbol}: unusable trade {excerpt(orjson.dumps(t))}"
            ) from None
    return out


#: ``SPEC.trade_history``: ``market_trades`` (the newest 1000 trades, no id cursor)
HISTORY = {
    "market_trades": TradeHistory(
        market_trades_path,
        parse_market_trades,
        backward=True,
        page_size=PAGE_SIZE,
        weight=1.0,
        paged=False,
    )
}
