"""OKX REST trade history: the pages the engine fetches to fill a hole in a symbol's trades
(``ExchangeSpec.trade_history``).

``GET /api/v5/market/history-trades?instId=&type=1&after=<tradeId>&limit=100``: with
``type=1`` the cursor is a trade id, and ``after`` asks for the trades *older* than it,
newest first, at most 100 a page (20 requests / 2 s per IP).  Trade ids are per
instrument and increase with time; they are **not** consecutive on the ``trades``
channel (one push per taker order and price, numbered by its last fill, so the fills'
ids in between are skipped), so a hole cannot be told from the ids: the engine fetches
after every reconnect or unproven handoff instead, from the newest trade delivered to the
first one after it.  The items have the ``trades`` channel's own keys (``instId tradeId px
sz side ts``) and go through its parser.

Spot only: swap sizes are contracts, converted with the contract values the adapter
loads at connect time, which the history parser does not have.
"""

from __future__ import annotations

from typing import Any

import orjson

from trio_feeds.core.errors import ProtocolError
from trio_feeds.core.records import Trade
from trio_feeds.exchanges.okx.adapter import OkxAdapter
from trio_feeds.exchanges.okx.frames import _Invalid
from trio_feeds.exchanges.okx.perps import SWAP_SUFFIX
from trio_feeds.exchanges.okx.symbols import to_okx
from trio_feeds.exchanges.spec import TradeHistory
from trio_feeds.protocol._events import excerpt

__all__ = ["HISTORY", "PAGE_SIZE", "history_trades_path", "parse_history_trades"]

#: trades per request (the most the endpoint returns)
PAGE_SIZE = 100


def history_trades_path(symbol: str, before_id: int, limit: int = PAGE_SIZE) -> str:
    """The trades of ``symbol`` older than trade id ``before_id``, newest first."""
    return (
        f"/api/v5/market/history-trades?instId={to_okx(symbol)}&type=1"
        f"&after={before_id}&limit={limit}"
    )


def parse_history_trades(body: bytes, symbol: str, received_at: float) -> list[Trade]:
    """A ``history-trades`` page as the ``trades`` channel's records."""
    inst = to_okx(symbol)
    try:
        msg = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ProtocolError(f"okx history-trades for {inst}: invalid JSON: {exc}") from None
    if not isinstance(msg, dict) or not isinstance(msg.get("data"), list):
        raise ProtocolError(f"okx history-trades for {inst}: unexpected body {excerpt(body)}")
    if msg.get("code") not in ("0", 0):
        raise ProtocolError(
            f"okx history-trades for {inst}: error {msg.get('code')}: {msg.get('msg')}"
        )
    parser = OkxAdapter()
    out: list[Any] = []
    for item in msg["data"]:
        try:
            if not isinstance(item, dict) or item.get("instId", inst) != inst:
                raise _Invalid
            parser._on_trades([item], inst, msg, received_at, out)
        except (KeyError, TypeError, ValueError, AttributeError, _Invalid):
            raise ProtocolError(
                f"okx history-trades for {inst}: unusable trade {excerpt(orjson.dumps(item))}"
            ) from None
    return out


def _spot(symbol: str) -> bool:
    return not symbol.upper().endswith(SWAP_SUFFIX)


#: ``SPEC.trade_history``: the ``trades`` channel (``trades-all`` has no matching page)
HISTORY = {
    "trades": TradeHistory(
        history_trades_path,
        parse_history_trades,
        backward=True,
        page_size=PAGE_SIZE,
        weight=1.0,
        covers=_spot,
    )
}
