"""Rate limits queue instead of failing; backoff stays within its bounds."""

from __future__ import annotations

import random

import trio
import trio.lowlevel
import trio.testing
from hypothesis import given
from hypothesis import strategies as st

from trio_feeds.engine.limits import Backoff, TokenBucket


async def test_token_bucket_spaces_out_a_burst(autojump_clock: trio.testing.MockClock) -> None:
    bucket = TokenBucket(rate=5.0, capacity=5)
    stamps = []
    for _ in range(30):
        await bucket.acquire()
        stamps.append(trio.current_time())
    # never more than 5 in any 1-second window (plus the initial burst allowance)
    for i in range(len(stamps)):
        window = [t for t in stamps if stamps[i] <= t < stamps[i] + 1.0]
        assert len(window) <= 5 + 1e-9 + 5  # burst + refill
    # average rate converges to 5/s
    assert stamps[-1] - stamps[0] >= (30 - 5) / 5.0 - 1e-6
    assert bucket.waits > 0


async def test_token_bucket_is_fifo_across_tasks(autojump_clock: trio.testing.MockClock) -> None:
    bucket = TokenBucket(rate=1.0, capacity=1)
    order: list[int] = []

    async def take(i: int) -> None:
        await bucket.acquire()
        order.append(i)

    async with trio.open_nursery() as nursery:
        for i in range(5):
            nursery.start_soon(take, i)
            await trio.lowlevel.checkpoint()  # start them in order
    assert order == [0, 1, 2, 3, 4]


@given(
    base=st.floats(0.01, 5.0),
    cap=st.floats(0.1, 120.0),
    failures=st.integers(0, 40),
    seed=st.integers(0, 2**32),
)
def test_backoff_delays_are_full_jitter_within_the_cap(
    base: float, cap: float, failures: int, seed: int
) -> None:
    b = Backoff(base=base, cap=cap, rng=random.Random(seed))
    for n in range(failures):
        ceiling = min(cap, base * 2**n)
        d = b.next_delay()
        assert 0.0 <= d <= ceiling


def test_backoff_resets_after_a_stable_connection() -> None:
    b = Backoff(base=1.0, cap=60.0, stable_after=30.0)
    for _ in range(5):
        b.next_delay()
    assert b.ceiling() == 32.0
    b.connected_for(5.0)
    assert b.failures == 5
    b.connected_for(31.0)
    assert b.failures == 0 and b.ceiling() == 1.0


def test_backoff_survives_thousands_of_failures() -> None:
    """Retrying forever is the default: the delay stays at the cap, no overflow."""
    b = Backoff(base=1.0, cap=60.0, rng=random.Random(1))
    delays = [b.next_delay() for _ in range(5000)]
    assert max(delays) <= 60.0
    assert b.ceiling() == 60.0


async def test_feeds_in_one_process_share_the_exchange_budget() -> None:
    from trio_feeds.engine.limits import shared_budget

    assert shared_budget("binance") is shared_budget("binance")
    assert shared_budget("binance") is not shared_budget("okx")


async def test_connect_budgets_never_exceed_the_exchanges_per_ip_limits(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """A reconnect storm: Binance <= 300 attempts in any 5 minutes, OKX <= 3 in any second."""
    from trio_feeds.engine.limits import ExchangeBudget
    from trio_feeds.exchanges import get

    BINANCE_LIMITS, OKX_LIMITS = get("binance").limits, get("okx").limits

    for limits, window, cap, n in ((BINANCE_LIMITS, 300.0, 300, 700), (OKX_LIMITS, 1.0, 3, 40)):
        budget = ExchangeBudget(limits)
        stamps: list[float] = []
        for _ in range(n):
            await budget.connect()
            stamps.append(trio.current_time())
        for i, t in enumerate(stamps):
            in_window = sum(1 for u in stamps[i:] if u < t + window)
            assert in_window <= cap, (limits, t, in_window)
