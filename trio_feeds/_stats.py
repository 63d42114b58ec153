"""Health and latency bookkeeping: counters, rolling percentiles, snapshots."""

from __future__ import annotations

from collections import deque
from typing import Any

import attrs


class Rolling:
    """The last ``size`` samples, with percentiles on demand."""

    __slots__ = ("_samples",)

    def __init__(self, size: int = 1024) -> None:
        self._samples: deque[float] = deque(maxlen=size)

    def add(self, value: float) -> None:
        self._samples.append(value)

    def __len__(self) -> int:
        return len(self._samples)

    def last(self) -> float | None:
        return self._samples[-1] if self._samples else None

    def percentiles(self) -> Percentiles | None:
        if not self._samples:
            return None
        data = sorted(self._samples)
        n = len(data)

        def pick(q: float) -> float:
            return data[min(n - 1, int(q * n))]

        return Percentiles(p50=pick(0.50), p90=pick(0.90), p99=pick(0.99), max=data[-1], count=n)


@attrs.frozen
class Percentiles:
    p50: float
    p90: float
    p99: float
    max: float
    count: int


@attrs.frozen
class SourceStatus:
    """A source's (one exchange's) health, as :meth:`Feed.health` reports it.

    Times are Unix seconds; latencies are seconds.
    """

    exchange: str
    connected: bool
    state: str
    """One of ``connecting``, ``subscribing``, ``streaming``, ``stale``, ``backoff``,
    ``gave_up``, ``stopped``."""
    latency: float | None
    """Best current estimate of the data delay in seconds: the median event-time lag
    when the exchange stamps its events, else the median ping round-trip."""
    last_update: float | None
    messages_received: int
    errors: int
    reconnects: int
    connected_since: float | None
    gaps: int
    dropped: int
    connections: int
    rtt: Percentiles | None
    lag: Percentiles | None
    stale_subscriptions: tuple[str, ...] = ()
    last_error: str | None = None


@attrs.frozen
class Health:
    """The whole feed's health."""

    healthy: bool
    active_source: str | None
    connected_sources: int
    total_sources: int
    sources: dict[str, SourceStatus]

    def to_dict(self) -> dict[str, Any]:
        return attrs.asdict(self)
