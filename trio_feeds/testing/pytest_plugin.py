"""The ``trio_feeds`` pytest plugin: simulated exchanges as fixtures.

Installed with trio_feeds (entry point ``pytest11``: ``trio_feeds``), so no setup is needed.
Fixtures:

``simulated_exchanges``
    A :class:`~trio_feeds.testing.SimulatedExchanges`: in-memory Binance and OKX simulators,
    seed 1, symbols BTC-USDT and ETH-USDT.  Its simulators start lazily in the trio run of
    the test that uses them (and stop with it), so a hypothesis ``@given`` test gets fresh
    ones for every example.  Module-scoped (the object, not the simulators), so hypothesis
    does not flag it as a function-scoped fixture.  Options for a module:
    ``pytestmark = pytest.mark.simulated_exchanges(symbols=[...], seed=7, rate=20.0,
    bursts=0.3, binance_options={...}, okx_options={...})``; ``exchanges=["bybit",
    "coinbase"]`` (any of the four) starts other simulators.
``simulated_exchanges_factory``
    ``make(**options) -> SimulatedExchanges`` with the same options, for one test (call it
    inside the test).
``virtual_clock``
    A module-scoped ``trio.testing.MockClock(autojump_threshold=0)``: ask for it and
    pytest-trio runs the test in virtual time (like its ``autojump_clock``, which is
    function-scoped and trips hypothesis's health check in ``@given`` tests).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import trio.testing

from trio_feeds.testing._exchanges import SimulatedExchanges, simulated_exchanges

__all__ = [
    "pytest_configure",
    "pytest_runtest_setup",
    "simulated_exchanges_factory",
    "simulated_exchanges_fixture",
    "virtual_clock",
]

MARKER = "simulated_exchanges"


def pytest_configure(config: pytest.Config) -> None:
    """Register the ``simulated_exchanges`` marker."""
    config.addinivalue_line(
        "markers",
        f"{MARKER}(symbols=..., seed=1, rate=50.0, bursts=0.0, binance_options=None, "
        "okx_options=None, exchanges=('binance', 'okx'), bybit_options=None, "
        "coinbase_options=None): options of the simulated_exchanges fixture (module level: "
        "pytestmark)",
    )


def pytest_runtest_setup(item: pytest.Item) -> None:
    """A ``simulated_exchanges`` marker on one test would be ignored (the fixture is
    module-scoped): say so instead."""
    if any(m.name == MARKER for m in item.own_markers):
        raise pytest.UsageError(
            f"{item.nodeid}: @pytest.mark.{MARKER} applies to a whole module "
            f"(pytestmark = pytest.mark.{MARKER}(...)); for one test, use the "
            "simulated_exchanges_factory fixture"
        )


@pytest.fixture(name="simulated_exchanges", scope="module")
def simulated_exchanges_fixture(request: pytest.FixtureRequest) -> SimulatedExchanges:
    """Lazy in-memory Binance + OKX simulators (see the module docstring)."""
    marker = request.node.get_closest_marker(MARKER)
    options: dict[str, Any] = dict(marker.kwargs) if marker is not None else {}
    if marker is not None and marker.args:
        options.setdefault("symbols", marker.args[0])
    return simulated_exchanges(**options)


@pytest.fixture(scope="session")
def simulated_exchanges_factory() -> Callable[..., SimulatedExchanges]:
    """``make(symbols=..., seed=..., rate=..., bursts=..., binance_options=...,
    okx_options=...)``: lazy simulators with these options."""
    return simulated_exchanges


@pytest.fixture(scope="module")
def virtual_clock() -> trio.testing.MockClock:
    """``MockClock(autojump_threshold=0)`` for the module: tests asking for it run in
    virtual time."""
    return trio.testing.MockClock(autojump_threshold=0)
