"""Property tests: whatever the simulators lose, restart or re-send, in whatever order, the
adapter + book sync (acting on their resubscribe requests as the engine does) end with the
server's book, and every break showed up as a ``BookGap`` first."""

from __future__ import annotations

from typing import Any

import trio
import trio.testing
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sim_clients import ws_client
from test_bybit_simulator import BookClient as BybitClient
from test_coinbase_simulator import BookClient as CoinbaseClient

from trio_feeds.exchanges.bybit.simulator import SimulatedBybit
from trio_feeds.exchanges.coinbase.simulator import SimulatedCoinbase
from trio_feeds.testing import MarketSimulator

BYBIT_FAULTS = ("sequence_gap", "gap", "restart", "resend", "none")
COINBASE_FAULTS = ("sequence_gap", "gap", "stall", "none")
#: (fault, virtual seconds before the next one)
steps = st.lists(
    st.tuples(st.sampled_from((*BYBIT_FAULTS, "stall")), st.sampled_from((0.0, 0.05, 0.5))),
    min_size=1,
    max_size=6,
)
SETTINGS = settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _run(fn: Any, *args: Any) -> None:
    trio.run(fn, *args, clock=trio.testing.MockClock(autojump_threshold=0))


def _levels(levels: Any) -> list[tuple[float, float]]:
    return [(float(p), float(q)) for p, q in levels]


@SETTINGS
@given(steps=steps, depth=st.sampled_from((50, 200)), seed=st.integers(0, 1000))
def test_bybit_book_converges_through_any_faults(
    steps: list[tuple[str, float]], depth: int, seed: int
) -> None:
    async def main() -> None:
        market = MarketSimulator(["BTC-USDT"], seed=seed, rate=50.0)
        sim = SimulatedBybit(market)
        async with sim.serve(memory=True), ws_client(sim, "/v5/public/spot") as ws:
            client = BybitClient(ws, "BTC-USDT", depth)
            await client.start()
            await client.pump(0.5)
            breaks = 0
            for fault, wait in steps:
                if fault == "sequence_gap":
                    sim.sequence_gap("BTC-USDT")
                    breaks += 1
                elif fault == "gap":
                    sim.corrupt("gap", "BTC-USDT")
                    breaks += 1
                elif fault == "restart":
                    sim.restart_books()
                    # its u == 1 snapshot arrives (TCP loses nothing short of the connection):
                    # a lost restart snapshot followed by exactly as many lost deltas as the
                    # client had seen would leave a u chain that looks unbroken (found by
                    # hypothesis: 4 sequence gaps, restart, stall at u == 5)
                    await client.pump(0.11)
                elif fault == "resend":
                    sim.resend_snapshot()
                elif fault == "stall":  # deltas lost while silent: u jumps after
                    sim.silence()
                    await client.pump(0.2)
                    sim.resume()
                    breaks += 1
                await client.pump(wait)
            await client.pump(2.0)  # settle: resyncs done
            sim.market.freeze()  # and what is in flight arrives
            await client.pump(0.5)
            bids, asks = sim.book("BTC-USDT", depth)
            assert client.sync.synced
            assert client.book() == (_levels(bids), _levels(asks))
            # a lost delta is found at the next one: at most one gap per break
            assert len(client.gaps) <= breaks
            assert client.resubscribes >= len(client.gaps)

    _run(main)


@SETTINGS
@given(
    steps=st.lists(
        st.tuples(st.sampled_from(COINBASE_FAULTS), st.sampled_from((0.0, 0.05, 0.5))),
        min_size=1,
        max_size=6,
    ),
    seed=st.integers(0, 1000),
)
def test_coinbase_book_converges_through_any_faults(
    steps: list[tuple[str, float]], seed: int
) -> None:
    async def main() -> None:
        market = MarketSimulator(["BTC-USD"], seed=seed, rate=50.0)
        sim = SimulatedCoinbase(market)
        async with sim.serve(memory=True), ws_client(sim, "/") as ws:
            client = CoinbaseClient(ws, "BTC-USD")
            await client.start()
            await client.pump(0.5)
            for fault, wait in steps:
                if fault == "sequence_gap":
                    sim.sequence_gap("BTC-USD")
                elif fault == "gap":
                    sim.corrupt("gap", "BTC-USD")
                elif fault == "stall":
                    sim.silence()
                    await client.pump(0.2)
                    sim.resume()
                await client.pump(wait)
            await client.pump(2.0)
            sim.market.freeze()
            await client.pump(0.5)
            bids, asks = sim.book("BTC-USD")
            assert client.sync.synced
            got_b, got_a = client.sync.book.top()
            assert (list(got_b), list(got_a)) == (_levels(bids), _levels(asks))
            assert client.adapter.gaps >= len(client.gaps) > 0 or not any(
                f != "none" for f, _ in steps
            )

    _run(main)
