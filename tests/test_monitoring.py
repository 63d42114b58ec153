"""The HTTP monitor: a real socket on loopback, read with httpx, beside a simulated feed."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import urlsplit

import httpx
import pytest
import trio
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

import trio_feeds
from trio_feeds.ops.monitoring import metrics_registry, serve_monitoring
from trio_feeds.testing import SimulatedExchanges, open_simulated_exchanges


@asynccontextmanager
async def monitored_feed(
    **options: object,
) -> AsyncIterator[tuple[SimulatedExchanges, trio_feeds.Feed, str]]:
    async with (
        open_simulated_exchanges(["BTC-USDT"], memory=True, rate=40) as sims,
        trio_feeds.open_feed(
            ["binance", "okx"],
            ["BTC-USDT"],
            ["trade", "quote"],
            urls=sims.urls,
            connector=sims.connector,
            clock=sims.clock,
            **options,  # type: ignore[arg-type]
        ) as feed,
        trio.open_nursery() as nursery,
    ):

        async def consume() -> None:
            async for _ in feed:
                pass

        nursery.start_soon(consume)
        url = await nursery.start(serve_monitoring, feed)
        yield sims, feed, url
        nursery.cancel_scope.cancel()


def _both_streaming(feed: trio_feeds.Feed) -> bool:
    health = feed.health()
    return (
        health.healthy
        and health.connected_sources == 2
        and all(s.messages_received > 0 for s in health.sources.values())
    )


async def wait_until_healthy(feed: trio_feeds.Feed) -> None:
    """Connected is not enough: wait until both sources have delivered data."""
    with trio.fail_after(10):
        while not _both_streaming(feed):  # noqa: ASYNC110
            await trio.sleep(0.02)


async def test_health_sources_and_active_source_over_http() -> None:
    async with monitored_feed() as (_sims, feed, url):
        parts = urlsplit(url)
        assert parts.hostname == "127.0.0.1" and parts.port and parts.port > 0
        await wait_until_healthy(feed)
        async with httpx.AsyncClient(base_url=url) as http:
            r = await http.get("/api/websocket/health")
            assert r.status_code == 200
            assert r.headers["content-type"] == "application/json"
            health = r.json()
            assert health["healthy"] is True
            assert health["active_source"] == "binance"
            assert health["connected_sources"] == 2 and health["total_sources"] == 2
            assert set(health["sources"]) == {"binance", "okx"}
            assert health["sources"]["binance"]["state"] == "streaming"

            r = await http.get("/api/websocket/sources")
            sources = r.json()
            assert sources["okx"]["connected"] is True
            assert sources["okx"]["messages_received"] > 0

            r = await http.get("/api/websocket/active-source")
            assert r.json() == {"active_source": "binance", "healthy": True}

            assert (await http.get("/nope")).status_code == 404
            assert (await http.post("/api/websocket/health")).status_code == 405
            head = await http.head("/api/websocket/health")
            assert head.status_code == 200 and head.content == b""


async def test_unhealthy_is_503_and_failover_shows_in_active_source() -> None:
    async with monitored_feed(stale_after=1.0, reconnect_delay=0.5) as (sims, feed, url):
        await wait_until_healthy(feed)
        sims.binance.refuse_connections(100)
        sims.binance.drop()
        async with httpx.AsyncClient(base_url=url) as http:
            with trio.fail_after(5):
                active = ""
                while active != "okx":
                    r = await http.get("/api/websocket/active-source")
                    active = r.json()["active_source"]
                    await trio.sleep(0.05)
            sources = (await http.get("/api/websocket/sources")).json()
            assert sources["binance"]["connected"] is False
            metrics = (await http.get("/metrics")).text
            assert 'trio_feeds_active_source{exchange="okx"} 1.0' in metrics
            assert 'trio_feeds_active_source{exchange="binance"} 0.0' in metrics
            assert "trio_feeds_connected_sources 1.0" in metrics
            sims.okx.refuse_connections(100)
            sims.okx.drop()
            with trio.fail_after(5):
                status = 200
                while status != 503:
                    r = await http.get("/api/websocket/health")
                    status = r.status_code
                    await trio.sleep(0.05)
            assert r.json()["healthy"] is False


async def test_prometheus_metrics() -> None:
    async with monitored_feed() as (_sims, feed, url):
        await wait_until_healthy(feed)
        await trio.sleep(0.3)
        async with httpx.AsyncClient(base_url=url) as http:
            r = await http.get("/metrics")
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/plain")
        families = {f.name: f for f in text_string_to_metric_families(r.text)}
        for name in (
            "trio_feeds_messages", "trio_feeds_errors", "trio_feeds_reconnects", "trio_feeds_gaps",
            "trio_feeds_dropped", "trio_feeds_lag_seconds", "trio_feeds_active_source",
            "trio_feeds_connected_sources", "trio_feeds_source_connected", "trio_feeds_healthy",
            "trio_feeds_latency_seconds", "trio_feeds_clock_offset_seconds",
        ):  # fmt: skip
            assert name in families, name
        samples = {
            (s.name, tuple(sorted(s.labels.items()))): s.value
            for f in families.values()
            for s in f.samples
        }
        assert samples["trio_feeds_messages_total", (("exchange", "binance"),)] > 0
        assert samples["trio_feeds_messages_total", (("exchange", "okx"),)] > 0
        assert samples["trio_feeds_active_source", (("exchange", "binance"),)] == 1.0
        assert samples["trio_feeds_connected_sources", ()] == 2.0
        assert samples["trio_feeds_healthy", ()] == 1.0
        assert ("trio_feeds_lag_seconds", (("exchange", "okx"), ("quantile", "0.5"))) in samples
        health = feed.health()
        assert health.sources["okx"].lag is not None
        offset = health.sources["okx"].clock_offset
        assert offset is not None
        scraped = samples["trio_feeds_clock_offset_seconds", (("exchange", "okx"),)]
        assert abs(scraped - offset) < 0.05


async def test_each_feed_has_its_own_registry() -> None:
    async with monitored_feed() as (_sims, feed, _url):
        a, b = metrics_registry(feed), metrics_registry(feed)
        assert a is not b and a is not REGISTRY
        assert REGISTRY.get_sample_value("trio_feeds_connected_sources") is None
        assert a.get_sample_value("trio_feeds_total_sources") == 2.0


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
async def test_binds_where_told(host: str) -> None:
    async with (
        open_simulated_exchanges(["BTC-USDT"], memory=True) as sims,
        trio_feeds.open_feed(
            ["binance"],
            ["BTC-USDT"],
            urls={"binance": sims.urls["binance"]},
            connector=sims.connector,
        ) as feed,
        trio.open_nursery() as nursery,
    ):
        url = await nursery.start(serve_monitoring, feed, host, 0)
        async with httpx.AsyncClient() as http:
            r = await http.get(url + "/api/websocket/active-source")
        assert r.status_code == 200
        nursery.cancel_scope.cancel()
