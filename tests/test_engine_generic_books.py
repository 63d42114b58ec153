"""The engine's books keeper drives any exchange's book sync through its spec.

A spec with a resubscribe-style sync (no REST snapshot: Coinbase's ``level2`` state
machine, not wired as an exchange yet) gets the same treatment as the built-in ones:
``ResubscribeRequest`` resubscribes the book channel, the ack reaches ``on_subscribed``,
and a ``ConnectionGap`` drops the books it names with a ``Gap`` each.
"""

from __future__ import annotations

from typing import Any

from trio_feeds.books.outputs import ResubscribeRequest
from trio_feeds.core.records import BookDelta
from trio_feeds.engine.books import BookKeeper
from trio_feeds.exchanges.coinbase import CoinbaseAdapter, CoinbaseBookSync
from trio_feeds.exchanges.spec import BookRules, ExchangeSpec

SPEC = ExchangeSpec(
    name="seqex",
    label="Sequenced",
    adapter=CoinbaseAdapter,
    books=BookRules(full_streams=frozenset({"level2"}), sync=CoinbaseBookSync),
)
SYMBOL = "BTC-USD"


def delta(seq: int, prev: int | None, bid: float, snapshot: bool = False) -> BookDelta:
    return BookDelta(
        "seqex", SYMBOL, 1000 + seq, 1.0, ((bid, 1.0),), ((bid + 1, 1.0),), snapshot, seq, prev
    )


def keeper() -> tuple[BookKeeper, list[Any]]:
    spawned: list[Any] = []
    k = BookKeeper(
        SPEC, [SYMBOL], depth=5, deltas=False, rest=None,
        clock=lambda: 0.0, spawn=lambda fn, arg: spawned.append((fn.__name__, arg)),
        resubscribe=None,  # type: ignore[arg-type]
        emit=lambda items: None, on_error=lambda m: None,
    )  # fmt: skip
    return k, spawned


def test_the_spec_picks_the_sync() -> None:
    k, _ = keeper()
    assert isinstance(k.syncs[SYMBOL], CoinbaseBookSync)


def test_chain_break_resubscribes_and_the_ack_reaches_the_sync() -> None:
    k, spawned = keeper()
    out = k.process([delta(1, None, 100.0, snapshot=True), delta(2, 1, 101.0)])
    assert [r.kind for r in out] == ["book"] and out[0].bids[0] == (101.0, 1.0)
    out = k.process([delta(5, 3, 102.0)])  # a broken chain
    assert [r.kind for r in out] == ["gap"]
    assert spawned == [("_resub", SYMBOL)] and k.resyncs == 1
    assert k.on_subscribed(SYMBOL) == []
    out = k.process([delta(7, None, 103.0, snapshot=True)])
    assert [r.kind for r in out] == ["book"]


def test_connection_gap_drops_the_named_books() -> None:
    k, spawned = keeper()
    k.process([delta(1, None, 100.0, snapshot=True)])
    out = k.on_connection_gap((SYMBOL, "ETH-USD"), 5000)
    assert [(r.kind, r.symbol, r.reason) for r in out] == [
        ("gap", SYMBOL, "messages were lost on the connection")
    ]
    assert out[0].end == 5000
    assert spawned == [("_resub", SYMBOL)]
    assert not k.syncs[SYMBOL].synced


def test_resubscribe_request_is_a_generic_output() -> None:
    # what the keeper acts on is the shared output type, whichever sync made it
    k, spawned = keeper()
    out = k.process([delta(2, 1, 100.0)])  # an update before any snapshot
    assert out == []
    assert spawned == [("_resub", SYMBOL)]
    assert ResubscribeRequest.__module__ == "trio_feeds.books.outputs"
