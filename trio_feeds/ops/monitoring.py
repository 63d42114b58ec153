"""An HTTP monitor for a running feed: health JSON and Prometheus metrics.

A small ASGI app served by hypercorn's trio worker, beside the feed in your nursery::

    async with trio_feeds.open_feed(exchanges) as feed, trio.open_nursery() as n:
        url = await n.start(serve_monitoring, feed)   # "http://127.0.0.1:<port>"
        ...

Routes (GET or HEAD):

``/api/websocket/health``
    :class:`~trio_feeds.Health` as JSON; HTTP 200 when healthy, 503 when not.
``/api/websocket/sources``
    ``{exchange: SourceStatus}`` as JSON.
``/api/websocket/active-source``
    ``{"active_source": ..., "healthy": ...}``.
``/metrics``
    Prometheus text format, from a :class:`prometheus_client.CollectorRegistry` of the
    feed's own (never the global registry): see :func:`metrics_registry`.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterator, MutableMapping, Sequence
from typing import Any

import attrs
import orjson
import trio
from hypercorn.config import Config
from hypercorn.trio import serve
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from trio_feeds.core.redact import redact
from trio_feeds.engine.stats import Health
from trio_feeds.feed.feed import Feed
from trio_feeds.sinks._base import Sink

__all__ = [
    "FeedCollector",
    "SinkCollector",
    "create_app",
    "metrics_registry",
    "serve_monitoring",
    "sink_name",
]

logger = logging.getLogger("trio_feeds.ops.monitoring")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_QUANTILES = (("0.5", "p50"), ("0.9", "p90"), ("0.99", "p99"), ("1", "max"))


class FeedCollector(Collector):
    """A Prometheus collector that reads :meth:`Feed.health` at every scrape.

    Metrics (``exchange`` label per source)::

        trio_feeds_messages_total          counter  records received
        trio_feeds_errors_total            counter  errors (disconnects, parse errors, ...)
        trio_feeds_reconnects_total        counter  reconnect attempts
        trio_feeds_gaps_total              counter  gaps reported
        trio_feeds_dropped_total           counter  records dropped (slow consumer), no label
        trio_feeds_source_connected        gauge    1 when every connection is up
        trio_feeds_source_connections      gauge    live connections
        trio_feeds_active_source           gauge    1 for the active source, else 0
        trio_feeds_latency_seconds         gauge    current latency estimate
        trio_feeds_lag_seconds             gauge    lag above the normal offset, percentiles
        trio_feeds_clock_offset_seconds    gauge    normal receive minus event time
        trio_feeds_rtt_seconds             gauge    ping round-trip percentiles (quantile label)
        trio_feeds_last_update_timestamp_seconds  gauge
        trio_feeds_connected_sources       gauge
        trio_feeds_total_sources           gauge
        trio_feeds_healthy                 gauge    1 when the feed is healthy
    """

    def __init__(self, feed: Feed, prefix: str = "trio_feeds") -> None:
        self.feed = feed
        self.prefix = prefix

    def describe(self) -> list[Metric]:
        return []  # metrics are only known at scrape time: skip the registry's dry run

    def collect(self) -> Iterator[Metric]:
        health = self.feed.health()
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
        yield CounterMetricFamily(
            f"{p}_dropped", "Records dropped because the consumer fell behind",
            value=float(self.feed.dropped),
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
        lag = GaugeMetricFamily(
            f"{p}_lag_seconds",
            "Lag above the source's normal offset, percentiles",
            labels=["exchange", "quantile"],
        )
        offset = GaugeMetricFamily(
            f"{p}_clock_offset_seconds",
            "Normal receive time minus exchange time (clock difference + shortest delay)",
            labels=ex,
        )
        rtt = GaugeMetricFamily(
            f"{p}_rtt_seconds", "Ping round-trip percentiles", labels=["exchange", "quantile"]
        )
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
            for family, pct in ((lag, st.lag), (rtt, st.rtt)):
                if pct is not None:
                    for q, field in _QUANTILES:
                        family.add_metric([exchange, q], float(getattr(pct, field)))
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


def health_json(health: Health) -> bytes:
    """:class:`~trio_feeds.Health` as JSON bytes."""
    return orjson.dumps(health.to_dict())


def create_app(feed: Feed, registry: CollectorRegistry | None = None) -> ASGIApp:
    """The monitor's ASGI application for ``feed`` (``registry``: default
    :func:`metrics_registry`)."""
    reg = registry if registry is not None else metrics_registry(feed)

    def route(path: str) -> tuple[int, bytes, bytes]:
        if path == "/api/websocket/health":
            health = feed.health()
            return (200 if health.healthy else 503), b"application/json", health_json(health)
        if path == "/api/websocket/sources":
            sources = {k: attrs.asdict(v) for k, v in feed.health().sources.items()}
            return 200, b"application/json", orjson.dumps(sources)
        if path == "/api/websocket/active-source":
            health = feed.health()
            body = {"active_source": health.active_source, "healthy": health.healthy}
            return 200, b"application/json", orjson.dumps(body)
        if path == "/metrics":
            return 200, CONTENT_TYPE_LATEST.encode(), generate_latest(reg)
        return 404, b"application/json", orjson.dumps({"error": "not found", "path": path})

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if kind != "http":
            return  # websocket scopes: refused by not accepting
        method = scope["method"]
        if method not in ("GET", "HEAD"):
            status, ctype, body = 405, b"application/json", b'{"error":"method not allowed"}'
            extra = [(b"allow", b"GET, HEAD")]
        else:
            try:
                status, ctype, body = route(scope["path"])
            except Exception:
                logger.exception("monitor: %s failed", scope["path"])
                status, ctype, body = 500, b"application/json", b'{"error":"internal error"}'
            extra = []
        headers = [
            (b"content-type", ctype),
            (b"content-length", str(len(body)).encode()),
            (b"cache-control", b"no-store"),
            *extra,
        ]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": b"" if method == "HEAD" else body})

    return app


def _bind(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host and not host.startswith("[") else f"{host}:{port}"


async def serve_monitoring(
    feed: Feed,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    registry: CollectorRegistry | None = None,
    sinks: Sequence[Sink] | None = None,
    task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve the monitor for ``feed`` until cancelled.

    Binds ``host:port`` (loopback and an ephemeral port by default; give ``host="0.0.0.0"``
    deliberately to expose it).  With ``await nursery.start(serve_monitoring, feed)`` it
    returns the base URL it listens on, e.g. ``"http://127.0.0.1:49152"``.  ``sinks``
    (without ``registry``): also export ``trio_feeds_sink_*`` metrics for these sinks.
    """
    config = Config()
    config.bind = [_bind(host, port)]
    config.accesslog = None
    config.errorlog = logger
    config.graceful_timeout = 1.0
    config.keep_alive_timeout = 5.0
    if registry is None and sinks is not None:
        registry = metrics_registry(feed, sinks=sinks)
    app = create_app(feed, registry)

    class _Status:
        def started(self, value: list[str] | None = None) -> None:
            url = (value or [f"http://{_bind(host, port)}"])[0]
            task_status.started(url)

    await serve(app, config, task_status=_Status(), mode="asgi")  # type: ignore[arg-type]
