"""The exchange simulators :mod:`trio_feeds.testing` can start by name, and starting them."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterable, Mapping
from typing import Any

from trio_feeds.exchanges.binance.simulator import SimulatedBinance
from trio_feeds.exchanges.binance_usdm.simulator import SimulatedBinanceUsdm
from trio_feeds.exchanges.bybit.simulator import SimulatedBybit
from trio_feeds.exchanges.coinbase.simulator import SimulatedCoinbase
from trio_feeds.exchanges.okx.simulator import SimulatedOkx
from trio_feeds.simulator.server import SimulatedExchange

__all__: list[str] = []

#: the simulators that can be started, by exchange name
_SIMULATORS: dict[str, type[SimulatedExchange]] = {
    "binance": SimulatedBinance,
    "okx": SimulatedOkx,
    "bybit": SimulatedBybit,
    "coinbase": SimulatedCoinbase,
    "binance-usdm": SimulatedBinanceUsdm,
}
_DEFAULT_EXCHANGES = ("binance", "okx")


def _names(exchanges: Iterable[str]) -> tuple[str, ...]:
    names = tuple(dict.fromkeys(exchanges))
    unknown = [n for n in names if n not in _SIMULATORS]
    if unknown or not names:
        raise ValueError(
            f"exchanges must name some of {sorted(_SIMULATORS)}, got {list(exchanges)!r}"
        )
    return names


def _options(
    binance: Mapping[str, Any] | None,
    okx: Mapping[str, Any] | None,
    bybit: Mapping[str, Any] | None,
    coinbase: Mapping[str, Any] | None,
    options: Mapping[str, Mapping[str, Any]] | None = None,
) -> dict[str, dict[str, Any]]:
    """Keyword arguments per simulator: ``options`` by exchange name, then the
    ``<name>_options`` arguments (which win)."""
    unknown = sorted(set(options or {}) - set(_SIMULATORS))
    if unknown:
        raise ValueError(f"options for unknown simulators {unknown}; known: {sorted(_SIMULATORS)}")
    out = {name: dict((options or {}).get(name) or {}) for name in _SIMULATORS}
    given = {"binance": binance, "okx": okx, "bybit": bybit, "coinbase": coinbase}
    for name, o in given.items():
        out[name].update(o or {})
    return out


@contextlib.asynccontextmanager
async def _serving(sims: Iterable[SimulatedExchange], *, memory: bool) -> AsyncIterator[None]:
    async with contextlib.AsyncExitStack() as stack:
        for sim in sims:
            await stack.enter_async_context(sim.serve(memory=memory))
        yield
