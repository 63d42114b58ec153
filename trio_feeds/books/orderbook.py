"""Local L2 order books: :class:`OrderBook`, one symbol's price levels.

Nothing here does I/O or imports trio.  Absolute sizes, size ``0`` deletes.  The sync
state machines that keep a book in step with an exchange's stream share
:mod:`trio_feeds.books.sync` and report through :mod:`trio_feeds.books.outputs` (both
re-exported here); each exchange's own sync lives in ``trio_feeds.exchanges.<name>.book``.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any, Literal, TypeAlias

from trio_feeds.core.accel import speedups
from trio_feeds.core.fast import new_book
from trio_feeds.core.records import Book, Level, Levels

__all__ = [
    "SPEEDUPS",
    "BookGap",
    "BookSyncOutput",
    "BookUpdated",
    "OrderBook",
    "ResubscribeRequest",
    "SnapshotRequest",
]

LevelText: TypeAlias = tuple[str, str]
"""``(price, size)`` exactly as the exchange sent them."""
SideText: TypeAlias = Sequence[LevelText]
BookText: TypeAlias = tuple[SideText, SideText]
"""``(bids, asks)`` texts, aligned with the float levels they came with."""

#: levels per side :meth:`OrderBook.top_text` gives by default
TEXT_DEPTH = 25


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
    :meth:`top_text` gives the exact received strings (checksums).  The first
    ``apply`` without text drops all texts (``has_text`` becomes False until the
    next snapshot with text; :meth:`top_text` then writes the floats of the
    levels without one), so the cost is only paid while checksums are in use;
    texts that come with later updates are kept for their levels.  (The OKX
    adapter keeps texts on every update of an instrument whose numbers are
    padded, so its books never lose them.)

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
        if text is not None:
            self._set_text(bids, asks, text)
        elif self._has_text or self._bid_text or self._ask_text:
            # texts stop here: drop them all (see the class docstring; forgetting only the
            # changed levels' would double the cost of a text-less update)
            self._bid_text.clear()
            self._ask_text.clear()
            self._has_text = False
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

    def top_text(self, n: int = TEXT_DEPTH) -> tuple[list[LevelText], list[LevelText]]:
        """The ``n`` best levels per side as text (received strings, or formatted floats)."""
        if self._has_text:
            bt = self._bid_text
            at = self._ask_text
            return [bt[p] for p, _ in self._bids.top(n)], [at[p] for p, _ in self._asks.top(n)]
        out: list[list[LevelText]] = []
        for side, texts in ((self._bids, self._bid_text), (self._asks, self._ask_text)):
            levels: list[LevelText] = []
            for p, s in side.top(n):
                t = texts.get(p)
                levels.append(t if t is not None else (_fmt(p), _fmt(s)))
            out.append(levels)
        return out[0], out[1]

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


# the sync outputs, importable from here as before the split
from trio_feeds.books.outputs import BookGap as BookGap  # noqa: E402
from trio_feeds.books.outputs import BookSyncOutput as BookSyncOutput  # noqa: E402
from trio_feeds.books.outputs import BookUpdated as BookUpdated  # noqa: E402
from trio_feeds.books.outputs import ResubscribeRequest as ResubscribeRequest  # noqa: E402
from trio_feeds.books.outputs import SnapshotRequest as SnapshotRequest  # noqa: E402
