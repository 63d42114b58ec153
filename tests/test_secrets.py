"""Credentials in URLs never leave the engine: not in events, health, metrics, log lines,
sink messages or recordings (the connections themselves use them)."""

from __future__ import annotations

import gzip
import logging
from pathlib import Path
from typing import Any

import pytest
import trio
from prometheus_client import generate_latest

import trio_feeds
from trio_feeds.core.redact import redact
from trio_feeds.ops.monitoring import health_json, metrics_registry
from trio_feeds.sinks import open_sink
from trio_feeds.testing import open_simulated_exchanges

WS_SECRET = "S3cret-ws-Pw"
REST_SECRET = "S3cret-rest-Tok"


def _with_password(url: str, secret: str) -> str:
    scheme, rest = url.split("://", 1)
    return f"{scheme}://alice:{secret}@{rest}"


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("wss://alice:pw@h:443/stream", "wss://alice:***@h:443/stream"),
        ("redis://:pw@127.0.0.1:6379/0", "redis://***@127.0.0.1:6379/0"),
        ("redis://token@h", "redis://***@h"),
        ("redis://:p@ss@h:1/0 broke", "redis://***@h:1/0 broke"),
        ("GET https://h/p?apiKey=k1&n=2&signature=s1", "GET https://h/p?apiKey=***&n=2&signature=***"),
        ("password=hunter2, token=abc", "password=***, token=***"),
        ("closed: 1008 Pong timeout", "closed: 1008 Pong timeout"),
        ("mail a@b.c, ws://h:1/a@b", "mail a@b.c, ws://h:1/a@b"),
    ],
)  # fmt: skip
def test_redact(text: str, shown: str) -> None:
    assert redact(text) == shown


async def test_a_password_in_the_urls_appears_nowhere(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Real loopback: connect, drop, a refused handshake, an untrusted TLS certificate, a
    REST snapshot; everything the feed shows or stores is searched for the secrets."""
    caplog.set_level(logging.DEBUG)
    recording = tmp_path / "feed.tfrec.gz"
    sink_file = tmp_path / "sink.jsonl"
    items: list[Any] = []
    async with open_simulated_exchanges(["BTC-USDT"], seed=2, rate=20.0, tls=True) as sims:
        urls = {"binance": _with_password(sims.urls["binance"], WS_SECRET)}
        rest = {"binance": _with_password(sims.rest_urls["binance"], REST_SECRET)}
        async with (
            trio_feeds.record(
                recording, ["binance"], ["BTC-USDT"], ["trade", "book"], urls=urls,
                rest_urls=rest, ssl_context=sims.ssl_context, clock=sims.clock,
                reconnect_delay=0.05, max_reconnect_delay=0.2,
            ) as feed,
            open_sink(str(sink_file)) as sink,
        ):  # fmt: skip
            registry = metrics_registry(feed)

            async def consume() -> None:
                async for item in feed:
                    items.append(item)
                    await sink.send_many([item])

            async with trio.open_nursery() as nursery:
                nursery.start_soon(consume)
                await trio.sleep(1.5)
                sims.binance.fail_tls("certificate")
                sims.binance.drop()
                await trio.sleep(1.0)
                sims.binance.refuse_connections(1, status=503)
                sims.binance.drop()
                await trio.sleep(1.5)
                health = health_json(feed.health())
                metrics = generate_latest(registry)
                nursery.cancel_scope.cancel()
    states = {(x.state, x.reason) for x in items if x.kind == "source"}
    assert ("connected", "") in states
    assert ("disconnected", "handshake_rejected") in states
    assert ("disconnected", "tls_certificate") in states
    assert any(x.kind == "book" for x in items), "the REST snapshot was fetched"
    connected = next(x for x in items if x.kind == "source" and x.state == "connected")
    assert "alice:***@" in connected.detail
    shown = {
        "events": "\n".join(repr(x) for x in items),
        "health": health.decode(),
        "last_error": str(feed.sources["binance"].last_error),
        "metrics": metrics.decode(),
        "log": caplog.text,
        "sink": sink_file.read_text(),
        "recording": gzip.decompress(recording.read_bytes()).decode(),
    }
    for where, text in shown.items():
        for secret in (WS_SECRET, REST_SECRET):
            assert secret not in text, f"{secret} in the {where}"
    assert "alice:***@" in shown["recording"]
