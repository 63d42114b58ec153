"""Record a feed's transport against the simulated exchanges, replay it through the same
pipeline, and get the same records back.

What is guaranteed: the replayed connections deliver the recorded chunks in the recorded
global order, one at a time, each after the engine has finished with the previous one; every
record parsed from a chunk carries that chunk's recorded receive time.  So records per
exchange and kind are identical, in the same order.  The order across connections is the
recorded one too, except where the engine's own timers decide something (which source is
active in ``conflict="primary"`` with failover, stale watchdogs): those run on the replaying
machine's clock.  The tests below assert the whole data-record list where no such timer
decides anything, and per (exchange, kind) lists otherwise.
"""

from __future__ import annotations

import gzip
import time
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import pytest
import trio

import trio_feeds
from trio_feeds import ConfigError
from trio_feeds.testing import open_simulated_exchanges

DATA = {"trade", "quote", "ticker", "book", "candle", "book_delta"}


def data(items: list[Any]) -> list[Any]:
    return [x for x in items if x.kind in DATA]


def by_exchange_kind(items: list[Any]) -> dict[tuple[str, str], list[Any]]:
    out: dict[tuple[str, str], list[Any]] = {}
    for x in data(items):
        out.setdefault((x.exchange, x.kind), []).append(x)
    return out


async def record_run(
    path: Path,
    *,
    channels: tuple[str, ...] = ("trade", "quote"),
    memory: bool = True,
    seconds: float = 3.0,
    drop: bool = True,
    **options: Any,
) -> list[Any]:
    """Record a feed on the simulators; return everything the recorded feed yielded."""
    got: list[Any] = []
    async with open_simulated_exchanges(["BTC-USDT", "ETH-USDT"], memory=memory, rate=40) as sims:
        extra: dict[str, Any] = {"urls": sims.urls, "rest_urls": sims.rest_urls, "seed": 7}
        if memory:
            extra.update(
                connector=sims.connector, http_transport=sims.http_transport, clock=sims.clock
            )
        async with trio_feeds.record(
            path, ["binance", "okx"], ["BTC-USDT", "ETH-USDT"], channels, **extra, **options
        ) as feed:
            with trio.move_on_after(seconds):
                async for item in feed:
                    got.append(item)  # noqa: PERF401 - keep what came before the timeout
            if drop:
                sims.binance.drop()  # a reconnect (and gaps) inside the recording
                with trio.move_on_after(seconds / 2):
                    async for item in feed:
                        got.append(item)  # noqa: PERF401
            # what the engine read but we did not consume yet is in the recording too
            while True:
                try:
                    got.append(feed.receive_nowait())
                except trio.WouldBlock:
                    break
    return got


async def test_replay_yields_the_recorded_records(tmp_path: Path, autojump_clock: Any) -> None:
    path = tmp_path / "run.tfrec.gz"
    recorded = await record_run(path, channels=("trade", "quote", "book"), conflict="latest")
    async with trio_feeds.replay(path) as feed:
        replayed = await feed.collect()
        assert feed.replay.skipped == 0
        assert feed.replay.connections == 3  # binance, okx, and binance again after the drop
    kinds = Counter((x.exchange, x.kind) for x in data(recorded))
    assert all(kinds[ex, k] > 5 for ex in ("binance", "okx") for k in ("trade", "quote", "book"))
    # same records (attrs equality: every field, received_at included), same order
    assert by_exchange_kind(replayed) == by_exchange_kind(recorded)
    assert data(replayed) == data(recorded)
    # the reconnect is replayed too: same gaps, same source events
    assert [g for g in replayed if g.kind == "gap"] == [g for g in recorded if g.kind == "gap"]
    # per exchange (their order across exchanges is decided by the scheduler, not by a chunk)
    for ex in ("binance", "okx"):
        states = [x.state for x in replayed if x.kind == "source" and x.exchange == ex]
        assert states == [x.state for x in recorded if x.kind == "source" and x.exchange == ex]


async def test_primary_without_failover_replays_exactly(
    tmp_path: Path, autojump_clock: Any
) -> None:
    path = tmp_path / "primary.tfrec.gz"
    recorded = await record_run(path, failover=False, drop=False)
    async with trio_feeds.replay(path) as feed:
        replayed = await feed.collect()
    assert data(recorded) and {x.exchange for x in data(recorded)} == {"binance"}
    assert data(replayed) == data(recorded)


async def test_low_level_api_with_open_feed(tmp_path: Path, autojump_clock: Any) -> None:
    path = tmp_path / "low.tfrec.gz"
    recorded = await record_run(path, drop=False, conflict="average")
    async with trio_feeds.open_replay(path) as rp:
        assert rp.feed_args["conflict"] == "average"
        async with trio_feeds.open_feed(
            ["binance", "okx"],
            ["BTC-USDT", "ETH-USDT"],
            ["trade", "quote"],
            conflict="average",
            connector=rp.connector,
            http_transport=rp.transport,
            clock=rp.clock,
            heartbeat_interval=25,
            pong_timeout=1e6,
            buffer_size=10**9,
        ) as feed:
            replayed = []
            while True:
                try:
                    replayed.append(feed.receive_nowait())
                    continue
                except trio.WouldBlock:
                    if rp.finished.is_set():
                        break
                with trio.move_on_after(0.05):
                    replayed.append(await feed.receive())
            # the replay clock answers with recorded times
            assert feed.health().sources["okx"].last_update == max(
                x.received_at for x in data(recorded) if "okx" in x.exchange
            )
    assert by_exchange_kind(replayed) == by_exchange_kind(recorded)


async def test_tcp_recording_replayed_at_recorded_speed(tmp_path: Path) -> None:
    path = tmp_path / "tcp.tfrec.gz"
    recorded = await record_run(path, memory=False, seconds=1.0, drop=False, conflict="latest")
    entries = await trio.to_thread.run_sync(trio_feeds.ops.recording.load_recording, path)
    span = entries[-1]["t"] - min(e["t"] for e in entries[1:])
    start = time.monotonic()
    async with trio_feeds.replay(path, speed=1.0) as feed:
        replayed = await feed.collect()
    elapsed = time.monotonic() - start
    assert elapsed >= span * 0.8, (elapsed, span)
    assert by_exchange_kind(replayed) == by_exchange_kind(recorded)
    # as fast as possible: the same, much sooner
    start = time.monotonic()
    async with trio_feeds.replay(path) as feed:
        fast = await feed.collect()
    assert time.monotonic() - start < elapsed
    assert by_exchange_kind(fast) == by_exchange_kind(recorded)


async def test_file_format(tmp_path: Path, autojump_clock: Any) -> None:
    path = tmp_path / "fmt.tfrec.gz"
    await record_run(path, seconds=0.5, drop=False)
    with gzip.open(path, "rb") as f:
        entries = [orjson.loads(line) for line in f]
    header = entries[0]
    assert header["type"] == "header" and header["version"] == 1
    assert header["feed"]["exchanges"] == ["binance", "okx"]
    assert header["feed"]["seed"] == 7
    assert "connector" not in header["feed"] and "clock" not in header["feed"]
    types = Counter(e["type"] for e in entries)
    assert types["open"] == 2 and types["chunk"] > 10 and types["end"] == 1
    opens = [e for e in entries if e["type"] == "open"]
    assert {e["url"].rsplit("/", 1)[-1] for e in opens} == {"stream", "public"}
    chunk = next(e for e in entries if e["type"] == "chunk")
    assert isinstance(chunk["t"], float) and isinstance(chunk["conn"], int)
    assert b"HTTP/1.1 101" in __import__("base64").b64decode(chunk["data"])
    times = [e["t"] for e in entries[1:]]
    assert times == sorted(times)


async def test_bad_recordings(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read the recording"):
        async with trio_feeds.replay(tmp_path / "missing.gz"):
            pass  # pragma: no cover
    other = tmp_path / "other.gz"
    with gzip.open(other, "wb") as f:
        f.write(b'{"type": "chunk"}\n')
    with pytest.raises(ConfigError, match="not a trio_feeds recording"):
        async with trio_feeds.replay(other):
            pass  # pragma: no cover
    with pytest.raises(ConfigError, match="speed"):
        trio_feeds.Replay([{"type": "header", "version": 1, "feed": {}}], speed=0)
