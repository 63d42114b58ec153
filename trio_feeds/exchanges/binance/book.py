"""Binance local book: the diff-depth stream plus REST snapshots (PROTOCOLS.md 2.5).

A pure state machine (no I/O, no trio); the engine drives it through
``SPEC.books`` (see :mod:`trio_feeds.books.sync`).
"""

from __future__ import annotations

from trio_feeds.books.outputs import BookGap, BookSyncOutput
from trio_feeds.books.sync import _SyncBase
from trio_feeds.core.records import BookDelta

__all__ = ["BinanceBookSync"]


class BinanceBookSync(_SyncBase):
    """Binance spot local book: ``<s>@depth[@100ms]`` diffs + REST snapshot.

    Feed every diff to :meth:`on_delta` and every REST snapshot
    (``BookDelta(snapshot=True, sequence=lastUpdateId)``) to
    :meth:`on_snapshot`.  Procedure (PROTOCOLS.md 2.5):

    * diffs are queued (bounded by ``max_buffer``, oldest dropped) until a
      snapshot fits; the first queued diff yields a :class:`SnapshotRequest`.
    * snapshot ``L``: if ``L + 1 < U`` of the first queued diff the snapshot
      is too old: ask again.  (Binance's step 3 says ``L < U``; for
      ``L == U - 1`` the snapshot is exactly contiguous with the diff and step
      5 accepts it, so we do not spend another weight-250 request on it.)
    * drop queued diffs with ``u <= L``; the first kept must have
      ``U <= L + 1 <= u`` (``L`` strictly inside ``[U, u]`` happens on real
      traffic), else ask again.  If none is left yet, the snapshot is held
      and checked against the next diffs.
    * then live: skip ``u <= id``; ``U > id + 1`` is a gap: drop the book,
      emit :class:`BookGap` and a :class:`SnapshotRequest`, queue that diff;
      otherwise apply and ``id := u``.
    """

    exchange = "binance"

    def __init__(
        self, symbol: str, *, max_depth: int | None = None, max_buffer: int = 5000
    ) -> None:
        super().__init__(symbol, max_depth=max_depth, max_buffer=max_buffer)
        self._synced = False

    @property
    def synced(self) -> bool:
        return self._synced

    @property
    def needs_snapshot(self) -> bool:
        """True until a snapshot has been applied, and again after a gap."""
        return not self._synced

    def reset(self) -> None:
        """Forget everything (e.g. after a reconnect)."""
        self.book.clear()
        self._buffer.clear()
        self._pending = None
        self._requested = False
        self._synced = False
        self._last_ts = None

    def on_delta(self, delta: BookDelta) -> list[BookSyncOutput]:
        if delta.snapshot:
            return self.on_snapshot(delta)
        if delta.sequence is None:
            return []
        if self._synced:
            out: list[BookSyncOutput] = []
            if self._live(delta, out):
                out.append(self._updated(delta))
            return out
        self._buffer.append(delta)
        if self._pending is not None:
            return self._try_sync()
        if not self._requested:
            return [self._request("initial snapshot")]
        return []

    def on_snapshot(self, snapshot: BookDelta) -> list[BookSyncOutput]:
        """A REST snapshot arrived.  Ignored when the book is already in sync."""
        self._requested = False
        if self._synced or snapshot.sequence is None:
            return []
        self._pending = snapshot
        return self._try_sync()

    def invalidate(self, reason: str, timestamp: int) -> list[BookSyncOutput]:
        """An update was lost (a malformed frame): drop a synced book -> :class:`BookGap`
        and a :class:`SnapshotRequest`.  Before sync nothing is needed: the buffered diffs
        are checked against the snapshot, and a hole among them is a gap then."""
        if not self._synced:
            return []
        if self._last_ts is not None:
            timestamp = max(timestamp, self._last_ts)
        cur = self.book.sequence
        out: list[BookSyncOutput] = [
            BookGap(self.exchange, self.symbol, reason, cur, None, timestamp, self._last_ts)
        ]
        self.book.clear()
        self._synced = False
        self._last_ts = None
        self._buffer.clear()
        self._pending = None
        out.append(self._request(reason))
        return out

    # ----------------------------------------------------------------- internals

    #: the first diff kept after a snapshot ``L`` must start at or before ``L + _REACH`` and
    #: end at or after it (spot: 1, the diff right after the snapshot; futures: 0)
    _REACH = 1

    def _broken(self, d: BookDelta, cur: int) -> str | None:
        """Why ``d`` does not continue a book at update id ``cur`` (None: it does).
        Spot: its first id ``U`` must be at most ``cur + 1``."""
        first = _first(d)
        if first > cur + 1:
            return f"missed depth updates: U={first} > last u+1={cur + 1}"
        return None

    def _try_sync(self) -> list[BookSyncOutput]:
        snap = self._pending
        assert snap is not None and snap.sequence is not None
        reach = snap.sequence + self._REACH
        buf = self._buffer
        if not buf:
            return []
        if reach < _first(buf[0]):
            self._pending = None
            return [self._request("snapshot older than the first buffered event")]
        while buf and buf[0].sequence is not None and buf[0].sequence < reach:
            buf.popleft()
        if not buf:
            return []  # hold the snapshot; the next event must cover it
        if _first(buf[0]) > reach:
            self._pending = None
            return [self._request("buffered events do not reach the snapshot")]
        # step 6: the snapshot, then the diff that straddles it (whatever its chain says)
        self._pending = None
        book = self.book
        book.load_snapshot(snap.bids, snap.asks)
        d = buf.popleft()
        assert d.sequence is not None
        book.apply(d.bids, d.asks)
        book.sequence = d.sequence
        self._synced = True
        self._last_ts = d.timestamp
        out: list[BookSyncOutput] = []
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
        """Apply one diff to a synced book; True if applied.  May declare a gap."""
        u = d.sequence
        cur = self.book.sequence
        assert u is not None and cur is not None
        if u <= cur:
            return False
        broken = self._broken(d, cur)
        if broken is not None:
            out.append(
                BookGap(
                    self.exchange, self.symbol, broken, cur, _first(d), d.timestamp,
                    self._last_ts,
                )
            )  # fmt: skip
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
