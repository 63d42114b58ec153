"""Bybit REST recent trades: the window the engine fetches to fill a hole in a spot
symbol's trades after a reconnect (``ExchangeSpec.trade_history``).

``GET /v5/market/recent-trade?category=spot&symbol=BTCUSDT&limit=60`` returns the newest
trades only, newest first: ``limit`` is at most 60 on spot (1000 on linear), and there is
no cursor, so nothing older than that window can be fetched (``TradeHistory(paged=False)``:
a hole older than the window stays, ``gap_not_filled`` with reason ``too_old``).  Items
``{"execId","symbol","price","size","side","time","isBlockTrade"}``, ``side`` the taker's.

Trade ids (``execId``, ``i`` on ``publicTrade``): numeric strings on spot, UUIDs on linear.
The pages do not say spot ids are consecutive, so they are not taken as such: a hole is
looked for after every reconnect, between the newest trade delivered and the first newer
one.  Linear is not served: a UUID cannot say which trades came before it.
"""

from __future__ import annotations

from typing import Any

import orjson

from trio_feeds.core.errors import ProtocolError
from trio_feeds.core.fast import new_trade
from trio_feeds.core.records import Trade
from trio_feeds.exchanges._shared import price, size
from trio_feeds.exchanges.bybit._push import _SIDES, _ms
from trio_feeds.exchanges.bybit.adapter import split_symbol
from trio_feeds.exchanges.bybit.facts import NAME
from trio_feeds.exchanges.spec import TradeHistory
from trio_feeds.protocol._events import excerpt

__all__ = ["HISTORY", "PAGE_SIZE", "parse_recent_trades", "recent_trades_path"]

#: trades one spot request returns at most (the endpoint's spot limit)
PAGE_SIZE = 60


def recent_trades_path(symbol: str, cursor: int = 0, limit: int = PAGE_SIZE) -> str:
    """The newest ``limit`` trades of ``symbol`` (``cursor`` is ignored: there is none)."""
    _, wire, linear = split_symbol(symbol)
    category = "linear" if linear else "spot"
    return f"/v5/market/recent-trade?category={category}&symbol={wire}&limit={limit}"


def parse_recent_trades(body: bytes, symbol: str, received_at: float) -> list[Trade]:
    """A ``recent-trade`` answer as the ``publicTrade`` stream's records (newest first,
    as Bybit answers)."""
    _, wire, _ = split_symbol(symbol)
    try:
        msg = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ProtocolError(f"bybit recent-trade for {wire}: invalid JSON: {exc}") from None
    if not isinstance(msg, dict):
        raise ProtocolError(f"bybit recent-trade for {wire}: unexpected body {excerpt(body)}")
    if msg.get("retCode") != 0:
        raise ProtocolError(
            f"bybit recent-trade for {wire}: error {msg.get('retCode')}: {msg.get('retMsg')}"
        )
    result = msg.get("result")
    items = result.get("list") if isinstance(result, dict) else None
    if not isinstance(items, list):
        raise ProtocolError(f"bybit recent-trade for {wire}: unexpected body {excerpt(body)}")
    out: list[Any] = []
    for d in items:
        try:
            if d["symbol"] != wire:
                raise ValueError
            tid = d["execId"]
            if tid.__class__ is not str or not tid.isdigit():
                raise TypeError  # the engine orders the trades by their numeric ids
            out.append(
                new_trade(
                    NAME,
                    symbol,
                    _ms(d["time"]),
                    received_at,
                    price(d["price"]),
                    size(d["size"], "amount"),
                    _SIDES[d["side"]],
                    tid,
                )
            )
        except (KeyError, TypeError, ValueError):
            raise ProtocolError(
                f"bybit recent-trade for {wire}: unusable trade {excerpt(orjson.dumps(d))}"
            ) from None
    return out


def _spot(symbol: str) -> bool:
    return not split_symbol(symbol)[2]


#: ``SPEC.trade_history``: ``publicTrade`` on spot (the newest 60 trades, no pagination)
HISTORY = {
    "publicTrade": TradeHistory(
        recent_trades_path,
        parse_recent_trades,
        backward=True,
        page_size=PAGE_SIZE,
        weight=1.0,
        covers=_spot,
        paged=False,
    )
}
