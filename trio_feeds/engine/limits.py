"""Outgoing limits and reconnect backoff: queue, never error.

Token buckets run on ``trio.current_time()``, so they work under
``trio.testing.MockClock`` as they do in real time.
"""

from __future__ import annotations

import random

import attrs
import trio


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


@attrs.frozen
class ExchangeLimits:
    """One exchange's published limits (see ``docs/exchanges.md``)."""

    #: connection attempts: ``connect_capacity`` at once, ``connect_rate`` per second after
    connect_rate: float
    connect_capacity: float
    #: messages the client may send per second on one connection (None: no such rule)
    messages_per_second: float | None
    messages_burst: float
    #: subscribe/unsubscribe requests per hour on one connection (None: no such rule)
    requests_per_hour: float | None


#: Binance: 300 connection attempts / 5 min / IP; 5 incoming messages / s / connection
#: (pings, pongs and JSON control messages count).  We keep a margin below both.
#: A token bucket lets ``burst + rate`` messages through in any one-second window, and our
#: answers to the server's pings are sent outside the budget: 1 + 3 (+ 1 pong) <= 5.
BINANCE_LIMITS = ExchangeLimits(
    connect_rate=0.9,
    connect_capacity=30,
    messages_per_second=3.0,
    messages_burst=1,
    requests_per_hour=None,
)
#: OKX: 3 new connections / s / IP; 480 subscribe+unsubscribe / h / connection.
#: A bucket lets ``capacity + rate`` through in any one-second window: 1 + 2 = 3.
OKX_LIMITS = ExchangeLimits(
    connect_rate=2.0,
    connect_capacity=1,
    messages_per_second=None,
    messages_burst=1,
    requests_per_hour=460,
)

LIMITS: dict[str, ExchangeLimits] = {"binance": BINANCE_LIMITS, "okx": OKX_LIMITS}


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


def shared_budget(exchange: str) -> ExchangeBudget:
    """The exchange's budget shared by every feed of this trio run (one process = one IP)."""
    try:
        budgets = _BUDGETS.get()
    except LookupError:
        budgets = {}
        _BUDGETS.set(budgets)
    if exchange not in budgets:
        budgets[exchange] = ExchangeBudget(LIMITS[exchange])
    return budgets[exchange]
