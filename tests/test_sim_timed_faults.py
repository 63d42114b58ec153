"""Timed faults on the simulators (outage, stall, lag, latency spike), cancellable refusals,
and fault scripts played in virtual time."""

from __future__ import annotations

from typing import Any

import pytest
import trio
import trio.testing
from trio_websocket import wrap_client_stream

from trio_feeds.testing import (
    Fault,
    FaultScript,
    SimulatedExchanges,
    open_simulated_exchanges,
    play_script,
)


async def _connect(sims: SimulatedExchanges, nursery: trio.Nursery) -> Any:
    stream = await sims.connector(sims.urls["binance"])
    return await wrap_client_stream(nursery, stream, "stream.binance.test", "/ws/btcusdt@trade")


async def _try_connect(sims: SimulatedExchanges, nursery: trio.Nursery) -> bool:
    """Connect and wait for the first frame (a refused handshake may never finish)."""
    with trio.move_on_after(0.5):
        try:
            async with trio.open_nursery() as inner:
                ws = await _connect(sims, inner)
                await ws.get_message()
                inner.cancel_scope.cancel()
        except Exception:
            return False
        return True
    return False


def _outcomes(sims: SimulatedExchanges) -> list[str]:
    return [a.outcome for a in sims.binance.connection_log]


async def test_an_outage_cuts_refuses_for_its_duration_then_accepts(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with open_simulated_exchanges(["BTC-USDT"], memory=True) as sims:
        async with trio.open_nursery() as nursery:
            await _connect(sims, nursery)
            assert len(sims.binance.connections) == 1
            handle = sims.binance.outage(5.0)
            await trio.sleep(0.01)
            assert sims.binance.connections == []
            assert sims.binance.down and handle.active
            assert not await _try_connect(sims, nursery)
            await trio.sleep_until(handle.started + 4.0)
            assert not await _try_connect(sims, nursery)
            await trio.sleep_until(handle.ends)
            assert not handle.active and not sims.binance.down
            assert await _try_connect(sims, nursery)
            assert _outcomes(sims) == ["accepted", "refused", "refused", "accepted"]
            nursery.cancel_scope.cancel()


async def test_an_outage_can_end_early_and_answer_with_a_status(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with open_simulated_exchanges(["BTC-USDT"], memory=True) as sims:
        async with trio.open_nursery() as nursery:
            handle = sims.binance.outage(60.0, status=503)
            assert not await _try_connect(sims, nursery)
            handle.cancel()
            handle.cancel()  # idempotent
            assert await _try_connect(sims, nursery)
            sims.binance.outage(60.0)
            sims.binance.accept_connections()
            assert await _try_connect(sims, nursery)
            log = sims.binance.connection_log
            assert [(a.outcome, a.status) for a in log] == [
                ("rejected", 503),
                ("accepted", None),
                ("accepted", None),
            ]
            nursery.cancel_scope.cancel()


async def test_refuse_connections_is_cancellable(autojump_clock: trio.testing.MockClock) -> None:
    async with open_simulated_exchanges(["BTC-USDT"], memory=True) as sims:
        async with trio.open_nursery() as nursery:
            handle = sims.binance.refuse_connections(100)
            assert not await _try_connect(sims, nursery)
            handle.cancel()
            assert await _try_connect(sims, nursery)
            sims.binance.refuse_connections(5)
            sims.binance.accept_connections()
            assert await _try_connect(sims, nursery)
            assert _outcomes(sims) == ["refused", "accepted", "accepted"]
            nursery.cancel_scope.cancel()


async def test_a_stall_silences_open_connections_for_its_duration(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with open_simulated_exchanges(["BTC-USDT"], memory=True) as sims:
        async with trio.open_nursery() as nursery:
            ws = await _connect(sims, nursery)
            await ws.get_message()
            conn = sims.binance.connections[0]
            handle = sims.binance.stall(4.0)
            inner = sims.binance.stall(1.0)  # overlapping: the longer one holds
            await trio.sleep(0.01)
            sent = conn.messages_sent
            await trio.sleep_until(handle.started + 3.9)
            assert not inner.active and handle.active
            assert conn.messages_sent == sent and conn.is_open
            await trio.sleep_until(handle.ends + 1.0)
            assert conn.messages_sent > sent
            nursery.cancel_scope.cancel()


async def test_lag_and_latency_spikes_end_by_themselves(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with open_simulated_exchanges(["BTC-USDT"], memory=True) as sims:
        lag = sims.okx.lag(4.0, 2.0)
        assert lag.episode is not None and lag.episode.end == pytest.approx(lag.started + 4.0)
        await trio.sleep(2.0)
        assert sims.okx.clock.lag() == pytest.approx(2.0)
        spike = sims.okx.latency_spike(3.0, 1.5)
        sims.okx.latency_spike(1.0, 0.5)
        assert sims.okx._latency == 1.5
        await trio.sleep(1.5)
        assert sims.okx._latency == 1.5  # the short, smaller spike ended: the big one holds
        await trio.sleep(2.0)
        assert sims.okx.clock.lag() == 0.0 and sims.okx._latency == 0.0
        assert not spike.active and not lag.active


async def test_a_script_plays_in_virtual_time(autojump_clock: trio.testing.MockClock) -> None:
    script = FaultScript(
        [
            Fault("stall", "okx", at=2.0, duration=1.0),
            Fault("outage", "binance", at=1.0, duration=3.0),
            Fault("malformed", "binance", at=5.0, count=2),
            Fault("lag", "okx", at=0.5, duration=2.0, extra=1.0),
        ]
    )
    assert [f.at for f in script] == [0.5, 1.0, 2.0, 5.0]
    assert script.end == 5.0
    assert script.exchanges == ["binance", "okx"]
    async with open_simulated_exchanges(["BTC-USDT"], memory=True) as sims:
        t0 = trio.current_time()
        played = await sims.run_script(script)
        assert trio.current_time() - t0 == pytest.approx(5.0)
        assert [(p.fault.kind, p.start - t0, p.end - t0) for p in played] == [
            ("lag", 0.5, 2.5),
            ("outage", 1.0, 4.0),
            ("stall", 2.0, 3.0),
            ("malformed", 5.0, 5.0),
        ]
        with pytest.raises(ValueError, match="not simulated"):
            await play_script(sims.sims, [Fault("outage", "kraken", at=0.0, duration=1.0)])


def test_scripts_print_as_python_and_as_a_table() -> None:
    script = FaultScript(
        [Fault("latency", "okx", at=1.5, duration=2.0, extra=0.5), Fault("outage", "binance")]
    )
    assert eval(repr(script)) == script
    assert repr(script) == (
        "FaultScript([Fault('outage', 'binance', at=0.0), "
        "Fault('latency', 'okx', at=1.5, duration=2.0, extra=0.5)])"
    )
    assert str(script).splitlines()[2].split() == [
        "1.500",
        "s",
        "okx",
        "latency",
        "+0.5",
        "s",
        "for",
        "2",
        "s",
    ]
    with pytest.raises(ValueError, match="unknown fault kind"):
        Fault("meteor", "okx")
    with pytest.raises(ValueError, match="duration"):
        Fault("outage", "okx", duration=-1.0)
