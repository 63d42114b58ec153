"""The monitor's status report: what the HTML status page shows, as one JSON document."""

from __future__ import annotations

import math
from collections import deque
from typing import Any

from trio_feeds.engine.stats import Percentiles
from trio_feeds.feed.feed import Feed
from trio_feeds.ops.monitoring._collect import RECORD_KINDS

__all__ = ["RATE_WINDOW", "STATUS_EVENTS", "MessageRates", "status_report"]

#: how many of the latest switches and gaps the report lists (newest first)
STATUS_EVENTS = 10


#: messages per second are measured over at least this many seconds (s)
RATE_WINDOW = 1.0


class MessageRates:
    """Messages per second per source, from the counts seen at successive reports: over the
    span from the newest sample at least :data:`RATE_WINDOW` old to now (None before
    there is one).  Any number of readers may ask: each adds a sample."""

    def __init__(self, keep: float = 30.0) -> None:
        self.keep = keep
        self._samples: deque[tuple[float, dict[str, int]]] = deque()

    def update(self, now: float, counts: dict[str, int]) -> dict[str, float | None]:
        samples = self._samples
        while len(samples) > 1 and samples[1][0] <= now - self.keep:
            samples.popleft()
        base = None
        for t, old in reversed(samples):
            if now - t >= RATE_WINDOW:
                base = (t, old)
                break
        samples.append((now, dict(counts)))
        if base is None:
            return dict.fromkeys(counts)
        t0, old = base
        return {k: max(0.0, (n - old.get(k, 0)) / (now - t0)) for k, n in counts.items()}


def _pct(p: Percentiles | None) -> dict[str, float] | None:
    if p is None:
        return None
    return {"p50": p.p50, "p90": p.p90, "p99": p.p99, "max": p.max}


def _age(now: float, t: float | None) -> float | None:
    return None if t is None or not math.isfinite(t) else max(0.0, now - t)


def status_report(feed: Feed) -> dict[str, Any]:
    """The feed's status for people: every source with its state, latency percentiles and
    counts, the active source per symbol with each source's data age, and the latest
    switches, gaps and trade backfills (newest first).  Times are Unix seconds (``time``:
    now, by the feed's clock); ages and latencies seconds.  Served as ``/api/websocket/status``."""
    health = feed.health()
    counts = feed.counters
    clocks = [src.settings.clock for src in feed.sources.values()]
    now = clocks[0]() if clocks else 0.0
    sources: list[dict[str, Any]] = []
    symbols: dict[str, dict[str, Any]] = {}
    for name, src in feed.sources.items():
        st = health.sources[name]
        by_kind: dict[str, int] = dict(counts.records.get(name, ()))
        sources.append(
            {
                "name": name,
                "state": st.state,
                "connected": st.connected,
                "connections": st.connections,
                "active": name == health.active_source,
                "latency": st.latency,
                "lag": _pct(st.lag),
                "rtt": _pct(st.rtt),
                "clock_offset": st.clock_offset,
                "messages": st.messages_received,
                "records": {k: n for k, n in sorted(by_kind.items()) if k in RECORD_KINDS},
                "errors": st.errors,
                "reconnects": st.reconnects,
                "gaps": st.gaps,
                "last_update_age": _age(now, st.last_update),
                "last_error": st.last_error,
                "stale_subscriptions": list(st.stale_subscriptions),
            }
        )
        for sub in src.subscriptions:
            row = symbols.setdefault(sub.symbol, {"symbol": sub.symbol, "sources": {}})
            seen = src.last_data.get(sub)
            ages = row["sources"]
            age = _age(now, seen)
            if name not in ages or (age is not None and (ages[name] is None or age < ages[name])):
                ages[name] = age
    for row in symbols.values():
        active = health.active_source
        row["active"] = active if active in row["sources"] else None
    switches = [
        {"time": s.timestamp / 1000.0, "from": s.from_source, "to": s.to_source,
         "reason": s.reason}
        for s in list(counts.recent_switches)[::-1][:STATUS_EVENTS]
    ]  # fmt: skip
    gaps = [
        {"exchange": g.exchange, "symbol": g.symbol, "channel": g.channel,
         "start": g.start / 1000.0, "end": g.end / 1000.0, "reason": g.reason}
        for g in list(counts.recent_gaps)[::-1][:STATUS_EVENTS]
    ]  # fmt: skip
    fills = [
        {"exchange": f.exchange, "symbol": f.symbol, "channel": f.channel, "count": f.count,
         "first_id": f.first_id, "last_id": f.last_id, "time": f.timestamp / 1000.0}
        for f in list(counts.recent_fills)[::-1][:STATUS_EVENTS]
    ]  # fmt: skip
    return {
        "time": now,
        "healthy": health.healthy,
        "active_source": health.active_source,
        "connected_sources": health.connected_sources,
        "total_sources": health.total_sources,
        "dropped": feed.dropped,
        "failover_failures": counts.failover_failures,
        "switch_count": sum(counts.switches.values()),
        "sources": sources,
        "symbols": sorted(symbols.values(), key=lambda r: r["symbol"]),
        "switches": switches,
        "gaps": gaps,
        "fills": fills,
    }
