"""The base of every book sync state machine (pure, no I/O).

A sync keeps one symbol's :class:`~trio_feeds.books.orderbook.OrderBook` in step with an
exchange's delta stream.  The engine calls, per symbol:

* ``on_delta(delta)`` for every ``BookDelta`` of the stream (required);
* ``on_snapshot(snapshot)`` with a REST snapshot, after a ``SnapshotRequest``;
* ``on_subscribed()`` when a (re)subscription of the book channel was acknowledged;
* ``invalidate(reason, timestamp)`` when a frame of the stream was refused (malformed);
* ``on_connection_gap(timestamp)`` when the connection lost whole messages
  (:class:`~trio_feeds.protocol.ConnectionGap`).

The last four are optional: a sync without them never needs them.  Each returns a list of
:data:`~trio_feeds.books.outputs.BookSyncOutput`.  ``needs_snapshot`` tells the engine to
keep fetching snapshots; ``book`` and ``to_record`` give the state.
"""

from __future__ import annotations

from collections import deque

from trio_feeds.books.orderbook import OrderBook
from trio_feeds.books.outputs import BookSyncOutput, BookUpdated, SnapshotRequest, _new_updated
from trio_feeds.core.records import Book, BookDelta

__all__ = ["BookSyncBase"]


class _SyncBase:
    """Shared state of a sync: the book, a bounded queue of deltas, the last time applied.

    Subclasses set ``exchange`` and implement ``on_delta``, ``needs_snapshot``, ``synced``.
    """

    exchange: str

    @property
    def needs_snapshot(self) -> bool:
        """True while the sync waits for a REST snapshot."""
        return False

    def __init__(self, symbol: str, *, max_depth: int | None, max_buffer: int) -> None:
        if max_buffer < 1:
            raise ValueError("max_buffer must be >= 1")
        self.symbol = symbol
        self.book = OrderBook(max_depth)
        self._buffer: deque[BookDelta] = deque(maxlen=max_buffer)
        self._pending: BookDelta | None = None  # REST snapshot waiting for events
        self._requested = False  # a SnapshotRequest is outstanding
        self._last_ts: int | None = None

    def on_delta(self, delta: BookDelta) -> list[BookSyncOutput]:
        """Apply one delta of the stream; the outputs say what the engine must do."""
        raise NotImplementedError

    @property
    def buffered(self) -> int:
        """Frames queued while waiting for a snapshot."""
        return len(self._buffer)

    @property
    def last_sequence(self) -> int | None:
        return self.book.sequence

    def to_record(
        self,
        timestamp: int,
        received_at: float,
        depth: int | None = None,
        *,
        exchange_time: bool = True,
    ) -> Book:
        """The current book as a :class:`~trio_feeds.Book` record."""
        return self.book.to_record(
            self.exchange,
            self.symbol,
            timestamp,
            received_at,
            depth,
            exchange_time=exchange_time,
        )

    def _request(self, reason: str) -> SnapshotRequest:
        self._requested = True
        return SnapshotRequest(self.exchange, self.symbol, reason)

    def _updated(self, d: BookDelta, snapshot: bool = False) -> BookUpdated:
        return _new_updated(
            self.exchange, self.symbol, self.book.sequence, d.timestamp, d.received_at, snapshot
        )


#: the public name of the base class
BookSyncBase = _SyncBase
