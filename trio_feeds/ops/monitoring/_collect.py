"""The monitor's Prometheus collectors: a feed's and its sinks' metrics, read at scrape time."""

from __future__ import annotations

import math
import platform
from collections.abc import Iterator, Sequence

from prometheus_client import CollectorRegistry
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from trio_feeds.core.records import DATA_KINDS
from trio_feeds.core.redact import redact
from trio_feeds.engine.stats import BucketCounts
from trio_feeds.feed.feed import Feed
from trio_feeds.sinks._base import Sink

__all__ = ["FeedCollector", "SinkCollector", "metrics_registry", "sink_name"]

#: the record kinds counted by ``trio_feeds_records_total`` (its ``channel`` label)
RECORD_KINDS = frozenset({*DATA_KINDS, "book_delta"})


def _buckets(counts: BucketCounts) -> list[tuple[str, float]]:
    """``(le, cumulative count)`` as the text format spells them (``"0.0005"``, ``"+Inf"``)."""
    return [
        ("+Inf" if bound == math.inf else repr(bound), float(n)) for bound, n in counts.cumulative()
    ]


class FeedCollector(Collector):
    """A Prometheus collector that reads :meth:`Feed.health` and :attr:`Feed.counters` at
    every scrape.

    Metrics (``exchange`` label per source)::

        trio_feeds_messages_total          counter  records received
        trio_feeds_records_total           counter  records received per (exchange, channel)
        trio_feeds_errors_total            counter  errors (disconnects, parse errors, ...)
        trio_feeds_reconnects_total        counter  reconnect attempts
        trio_feeds_gaps_total              counter  gaps reported
        trio_feeds_gaps_filled_total       counter  gaps closed by a trade backfill
        trio_feeds_backfilled_trades_total counter  missed trades fetched over REST
        trio_feeds_dropped_total           counter  records dropped (slow consumer), no label
        trio_feeds_source_switches_total   counter  switches, labels from, to, reason
        trio_feeds_failover_failures_total counter  no healthy source left, no label
        trio_feeds_source_connected        gauge    1 when every connection is up
        trio_feeds_source_connections      gauge    live connections
        trio_feeds_active_source           gauge    1 for the active source, else 0
        trio_feeds_latency_seconds         gauge    current latency estimate
        trio_feeds_lag_seconds             histogram  lag above the normal offset (per batch)
        trio_feeds_rtt_seconds             histogram  ping round trips
        trio_feeds_clock_offset_seconds    gauge    normal receive minus event time
        trio_feeds_last_update_timestamp_seconds  gauge
        trio_feeds_connected_sources       gauge
        trio_feeds_total_sources           gauge
        trio_feeds_healthy                 gauge    1 when the feed is healthy
        trio_feeds_build_info              gauge    1, labels version, python
    """

    def __init__(self, feed: Feed, prefix: str = "trio_feeds") -> None:
        self.feed = feed
        self.prefix = prefix

    def describe(self) -> list[Metric]:
        return []  # metrics are only known at scrape time: skip the registry's dry run

    def collect(self) -> Iterator[Metric]:
        feed = self.feed
        health = feed.health()
        p = self.prefix
        ex = ["exchange"]
        counters = {
            "messages": ("Records received from the exchange", "messages_received"),
            "errors": ("Errors (disconnects, parse errors, exchange errors)", "errors"),
            "reconnects": ("Reconnect attempts", "reconnects"),
            "gaps": ("Gaps reported (data possibly missed)", "gaps"),
        }
        for name, (doc, attr) in counters.items():
            c = CounterMetricFamily(f"{p}_{name}", doc, labels=ex)
            for exchange, st in health.sources.items():
                c.add_metric([exchange], float(getattr(st, attr)))
            yield c
        yield from self._counts(feed)
        yield CounterMetricFamily(
            f"{p}_dropped", "Records dropped because the consumer fell behind",
            value=float(feed.dropped),
        )  # fmt: skip
        connected = GaugeMetricFamily(
            f"{p}_source_connected", "1 when every connection of the source is up", labels=ex
        )
        conns = GaugeMetricFamily(f"{p}_source_connections", "Live connections", labels=ex)
        active = GaugeMetricFamily(
            f"{p}_active_source", "1 for the source the feed delivers from", labels=ex
        )
        latency = GaugeMetricFamily(
            f"{p}_latency_seconds", "Current data delay estimate (lag now, else rtt)", labels=ex
        )
        lag = HistogramMetricFamily(
            f"{p}_lag_seconds",
            "Lag above the source's normal offset, one sample per batch",
            labels=ex,
        )
        offset = GaugeMetricFamily(
            f"{p}_clock_offset_seconds",
            "Normal receive time minus exchange time (clock difference + shortest delay)",
            labels=ex,
        )
        rtt = HistogramMetricFamily(f"{p}_rtt_seconds", "Ping round trips", labels=ex)
        last = GaugeMetricFamily(
            f"{p}_last_update_timestamp_seconds", "Receive time of the last data", labels=ex
        )
        for exchange, st in health.sources.items():
            connected.add_metric([exchange], 1.0 if st.connected else 0.0)
            conns.add_metric([exchange], float(st.connections))
            active.add_metric([exchange], 1.0 if exchange == health.active_source else 0.0)
            if st.latency is not None:
                latency.add_metric([exchange], st.latency)
            if st.clock_offset is not None:
                offset.add_metric([exchange], st.clock_offset)
            if st.last_update is not None:
                last.add_metric([exchange], st.last_update)
            source = feed.sources.get(exchange)
            if source is not None:
                tracker = source.latency
                for family, counts in ((lag, tracker.lag_buckets), (rtt, tracker.rtt_buckets)):
                    family.add_metric([exchange], _buckets(counts), counts.sum)
        yield from (connected, conns, active, latency, lag, offset, rtt, last)
        yield GaugeMetricFamily(
            f"{p}_connected_sources", "Sources with every connection up",
            value=float(health.connected_sources),
        )  # fmt: skip
        yield GaugeMetricFamily(
            f"{p}_total_sources", "Sources configured", value=float(health.total_sources)
        )
        yield GaugeMetricFamily(
            f"{p}_healthy", "1 when the feed is healthy", value=1.0 if health.healthy else 0.0
        )
        info = GaugeMetricFamily(
            f"{p}_build_info", "trio_feeds and Python versions (value 1)",
            labels=["version", "python"],
        )  # fmt: skip
        info.add_metric([_version(), platform.python_version()], 1.0)
        yield info

    def _counts(self, feed: Feed) -> Iterator[Metric]:
        p = self.prefix
        counts = feed.counters
        records = CounterMetricFamily(
            f"{p}_records", "Records received per exchange and channel (record kind)",
            labels=["exchange", "channel"],
        )  # fmt: skip
        for exchange, by_kind in list(counts.records.items()):
            for kind, n in sorted(by_kind.items()):
                if kind in RECORD_KINDS:
                    records.add_metric([exchange, kind], float(n))
        yield records
        switches = CounterMetricFamily(
            f"{p}_source_switches",
            "Switches of the active source (reason: why the feed left its source)",
            labels=["from", "to", "reason"],
        )
        for (src, dst, reason), n in sorted(counts.switches.items()):
            switches.add_metric([src, dst, reason], float(n))
        yield switches
        fills = CounterMetricFamily(
            f"{p}_gaps_filled", "Gaps closed by a trade backfill over REST", labels=["exchange"]
        )
        filled = CounterMetricFamily(
            f"{p}_backfilled_trades",
            "Missed trades fetched over REST and delivered in order",
            labels=["exchange"],
        )
        for exchange, by_kind in list(counts.records.items()):
            fills.add_metric([exchange], float(by_kind.get("gap_filled", 0)))
            filled.add_metric([exchange], float(counts.filled_trades.get(exchange, 0)))
        yield fills
        yield filled
        yield CounterMetricFamily(
            f"{p}_failover_failures",
            "Times no healthy source was left (FailoverFailed events)",
            value=float(counts.failover_failures),
        )


def _version() -> str:
    from trio_feeds import __version__

    return __version__


class SinkCollector(Collector):
    """Prometheus metrics of sinks (``sink`` label: the sink's URL or path, redacted).

    ``sinks`` is read at every scrape, so a list you append to later works::

        trio_feeds_sink_sent_total      counter  items the destination acknowledged
        trio_feeds_sink_dropped_total   counter  items that will never arrive
        trio_feeds_sink_errors_total    counter  failed writes and connection attempts
        trio_feeds_sink_buffered        gauge    items waiting to be sent
        trio_feeds_sink_up              gauge    1 while the sink is connected / open
    """

    def __init__(self, sinks: Sequence[Sink], prefix: str = "trio_feeds") -> None:
        self.sinks = sinks
        self.prefix = prefix

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        p = f"{self.prefix}_sink"
        label = ["sink"]
        sent = CounterMetricFamily(f"{p}_sent", "Items the destination acknowledged", labels=label)
        dropped = CounterMetricFamily(
            f"{p}_dropped", "Items that will never reach the destination", labels=label
        )
        errors = CounterMetricFamily(
            f"{p}_errors", "Failed writes and connection attempts", labels=label
        )
        buffered = GaugeMetricFamily(f"{p}_buffered", "Items waiting to be sent", labels=label)
        up = GaugeMetricFamily(f"{p}_up", "1 while the sink is connected (open)", labels=label)
        for i, sink in enumerate(list(self.sinks)):
            name = [sink_name(sink, i)]
            st = sink.stats
            sent.add_metric(name, float(st.sent))
            dropped.add_metric(name, float(st.dropped))
            errors.add_metric(name, float(st.errors))
            buffered.add_metric(name, float(st.buffered))
            up.add_metric(name, 1.0 if st.connected else 0.0)
        yield from (sent, dropped, errors, buffered, up)


def sink_name(sink: Sink, index: int = 0) -> str:
    """How a sink is named in metrics and messages: its redacted URL or path."""
    name = getattr(sink, "name", None)
    return redact(name) if isinstance(name, str) and name else f"sink{index}"


def metrics_registry(
    feed: Feed, prefix: str = "trio_feeds", *, sinks: Sequence[Sink] | None = None
) -> CollectorRegistry:
    """A new :class:`~prometheus_client.CollectorRegistry` holding a :class:`FeedCollector`
    (and a :class:`SinkCollector` for ``sinks``, read at every scrape)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(FeedCollector(feed, prefix))
    if sinks is not None:
        registry.register(SinkCollector(sinks, prefix))
    return registry
