"""The monitor's ASGI app and server: health JSON, the status page and its JSON, metrics."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from importlib import resources
from typing import Any

import attrs
import orjson
import trio
from hypercorn.config import Config
from hypercorn.trio import serve
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from trio_feeds.engine.stats import Health
from trio_feeds.feed.feed import Feed
from trio_feeds.ops.monitoring._collect import metrics_registry
from trio_feeds.ops.monitoring._status import MessageRates, status_report
from trio_feeds.sinks._base import Sink

__all__ = ["PAGE_CSP", "create_app", "health_json", "serve_monitoring", "status_page"]

logger = logging.getLogger("trio_feeds.ops.monitoring")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: the status page's Content-Security-Policy: its own inline script and style, requests to
#: the monitor itself only (no CDN, nothing from elsewhere: it works offline)
PAGE_CSP = (
    "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
    "connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'"
)


def status_page() -> bytes:
    """The status page: one self-contained HTML document (inline CSS and JavaScript) that
    fetches ``api/websocket/status`` every second and shows it."""
    return resources.files("trio_feeds.ops.monitoring").joinpath("status.html").read_bytes()


def health_json(health: Health) -> bytes:
    """:class:`~trio_feeds.Health` as JSON bytes."""
    return orjson.dumps(health.to_dict())


def create_app(feed: Feed, registry: CollectorRegistry | None = None) -> ASGIApp:
    """The monitor's ASGI application for ``feed`` (``registry``: default
    :func:`metrics_registry`)."""
    reg = registry if registry is not None else metrics_registry(feed)
    page = status_page()
    rates = MessageRates()

    def status() -> bytes:
        report = status_report(feed)
        counts = {s["name"]: s["messages"] for s in report["sources"]}
        per_second = rates.update(trio.current_time(), counts)
        for s in report["sources"]:
            s["msg_rate"] = per_second[s["name"]]
        return orjson.dumps(report)

    def route(path: str) -> tuple[int, bytes, bytes]:
        if path in ("/", "/index.html"):
            return 200, b"text/html; charset=utf-8", page
        if path == "/api/websocket/status":
            return 200, b"application/json", status()
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
            if ctype.startswith(b"text/html"):
                extra.append((b"content-security-policy", PAGE_CSP.encode()))
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
