"""OKX incremental book: ``prevSeqId`` chain, legacy checksum, REST seeding (PROTOCOLS.md 3.5).

``books``, ``books-l2-tbt`` and ``books50-l2-tbt`` are kept by :class:`OkxBookSync`;
``books5`` and ``bbo-tbt`` need no sync (every push is a whole book).  A pure state machine
(no I/O, no trio); the engine drives it through ``SPEC.books``.
"""

from __future__ import annotations

from collections.abc import Iterable
from itertools import islice
from typing import Literal, TypeAlias

from trio_feeds.books.orderbook import LevelText, OrderBook
from trio_feeds.books.outputs import BookGap, BookSyncOutput, ResubscribeRequest, _new_updated
from trio_feeds.books.sync import _SyncBase
from trio_feeds.core.records import BookDelta
from trio_feeds.exchanges.okx.adapter import book_checksum

__all__ = ["OKX_CHECKSUM_DEPTH", "OkxBookSync", "book_crc32", "okx_crc32"]

#: levels per side the legacy checksum covers
OKX_CHECKSUM_DEPTH = 25


def okx_crc32(bids: Iterable[LevelText], asks: Iterable[LevelText]) -> int:
    """OKX's legacy book checksum over ``bids`` (best first) and ``asks`` (best first).

    Takes at most 25 levels per side, interleaves ``bidpx:bidsz`` and
    ``askpx:asksz``, joins with ``:`` and returns ``zlib.crc32`` as a signed
    int32.  The strings must be the exchange's own text (``"8477"``, not
    ``"8477.0"``).
    """
    return book_checksum(
        list(islice(bids, OKX_CHECKSUM_DEPTH)), list(islice(asks, OKX_CHECKSUM_DEPTH))
    )


def book_crc32(book: OrderBook) -> int:
    """OKX legacy CRC32 (signed int32) over the 25 best levels per side of ``book``.

    Exact only when ``book.has_text``; otherwise the floats are formatted, which
    matches the exchange only when its strings have no padding.
    """
    bids, asks = book.top_text(OKX_CHECKSUM_DEPTH)
    return okx_crc32(bids, asks)


_OkxState: TypeAlias = Literal["await_first", "await_rest", "synced", "resubscribing"]


class OkxBookSync(_SyncBase):
    """OKX incremental book (``books``, ``books-l2-tbt``, ``books50-l2-tbt``).

    States (:attr:`state`):

    ``"await_first"``
        just subscribed (the initial state; ``on_subscribed()`` returns here).
        A snapshot push seeds the book; an update push means the exchange sent
        no snapshot: it is queued and a :class:`SnapshotRequest` (REST) is
        emitted -> ``"await_rest"``.
    ``"await_rest"``
        updates are queued (bounded).  REST snapshot ``S`` via
        :meth:`on_snapshot`: refetch if ``S`` < first queued ``prevSeqId``;
        drop queued updates with ``seqId <= S``; the first kept needs
        ``prevSeqId <= S < seqId`` (else refetch); then the chain rule.  A
        snapshot push in this state wins too.
    ``"synced"``
        an update applies iff ``prevSeqId == last seqId``, then last :=
        ``seqId`` (which may go *down* after maintenance).  Empty update with
        ``seqId == prevSeqId`` = heartbeat: no change, no output.  A non-zero
        checksum is always verified: over the exchange's texts when the book has
        them, else over its floats formatted as OKX writes numbers.
        Mismatch of either -> :class:`BookGap` + :class:`ResubscribeRequest`
        -> ``"resubscribing"``.
    ``"resubscribing"``
        updates of the old subscription are dropped until a snapshot push
        arrives or the engine calls :meth:`on_subscribed` (ack of the new
        subscription).
    """

    exchange = "okx"

    def __init__(
        self, symbol: str, *, max_depth: int | None = None, max_buffer: int = 2000
    ) -> None:
        super().__init__(symbol, max_depth=max_depth, max_buffer=max_buffer)
        self._state: _OkxState = "await_first"
        self.checksum_failures = 0
        """How many checksum mismatches this sync has seen."""

    @property
    def state(self) -> _OkxState:
        return self._state

    @property
    def synced(self) -> bool:
        return self._state == "synced"

    @property
    def needs_snapshot(self) -> bool:
        """True while updates are queued waiting for a REST snapshot."""
        return self._state == "await_rest" and self._pending is None

    def reset(self) -> None:
        """Forget everything and wait for the first push of a new subscription."""
        self.book.clear()
        self._buffer.clear()
        self._pending = None
        self._requested = False
        self._last_ts = None
        self._state = "await_first"

    def on_subscribed(self) -> list[BookSyncOutput]:
        """The (re)subscription was acknowledged: the next push starts a new stream."""
        self.reset()
        return []

    def on_delta(self, delta: BookDelta) -> list[BookSyncOutput]:
        if delta.snapshot:
            return self._seed_from_push(delta)
        state = self._state
        if state == "synced":
            book = self.book
            if (
                delta.prev_sequence == book.sequence
                and not delta.checksum
                and (delta.bids or delta.asks)
            ):  # the common case, what _live does for it, inline
                book.apply(delta.bids, delta.asks, delta.text)
                book.sequence = seq = delta.sequence
                self._last_ts = ts = delta.timestamp
                return [_new_updated("okx", self.symbol, seq, ts, delta.received_at)]
            out: list[BookSyncOutput] = []
            if self._live(delta, out):
                out.append(self._updated(delta))
            return out
        if state == "resubscribing" or delta.sequence is None:
            return []
        self._buffer.append(delta)
        if state == "await_first":
            self._state = "await_rest"
        if self._pending is not None:
            return self._try_seed()
        if not self._requested:
            return [self._request("no snapshot after subscribe")]
        return []

    def invalidate(self, reason: str, timestamp: int) -> list[BookSyncOutput]:
        """An update was lost (a malformed frame): drop a synced book -> :class:`BookGap`
        and a :class:`ResubscribeRequest`.  Before sync nothing is needed: the queued
        updates are chained to the snapshot, and a hole among them is a gap then."""
        if self._state != "synced":
            return []
        if self._last_ts is not None:
            timestamp = max(timestamp, self._last_ts)
        out: list[BookSyncOutput] = []
        self._gap_at(timestamp, None, reason, out)
        return out

    def on_snapshot(self, snapshot: BookDelta) -> list[BookSyncOutput]:
        """A REST snapshot (``seqId`` in ``sequence``).  Ignored unless waiting for one."""
        self._requested = False
        if self._state not in ("await_first", "await_rest") or snapshot.sequence is None:
            return []
        self._pending = snapshot
        return self._try_seed()

    # ----------------------------------------------------------------- internals

    def _seed_from_push(self, d: BookDelta) -> list[BookSyncOutput]:
        self._buffer.clear()
        self._pending = None
        self._requested = False
        book = self.book
        book.load_snapshot(d.bids, d.asks, d.text)
        book.sequence = d.sequence
        self._state = "synced"
        self._last_ts = d.timestamp
        out: list[BookSyncOutput] = []
        if not self._checksum_ok(d, out):
            return out
        out.append(self._updated(d, snapshot=True))
        return out

    def _try_seed(self) -> list[BookSyncOutput]:
        snap = self._pending
        assert snap is not None and snap.sequence is not None
        s = snap.sequence
        q = self._buffer
        if not q:
            return []
        first_prev = q[0].prev_sequence
        if first_prev is not None and s < first_prev:
            self._pending = None
            return [self._request("REST snapshot older than the first queued update")]
        while q and q[0].sequence is not None and q[0].sequence <= s:
            q.popleft()
        if not q:
            return []  # hold the snapshot; the next update must start at or before S
        first = q[0]
        prev = first.prev_sequence
        if prev is not None and prev > s:
            self._pending = None
            return [self._request("queued updates do not reach the REST snapshot")]
        self._pending = None
        book = self.book
        book.load_snapshot(snap.bids, snap.asks, snap.text)
        book.sequence = s
        self._state = "synced"
        self._last_ts = snap.timestamp
        out: list[BookSyncOutput] = []
        q.popleft()
        self._apply(first)
        if not self._checksum_ok(first, out):
            return out
        last = first
        while q:
            d = q.popleft()
            if self._live(d, out):
                last = d
            if out:  # only a gap puts anything here
                return out
        out.append(self._updated(last, snapshot=True))
        return out

    def _live(self, d: BookDelta, out: list[BookSyncOutput]) -> bool:
        """Chain rule on a synced book; True if the book changed."""
        if d.prev_sequence != self.book.sequence:
            self._gap(
                d,
                f"seqId chain broken: prevSeqId={d.prev_sequence}"
                f" != last seqId={self.book.sequence}",
                out,
            )
            return False
        if not d.bids and not d.asks:  # heartbeat (seqId == prevSeqId) or empty
            self.book.sequence = d.sequence
            self._last_ts = d.timestamp
            self._checksum_ok(d, out)
            return False
        self._apply(d)
        return self._checksum_ok(d, out)

    def _apply(self, d: BookDelta) -> None:
        self.book.apply(d.bids, d.asks, d.text)
        self.book.sequence = d.sequence
        self._last_ts = d.timestamp

    def _checksum_ok(self, d: BookDelta, out: list[BookSyncOutput]) -> bool:
        """Verify a non-zero checksum.  Over the exchange's own strings when the book has
        them (snapshots and checksummed updates carry them); a book that lost them (an
        update with checksum 0 came in between) is checked over its floats formatted
        without padding, which is how OKX writes numbers (``"8477"``, ``"0.1"``)."""
        if not d.checksum:
            return True
        mine = book_crc32(self.book)
        if mine == d.checksum:
            return True
        self.checksum_failures += 1
        self._gap(d, f"checksum mismatch: got {d.checksum}, book gives {mine}", out)
        return False

    def _gap(self, d: BookDelta, reason: str, out: list[BookSyncOutput]) -> None:
        self._gap_at(d.timestamp, d.prev_sequence, reason, out)

    def _gap_at(
        self, timestamp: int, next_first: int | None, reason: str, out: list[BookSyncOutput]
    ) -> None:
        out.append(
            BookGap(
                self.exchange,
                self.symbol,
                reason,
                self.book.sequence,
                next_first,
                timestamp,
                self._last_ts,
            )
        )
        self.book.clear()
        self._buffer.clear()
        self._pending = None
        self._requested = False
        self._last_ts = None
        self._state = "resubscribing"
        out.append(ResubscribeRequest(self.exchange, self.symbol, reason))
