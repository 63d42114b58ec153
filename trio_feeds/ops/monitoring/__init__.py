"""An HTTP monitor for a running feed: a status page, health JSON and Prometheus metrics.

A small ASGI app served by hypercorn's trio worker, beside the feed in your nursery::

    async with trio_feeds.open_feed(exchanges) as feed, trio.open_nursery() as n:
        url = await n.start(serve_monitoring, feed)   # "http://127.0.0.1:<port>"
        ...

Routes (GET or HEAD):

``/``
    The status page: a self-contained HTML page (no external resources) that refreshes
    itself every second from ``/api/websocket/status``.
``/api/websocket/status``
    :func:`status_report` as JSON: sources, latency percentiles, the active source per
    symbol, the latest switches and gaps.
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

from trio_feeds.ops.monitoring._app import create_app as create_app
from trio_feeds.ops.monitoring._app import health_json as health_json
from trio_feeds.ops.monitoring._app import serve_monitoring as serve_monitoring
from trio_feeds.ops.monitoring._app import status_page as status_page
from trio_feeds.ops.monitoring._collect import FeedCollector as FeedCollector
from trio_feeds.ops.monitoring._collect import SinkCollector as SinkCollector
from trio_feeds.ops.monitoring._collect import metrics_registry as metrics_registry
from trio_feeds.ops.monitoring._collect import sink_name as sink_name
from trio_feeds.ops.monitoring._status import status_report as status_report

__all__ = [
    "FeedCollector",
    "SinkCollector",
    "create_app",
    "health_json",
    "metrics_registry",
    "serve_monitoring",
    "sink_name",
    "status_page",
    "status_report",
]
