"""OKX book checksums are computed over the exchange's own strings, also after an update
whose checksum is 0 (or absent): an instrument that writes its numbers padded
(``"3366.10"``, ``"7.00"``) must not be resynced for nothing because a later checksum was
computed over floats written back as ``"3366.1"``, ``"7"``."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from trio_feeds.books.orderbook import OrderBook
from trio_feeds.books.outputs import BookGap, BookUpdated
from trio_feeds.exchanges.okx import OkxBookSync
from trio_feeds.exchanges.okx.book import okx_crc32
from trio_feeds.protocol import OkxAdapter

Levels = list[tuple[str, str]]


def frame(
    action: str, bids: Levels, asks: Levels, seq: int, prev: int, checksum: int | None = 0
) -> bytes:
    item: dict[str, Any] = {
        "asks": [[p, s, "0", "1"] for p, s in asks],
        "bids": [[p, s, "0", "1"] for p, s in bids],
        "ts": str(1597026383085 + seq),
        "prevSeqId": prev,
        "seqId": seq,
    }
    if checksum is not None:
        item["checksum"] = checksum
    return orjson.dumps({"arg": {"channel": "books", "instId": "ETH-USDT"}, "action": action,
                         "data": [item]})  # fmt: skip


def crc(bids: Levels, asks: Levels) -> int:
    """What OKX computes: over its strings, best first."""
    by_price = lambda lv: float(lv[0])  # noqa: E731
    return okx_crc32(sorted(bids, key=by_price, reverse=True), sorted(asks, key=by_price))


BIDS = [("3366.10", "7.00"), ("3366.00", "6.50")]
ASKS = [("3366.80", "9.00"), ("3368.00", "8.25")]


@pytest.mark.parametrize("zero", [0, None], ids=["checksum 0", "no checksum"])
@pytest.mark.parametrize("first", ["snapshot", "update"], ids=lambda w: f"checksum on {w}")
def test_a_checksum_after_a_checksum_zero_update_is_over_the_exchange_strings(
    zero: int | None, first: str
) -> None:
    """Checksums in use (the snapshot's, or an update's), then an update without one, then
    one with: verified over OKX's strings, no resync."""
    adapter = OkxAdapter()
    sync = OkxBookSync("ETH-USDT")
    outputs: list[Any] = []

    def feed(f: bytes) -> None:
        records = adapter.parse_one(f, 1.0)
        assert all(r.kind == "book_delta" for r in records), records
        for r in records:
            outputs.extend(sync.on_delta(r))

    bids, asks = list(BIDS), list(ASKS)
    feed(frame("snapshot", bids, asks, 1000, -1, crc(bids, asks) if first == "snapshot" else 0))
    seq = 1000
    if first == "update":
        asks = [("3368.50", "1.00"), *asks]
        feed(frame("update", [], [("3368.50", "1.00")], 1001, 1000, crc(bids, asks)))
        seq = 1001
    # an update without a checksum changes a level (padded, as this instrument writes)
    feed(frame("update", [("3366.20", "1.50")], [], seq + 1, seq, zero))
    bids = [("3366.20", "1.50"), *bids]
    # then one with a checksum, over OKX's strings of the whole book
    asks = [("3367.00", "2.00"), *asks]
    feed(frame("update", [], [("3367.00", "2.00")], seq + 2, seq + 1, crc(bids, asks)))
    assert all(type(o) is BookUpdated for o in outputs), outputs
    assert sync.checksum_failures == 0 and sync.synced
    # a wrong checksum is still caught
    feed(frame("update", [("3366.20", "1.60")], [], seq + 3, seq + 2, crc(bids, asks)))
    assert isinstance(outputs[-2], BookGap) and "checksum mismatch" in outputs[-2].reason


def test_without_checksums_a_padded_instrument_keeps_the_fast_path() -> None:
    """OKX sends checksum 0 only (since 2026-06-23): nothing is verified, so its updates
    carry no texts, padded numbers or not."""
    adapter = OkxAdapter()
    (snap,) = adapter.parse_one(frame("snapshot", BIDS, ASKS, 1000, -1, 0))
    assert snap.text is not None  # a snapshot keeps them, in case a checksum follows
    (update,) = adapter.parse_one(frame("update", [("3366.20", "1.50")], [], 1001, 1000, 0))
    assert update.text is None and update.bids == ((3366.2, 1.5),)


def test_texts_given_after_an_update_without_them_are_used_for_their_levels() -> None:
    book = OrderBook()
    book.load_snapshot(
        [(3366.1, 7.0), (3366.0, 6.5)], [(3366.8, 9.0)], (BIDS, [("3366.80", "9.00")])
    )
    assert book.has_text and book.top_text()[0] == BIDS
    book.apply([(3366.0, 6.0)], [])  # no texts: the book cannot tell its strings any more
    assert not book.has_text
    assert book.top_text() == ([("3366.1", "7"), ("3366", "6")], [("3366.8", "9")])
    # an update with texts: its levels are written as the exchange wrote them again
    book.apply([(3366.0, 6.25)], [], ([("3366.00", "6.25")], []))
    assert book.top_text()[0] == [("3366.1", "7"), ("3366.00", "6.25")]
