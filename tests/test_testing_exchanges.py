"""The toolkit starts any of the four simulators: ``open_simulated_exchanges(exchanges=...)``,
the lazy ``simulated_exchanges(exchanges=...)``, and ``feed_kwargs()`` reaching them."""

from __future__ import annotations

from typing import Any

import pytest
import trio

import trio_feeds
from trio_feeds import Quote, Trade
from trio_feeds.testing import (
    SimulatedBybit,
    SimulatedCoinbase,
    open_simulated_exchanges,
    simulated_exchanges,
)


async def _records(sims: Any, exchange: str, seconds: float = 3.0) -> list[Any]:
    out: list[Any] = []
    async with trio_feeds.open_feed(
        [exchange], ["BTC-USDT"], ["trade", "quote"], **sims.feed_kwargs()
    ) as feed:
        with trio.move_on_after(seconds):
            async for item in feed:
                out.append(item)  # noqa: PERF401 - a cancelled comprehension would lose them
    return out


async def test_bybit_and_coinbase_through_feed_kwargs(autojump_clock: Any) -> None:
    async with open_simulated_exchanges(
        ["BTC-USDT"], memory=True, exchanges=["bybit", "coinbase"], bybit_options={}
    ) as sims:
        assert isinstance(sims.bybit, SimulatedBybit)
        assert isinstance(sims.coinbase, SimulatedCoinbase)
        assert set(sims.sims) == set(sims.urls) == {"bybit", "coinbase"}
        with pytest.raises(AttributeError, match="exchanges="):
            sims.binance  # noqa: B018
        assert not hasattr(sims, "okx")
        for exchange in ("bybit", "coinbase"):
            records = await _records(sims, exchange)
            kinds = {type(r) for r in records if getattr(r, "exchange", None) == exchange}
            assert {Trade, Quote} <= kinds, (exchange, kinds)
        assert len(sims.bybit.connection_log) == 1
        assert len(sims.coinbase.connection_log) == 1


async def test_all_four_over_tls(autojump_clock: Any) -> None:
    pytest.importorskip("trustme")
    everything = ["binance", "okx", "bybit", "coinbase"]
    async with open_simulated_exchanges(
        ["BTC-USDT"], memory=True, exchanges=everything, tls=True
    ) as sims:
        assert list(sims.sims) == everything
        assert all(url.startswith("wss://") for url in sims.urls.values())
        kwargs = {**sims.feed_kwargs(), "ssl_context": sims.ssl_context}
        async with trio_feeds.open_feed(["coinbase"], ["BTC-USDT"], ["quote"], **kwargs) as feed:
            first = await feed.__anext__()
        assert first.exchange == "coinbase"


async def test_the_defaults_stay_binance_and_okx() -> None:
    async with open_simulated_exchanges(["BTC-USDT"], memory=True) as sims:
        assert set(sims.sims) == {"binance", "okx"}
        assert not hasattr(sims, "bybit") and not hasattr(sims, "coinbase")


def test_lazy_simulators_take_exchanges() -> None:
    sims = simulated_exchanges(["BTC-USDT"], exchanges=["coinbase"])

    async def main() -> list[str]:
        await trio.sleep(0.5)
        return sorted(sims.sims)

    assert trio.run(main) == ["coinbase"]


@pytest.mark.parametrize("exchanges", [[], ["kraken"], ["binance", "nope"]])
def test_unknown_exchanges_are_refused(exchanges: list[str]) -> None:
    with pytest.raises(ValueError, match="exchanges must name"):
        simulated_exchanges(exchanges=exchanges)
