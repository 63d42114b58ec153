"""Bybit ``orderbook.{50,200,1000}`` local book: a pure state machine (no I/O, no trio).

Rules (https://bybit-exchange.github.io/docs/v5/websocket/public/orderbook):

* every subscription starts with a ``snapshot``; any later ``snapshot`` (Bybit re-sends
  one after a problem on its side; ``u == 1`` after a service restart) replaces the book;
* each ``delta``'s update id ``u`` is the previous message's ``u`` + 1; size ``"0"``
  deletes a level, an unknown price is inserted, a known one updated;
* there is no REST snapshot to merge with: a break in the ``u`` chain drops the book,
  emits :class:`~trio_feeds.books.orderbook.BookGap` and a
  :class:`~trio_feeds.books.orderbook.ResubscribeRequest` (unsubscribe, then subscribe on the
  same connection: Bybit refuses "already subscribed"); the new subscription's
  snapshot resynchronizes.

States (:attr:`BybitBookSync.state`): ``"await_snapshot"`` (initial; also after
:meth:`~BybitBookSync.on_subscribed`), ``"synced"``, ``"resubscribing"`` (deltas of the
old subscription are dropped until a snapshot arrives).
"""

from __future__ import annotations

from typing import Literal, TypeAlias

from trio_feeds.books.outputs import BookGap, BookSyncOutput, ResubscribeRequest
from trio_feeds.books.sync import _SyncBase
from trio_feeds.core.records import BookDelta

#: deltas dropped while resubscribing before the resubscription is asked for again (its
#: snapshot may have been lost)
RESUBSCRIBE_AFTER = 50

__all__ = ["BybitBookSync"]

_State: TypeAlias = Literal["await_snapshot", "synced", "resubscribing"]


class BybitBookSync(_SyncBase):
    """One symbol's Bybit book: feed every ``BookDelta`` of its topic to :meth:`on_delta`.

    ``max_depth``: the stream's depth (50 for ``orderbook.50``); levels beyond it are
    trimmed after every update, as Bybit keeps only that many.  None keeps all.
    """

    exchange = "bybit"

    def __init__(self, symbol: str, *, max_depth: int | None = None) -> None:
        super().__init__(symbol, max_depth=max_depth, max_buffer=1)
        self._state: _State = "await_snapshot"
        self._dropped = 0
        self.resets = 0
        """Snapshots that replaced a live book (Bybit re-sends, ``u == 1`` restarts)."""

    @property
    def state(self) -> _State:
        return self._state

    @property
    def synced(self) -> bool:
        return self._state == "synced"

    @property
    def needs_snapshot(self) -> bool:
        """Always False: Bybit books never ask for a REST snapshot."""
        return False

    def reset(self) -> None:
        """Forget everything and wait for the first snapshot of a new subscription."""
        self.book.clear()
        self._last_ts = None
        self._state = "await_snapshot"

    def on_subscribed(self) -> list[BookSyncOutput]:
        """The (re)subscription was acknowledged: its first push is a snapshot."""
        if self._state != "synced":
            self.reset()
        return []

    def on_delta(self, delta: BookDelta) -> list[BookSyncOutput]:
        u = delta.sequence
        if delta.snapshot:
            if u is None:
                return []
            book = self.book
            if self._state == "synced":
                self.resets += 1
            book.load_snapshot(delta.bids, delta.asks)
            book.sequence = u
            self._last_ts = delta.timestamp
            self._state = "synced"
            self._dropped = 0
            return [self._updated(delta, snapshot=True)]
        state = self._state
        if state == "synced":
            last = self.book.sequence
            if u is not None and last is not None and u == last + 1:
                if not delta.bids and not delta.asks:  # nothing changed: no new book
                    self.book.sequence = u
                    self._last_ts = delta.timestamp
                    return []
                self.book.apply(delta.bids, delta.asks)
                self.book.sequence = u
                self._last_ts = delta.timestamp
                return [self._updated(delta)]
            return self._gap(delta, f"update id chain broken: u={u} after u={last}")
        if state == "await_snapshot":
            # a delta before any snapshot: the subscription's snapshot was lost
            self._state = "resubscribing"
            return [
                ResubscribeRequest(self.exchange, self.symbol, "a delta came before the snapshot")
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

    def _gap(self, d: BookDelta, reason: str) -> list[BookSyncOutput]:
        gap = BookGap(
            self.exchange,
            self.symbol,
            reason,
            self.book.sequence,
            d.sequence,
            d.timestamp,
            self._last_ts,
        )
        self.book.clear()
        self._last_ts = None
        self._state = "resubscribing"
        self._dropped = 0
        return [gap, ResubscribeRequest(self.exchange, self.symbol, reason)]
