"""What a book sync state machine tells the engine to do (pure data, no I/O).

Every ``on_*`` method of a sync (:class:`~trio_feeds.books.sync.BookSyncBase`) returns a
list of these (:data:`BookSyncOutput`):

:class:`BookUpdated`
    the book changed (or was seeded): emit a :class:`~trio_feeds.Book`,
    e.g. with ``sync.to_record(...)``.
:class:`BookGap`
    continuity was lost; the book was dropped.  Turn into a
    :class:`~trio_feeds.Gap` event.
:class:`SnapshotRequest`
    fetch a REST snapshot and hand it to ``on_snapshot``.  The engine owns
    retrying and throttling (through the exchange's ``BookRules.snapshot``).
:class:`ResubscribeRequest`
    unsubscribe and subscribe the book channel again (a fresh in-band snapshot), then
    call ``on_subscribed()`` when the ack arrives.
"""

from __future__ import annotations

from typing import TypeAlias

import attrs

from trio_feeds.core.fast import fast_constructor

__all__ = ["BookGap", "BookSyncOutput", "BookUpdated", "ResubscribeRequest", "SnapshotRequest"]


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
    """Resubscribe this symbol's book channel to get a fresh snapshot."""

    exchange: str
    symbol: str
    reason: str


BookSyncOutput: TypeAlias = BookUpdated | BookGap | SnapshotRequest | ResubscribeRequest
