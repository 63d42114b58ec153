"""Sinks without Redis: URLs, run_sink, the JSON-lines file sink, routing, sharding."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest
import trio

import trio_feeds
from trio_feeds import ConfigError, Gap, Item, SourceEvent, Trade
from trio_feeds.sinks import (
    JsonlFileSink,
    RedisStreamSink,
    Sink,
    SinkStats,
    iter_jsonl,
    make_sink,
    open_sink,
    read_jsonl,
    run_sink,
    shard_of,
    shard_symbols,
    stream_keys,
)
from trio_feeds.sinks._base import route


def trades(n: int, symbol: str = "BTC-USDT") -> list[Item]:
    return [
        Trade("binance", symbol, 1_700_000_000_000 + i, 1.5, 100.0 + i, 0.1, "sell", str(i))
        for i in range(n)
    ]


class ListSink:
    def __init__(self) -> None:
        self.batches: list[list[Item]] = []
        self._stats = SinkStats()

    @property
    def stats(self) -> SinkStats:
        return self._stats

    async def send_many(self, items: Sequence[Item]) -> None:
        self.batches.append(list(items))
        await trio.sleep(0.01)

    async def aclose(self) -> None:
        pass


# ---------------------------------------------------------------------------------- URLs


@pytest.mark.parametrize(
    "url",
    [
        "",
        "http://example.com/x",
        "redis://",
        "redis://127.0.0.1:6379/abc",
        "redis://127.0.0.1:99999",
        "redis://127.0.0.1:6379/0?nope=1",
        "redis://127.0.0.1:6379/0?maxlen=-5",
        "redis://127.0.0.1:6379/0?stream_template={exchange}:{nope}",
        "redis://127.0.0.1:6379/0?method=magic",
        "file://otherhost/x.jsonl",
        "s3://bucket/key",
    ],
)
def test_bad_urls_name_themselves(url: str) -> None:
    with pytest.raises(ConfigError) as info:
        make_sink(url)
    assert repr(url) in str(info.value)


def test_url_kinds(tmp_path: Path) -> None:
    s = make_sink("redis://127.0.0.1:6390/2?maxlen=500&buffer_size=10&method=pipeline")
    assert isinstance(s, RedisStreamSink)
    assert (s.url, s.maxlen, s.buffer_size, s.method) == (
        "redis://127.0.0.1:6390/2",
        500,
        10,
        "pipeline",
    )
    assert make_sink("redis://localhost").url == "redis://localhost:6379/0"  # type: ignore[union-attr]
    # keyword options win over the query
    assert make_sink("redis://h:1/0?maxlen=5", maxlen=7).maxlen == 7  # type: ignore[union-attr]
    f = make_sink(f"file://{tmp_path}/a.jsonl")
    assert isinstance(f, JsonlFileSink) and f.path == f"{tmp_path}/a.jsonl"
    assert make_sink("out/b.jsonl").path == "out/b.jsonl"  # type: ignore[union-attr]
    assert make_sink("-").path == "-"  # type: ignore[union-attr]
    assert isinstance(s, Sink) and isinstance(f, Sink)


async def test_unwritable_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no-such-dir"):
        async with open_sink(str(tmp_path / "no-such-dir" / "x.jsonl")):
            pass
    with pytest.raises(ConfigError, match="unexpected keyword"):
        make_sink("redis://127.0.0.1:1", maxlenn=3)
    with pytest.raises(ConfigError, match="unexpected keyword"):
        make_sink("x.jsonl", maxlen=3)


# ------------------------------------------------------------------------------ run_sink


async def test_run_sink_batches_what_is_buffered() -> None:
    send, receive = trio.open_memory_channel[Item](1000)
    sink = ListSink()
    items = trades(250)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(run_sink, receive, sink)
        for x in items[:100]:
            send.send_nowait(x)
        await trio.sleep(0.005)  # the first batch is being sent; 150 more arrive meanwhile
        for x in items[100:]:
            send.send_nowait(x)
        await trio.sleep(0.05)
        send.close()
    assert [x for b in sink.batches for x in b] == items
    assert len(sink.batches) == 2
    assert [len(b) for b in sink.batches] == [100, 150]


async def test_run_sink_max_batch() -> None:
    send, receive = trio.open_memory_channel[Item](1000)
    for x in trades(25):
        send.send_nowait(x)
    send.close()
    sink = ListSink()
    await run_sink(receive, sink, max_batch=10)
    assert [len(b) for b in sink.batches] == [10, 10, 5]
    with pytest.raises(ConfigError, match="max_batch"):
        await run_sink(receive, sink, max_batch=0)


# ------------------------------------------------------------------------- JSON lines


async def test_jsonl_round_trip_from_a_feed(tmp_path: Path, autojump_clock: object) -> None:
    from trio_feeds.testing import open_simulated_exchanges

    path = tmp_path / "feed.jsonl"
    async with (
        open_simulated_exchanges(["BTC-USDT"], seed=2, memory=True, rate=20) as sims,
        trio_feeds.open_feed(
            ["binance"],
            ["BTC-USDT"],
            ["trade", "quote", "book", "candle"],
            urls={"binance": sims.urls["binance"]},
            rest_urls={"binance": sims.rest_urls["binance"]},
            connector=sims.connector,
            http_transport=sims.http_transport,
            clock=sims.clock,
        ) as feed,
        open_sink(f"file://{path}") as sink,
    ):
        # Until enough is written, not for a fixed (virtual) time: the file sink writes in
        # a worker thread, and the autojump clock runs on while that thread works.
        async with trio.open_nursery() as nursery:
            nursery.start_soon(run_sink, feed, sink)
            with trio.fail_after(600):
                while sink.stats.sent <= 50:  # noqa: ASYNC110
                    await trio.sleep(0.1)
            nursery.cancel_scope.cancel()
    # everything received is either written or counted as dropped (a batch cut by the
    # cancellation at the end)
    assert sink.stats.sent + sink.stats.dropped == sink.stats.received
    assert sink.stats.sent > 50
    back = [x async for x in read_jsonl(path)]
    assert len(back) >= sink.stats.sent
    assert {x.kind for x in back} >= {"trade", "quote", "book", "source"}
    assert list(iter_jsonl(path)) == back


async def test_jsonl_appends_and_reports_bad_lines(tmp_path: Path) -> None:
    path = tmp_path / "x.jsonl"
    async with open_sink(str(path)) as sink:
        await sink.send_many(trades(3))
    async with open_sink(str(path)) as sink:
        await sink.send_many(trades(2, "ETH-USDT"))
    assert [x async for x in read_jsonl(path)] == trades(3) + trades(2, "ETH-USDT")
    with path.open("ab") as f:
        f.write(b'{"kind": "nonsense"}\n')
    with pytest.raises(trio_feeds.ProtocolError, match=r"x\.jsonl:6"):
        list(iter_jsonl(path))
    with pytest.raises(trio.ClosedResourceError):
        await sink.send_many(trades(1))


# ---------------------------------------------------------------------------- routing


def test_routing() -> None:
    t = trades(1)[0]
    assert route(t) == ("binance", "trade", "BTC-USDT")
    assert route(Gap("okx", "ETH-USDT", "book", 1, 2, "resync")) == ("okx", "book", "ETH-USDT")
    assert route(Gap("okx", "*", "*", 1, 2, "reconnect")) is None
    assert route(SourceEvent("okx", "connected", "", 1)) is None
    assert stream_keys(["binance", "okx"], "trade", "btc-usdt") == [
        "trio_feeds:binance:trade:BTC-USDT",
        "trio_feeds:okx:trade:BTC-USDT",
    ]
    with pytest.raises(ConfigError, match="stream_template"):
        stream_keys("binance", "trade", "BTC-USDT", template="{venue}")

    sink = RedisStreamSink("redis://127.0.0.1:1/0", events_stream="ev")
    assert sink._key(t) == "trio_feeds:binance:trade:BTC-USDT"
    assert sink._key(SourceEvent("okx", "connected", "", 1)) == "ev"


def test_overflow_drops_the_oldest_and_counts() -> None:
    sink = RedisStreamSink("redis://127.0.0.1:1/0", buffer_size=5, producer="t")
    sink.send_nowait(trades(8))
    assert sink.stats.dropped == 3 and sink.stats.buffered == 5
    batch = sink._take_batch()
    dropped = trio_feeds.loads(batch[0][1])
    assert isinstance(dropped, trio_feeds.Dropped)
    assert (dropped.exchange, dropped.symbol, dropped.channel) == ("binance", "BTC-USDT", "trade")
    assert (dropped.count, dropped.total) == (3, 3)
    assert [trio_feeds.loads(p) for _, p, _ in batch[1:]] == trades(8)[3:]
    assert [tag for _, _, tag in batch] == [b"t:%d" % i for i in range(1, 7)]


# ---------------------------------------------------------------------------- sharding

SYMS = [f"C{i}-USDT" for i in range(200)]


def test_shards_partition_and_are_stable() -> None:
    for n in (1, 2, 3, 7):
        parts = [shard_symbols(SYMS, i, n) for i in range(n)]
        flat = [s for p in parts for s in p]
        assert sorted(flat) == sorted(SYMS)
        assert all(p for p in parts), "every shard gets some of 200 symbols"
        if n > 1:
            assert max(map(len, parts)) < 2.2 * len(SYMS) / n
    # fixed answers: the same in every process and Python version
    assert [shard_of(s, 4) for s in ("BTC-USDT", "ETH-USDT", "SOL-USDT")] == [
        shard_of("btc-usdt", 4),
        shard_of("ETH-USDT", 4),
        shard_of("SOL-USDT", 4),
    ]
    assert shard_symbols(["ETH-USDT", "BTC-USDT"], 0, 1) == ["ETH-USDT", "BTC-USDT"]


def test_adding_a_shard_moves_few_symbols() -> None:
    for n in (2, 3, 5, 8):
        before = {s: shard_of(s, n) for s in SYMS}
        after = {s: shard_of(s, n + 1) for s in SYMS}
        moved = [s for s in SYMS if before[s] != after[s]]
        # only to the new shard, and about 1/(n+1) of them
        assert all(after[s] == n for s in moved)
        assert len(moved) < 2 * len(SYMS) / (n + 1)


@pytest.mark.parametrize(
    ("index", "count"), [(0, 0), (2, 2), (-1, 3), (True, 2), (0, "2"), (1.0, 2)]
)
def test_bad_shards(index: object, count: object) -> None:
    with pytest.raises(ConfigError, match="shard_"):
        shard_symbols(SYMS, index, count)  # type: ignore[arg-type]
