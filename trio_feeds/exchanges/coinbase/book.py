"""Coinbase ``level2`` local book: a pure state machine (no I/O, no trio).

Rules (https://docs.cdp.coinbase.com/api-reference/advanced-trade-api/websocket/level2.md):
the first push of a subscription is a ``snapshot`` of the whole book, then ``update``s
with absolute sizes (``0`` removes).  The channel "guarantees delivery of all updates";
what can still go wrong is a lost *message*, which ``sequence_num`` shows (one counter
per connection, all channels together).  The adapter links the updates of one product:
``BookDelta.prev_sequence`` is the ``sequence_num`` of the product's previous ``l2_data``
message, or None when a hole (or an unusable update) broke continuity since.  So:

* a snapshot (re)seeds the book, in any state;
* an update applies iff ``prev_sequence`` equals the last applied ``sequence``;
  otherwise :class:`~trio_feeds.books.orderbook.BookGap` +
  :class:`~trio_feeds.books.orderbook.ResubscribeRequest`
  (unsubscribe + subscribe ``level2`` for the product: a fresh snapshot);
* :meth:`CoinbaseBookSync.on_connection_gap` does the same at once, for an engine that
  acts on the adapter's ``ConnectionGap`` without waiting for the next update.
"""

from __future__ import annotations

from typing import Literal, TypeAlias

from trio_feeds.books.outputs import BookGap, BookSyncOutput, ResubscribeRequest
from trio_feeds.books.sync import _SyncBase
from trio_feeds.core.records import BookDelta

#: deltas dropped while resubscribing before the resubscription is asked for again (its
#: snapshot may have been lost)
RESUBSCRIBE_AFTER = 50

__all__ = ["CoinbaseBookSync"]

_State: TypeAlias = Literal["await_snapshot", "synced", "resubscribing"]


class CoinbaseBookSync(_SyncBase):
    """One product's Coinbase book: feed every ``level2`` ``BookDelta`` to :meth:`on_delta`."""

    exchange = "coinbase"

    def __init__(self, symbol: str, *, max_depth: int | None = None) -> None:
        super().__init__(symbol, max_depth=max_depth, max_buffer=1)
        self._state: _State = "await_snapshot"
        self._dropped = 0

    @property
    def state(self) -> _State:
        return self._state

    @property
    def synced(self) -> bool:
        return self._state == "synced"

    @property
    def needs_snapshot(self) -> bool:
        """Always False: Coinbase books never ask for a REST snapshot."""
        return False

    def reset(self) -> None:
        self.book.clear()
        self._last_ts = None
        self._state = "await_snapshot"

    def on_subscribed(self) -> list[BookSyncOutput]:
        """The (re)subscription was acknowledged: its first push is a snapshot."""
        if self._state != "synced":
            self.reset()
        return []

    def on_delta(self, delta: BookDelta) -> list[BookSyncOutput]:
        if delta.snapshot:
            book = self.book
            book.load_snapshot(delta.bids, delta.asks)
            book.sequence = delta.sequence
            self._last_ts = delta.timestamp
            self._state = "synced"
            self._dropped = 0
            return [self._updated(delta, snapshot=True)]
        state = self._state
        if state == "synced":
            book = self.book
            if delta.prev_sequence is not None and delta.prev_sequence == book.sequence:
                book.apply(delta.bids, delta.asks)
                book.sequence = delta.sequence
                self._last_ts = delta.timestamp
                return [self._updated(delta)]
            reason = (
                "messages were lost on the connection (sequence_num hole)"
                if delta.prev_sequence is None
                else f"update chain broken: prev={delta.prev_sequence} != last={book.sequence}"
            )
            return self._gap(delta.timestamp, delta.prev_sequence, reason)
        if state == "await_snapshot":
            self._state = "resubscribing"
            return [
                ResubscribeRequest(self.exchange, self.symbol, "an update came before the snapshot")
            ]
        return self._drop()

    def _drop(self) -> list[BookSyncOutput]:
        """Resubscribing: deltas of the old subscription are void.  Too many of them and the
        new subscription's snapshot was lost: ask again."""
        self._dropped += 1
        if self._dropped < RESUBSCRIBE_AFTER:
            return []
        self._dropped = 0
        reason = f"no snapshot after {RESUBSCRIBE_AFTER} deltas while resubscribing"
        return [ResubscribeRequest(self.exchange, self.symbol, reason)]

    def on_connection_gap(self, timestamp: int) -> list[BookSyncOutput]:
        """Messages were lost on this book's connection (``ConnectionGap``): resync now."""
        if self._state != "synced":  # the snapshot awaited may be among the lost messages
            self._state = "resubscribing"
            self._dropped = 0
            reason = "messages were lost while waiting for a snapshot"
            return [ResubscribeRequest(self.exchange, self.symbol, reason)]
        return self._gap(timestamp, None, "messages were lost on the connection")

    def _gap(self, timestamp: int, first: int | None, reason: str) -> list[BookSyncOutput]:
        gap = BookGap(
            self.exchange, self.symbol, reason, self.book.sequence, first, timestamp, self._last_ts
        )
        self.book.clear()
        self._last_ts = None
        self._state = "resubscribing"
        self._dropped = 0
        return [gap, ResubscribeRequest(self.exchange, self.symbol, reason)]
