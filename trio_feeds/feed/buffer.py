"""The bounded hand-over between the feed's aggregator and its consumer.

Putting never blocks (a slow consumer must not stall the socket readers, or
pings go unanswered and the exchange drops the connection).  Policy when the
consumer falls behind by more than ``capacity`` items:

* quotes, tickers and whole books are **conflated**: only the newest per
  (exchange, kind, symbol) is kept, delivered once the consumer catches up;
* trades, candles and book deltas are **dropped, never silently**: the
  consumer receives a :class:`~trio_feeds.Dropped` event per
  (exchange, symbol, kind) with the count, and :attr:`RecordBuffer.dropped`
  counts them all;
* stream events (gaps, source switches, …) are never dropped (their rate is bounded where
  they are made: repeated errors are coalesced per source and reason, see
  ``Source._error``); gaps held during an overflow are **merged** per (exchange, symbol,
  channel, reason) into one gap spanning them all (a storm of bad frames leaves one Gap
  per subscription, not one per frame).

The consumer pops records synchronously, one at a time, from a deque: no
task switch per record, only when the deque is empty, or when the consumer has run
for :data:`YIELD_AFTER` seconds since it last let other tasks run.  Then ``get`` yields
once (a checkpoint), so that the socket readers answer pings and the heartbeats run
between items *whatever the consumer does between them*: a consumer that blocks for
20 ms per item yields at every item, a fast one every few thousand.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Iterable
from time import perf_counter
from typing import Any

import attrs
import trio

from trio_feeds.core.records import Dropped

CONFLATED_KINDS = frozenset({"quote", "ticker", "book"})
DROPPABLE_KINDS = frozenset({"trade", "candle", "book_delta"})
#: seconds of consumer time after which ``get`` lets the other tasks run once
YIELD_AFTER = 0.002


class RecordBuffer:
    def __init__(self, capacity: int = 65_536, clock: Callable[[], float] | None = None) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.capacity = capacity
        self._clock = clock
        self._q: deque[Any] = deque()
        self._overflowing = False
        self._conflated: dict[tuple[str, str, str], Any] = {}
        self._held_events: list[Any] = []
        #: (exchange, symbol, channel, reason) -> index in _held_events of its merged Gap
        self._held_gaps: dict[tuple[str, str, str, str], int] = {}
        self._dropped_now: dict[tuple[str, str, str], int] = {}
        self._lot = trio.lowlevel.ParkingLot()
        self._closed = False
        self._error: BaseException | None = None
        self._last_yield = perf_counter()
        #: records dropped so far (trades, candles, book deltas)
        self.dropped = 0
        #: records replaced by a newer one of the same key
        self.conflated = 0
        #: the deepest the queue has been
        self.high_water = 0

    def __len__(self) -> int:
        return len(self._q) + len(self._conflated) + len(self._held_events)

    # -- producer side (synchronous, never blocks) ----------------------------------------
    def put_many(self, items: Iterable[Any]) -> None:
        q = self._q
        if not self._overflowing:
            q.extend(items)
            n = len(q)
            if n > self.high_water:
                self.high_water = n
            if n > self.capacity:
                self._start_overflow()
        else:
            for item in items:
                self._overflow(item)
        if self._lot:
            self._lot.unpark_all()

    def put(self, item: Any) -> None:
        self.put_many((item,))

    def _start_overflow(self) -> None:
        # Move what is beyond capacity into the overflow structures.
        q = self._q
        extra = [q.pop() for _ in range(len(q) - self.capacity)]
        self._overflowing = True
        for item in reversed(extra):
            self._overflow(item)

    def _overflow(self, item: Any) -> None:
        kind = item.kind
        if kind in CONFLATED_KINDS:
            key = (item.exchange, kind, item.symbol)
            if key in self._conflated:
                self.conflated += 1
            self._conflated[key] = item
        elif kind in DROPPABLE_KINDS:
            key = (item.exchange, item.symbol, kind)
            self._dropped_now[key] = self._dropped_now.get(key, 0) + 1
            self.dropped += 1
        elif kind == "gap":
            gkey = (item.exchange, item.symbol, item.channel, item.reason)
            i = self._held_gaps.get(gkey)
            if i is None:
                self._held_gaps[gkey] = len(self._held_events)
                self._held_events.append(item)
            else:
                old = self._held_events[i]
                self._held_events[i] = attrs.evolve(
                    old, start=min(old.start, item.start), end=max(old.end, item.end)
                )
        else:
            self._held_events.append(item)

    def _end_overflow(self) -> None:
        """The consumer caught up: release what overflowed, events about drops first."""
        now = int((self._clock or _wall)() * 1000)
        q = self._q
        for (exchange, symbol, channel), count in self._dropped_now.items():
            q.append(Dropped(exchange, symbol, channel, count, self.dropped, now))
        q.extend(self._held_events)
        q.extend(self._conflated.values())
        self._dropped_now.clear()
        self._held_events.clear()
        self._held_gaps.clear()
        self._conflated.clear()
        self._overflowing = False

    def close(self, error: BaseException | None = None) -> None:
        """No more items; the consumer drains what is left, then sees the end (or ``error``)."""
        self._closed = True
        if error is not None and self._error is None:
            self._error = error
        self._lot.unpark_all()

    # -- consumer side ---------------------------------------------------------------------
    def get_nowait(self) -> Any:
        """The next item, or raise ``trio.WouldBlock``."""
        q = self._q
        if not q and self._overflowing:
            self._end_overflow()
        if q:
            return q.popleft()
        raise trio.WouldBlock

    async def get(self) -> Any:
        """The next item; raises ``trio.EndOfChannel`` (or the close error) at the end."""
        q = self._q
        while True:
            if q:
                if perf_counter() - self._last_yield >= YIELD_AFTER:
                    # The consumer has had the event loop for a while (a long backlog, or
                    # blocking work per item): let the readers and heartbeats run once.
                    await trio.lowlevel.checkpoint()
                    self._last_yield = perf_counter()
                    if not q:
                        continue
                return q.popleft()
            if self._overflowing:
                self._end_overflow()
                continue
            if self._closed:
                if self._error is not None:
                    raise self._error
                raise trio.EndOfChannel
            await self._lot.park()
            self._last_yield = perf_counter()

    def drain(self) -> list[Any]:
        """Everything currently buffered, without waiting."""
        if self._overflowing:
            self._end_overflow()
        items = list(self._q)
        self._q.clear()
        return items


def _wall() -> float:
    import time

    return time.time()


INFINITE = math.inf

__all__ = [
    "CONFLATED_KINDS",
    "DROPPABLE_KINDS",
    "INFINITE",
    "YIELD_AFTER",
    "RecordBuffer",
]
