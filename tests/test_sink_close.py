"""Leaving ``open_sink`` under an outer cancel flushes within ``close_timeout``; a sink that
cannot deliver says so (stats summary, metrics).

Redis tests use a real redis-server on a loopback ephemeral port (skipped without one,
except in CI)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import trio
import trio.lowlevel
from redis_server import INSTALL_HINT, RedisServer, redis_server_path

from trio_feeds import Item, Trade
from trio_feeds.sinks import SinkStats, iter_jsonl, open_redis, open_sink, read_stream

pytestmark = pytest.mark.timeout(90)


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    if redis_server_path() is None:
        if os.environ.get("CI"):
            pytest.fail(INSTALL_HINT)
        pytest.skip(INSTALL_HINT)
    server = RedisServer(tmp_path / "redis", persist=False)
    server.start()
    yield server
    server.stop()


def trades(n: int, start: int = 0) -> list[Item]:
    return [
        Trade("binance", "BTC-USDT", 1_700_000_000_000 + i, 1.5, 100.0 + i, 0.1, "buy", str(i))
        for i in range(start, start + n)
    ]


async def read_all(url: str) -> list[Item]:
    async with open_redis(url) as redis:
        keys = sorted(k.decode() for k in await redis.keys("trio_feeds:*"))
        if not keys:
            return []
        return [x async for x in read_stream(redis, keys, idle_timeout=0.2)]


async def _produce(sink: Any, sent: list[Item], batch: int) -> None:
    """Send batches as fast as the sink takes them, until cancelled."""
    i = 0
    while True:
        items = trades(batch, i)
        sent.extend(items)  # handed over: a cancel inside send_many must not lose them
        await sink.send_many(items)
        i += batch
        await trio.lowlevel.checkpoint()


@pytest.mark.parametrize("run", range(9))
async def test_redis_outer_cancel_flushes_everything(redis_server: RedisServer, run: int) -> None:
    """An outer cancel lands while the sink is busy: what was handed to it reaches Redis."""
    sent: list[Item] = []
    stats: SinkStats | None = None
    with trio.CancelScope() as outer:
        async with open_sink(
            redis_server.url, batch_size=50 + 20 * run, close_timeout=30
        ) as sink, trio.open_nursery() as nursery:  # fmt: skip
            stats = sink.stats
            nursery.start_soon(_produce, sink, sent, 7 + run)
            while len(sent) < 40 * (run + 1):
                await trio.lowlevel.checkpoint()
            await trio.sleep(0.002 * run)
            outer.cancel()
    assert outer.cancelled_caught
    assert stats is not None and sent
    assert stats.dropped == 0, stats
    assert stats.sent == stats.received == len(sent)
    assert await read_all(redis_server.url) == sent


async def test_redis_outer_cancel_is_bounded_by_close_timeout(tmp_path: Path) -> None:
    """Redis down: the flush gives up after close_timeout and counts the unsent."""
    server = RedisServer(tmp_path / "down")  # never started
    with trio.move_on_after(0.1) as scope:
        async with open_sink(server.url, close_timeout=0.5, reconnect_delay=0.05) as sink:
            await sink.send_many(trades(20))
            await trio.sleep_forever()
    assert scope.cancelled_caught
    assert sink.stats.dropped == 20 and sink.stats.sent == 0
    assert sink.stats.errors >= 1 and sink.stats.last_error


async def test_jsonl_outer_cancel_under_mock_clock(tmp_path: Path, autojump_clock: Any) -> None:
    """Every batch handed to the file sink is in the file and counted as sent, whatever the
    moment the cancel lands (the autojump clock runs on while a worker thread writes)."""
    for run in range(9):
        path = tmp_path / f"out{run}.jsonl"
        sent: list[Item] = []
        with trio.move_on_after(0.001 * (run + 1)):
            async with open_sink(str(path)) as sink:
                await _produce(sink, sent, batch=5 + run)
        stats = sink.stats
        assert stats.dropped == 0, stats
        assert stats.sent == stats.received == len(sent) > 0
        assert list(iter_jsonl(path)) == sent


async def test_sink_metrics_and_summary(tmp_path: Path) -> None:
    from prometheus_client import CollectorRegistry, generate_latest

    from trio_feeds.ops.monitoring import SinkCollector

    sinks: list[Any] = []
    registry = CollectorRegistry(auto_describe=False)
    registry.register(SinkCollector(sinks))
    secret = "hunter2-sink-secret"
    down = RedisServer(tmp_path / "down")  # never started: the sink stays down
    url = f"redis://:{secret}@127.0.0.1:{down.port}/0"
    async with (
        open_sink(str(tmp_path / "ok.jsonl")) as ok,
        open_sink(url, close_timeout=0.1, reconnect_delay=0.05) as bad,
    ):
        sinks += [ok, bad]
        await ok.send_many(trades(3))
        await bad.send_many(trades(4))
        await trio.sleep(0.2)
        text = generate_latest(registry).decode()
    assert secret not in text
    ok_name = str(tmp_path / "ok.jsonl")
    assert f'trio_feeds_sink_sent_total{{sink="{ok_name}"}} 3.0' in text
    assert f'trio_feeds_sink_up{{sink="{ok_name}"}} 1.0' in text
    bad_label = f'sink="redis://***@127.0.0.1:{down.port}/0"'
    assert f"trio_feeds_sink_up{{{bad_label}}} 0.0" in text
    assert f"trio_feeds_sink_buffered{{{bad_label}}} 4.0" in text
    errors = [
        x for x in text.splitlines() if x.startswith(f"trio_feeds_sink_errors_total{{{bad_label}")
    ]
    assert errors and float(errors[0].split()[-1]) >= 1
    # after the close: the account a person reads, and the verdict a command exits with
    assert ok.stats.summary() == "sent 3, dropped 0, errors 0" and not ok.stats.all_dropped
    assert bad.stats.summary().startswith("sent 0, dropped 4, errors ")
    assert "last error:" in bad.stats.summary() and bad.stats.all_dropped
    assert secret not in bad.stats.summary()
