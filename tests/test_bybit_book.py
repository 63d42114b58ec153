"""Bybit local books: the ``u`` chain, re-sent and ``u == 1`` snapshots, gaps, resubscribes.

The property test runs a model exchange that keeps the true book and sends real-shaped
frames through :class:`BybitAdapter` into :class:`BybitBookSync`, losing some, re-sending
snapshots, restarting (``u`` back to 1) and answering resubscriptions with a fresh
snapshot after a few in-flight deltas.  The book is never wrong: every book the sync
announces equals the true one, and whenever nothing was lost since the last frame it
saw, a synced book equals the true one.
"""

from __future__ import annotations

from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from trio_feeds import BookDelta
from trio_feeds.books.orderbook import BookGap, BookUpdated, ResubscribeRequest
from trio_feeds.exchanges.bybit import BybitAdapter, BybitBookSync
from trio_feeds.exchanges.bybit.book import RESUBSCRIBE_AFTER

T0 = 1_700_000_000_000


def delta(u: int, bids: Any = (), asks: Any = (), *, snapshot: bool = False) -> BookDelta:
    return BookDelta("bybit", "BTC-USDT", T0 + u, 1.0, tuple(bids), tuple(asks), snapshot, u)


def test_snapshot_then_chained_deltas() -> None:
    sync = BybitBookSync("BTC-USDT")
    out = sync.on_delta(delta(10, [(100.0, 1.0)], [(101.0, 2.0)], snapshot=True))
    assert out == [BookUpdated("bybit", "BTC-USDT", 10, T0 + 10, 1.0, True)]
    assert sync.on_delta(delta(11, [(100.0, 0.0), (99.5, 3.0)])) == [
        BookUpdated("bybit", "BTC-USDT", 11, T0 + 11, 1.0)
    ]
    assert sync.book.top() == (((99.5, 3.0),), ((101.0, 2.0),))
    assert sync.on_delta(delta(12)) == []  # an empty delta moves the chain, changes nothing
    assert sync.book.sequence == 12 and sync.synced


def test_a_hole_in_u_drops_the_book_and_asks_for_a_resubscription() -> None:
    sync = BybitBookSync("BTC-USDT")
    sync.on_delta(delta(10, [(100.0, 1.0)], snapshot=True))
    gap, resub = sync.on_delta(delta(12, [(100.0, 2.0)]))
    assert isinstance(gap, BookGap) and isinstance(resub, ResubscribeRequest)
    assert (gap.last_sequence, gap.next_first_sequence) == (10, 12)
    assert (gap.last_timestamp, gap.timestamp) == (T0 + 10, T0 + 12)
    assert "u=12 after u=10" in gap.reason
    assert not sync.book and sync.state == "resubscribing"
    assert sync.on_delta(delta(13, [(100.0, 5.0)])) == []  # the old subscription's deltas
    out = sync.on_delta(delta(40, [(100.0, 7.0)], snapshot=True))
    assert [type(o) for o in out] == [BookUpdated] and sync.book.top() == (((100.0, 7.0),), ())


def test_a_delta_going_back_is_a_gap_too() -> None:
    sync = BybitBookSync("BTC-USDT")
    sync.on_delta(delta(10, [(100.0, 1.0)], snapshot=True))
    assert [type(o) for o in sync.on_delta(delta(10, [(100.0, 9.0)]))] == [
        BookGap,
        ResubscribeRequest,
    ]


def test_u_equal_1_snapshot_after_a_restart_replaces_the_book() -> None:
    sync = BybitBookSync("BTC-USDT")
    sync.on_delta(delta(500, [(100.0, 1.0), (99.0, 1.0)], [(101.0, 1.0)], snapshot=True))
    out = sync.on_delta(delta(1, [(98.0, 4.0)], [(102.0, 5.0)], snapshot=True))
    assert [o.snapshot for o in out if isinstance(o, BookUpdated)] == [True]
    assert sync.book.top() == (((98.0, 4.0),), ((102.0, 5.0),)) and sync.resets == 1
    assert [type(o) for o in sync.on_delta(delta(2, [(98.0, 1.0)]))] == [BookUpdated]


def test_a_delta_before_the_first_snapshot_asks_for_a_resubscription() -> None:
    sync = BybitBookSync("BTC-USDT")
    (resub,) = sync.on_delta(delta(5, [(100.0, 1.0)]))
    assert isinstance(resub, ResubscribeRequest) and sync.state == "resubscribing"
    assert sync.on_delta(delta(6, [(100.0, 1.0)])) == []
    for u in range(7, 6 + RESUBSCRIBE_AFTER - 1):
        assert sync.on_delta(delta(u, [(100.0, 1.0)])) == []
    (again,) = sync.on_delta(delta(99, [(100.0, 1.0)]))  # the new snapshot never came
    assert isinstance(again, ResubscribeRequest) and "no snapshot" in again.reason
    sync.on_subscribed()
    assert sync.state == "await_snapshot" and not sync.needs_snapshot


def test_max_depth_keeps_the_stream_depth() -> None:
    sync = BybitBookSync("BTC-USDT", max_depth=2)
    sync.on_delta(delta(1, [(100.0, 1.0), (99.0, 1.0)], snapshot=True))
    sync.on_delta(delta(2, [(100.5, 1.0)]))
    assert sync.book.bids == ((100.5, 1.0), (100.0, 1.0))


# --------------------------------------------------------------------------- property

BID_PRICES = [f"{9990 + i / 2:.1f}" for i in range(20)]  # 9990.0 … 9999.5
ASK_PRICES = [f"{10000 + i / 2:.1f}" for i in range(20)]  # 10000.0 … 10009.5
SIZES = ["0", "0", "0.001", "0.25", "1", "3.5"]


class Exchange:
    """The true book of one topic and the frames Bybit would send for it."""

    def __init__(self) -> None:
        self.bids: dict[str, str] = {}
        self.asks: dict[str, str] = {}
        self.u = 1000
        self.ts = T0

    def frame(self, kind: str, b: list[list[str]], a: list[list[str]]) -> bytes:
        self.ts += 20
        data = {"s": "BTCUSDT", "b": b, "a": a, "u": self.u, "seq": self.u * 7}
        return orjson.dumps({"topic": "orderbook.50.BTCUSDT", "type": kind, "ts": self.ts,
                             "data": data, "cts": self.ts - 1})  # fmt: skip

    def snapshot(self, restart: bool = False) -> bytes:
        if restart:
            self.u = 1
        b = [[p, s] for p, s in sorted(self.bids.items(), key=lambda x: -float(x[0]))]
        a = [[p, s] for p, s in sorted(self.asks.items(), key=lambda x: float(x[0]))]
        return self.frame("snapshot", b, a)

    def delta(self, data: st.DataObject) -> bytes:
        self.u += 1
        changes: list[list[list[str]]] = [[], []]
        for side, prices, levels in ((0, BID_PRICES, self.bids), (1, ASK_PRICES, self.asks)):
            for p in data.draw(st.lists(st.sampled_from(prices), max_size=4, unique=True)):
                s = data.draw(st.sampled_from(SIZES))
                changes[side].append([p, s])
                if s == "0":
                    levels.pop(p, None)
                else:
                    levels[p] = s
        return self.frame("delta", *changes)

    def truth(self) -> tuple[tuple[tuple[float, float], ...], tuple[tuple[float, float], ...]]:
        bids = sorted(((float(p), float(s)) for p, s in self.bids.items()), reverse=True)
        asks = sorted((float(p), float(s)) for p, s in self.asks.items())
        return tuple(bids), tuple(asks)


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_the_book_is_never_wrong(data: st.DataObject) -> None:
    ex = Exchange()
    adapter = BybitAdapter()
    sub = adapter.subscription("book", "BTC-USDT")
    adapter.subscribe([sub])
    sync = BybitBookSync("BTC-USDT")
    inflight: int | None = None  # deltas still to come from the old subscription
    lost_since_seen = False
    gaps = resubscribes = 0

    def deliver(frame: bytes) -> None:
        nonlocal inflight, lost_since_seen, gaps, resubscribes
        lost_since_seen = False
        for d in adapter.parse_one(frame, 1.0):
            assert isinstance(d, BookDelta)
            for o in sync.on_delta(d):
                if isinstance(o, BookUpdated):
                    assert sync.book.top() == ex.truth(), "a wrong book was announced"
                elif isinstance(o, BookGap):
                    gaps += 1
                    assert not sync.book
                elif isinstance(o, ResubscribeRequest):
                    resubscribes += 1
                    adapter.unsubscribe([sub])
                    adapter.subscribe([sub])
                    inflight = data.draw(st.integers(0, 2))

    deliver(ex.snapshot())
    for _ in range(data.draw(st.integers(1, 60))):
        if inflight is not None:
            if inflight == 0:  # the new subscription starts with a snapshot
                inflight = None
                deliver(ex.snapshot())
                continue
            inflight -= 1
        action = data.draw(st.sampled_from(["delta"] * 6 + ["lose", "resend", "restart"]))
        if action == "delta":
            deliver(ex.delta(data))
        elif action == "lose":
            ex.delta(data)
            lost_since_seen = True
        elif action == "resend":  # Bybit re-sends a snapshot after a problem on its side
            deliver(ex.snapshot())
        else:  # a service restart: a snapshot with u == 1, then deltas from 2
            if data.draw(st.booleans()):
                ex.delta(data)
                ex.u -= 1  # the restart's book differs from the last one sent
            deliver(ex.snapshot(restart=True))
        if sync.synced and not lost_since_seen:
            assert sync.book.top() == ex.truth()
            assert sync.book.sequence == ex.u
    assert resubscribes >= gaps
