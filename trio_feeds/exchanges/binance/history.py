"""Binance REST trade history: the pages the engine fetches to fill a hole in a symbol's
trades (``ExchangeSpec.trade_history``).

* ``@trade`` (ids ``t``, consecutive per symbol): ``GET /api/v3/historicalTrades?symbol=
  &fromId=&limit=1000`` (weight 25; a market-data endpoint that Binance's spot docs list
  without an API key).  Items ``{"id", "price", "qty", "time", "isBuyerMaker", ...}``.
* ``@aggTrade`` (ids ``a``, consecutive per symbol): ``GET /api/v3/aggTrades?symbol=
  &fromId=&limit=1000`` (weight 2; no key).  Items have the stream's own keys (``a p q f l
  T m M``).

USD-M futures have the same two under ``/fapi/v1`` (:func:`history_for`); there
``historicalTrades`` needs an API key, so only ``aggTrades`` is used.

Both pages run oldest first from ``fromId``: the history is read forward.  Each item goes
through the live stream's own handler, so a fetched trade equals, field for field, the one
the stream would have delivered (``received_at`` aside).
"""

from __future__ import annotations

from typing import Any

import orjson

from trio_feeds.core.errors import ProtocolError
from trio_feeds.core.records import Trade
from trio_feeds.core.symbols import canonical
from trio_feeds.exchanges.binance.handlers import _trade_handler
from trio_feeds.exchanges.binance.streams import NAME, _Invalid
from trio_feeds.exchanges.binance.symbols import to_binance
from trio_feeds.exchanges.spec import TradeHistory
from trio_feeds.protocol._events import excerpt

__all__ = ["PAGE_SIZE", "history_for", "parse_agg_trades", "parse_historical_trades"]

#: trades per request (the most both endpoints return)
PAGE_SIZE = 1000


def _path(endpoint: str, symbol: str, from_id: int, limit: int) -> str:
    return f"{endpoint}?symbol={to_binance(symbol)}&fromId={from_id}&limit={limit}"


def _items(body: bytes, what: str, exchange: str, symbol: str) -> list[Any]:
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ProtocolError(f"{exchange} {what} for {symbol}: invalid JSON: {exc}") from None
    if isinstance(data, dict) and "code" in data:
        raise ProtocolError(
            f"{exchange} {what} for {symbol}: error {data.get('code')}: {data.get('msg')}"
        )
    if not isinstance(data, list):
        raise ProtocolError(f"{exchange} {what} for {symbol}: expected a list: {excerpt(body)}")
    return data


def _parse(
    body: bytes, symbol: str, received_at: float, *, what: str, exchange: str, rename: bool
) -> list[Trade]:
    sym = canonical(symbol)
    handle = _trade_handler(sym, "t" if rename else "a", exchange)
    out: list[Trade] = []
    for item in _items(body, what, exchange, sym):
        try:
            if rename:
                item = {
                    "t": item["id"],
                    "p": item["price"],
                    "q": item["qty"],
                    "T": item["time"],
                    "m": item["isBuyerMaker"],
                }
            trade = handle(item, received_at)
        except (KeyError, TypeError, ValueError, _Invalid):
            raise ProtocolError(
                f"{exchange} {what} for {sym}: unusable trade {excerpt(orjson.dumps(item))}"
            ) from None
        assert isinstance(trade, Trade)
        out.append(trade)
    return out


def parse_historical_trades(
    body: bytes, symbol: str, received_at: float, *, exchange: str = NAME
) -> list[Trade]:
    """A ``historicalTrades`` page as the ``@trade`` stream's records (ids ``t``)."""
    return _parse(
        body, symbol, received_at, what="historicalTrades", exchange=exchange, rename=True
    )


def parse_agg_trades(
    body: bytes, symbol: str, received_at: float, *, exchange: str = NAME
) -> list[Trade]:
    """An ``aggTrades`` page as the ``@aggTrade`` stream's records (ids ``a``)."""
    return _parse(body, symbol, received_at, what="aggTrades", exchange=exchange, rename=False)


def history_for(
    prefix: str, exchange: str, *, trades: bool, trade_weight: float, agg_weight: float
) -> dict[str, TradeHistory]:
    """The ``trade_history`` of a Binance market under REST ``prefix`` (``/api/v3``,
    ``/fapi/v1``): ``aggTrade`` always, ``trade`` when ``trades`` (its endpoint needs no key)."""

    def agg_path(symbol: str, from_id: int, limit: int) -> str:
        return _path(f"{prefix}/aggTrades", symbol, from_id, limit)

    def agg_parse(body: bytes, symbol: str, received_at: float) -> list[Trade]:
        return parse_agg_trades(body, symbol, received_at, exchange=exchange)

    out = {"aggTrade": TradeHistory(agg_path, agg_parse, page_size=PAGE_SIZE, weight=agg_weight)}
    if trades:

        def trade_path(symbol: str, from_id: int, limit: int) -> str:
            return _path(f"{prefix}/historicalTrades", symbol, from_id, limit)

        def trade_parse(body: bytes, symbol: str, received_at: float) -> list[Trade]:
            return parse_historical_trades(body, symbol, received_at, exchange=exchange)

        out["trade"] = TradeHistory(
            trade_path, trade_parse, page_size=PAGE_SIZE, weight=trade_weight
        )
    return out
