"""Property test of the backfill under virtual time: random outages, shutdown notices and
(Binance) stalls that drop frames, drawn with the toolkit's fault strategies.

Invariant, per exchange and symbol: every trade id from the first delivered to the last
arrives exactly once, in increasing order, unless a ``Gap`` without a fill was announced
(a ``gap_not_filled`` event for that symbol), in which case every trade still missing lies
inside a ``Gap``.  And each ``gap_filled`` comes right after the last trade it counts.
"""

from __future__ import annotations

from typing import Any

import trio
import trio.testing
from conftest import SYMBOLS, check_trades, simulated_feed
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from trio_feeds.testing import Fault, FaultScript, play_script
from trio_feeds.testing.strategies import fault_scripts

EXCHANGES = ("binance", "okx")

#: outages and shutdown notices anywhere; stalls (frames dropped on a live connection)
#: on Binance, whose trade ids tell a hole at once
scripts = st.tuples(
    fault_scripts(EXCHANGES, max_faults=3, horizon=20.0, kinds=("outage", "shutdown_notice"),
                  durations=(0.5, 5.0)),
    fault_scripts(("binance",), max_faults=2, horizon=20.0, kinds=("stall",),
                  durations=(0.3, 2.0)),
).map(lambda ab: FaultScript([*ab[0], *ab[1]]))  # fmt: skip


def _check(items: list[Any], log: Any, exchange: str) -> None:
    missing = check_trades(log, items, [exchange], SYMBOLS)  # once, in order, holes in Gaps
    for symbol in SYMBOLS:
        not_filled = [
            x
            for x in items
            if x.kind == "source" and x.state == "gap_not_filled" and symbol in x.detail
        ]
        if not not_filled:
            lost = [t.trade_id for t in missing[exchange, symbol]]
            assert not lost, f"{exchange} {symbol}: trades {lost[:5]} lost, no gap_not_filled"
    for i, x in enumerate(items):
        if x.kind == "gap_filled" and x.count:
            before = [t for t in items[:i] if t.kind == "trade" and t.symbol == x.symbol]
            assert before[-1].trade_id == x.last_id


def _run(seed: int, script: FaultScript) -> dict[str, int]:
    """Play ``script``, check the invariant; the ``gap_filled`` events per exchange."""
    fills: dict[str, int] = {}

    async def main() -> None:
        async with simulated_feed(
            list(EXCHANGES),
            SYMBOLS,
            ["trade"],
            rate=20,
            seed=seed,
            reconnect_delay=0.5,
            max_reconnect_delay=4.0,
        ) as h:
            await trio.sleep(2)
            await play_script(h.sims.sims, script)
            await trio.sleep(30)  # settle: reconnected, every fill done
            for exchange in EXCHANGES:
                _check(h.col.items, h.trades, exchange)
                fills[exchange] = len(h.col.of("gap_filled", exchange))

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    return fills


SCRIPT = FaultScript(
    [
        Fault("outage", "binance", at=1.0, duration=4.0),
        Fault("outage", "okx", at=2.0, duration=3.0),
        Fault("stall", "binance", at=9.0, duration=1.0),
        Fault("shutdown_notice", "okx", at=10.0, duration=0.0),
    ]
)


def test_outages_and_a_stall_are_filled() -> None:
    """The example below, checked to exercise the fills: both outages and the stall."""
    fills = _run(3, SCRIPT)
    assert fills["binance"] >= 2 * len(SYMBOLS) and fills["okx"] >= len(SYMBOLS), fills


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(1, 1000), script=scripts)
@example(seed=3, script=SCRIPT)
def test_random_outages_lose_no_trade_without_saying_so(seed: int, script: FaultScript) -> None:
    _run(seed, script)
