"""Health and latency bookkeeping: counters, rolling percentiles, snapshots."""

from __future__ import annotations

import math
from bisect import bisect_left
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


#: Histogram bucket upper bounds (s) for market-data delays: 0.5 ms to 10 s.
LATENCY_BUCKETS: tuple[float, ...] = (
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)  # fmt: skip


class BucketCounts:
    """Samples counted per bucket since the start, with their sum: a Prometheus histogram
    (``le`` buckets) kept as plain counters, one :func:`bisect.bisect_left` per sample.

    ``counts[i]`` counts samples ``<= bounds[i]`` and above the bound before; the last
    entry counts the samples above every bound (``+Inf``).
    """

    __slots__ = ("bounds", "counts", "sum")

    def __init__(self, bounds: tuple[float, ...] = LATENCY_BUCKETS) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)
        self.sum = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect_left(self.bounds, value)] += 1
        self.sum += value

    @property
    def count(self) -> int:
        return sum(self.counts)

    def cumulative(self) -> list[tuple[float, int]]:
        """``(upper bound, samples <= it)`` per bucket, ending with ``(inf, count)``."""
        out: list[tuple[float, int]] = []
        total = 0
        for bound, n in zip((*self.bounds, math.inf), self.counts, strict=True):
            total += n
            out.append((bound, total))
        return out


#: How long a source's normal offset (receive time minus exchange time) is remembered: a lag
#: episode shorter than this is measured against the offset from before it began.
OFFSET_WINDOW = 300.0
#: The current lag is that of the freshest sample among those received in the last
#: ``RECENT`` seconds, and at least the last ``RECENT_SAMPLES`` samples.
RECENT = 1.0
RECENT_SAMPLES = 3
_BUCKETS = 20


class LatencyTracker:
    """One source's delay, kept apart from its clock offset.

    Each sample is an *offset*: local receive time minus the exchange's event time, in
    seconds.  It is the sum of the difference between this machine's clock and the
    exchange's (constant, of either sign, possibly minutes) and the delay (network, queues,
    the exchange's own backlog).  The clock part does not change between samples, the delay
    does, and it cannot go below its physical minimum; so:

    * ``baseline`` — the source's *normal* offset: the smallest sample of the last
      ``window`` seconds (kept as per-bucket minima, ~O(1) per sample);
    * :meth:`current_lag` — how far the freshest recent sample lies above that baseline: a
      constant offset cancels out, a delay that grows shows.

    It also keeps ping round trips (:attr:`rtt`, :attr:`last_rtt`), which need no clock
    agreement at all.  One per source; the feed's aggregator adds the samples and judges,
    :func:`~trio_feeds.engine.source.status_of` reports.
    """

    __slots__ = (
        "_bucket_end", "_bucket_len", "_bucket_min", "_buckets", "_n", "_recent",
        "baseline", "lag", "lag_buckets", "last_rtt", "recent", "rtt", "rtt_buckets", "window",
    )  # fmt: skip

    def __init__(self, window: float = OFFSET_WINDOW, recent: float = RECENT) -> None:
        self.window = window
        self.recent = recent
        self._bucket_len = window / _BUCKETS
        #: closed buckets: (end time, smallest offset)
        self._buckets: deque[tuple[float, float]] = deque()
        self._bucket_end = -math.inf
        self._bucket_min = math.inf
        #: the normal offset (s), None before the first sample
        self.baseline: float | None = None
        #: recent samples as a monotonic queue: (time, index, offset), offsets increasing,
        #: so the front is the smallest sample still in the recent window
        self._recent: deque[tuple[float, int, float]] = deque()
        self._n = 0
        #: lag above the baseline of each sample, for percentiles
        self.lag = Rolling(1024)
        #: ping round trips
        self.rtt = Rolling(256)
        self.last_rtt: float | None = None
        #: every lag sample and ping round trip since the start, as histograms (metrics)
        self.lag_buckets = BucketCounts()
        self.rtt_buckets = BucketCounts()

    def __len__(self) -> int:
        return len(self.lag)

    def add(self, offset: float, now: float) -> None:
        """One sample: ``offset`` = receive time - event time (s), taken at monotonic ``now``."""
        if now >= self._bucket_end:
            self._roll(now)
        if offset < self._bucket_min:
            self._bucket_min = offset
            base = self.baseline
            if base is None or offset < base:
                self.baseline = base = offset
        else:
            base = self.baseline
        n = self._n = self._n + 1
        recent = self._recent
        while recent and recent[-1][2] >= offset:
            recent.pop()
        recent.append((now, n, offset))
        lag = offset - base  # type: ignore[operator]  # set above
        self.lag.add(lag)
        b = self.lag_buckets  # BucketCounts.observe, inline (once per batch)
        b.counts[bisect_left(b.bounds, lag)] += 1
        b.sum += lag

    def _roll(self, now: float) -> None:
        buckets = self._buckets
        if self._bucket_min < math.inf:
            buckets.append((self._bucket_end, self._bucket_min))
        self._bucket_end = now + self._bucket_len
        self._bucket_min = math.inf
        horizon = now - self.window
        while buckets and buckets[0][0] <= horizon:
            buckets.popleft()
        self.baseline = min(m for _, m in buckets) if buckets else None

    def current_lag(self, now: float) -> float | None:
        """Seconds the freshest recent sample lies above the baseline (None: no sample)."""
        recent = self._recent
        base = self.baseline
        if not recent or base is None:
            return None
        horizon = now - self.recent
        keep_from = self._n - RECENT_SAMPLES + 1
        while len(recent) > 1 and recent[0][0] < horizon and recent[0][1] < keep_from:
            recent.popleft()
        return recent[0][2] - base

    def add_rtt(self, rtt: float) -> None:
        self.rtt.add(rtt)
        self.last_rtt = rtt
        self.rtt_buckets.observe(rtt)


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
    """Best current estimate of the data delay in seconds: how far the freshest recent
    data lies behind this source's normal (``lag`` now) when the exchange stamps its
    events, else the median ping round trip."""
    last_update: float | None
    messages_received: int
    errors: int
    reconnects: int
    """Reconnect attempts: each waited a backoff delay and was announced by a
    ``SourceEvent(state="reconnecting")`` (a retried make-before-break replacement too)."""
    connected_since: float | None
    gaps: int
    dropped: int
    connections: int
    rtt: Percentiles | None
    """Ping round trips (s)."""
    lag: Percentiles | None
    """Lag above this source's normal offset (s), one sample per batch: what failover
    judges (see ``clock_offset``)."""
    stale_subscriptions: tuple[str, ...] = ()
    last_error: str | None = None
    clock_offset: float | None = None
    """This source's normal offset in seconds: local receive time minus the exchange's
    event time at its smallest over the last minutes, i.e. the difference between this
    machine's clock and the exchange's plus the shortest network delay.  Far from 0 (more
    than a network delay) means a clock is off; it never counts as lag."""


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


__all__ = [
    "LATENCY_BUCKETS",
    "OFFSET_WINDOW",
    "RECENT",
    "RECENT_SAMPLES",
    "BucketCounts",
    "Health",
    "LatencyTracker",
    "Percentiles",
    "Rolling",
    "SourceStatus",
]
