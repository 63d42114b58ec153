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

from trio_feeds.books.outputs import BookGap, BookSyncOutput
from trio_feeds.core.records import BookDelta
from trio_feeds.exchanges.binance.book import BinanceBookSync
from trio_feeds.exchanges.binance_usdm.streams import NAME

__all__ = ["UsdmBookSync"]


class UsdmBookSync(BinanceBookSync):
    """:class:`~trio_feeds.books.orderbook.BinanceBookSync` with the futures rules above."""

    exchange = NAME

    def _try_sync(self) -> list[BookSyncOutput]:
        snap = self._pending
        assert snap is not None and snap.sequence is not None
        last_id = snap.sequence
        buf = self._buffer
        if not buf:
            return []
        while buf and buf[0].sequence is not None and buf[0].sequence < last_id:
            buf.popleft()  # step 2
        if not buf:
            return []  # hold the snapshot; the next event must cover L
        first = buf[0]
        if _first(first) > last_id:  # step 3 fails: the snapshot is older than the events
            self._pending = None
            return [self._request("snapshot older than the first buffered event")]
        self._pending = None
        book = self.book
        book.load_snapshot(snap.bids, snap.asks)
        book.sequence = last_id
        self._synced = True
        self._last_ts = snap.timestamp
        out: list[BookSyncOutput] = []
        # the first event is applied whatever its pu (it straddles the snapshot)
        d = buf.popleft()
        book.apply(d.bids, d.asks)
        assert d.sequence is not None
        book.sequence = d.sequence
        self._last_ts = d.timestamp
        last = d
        while buf:
            d = buf.popleft()
            if self._live(d, out):
                last = d
            if not self._synced:
                return out
        out.append(self._updated(last, snapshot=True))
        return out

    def _live(self, d: BookDelta, out: list[BookSyncOutput]) -> bool:
        """Apply one event to a synced book; True if applied.  A broken ``pu`` chain is a gap."""
        u = d.sequence
        cur = self.book.sequence
        assert u is not None and cur is not None
        if u <= cur:
            return False  # already applied (an overlap after a handoff)
        prev = d.prev_sequence if d.prev_sequence is not None else _first(d) - 1
        if prev != cur:
            out.append(
                BookGap(
                    self.exchange,
                    self.symbol,
                    f"missed depth updates: pu={prev} != last u={cur}",
                    cur,
                    _first(d),
                    d.timestamp,
                    self._last_ts,
                )
            )
            self.book.clear()
            self._synced = False
            self._last_ts = None
            self._buffer.appendleft(d)
            out.append(self._request("gap in depth updates"))
            return False
        self.book.apply(d.bids, d.asks)
        self.book.sequence = u
        self._last_ts = d.timestamp
        return True


def _first(d: BookDelta) -> int:
    if d.first_sequence is not None:
        return d.first_sequence
    assert d.sequence is not None
    return d.sequence
