"""The HTTP monitor: a real socket on loopback, read with httpx, beside a simulated feed."""

from __future__ import annotations

import math
import platform
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import urlsplit

import httpx
import pytest
import trio
from prometheus_client import REGISTRY, generate_latest
from prometheus_client.parser import text_string_to_metric_families

import trio_feeds
from trio_feeds.engine.stats import LATENCY_BUCKETS, BucketCounts
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
            **sims.feed_kwargs(),  # REST too: backfill fetches missed trades there
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
        assert families["trio_feeds_lag_seconds"].type == "histogram"
        assert ("trio_feeds_lag_seconds_count", (("exchange", "okx"),)) in samples
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


Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def _samples(text: str) -> tuple[dict[str, str], Samples]:
    families = list(text_string_to_metric_families(text))
    types = {f.name: f.type for f in families}
    values = {
        (s.name, tuple(sorted(s.labels.items()))): s.value for f in families for s in f.samples
    }
    return types, values


def _histogram_ok(values: Samples, name: str, exchange: str) -> list[tuple[float, float]]:
    """The cumulative buckets of one histogram series, checked for consistency."""
    buckets = sorted(
        (float(dict(labels)["le"]), v)
        for (n, labels), v in values.items()
        if n == f"{name}_bucket" and dict(labels)["exchange"] == exchange
    )
    assert buckets, f"no {name} buckets for {exchange}"
    assert buckets[0][0] == 0.0005 and buckets[-2][0] == 10.0 and buckets[-1][0] == math.inf
    counts = [v for _, v in buckets]
    assert counts == sorted(counts), "bucket counts must be cumulative"
    assert counts[-1] == values[f"{name}_count", (("exchange", exchange),)]
    assert values[f"{name}_sum", (("exchange", exchange),)] >= 0.0
    return buckets


async def test_metrics_after_a_failover_run_have_the_right_types_and_values() -> None:
    """Lag and ping round trips are histograms (no ``quantile`` label on gauges); records per
    (exchange, channel), source switches per (from, to, reason), failover failures and the
    build info are counted; everything parses with prometheus_client's own parser."""
    async with monitored_feed(stale_after=1.0, reconnect_delay=0.5, heartbeat_interval=0.2) as (
        sims,
        feed,
        url,
    ):
        await wait_until_healthy(feed)
        await trio.sleep(0.5)
        sims.binance.refuse_connections(100)
        sims.binance.drop()
        with trio.fail_after(10):
            while feed.active_source != "okx":  # noqa: ASYNC110
                await trio.sleep(0.02)
        sims.okx.refuse_connections(100)
        sims.okx.drop()
        with trio.fail_after(10):
            while feed.counters.failover_failures == 0:  # noqa: ASYNC110
                await trio.sleep(0.02)
        async with httpx.AsyncClient(base_url=url) as http:
            r = await http.get("/metrics")
        assert r.status_code == 200
        types, values = _samples(r.text)
        # the same registry, read without a checkpoint: exact against the feed's own counts
        exact_types, exact = _samples(generate_latest(metrics_registry(feed)).decode())
        counters = feed.counters
        sources = {name: feed.sources[name] for name in ("binance", "okx")}
    assert types == exact_types
    for name in ("trio_feeds_lag_seconds", "trio_feeds_rtt_seconds"):
        assert types[name] == "histogram", name
    for name, kind in types.items():
        if kind == "gauge":
            assert not any("quantile" in dict(labels) for n, labels in values if n == name), (
                f"{name}: a gauge with a quantile label"
            )
    for exchange, source in sources.items():
        lag = _histogram_ok(exact, "trio_feeds_lag_seconds", exchange)
        assert lag[-1][1] == source.latency.lag_buckets.count > 0
        rtt = _histogram_ok(exact, "trio_feeds_rtt_seconds", exchange)
        assert rtt[-1][1] == source.latency.rtt_buckets.count > 0  # pings every 0.2 s
        # every ping round trip on loopback is far below 1 s
        assert dict(rtt)[1.0] == rtt[-1][1]
        _histogram_ok(values, "trio_feeds_lag_seconds", exchange)
        # records per (exchange, channel) add up to the messages received
        per_channel = {
            dict(labels)["channel"]: v
            for (n, labels), v in exact.items()
            if n == "trio_feeds_records_total" and dict(labels)["exchange"] == exchange
        }
        assert set(per_channel) == {"trade", "quote"}
        assert all(v > 0 for v in per_channel.values())
        assert per_channel["trade"] == counters.records[exchange]["trade"]
        assert sum(per_channel.values()) == source.messages
        assert exact["trio_feeds_messages_total", (("exchange", exchange),)] == source.messages
    assert types["trio_feeds_records"] == "counter"
    assert types["trio_feeds_source_switches"] == "counter"
    assert types["trio_feeds_failover_failures"] == "counter"
    switches = {
        tuple(dict(labels)[k] for k in ("from", "to", "reason")): v
        for (n, labels), v in exact.items()
        if n == "trio_feeds_source_switches_total"
    }
    assert switches[("binance", "okx", "disconnected")] == 1.0
    assert sum(switches.values()) == len(feed.switches)
    assert exact["trio_feeds_failover_failures_total", ()] == 1.0
    assert types["trio_feeds_build_info"] == "gauge"
    info = {labels: v for (n, labels), v in values.items() if n == "trio_feeds_build_info"}
    expected = (("python", platform.python_version()), ("version", trio_feeds.__version__))
    assert info == {expected: 1.0}


def test_bucket_counts_follow_prometheus_le_semantics() -> None:
    counts = BucketCounts((0.001, 0.01, 1.0))
    for v in (0.0, 0.001, 0.0011, 0.01, 0.5, 1.0, 7.0, 7.0):
        counts.observe(v)
    # a sample equal to a bound is in that bound's bucket ("less or equal")
    assert counts.cumulative() == [(0.001, 2), (0.01, 4), (1.0, 6), (math.inf, 8)]
    assert counts.count == 8
    assert counts.sum == pytest.approx(0.0 + 0.001 + 0.0011 + 0.01 + 0.5 + 1.0 + 14.0)
    assert LATENCY_BUCKETS[0] == 0.0005 and LATENCY_BUCKETS[-1] == 10.0
