"""Local L2 order books and the pure state machines that keep them in sync.

Nothing here does I/O or imports trio: the engine feeds :class:`BookDelta`
records in and acts on the small output records that come back.

:class:`OrderBook`
    one symbol's price levels; absolute sizes, size ``0`` deletes.
:class:`BinanceBookSync`
    diff-depth stream + REST snapshot (PROTOCOLS.md 2.5).
:class:`OkxBookSync`
    ``books`` / ``books-l2-tbt`` / ``books50-l2-tbt``: ``prevSeqId`` chain,
    heartbeats, downward resets, legacy checksum, REST seeding when the
    snapshot is missing (PROTOCOLS.md 3.5).  ``books5`` and ``bbo-tbt`` need no
    sync: every push is a whole book.

Every ``on_*`` method returns a list of outputs (:data:`BookSyncOutput`):

:class:`BookUpdated`
    the book changed (or was seeded): emit a :class:`~trio_feeds.Book`,
    e.g. with ``sync.to_record(...)``.
:class:`BookGap`
    continuity was lost; the book was dropped.  Turn into a
    :class:`~trio_feeds.Gap` event.
:class:`SnapshotRequest`
    fetch a REST snapshot and hand it to ``on_snapshot``.  The engine owns
    retrying and throttling (a 5000-level Binance snapshot costs weight 250).
:class:`ResubscribeRequest`
    OKX: unsubscribe and subscribe the channel again (fresh snapshot), then
    call ``on_subscribed()`` when the ack arrives.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections import deque
from collections.abc import Iterable, Sequence
from decimal import Decimal
from itertools import islice
from typing import Any, Literal, TypeAlias

import attrs

from trio_feeds.core.accel import speedups
from trio_feeds.core.fast import fast_constructor, new_book
from trio_feeds.core.records import Book, BookDelta, Level, Levels
from trio_feeds.exchanges.okx.adapter import book_checksum

__all__ = [
    "SPEEDUPS",
    "BinanceBookSync",
    "BookGap",
    "BookSyncOutput",
    "BookUpdated",
    "OkxBookSync",
    "OrderBook",
    "ResubscribeRequest",
    "SnapshotRequest",
    "okx_crc32",
]

LevelText: TypeAlias = tuple[str, str]
"""``(price, size)`` exactly as the exchange sent them."""
SideText: TypeAlias = Sequence[LevelText]
BookText: TypeAlias = tuple[SideText, SideText]
"""``(bids, asks)`` texts, aligned with the float levels they came with."""

OKX_CHECKSUM_DEPTH = 25


# --------------------------------------------------------------------------- outputs


@attrs.frozen(slots=True)
class BookUpdated:
    """The book changed.  ``snapshot`` is True when it was (re)seeded."""

    exchange: str
    symbol: str
    sequence: int | None
    timestamp: int
    """Exchange time (ms) of the last frame applied."""
    received_at: float
    snapshot: bool = False


_new_updated = fast_constructor(BookUpdated)


@attrs.frozen(slots=True)
class BookGap:
    """Continuity was lost; the local book has been dropped.

    ``last_sequence`` is the last id applied (Binance ``u``, OKX ``seqId``),
    ``next_first_sequence`` the id the offending frame starts from (Binance
    ``U``, OKX ``prevSeqId``); either may be None.  ``last_timestamp`` is the
    time of the last frame applied (None if none), ``timestamp`` that of the
    frame that showed the gap: the engine's ``Gap(start, end)``.
    """

    exchange: str
    symbol: str
    reason: str
    last_sequence: int | None
    next_first_sequence: int | None
    timestamp: int
    last_timestamp: int | None = None


@attrs.frozen(slots=True)
class SnapshotRequest:
    """Fetch a REST snapshot for ``symbol`` and pass it to ``on_snapshot``."""

    exchange: str
    symbol: str
    reason: str


@attrs.frozen(slots=True)
class ResubscribeRequest:
    """OKX: resubscribe this symbol's book channel to get a fresh snapshot."""

    exchange: str
    symbol: str
    reason: str


BookSyncOutput: TypeAlias = BookUpdated | BookGap | SnapshotRequest | ResubscribeRequest


# --------------------------------------------------------------------------- checksum


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


def _fmt(x: float) -> str:
    """Best-effort exchange-style text for a float: no padding, no exponent."""
    s = repr(x)
    if "e" in s or "E" in s:
        s = format(Decimal(s), "f")
    if s.endswith(".0"):
        s = s[:-2]
    return s


# --------------------------------------------------------------------------- book sides


class _PyBookSide:
    """One side of a book in pure Python; ``trio_feeds._speedups.BookSide`` is its C twin.

    A ``dict`` key -> size plus a ``list`` of the keys kept sorted with
    :mod:`bisect`, ascending with the best level LAST; the key is the price on
    the bid side and ``-price`` on the ask side, so the best level always has
    the largest key.  Book activity clusters at the top, so an insert or
    delete there moves only the few keys after it; a size change is one dict
    store.  The C twin keeps the same order in two C arrays of doubles (no
    hashing, no Python objects until levels are asked for).  Both refuse a NaN
    price; the C twin reads numbers as doubles (so it gives back floats where
    this one gives back what it was given, e.g. ints).  tests/test_book.py runs
    both on random streams and compares them after every step.
    """

    __slots__ = ("_ask", "_keys", "_sizes")

    def __init__(self, ask_side: bool) -> None:
        self._ask = bool(ask_side)
        self._keys: list[float] = []
        self._sizes: dict[float, float] = {}

    def apply(self, levels: Iterable[Level]) -> None:
        """``(price, size)`` pairs in order: size 0 deletes (a no-op when absent), else sets."""
        sizes = self._sizes
        keys = self._keys
        ask = self._ask
        for price, size in levels:
            if price != price:
                raise ValueError("a level's price is NaN")
            k = -price if ask else price
            if size:
                if k not in sizes:
                    insort(keys, k)
                sizes[k] = size
            elif k in sizes:
                del sizes[k]
                del keys[bisect_left(keys, k)]

    def load(self, levels: Iterable[Level]) -> None:
        """Replace every level: a repeated price's last size wins; size-0 levels are dropped."""
        last = dict(levels)  # keeps a repeated price's first key and its last size
        if any(p != p for p in last):
            raise ValueError("a level's price is NaN")
        if self._ask:
            sizes = {-p: s for p, s in last.items() if s}
        else:
            sizes = {p: s for p, s in last.items() if s}
        self._sizes = sizes
        self._keys = sorted(sizes)

    def top(self, n: int) -> Levels:
        """The ``n`` best ``(price, size)``, best first; all when ``n < 0``."""
        keys = self._keys
        keys = keys[::-1] if n < 0 else keys[: -n - 1 : -1]
        sizes = self._sizes
        if self._ask:
            return tuple([(-k, sizes[k]) for k in keys])
        return tuple([(k, sizes[k]) for k in keys])

    def best(self) -> Level | None:
        if not self._keys:
            return None
        k = self._keys[-1]
        return (-k if self._ask else k, self._sizes[k])

    def get(self, price: float) -> float:
        return self._sizes.get(-price if self._ask else price, 0.0)

    def trim(self, n: int) -> list[float]:
        """Keep the ``n`` best levels; returns the removed prices, worst first."""
        if n < 0:
            raise ValueError(f"trim({n}): the number of levels to keep must be >= 0")
        keys = self._keys
        excess = len(keys) - n
        if excess <= 0:
            return []
        removed = keys[:excess]
        sizes = self._sizes
        for k in removed:
            del sizes[k]
        del keys[:excess]
        return [-k for k in removed] if self._ask else removed

    def clear(self) -> None:
        self._sizes.clear()
        self._keys.clear()

    def __len__(self) -> int:
        return len(self._keys)


SPEEDUPS = speedups is not None
"""True when the C version of a book side (``trio_feeds._speedups.BookSide``) is in use.

It is built at install time when a C compiler is available; without one the
package installs and runs the same logic in pure Python.  Set the environment
variable ``TRIO_FEEDS_PURE_PYTHON=1`` to use the Python version anyway.
"""
BookSide: Any = speedups.BookSide if speedups is not None else _PyBookSide


# --------------------------------------------------------------------------- order book


class OrderBook:
    """L2 book for one symbol: float prices, absolute float sizes.

    Layout: two :class:`_PyBookSide`-like sides (sorted, best level last; in C
    when :data:`SPEEDUPS`).  A size change of an existing level, the common
    case, is a binary search and a store; inserts and deletes move only the
    levels between the change and the top of the book, where most changes
    happen.  ``top(n)`` reads the last ``n`` levels backwards.

    ``max_depth``: when set, levels beyond the ``max_depth`` best of a side
    are discarded after every ``apply``/``load_snapshot``.  Only safe when
    the exchange itself bounds the book it sends changes for (OKX ``books``:
    400 levels; use ``max_depth >= 400`` there).  For an unbounded feed
    (Binance diff depth) a trimmed level that later comes back into range is
    simply unknown, as are levels deeper than the snapshot anyway
    (PROTOCOLS.md 2.5 step 7).  Default None: keep everything.

    Texts: when ``apply``/``load_snapshot`` get ``text`` (the exchange's
    ``(price, size)`` strings, aligned with the levels) the book keeps them so
    :meth:`okx_checksum` can use the exact received strings.  The first
    ``apply`` without text drops all texts (``has_text`` becomes False) until
    the next snapshot with text, so the cost is only paid while checksums are
    in use.

    Prices must be numbers (a NaN price raises ``ValueError``); sizes are
    absolute and a size of 0 deletes.
    """

    __slots__ = (
        "_ask_text",
        "_asks",
        "_bid_text",
        "_bids",
        "_has_text",
        "max_depth",
        "sequence",
    )

    def __init__(self, max_depth: int | None = None) -> None:
        if max_depth is not None and max_depth < 1:
            raise ValueError("max_depth must be >= 1 or None")
        self.max_depth = max_depth
        self.sequence: int | None = None
        """Last applied sequence id; set by the sync state machines."""
        self._bids = BookSide(False)
        self._asks = BookSide(True)
        self._bid_text: dict[float, LevelText] = {}
        self._ask_text: dict[float, LevelText] = {}
        self._has_text = False

    # ----------------------------------------------------------------- updates

    def clear(self) -> None:
        self._bids.clear()
        self._asks.clear()
        self._bid_text.clear()
        self._ask_text.clear()
        self._has_text = False
        self.sequence = None

    def load_snapshot(
        self, bids: Sequence[Level], asks: Sequence[Level], text: BookText | None = None
    ) -> None:
        """Replace the whole book.  Size-0 levels are ignored; a repeated price: last wins."""
        seq = self.sequence
        self.clear()
        self.sequence = seq
        self._bids.load(bids)
        self._asks.load(asks)
        if text is not None:
            self._set_text(bids, asks, text)
            self._has_text = True
        if self.max_depth is not None:
            self._trim()

    def apply(
        self, bids: Sequence[Level], asks: Sequence[Level], text: BookText | None = None
    ) -> None:
        """Apply changed levels: absolute sizes; size 0 deletes (no-op if absent)."""
        if self._has_text:
            if text is None:  # texts stop here: drop them all (see the class docstring)
                self._bid_text.clear()
                self._ask_text.clear()
                self._has_text = False
            else:
                self._set_text(bids, asks, text)
        self._bids.apply(bids)
        self._asks.apply(asks)
        if self.max_depth is not None:
            self._trim()

    def _set_text(self, bids: Sequence[Level], asks: Sequence[Level], text: BookText) -> None:
        for levels, texts, store in (
            (bids, text[0], self._bid_text),
            (asks, text[1], self._ask_text),
        ):
            for (price, size), t in zip(levels, texts, strict=True):
                if size:
                    store[price] = t
                else:
                    store.pop(price, None)

    def _trim(self) -> None:
        n = self.max_depth
        assert n is not None
        for side, texts in ((self._bids, self._bid_text), (self._asks, self._ask_text)):
            removed = side.trim(n)
            if removed and texts:
                for p in removed:
                    texts.pop(p, None)

    # ----------------------------------------------------------------- queries

    def top(self, n: int | None = None) -> tuple[Levels, Levels]:
        """``(bids, asks)``, each a tuple of ``(price, size)``, best first; all if n is None."""
        if n is None:
            n = -1
        elif n < 0:
            raise ValueError(f"n={n!r}: the number of levels must be >= 0 (or None for all)")
        return self._bids.top(n), self._asks.top(n)

    @property
    def bids(self) -> Levels:
        return self._bids.top(-1)  # type: ignore[no-any-return]

    @property
    def asks(self) -> Levels:
        return self._asks.top(-1)  # type: ignore[no-any-return]

    @property
    def best_bid(self) -> Level | None:
        return self._bids.best()  # type: ignore[no-any-return]

    @property
    def best_ask(self) -> Level | None:
        return self._asks.best()  # type: ignore[no-any-return]

    @property
    def crossed(self) -> bool:
        """True when the best bid is at or above the best ask (can happen pre-open on OKX)."""
        bid = self._bids.best()
        ask = self._asks.best()
        return bid is not None and ask is not None and bid[0] >= ask[0]

    @property
    def bid_depth(self) -> int:
        return len(self._bids)

    @property
    def ask_depth(self) -> int:
        return len(self._asks)

    @property
    def depth(self) -> tuple[int, int]:
        """``(number of bid levels, number of ask levels)``."""
        return len(self._bids), len(self._asks)

    def __len__(self) -> int:
        return len(self._bids) + len(self._asks)

    def __bool__(self) -> bool:
        return bool(len(self._bids) or len(self._asks))

    def size_at(self, side: Literal["bid", "ask"], price: float) -> float:
        """Size at ``price`` (0.0 when absent)."""
        return (self._bids if side == "bid" else self._asks).get(price)  # type: ignore[no-any-return]

    @property
    def has_text(self) -> bool:
        """True when every level carries the exchange's original strings."""
        return self._has_text

    def top_text(self, n: int = OKX_CHECKSUM_DEPTH) -> tuple[list[LevelText], list[LevelText]]:
        """The ``n`` best levels per side as text (received strings, or formatted floats)."""
        out: list[list[LevelText]] = []
        for side, texts in ((self._bids, self._bid_text), (self._asks, self._ask_text)):
            levels: list[LevelText] = []
            for p, s in side.top(n):
                t = texts.get(p)
                levels.append(t if t is not None else (_fmt(p), _fmt(s)))
            out.append(levels)
        return out[0], out[1]

    def okx_checksum(self) -> int:
        """OKX legacy CRC32 (signed int32) over the 25 best levels per side.

        Exact only when :attr:`has_text`; otherwise the floats are formatted,
        which matches the exchange only when its strings have no padding.
        """
        if self._has_text:
            bt = self._bid_text
            at = self._ask_text
            bids = [bt[p] for p, _ in self._bids.top(OKX_CHECKSUM_DEPTH)]
            asks = [at[p] for p, _ in self._asks.top(OKX_CHECKSUM_DEPTH)]
        else:
            bids, asks = self.top_text(OKX_CHECKSUM_DEPTH)
        return okx_crc32(bids, asks)

    def to_record(
        self,
        exchange: str,
        symbol: str,
        timestamp: int,
        received_at: float,
        depth: int | None = None,
        *,
        exchange_time: bool = True,
    ) -> Book:
        """A :class:`~trio_feeds.Book` of the ``depth`` best levels (all if None)."""
        bids, asks = self.top(depth)
        return new_book(
            exchange, symbol, timestamp, received_at, bids, asks, self.sequence, exchange_time
        )

    def __repr__(self) -> str:
        return (
            f"<OrderBook bids={len(self._bids)} asks={len(self._asks)} "
            f"best={self.best_bid}/{self.best_ask} seq={self.sequence}>"
        )


# --------------------------------------------------------------------------- sync base


class _SyncBase:
    exchange: str

    def __init__(self, symbol: str, *, max_depth: int | None, max_buffer: int) -> None:
        if max_buffer < 1:
            raise ValueError("max_buffer must be >= 1")
        self.symbol = symbol
        self.book = OrderBook(max_depth)
        self._buffer: deque[BookDelta] = deque(maxlen=max_buffer)
        self._pending: BookDelta | None = None  # REST snapshot waiting for events
        self._requested = False  # a SnapshotRequest is outstanding
        self._last_ts: int | None = None

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


# --------------------------------------------------------------------------- Binance


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

    def _try_sync(self) -> list[BookSyncOutput]:
        snap = self._pending
        assert snap is not None and snap.sequence is not None
        last_id = snap.sequence
        buf = self._buffer
        if not buf:
            return []
        if last_id + 1 < _first(buf[0]):
            self._pending = None
            return [self._request("snapshot older than the first buffered event")]
        while buf and buf[0].sequence is not None and buf[0].sequence <= last_id:
            buf.popleft()
        if not buf:
            return []  # hold the snapshot; the next event must cover L+1
        if _first(buf[0]) > last_id + 1:
            self._pending = None
            return [self._request("buffered events do not reach the snapshot")]
        # step 6
        self._pending = None
        book = self.book
        book.load_snapshot(snap.bids, snap.asks)
        book.sequence = last_id
        self._synced = True
        self._last_ts = snap.timestamp
        out: list[BookSyncOutput] = []
        last = snap
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
        first = _first(d)
        if first > cur + 1:
            out.append(
                BookGap(
                    self.exchange,
                    self.symbol,
                    f"missed depth updates: U={first} > last u+1={cur + 1}",
                    cur,
                    first,
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


# --------------------------------------------------------------------------- OKX

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
        mine = self.book.okx_checksum()
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
