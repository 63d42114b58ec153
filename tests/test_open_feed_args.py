"""open_feed checks its arguments before connecting and names what is wrong."""

from __future__ import annotations

from typing import Any

import pytest

import trio_feeds
from trio_feeds import ConfigError, SymbolError


async def open_with(**kw: Any) -> None:
    args: dict[str, Any] = dict(exchanges=["binance"], symbols=["BTC-USDT"], channels=["trade"])
    args.update(kw)
    async with trio_feeds.open_feed(**args):
        raise AssertionError("should not have opened")


@pytest.mark.parametrize(
    ("kw", "names"),
    [
        ({"exchanges": ["kraken"]}, "kraken"),
        ({"exchanges": []}, "exchanges"),
        ({"exchanges": ["binance", "binance"]}, "twice"),
        ({"channels": ["orderflow"]}, "orderflow"),
        ({"channels": []}, "channels"),
        ({"symbols": []}, "symbols"),
        ({"connect_timeout": 0}, "connect_timeout"),
        ({"heartbeat_interval": -1}, "heartbeat_interval"),
        ({"stale_after": float("nan")}, "stale_after"),
        ({"reconnect_delay": "1s"}, "reconnect_delay"),
        ({"max_reconnect_attempts": -1}, "max_reconnect_attempts"),
        ({"max_reconnect_attempts": 1.5}, "max_reconnect_attempts"),
        ({"primary": "okx"}, "primary"),
        ({"conflict": "median"}, "conflict"),
        ({"urls": {"binnance": "ws://127.0.0.1:1"}}, "binnance"),
        ({"urls": {"binance": "ws://127.0.0.1:1", "okx": 5}}, "okx"),
        ({"urls": {"binance": "http://127.0.0.1:1"}}, "urls"),
        ({"urls": {"binance": "ws://127.0.0.1:1/ws"}}, "scheme, host and port only"),
        ({"rest_urls": {"binance": "ws://127.0.0.1:1"}}, "rest_urls"),
        ({"buffer_size": 0}, "buffer_size"),
        ({"book_depth": 0}, "book_depth"),
        ({"book_mode": "l3"}, "book_mode"),
        ({"standby": "warm"}, "standby"),
        ({"exchanges": ["okx"], "heartbeat_interval": 30}, "heartbeat_interval"),
    ],
)
async def test_invalid_arguments_fail_at_once_naming_the_argument(
    kw: dict[str, Any], names: str
) -> None:
    with pytest.raises(ConfigError) as info:
        await open_with(**kw)
    assert names in str(info.value)


@pytest.mark.parametrize("symbol", ["XYZABC", "BTC USDT", "", "btc-usdt-"])
async def test_malformed_symbols_are_named(symbol: str) -> None:
    with pytest.raises(SymbolError) as info:
        await open_with(symbols=[symbol])
    assert repr(symbol) in str(info.value)


@pytest.mark.parametrize("symbol", ["BTC/USDT:USDT", "btc-usdt-perp"])
async def test_a_perpetual_on_a_spot_exchange_is_refused_naming_the_market(symbol: str) -> None:
    with pytest.raises(SymbolError, match="binance lists spot pairs") as info:
        await open_with(symbols=[symbol])
    assert "perpetual" in str(info.value)


async def test_channel_aliases_of_the_original_design_are_accepted() -> None:
    from trio_feeds.protocol import normalize_channel

    assert normalize_channel("depth") == "book"
    assert normalize_channel("orderbook") == "book"
    assert normalize_channel("kline") == "candle"


async def test_the_callers_own_exception_comes_back_unwrapped(
    autojump_clock: object,
) -> None:
    """An error raised in the body of ``async with open_feed`` is not turned into an
    ExceptionGroup by the feed's nursery."""
    from trio_feeds.testing import open_simulated_exchanges

    async with open_simulated_exchanges(["BTC-USDT"], memory=True, rate=10) as sims:
        with pytest.raises(KeyError, match="mine"):
            async with trio_feeds.open_feed(
                ["binance"], ["BTC-USDT"], ["trade"],
                urls=sims.urls, connector=sims.connector, clock=sims.clock,
            ):  # fmt: skip
                raise KeyError("mine")
