"""Local order book and its sync state machines (trio_feeds.books.orderbook).

Frames are written inline in the exchanges' wire formats and turned into
``BookDelta`` records the way the adapters do (PROTOCOLS.md 2.4/2.5, 3.4/3.5).
"""

from __future__ import annotations

import json
import zlib
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trio_feeds.books.orderbook import (
    BookGap,
    BookUpdated,
    OrderBook,
    ResubscribeRequest,
    SnapshotRequest,
)
from trio_feeds.core.records import Book, BookDelta
from trio_feeds.exchanges.binance.book import BinanceBookSync
from trio_feeds.exchanges.okx.book import OkxBookSync, book_crc32, okx_crc32

# --------------------------------------------------------------------------- frame helpers


def bn_diff(frame: str) -> BookDelta:
    """A Binance combined-stream ``depthUpdate`` frame -> BookDelta."""
    d = json.loads(frame)["data"]
    sym = d["s"].replace("USDT", "-USDT")
    return BookDelta(
        exchange="binance",
        symbol=sym,
        timestamp=d["E"],
        received_at=d["E"] / 1000,
        bids=tuple((float(p), float(q)) for p, q in d["b"]),
        asks=tuple((float(p), float(q)) for p, q in d["a"]),
        snapshot=False,
        sequence=d["u"],
        first_sequence=d["U"],
    )


def bn_rest(body: str, symbol: str = "BTC-USDT", ts: int = 0) -> BookDelta:
    """A Binance ``GET /api/v3/depth`` body -> snapshot BookDelta."""
    d = json.loads(body)
    return BookDelta(
        exchange="binance",
        symbol=symbol,
        timestamp=ts,
        received_at=ts / 1000,
        bids=tuple((float(p), float(q)) for p, q in d["bids"]),
        asks=tuple((float(p), float(q)) for p, q in d["asks"]),
        snapshot=True,
        sequence=d["lastUpdateId"],
    )


def diff(U: int, u: int, b: Any = (), a: Any = (), E: int = 1700000000000) -> BookDelta:
    return bn_diff(
        json.dumps(
            {
                "stream": "btcusdt@depth@100ms",
                "data": {
                    "e": "depthUpdate",
                    "E": E,
                    "s": "BTCUSDT",
                    "U": U,
                    "u": u,
                    "b": [list(x) for x in b],
                    "a": [list(x) for x in a],
                },
            }
        )
    )


def rest(last_update_id: int, bids: Any, asks: Any) -> BookDelta:
    return bn_rest(
        json.dumps(
            {
                "lastUpdateId": last_update_id,
                "bids": [list(x) for x in bids],
                "asks": [list(x) for x in asks],
            }
        )
    )


def okx_push(frame: str) -> BookDelta:
    """An OKX ``books`` push -> BookDelta (texts kept when checksum != 0)."""
    f = json.loads(frame)
    d = f["data"][0]
    checksum = d.get("checksum")
    text = None
    if checksum:
        text = (
            tuple((lv[0], lv[1]) for lv in d["bids"]),
            tuple((lv[0], lv[1]) for lv in d["asks"]),
        )
    return BookDelta(
        exchange="okx",
        symbol=f["arg"]["instId"],
        timestamp=int(d["ts"]),
        received_at=int(d["ts"]) / 1000,
        bids=tuple((float(lv[0]), float(lv[1])) for lv in d["bids"]),
        asks=tuple((float(lv[0]), float(lv[1])) for lv in d["asks"]),
        snapshot=f.get("action") == "snapshot",
        sequence=d.get("seqId"),
        prev_sequence=d.get("prevSeqId"),
        checksum=checksum,
        text=text,
    )


def okx_rest(body: str, symbol: str = "BTC-USDT") -> BookDelta:
    """An OKX ``GET /api/v5/market/books`` body -> snapshot BookDelta (with texts)."""
    d = json.loads(body)["data"][0]
    return BookDelta(
        exchange="okx",
        symbol=symbol,
        timestamp=int(d["ts"]),
        received_at=int(d["ts"]) / 1000,
        bids=tuple((float(lv[0]), float(lv[1])) for lv in d["bids"]),
        asks=tuple((float(lv[0]), float(lv[1])) for lv in d["asks"]),
        snapshot=True,
        sequence=d["seqId"],
        text=(
            tuple((lv[0], lv[1]) for lv in d["bids"]),
            tuple((lv[0], lv[1]) for lv in d["asks"]),
        ),
    )


def okx_frame(
    action: str,
    bids: Any,
    asks: Any,
    seq: int,
    prev: int,
    checksum: int = 0,
    inst: str = "BTC-USDT",
    ts: str = "1597026383085",
) -> str:
    return json.dumps(
        {
            "arg": {"channel": "books", "instId": inst},
            "action": action,
            "data": [
                {
                    "asks": [[p, s, "0", "1"] for p, s in asks],
                    "bids": [[p, s, "0", "1"] for p, s in bids],
                    "ts": ts,
                    "checksum": checksum,
                    "prevSeqId": prev,
                    "seqId": seq,
                }
            ],
        }
    )


def kinds(out: list[Any]) -> list[type]:
    return [type(o) for o in out]


# --------------------------------------------------------------------------- OrderBook


def test_orderbook_basic_apply_top_and_delete() -> None:
    b = OrderBook()
    b.load_snapshot([(100.0, 1.0), (99.0, 2.0), (98.0, 0.0)], [(101.0, 3.0), (102.0, 4.0)])
    assert b.depth == (2, 2)
    assert b.best_bid == (100.0, 1.0)
    assert b.best_ask == (101.0, 3.0)
    b.apply([(99.5, 5.0), (100.0, 0.0), (50.0, 0.0)], [(101.0, 7.0), (100.5, 1.0)])
    assert b.top() == (((99.5, 5.0), (99.0, 2.0)), ((100.5, 1.0), (101.0, 7.0), (102.0, 4.0)))
    assert b.top(1) == (((99.5, 5.0),), ((100.5, 1.0),))
    assert b.size_at("bid", 100.0) == 0.0
    assert b.size_at("ask", 101.0) == 7.0
    assert not b.crossed
    assert len(b) == 5


def test_orderbook_crossed_detection() -> None:
    b = OrderBook()
    assert not b.crossed
    assert b.best_bid is None and b.best_ask is None
    b.load_snapshot([(100.0, 1.0)], [(101.0, 1.0)])
    assert not b.crossed
    b.apply([(101.0, 2.0)], [])  # bid == ask: locked counts as crossed
    assert b.crossed
    b.apply([(101.0, 0.0), (102.0, 1.0)], [])
    assert b.crossed
    rec = b.to_record("okx", "BTC-USDT", 1, 0.001, 5)
    assert rec.crossed
    b.apply([(102.0, 0.0)], [])
    assert not b.crossed


def test_orderbook_max_depth_trims_far_levels() -> None:
    b = OrderBook(max_depth=3)
    b.load_snapshot(
        [(float(100 - i), 1.0) for i in range(10)], [(float(101 + i), 1.0) for i in range(10)]
    )
    assert b.depth == (3, 3)
    assert b.top()[0] == ((100.0, 1.0), (99.0, 1.0), (98.0, 1.0))
    b.apply([(100.5, 2.0)], [(100.9, 2.0)])
    assert b.top()[0] == ((100.5, 2.0), (100.0, 1.0), (99.0, 1.0))
    assert b.top()[1] == ((100.9, 2.0), (101.0, 1.0), (102.0, 1.0))
    b.apply([(97.0, 0.0)], [])  # trimmed level: delete is a no-op
    assert b.depth == (3, 3)
    with pytest.raises(ValueError):
        OrderBook(max_depth=0)


def test_to_record() -> None:
    b = OrderBook()
    b.load_snapshot([(1.0, 2.0), (0.5, 1.0)], [(1.5, 3.0)])
    b.sequence = 42
    rec = b.to_record("binance", "BTC-USDT", 1700000000000, 1700000000.5, depth=1)
    assert isinstance(rec, Book)
    assert rec.bids == ((1.0, 2.0),)
    assert rec.asks == ((1.5, 3.0),)
    assert rec.sequence == 42
    assert rec.kind == "book"
    assert rec.exchange_time


# --------------------------------------------------------------------------- checksum


def test_okx_crc32_vectors() -> None:
    # PROTOCOLS.md 3.5
    assert okx_crc32([("3366.1", "7"), ("3366", "6")], [("3366.8", "9"), ("3368", "8")]) == (
        -1881014294
    )
    assert okx_crc32([("3366.1", "7")], [("3366.8", "9"), ("3368", "8"), ("3372", "8")]) == (
        831078360
    )


def test_okx_crc32_only_25_levels_and_signed() -> None:
    bids = [(str(1000 - i), "1") for i in range(30)]
    asks = [(str(1001 + i), "2") for i in range(30)]
    s = ":".join(f"{b[0]}:{b[1]}:{a[0]}:{a[1]}" for b, a in zip(bids[:25], asks[:25], strict=True))
    crc = zlib.crc32(s.encode())
    expected = crc - 2**32 if crc >= 2**31 else crc
    assert okx_crc32(bids, asks) == expected
    assert -(2**31) <= expected < 2**31


def test_book_checksum_uses_received_strings() -> None:
    b = OrderBook()
    b.load_snapshot(
        [(3366.1, 7.0), (3366.0, 6.0)],
        [(3366.8, 9.0), (3368.0, 8.0)],
        text=((("3366.1", "7"), ("3366", "6")), (("3366.8", "9"), ("3368", "8"))),
    )
    assert b.has_text
    assert book_crc32(b) == -1881014294
    b.apply([(3366.0, 0.0)], [(3372.0, 8.0)], text=((("3366", "0"),), (("3372", "8"),)))
    assert book_crc32(b) == 831078360
    # Padded strings differ from formatted floats: the texts matter.
    p = OrderBook()
    p.load_snapshot([(1.0, 2.0)], [(3.0, 4.0)], text=((("1.00", "2.0"),), (("3.00", "4.0"),)))
    assert book_crc32(p) == okx_crc32([("1.00", "2.0")], [("3.00", "4.0")])
    # Without texts the floats are formatted (best effort).
    q = OrderBook()
    q.load_snapshot([(3366.1, 7.0), (3366.0, 6.0)], [(3366.8, 9.0), (3368.0, 8.0)])
    assert not q.has_text
    assert book_crc32(q) == -1881014294
    # An apply without texts drops them all.
    b.apply([(3366.1, 1.0)], [])
    assert not b.has_text


# --------------------------------------------------------------------------- Binance

BN_BIDS = [["0.35170000", "4265.00000000"], ["0.35160000", "100.00000000"]]
BN_ASKS = [["0.35290000", "10968.00000000"], ["0.35300000", "5.00000000"]]


def test_binance_first_kept_with_U_equal_L_plus_1() -> None:
    s = BinanceBookSync("NKN-USDT")
    assert s.needs_snapshot
    out = s.on_delta(diff(95, 99, b=[["0.35170000", "1.0"]]))
    assert kinds(out) == [SnapshotRequest]
    assert s.on_delta(diff(100, 100, b=[["0.35170000", "2.0"]])) == []  # one request only
    assert s.on_delta(diff(101, 104, b=[["0.35180000", "7.00000000"]])) == []
    assert s.buffered == 3
    out = s.on_snapshot(rest(100, BN_BIDS, BN_ASKS))
    assert kinds(out) == [BookUpdated]
    upd = out[0]
    assert isinstance(upd, BookUpdated) and upd.snapshot and upd.sequence == 104
    assert not s.needs_snapshot and s.synced
    # the two stale diffs (u <= L) were dropped, U=L+1 applied
    assert s.book.top(2)[0] == ((0.3518, 7.0), (0.3517, 4265.0))
    out = s.on_delta(diff(105, 110, a=[["0.35290000", "0.00000000"]]))
    assert kinds(out) == [BookUpdated]
    assert s.book.best_ask == (0.353, 5.0)
    assert s.last_sequence == 110
    rec = s.to_record(1, 0.001, depth=1)
    assert rec.exchange == "binance" and rec.symbol == "NKN-USDT" and rec.sequence == 110


def test_binance_2024_case_L_strictly_inside_first_event() -> None:
    # 2024 BTCUSDT: snapshot after 3 events, first kept had U = L-10, u = L+6.
    L = 50_000_000
    s = BinanceBookSync("BTC-USDT")
    s.on_delta(diff(L - 40, L - 25, b=[["60000.00", "1.0"]]))
    s.on_delta(diff(L - 24, L - 11, b=[["60000.00", "2.0"]]))
    s.on_delta(diff(L - 10, L + 6, b=[["60000.00", "3.0"]], a=[["60001.00", "0.5"]]))
    out = s.on_snapshot(rest(L, [["60000.00", "2.5"]], [["60001.00", "1.0"], ["60002.00", "1"]]))
    assert kinds(out) == [BookUpdated]
    assert s.last_sequence == L + 6
    assert s.book.top() == (((60000.0, 3.0),), ((60001.0, 0.5), (60002.0, 1.0)))
    assert kinds(s.on_delta(diff(L + 7, L + 9, b=[["59999.00", "1"]]))) == [BookUpdated]
    assert s.book.depth == (2, 2)


def test_binance_snapshot_older_than_first_U_refetches() -> None:
    s = BinanceBookSync("BTC-USDT")
    s.on_delta(diff(200, 210))
    out = s.on_snapshot(rest(150, BN_BIDS, BN_ASKS))
    assert kinds(out) == [SnapshotRequest]
    assert s.needs_snapshot and not s.book
    s.on_delta(diff(211, 215))
    out = s.on_snapshot(rest(212, BN_BIDS, BN_ASKS))
    assert kinds(out) == [BookUpdated]
    assert s.last_sequence == 215


def test_binance_snapshot_exactly_contiguous_with_first_buffered() -> None:
    # L = U-1: step 5 holds (U <= L+1 <= u); no need to spend another request.
    s = BinanceBookSync("BTC-USDT")
    s.on_delta(diff(200, 210, b=[["1.0", "1.0"]]))
    out = s.on_snapshot(rest(199, [], []))
    assert kinds(out) == [BookUpdated]
    assert s.last_sequence == 210


def test_binance_first_kept_beyond_L_plus_1_restarts() -> None:
    # buffer has an internal hole: 100-105 then 110-120
    s = BinanceBookSync("BTC-USDT")
    s.on_delta(diff(100, 105))
    s.on_delta(diff(110, 120))
    out = s.on_snapshot(rest(106, BN_BIDS, BN_ASKS))
    assert kinds(out) == [SnapshotRequest]
    assert s.needs_snapshot
    out = s.on_snapshot(rest(115, BN_BIDS, BN_ASKS))
    assert kinds(out) == [BookUpdated]
    assert s.last_sequence == 120


def test_binance_snapshot_before_events_is_held() -> None:
    s = BinanceBookSync("BTC-USDT")
    assert s.on_snapshot(rest(300, BN_BIDS, BN_ASKS)) == []
    assert s.needs_snapshot
    assert s.on_delta(diff(290, 300)) == []  # stale, dropped; still waiting
    out = s.on_delta(diff(301, 305, b=[["0.35170000", "0"]]))
    assert kinds(out) == [BookUpdated]
    assert s.book.best_bid == (0.3516, 100.0)


def test_binance_skip_u_below_id_and_equal() -> None:
    s = BinanceBookSync("BTC-USDT")
    s.on_delta(diff(1, 10))
    s.on_snapshot(rest(5, BN_BIDS, BN_ASKS))
    assert s.last_sequence == 10
    assert s.on_delta(diff(3, 9, b=[["0.35170000", "0"]])) == []
    assert s.on_delta(diff(8, 10, b=[["0.35170000", "0"]])) == []  # u == id adds nothing
    assert s.book.best_bid == (0.3517, 4265.0)
    assert s.last_sequence == 10


def test_binance_gap_drops_book_and_resyncs() -> None:
    s = BinanceBookSync("BTC-USDT")
    s.on_delta(diff(1, 10, E=1000))
    s.on_snapshot(rest(5, BN_BIDS, BN_ASKS))
    s.on_delta(diff(11, 20, E=2000))
    out = s.on_delta(diff(25, 30, E=3000))
    assert kinds(out) == [BookGap, SnapshotRequest]
    gap = out[0]
    assert isinstance(gap, BookGap)
    assert gap.last_sequence == 20 and gap.next_first_sequence == 25
    assert gap.exchange == "binance" and gap.symbol == "BTC-USDT"
    assert gap.last_timestamp == 2000 and gap.timestamp == 3000
    assert s.needs_snapshot and not s.book and s.last_sequence is None
    assert s.buffered == 1  # the gap event starts the new queue
    assert s.on_delta(diff(31, 33)) == []  # request already outstanding
    out = s.on_snapshot(rest(31, [["1", "1"]], [["2", "1"]]))
    assert kinds(out) == [BookUpdated]
    assert s.last_sequence == 33
    assert s.book.top() == (((1.0, 1.0),), ((2.0, 1.0),))


def test_binance_gap_inside_buffer_replay() -> None:
    s = BinanceBookSync("BTC-USDT")
    s.on_delta(diff(1, 10))
    s.on_delta(diff(11, 12))
    s.on_delta(diff(20, 25))  # hole 13..19
    out = s.on_snapshot(rest(10, BN_BIDS, BN_ASKS))
    assert kinds(out) == [BookGap, SnapshotRequest]
    assert s.needs_snapshot and s.buffered == 1
    out = s.on_snapshot(rest(22, BN_BIDS, BN_ASKS))
    assert kinds(out) == [BookUpdated]
    assert s.last_sequence == 25


def test_binance_buffer_is_bounded() -> None:
    s = BinanceBookSync("BTC-USDT", max_buffer=3)
    for i in range(10):
        s.on_delta(diff(i * 10 + 1, i * 10 + 10))
    assert s.buffered == 3
    out = s.on_snapshot(rest(15, BN_BIDS, BN_ASKS))  # older than the oldest kept event
    assert kinds(out) == [SnapshotRequest]
    out = s.on_snapshot(rest(75, BN_BIDS, BN_ASKS))
    assert kinds(out) == [BookUpdated] and s.last_sequence == 100


def test_binance_snapshot_when_synced_is_ignored_and_reset() -> None:
    s = BinanceBookSync("BTC-USDT")
    s.on_delta(diff(1, 10))
    s.on_snapshot(rest(5, BN_BIDS, BN_ASKS))
    assert s.on_snapshot(rest(7, [], [])) == []
    assert s.book.depth == (2, 2)
    s.reset()
    assert s.needs_snapshot and not s.book and s.buffered == 0
    assert kinds(s.on_delta(diff(11, 12))) == [SnapshotRequest]


# --------------------------------------------------------------------------- OKX

OKX_SNAPSHOT = (
    '{"arg":{"channel":"books","instId":"BTC-USDT"},"action":"snapshot","data":[{"asks":'
    '[["8476.98","415","0","13"],["8477","7","0","2"],["8477.34","85","0","1"],'
    '["8477.56","1","0","1"],["8505.84","8","0","1"],["8506.37","85","0","1"],'
    '["8506.49","2","0","1"],["8506.96","100","0","2"]],"bids":[["8476.97","256","0","12"],'
    '["8475.55","101","0","1"],["8475.54","100","0","1"],["8475.3","1","0","1"],'
    '["8447.32","6","0","1"],["8447.02","246","0","1"],["8446.83","24","0","1"],'
    '["8446","95","0","3"]],"ts":"1597026383085","checksum":0,"prevSeqId":-1,"seqId":123456}]}'
)


def okx_synced() -> OkxBookSync:
    s = OkxBookSync("BTC-USDT")
    out = s.on_delta(okx_push(OKX_SNAPSHOT))
    assert kinds(out) == [BookUpdated]
    assert out[0].snapshot  # type: ignore[union-attr]
    return s


def test_okx_snapshot_and_chain() -> None:
    s = okx_synced()
    assert s.synced and s.last_sequence == 123456
    assert s.book.depth == (8, 8)
    assert s.book.best_bid == (8476.97, 256.0)
    assert s.book.best_ask == (8476.98, 415.0)
    out = s.on_delta(
        okx_push(okx_frame("update", [("8476.97", "0")], [("8476.99", "3")], 123460, 123456))
    )
    assert kinds(out) == [BookUpdated]
    assert s.book.best_bid == (8475.55, 101.0)
    assert s.book.best_ask == (8476.98, 415.0)
    assert s.book.size_at("ask", 8476.99) == 3.0
    out = s.on_delta(okx_push(okx_frame("update", [("8475.56", "1")], [], 123470, 123460)))
    assert kinds(out) == [BookUpdated] and s.last_sequence == 123470
    rec = s.to_record(1597026383085, 1597026383.1, depth=2)
    assert rec.bids == ((8475.56, 1.0), (8475.55, 101.0))
    assert rec.sequence == 123470 and rec.exchange == "okx"


def test_okx_empty_heartbeat_is_valid() -> None:
    s = okx_synced()
    out = s.on_delta(okx_push(okx_frame("update", [], [], 123456, 123456)))
    assert out == []
    assert s.synced and s.last_sequence == 123456
    out = s.on_delta(okx_push(okx_frame("update", [("8476.97", "1")], [], 123457, 123456)))
    assert kinds(out) == [BookUpdated]


def test_okx_downward_seq_reset_after_maintenance_is_accepted() -> None:
    s = okx_synced()
    out = s.on_delta(okx_push(okx_frame("update", [("8476.97", "1")], [], 50, 123456)))
    assert kinds(out) == [BookUpdated]
    assert s.last_sequence == 50
    out = s.on_delta(okx_push(okx_frame("update", [("8476.97", "2")], [], 51, 50)))
    assert kinds(out) == [BookUpdated]
    assert s.book.best_bid == (8476.97, 2.0)


def test_okx_chain_mismatch_requests_resubscribe() -> None:
    s = okx_synced()
    out = s.on_delta(okx_push(okx_frame("update", [("8476.97", "1")], [], 123500, 123499)))
    assert kinds(out) == [BookGap, ResubscribeRequest]
    gap = out[0]
    assert isinstance(gap, BookGap)
    assert gap.last_sequence == 123456 and gap.next_first_sequence == 123499
    assert s.state == "resubscribing" and not s.book
    # late updates of the old subscription are dropped
    assert s.on_delta(okx_push(okx_frame("update", [("1", "1")], [], 123510, 123500))) == []
    assert s.on_subscribed() == []
    assert s.state == "await_first"
    out = s.on_delta(okx_push(OKX_SNAPSHOT))
    assert kinds(out) == [BookUpdated] and s.synced


def test_okx_snapshot_accepted_while_resubscribing() -> None:
    s = okx_synced()
    s.on_delta(okx_push(okx_frame("update", [], [], 9, 8)))
    assert s.state == "resubscribing"
    assert kinds(s.on_delta(okx_push(OKX_SNAPSHOT))) == [BookUpdated]
    assert s.synced


def _cksum_snapshot() -> tuple[str, int]:
    bids = [("3366.1", "7"), ("3366", "6")]
    asks = [("3366.8", "9"), ("3368", "8")]
    return okx_frame("snapshot", bids, asks, 1000, -1, checksum=-1881014294), -1881014294


def test_okx_checksum_verified_when_nonzero() -> None:
    s = OkxBookSync("BTC-USDT")
    frame, _ = _cksum_snapshot()
    assert kinds(s.on_delta(okx_push(frame))) == [BookUpdated]
    assert s.book.has_text
    # remove bid 3366, add ask 3372 -> the second vector
    good = okx_frame("update", [("3366", "0")], [("3372", "8")], 1001, 1000, checksum=831078360)
    assert kinds(s.on_delta(okx_push(good))) == [BookUpdated]
    assert s.checksum_failures == 0


def test_okx_checksum_mismatch_requests_resubscribe() -> None:
    s = OkxBookSync("BTC-USDT")
    frame, _ = _cksum_snapshot()
    s.on_delta(okx_push(frame))
    bad = okx_frame("update", [("3366", "0")], [("3372", "8")], 1001, 1000, checksum=12345)
    out = s.on_delta(okx_push(bad))
    assert kinds(out) == [BookGap, ResubscribeRequest]
    assert "checksum" in out[0].reason  # type: ignore[union-attr]
    assert s.checksum_failures == 1 and s.state == "resubscribing"


def test_okx_bad_snapshot_checksum_requests_resubscribe() -> None:
    s = OkxBookSync("BTC-USDT")
    bids = [("3366.1", "7"), ("3366", "6")]
    asks = [("3366.8", "9"), ("3368", "8")]
    out = s.on_delta(okx_push(okx_frame("snapshot", bids, asks, 1000, -1, checksum=7)))
    assert kinds(out) == [BookGap, ResubscribeRequest]


def test_okx_checksum_zero_is_ignored() -> None:
    s = okx_synced()  # checksum 0 snapshot: no texts kept
    assert not s.book.has_text
    out = s.on_delta(okx_push(okx_frame("update", [("8476.97", "9")], [], 123457, 123456)))
    assert kinds(out) == [BookUpdated]
    # a book that had texts (legacy server) going to checksum 0: still no verification
    t = OkxBookSync("BTC-USDT")
    frame, _ = _cksum_snapshot()
    t.on_delta(okx_push(frame))
    out = t.on_delta(okx_push(okx_frame("update", [("3366", "5")], [], 1001, 1000, checksum=0)))
    assert kinds(out) == [BookUpdated] and not t.book.has_text


def test_okx_heartbeat_with_checksum_is_verified() -> None:
    s = OkxBookSync("BTC-USDT")
    frame, crc = _cksum_snapshot()
    s.on_delta(okx_push(frame))
    assert s.on_delta(okx_push(okx_frame("update", [], [], 1000, 1000, checksum=crc))) == []
    out = s.on_delta(okx_push(okx_frame("update", [], [], 1000, 1000, checksum=crc + 1)))
    assert kinds(out) == [BookGap, ResubscribeRequest]


def test_okx_nonzero_checksum_after_a_checksum_zero_snapshot_is_verified() -> None:
    """The adapter keeps every snapshot's texts, so an update with a non-zero checksum
    after a checksum-0 snapshot is verified over the exchange's own strings."""
    from trio_feeds.protocol import OkxAdapter

    bids = [("3366.1", "7"), ("3366", "6")]
    asks = [("3366.8", "9"), ("3368", "8")]
    adapter = OkxAdapter()
    (snap,) = adapter.parse_one(okx_frame("snapshot", bids, asks, 1000, -1, checksum=0))
    assert snap.text is not None
    s = OkxBookSync("BTC-USDT")
    assert kinds(s.on_delta(snap)) == [BookUpdated]
    good = okx_frame("update", [("3366", "0")], [("3372", "8")], 1001, 1000, checksum=831078360)
    (update,) = adapter.parse_one(good)
    assert kinds(s.on_delta(update)) == [BookUpdated]
    bad = okx_frame("update", [("3366.1", "8")], [], 1002, 1001, checksum=831078360)
    (update,) = adapter.parse_one(bad)
    out = s.on_delta(update)
    assert kinds(out) == [BookGap, ResubscribeRequest]
    assert "checksum mismatch" in out[0].reason  # type: ignore[union-attr]


def test_okx_nonzero_checksum_on_a_book_without_texts_uses_its_floats() -> None:
    """A checksum-0 update in between drops the texts; a later non-zero checksum is still
    verified, over the floats formatted as OKX writes numbers (no padding)."""
    s = OkxBookSync("BTC-USDT")
    bids = [("3366.1", "7"), ("3366", "6")]
    asks = [("3366.8", "9"), ("3368", "8")]
    s.on_delta(okx_push(okx_frame("snapshot", bids, asks, 1000, -1, checksum=0)))
    s.on_delta(okx_push(okx_frame("update", [("3366", "6")], [], 1001, 1000, checksum=0)))
    assert not s.book.has_text
    good = okx_frame("update", [("3366", "0")], [("3372", "8")], 1002, 1001, checksum=831078360)
    assert kinds(s.on_delta(okx_push(good))) == [BookUpdated]
    bad = okx_frame("update", [("3366.1", "8")], [], 1003, 1002, checksum=831078360)
    assert kinds(s.on_delta(okx_push(bad))) == [BookGap, ResubscribeRequest]


def test_invalidate_drops_a_synced_book_and_resyncs() -> None:
    """A refused (malformed) frame is a lost update: a synced book is dropped at once."""
    s = okx_synced()
    out = s.invalidate("malformed update: x", 1597026383000)
    assert kinds(out) == [BookGap, ResubscribeRequest]
    gap = out[0]
    assert isinstance(gap, BookGap)
    # never earlier than the last frame applied (the local clock may lag the exchange's)
    assert gap.timestamp == gap.last_timestamp == 1597026383085
    assert s.state == "resubscribing" and not s.book
    assert s.invalidate("again", 0) == []  # not synced: the next snapshot decides
    b = BinanceBookSync("BTC-USDT")
    b.on_delta(diff(101, 105, b=[(1.0, 1.0)]))
    b.on_snapshot(rest(103, [(1.0, 2.0)], [(2.0, 1.0)]))
    assert b.synced
    out = b.invalidate("malformed update: y", 1700000000999)
    assert kinds(out) == [BookGap, SnapshotRequest]
    assert not b.synced and not b.book and b.buffered == 0
    assert b.invalidate("again", 0) == []


OKX_REST = (
    '{"code":"0","msg":"","data":[{"asks":[["41006.8","0.60038921","0","1"],'
    '["41007","1.5","0","2"]],"bids":[["41006.3","0.30178218","0","2"],["41006","2","0","1"]],'
    '"ts":"1629966436396","seqId":3235851742}]}'
)
S = 3235851742


def test_okx_no_snapshot_seeds_from_rest() -> None:
    s = OkxBookSync("BTC-USDT")
    out = s.on_delta(okx_push(okx_frame("update", [("41006", "1")], [], S - 5, S - 9)))
    assert kinds(out) == [SnapshotRequest]
    assert s.state == "await_rest" and s.needs_snapshot
    assert s.on_delta(okx_push(okx_frame("update", [("41006", "3")], [], S + 3, S - 5))) == []
    assert s.on_delta(okx_push(okx_frame("update", [], [("41007", "0")], S + 8, S + 3))) == []
    out = s.on_snapshot(okx_rest(OKX_REST))
    assert kinds(out) == [BookUpdated]
    assert out[0].snapshot  # type: ignore[union-attr]
    assert s.synced and s.last_sequence == S + 8
    # first kept had prevSeqId (S-5) <= S < seqId (S+3): a REST seqId need not be in the stream
    assert s.book.top() == (((41006.3, 0.30178218), (41006.0, 3.0)), ((41006.8, 0.60038921),))
    out = s.on_delta(okx_push(okx_frame("update", [("41006.3", "0")], [], S + 9, S + 8)))
    assert kinds(out) == [BookUpdated]


def test_okx_rest_older_than_queue_refetches() -> None:
    s = OkxBookSync("BTC-USDT")
    s.on_delta(okx_push(okx_frame("update", [("41006", "1")], [], S + 20, S + 10)))
    out = s.on_snapshot(okx_rest(OKX_REST))  # S < first queued prevSeqId
    assert kinds(out) == [SnapshotRequest]
    assert s.needs_snapshot and not s.synced


def test_okx_rest_queue_hole_refetches() -> None:
    s = OkxBookSync("BTC-USDT")
    s.on_delta(okx_push(okx_frame("update", [("41006", "1")], [], S - 1, S - 2)))
    s.on_delta(okx_push(okx_frame("update", [("41006", "1")], [], S + 20, S + 10)))  # hole
    out = s.on_snapshot(okx_rest(OKX_REST))
    assert kinds(out) == [SnapshotRequest]


def test_okx_rest_before_updates_is_held_and_ws_snapshot_wins() -> None:
    s = OkxBookSync("BTC-USDT")
    s.on_delta(okx_push(okx_frame("update", [("41006", "1")], [], S - 5, S - 9)))
    assert s.on_snapshot(okx_rest(OKX_REST)) == []  # all queued updates stale: wait
    assert not s.synced and not s.needs_snapshot
    out = s.on_delta(okx_push(okx_frame("update", [("41006", "4")], [], S + 1, S)))
    assert kinds(out) == [BookUpdated] and s.last_sequence == S + 1
    assert s.book.size_at("bid", 41006.0) == 4.0
    # a REST answer arriving once synced is ignored
    assert s.on_snapshot(okx_rest(OKX_REST)) == []
    # snapshot push while awaiting REST wins
    t = OkxBookSync("BTC-USDT")
    t.on_delta(okx_push(okx_frame("update", [("41006", "1")], [], S - 5, S - 9)))
    assert kinds(t.on_delta(okx_push(OKX_SNAPSHOT))) == [BookUpdated]
    assert t.synced and t.buffered == 0
    assert t.on_snapshot(okx_rest(OKX_REST)) == []
    assert t.last_sequence == 123456


def test_okx_rest_seed_then_broken_chain_in_queue() -> None:
    s = OkxBookSync("BTC-USDT")
    s.on_delta(okx_push(okx_frame("update", [("41006", "1")], [], S + 3, S - 5)))
    s.on_delta(okx_push(okx_frame("update", [("41006", "2")], [], S + 9, S + 4)))  # != S+3
    out = s.on_snapshot(okx_rest(OKX_REST))
    assert kinds(out) == [BookGap, ResubscribeRequest]
    assert s.state == "resubscribing"


# --------------------------------------------------------------------------- property tests

TICK_PRICES = [round(100 + i * 0.5, 1) for i in range(-40, 41)]

level = st.tuples(
    st.sampled_from(TICK_PRICES),
    st.sampled_from([0.0, 0.0, 0.001, 0.5, 1.0, 2.25, 7.0, 1234.5678]),
)
side = st.lists(level, max_size=12)
updates = st.lists(st.tuples(side, side), max_size=40)


def _text(x: float) -> str:
    s = repr(x)
    return s[:-2] if s.endswith(".0") else s


def _side_text(levels: list[tuple[float, float]]) -> tuple[tuple[str, str], ...]:
    return tuple((_text(p), _text(s) if s else "0") for p, s in levels)


def _model_apply(ref: dict[float, float], levels: Any) -> None:
    for p, s in levels:
        if s:
            ref[p] = s
        else:
            ref.pop(p, None)


@settings(max_examples=300, deadline=None)
@given(snapshot=st.tuples(side, side), stream=updates, n=st.integers(1, 30))
def test_incremental_book_equals_rebuilt(
    snapshot: tuple[list[tuple[float, float]], list[tuple[float, float]]],
    stream: list[tuple[list[tuple[float, float]], list[tuple[float, float]]]],
    n: int,
) -> None:
    book = OrderBook()
    sb, sa = snapshot
    book.load_snapshot(sb, sa, text=(_side_text(sb), _side_text(sa)))
    bids: dict[float, float] = {}
    asks: dict[float, float] = {}
    _model_apply(bids, sb)
    _model_apply(asks, sa)
    for ub, ua in stream:
        book.apply(ub, ua, text=(_side_text(ub), _side_text(ua)))
        _model_apply(bids, ub)
        _model_apply(asks, ua)
    exp_bids = tuple(sorted(bids.items(), reverse=True))
    exp_asks = tuple(sorted(asks.items()))
    assert book.top() == (exp_bids, exp_asks)
    assert book.top(n) == (exp_bids[:n], exp_asks[:n])
    assert book.depth == (len(bids), len(asks))
    assert book.best_bid == (exp_bids[0] if exp_bids else None)
    assert book.best_ask == (exp_asks[0] if exp_asks else None)
    assert book.crossed == bool(exp_bids and exp_asks and exp_bids[0][0] >= exp_asks[0][0])
    # rebuilt from scratch
    rebuilt = OrderBook()
    rebuilt.load_snapshot(
        list(bids.items()),
        list(asks.items()),
        text=(_side_text(list(bids.items())), _side_text(list(asks.items()))),
    )
    assert rebuilt.top() == book.top()
    assert book.has_text
    assert book_crc32(book) == book_crc32(rebuilt)
    assert book_crc32(book) == okx_crc32(_side_text(list(exp_bids)), _side_text(list(exp_asks)))


@settings(max_examples=300, deadline=None)
@given(snapshot=st.tuples(side, side), stream=updates, n=st.integers(0, 30))
def test_book_without_texts_equals_a_plain_model(
    snapshot: tuple[list[tuple[float, float]], list[tuple[float, float]]],
    stream: list[tuple[list[tuple[float, float]], list[tuple[float, float]]]],
    n: int,
) -> None:
    """The hot path (no checksum texts; the C loops when built) against two dicts."""
    book = OrderBook()
    sb, sa = snapshot
    book.load_snapshot(sb, sa)
    bids: dict[float, float] = {}
    asks: dict[float, float] = {}
    _model_apply(bids, sb)
    _model_apply(asks, sa)
    for ub, ua in stream:
        book.apply(ub, ua)
        _model_apply(bids, ub)
        _model_apply(asks, ua)
        exp_bids = tuple(sorted(bids.items(), reverse=True))
        exp_asks = tuple(sorted(asks.items()))
        assert book.top(n) == (exp_bids[:n], exp_asks[:n])
        assert book.best_bid == (exp_bids[0] if exp_bids else None)
        assert book.best_ask == (exp_asks[0] if exp_asks else None)
    assert book.top() == (
        tuple(sorted(bids.items(), reverse=True)),
        tuple(sorted(asks.items())),
    )
    assert book.depth == (len(bids), len(asks))


# the C book side against its pure-Python twin, operation by operation
_book_mod = pytest.importorskip("trio_feeds.books.orderbook")
_wild_price = st.one_of(
    st.sampled_from(TICK_PRICES),
    st.sampled_from([0.0, -0.0, -1.5, 1e300, 5e-324, float("inf"), float("-inf")]),
    st.integers(-3, 3),
)
_wild_size = st.sampled_from([0.0, -0.0, 0, 1, 0.5, 2.25, -1.0, 1e-300, True, False])
_wild_level = st.tuples(_wild_price, _wild_size) | st.lists(
    st.sampled_from(TICK_PRICES[:5]), min_size=2, max_size=2
)
_wild_side = st.lists(_wild_level, max_size=12)
_side_op = st.one_of(
    st.tuples(st.just("apply"), _wild_side, st.booleans()),
    st.tuples(st.just("load"), _wild_side, st.booleans()),
    st.tuples(st.just("trim"), st.integers(0, 12)),
    st.tuples(st.just("clear")),
)


def _speedups() -> Any:
    try:
        from trio_feeds import _speedups
    except ImportError:
        pytest.skip("the C extension trio_feeds._speedups is not built")
    return _speedups


def _exact(levels: Any) -> str:
    """Levels as floats, compared by repr: -0.0 and 0.0 differ, 1 and 1.0 do not."""
    if levels is None:
        return "None"
    if isinstance(levels[0] if levels else None, tuple):
        return repr([(float(p), float(s)) for p, s in levels])
    return repr([float(x) for x in levels])


@settings(max_examples=500, deadline=None)
@given(ops=st.lists(_side_op, max_size=25), ask=st.booleans(), n=st.integers(-1, 15))
def test_c_book_side_equals_the_python_side(ops: list[Any], ask: bool, n: int) -> None:
    c_side = _speedups().BookSide(ask)
    py_side = _book_mod._PyBookSide(ask)
    for op in ops:
        if op[0] in ("apply", "load"):
            levels = list(op[1]) if op[2] else tuple(op[1])
            getattr(c_side, op[0])(levels)
            getattr(py_side, op[0])(levels)
        elif op[0] == "trim":
            assert _exact(c_side.trim(op[1])) == _exact(py_side.trim(op[1]))
        else:
            c_side.clear()
            py_side.clear()
        assert len(c_side) == len(py_side)
        assert _exact(c_side.top(-1)) == _exact(py_side.top(-1))
        assert _exact(c_side.top(n)) == _exact(py_side.top(n))
        c_best, py_best = c_side.best(), py_side.best()
        assert _exact(None if c_best is None else [c_best]) == _exact(
            None if py_best is None else [py_best]
        )
        for p in TICK_PRICES[:5]:
            assert float(c_side.get(p)) == float(py_side.get(p))


def test_book_sides_refuse_bad_levels() -> None:
    sides = [_book_mod._PyBookSide(False)]
    try:
        sides.append(_speedups().BookSide(False))
    except pytest.skip.Exception:
        pass
    for side in sides:
        side.apply([(1.0, 1.0)])
        for bad in ([(float("nan"), 1.0)], [(1.0, 2.0, 3.0)], [(1.0,)], [5.0], None):
            with pytest.raises((TypeError, ValueError)):
                side.apply(bad)
            with pytest.raises((TypeError, ValueError)):
                side.load(bad)
        with pytest.raises(TypeError):
            side.apply([("x", 1.0)])  # a price that is not a number
        with pytest.raises(ValueError, match="trim"):
            side.trim(-1)
        assert side.top(-1) == ((1.0, 1.0),)  # what was refused changed nothing


def test_speedups_are_in_use_when_required() -> None:
    """CI sets TRIO_FEEDS_REQUIRE_SPEEDUPS=1: a C extension that failed to build fails here."""
    import os

    if not os.environ.get("TRIO_FEEDS_REQUIRE_SPEEDUPS"):
        pytest.skip("TRIO_FEEDS_REQUIRE_SPEEDUPS is not set")
    assert _book_mod.SPEEDUPS, "trio_feeds._speedups did not build or import"


def test_top_refuses_a_negative_depth() -> None:
    b = OrderBook()
    b.load_snapshot([(1.0, 1.0)], [(2.0, 1.0)])
    with pytest.raises(ValueError, match="n=-1"):
        b.top(-1)
    assert b.top(0) == ((), ())


@settings(max_examples=200, deadline=None)
@given(snapshot=st.tuples(side, side), stream=updates, depth=st.integers(1, 10))
def test_trimmed_book_is_prefix_of_untrimmed_while_deletes_stay_inside(
    snapshot: tuple[list[tuple[float, float]], list[tuple[float, float]]],
    stream: list[tuple[list[tuple[float, float]], list[tuple[float, float]]]],
    depth: int,
) -> None:
    # With inserts only (no deletes) trimming never loses information that matters.
    full = OrderBook()
    trimmed = OrderBook(max_depth=depth)
    sb = [(p, s or 1.0) for p, s in snapshot[0]]
    sa = [(p, s or 1.0) for p, s in snapshot[1]]
    full.load_snapshot(sb, sa)
    trimmed.load_snapshot(sb, sa)
    for ub, ua in stream:
        b = [(p, s or 1.0) for p, s in ub]
        a = [(p, s or 1.0) for p, s in ua]
        full.apply(b, a)
        trimmed.apply(b, a)
        assert trimmed.top() == full.top(depth)


@settings(max_examples=200, deadline=None)
@given(stream=updates, steps=st.lists(st.integers(1, 1000), min_size=40, max_size=40))
def test_okx_sync_chain_matches_replay(
    stream: list[tuple[list[tuple[float, float]], list[tuple[float, float]]]],
    steps: list[int],
) -> None:
    s = OkxBookSync("BTC-USDT")
    s.on_delta(okx_push(okx_frame("snapshot", [], [], 1, -1)))
    bids: dict[float, float] = {}
    asks: dict[float, float] = {}
    seq = 1
    for (ub, ua), step in zip(stream, steps, strict=False):
        prev, seq = seq, seq + step
        frame = okx_frame(
            "update",
            [(_text(p), _text(z)) for p, z in ub],
            [(_text(p), _text(z)) for p, z in ua],
            seq,
            prev,
        )
        out = s.on_delta(okx_push(frame))
        assert all(isinstance(o, BookUpdated) for o in out)
        for ref, levels in ((bids, ub), (asks, ua)):
            for p, z in levels:
                if z:
                    ref[p] = z
                else:
                    ref.pop(p, None)
    assert s.synced and s.last_sequence == seq
    assert s.book.top() == (tuple(sorted(bids.items(), reverse=True)), tuple(sorted(asks.items())))


def test_book_keeper_builds_one_whole_book_per_symbol_per_batch() -> None:
    """Several diffs in one socket read give one Book, the newest; a gap voids the
    pending one and the consumer gets the Gap instead."""
    from trio_feeds.engine.books import BookKeeper
    from trio_feeds.exchanges.okx import SPEC

    keeper = BookKeeper(
        SPEC, ["BTC-USDT"], depth=5, deltas=False, rest=None,  # type: ignore[arg-type]
        clock=lambda: 0.0, spawn=lambda fn, arg: None, resubscribe=None,  # type: ignore[arg-type]
        emit=lambda items: None, on_error=lambda m: None,
    )  # fmt: skip

    def delta(
        seq: int, prev: int, bids: tuple[tuple[float, float], ...], snap: bool = False
    ) -> BookDelta:
        return BookDelta("okx", "BTC-USDT", seq, 0.0, bids, ((200.0, 1.0),), snap, seq, prev)

    out = keeper.process([
        delta(1, -1, ((100.0, 1.0),), snap=True),
        delta(2, 1, ((101.0, 2.0),)),
        delta(3, 2, ((102.0, 3.0),)),
    ])  # fmt: skip
    books = [r for r in out if r.kind == "book"]
    assert len(books) == 1
    assert books[0].bids == ((102.0, 3.0), (101.0, 2.0), (100.0, 1.0))
    assert books[0].sequence == 3
    # an update then a broken chain in the same batch: no torn or stale book, a Gap
    out = keeper.process([delta(4, 3, ((103.0, 1.0),)), delta(9, 7, ((104.0, 1.0),))])
    assert [r.kind for r in out] == ["gap"]


def test_book_side_keeps_no_memory_after_clear_or_deletion() -> None:
    """The C side keeps each level's (price, size) tuple once returned, until the level
    changes: after heavy use, clearing or dropping the side must give all of it back."""
    import gc
    import random
    import tracemalloc

    rnd = random.Random(5)
    kinds = [_book_mod._PyBookSide]
    try:
        kinds.append(_speedups().BookSide)
    except pytest.skip.Exception:
        pass

    def churn(side: Any) -> None:
        side.load([(100.0 + i / 10, 1.0 + i) for i in range(400)])
        for step in range(3000):
            side.apply(
                [(100.0 + rnd.randrange(450) / 10, rnd.choice([0.0, 1.5, 2.5])) for _ in range(25)]
            )
            side.top(20)
            side.best()
            if step % 500 == 0:
                side.trim(300)
            if step % 700 == 0:
                side.load([(100.0 + i / 10, 3.0) for i in range(50)])

    for kind in kinds:
        for ask in (False, True):
            churn(kind(ask))  # warm up the allocator's pools
            gc.collect()
            tracemalloc.start()
            try:
                base = tracemalloc.get_traced_memory()[0]
                side = kind(ask)
                churn(side)
                side.clear()
                del side
                gc.collect()
                left = tracemalloc.get_traced_memory()[0] - base
            finally:
                tracemalloc.stop()
            assert left < 4096, f"{kind.__name__}: {left} bytes kept"
