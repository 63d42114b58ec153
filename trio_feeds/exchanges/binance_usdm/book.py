"""USD-M local order book: diffs chained by ``pu`` after a ``/fapi/v1/depth`` snapshot.

Binance's procedure for futures
(https://developers.binance.com/docs/derivatives/usds-margined-futures/websocket-market-streams/How-to-manage-a-local-order-book-correctly):

1. buffer the ``<s>@depth`` events; get a snapshot (``lastUpdateId`` = ``L``);
2. drop events with ``u < L``;
3. the first event applied must have ``U <= L`` and ``u >= L``;
4. after it, every event's ``pu`` must equal the previous event's ``u``; otherwise the
   book is dropped (a :class:`~trio_feeds.books.orderbook.BookGap`) and synced again
   from a new snapshot.

This differs from spot, where continuity is ``U == previous u + 1``: on futures ``U`` may
skip (``U`` counts updates of every price level, including ones outside the stream), so
only ``pu`` tells a missed event.
"""

from __future__ import annotations

from trio_feeds.core.records import BookDelta
from trio_feeds.exchanges.binance.book import BinanceBookSync, _first
from trio_feeds.exchanges.binance_usdm.streams import NAME

__all__ = ["UsdmBookSync"]


class UsdmBookSync(BinanceBookSync):
    """:class:`~trio_feeds.exchanges.binance.BinanceBookSync` with the futures rules above:
    the first diff must straddle ``L`` itself, and continuity is the ``pu`` chain."""

    exchange = NAME
    _REACH = 0

    def _broken(self, d: BookDelta, cur: int) -> str | None:
        prev = d.prev_sequence if d.prev_sequence is not None else _first(d) - 1
        if prev != cur:
            return f"missed depth updates: pu={prev} != last u={cur}"
        return None
