"""The failover policy alone (pure), with property tests over random scripts of 2 and 3 sources."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trio_feeds import Candle, FailoverFailed, Quote, SourceEvent, SourceSwitch, Ticker, Trade
from trio_feeds.engine.stats import LatencyTracker
from trio_feeds.feed.aggregate import Aggregator

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


# --------------------------------------------------------------------------- clock offsets and lag


def stream(agg: Aggregator, clock: Clock, seconds: float, stamp: dict[str, Any]) -> list[Any]:
    """Both connected sources deliver a trade every 50 ms for ``seconds``; ``stamp[src](t)``
    is the exchange time (s) that source puts on an event happening at local time t."""
    out: list[Any] = []
    end = clock.t + seconds
    n = 0
    while clock.t < end:
        clock.t += 0.05
        for src, f in stamp.items():
            n += 1
            t = Trade(src, "BTC-USDT", int(f(clock.t) * 1000), clock.t, 100.0, 1.0, "buy", str(n))
            out.extend(agg.process(src, [t]))
        out.extend(agg.expire())
    return out


def connected(agg: Aggregator, up: dict[str, bool], *sources: str) -> None:
    for s in sources:
        up[s] = True
        agg.process(s, [SourceEvent(s, "connected", "", 0)])


@settings(max_examples=40, deadline=None)
@given(st.floats(-600.0, 600.0), st.floats(-600.0, 600.0), st.floats(0.0, 0.2))
def test_a_constant_clock_offset_of_either_sign_is_never_lag(
    off_b: float, off_o: float, delay: float
) -> None:
    """Exchange clocks minutes off this machine's (or this machine's off theirs), plus a
    steady network delay: both stay healthy, no switch, the offset shows as clock_offset."""
    agg, clock, up = make(["binance", "okx"])
    connected(agg, up, "binance", "okx")
    out = stream(
        agg, clock, 20.0,
        {"binance": lambda t: t + off_b - delay, "okx": lambda t: t + off_o - delay},
    )  # fmt: skip
    assert not [i for i in out if i.kind in ("source_switch", "failover_failed")]
    assert agg.healthy("binance") and agg.healthy("okx")
    for src, off in (("binance", off_b), ("okx", off_o)):
        base = agg.health[src].latency.baseline
        assert base is not None and abs(base - (delay - off)) < 0.002


def test_a_lag_growing_above_the_normal_switches_and_the_recovery_fails_back() -> None:
    """binance's stamps are 8 s in the past all along (its normal), then its event time
    falls 6 s further behind within 3 s, holds, and recovers."""
    agg, clock, up = make(["binance", "okx"])
    connected(agg, up, "binance", "okx")
    t0 = clock.t + 10.0

    def extra(t: float) -> float:  # the lag episode: 0 -> 6 s over 3 s, 5 s at 6 s, back in 1 s
        x = t - t0
        return max(0.0, min(6.0, 2.0 * x, 6.0 - 6.0 * (x - 8.0)))

    out = stream(agg, clock, 25.0, {"binance": lambda t: t - 8.0 - extra(t), "okx": lambda t: t})
    timed = [i for i in out if i.kind == "source_switch"]
    assert [(s.from_source, s.to_source) for s in timed] == [
        ("binance", "okx"),
        ("okx", "binance"),
    ]
    assert "latency" in timed[0].reason and "lag" in timed[0].reason
    assert timed[1].reason.startswith("failback")
    assert agg.health["binance"].latency.baseline == pytest.approx(8.0, abs=0.002)
    # the metrics' counters: one switch per (from, to, reason label), records per kind
    assert dict(agg.counters.switches) == {
        ("binance", "okx", "latency"): 1,
        ("okx", "binance", "failback"): 1,
    }
    assert list(agg.counters.recent_switches) == timed
    assert agg.counters.failover_failures == 0
    # every record received is counted, delivered or not (okx's only while it was active)
    records = agg.counters.records
    delivered = sum(1 for i in out if i.kind == "trade" and i.exchange == "okx")
    assert records["okx"]["trade"] == records["binance"]["trade"] > delivered > 0
    assert records["okx"]["source"] == 1  # the "connected" event
    # one lag sample per batch, but the first of each (kind, symbol): an old state maybe
    for src in ("binance", "okx"):
        assert agg.health[src].latency.lag_buckets.count == records[src]["trade"] - 1


def test_lag_detection_delay_is_about_the_recent_window() -> None:
    agg, clock, up = make(["binance", "okx"])
    connected(agg, up, "binance", "okx")
    stream(agg, clock, 5.0, {"binance": lambda t: t, "okx": lambda t: t})
    start = clock.t
    seen_at = None
    while clock.t < start + 5.0 and seen_at is None:
        clock.t += 0.05
        lagging = Trade(
            "binance", "BTC-USDT", int((clock.t - 3.0) * 1000), clock.t, 1, 1, "buy", "1"
        )
        out = agg.process("binance", [lagging]) + agg.process("okx", [trade("okx", clock.t)])
        if any(i.kind == "source_switch" for i in out):
            seen_at = clock.t
    assert seen_at is not None
    assert 0.9 <= seen_at - start <= 1.2  # RECENT = 1 s of samples all lagging


def test_a_slow_ping_round_trip_makes_a_source_slow() -> None:
    """A source lagging from its very first frame has that lag in its baseline: the ping
    round trip is what shows it."""
    agg, clock, up = make(["binance", "okx"])
    connected(agg, up, "binance", "okx")
    stream(agg, clock, 3.0, {"binance": lambda t: t - 4.0, "okx": lambda t: t})
    assert agg.active == "binance"
    agg.health["binance"].latency.add_rtt(MAX_LAT * 2)
    out = stream(agg, clock, 0.1, {"binance": lambda t: t - 4.0, "okx": lambda t: t})
    sw = [i for i in out if i.kind == "source_switch"]
    assert sw and sw[0].to_source == "okx" and "round trip" in sw[0].reason


def test_old_state_pushed_on_subscribe_is_not_lag() -> None:
    """OKX pushes the last trade, ticker and book on subscribe, stamped when they happened
    (hours ago for a quiet instrument), and stamps heartbeat book updates of quiet books
    seconds in the past: neither is a delay."""
    agg, clock, up = make(["binance", "okx"])
    connected(agg, up, "binance", "okx")
    stream(agg, clock, 3.0, {"binance": lambda t: t, "okx": lambda t: t})
    old = Trade("okx", "ETH-USDT", int((clock.t - 34904) * 1000), clock.t, 1, 1, "buy", "9")
    agg.process("okx", [SourceEvent("okx", "connected", "", 0)])
    agg.process("okx", [old])  # the first ETH-USDT trade since connecting: not sampled
    clock.t += 0.05
    agg.process("okx", [trade("okx", clock.t)])
    stale_heartbeat = Trade("okx", "BTC-USDT", int((clock.t - 12.7) * 1000), clock.t, 1, 1,
                            "buy", "8")  # fmt: skip
    agg.process("okx", [stale_heartbeat])  # one old sample among fresh ones of the last second
    assert agg.healthy("okx"), agg.why_unhealthy("okx")


def test_candles_stamped_with_the_receive_time_do_not_count_towards_lag() -> None:
    agg, clock, up = make(["binance", "okx"])
    connected(agg, up, "binance", "okx")
    stream(agg, clock, 3.0, {"binance": lambda t: t, "okx": lambda t: t})
    before = len(agg.health["okx"].latency)
    c = Candle("okx", "BTC-USDT", int(clock.t * 1000), clock.t, int(clock.t * 1000) - 40_000,
               "1m", 1, 1, 1, 1, 1, False, exchange_time=False)  # fmt: skip
    agg.process("okx", [trade("okx", clock.t), c])
    agg.process("okx", [c])
    # one sample: from the trade before the candle; the candle-only batch gives none
    assert len(agg.health["okx"].latency) == before + 1


def test_the_baseline_forgets_offsets_older_than_its_window() -> None:
    tracker = LatencyTracker(window=60.0)
    tracker.add(1.0, 0.0)
    for t in (10.0, 10.1, 10.2):
        tracker.add(3.0, t)
    assert tracker.baseline == 1.0 and tracker.current_lag(10.2) == 2.0
    for k in range(1, 80):  # a permanent step to 3 s becomes the new normal after the window
        tracker.add(3.0, 10.0 + k)
    assert tracker.baseline == 3.0 and tracker.current_lag(90.0) == 0.0


# --------------------------------------------------------------------------- never a blackout


def slow(src: str, t: float, n: int) -> Trade:
    return trade(src, t, lag=0.0, n=n)


@pytest.mark.parametrize("conflict", ["primary", "latest", "average"])
def test_no_blackout_when_no_source_is_healthy(conflict: str) -> None:
    """Both sources fall behind: one FailoverFailed naming both reasons, data keeps coming
    (flagged degraded), and a SourceSwitch when a healthy source takes over again."""
    agg, clock, up = make(["binance", "okx"], conflict)
    connected(agg, up, "binance", "okx")
    normal = {"binance": lambda t: t, "okx": lambda t: t}
    stream(agg, clock, 3.0, normal)
    behind = {"binance": lambda t: t - 3.0, "okx": lambda t: t - 2.0}
    out = stream(agg, clock, 5.0, behind)
    failed = [i for i in out if i.kind == "failover_failed"]
    assert len(failed) == 1
    assert "binance: latency" in failed[0].reason and "okx: latency" in failed[0].reason
    assert not agg.healthy(agg.active or "")
    # data flows throughout, from the best-ranked source (binance: kept, both are delivering
    # and okx is not enough faster to be worth a switch)
    late = [i for i in out[out.index(failed[0]) :] if i.kind == "trade"]
    assert len(late) > 60 and {i.exchange for i in late} == {"binance"}
    assert agg.active == "binance"
    # okx catches up: it takes over, in a SourceSwitch
    out = stream(agg, clock, 2.0, {"binance": lambda t: t - 3.0, "okx": lambda t: t})
    sw = [i for i in out if i.kind == "source_switch"]
    assert sw and sw[0].to_source == "okx" and sw[0].reason.startswith("recovered")
    assert [i for i in out if i.kind == "failover_failed"] == []
    assert agg.counters.failover_failures == 1
    assert agg.counters.switches[("binance", "okx", "recovered")] == 1


def test_the_degraded_source_recovering_is_announced() -> None:
    agg, clock, up = make(["binance", "okx"])
    connected(agg, up, "binance", "okx")
    stream(agg, clock, 3.0, {"binance": lambda t: t, "okx": lambda t: t})
    out = stream(agg, clock, 3.0, {"binance": lambda t: t - 3.0, "okx": lambda t: t - 3.0})
    assert [i.kind for i in out if i.kind != "trade"] == ["failover_failed"]
    out = stream(agg, clock, 2.0, {"binance": lambda t: t, "okx": lambda t: t - 3.0})
    sw = [i for i in out if i.kind == "source_switch"]
    assert [(s.from_source, s.to_source) for s in sw] == [("binance", "binance")]
    assert "recovered" in sw[0].reason and agg.healthy("binance")


def test_best_ranked_is_a_connected_source_that_delivers() -> None:
    """The active source drops while the other lags: deliver the lagging one's data rather
    than nothing, then take the disconnected one back when it is healthy."""
    agg, clock, up = make(["binance", "okx"])
    connected(agg, up, "binance", "okx")
    stream(agg, clock, 3.0, {"binance": lambda t: t, "okx": lambda t: t})
    stream(agg, clock, 2.0, {"binance": lambda t: t, "okx": lambda t: t - 5.0})
    assert agg.active == "binance" and not agg.healthy("okx")
    up["binance"] = False
    out = agg.process("binance", [SourceEvent("binance", "disconnected", "gone", 0)])
    kinds = [i.kind for i in out]
    assert kinds[:2] == ["failover_failed", "source_switch"]
    assert out[1].to_source == "okx" and out[1].reason.startswith("degraded")
    out = stream(agg, clock, 1.0, {"okx": lambda t: t - 5.0})
    assert len([i for i in out if i.kind == "trade" and i.exchange == "okx"]) >= 19
    up["binance"] = True
    out = agg.process("binance", [SourceEvent("binance", "connected", "", 0)])
    out += stream(agg, clock, 1.0, {"binance": lambda t: t, "okx": lambda t: t - 5.0})
    sw = [i for i in out if i.kind == "source_switch"]
    assert sw and sw[0].to_source == "binance" and sw[0].reason.startswith("recovered")


def test_two_degraded_sources_do_not_flap() -> None:
    agg, clock, up = make(["binance", "okx"])
    connected(agg, up, "binance", "okx")
    stream(agg, clock, 3.0, {"binance": lambda t: t, "okx": lambda t: t})
    # okx lags 3 s, binance 3.5 s: within max_source_latency of each other: stay
    out = stream(agg, clock, 5.0, {"binance": lambda t: t - 3.5, "okx": lambda t: t - 3.0})
    assert agg.active == "binance" and not [i for i in out if i.kind == "source_switch"]
    # binance falls 10 s behind: okx is clearly better
    out = stream(agg, clock, 3.0, {"binance": lambda t: t - 10.0, "okx": lambda t: t - 3.0})
    sw = [i for i in out if i.kind == "source_switch"]
    assert len(sw) == 1 and sw[0].to_source == "okx" and "degraded" in sw[0].reason


# --------------------------------------------------------------------------- latest: ties and order


def healthy_pair(conflict: str) -> tuple[Aggregator, Clock, dict[str, bool]]:
    agg, clock, up = make(["binance", "okx"], conflict)
    connected(agg, up, "binance", "okx")
    stream(agg, clock, 1.0, {"binance": lambda t: t, "okx": lambda t: t})
    return agg, clock, up


def bq(t: float, u: int, bid: float = 100.0) -> Quote:
    """A Binance bookTicker quote: no event time, stamped with the receive time."""
    return Quote("binance", "BTC-USDT", int(t * 1000), t, bid, 1.0, bid + 1, 1.0, u, False)


def test_latest_keeps_every_quote_of_a_millisecond_by_its_update_id() -> None:
    agg, clock, _ = healthy_pair("latest")
    t = clock.t
    burst = [bq(t, 100 + k, 100.0 + k) for k in range(5)]  # one socket read: one timestamp
    out = agg.process("binance", burst)
    assert [q.sequence for q in out if q.kind == "quote"] == [100, 101, 102, 103, 104]
    # a repeat from a replacement connection (older update id) is not delivered again
    out = agg.process("binance", [bq(t + 0.001, 103)])
    assert [q for q in out if q.kind == "quote"] == []


def test_latest_drops_another_sources_quote_only_when_older() -> None:
    agg, clock, _ = healthy_pair("latest")
    t = clock.t
    agg.process("binance", [bq(t, 500)])
    okx = Quote("okx", "BTC-USDT", int(t * 1000), t, 99.0, 1.0, 101.0, 1.0, 7)
    assert agg.process("okx", [okx])[-1] is okx  # the same millisecond: not older
    old = Quote("okx", "BTC-USDT", int(t * 1000) - 300, t, 99.0, 1.0, 101.0, 1.0, 8)
    assert agg.process("binance", [bq(t + 0.2, 501)])[-1].sequence == 501
    assert [i for i in agg.process("okx", [old]) if i.kind == "quote"] == []


def test_latest_compares_sources_net_of_their_clock_offsets() -> None:
    """okx's clock runs 8 s ahead of this machine: its quotes' raw stamps are 8 s 'newer'
    than binance's receive-time stamps, yet binance quotes keep flowing."""
    agg, clock, up = make(["binance", "okx"], "latest")
    connected(agg, up, "binance", "okx")
    stream(agg, clock, 2.0, {"binance": lambda t: t, "okx": lambda t: t + 8.0})
    delivered = 0
    for k in range(40):
        clock.t += 0.05
        o = Quote("okx", "BTC-USDT", int((clock.t + 8.0) * 1000), clock.t, 99, 1, 101, 1, k)
        agg.process("okx", [o])
        clock.t += 0.01
        out = agg.process("binance", [bq(clock.t, 1000 + k)])
        delivered += sum(1 for i in out if i.kind == "quote")
    assert delivered == 40


def candle(
    src: str, t: float, start_min: int, closed: bool = False, stamped: bool = True
) -> Candle:
    return Candle(src, "BTC-USDT", int(t * 1000), t, start_min * 60_000, "1m", 1, 1, 1, 1, 1,
                  closed, exchange_time=stamped)  # fmt: skip


def test_latest_delivers_every_candle_update_and_every_close() -> None:
    agg, clock, _ = healthy_pair("latest")
    t = clock.t
    sent = [
        ("okx", candle("okx", t, 5, stamped=False)),
        ("okx", candle("okx", t, 5, stamped=False)),  # same start, same millisecond
        ("binance", candle("binance", t, 5)),
        ("okx", candle("okx", t + 0.1, 6, stamped=False)),  # okx's next minute
        ("binance", candle("binance", t + 0.1, 5, closed=True)),  # binance closes minute 5
        ("okx", candle("okx", t + 0.1, 5, closed=True, stamped=False)),  # okx's close, late
    ]
    got = [i for src, c in sent for i in agg.process(src, [c]) if i.kind == "candle"]
    assert got == [c for _, c in sent]
    dropped = [
        ("binance", candle("binance", t + 0.2, 5)),  # an update after its own close
        ("okx", candle("okx", t + 0.2, 5, closed=True, stamped=False)),  # a repeated close
        ("binance", candle("binance", t + 0.2, 4)),  # an older interval
    ]
    assert [i for src, c in dropped for i in agg.process(src, [c]) if i.kind == "candle"] == []


def test_average_loses_no_update_to_a_millisecond_tie() -> None:
    agg, clock, _ = healthy_pair("average")
    t = clock.t
    okx = Quote("okx", "BTC-USDT", int(t * 1000), t, 99.0, 1.0, 102.0, 1.0, 1)
    agg.process("okx", [okx])
    out = agg.process("binance", [bq(t, 100 + k, 100.0 + k) for k in range(4)])
    combined = [q for q in out if q.kind == "quote"]
    assert [q.bid for q in combined] == [100.0, 101.0, 102.0, 103.0]
    assert {q.exchange for q in combined} == {"binance+okx"}


def test_latest_takes_a_sources_tickers_in_arrival_order() -> None:
    """Tickers carry no sequence: a source's own are taken as they arrive (its order), even
    one stamped earlier than the one before (an exchange's re-pushed state); another
    source's older ticker is dropped."""

    def ticker(src: str, t: float, price: float) -> Ticker:
        return Ticker(src, "BTC-USDT", int(t * 1000), t, price, 1, 2, 3, 4, 5, 0.5, 6)

    agg, clock, _ = healthy_pair("latest")
    t = clock.t
    sent = [ticker("okx", t, 1.0), ticker("okx", t - 0.3, 2.0), ticker("okx", t + 0.1, 3.0)]
    got = [i for r in sent for i in agg.process("okx", [r]) if i.kind == "ticker"]
    assert got == sent
    assert [i for i in agg.process("binance", [ticker("binance", t - 0.2, 9.0)])
            if i.kind == "ticker"] == []  # fmt: skip
    newer = ticker("binance", t + 0.1, 9.0)  # the same millisecond: not older
    assert agg.process("binance", [newer])[-1] is newer


def test_a_degraded_switch_back_to_the_primary_keeps_a_cold_standby_running() -> None:
    agg, clock, up = make(["binance", "okx"])
    calls: list[tuple[str, bool]] = []
    agg.cold = True
    agg.on_demand = lambda s, wanted: calls.append((s, wanted))
    connected(agg, up, "binance", "okx")
    stream(agg, clock, 3.0, {"binance": lambda t: t, "okx": lambda t: t})
    stream(agg, clock, 1.5, {"binance": lambda t: t - 2.0, "okx": lambda t: t})
    up["binance"] = False  # lagging binance drops
    agg.process("binance", [SourceEvent("binance", "disconnected", "", 0)])
    assert agg.active == "okx"
    stream(agg, clock, 2.0, {"okx": lambda t: t - 10.0})  # okx falls far behind
    up["binance"] = True
    out = agg.process("binance", [SourceEvent("binance", "connected", "", 0)])
    out += stream(agg, clock, 2.0, {"binance": lambda t: t - 2.0, "okx": lambda t: t - 10.0})
    sw = [i for i in out if i.kind == "source_switch"]
    assert sw and sw[-1].to_source == "binance" and sw[-1].reason.startswith("degraded")
    assert ("okx", False) not in calls  # the standby is what may recover first
    out = stream(agg, clock, 2.0, {"binance": lambda t: t, "okx": lambda t: t - 10.0})
    sw = [i for i in out if i.kind == "source_switch"]
    assert sw and sw[0].reason.startswith("recovered") and ("okx", False) in calls


def test_perpetual_records_follow_the_conflict_mode_like_their_spot_kin() -> None:
    """Funding / mark / open interest are state (latest: the newer replaces the older, across
    sources); liquidations are events (every source's, like trades); in primary mode all of
    them come from the active source only."""
    from trio_feeds import Funding, Liquidation, MarkPrice

    def funding(src: str, t: float) -> Funding:
        return Funding(src, "BTC-USDT-PERP", int(t * 1000), t, 0.0001, 1_700_000_000_000)

    agg, clock, up = make(["binance-usdm", "okx"], "latest")
    up.update({"binance-usdm": True, "okx": True})
    for s in ("binance-usdm", "okx"):
        agg.process(s, [SourceEvent(s, "connected", "", 0)])
    assert agg.process("okx", [funding("okx", clock.t)])  # newest: delivered
    # an older funding record from the other source does not replace it
    assert not [r for r in agg.process("binance-usdm", [funding("binance-usdm", clock.t - 5)])
                if r.kind == "funding"]  # fmt: skip
    liq = Liquidation(
        "binance-usdm", "BTC-USDT-PERP", int(clock.t * 1000), clock.t, "sell", 1.0, 2.0
    )
    assert agg.process("binance-usdm", [liq]) == [liq]

    agg, clock, up = make(["binance-usdm", "okx"], "primary")
    up.update({"binance-usdm": True, "okx": True})
    for s in ("binance-usdm", "okx"):
        agg.process(s, [SourceEvent(s, "connected", "", 0)])
    mark = MarkPrice("okx", "BTC-USDT-PERP", int(clock.t * 1000), clock.t, 60000.0, None)
    assert [r for r in agg.process("okx", [mark]) if r.kind == "mark"] == []  # standby's
    mark = MarkPrice("binance-usdm", "BTC-USDT-PERP", int(clock.t * 1000), clock.t, 6e4, 6e4)
    assert [r for r in agg.process("binance-usdm", [mark]) if r.kind == "mark"] == [mark]
