"""The feed's source policy: which source is active, and which records reach the consumer.

No I/O here.  The feed's aggregator task calls :meth:`Aggregator.process` with
every batch in arrival order, and its monitor task calls :meth:`Aggregator.expire`
when one of the deadlines in :attr:`Aggregator.deadlines` passes (a source went
quiet, or the primary has been healthy long enough to fail back).  Both return
what to hand to the consumer.

Health of a source, as failover judges it:

* **connected** — every one of its connections is up;
* **fresh** — it delivered data within ``stale_after``;
* **fast** — its lag is within ``max_source_latency``: the freshest data of its last
  second (or last three batches) lies no more than that above the source's own normal
  offset between receive and event time (so a clock offset never counts), and its last
  ping round trip is within it too (:class:`~trio_feeds.engine.stats.LatencyTracker`);
* **sane** — fewer than ``max_errors`` errors within ``error_window``.

A source is healthy when all four hold.  When none is, the feed keeps delivering from the
best-ranked source (:meth:`Aggregator._best_ranked`): it never goes blind while a source
streams.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from trio_feeds.core.records import FailoverFailed, Quote, SourceSwitch, Ticker
from trio_feeds.engine.stats import LatencyTracker
from trio_feeds.feed.conflict import _DATA, _STATE, _ConflictModes
from trio_feeds.feed.counters import FeedCounters, reason_label

CONFLICT_MODES = ("primary", "latest", "average")
#: how far back from a batch's end to look for a record to take a lag sample from
_SAMPLE_DEPTH = 8


class SourceView(Protocol):
    """What the aggregator needs to know of a running source."""

    @property
    def connected(self) -> bool: ...


class _Health:
    __slots__ = (
        "connected",
        "counts",
        "detail",
        "errors",
        "healthy_since",
        "last_data",
        "latency",
        "reason",
        "running",
        "seen",
    )  # fmt: skip

    def __init__(self, latency: LatencyTracker | None = None) -> None:
        self.connected = False
        self.last_data = -math.inf
        self.latency = latency if latency is not None else LatencyTracker()
        #: (kind, symbol) already sampled since the source (re)connected: the first record
        #: of each may be the exchange's snapshot of an old state (OKX pushes the last trade,
        #: ticker and book on subscribe, stamped when they happened), not a delay
        self.seen: set[tuple[str, str]] = set()
        self.errors: deque[float] = deque()
        self.healthy_since: float | None = None
        self.reason = "not connected"
        self.detail = ""
        self.running = True
        #: items received per kind (the feed's FeedCounters.records entry of this source)
        self.counts: dict[str, int] = {}


class Aggregator(_ConflictModes):
    """The source policy of one feed (see the module docstring); the conflict modes are
    in :mod:`trio_feeds.feed.conflict`."""

    def __init__(
        self,
        sources: Sequence[str],
        *,
        primary: str,
        failover: bool = True,
        conflict: str = "primary",
        clock: Callable[[], float],
        now: Callable[[], float] | None = None,
        stale_after: float = 10.0,
        max_source_latency: float = 5.0,
        failback_after: float = 30.0,
        max_errors: int = 5,
        error_window: float = 60.0,
        connected: Callable[[str], bool] | None = None,
        latency: Mapping[str, LatencyTracker] | None = None,
    ) -> None:
        self.sources = list(sources)
        self.priority = [primary] + [s for s in self.sources if s != primary]
        self.primary = primary
        self.failover = failover
        self.conflict = conflict
        self.clock = clock
        self._now = now or clock
        self.stale_after = stale_after
        self.max_source_latency = max_source_latency
        self.failback_after = failback_after
        self.max_errors = max_errors
        self.error_window = error_window
        self._connected = connected
        self.active: str | None = primary
        trackers = latency or {}
        self.health = {s: _Health(trackers.get(s)) for s in self.sources}
        #: records per (source, kind), switches per reason, failures (metrics)
        self.counters = FeedCounters(self.sources)
        for s, h in self.health.items():
            h.counts = self.counters.records[s]
        start = self._now()
        for h in self.health.values():
            h.last_data = start  # a grace period of stale_after to connect and subscribe
        self.switches: list[SourceSwitch] = []
        self.failed = False
        #: source -> monotonic time at which :meth:`expire` must run for it
        self.deadlines: dict[str, float] = {}
        #: until then the primary may take its time to connect: no switch away from it
        #: before it has had its chance (a standby connecting first is no reason)
        self.grace_until = start + stale_after
        self.deadlines["grace"] = self.grace_until
        self._ever_healthy: set[str] = set()
        #: cold standby: called with (source, wanted) when a standby must start or may stop
        self.on_demand: Callable[[str, bool], None] | None = None
        self.cold = False
        #: latest: kind -> symbol -> the record delivered last (state kinds only)
        self._last: dict[str, dict[str, Any]] = {k: {} for k in _STATE}
        #: latest: (symbol, interval) -> newest candle start delivered, from any source
        self._candle_newest: dict[tuple[str, str], int] = {}
        #: latest: (source, symbol, interval) -> [newest start, newest closed start] delivered
        self._candle_own: dict[tuple[str, str, str], list[int]] = {}
        self._healthy_now: set[str] = set()
        #: the sources whose data the conflict modes pass: the healthy ones, or when none
        #: is healthy the active (best-ranked) one
        self._delivering: set[str] = {primary}
        self._quotes: dict[str, dict[str, Quote]] = {}
        self._tickers: dict[str, dict[str, Ticker]] = {}

    # -- health ----------------------------------------------------------------------------
    def is_connected(self, source: str) -> bool:
        if self._connected is not None:
            return self._connected(source)
        return self.health[source].connected

    def why_unhealthy(self, source: str, now: float | None = None) -> str | None:
        """None when ``source`` is healthy, else the reason it is not."""
        h = self.health[source]
        now = self._now() if now is None else now
        if not h.running:
            return "not running (cold standby)"
        if not self.is_connected(source):
            return f"disconnected ({h.detail})" if h.detail else "disconnected"
        if now >= h.last_data + self.stale_after:  # the deadline's own expression
            return f"stale: no data for {self.stale_after:g} s"
        lat = h.latency
        lag = lat.current_lag(now)
        if lag is not None and lag > self.max_source_latency:
            return (
                f"latency: lag {lag:.3f} s above its normal offset "
                f"({lat.baseline:+.3f} s), over {self.max_source_latency:g} s"
            )
        rtt = lat.last_rtt
        if rtt is not None and rtt > self.max_source_latency:
            return f"latency: ping round trip {rtt:.3f} s, over {self.max_source_latency:g} s"
        while h.errors and h.errors[0] < now - self.error_window:
            h.errors.popleft()
        if len(h.errors) >= self.max_errors:
            return f"{len(h.errors)} errors within {self.error_window:g} s"
        return None

    def healthy(self, source: str) -> bool:
        return self.why_unhealthy(source) is None

    # -- input -----------------------------------------------------------------------------
    def process(self, source: str, items: list[Any]) -> list[Any]:
        """One batch from ``source``: update its health, return what the consumer gets."""
        now = self._now()
        h = self.health[source]
        single = len(self.sources) == 1
        out: list[Any] = []
        # the kinds in this batch, counted per source (no Python step per record)
        if len(items) == 1:  # the most common batch, counted here
            kind = items[0].kind
            counts = h.counts
            counts[kind] = counts.get(kind, 0) + 1
            had_data = kind in _DATA
            events = not had_data
        else:
            kinds = self.counters.count(source, items)
            had_data = not _DATA.isdisjoint(kinds)
            events = not _DATA.issuperset(kinds)
        if events:  # source states, errors, gaps
            self._events(source, h, items, now)
        if had_data:
            h.last_data = now
            self.deadlines[source] = now + self.stale_after
            self._sample(h, items, now)
        if single:
            return items
        out.extend(self._evaluate(now))
        if self.conflict == "primary":
            if source == self.active:
                out.extend(items)
            else:
                out.extend(i for i in items if i.kind not in _DATA)
        elif self.conflict == "latest":
            out.extend(self._latest(source, items))
        else:
            out.extend(self._average(source, items))
        return out

    def _events(self, source: str, h: _Health, items: list[Any], now: float) -> None:
        """The batch's events, in order: connection state, errors, gaps, backfills."""
        for item in items:
            kind = item.kind
            if kind == "source":
                state = item.state
                if state == "connected":
                    h.connected = True
                    h.seen.clear()
                elif state in ("disconnected", "gave_up"):
                    h.connected = self._connected(source) if self._connected else False
                    h.detail = item.detail
                    h.seen.clear()
                elif state == "error":  # count > 1: coalesced repeats (see _source._error)
                    h.errors.extend([now] * min(getattr(item, "count", 1), self.max_errors))
            elif kind == "gap":
                self.counters.recent_gaps.append(item)
            elif kind == "gap_filled":
                self.counters.recent_fills.append(item)
                self.counters.filled_trades[item.exchange] += item.count

    @staticmethod
    def _sample(h: _Health, items: list[Any], now: float) -> None:
        """One lag sample per batch: its last record stamped with an event time."""
        seen = h.seen
        n = len(items)
        for i in range(n - 1, max(-1, n - 1 - _SAMPLE_DEPTH), -1):
            r = items[i]
            kind = r.kind
            if kind not in _DATA or not getattr(r, "exchange_time", True):
                continue
            key = (kind, r.symbol)
            if key not in seen:
                seen.add(key)
                continue
            h.latency.add(r.received_at - r.timestamp / 1000.0, now)
            return

    def expire(self) -> list[Any]:
        """A deadline passed: re-judge every source."""
        now = self._now()
        for source, deadline in list(self.deadlines.items()):
            if deadline <= now:
                del self.deadlines[source]
        return self._evaluate(now)

    # -- switching -------------------------------------------------------------------------
    def _evaluate(self, now: float) -> list[Any]:
        if len(self.sources) == 1:
            return []
        verdicts = {s: self.why_unhealthy(s, now) for s in self.sources}
        # one verdict per batch: the conflict modes below read it, per record
        healthy = {s for s, why in verdicts.items() if why is None}
        self._healthy_now = healthy
        out: list[Any] = []
        if self.failover:
            self._decide(verdicts, now, out)
        active = self.active
        self._delivering = healthy or ({active} if active is not None else set())
        return out

    def _decide(self, verdicts: dict[str, str | None], now: float, out: list[Any]) -> None:
        for s, why in verdicts.items():
            h = self.health[s]
            if why is None:
                self._ever_healthy.add(s)
                if h.healthy_since is None:
                    h.healthy_since = now
            else:
                h.healthy_since = None
                h.reason = why
        active = self.active
        if active is not None and verdicts[active] is None:
            if self.failed:
                # the source delivering degraded data is healthy again
                self.failed = False
                why = f"recovered: {active} is healthy again"
                out.append(self._switch(active, why, label="recovered"))
            if active != self.primary and verdicts[self.primary] is None:
                since = self.health[self.primary].healthy_since or now
                due = since + self.failback_after
                # the same expression as the deadline: a watcher woken at ``due`` switches
                # (``now - since >= failback_after`` can miss it by a rounding error)
                if now >= due:
                    why = "failback: primary healthy again"
                    out.append(self._switch(self.primary, why, label="failback"))
                else:
                    self.deadlines["failback"] = due
            return
        if active is not None and active not in self._ever_healthy and now < self.grace_until:
            return  # still starting up
        candidates = [s for s in self.priority if verdicts[s] is None]
        if candidates:
            reason = verdicts[active] if active is not None else "no active source"
            label = reason_label(verdicts[active] if active is not None else None)
            if self.failed:
                label = "recovered"
                reason = f"recovered: {candidates[0]} is healthy ({active}: {reason})"
                self.failed = False
            else:
                reason = f"{active}: {reason}"
            out.append(self._switch(candidates[0], reason, label=label))
            return
        for s in self.priority:
            if self.cold and not self.health[s].running and self.on_demand is not None:
                self.on_demand(s, True)
                break
        best = self._best_ranked(now)
        if not self.failed:
            self.failed = True
            reason = "; ".join(f"{s}: {verdicts[s]}" for s in self.priority)
            if best is not None:
                reason += f" (delivering degraded data from {best})"
            out.append(FailoverFailed(active, reason, int(self.clock() * 1000)))
            self.counters.failover_failures += 1
        if best is not None and best != active:
            why = verdicts[best]
            reason = f"degraded: no healthy source, {best} ranks best ({why})"
            out.append(self._switch(best, reason, degraded=True, label="degraded"))

    def _rank(self, source: str, now: float) -> tuple[int, float]:
        """How well ``source`` can serve while no source is healthy (lower is better):
        ``(0, delay)`` connected and delivering data (lag or ping round trip as ``delay``),
        ``(1, inf)`` connected but stale, ``(2, inf)`` not connected or not running."""
        h = self.health[source]
        if not h.running or not self.is_connected(source):
            return (2, math.inf)
        if now >= h.last_data + self.stale_after:
            return (1, math.inf)
        lat = h.latency
        return (0, max(lat.current_lag(now) or 0.0, lat.last_rtt or 0.0))

    def _best_ranked(self, now: float) -> str | None:
        """The source to deliver from while none is healthy.

        Best-ranked: connected and delivering data first, then connected but stale, then the
        rest; among sources delivering data the one with the smaller delay (lag above its
        normal, or ping round trip), ties in priority order.  The active source is kept
        while it ranks in the same class as the best and, when delivering, its delay is
        within ``max_source_latency`` of the best's: two degraded sources do not flap.
        None when no source is connected (nothing to switch to).
        """
        ranks = {s: self._rank(s, now) for s in self.priority}
        best = min(self.priority, key=ranks.__getitem__)
        b = ranks[best]
        if b[0] == 2:
            return self.active
        active = self.active
        if active is not None:
            a = ranks[active]
            if a[0] == b[0] and (a[0] > 0 or a[1] - b[1] <= self.max_source_latency):
                return active
        return best

    def _switch(
        self, to: str, reason: str, degraded: bool = False, label: str = "other"
    ) -> SourceSwitch:
        prev, self.active = self.active, to
        self.deadlines.pop("failback", None)
        event = SourceSwitch(prev, to, reason, int(self.clock() * 1000))
        self.switches.append(event)
        self.counters.switched(event, label)
        # back on a healthy primary: cold standbys may stop (not while only degraded: a
        # standby is what the feed hopes will be healthy first)
        if self.cold and self.on_demand is not None and to == self.primary and not degraded:
            for s in self.sources:
                if s != self.primary:
                    self.on_demand(s, False)
        return event


__all__ = [
    "CONFLICT_MODES",
    "Aggregator",
    "SourceView",
]
