"""Invariant helpers: :class:`FeedRecorder` watches a feed and answers what tests ask.

"How long did the output go without data?", "did data resume within N seconds after that
outage ended?", "which switches happened, to which sources?", "which gaps were declared?",
"were trades lost outside the declared gaps?".  Times are trio times (virtual under
``MockClock``), taken when the consumer received each item.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterable, Iterable
from typing import Any

import attrs
import trio

from trio_feeds.core.records import RECORD_TYPES

__all__ = ["FeedRecorder", "LostTrades"]

#: the kinds of data records (everything else in a feed is an event)
DATA_KINDS = frozenset(RECORD_TYPES)


@attrs.frozen
class LostTrades:
    """Trades missing between two delivered trades of one source and symbol, with no
    ``Gap`` (or ``Dropped``, or source switch) declaring them."""

    exchange: str
    symbol: str
    after_id: int
    before_id: int
    #: trio time the later trade was received
    at: float

    @property
    def missing(self) -> int:
        """How many trade ids were skipped."""
        return self.before_id - self.after_id - 1


class FeedRecorder:
    """Records every item a feed yields, with the trio time it arrived.

    Run :meth:`record` in a task (``nursery.start_soon(recorder.record, feed)``), or call
    :meth:`add` yourself from your own consumer loop.

    Attributes:
        items: ``(trio time, item)`` in arrival order.
        start: when recording started (trio time); None before.
    """

    def __init__(self) -> None:
        self.items: list[tuple[float, Any]] = []
        self.start: float | None = None

    async def record(
        self,
        feed: AsyncIterable[Any],
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Consume ``feed`` until it ends (or the task is cancelled), recording each item."""
        if self.start is None:
            self.start = trio.current_time()
        task_status.started()
        async for item in feed:
            self.add(item)

    def add(self, item: Any, at: float | None = None) -> None:
        """Record one item, received at trio time ``at`` (default: now)."""
        now = trio.current_time() if at is None else at
        if self.start is None:
            self.start = now
        self.items.append((now, item))

    # -- what arrived ------------------------------------------------------------------------

    def of(self, *kinds: str) -> list[tuple[float, Any]]:
        """``(time, item)`` of the given ``kind`` s (``"trade"``, ``"gap"``, …)."""
        return [(t, i) for t, i in self.items if i.kind in kinds]

    @property
    def data(self) -> list[tuple[float, Any]]:
        """``(time, record)`` of every data record (trades, quotes, books, …)."""
        return [(t, i) for t, i in self.items if i.kind in DATA_KINDS]

    @property
    def switches(self) -> list[Any]:
        """The ``SourceSwitch`` events, in order."""
        return [i for _, i in self.of("source_switch")]

    @property
    def gaps(self) -> list[Any]:
        """The ``Gap`` events declared, in order."""
        return [i for _, i in self.of("gap")]

    @property
    def failovers_failed(self) -> list[Any]:
        """The ``FailoverFailed`` events, in order."""
        return [i for _, i in self.of("failover_failed")]

    def sources(self) -> set[str]:
        """The exchanges data came from."""
        return {i.exchange for _, i in self.data}

    def bad_switches(self, sources: Iterable[str]) -> list[Any]:
        """Switch events naming something other than ``sources`` (empty: all is well)."""
        valid = set(sources)
        return [
            s
            for s in self.switches
            if s.to_source not in valid or s.from_source not in valid | {None}
        ]

    # -- silences ----------------------------------------------------------------------------

    def silences(
        self, start: float | None = None, end: float | None = None
    ) -> list[tuple[float, float]]:
        """Spells without a data record inside ``[start, end]`` (default: from the start of
        recording to now), longest first."""
        lo = (self.start or 0.0) if start is None else start
        hi = trio.current_time() if end is None else end
        times = [lo] + [t for t, _ in self.data if lo < t < hi] + [hi]
        spells = [(a, b) for a, b in itertools.pairwise(times) if b > a]
        return sorted(spells, key=lambda s: s[0] - s[1])

    def longest_silence(self, start: float | None = None, end: float | None = None) -> float:
        """The longest time without a data record inside ``[start, end]`` (s)."""
        spells = self.silences(start, end)
        return spells[0][1] - spells[0][0] if spells else 0.0

    def first_data_after(self, t: float, exchange: str | None = None) -> float | None:
        """When the first data record (of ``exchange``, if given) arrived at or after ``t``."""
        for at, item in self.data:
            if at >= t and (exchange is None or item.exchange == exchange):
                return at
        return None

    def resumed_within(self, t: float, bound: float) -> bool:
        """True if a data record arrived in ``[t, t + bound]``."""
        first = self.first_data_after(t)
        return first is not None and first - t <= bound

    # -- losses ------------------------------------------------------------------------------

    def lost_outside_gaps(self, exchanges: Iterable[str] | None = None) -> list[LostTrades]:
        """Trades skipped (by trade id) between two delivered trades of one exchange and
        symbol, where nothing declared a loss: no ``Gap`` for that exchange and symbol
        (``"*"`` included) on the trade channel (or ``"*"``) arriving between them or
        covering their time stamps, no ``Dropped``, no source switch between them.

        Needs numeric trade ids that count every fill (as the simulators make them).  A
        trade that stands for several fills (OKX's ``trades`` channel aggregates the fills
        of one order at one price, id = the last fill's) is understood when its raw payload
        says how many (``"count"``): open the feed with ``keep_raw=True``, or leave that
        exchange out with ``exchanges=``.
        """
        wanted = None if exchanges is None else set(exchanges)
        last: dict[tuple[str, str], tuple[int, Any]] = {}
        declared: set[tuple[str, str]] = set()
        suspects: list[tuple[LostTrades, int, int]] = []
        for t, item in self.items:
            kind = item.kind
            if kind == "source_switch":
                last.clear()
            elif kind in ("gap", "dropped"):
                if item.channel in ("trade", "*"):
                    for key in last:
                        if item.exchange == key[0] and item.symbol in ("*", key[1]):
                            declared.add(key)
            elif kind == "trade" and item.trade_id.isdigit():
                if wanted is not None and item.exchange not in wanted:
                    continue
                key = (item.exchange, item.symbol)
                tid = int(item.trade_id)
                first = tid - _fills(item) + 1
                prev = last.get(key)
                if prev is not None and first > prev[0] + 1 and key not in declared:
                    lost = LostTrades(item.exchange, item.symbol, prev[0], first, t)
                    suspects.append((lost, prev[1].timestamp, item.timestamp))
                declared.discard(key)
                last[key] = (tid, item)
        return [lost for lost, a, b in suspects if not self._covered(lost, a, b)]

    def _covered(self, lost: LostTrades, a: int, b: int) -> bool:
        for gap in self.gaps:
            if (
                gap.exchange == lost.exchange
                and gap.symbol in ("*", lost.symbol)
                and gap.channel in ("trade", "*")
                and gap.start <= b
                and gap.end >= a
            ):
                return True
        return False

    def describe(self, data: bool = False) -> str:
        """The recording as text (events only unless ``data``), for assertion messages."""
        lines = [f"{t:10.3f} {i}" for t, i in self.items if data or i.kind not in DATA_KINDS]
        n = len(self.data)
        lines.append(f"({n} data records; longest silence {self.longest_silence():.3f} s)")
        return "\n".join(lines)


def _fills(trade: Any) -> int:
    """How many fills (trade ids) one trade record stands for (from its raw ``count``)."""
    raw = getattr(trade, "raw", None)
    if isinstance(raw, dict):
        try:
            return max(1, int(raw.get("count", 1)))
        except (TypeError, ValueError):
            return 1
    return 1
