"""Trade ids: delivered at most once, and an older id than one delivered is announced.

The session's dedupe (``trio_feeds.engine.source._Dedupe``) exists for the make-before-break
overlap, where two connections deliver the same trades; it must neither pass a repeat nor
drop, silently, a trade nobody delivered (an old connection still catching up, or the
exchange itself sending ids out of order).
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest
import trio
from scripted_ws import ScriptedServer
from test_first_batch import T0, run, until

from trio_feeds import SourceEvent, Trade
from trio_feeds.engine.source import _Dedupe

#: run over every transport (see conftest.TRANSPORTS)
pytestmark = pytest.mark.usefixtures("transport")


def trade(tid: int, symbol: str = "BTC-USDT") -> Trade:
    return Trade("binance", symbol, T0 + tid, 0.0, 100.0, 1.0, "buy", str(tid))


def ids(items: list[Any]) -> list[int | str]:
    """Trade ids, and "!" for an out-of-order announcement."""
    return [int(x.trade_id) if x.kind == "trade" else "!" for x in items]


def test_one_connection_in_order_passes_everything() -> None:
    d = _Dedupe()
    out = d.filter([trade(i) for i in range(1, 6)], 1, "binance", 7)
    assert ids(out) == [1, 2, 3, 4, 5]
    assert (d.repeats, d.out_of_order) == (0, 0)


def test_a_resend_of_the_last_id_is_dropped() -> None:
    d = _Dedupe()
    assert ids(d.filter([trade(1), trade(2), trade(2)], 1, "binance", 7)) == [1, 2]
    assert d.repeats == 1


def test_an_older_id_is_delivered_and_announced_once_per_batch_and_symbol() -> None:
    d = _Dedupe()
    d.filter([trade(1), trade(5)], 1, "binance", 7)
    out = d.filter([trade(6), trade(3), trade(4), trade(2, "ETH-USDT"), trade(7)], 1, "binance", 9)
    assert ids(out) == [6, "!", 3, 4, 2, 7]  # ETH's first trade is not "older" than anything
    (event,) = [x for x in out if isinstance(x, SourceEvent)]
    assert (event.exchange, event.state, event.timestamp) == ("binance", "out_of_order", 9)
    assert (
        "BTC-USDT" in event.detail and "(3, 4)" in event.detail and "after trade 6" in event.detail
    )
    assert d.out_of_order == 2


def test_handoff_overlap_drops_repeats_and_keeps_what_the_old_connection_alone_had() -> None:
    d = _Dedupe()
    old, new = 1, 2
    assert ids(d.filter([trade(101), trade(102), trade(103)], old, "okx", 0)) == [101, 102, 103]
    assert ids(d.filter([trade(105), trade(106)], new, "okx", 0)) == [105, 106]
    # the old connection catches up: 104 reached only it; 105 and 106 are repeats
    out = d.filter([trade(104), trade(105), trade(106), trade(107)], old, "okx", 0)
    assert ids(out) == ["!", 104, 107]
    assert ids(d.filter([trade(107), trade(108)], new, "okx", 0)) == [108]
    assert d.repeats == 3


def test_only_the_last_connections_are_remembered() -> None:
    d = _Dedupe()
    for conn in range(1, 10):
        d.filter([trade(conn * 10)], conn, "okx", 0)
    assert len(d.ranges) == _Dedupe.KEEP
    assert list(d.last) == ["BTC-USDT"]


# --------------------------------------------------------------------------- through the engine


def bn_trade(tid: int) -> bytes:
    data = {
        "e": "trade",
        "E": T0 + tid,
        "s": "BTCUSDT",
        "t": tid,
        "p": "100.5",
        "q": "0.1",
        "T": T0 + tid,
        "m": True,
        "M": True,
    }
    return orjson.dumps({"stream": "btcusdt@trade", "data": data})


def test_an_out_of_order_trade_reaches_the_consumer_behind_its_announcement() -> None:
    async def script(server: ScriptedServer, items: list[Any]) -> None:
        conn = await server.connection()
        await conn.send([bn_trade(1), bn_trade(2), bn_trade(5)])
        await trio.sleep(0.1)
        await conn.send([bn_trade(4), bn_trade(5), bn_trade(6)])
        await until(items, lambda x: x.kind == "trade" and x.trade_id == "6")

    # without backfill: with it, 5 would wait until 3 and 4 came from the REST history
    items = run("binance", ["trade"], script, backfill=False)
    relevant = [
        x for x in items if x.kind == "trade" or (x.kind == "source" and x.state == "out_of_order")
    ]
    assert ids(relevant) == [1, 2, 5, "!", 4, 6]
    # Binance trade ids are consecutive: when 5 came, 3 and 4 were missing (a Gap right
    # before 5, docs/engine.md "Trade id gaps"); 4 then arrived late, 3 never
    (gap,) = [x for x in items if x.kind == "gap"]
    assert gap.reason == "trade ids 3-4 missing (2 trades)"
    assert items.index(gap) == items.index(relevant[2]) - 1
    (event,) = [x for x in relevant if x.kind == "source"]
    assert event.detail == (
        "binance BTC-USDT: trade 4 arrived after trade 5, out of order; delivered"
    )


def test_a_refused_trade_frame_leaves_a_gap_over_its_time() -> None:
    """The consumer learns where a trade is missing, not only that a frame was bad."""

    async def script(server: ScriptedServer, items: list[Any]) -> None:
        conn = await server.connection()
        await conn.send([bn_trade(1)])
        await trio.sleep(0.5)
        bad = orjson.loads(bn_trade(2))
        bad["data"]["p"] = "NaN"
        await conn.send([orjson.dumps(bad), bn_trade(3)])
        await until(items, lambda x: x.kind == "trade" and x.trade_id == "3")

    items = run("binance", ["trade"], script)
    (gap,) = [x for x in items if x.kind == "gap"]
    assert (gap.symbol, gap.channel, gap.reason) == ("BTC-USDT", "trade", "malformed frame")
    assert gap.start == T0 + 1 and gap.start <= T0 + 2 <= gap.end  # trade 2's time inside
    assert ids([x for x in items if x.kind == "trade"]) == [1, 3]
