"""The failover policy alone (pure), with property tests over random scripts of 2 and 3 sources."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from trio_feeds import FailoverFailed, Quote, SourceEvent, SourceSwitch, Ticker, Trade
from trio_feeds._aggregate import Aggregator

STALE = 2.0
HOLD = 5.0
MAX_LAT = 1.0


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def make(
    sources: list[str], conflict: str = "primary"
) -> tuple[Aggregator, Clock, dict[str, bool]]:
    clock = Clock()
    up = {s: False for s in sources}
    agg = Aggregator(
        sources,
        primary=sources[0],
        conflict=conflict,
        clock=clock,
        stale_after=STALE,
        max_source_latency=MAX_LAT,
        failback_after=HOLD,
        connected=lambda s: up[s],
    )
    return agg, clock, up


def trade(src: str, t: float, lag: float = 0.0, n: int = 0) -> Trade:
    return Trade(src, "BTC-USDT", int((t - lag) * 1000), t, 100.0, 1.0, "buy", str(n))


def quote(src: str, t: float, bid: float, ask: float) -> Quote:
    return Quote(src, "BTC-USDT", int(t * 1000), t, bid, 1.0, ask, 2.0)


def test_average_quote_takes_the_best_bid_and_ask_across_sources() -> None:
    agg, clock, up = make(["binance", "okx"], "average")
    up.update(binance=True, okx=True)
    agg.process("binance", [SourceEvent("binance", "connected", "", 0)])
    agg.process("okx", [SourceEvent("okx", "connected", "", 0)])
    agg.process("binance", [quote("binance", clock.t, 100.0, 101.0)])
    out = agg.process("okx", [quote("okx", clock.t, 100.5, 101.5)])
    q = out[-1]
    assert isinstance(q, Quote)
    assert q.exchange == "binance+okx"
    assert (q.bid, q.ask) == (100.5, 101.0)


def test_average_ticker_is_the_mean_last_price() -> None:
    agg, clock, up = make(["binance", "okx"], "average")
    up.update(binance=True, okx=True)

    def ticker(src: str, price: float) -> Ticker:
        return Ticker(src, "BTC-USDT", int(clock.t * 1000), clock.t, price, price - 1, price + 1,
                      10.0, price, price + 5, price - 5, 1000.0)  # fmt: skip

    agg.process("binance", [ticker("binance", 100.0)])
    out = agg.process("okx", [ticker("okx", 102.0)])
    t = out[-1]
    assert isinstance(t, Ticker)
    assert t.price == 101.0 and t.volume == 20.0 and t.exchange == "binance+okx"


# --------------------------------------------------------------------------- property test

actions = st.lists(
    st.tuples(
        st.sampled_from(["data", "drop", "connect", "slow", "fast", "error", "wait"]),
        st.integers(0, 2),
        st.floats(0.05, 3.0),
    ),
    min_size=5,
    max_size=60,
)


def run_script(n_sources: int, script: list[tuple[str, int, float]]) -> None:
    sources = ["binance", "okx", "third"][:n_sources]
    agg, clock, up = make(sources)
    lag = {s: 0.0 for s in sources}
    out: list[tuple[float, Any]] = []
    became_healthy: dict[str, float | None] = {s: None for s in sources}
    for s in sources:
        up[s] = True
        out += [(clock.t, x) for x in agg.process(s, [SourceEvent(s, "connected", "", 0)])]

    def step_time(dt: float) -> None:
        # advance, honouring every deadline on the way (as the feed's watcher tasks do)
        target = clock.t + dt
        while True:
            pending = [d for d in agg.deadlines.values() if d <= target]
            if not pending:
                break
            clock.t = max(clock.t, min(pending))
            out.extend((clock.t, x) for x in agg.expire())
        clock.t = target
        out.extend((clock.t, x) for x in agg.expire())

    n = 0
    for action, idx, dt in script:
        s = sources[idx % n_sources]
        if action == "data":
            # every connected source ticks; sources deliver data regularly
            for src in sources:
                if up[src]:
                    n += 1
                    out.extend(
                        (clock.t, x) for x in agg.process(src, [trade(src, clock.t, lag[src], n)])
                    )
        elif action == "drop":
            up[s] = False
            out.extend(
                (clock.t, x) for x in agg.process(s, [SourceEvent(s, "disconnected", "", 0)])
            )
        elif action == "connect":
            up[s] = True
            out.extend((clock.t, x) for x in agg.process(s, [SourceEvent(s, "connected", "", 0)]))
        elif action == "slow":
            lag[s] = MAX_LAT * 3
        elif action == "fast":
            lag[s] = 0.0
        elif action == "error":
            out.extend((clock.t, x) for x in agg.process(s, [SourceEvent(s, "error", "x", 0)]))
        step_time(min(dt, 1.0) if action != "wait" else dt)

        # invariant: the active source is healthy, or failover_failed was emitted
        healthy_now = {src: agg.healthy(src) for src in sources}
        for src in sources:
            if healthy_now[src] and became_healthy[src] is None:
                became_healthy[src] = clock.t
            elif not healthy_now[src]:
                became_healthy[src] = None
        if agg.active is None or not healthy_now[agg.active]:
            assert agg.failed, f"active {agg.active} unhealthy without failover_failed: {out[-3:]}"
            assert not any(healthy_now.values()), "a healthy source existed but no switch"

    # primary mode: every data record comes from the source active when it was emitted
    active = sources[0]
    for _, item in out:
        if isinstance(item, SourceSwitch):
            active = item.to_source
        elif isinstance(item, Trade):
            assert item.exchange == active
    # failover_failed names every source's reason
    for _, item in out:
        if isinstance(item, FailoverFailed):
            assert all(src in item.reason for src in sources)


@settings(max_examples=150, deadline=None)
@given(actions)
def test_failover_invariants_two_sources(script: list[tuple[str, int, float]]) -> None:
    run_script(2, script)


@settings(max_examples=150, deadline=None)
@given(actions)
def test_failover_invariants_three_sources(script: list[tuple[str, int, float]]) -> None:
    run_script(3, script)


@given(st.lists(st.floats(0.1, 10.0), min_size=1, max_size=30))
def test_no_failback_before_the_hold_down(healthy_spells: list[float]) -> None:
    """The primary flaps: spells of health shorter than the hold-down never cause a failback."""
    agg, clock, up = make(["binance", "okx"])
    up.update(binance=True, okx=True)
    agg.process("okx", [trade("okx", clock.t)])
    up["binance"] = False
    agg.process("binance", [SourceEvent("binance", "disconnected", "", 0)])
    assert agg.active == "okx"
    for spell in healthy_spells:
        up["binance"] = True
        start = clock.t
        agg.process("binance", [SourceEvent("binance", "connected", "", 0)])
        # both stream through the spell
        t = 0.0
        while t < spell:
            dt = min(0.5, spell - t)
            clock.t += dt
            t += dt
            agg.process("binance", [trade("binance", clock.t)])
            agg.process("okx", [trade("okx", clock.t)])
            agg.expire()
            if agg.active == "binance":
                assert clock.t - start >= HOLD - 1e-9
                return
        up["binance"] = False
        agg.process("binance", [SourceEvent("binance", "disconnected", "", 0)])
        assert agg.active == "okx"
        if spell >= HOLD:
            raise AssertionError("the primary was healthy for the hold-down but no failback")


def test_no_switch_away_from_a_primary_that_is_still_connecting() -> None:
    """The standby connecting first at startup is no reason to leave the primary."""
    agg, clock, up = make(["binance", "okx"])
    up["okx"] = True
    out = agg.process("okx", [SourceEvent("okx", "connected", "", 0), trade("okx", clock.t)])
    assert agg.active == "binance"
    assert not any(isinstance(i, SourceSwitch) for i in out)
    # the primary connects in time: no switch at all
    clock.t += 0.5
    up["binance"] = True
    agg.process("binance", [SourceEvent("binance", "connected", "", 0), trade("binance", clock.t)])
    clock.t += STALE + 0.1
    agg.process("binance", [trade("binance", clock.t)])
    agg.process("okx", [trade("okx", clock.t)])
    assert agg.active == "binance" and agg.switches == []


def test_primary_that_never_connects_is_left_after_the_grace_period() -> None:
    agg, clock, up = make(["binance", "okx"])
    up["okx"] = True
    agg.process("okx", [SourceEvent("okx", "connected", "", 0), trade("okx", clock.t)])
    clock.t += STALE + 0.01
    agg.process("okx", [trade("okx", clock.t)])
    out = agg.expire()
    assert agg.active == "okx"
    assert any(isinstance(i, SourceSwitch) for i in out) or agg.switches


def test_failback_fires_at_its_own_deadline_despite_rounding() -> None:
    """15.9 + 5.0 == 20.9 but 20.9 - 15.9 < 5.0 in floats: the watcher woken at the
    deadline must switch, not re-arm the same deadline forever (a livelock)."""
    agg, clock, up = make(["okx", "binance"])
    for h in agg.health.values():
        h.last_data = 10.0
    up.update(okx=True, binance=True)
    clock.t = 10.0  # times chosen so that 15.9 + 5.0 - 15.9 < 5.0 in floats
    agg.grace_until = 0.0
    agg.process("binance", [trade("binance", clock.t)])
    up["okx"] = False
    agg.process("okx", [SourceEvent("okx", "disconnected", "", 0)])
    assert agg.active == "binance"
    while clock.t < 15.5:  # binance keeps streaming while okx is down
        clock.t += 0.5
        agg.process("binance", [trade("binance", clock.t)])
    clock.t = 15.9
    agg.process("binance", [trade("binance", clock.t)])
    up["okx"] = True
    agg.process("okx", [SourceEvent("okx", "connected", "", 0), trade("okx", clock.t)])
    due = agg.deadlines["failback"]
    assert due == 15.9 + HOLD
    while clock.t < due:
        clock.t = min(due, clock.t + 0.5)
        agg.process("okx", [trade("okx", clock.t)])
        agg.process("binance", [trade("binance", clock.t)])
    clock.t = due
    agg.expire()
    assert agg.active == "okx"
    assert "failback" not in agg.deadlines


def test_a_stale_deadline_decides_at_the_instant_it_fires() -> None:
    """The watcher wakes exactly at last_data + stale_after: that instant is stale (no
    waiting for some later batch to notice)."""
    agg, clock, up = make(["binance", "okx"])
    up.update(binance=True, okx=True)
    agg.grace_until = 0.0
    agg.process("binance", [trade("binance", clock.t)])
    agg.process("okx", [trade("okx", clock.t)])
    due = agg.deadlines["binance"]
    for _ in range(3):  # okx keeps streaming, binance goes quiet
        clock.t += (due - clock.t) / 2
        agg.process("okx", [trade("okx", clock.t)])
    assert agg.active == "binance"
    clock.t = due
    out = agg.expire()
    assert agg.active == "okx"
    assert any(isinstance(i, SourceSwitch) and "stale" in i.reason for i in out)
