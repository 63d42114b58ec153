"""What a feed counts for its metrics and status page: records per (exchange, channel),
source switches per (from, to, reason), failover failures, and the latest switches and gaps.

Kept by the feed's :class:`~trio_feeds.feed.aggregate.Aggregator` as batches arrive (C-level
counting per batch, see :meth:`FeedCounters.count`); read with :attr:`Feed.counters`.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Collection, Iterable, Sequence
from operator import attrgetter
from typing import Any

from trio_feeds.core.records import Gap, GapFilled, SourceSwitch

__all__ = ["RECENT_EVENTS", "SWITCH_REASONS", "FeedCounters", "reason_label"]

#: how many of the latest switches and gaps are kept
RECENT_EVENTS = 20

#: the ``reason`` label of a switch counter: why the feed left its source (or came back)
SWITCH_REASONS = (
    "disconnected", "stale", "latency", "errors", "standby", "failback", "recovered",
    "degraded", "start", "other",
)  # fmt: skip

_KIND = attrgetter("kind")


def reason_label(why: str | None) -> str:
    """The short, fixed label (one of :data:`SWITCH_REASONS`) for a source's verdict as
    :meth:`Aggregator.why_unhealthy` words it."""
    if why is None:
        return "start"
    for prefix, label in (
        ("not running", "standby"),
        ("disconnected", "disconnected"),
        ("stale", "stale"),
        ("latency", "latency"),
    ):
        if why.startswith(prefix):
            return label
    return "errors" if "errors within" in why else "other"


class FeedCounters:
    """Counts since the feed opened (all only grow), and the latest switches and gaps.

    ``records[exchange][kind]`` counts every item received from ``exchange`` by kind (data
    kinds such as ``"trade"``, ``"quote"``, ``"book_delta"``, and events such as ``"gap"``);
    ``switches[(from, to, reason)]`` the source switches (``from`` is ``""`` when there was
    no active source; ``reason`` one of :data:`SWITCH_REASONS`); ``failover_failures``
    the ``FailoverFailed`` events.
    """

    __slots__ = (
        "failover_failures",
        "filled_trades",
        "recent_fills",
        "recent_gaps",
        "recent_switches",
        "records",
        "switches",
    )

    def __init__(self, sources: Iterable[str] = ()) -> None:
        self.records: dict[str, Counter[str]] = {s: Counter() for s in sources}
        self.switches: Counter[tuple[str, str, str]] = Counter()
        self.failover_failures = 0
        self.recent_switches: deque[SourceSwitch] = deque(maxlen=RECENT_EVENTS)
        self.recent_gaps: deque[Gap] = deque(maxlen=RECENT_EVENTS)
        #: the latest trade backfills (``GapFilled``): the gaps that REST history closed
        self.recent_fills: deque[GapFilled] = deque(maxlen=RECENT_EVENTS)
        #: trades fetched over REST and delivered by backfills, per exchange
        self.filled_trades: Counter[str] = Counter()

    def count(self, source: str, items: Sequence[Any]) -> Collection[str]:
        """Count one batch of ``source``'s items by kind; return the kinds it holds.

        No Python step per item (``map``, ``list.count`` and ``set`` run in C): a batch is
        mostly one record, or records of one kind."""
        counts = self.records.get(source)
        if counts is None:
            counts = self.records[source] = Counter()
        if len(items) == 1:
            kind = items[0].kind
            counts[kind] = counts.get(kind, 0) + 1
            return (kind,)
        kinds = list(map(_KIND, items))
        if not kinds:
            return ()
        first = kinds[0]
        n = kinds.count(first)
        if n == len(kinds):
            counts[first] = counts.get(first, 0) + n
            return (first,)
        present = set(kinds)
        for kind in present:
            counts[kind] = counts.get(kind, 0) + kinds.count(kind)
        return present

    def switched(self, event: SourceSwitch, reason: str) -> None:
        self.switches[(event.from_source or "", event.to_source, reason)] += 1
        self.recent_switches.append(event)
