"""Symbols as users type them: ccxt ``BTC/USDT``, exchange-native ``BTCUSDT``, any case,
all read into the canonical ``BTC-USDT``; perpetuals understood but refused for now."""

from __future__ import annotations

import pytest
import trio
from hypothesis import given
from hypothesis import strategies as st

import trio_feeds
from trio_feeds import SymbolError, canonical
from trio_feeds.core.symbol_input import QUOTE_ASSETS, parse_symbol
from trio_feeds.testing import open_simulated_exchanges


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("BTC-USDT", "BTC-USDT"),
        ("btc-usdt", "BTC-USDT"),
        (" Eth-Btc ", "ETH-BTC"),
        ("BTC/USDT", "BTC-USDT"),
        ("eth/btc", "ETH-BTC"),
        ("BTC_USDT", "BTC-USDT"),
        ("BTCUSDT", "BTC-USDT"),
        ("btcusdt", "BTC-USDT"),
        ("ETHBTC", "ETH-BTC"),
        ("BTCUSD", "BTC-USD"),
        ("BTCFDUSD", "BTC-FDUSD"),  # the longest known quote wins (not BTCFD-USD)
        ("SOLUSDC", "SOL-USDC"),
        ("1000SATSUSDT", "1000SATS-USDT"),
    ],
)
def test_the_forms_users_type_become_canonical(typed: str, expected: str) -> None:
    assert canonical(typed) == expected
    assert canonical(expected) == expected


@pytest.mark.parametrize(
    ("typed", "expected"),
    [("BTC/USDT:USDT", "BTC-USDT-PERP"), ("eth/usdt:usdt", "ETH-USDT-PERP"),
     ("BTC-USDT-PERP", "BTC-USDT-PERP"), ("ETH/USDC:USDC", "ETH-USDC-PERP"),
     ("BTC/USD:BTC", "BTC-USD-PERP"), ("btc-usd-perp", "BTC-USD-PERP")],
)  # fmt: skip
def test_a_perpetual_is_read_into_its_canonical_form(typed: str, expected: str) -> None:
    assert parse_symbol(typed) == expected
    assert canonical(typed) == expected


@pytest.mark.parametrize(
    ("typed", "says"),
    [
        ("XYZABC", "no known quote asset"),
        ("BTC/USDT:USDT-250328", "dated futures"),
        ("BTC-USDT-SWAP", "not a spot pair"),
        ("BTC USDT", "BASE-QUOTE"),
        ("", "BASE-QUOTE"),
        ("USDT", "no known quote asset"),
        (None, "expected a string"),
    ],
)
def test_what_cannot_be_read_is_refused_naming_the_symbol(typed: object, says: str) -> None:
    with pytest.raises(SymbolError, match=says) as info:
        canonical(typed)  # type: ignore[arg-type]
    assert repr(typed) in str(info.value)


asset = st.from_regex(r"\A[A-Z0-9]{1,8}\Z")


@given(base=asset, quote=asset, sep=st.sampled_from(["-", "/", "_"]), lower=st.booleans())
def test_separated_forms_keep_base_and_quote(base: str, quote: str, sep: str, lower: bool) -> None:
    typed = f"{base}{sep}{quote}"
    got = canonical(typed.lower() if lower else typed)
    assert got == f"{base}-{quote}"
    assert canonical(got) == got


@given(base=st.from_regex(r"\A[A-Z]{2,6}\Z"), quote=st.sampled_from(QUOTE_ASSETS))
def test_native_forms_split_on_a_quote_asset(base: str, quote: str) -> None:
    got = canonical(base + quote)
    b, q = got.split("-")
    assert b + q == base + quote and q in QUOTE_ASSETS
    assert len(q) >= len(quote)  # the longest known quote that fits


async def test_open_feed_streams_a_symbol_typed_the_ccxt_way() -> None:
    async with (
        open_simulated_exchanges(["BTC-USDT"], memory=True, rate=40) as sims,
        trio_feeds.open_feed(
            ["binance", "okx"], ["btc/usdt"], ["trade"], urls=sims.urls,
            connector=sims.connector, clock=sims.clock,
        ) as feed,
    ):  # fmt: skip
        with trio.fail_after(5):
            async for item in feed:
                if item.kind == "trade":
                    break
    assert item.symbol == "BTC-USDT"


async def test_a_spot_exchange_refuses_a_perpetual_before_connecting() -> None:
    with pytest.raises(SymbolError, match="perpetual symbol; binance lists spot pairs"):
        async with trio_feeds.open_feed(["binance"], ["BTC/USDT:USDT"]):
            raise AssertionError("should not have opened")  # pragma: no cover
