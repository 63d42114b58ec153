"""Prometheus metrics, a health endpoint and a status page for a running feed.

Kept at this documented path; the code is in :mod:`trio_feeds.ops.monitoring`.
"""

from trio_feeds.ops.monitoring import FeedCollector as FeedCollector
from trio_feeds.ops.monitoring import SinkCollector as SinkCollector
from trio_feeds.ops.monitoring import create_app as create_app
from trio_feeds.ops.monitoring import health_json as health_json
from trio_feeds.ops.monitoring import metrics_registry as metrics_registry
from trio_feeds.ops.monitoring import serve_monitoring as serve_monitoring
from trio_feeds.ops.monitoring import status_page as status_page
from trio_feeds.ops.monitoring import status_report as status_report

__all__ = [
    "FeedCollector",
    "SinkCollector",
    "create_app",
    "health_json",
    "metrics_registry",
    "serve_monitoring",
    "status_page",
    "status_report",
]
