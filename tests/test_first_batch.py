"""What a connection's very first batches may hold, through the whole engine.

Each test feeds crafted frames into ``open_feed`` from a scripted in-memory WebSocket server
(``tests/scripted_ws.py``; one batch = one socket read) under ``MockClock``, for the inputs
that used to kill the feed: a book ``Gap`` as the first record of a connection (Binance: a
depth-id gap on the first live diff after the initial book; OKX: a first snapshot with a bad
non-zero checksum, or a snapshot and a chain-breaking update in one read), and a ``"NaN"``
price in a Binance depth diff or REST snapshot.  The feed must stay up, say what happened
(an error event, a Gap) and resync.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import orjson
import pytest
import trio
import trio.testing
from conftest import TWS_ONE_MESSAGE_PER_BATCH, active_transport, xfail_on
from scripted_ws import REST_URLS, URLS, ScriptedServer

import trio_feeds
from trio_feeds.exchanges.okx.adapter import book_checksum

#: run over every transport (see conftest.TRANSPORTS)
pytestmark = pytest.mark.usefixtures("transport")

EPOCH = 1_700_000_000.0
T0 = int(EPOCH * 1000)


def clock() -> float:
    return EPOCH + trio.current_time()


Script = Callable[[ScriptedServer, list[Any]], Awaitable[None]]


def run(
    exchange: str,
    channels: list[str],
    script: Script,
    rest: Callable[[str], tuple[int, bytes]] | None = None,
    inspect: Callable[[trio_feeds.Feed], None] | None = None,
    **options: Any,
) -> list[Any]:
    """Run ``script(server, items)`` beside a feed on the scripted server; every item the
    feed yielded.  Fails if the feed raised.  ``inspect(feed)`` runs before it closes."""
    items: list[Any] = []

    async def main() -> None:
        async with trio.open_nursery() as servers:
            server = ScriptedServer(servers, rest)
            async with trio_feeds.open_feed(
                [exchange],
                ["BTC-USDT"],
                channels,
                urls=URLS,
                rest_urls=REST_URLS,
                connector=server.connector,
                http_transport=server.http_transport,
                clock=clock,
                book_depth=5,
                stale_after=600,
                seed=1,
                **options,
                transport=active_transport(),
            ) as feed:
                async with trio.open_nursery() as nursery:

                    async def collect() -> None:
                        async for item in feed:  # one by one: the script watches them arrive
                            items.append(item)  # noqa: PERF401

                    nursery.start_soon(collect)
                    await script(server, items)
                    await trio.sleep(1)
                    if inspect is not None:
                        inspect(feed)
                    nursery.cancel_scope.cancel()
            servers.cancel_scope.cancel()

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    return items


async def until(items: list[Any], predicate: Callable[[Any], bool]) -> Any:
    """The first item matching ``predicate``, waiting for it (30 virtual seconds at most)."""
    with trio.fail_after(30):
        while True:
            for item in items:
                if predicate(item):
                    return item
            await trio.sleep(0.01)


def kinds(items: list[Any]) -> list[str]:
    """The kinds of what the feed yielded, without connection events."""
    return [x.kind for x in items if x.kind != "source"]


def errors(items: list[Any]) -> list[str]:
    return [x.detail for x in items if x.kind == "source" and x.state == "error"]


# --------------------------------------------------------------------------- Binance


def bn_diff(first: int, last: int, bid: str = "100.5", ask: str = "101.5") -> bytes:
    data = {
        "e": "depthUpdate",
        "E": T0 + last,
        "s": "BTCUSDT",
        "U": first,
        "u": last,
        "b": [[bid, "1.00000000"]],
        "a": [[ask, "2.00000000"]],
    }
    return orjson.dumps({"stream": "btcusdt@depth@100ms", "data": data})


def bn_snapshot(last: int, bid: str = "100.00000000") -> bytes:
    return orjson.dumps(
        {
            "lastUpdateId": last,
            "bids": [[bid, "3.00000000"], ["99.00000000", "4.00000000"]],
            "asks": [["102.00000000", "5.00000000"]],
        }
    )


class Snapshots:
    """REST answers in order (the last one repeats); records the requests."""

    def __init__(self, *bodies: bytes) -> None:
        self.bodies = list(bodies)
        self.calls = 0

    def __call__(self, target: str) -> tuple[int, bytes]:
        body = self.bodies[min(self.calls, len(self.bodies) - 1)]
        self.calls += 1
        return 200, body


def test_binance_gap_on_the_first_live_diff_is_a_gap_not_a_crash() -> None:
    rest = Snapshots(bn_snapshot(103), bn_snapshot(130))

    async def script(server: ScriptedServer, items: list[Any]) -> None:
        conn = await server.connection()
        await conn.send([bn_diff(101, 105)])  # buffered; the snapshot (103) syncs it
        first = await until(items, lambda x: x.kind == "book")
        assert first.sequence == 105
        # the first diff the connection's reader turns into a record: it skips ids
        await conn.send([bn_diff(120, 125)])
        gap = await until(items, lambda x: x.kind == "gap")
        assert (gap.exchange, gap.symbol, gap.channel) == ("binance", "BTC-USDT", "book")
        assert "missed depth updates" in gap.reason
        await conn.send([bn_diff(126, 131)])  # resynced on the new snapshot (130)
        await until(items, lambda x: x.kind == "book" and x.sequence == 131)

    items = run("binance", ["book"], script, rest)
    books = [x for x in items if x.kind == "book"]
    assert [b.sequence for b in books] == [105, 131]
    assert rest.calls == 2
    assert kinds(items).index("gap") < len(items) - 1


def test_binance_nan_in_a_depth_diff_resyncs_the_book() -> None:
    rest = Snapshots(bn_snapshot(103), bn_snapshot(110))

    async def script(server: ScriptedServer, items: list[Any]) -> None:
        conn = await server.connection()
        await conn.send([bn_diff(101, 105)])
        await until(items, lambda x: x.kind == "book")
        await conn.send([bn_diff(106, 107, bid="NaN")])
        await until(items, lambda x: x.kind == "gap")
        await conn.send([bn_diff(108, 112)])
        await until(items, lambda x: x.kind == "book" and x.sequence == 112)

    items = run("binance", ["book"], script, rest)
    (problem,) = [e for e in errors(items) if "malformed frame" in e]
    assert "'b[0][0]'" in problem and "NaN" in problem
    (gap,) = [x for x in items if x.kind == "gap"]
    assert "malformed update" in gap.reason
    books = [x for x in items if x.kind == "book"]
    assert [b.sequence for b in books] == [105, 112]
    for book in books:  # never a NaN in a book
        assert all(0 < p < float("inf") and s >= 0 for p, s in book.bids + book.asks)


def test_binance_nan_in_the_rest_snapshot_is_refetched() -> None:
    rest = Snapshots(bn_snapshot(103, bid="NaN"), bn_snapshot(103))

    async def script(server: ScriptedServer, items: list[Any]) -> None:
        conn = await server.connection()
        await conn.send([bn_diff(101, 105)])
        await until(items, lambda x: x.kind == "book")

    items = run("binance", ["book"], script, rest)
    (problem,) = errors(items)
    assert "depth snapshot" in problem and "'bids[0][0]'" in problem and "NaN" in problem
    (book,) = [x for x in items if x.kind == "book"]
    assert book.bids[0] == (100.5, 1.0) and rest.calls == 2


# --------------------------------------------------------------------------- OKX


def okx_books(
    action: str,
    seq: int,
    prev: int,
    bids: list[list[str]],
    asks: list[list[str]],
    checksum: int = 0,
) -> bytes:
    item = {
        "asks": [[p, s, "0", "1"] for p, s in asks],
        "bids": [[p, s, "0", "1"] for p, s in bids],
        "ts": str(T0 + seq),
        "checksum": checksum,
        "prevSeqId": prev,
        "seqId": seq,
    }
    msg = {"arg": {"channel": "books", "instId": "BTC-USDT"}, "action": action, "data": [item]}
    return orjson.dumps(msg)


BIDS = [["100.1", "1"], ["100", "2"]]
ASKS = [["100.5", "3"], ["101", "4"]]


def subscribes(conn: Any) -> int:
    return sum(1 for r in conn.requests() if r.get("op") == "subscribe")


def test_okx_first_snapshot_with_a_bad_checksum_resubscribes() -> None:
    good = book_checksum(BIDS, ASKS)

    async def script(server: ScriptedServer, items: list[Any]) -> None:
        conn = await server.connection()
        await conn.send([okx_books("snapshot", 10, -1, BIDS, ASKS, checksum=good + 1)])
        gap = await until(items, lambda x: x.kind == "gap")
        assert "checksum mismatch" in gap.reason
        await conn.wait_for(lambda _: subscribes(conn) == 2)  # a fresh snapshot, asked for
        await conn.send([okx_books("snapshot", 20, -1, BIDS, ASKS, checksum=good)])
        await until(items, lambda x: x.kind == "book" and x.sequence == 20)

    items = run("okx", ["book"], script)
    assert kinds(items)[0] == "gap"
    assert [x.sequence for x in items if x.kind == "book"] == [20]


def test_okx_snapshot_and_a_chain_break_in_one_read(request: pytest.FixtureRequest) -> None:
    xfail_on(request, "trio-websocket", TWS_ONE_MESSAGE_PER_BATCH)

    async def script(server: ScriptedServer, items: list[Any]) -> None:
        conn = await server.connection()
        await conn.send(
            [
                okx_books("snapshot", 10, -1, BIDS, ASKS),
                okx_books("update", 30, 25, [["100.1", "5"]], []),  # prevSeqId != 10
            ]
        )
        gap = await until(items, lambda x: x.kind == "gap")
        assert "seqId chain broken" in gap.reason
        await conn.wait_for(lambda _: subscribes(conn) == 2)
        await conn.send([okx_books("snapshot", 40, -1, BIDS, ASKS)])
        await until(items, lambda x: x.kind == "book" and x.sequence == 40)

    items = run("okx", ["book"], script)
    # the snapshot's book was void (the gap came in the same read): never delivered
    assert kinds(items)[0] == "gap"
    assert [x.sequence for x in items if x.kind == "book"] == [40]


def test_okx_nonzero_checksum_after_a_checksum_zero_snapshot_is_verified() -> None:
    after = [["100.1", "5"], ["100", "2"]]
    good = book_checksum(after, ASKS)

    async def script(server: ScriptedServer, items: list[Any]) -> None:
        conn = await server.connection()
        await conn.send([okx_books("snapshot", 10, -1, BIDS, ASKS, checksum=0)])
        await until(items, lambda x: x.kind == "book" and x.sequence == 10)
        await conn.send([okx_books("update", 11, 10, [["100.1", "5"]], [], checksum=good)])
        await until(items, lambda x: x.kind == "book" and x.sequence == 11)
        await conn.send([okx_books("update", 12, 11, [["100", "7"]], [], checksum=12345)])
        gap = await until(items, lambda x: x.kind == "gap")
        assert "checksum mismatch: got 12345" in gap.reason

    items = run("okx", ["book"], script)
    assert [x.sequence for x in items if x.kind == "book"] == [10, 11]


def test_okx_malformed_book_update_resyncs_at_once() -> None:
    async def script(server: ScriptedServer, items: list[Any]) -> None:
        conn = await server.connection()
        await conn.send([okx_books("snapshot", 10, -1, BIDS, ASKS)])
        await until(items, lambda x: x.kind == "book")
        await conn.send([okx_books("update", 11, 10, [["100.1", "-5"]], [])])
        gap = await until(items, lambda x: x.kind == "gap")
        assert "malformed update" in gap.reason
        await conn.wait_for(lambda _: subscribes(conn) == 2)

    items = run("okx", ["book"], script)
    (problem,) = [e for e in errors(items) if "malformed frame" in e]
    assert "'bids[0][1]'" in problem and '"-5"' in problem
