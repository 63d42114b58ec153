"""Trades lost on a live connection, told by a jump in consecutive trade ids.

Where an exchange numbers trades consecutively per symbol
(``ExchangeSpec.contiguous_trade_ids``: Binance ``@trade`` and ``@aggTrade``), a trade
whose id is more than one above the previous one on the same connection means trades
were lost there: a ``Gap(channel="trade")`` from the trade before the hole to the trade
after it, naming the missing ids.  A stall that drops frames used to lose them silently.
"""

from __future__ import annotations

from typing import Any

import trio
import trio.testing
from conftest import SYMBOLS, check_trades, simulated_feed

from trio_feeds.core.records import Gap, Trade
from trio_feeds.engine.dedupe import _TradeIdGaps
from trio_feeds.exchanges import get


def _trade(tid: int, ts: int, symbol: str = "BTC-USDT") -> Trade:
    return Trade("binance", symbol, ts, ts / 1000, 100.0, 1.0, "buy", str(tid))


def test_a_jump_in_ids_is_a_gap_before_the_trade_after_the_hole() -> None:
    d = _TradeIdGaps("binance", ["BTC-USDT"])
    assert d.check([_trade(10, 1000), _trade(11, 1001)]) == [_trade(10, 1000), _trade(11, 1001)]
    out = d.check([_trade(12, 1002), _trade(15, 1010), _trade(16, 1011), _trade(18, 1020)])
    assert out == [
        _trade(12, 1002),
        Gap("binance", "BTC-USDT", "trade", 1002, 1010, "trade ids 13-14 missing (2 trades)"),
        _trade(15, 1010),
        _trade(16, 1011),
        Gap("binance", "BTC-USDT", "trade", 1011, 1020, "trade id 17 missing (1 trade)"),
        _trade(18, 1020),
    ]
    assert d.found == 2
    # across batches too
    gap, trade = d.check([_trade(60, 2000)])
    assert trade == _trade(60, 2000)
    assert gap.reason == "trade ids 19-59 missing (41 trades)"
    assert (gap.start, gap.end) == (1020, 2000)


def test_repeats_older_ids_other_symbols_and_first_trades_are_no_gap() -> None:
    d = _TradeIdGaps("binance", ["BTC-USDT"])
    records: list[Any] = [
        _trade(500, 1000),  # a connection's first trade has no predecessor on it
        _trade(501, 1001),
        _trade(501, 1001),  # a resend
        _trade(480, 990),  # older (out of order): delivered by the dedupe, no hole here
        _trade(502, 1002),  # still consecutive to the newest received
        _trade(1, 1003, "ETH-USDT"),  # a symbol not checked
        _trade(9, 1004, "ETH-USDT"),
    ]
    assert d.check(records) == records and d.found == 0


def test_make_before_break_overlap_is_no_gap() -> None:
    """Each connection is checked on its own: the replacement starting ahead of the old
    connection (which still catches up) is no hole for either."""
    old = _TradeIdGaps("binance", ["BTC-USDT"])
    new = _TradeIdGaps("binance", ["BTC-USDT"])
    assert old.check([_trade(i, 1000 + i) for i in range(100, 105)])[-1] == _trade(104, 1104)
    out = new.check([_trade(i, 1000 + i) for i in range(108, 112)])
    out += old.check([_trade(i, 1000 + i) for i in range(105, 112)])
    assert not [x for x in out if x.kind == "gap"]


def test_the_spec_says_which_trade_streams_have_consecutive_ids() -> None:
    assert get("binance").contiguous_trade_ids == {"trade", "aggTrade"}
    # OKX trades are aggregated (one id per taker order, the fills' ids in between skip)
    assert not get("okx").contiguous_trade_ids


def _stall(
    exchange: str, duration: float, seed: int, backfill: bool = False
) -> tuple[list[Any], dict[Any, Any]]:
    async def main() -> tuple[list[Any], dict[Any, Any]]:
        async with simulated_feed(
            [exchange], SYMBOLS, ["trade"], rate=50, seed=seed, backfill=backfill
        ) as h:
            await trio.sleep(5)
            h.sims.sims[exchange].stall(duration)
            await trio.sleep(10)
            missing = check_trades(h.trades, h.col.items, [exchange], SYMBOLS)
            assert h.source(exchange).reconnects == 0  # the connection stayed up
            gaps = [x for x in h.col.items if x.kind == "gap"]
            assert h.source(exchange).gaps == len(gaps)
            return gaps, missing

    return trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))


def test_a_short_binance_stall_that_drops_trades_gives_a_gap_naming_them() -> None:
    for seed in (1, 2, 3):
        gaps, missing = _stall("binance", 0.8, seed)
        lost = sum(len(m) for m in missing.values())
        assert lost > 0, "the stall dropped no trade"
        # one Gap per symbol that lost trades, covering them (check_trades) and counting them
        assert len(gaps) == len([m for m in missing.values() if m])
        for gap in gaps:
            assert gap.channel == "trade" and gap.reason.startswith("trade id")
            ids = sorted(t.trade_id for t in missing["binance", gap.symbol])
            count = f"({len(ids)} trade{'s' if len(ids) > 1 else ''})"
            assert gap.reason.endswith(count), (gap.reason, ids)
            first = f"{ids[0]}-{ids[-1]}" if len(ids) > 1 else str(ids[0])
            assert first in gap.reason


def test_with_backfill_the_trades_a_stall_dropped_are_delivered() -> None:
    """The same stalls with backfill on (the default): the Gap is still announced, then
    the dropped trades come from the REST history, in order, before the trade after them."""
    for seed in (1, 2):
        gaps, missing = _stall("binance", 0.8, seed, backfill=True)
        assert gaps and not any(missing.values())


def test_handoff_and_reconnects_give_no_id_gap() -> None:
    """A shutdown notice (make-before-break) and a drop: no Gap names trade ids."""

    async def main() -> None:
        async with simulated_feed(["binance"], SYMBOLS, ["trade"], rate=50, seed=4) as h:
            sim = h.sims.binance
            for _ in range(3):
                await trio.sleep(4)
                sim.shutdown_notice(lead=5.0)
            await trio.sleep(10)
            sim.drop()
            await trio.sleep(10)
            check_trades(h.trades, h.col.items, ["binance"], SYMBOLS)
            reasons = [x.reason for x in h.col.items if x.kind == "gap"]
            assert not [r for r in reasons if r.startswith("trade id")], reasons
            assert len(sim.all_connections) == 5

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))


def test_a_hole_right_after_a_refused_frame_is_that_frame_s_gap() -> None:
    """A refused trade frame has its own Gap ("malformed frame"): the hole it leaves in
    the ids gets no second one; a later hole does, and so does one of another symbol."""
    d = _TradeIdGaps("binance", ["BTC-USDT", "ETH-USDT"])
    assert d.see(_trade(10, 1000)) is None and d.see(_trade(50, 1000, "ETH-USDT")) is None
    d.refused("BTC-USDT")
    assert d.see(_trade(52, 1001, "ETH-USDT")) is not None
    assert d.see(_trade(12, 1002)) is None  # 11 was the refused frame
    gap = d.see(_trade(14, 1003))
    assert gap is not None and gap.reason == "trade id 13 missing (1 trade)"
    d.refused(None)  # a frame whose symbol cannot be told: any symbol's next hole
    assert d.see(_trade(55, 1004, "ETH-USDT")) is None
    assert d.see(_trade(15, 1005)) is None  # no hole: the excuse is spent anyway
    assert d.see(_trade(17, 1006)) is not None
