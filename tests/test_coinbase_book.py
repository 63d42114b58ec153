"""Coinbase local books through the adapter: snapshots, updates, lost messages, resyncs.

The property test runs a model connection: two products' true books, trades and
heartbeats share one ``sequence_num`` counter; any message may be lost.  Frames go
through :class:`CoinbaseAdapter` into one :class:`CoinbaseBookSync` per product; a
``ResubscribeRequest`` is answered (after a few in-flight updates of the old
subscription) with a fresh snapshot.  Every announced book equals the true one; with an
engine that acts on ``ConnectionGap`` at once, a synced book is right after every frame.
"""

from __future__ import annotations

from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from trio_feeds import BookDelta, Trade
from trio_feeds.books.orderbook import BookGap, BookUpdated, ResubscribeRequest
from trio_feeds.exchanges._shared import ConnectionGap
from trio_feeds.exchanges.coinbase import CoinbaseAdapter, CoinbaseBookSync
from trio_feeds.exchanges.coinbase.book import RESUBSCRIBE_AFTER

PRODUCTS = ("BTC-USD", "ETH-USD")
BID_PRICES = [f"{100 + i / 4:g}" for i in range(16)]
ASK_PRICES = [f"{105 + i / 4:g}" for i in range(16)]
SIZES = ["0", "0", "0.00000001", "0.5", "2", "13.25"]


def d(seq: int | None, prev: int | None, bids: Any = (), *, snapshot: bool = False) -> BookDelta:
    return BookDelta("coinbase", "BTC-USD", 1000 + (seq or 0), 1.0, tuple(bids), (), snapshot,
                     seq, prev)  # fmt: skip


def test_updates_apply_while_the_chain_holds() -> None:
    sync = CoinbaseBookSync("BTC-USD")
    assert [o.snapshot for o in sync.on_delta(d(3, None, [(100.0, 1.0)], snapshot=True))] == [True]  # type: ignore[union-attr]
    assert [type(o) for o in sync.on_delta(d(7, 3, [(100.0, 2.0)]))] == [BookUpdated]
    assert sync.book.bids == ((100.0, 2.0),) and sync.book.sequence == 7
    gap, resub = sync.on_delta(d(9, None, [(100.0, 4.0)]))
    assert isinstance(gap, BookGap) and isinstance(resub, ResubscribeRequest)
    assert "sequence_num hole" in gap.reason and not sync.book
    assert sync.on_delta(d(10, 9, [(100.0, 5.0)])) == []
    sync.on_delta(d(12, None, [(101.0, 1.0)], snapshot=True))
    assert sync.synced and sync.book.bids == ((101.0, 1.0),)


def test_connection_gap_resyncs_at_once_and_an_early_update_asks_for_a_snapshot() -> None:
    sync = CoinbaseBookSync("BTC-USD")
    (resub,) = sync.on_delta(d(5, 4, [(100.0, 1.0)]))
    assert isinstance(resub, ResubscribeRequest)
    # lost messages while waiting: the snapshot may be among them, ask again
    assert [type(o) for o in sync.on_connection_gap(99)] == [ResubscribeRequest]
    for _ in range(RESUBSCRIBE_AFTER - 1):
        assert sync.on_delta(d(5, 4, [(100.0, 1.0)])) == []
    (again,) = sync.on_delta(d(5, 4, [(100.0, 1.0)]))  # the new snapshot never came
    assert isinstance(again, ResubscribeRequest) and "no snapshot" in again.reason
    sync.on_delta(d(6, None, [(100.0, 1.0)], snapshot=True))
    gap, _ = sync.on_connection_gap(2000)
    assert isinstance(gap, BookGap) and gap.timestamp == 2000 and gap.last_timestamp == 1006
    sync.on_subscribed()
    assert sync.state == "await_snapshot" and not sync.needs_snapshot


class Connection:
    """The true books of the products and the messages one connection carries."""

    def __init__(self) -> None:
        self.books: dict[str, tuple[dict[str, str], dict[str, str]]] = {
            p: ({}, {}) for p in PRODUCTS
        }
        self.seq = -1
        self.ms = 0
        self.trade_id = 1000

    def message(self, channel: str, events: list[Any]) -> bytes:
        self.seq += 1
        self.ms += 37
        ts = f"2026-01-02T03:04:{self.ms // 1000 % 60:02d}.{self.ms % 1000:03d}123Z"
        return orjson.dumps({"channel": channel, "client_id": "", "timestamp": ts,
                             "sequence_num": self.seq, "events": events})  # fmt: skip

    def snapshot(self, product: str) -> bytes:
        bids, asks = self.books[product]
        ups = [{"side": "bid", "event_time": "1970-01-01T00:00:00Z", "price_level": p,
                "new_quantity": q} for p, q in bids.items()]  # fmt: skip
        ups += [{"side": "offer", "event_time": "1970-01-01T00:00:00Z", "price_level": p,
                 "new_quantity": q} for p, q in asks.items()]  # fmt: skip
        return self.message(
            "l2_data", [{"type": "snapshot", "product_id": product, "updates": ups}]
        )

    def update(self, product: str, data: st.DataObject) -> bytes:
        ups = []
        for side, prices, levels in (("bid", BID_PRICES, 0), ("offer", ASK_PRICES, 1)):
            book = self.books[product][levels]
            for p in data.draw(st.lists(st.sampled_from(prices), max_size=3, unique=True)):
                q = data.draw(st.sampled_from(SIZES))
                ups.append({"side": side, "event_time": "2026-01-02T03:04:05.1Z",
                            "price_level": p, "new_quantity": q})  # fmt: skip
                if q == "0":
                    book.pop(p, None)
                else:
                    book[p] = q
        return self.message("l2_data", [{"type": "update", "product_id": product, "updates": ups}])

    def trade(self) -> bytes:
        self.trade_id += 1
        t = {"product_id": "BTC-USD", "trade_id": str(self.trade_id), "price": "100.5",
             "size": "0.1", "time": "2026-01-02T03:04:05.1Z", "side": "SELL"}  # fmt: skip
        return self.message("market_trades", [{"type": "update", "trades": [t]}])

    def heartbeat(self) -> bytes:
        return self.message("heartbeats", [{"current_time": "…", "heartbeat_counter": self.seq}])

    def truth(self, product: str) -> tuple[Any, Any]:
        bids, asks = self.books[product]
        return (
            tuple(sorted(((float(p), float(q)) for p, q in bids.items()), reverse=True)),
            tuple(sorted((float(p), float(q)) for p, q in asks.items())),
        )


@settings(max_examples=250, deadline=None)
@given(st.data(), st.booleans())
def test_the_books_are_never_wrong(data: st.DataObject, act_on_connection_gaps: bool) -> None:
    conn = Connection()
    adapter = CoinbaseAdapter()
    subs = {p: adapter.subscription("book", p) for p in PRODUCTS}
    adapter.subscribe([*subs.values(), adapter.subscription("trade", "BTC-USD")])
    syncs = {p: CoinbaseBookSync(p) for p in PRODUCTS}
    inflight: dict[str, int] = {}  # product -> updates of the old subscription still to come
    gaps = 0

    def handle(sync: CoinbaseBookSync, outputs: list[Any]) -> None:
        nonlocal gaps
        for o in outputs:
            if isinstance(o, BookUpdated):
                assert sync.book.top() == conn.truth(sync.symbol), "a wrong book was announced"
            elif isinstance(o, BookGap):
                gaps += 1
            elif isinstance(o, ResubscribeRequest):
                adapter.unsubscribe([subs[o.symbol]])
                adapter.subscribe([subs[o.symbol]])
                inflight[o.symbol] = data.draw(st.integers(0, 2))

    def deliver(frame: bytes) -> None:
        for item in adapter.parse_one(frame, 1.0):
            if isinstance(item, ConnectionGap):
                assert set(item.books) == set(PRODUCTS)
                if act_on_connection_gaps:
                    for p in item.books:
                        handle(syncs[p], syncs[p].on_connection_gap(item.gaps[0].end))
            elif isinstance(item, BookDelta):
                handle(syncs[item.symbol], syncs[item.symbol].on_delta(item))
            else:
                assert isinstance(item, Trade), item

    for p in PRODUCTS:
        deliver(conn.snapshot(p))
    for _ in range(data.draw(st.integers(1, 70))):
        waiting = [p for p, n in inflight.items() if n == 0]
        if waiting:  # the new subscription of a product starts with its snapshot
            del inflight[waiting[0]]
            frame = conn.snapshot(waiting[0])
        else:
            action = data.draw(st.sampled_from(["update"] * 5 + ["trade", "heartbeat"]))
            if action == "update":
                product = data.draw(st.sampled_from(PRODUCTS))
                if product in inflight:
                    inflight[product] -= 1
                frame = conn.update(product, data)
            else:
                frame = conn.trade() if action == "trade" else conn.heartbeat()
        if data.draw(st.integers(0, 9)) == 0:
            continue  # this message is lost
        deliver(frame)
        if act_on_connection_gaps:
            for p, sync in syncs.items():
                if sync.synced:
                    assert sync.book.top() == conn.truth(p), f"{p}: synced but wrong"
