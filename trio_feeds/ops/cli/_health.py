"""``trio-feeds health``: ask a running monitor; exit 0 healthy, 1 unhealthy, 2 no answer."""

from __future__ import annotations

import argparse
import json
import math
import sys
from typing import Any

from trio_feeds.core.redact import redact

HEALTH_PATH = "/api/websocket/health"
#: the monitor's routes: a URL ending in one of them is taken as the monitor's base + route
_ROUTES = (
    HEALTH_PATH, "/api/websocket/sources", "/api/websocket/active-source",
    "/api/websocket/status", "/metrics", "/index.html",
)  # fmt: skip


def health_url(url: str) -> str:
    """The health endpoint for what a user gives ``--url``: the monitor's base URL
    (``http://127.0.0.1:8000``), any of its endpoint URLs (what ``stream`` prints), or
    ``host:port`` without a scheme."""
    text = url.strip()
    if "://" not in text:
        text = "http://" + text
    base, _, query = text.partition("?")
    base = base.rstrip("/")
    for route in _ROUTES:
        if base.endswith(route):
            base = base[: -len(route)]
            break
    return base + HEALTH_PATH + (f"?{query}" if query else "")


def _health(args: argparse.Namespace) -> int:
    import httpx

    url = health_url(args.url)
    shown = redact(url)
    try:
        response = httpx.get(url, timeout=args.timeout)
    except httpx.HTTPError as exc:
        print(f"trio-feeds: cannot read {shown}: {redact(exc) or type(exc).__name__}",
              file=sys.stderr)  # fmt: skip
        return 2
    except Exception as exc:  # e.g. a malformed --url (httpx raises several kinds)
        print(f"trio-feeds: cannot read {shown}: {type(exc).__name__}: {redact(exc)}",
              file=sys.stderr)  # fmt: skip
        return 2
    status = response.status_code
    if status not in (200, 503):
        phrase = getattr(response, "reason_phrase", "") or ""
        print(f"trio-feeds: {shown} answered HTTP {status} {phrase}".rstrip()
              + " (a trio_feeds monitor answers 200 or 503)", file=sys.stderr)  # fmt: skip
        return 2
    try:
        data = response.json()
    except ValueError as exc:
        print(f"trio-feeds: {shown} did not answer JSON (HTTP {status}): {redact(exc)}",
              file=sys.stderr)  # fmt: skip
        return 2
    problem = _health_problem(data)
    if problem is not None:
        print(f"trio-feeds: {shown} did not answer a trio_feeds health report: {problem}",
              file=sys.stderr)  # fmt: skip
        return 2
    healthy = data["healthy"]
    if args.json:
        print(json.dumps(data, indent=2))
    else:
        from rich.console import Console
        from rich.markup import escape
        from rich.table import Table

        title = f"{args.url} — healthy: {healthy}, active: {data.get('active_source')}"
        table = Table(title=escape(redact(title)))
        for col in ("source", "state", "connected", "latency ms", "messages", "errors",
                    "reconnects", "gaps", "last error"):  # fmt: skip
            table.add_column(col)
        for name, st in (data.get("sources") or {}).items():
            lat = st.get("latency")
            row = [
                name, st.get("state"), st.get("connected"),
                f"{lat * 1000:.2f}" if lat is not None else "-",
                st.get("messages_received"), st.get("errors"), st.get("reconnects"),
                st.get("gaps"), st.get("last_error") or "",
            ]  # fmt: skip
            table.add_row(*(escape(redact(x if isinstance(x, str) else str(x))) for x in row))
        Console(width=None if sys.stdout.isatty() else 140).print(table)
    return 0 if healthy else 1


def _health_problem(data: Any) -> str | None:
    """What makes ``data`` unusable as a health report (None: fine)."""
    if not isinstance(data, dict):
        return f"expected a JSON object, got {type(data).__name__}"
    if not isinstance(data.get("healthy"), bool):
        return f"'healthy' must be true or false, got {data.get('healthy')!r:.60}"
    sources = data.get("sources")
    if sources is None:
        return None
    if not isinstance(sources, dict):
        return f"'sources' must be an object, got {type(sources).__name__}"
    for name, st in sources.items():
        if not isinstance(st, dict):
            return f"source {name!r:.40} must be an object, got {type(st).__name__}"
        lat = st.get("latency")
        if lat is not None and (
            isinstance(lat, bool) or not isinstance(lat, (int, float)) or not math.isfinite(lat)
        ):
            return f"source {name!r:.40}: 'latency' must be a number, got {lat!r:.40}"
    return None
