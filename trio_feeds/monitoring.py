"""Prometheus metrics and a health endpoint for a running feed.

Kept at this documented path; the code is in :mod:`trio_feeds.ops.monitoring`.
"""

from trio_feeds.ops.monitoring import FeedCollector as FeedCollector
from trio_feeds.ops.monitoring import SinkCollector as SinkCollector
from trio_feeds.ops.monitoring import create_app as create_app
from trio_feeds.ops.monitoring import health_json as health_json
from trio_feeds.ops.monitoring import metrics_registry as metrics_registry
from trio_feeds.ops.monitoring import serve_monitoring as serve_monitoring

__all__ = [
    "FeedCollector",
    "SinkCollector",
    "create_app",
    "health_json",
    "metrics_registry",
    "serve_monitoring",
]
