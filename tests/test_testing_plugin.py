"""The public testing toolkit as a user meets it: the ``trio_feeds`` pytest plugin, its
``simulated_exchanges`` fixture in hypothesis tests, the strategies, the recorder; and the
issue's acceptance test, run as a user's test file outside this repository."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path
from typing import Any

import pytest
import trio
from hypothesis import given, settings
from hypothesis import strategies as st

import trio_feeds
from trio_feeds.testing import (
    FAULT_KINDS,
    FaultScript,
    FeedRecorder,
    SimulatedExchanges,
    simulated_exchanges,
)
from trio_feeds.testing.strategies import bursts, clock_offsets, fault_scripts, faults

ROOT = Path(__file__).resolve().parent.parent

_seen_markets: set[int] = set()


@settings(max_examples=5, deadline=None)
@given(offset=clock_offsets(), burst=bursts())
async def test_every_example_gets_fresh_simulators(
    simulated_exchanges: SimulatedExchanges, virtual_clock: Any, offset: float, burst: float
) -> None:
    sims = simulated_exchanges
    assert id(sims.market) not in _seen_markets
    _seen_markets.add(id(sims.market))
    assert sims.binance.connection_log == [] and sims.market.symbols == ["BTC-USDT", "ETH-USDT"]
    sims.okx.clock.offset = offset
    recorder = FeedRecorder()
    async with trio_feeds.open_feed(
        ["binance", "okx"], ["ETH-USDT"], ["trade"], **sims.feed_kwargs()
    ) as feed:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(recorder.record, feed)
            await trio.sleep(3.0)
            nursery.cancel_scope.cancel()
    assert recorder.sources() == {"binance"}
    assert recorder.longest_silence() < 2.0
    assert recorder.lost_outside_gaps() == []
    assert len(sims.binance.connection_log) == 1


async def test_the_factory_takes_options(simulated_exchanges_factory: Any) -> None:
    sims = simulated_exchanges_factory(["SOL-USDT"], seed=7, rate=20.0)
    assert sims.market.symbols == ["SOL-USDT"] and sims.market.seed == 7
    assert sims.market.rate == 20.0
    assert await sims.connector(sims.urls["okx"]) is not None


def test_lazy_simulators_need_a_trio_run() -> None:
    sims = simulated_exchanges()
    with pytest.raises(RuntimeError, match="trio run"):
        sims.binance  # noqa: B018

    async def main() -> int:
        await trio.sleep(1.0)
        return len(sims.binance.connection_log)

    assert trio.run(main) == 0
    assert sims.binance.connection_log == []  # after the run: the last run's simulators


@settings(max_examples=50, deadline=None)
@given(script=fault_scripts(max_faults=4, horizon=30), data=st.data())
def test_fault_scripts_stay_inside_their_horizon(script: FaultScript, data: Any) -> None:
    assert len(script) <= 4
    assert all(0 <= f.at <= f.end <= 30 for f in script)
    assert all(f.kind in FAULT_KINDS and f.exchange in ("binance", "okx") for f in script)
    assert [f.at for f in script] == sorted(f.at for f in script)
    one = data.draw(faults(["okx"], kinds=["lag"], lags=(1.0, 2.0)))
    assert one.kind == "lag" and one.exchange == "okx" and 1.0 <= one.extra <= 2.0


def test_the_plugin_is_an_entry_point() -> None:
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())
    plugins = meta["project"]["entry-points"]["pytest11"]
    assert plugins == {"trio_feeds": "trio_feeds.testing.pytest_plugin"}


# -- a user's test file, outside this repository ---------------------------------------------

USER_TEST = """
import trio
from hypothesis import given, settings

import trio_feeds
from trio_feeds.testing import FeedRecorder
from trio_feeds.testing.strategies import fault_scripts

STALE = 2.0
MAX_RECONNECT = 1.0
#: after an outage: the reconnect (<= max_reconnect_delay), its first data, and the other
#: source's staleness if it went quiet meanwhile
BOUND = STALE + MAX_RECONNECT + 2.0


@settings(max_examples=20, deadline=None)
@given(script=fault_scripts(max_faults=4, horizon=30))
async def test_my_feed_survives_failing_exchanges(simulated_exchanges, script, virtual_clock):
    sims = simulated_exchanges
    recorder = FeedRecorder()
    async with trio_feeds.open_feed(
        ["binance", "okx"], ["BTC-USDT"], ["trade"],
        stale_after=STALE, reconnect_delay=0.2, max_reconnect_delay=MAX_RECONNECT,
        **sims.feed_kwargs(),
    ) as feed:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(recorder.record, feed)
            await trio.sleep(3)
            played = await sims.run_script(script)
            await trio.sleep(BOUND + 1)
            nursery.cancel_scope.cancel()
    for p in played:
        if p.fault.kind != "outage":
            continue
        later = [
            q for q in played
            if q.fault.exchange == p.fault.exchange and q is not p
            and q.fault.kind != "malformed" and q.start < p.end + BOUND and q.end > p.end
        ]
        if not later:  # the exchange is back and stays up: so is the data
            assert recorder.resumed_within(p.end, BOUND), (str(script), recorder.describe())
    assert not recorder.bad_switches(["binance", "okx"])
    assert recorder.data and recorder.sources() <= {"binance", "okx"}
"""

#: until the package is reinstalled with the entry point, load the plugin as it would be
SHIM = """
def pytest_configure(config):
    if not config.pluginmanager.has_plugin("trio_feeds"):
        from trio_feeds.testing import pytest_plugin
        config.pluginmanager.register(pytest_plugin, "trio_feeds")
"""


def _run_user_pytest(where: Path, *args: str, extra_path: Path | None = None) -> Any:
    env = dict(os.environ)
    paths = [str(ROOT)] + ([str(extra_path)] if extra_path else [])
    env["PYTHONPATH"] = os.pathsep.join([*paths, env.get("PYTHONPATH", "")])
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args],
        cwd=where,
        env=env,
        capture_output=True,
        text=True,
        timeout=110,
    )


def test_a_users_property_test_with_fault_scripts(tmp_path: Path) -> None:
    """The acceptance test of issue 14: 20 examples of four faults in 30 s, in virtual
    time, with nothing but the public names."""
    (tmp_path / "pytest.ini").write_text("[pytest]\ntrio_mode = true\n")
    (tmp_path / "conftest.py").write_text(SHIM)
    (tmp_path / "test_my_app.py").write_text(USER_TEST)
    proc = _run_user_pytest(tmp_path, "--hypothesis-show-statistics")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "1 passed" in proc.stdout
    assert "20 passing" in proc.stdout


def test_the_entry_point_loads_the_plugin(tmp_path: Path) -> None:
    """As installed: a distribution declaring the same ``pytest11`` entry point (here a
    bare dist-info on the path) is all pytest needs to find the fixtures."""
    site = tmp_path / "site"
    info = site / "trio_feeds_entry_point_probe-0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: trio-feeds-entry-point-probe\nVersion: 0\n"
    )
    (info / "entry_points.txt").write_text(
        "[pytest11]\ntrio_feeds = trio_feeds.testing.pytest_plugin\n"
    )
    project = tmp_path / "project"
    project.mkdir()
    (project / "pytest.ini").write_text("[pytest]\ntrio_mode = true\n")
    (project / "test_fixture.py").write_text(
        textwrap.dedent(
            """
            import pytest

            pytestmark = pytest.mark.simulated_exchanges(["SOL-USDT"], seed=3)

            async def test_it(simulated_exchanges, virtual_clock):
                assert simulated_exchanges.market.symbols == ["SOL-USDT"]
                assert simulated_exchanges.market.seed == 3
            """
        )
    )
    proc = _run_user_pytest(project, extra_path=site)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "1 passed" in proc.stdout


def test_a_marker_on_one_test_is_refused(tmp_path: Path) -> None:
    (tmp_path / "pytest.ini").write_text("[pytest]\ntrio_mode = true\n")
    (tmp_path / "conftest.py").write_text(SHIM)
    (tmp_path / "test_marker.py").write_text(
        textwrap.dedent(
            """
            import pytest

            @pytest.mark.simulated_exchanges(seed=3)
            async def test_it(simulated_exchanges):
                pass
            """
        )
    )
    proc = _run_user_pytest(tmp_path)
    assert proc.returncode != 0
    assert "simulated_exchanges_factory" in proc.stdout + proc.stderr


def _trade(exchange: str, tid: int, ts: int, raw: Any = None) -> Any:
    from trio_feeds.core.records import Trade

    extra = {} if raw is None else {"raw": raw}
    return Trade(exchange, "BTC-USDT", ts, 0.0, 1.0, 1.0, "buy", str(tid), **extra)


def test_the_recorder_finds_trades_lost_outside_declared_gaps() -> None:
    from trio_feeds.core.records import Gap, SourceSwitch

    rec = FeedRecorder()
    items = [
        _trade("binance", 1, 1000),
        _trade("binance", 2, 1001),
        _trade("binance", 5, 1002),  # 3 and 4 lost, undeclared
        Gap("binance", "*", "trade", 1003, 1010, "disconnected"),
        _trade("binance", 9, 1011),  # declared by the gap just before
        _trade("okx", 20, 1012, raw={"count": "3"}),
        _trade("okx", 23, 1013, raw={"count": "3"}),  # 21..23: nothing lost
        SourceSwitch("okx", "binance", "failback", 1014),
        _trade("binance", 40, 1015),  # a switch in between: not a loss
        _trade("binance", 43, 1016),  # lost, but a later gap covers the time
        Gap("binance", "BTC-USDT", "trade", 1015, 1016, "refused frame"),
    ]
    for t, item in enumerate(items):
        rec.add(item, at=float(t))
    lost = rec.lost_outside_gaps()
    assert [(x.exchange, x.after_id, x.before_id, x.missing) for x in lost] == [
        ("binance", 2, 5, 2)
    ]
    assert rec.lost_outside_gaps(exchanges=["okx"]) == []
    assert [s.to_source for s in rec.switches] == ["binance"]
    assert rec.bad_switches(["binance"]) == rec.switches  # from okx: not allowed here
    assert len(rec.gaps) == 2
    assert rec.longest_silence(0.0, 20.0) == pytest.approx(11.0)  # the last data at 9
    assert rec.first_data_after(3.5) == 4.0
    assert rec.resumed_within(3.5, 0.5) and not rec.resumed_within(10.5, 5.0)
