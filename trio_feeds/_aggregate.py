"""The feed's source policy: which source is active, and which records reach the consumer.

No I/O here.  The feed's aggregator task calls :meth:`Aggregator.process` with
every batch in arrival order, and its monitor task calls :meth:`Aggregator.expire`
when one of the deadlines in :attr:`Aggregator.deadlines` passes (a source went
quiet, or the primary has been healthy long enough to fail back).  Both return
what to hand to the consumer.

Health of a source, as failover judges it:

* **connected** — every one of its connections is up;
* **fresh** — it delivered data within ``stale_after``;
* **fast** — the median event-time lag of its last batches is within
  ``max_source_latency``;
* **sane** — fewer than ``max_errors`` errors within ``error_window``.

A source is healthy when all four hold.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Sequence
from statistics import median
from typing import Any, Protocol

from ._records import FailoverFailed, Quote, SourceSwitch, Ticker

CONFLICT_MODES = ("primary", "latest", "average")
_DATA = frozenset({"trade", "ticker", "quote", "book", "book_delta", "candle"})


class SourceView(Protocol):
    """What the aggregator needs to know of a running source."""

    @property
    def connected(self) -> bool: ...


class _Health:
    __slots__ = (
        "connected", "detail", "errors", "healthy_since", "lag", "last_data", "reason", "running",
    )  # fmt: skip

    def __init__(self) -> None:
        self.connected = False
        self.last_data = -math.inf
        self.lag: deque[float] = deque(maxlen=16)
        self.errors: deque[float] = deque()
        self.healthy_since: float | None = None
        self.reason = "not connected"
        self.detail = ""
        self.running = True


class Aggregator:
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
        self.health = {s: _Health() for s in self.sources}
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
        self._newest: dict[tuple[str, str], int] = {}
        self._healthy_now: set[str] = set()
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
        if len(h.lag) >= 3 and median(h.lag) > self.max_source_latency:
            return f"latency {median(h.lag):.3f} s above {self.max_source_latency:g} s"
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
        had_data = False
        lag_sample: float | None = None
        for item in items:
            kind = item.kind
            if kind in _DATA:
                had_data = True
                continue
            if kind == "source":
                state = item.state
                if state == "connected":
                    h.connected = True
                elif state in ("disconnected", "gave_up"):
                    h.connected = self._connected(source) if self._connected else False
                    h.detail = item.detail
                elif state == "error":  # count > 1: coalesced repeats (see _source._error)
                    h.errors.extend([now] * min(getattr(item, "count", 1), self.max_errors))
        if had_data:
            h.last_data = now
            self.deadlines[source] = now + self.stale_after
            last = items[-1]
            if last.kind in _DATA and getattr(last, "exchange_time", True):
                lag_sample = last.received_at - last.timestamp / 1000.0
                h.lag.append(lag_sample)
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
        self._healthy_now = {s for s, why in verdicts.items() if why is None}
        if not self.failover:
            return []
        out: list[Any] = []
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
            self.failed = False
            if active != self.primary and verdicts[self.primary] is None:
                since = self.health[self.primary].healthy_since or now
                due = since + self.failback_after
                # the same expression as the deadline: a watcher woken at ``due`` switches
                # (``now - since >= failback_after`` can miss it by a rounding error)
                if now >= due:
                    out.append(self._switch(self.primary, "failback: primary healthy again"))
                else:
                    self.deadlines["failback"] = due
            return out
        if active is not None and active not in self._ever_healthy and now < self.grace_until:
            return out  # still starting up
        candidates = [s for s in self.priority if verdicts[s] is None]
        if candidates:
            reason = verdicts[active] if active is not None else "no active source"
            out.append(self._switch(candidates[0], f"{active}: {reason}"))
            self.failed = False
        else:
            for s in self.priority:
                if self.cold and not self.health[s].running and self.on_demand is not None:
                    self.on_demand(s, True)
                    break
            if not self.failed:
                self.failed = True
                reason = "; ".join(f"{s}: {verdicts[s]}" for s in self.priority)
                out.append(FailoverFailed(active, reason, int(self.clock() * 1000)))
        return out

    def _switch(self, to: str, reason: str) -> SourceSwitch:
        prev, self.active = self.active, to
        self.deadlines.pop("failback", None)
        event = SourceSwitch(prev, to, reason, int(self.clock() * 1000))
        self.switches.append(event)
        if self.cold and self.on_demand is not None and to == self.primary:
            for s in self.sources:
                if s != self.primary:
                    self.on_demand(s, False)
        return event

    # -- conflict resolution ---------------------------------------------------------------
    def _latest(self, source: str, items: list[Any]) -> list[Any]:
        """Records of every healthy source; per (kind, symbol) only ones newer than
        what was already delivered (trades: every trade of every healthy venue)."""
        if source not in self._healthy_now:
            return [i for i in items if i.kind not in _DATA]
        newest = self._newest
        out: list[Any] = []
        for item in items:
            kind = item.kind
            if kind not in _DATA or kind == "trade":
                out.append(item)
                continue
            key = (kind, item.symbol)
            ts = item.timestamp
            if ts > newest.get(key, -1):
                newest[key] = ts
                out.append(item)
        return out

    def _average(self, source: str, items: list[Any]) -> list[Any]:
        """One combined quote/ticker per update across healthy sources; trades from
        every healthy source; books and candles from the active source only."""
        healthy = source in self._healthy_now
        out: list[Any] = []
        for item in items:
            kind = item.kind
            if kind not in _DATA:
                out.append(item)
            elif not healthy:
                continue
            elif kind == "trade":
                out.append(item)
            elif kind == "quote":
                self._quotes.setdefault(item.symbol, {})[source] = item
                out.append(self._combined_quote(item.symbol))
            elif kind == "ticker":
                self._tickers.setdefault(item.symbol, {})[source] = item
                out.append(self._combined_ticker(item.symbol))
            elif source == self.active:
                out.append(item)
        return out

    def _fresh(self, records: dict[str, Any]) -> dict[str, Any]:
        now = self._now()
        return {
            s: r
            for s, r in records.items()
            if s in self._healthy_now and self.health[s].last_data >= now - self.stale_after
        }

    def _combined_quote(self, symbol: str) -> Quote:
        quotes = self._fresh(self._quotes[symbol])
        best_bid = max(quotes.values(), key=lambda q: q.bid)
        best_ask = min(quotes.values(), key=lambda q: q.ask)
        newest = max(quotes.values(), key=lambda q: q.received_at)
        return Quote(
            "+".join(sorted(quotes)),
            symbol,
            max(q.timestamp for q in quotes.values()),
            newest.received_at,
            best_bid.bid,
            best_bid.bid_size,
            best_ask.ask,
            best_ask.ask_size,
            None,
            all(q.exchange_time for q in quotes.values()),
        )

    def _combined_ticker(self, symbol: str) -> Ticker:
        ts = list(self._fresh(self._tickers[symbol]).values())
        n = len(ts)
        return Ticker(
            "+".join(sorted(t.exchange for t in ts)),
            symbol,
            max(t.timestamp for t in ts),
            max(t.received_at for t in ts),
            sum(t.price for t in ts) / n,
            max(t.bid for t in ts),
            min(t.ask for t in ts),
            sum(t.volume for t in ts),
            sum(t.open for t in ts) / n,
            max(t.high for t in ts),
            min(t.low for t in ts),
            sum(t.quote_volume for t in ts),
        )
