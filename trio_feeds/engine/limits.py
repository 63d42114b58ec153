"""Outgoing limits and reconnect backoff: queue, never error.

Token buckets run on ``trio.current_time()``, so they work under
``trio.testing.MockClock`` as they do in real time.
"""

from __future__ import annotations

import random

import attrs
import trio

from trio_feeds.exchanges.spec import Limits

__all__ = [
    "Backoff",
    "ConnectionBudget",
    "ExchangeBudget",
    "ExchangeLimits",
    "TokenBucket",
    "shared_budget",
]


class TokenBucket:
    """At most ``capacity`` actions at once and ``rate`` per second on average.

    :meth:`acquire` waits (FIFO, via a fair ``trio.Lock``) until enough tokens
    have accrued; it never fails.
    """

    def __init__(self, rate: float, capacity: float, name: str = "") -> None:
        if rate <= 0 or capacity < 1:
            raise ValueError(f"bad token bucket {name!r}: rate={rate}, capacity={capacity}")
        self.rate = rate
        self.capacity = capacity
        self.name = name
        self._tokens = capacity
        self._stamp: float | None = None
        self._lock = trio.Lock()
        #: how many times a caller had to wait, and for how long in total
        self.waits = 0
        self.waited = 0.0

    def _refill(self, now: float) -> None:
        if self._stamp is None:
            self._stamp = now
        self._tokens = min(self.capacity, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now

    async def acquire(self, tokens: float = 1.0) -> None:
        tokens = min(tokens, self.capacity)
        async with self._lock:
            self._refill(trio.current_time())
            if self._tokens < tokens:
                delay = (tokens - self._tokens) / self.rate
                self.waits += 1
                self.waited += delay
                await trio.sleep(delay)
                self._refill(trio.current_time())
            self._tokens -= tokens
        await trio.lowlevel.checkpoint()

    def available(self) -> float:
        self._refill(trio.current_time())
        return self._tokens


#: one exchange's published limits: ``SPEC.limits`` of its package (an alias kept for the
#: old name)
ExchangeLimits = Limits


class ExchangeBudget:
    """The per-exchange (per-IP) budget shared by every connection of a process.

    Connection attempts *and* subscribe requests draw from it, so a reconnect
    storm cannot push the IP past the exchange's limit.
    """

    def __init__(self, limits: ExchangeLimits) -> None:
        self.limits = limits
        self.attempts = TokenBucket(limits.connect_rate, limits.connect_capacity, "connect")

    async def connect(self) -> None:
        await self.attempts.acquire()

    async def request(self) -> None:
        # A subscribe costs a fraction of a connection attempt from the shared budget.
        await self.attempts.acquire(0.2)


class ConnectionBudget:
    """Per-connection limits on what the client sends."""

    def __init__(self, limits: ExchangeLimits) -> None:
        self.messages = (
            TokenBucket(limits.messages_per_second, limits.messages_burst, "messages")
            if limits.messages_per_second
            else None
        )
        self.requests = (
            TokenBucket(limits.requests_per_hour / 3600.0, 60, "requests")
            if limits.requests_per_hour
            else None
        )

    async def message(self) -> None:
        if self.messages is not None:
            await self.messages.acquire()

    async def request(self) -> None:
        if self.requests is not None:
            await self.requests.acquire()
        await self.message()


@attrs.define
class Backoff:
    """Exponential backoff with full jitter and a cap, reset after a stable period.

    The n-th consecutive failure waits ``uniform(0, min(cap, base * 2**n))``
    (AWS's "full jitter"); the first retry after a long stable connection
    waits ``uniform(0, base)``.
    """

    base: float = 1.0
    cap: float = 60.0
    stable_after: float = 60.0
    rng: random.Random = attrs.field(factory=random.Random)
    failures: int = 0

    def next_delay(self) -> float:
        ceiling = self.ceiling()
        self.failures += 1
        return self.rng.uniform(0, ceiling)

    def ceiling(self) -> float:
        """The upper bound of the next delay."""
        # the exponent is capped: retrying forever must not overflow a float
        return min(self.cap, self.base * 2.0 ** min(self.failures, 64))

    def connected_for(self, seconds: float) -> None:
        """Report how long the last connection lasted; a stable one resets the count."""
        if seconds >= self.stable_after:
            self.failures = 0


_BUDGETS: trio.lowlevel.RunVar[dict[str, ExchangeBudget]] = trio.lowlevel.RunVar(
    "trio_feeds_exchange_budgets"
)


def shared_budget(exchange: str, limits: Limits | None = None) -> ExchangeBudget:
    """The exchange's budget shared by every feed of this trio run (one process = one IP).

    ``limits``: the exchange's (default: its registered spec's)."""
    try:
        budgets = _BUDGETS.get()
    except LookupError:
        budgets = {}
        _BUDGETS.set(budgets)
    if exchange not in budgets:
        if limits is None:
            from trio_feeds.exchanges import get

            limits = get(exchange).limits
        budgets[exchange] = ExchangeBudget(limits)
    return budgets[exchange]
