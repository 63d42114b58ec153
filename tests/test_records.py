"""Records, symbols and the JSON round trip."""

from __future__ import annotations

import math

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

import trio_feeds
from trio_feeds import (
    Book,
    BookDelta,
    Candle,
    Quote,
    SymbolError,
    Ticker,
    Trade,
    dumps,
    loads,
)
from trio_feeds.core.convert import ALL_TYPES, make_converter
from trio_feeds.core.symbols import (
    canonical,
    from_binance,
    from_okx,
    to_binance,
    to_binance_stream,
    to_okx,
)


def test_records_are_frozen_and_carry_the_common_fields() -> None:
    t = Trade("binance", "BTC-USDT", 1672515782136, 1672515782.2, 61000.5, 0.25, "buy", "12345")
    assert t.kind == "trade"
    assert (t.exchange, t.symbol, t.timestamp) == ("binance", "BTC-USDT", 1672515782136)
    assert t.raw is None
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        t.price = 1.0  # type: ignore[misc]


def test_kinds() -> None:
    assert Ticker("okx", "BTC-USDT", 1, 1.0, 1, 1, 2, 3, 1, 2, 0.5, 9).kind == "ticker"
    assert Quote("okx", "BTC-USDT", 1, 1.0, 1, 2, 3, 4).kind == "quote"
    assert Book("okx", "BTC-USDT", 1, 1.0, ((1.0, 2.0),), ((3.0, 4.0),), 5).kind == "book"
    assert Candle("okx", "BTC-USDT", 1, 1.0, 0, "1m", 1, 2, 0.5, 1.5, 10, False).kind == "candle"


def test_book_helpers() -> None:
    b = Book("binance", "BTC-USDT", 1, 1.0, ((10.0, 1.0), (9.0, 2.0)), ((11.0, 1.0),), 7)
    assert b.best_bid == (10.0, 1.0)
    assert b.best_ask == (11.0, 1.0)
    assert not b.crossed
    crossed = attrs.evolve(b, asks=((9.5, 1.0),))
    assert crossed.crossed


def test_symbols() -> None:
    assert canonical("btc-usdt") == "BTC-USDT"
    assert to_binance("BTC-USDT") == "BTCUSDT"
    assert to_binance_stream("BTC-USDT") == "btcusdt"
    assert from_binance("BTCUSDT") == "BTC-USDT"
    assert from_binance("ETHBTC") == "ETH-BTC"
    assert to_okx("btc-usdt") == "BTC-USDT"
    assert from_okx("BTC-USDT-SWAP") == "BTC-USDT-SWAP"


@pytest.mark.parametrize("bad", ["XYZABC", "BTC USDT", "", "BTC-", "-USDT", "BTC-USDT-X", 42, None])
def test_malformed_symbols_name_the_symbol(bad: object) -> None:
    with pytest.raises(SymbolError) as info:
        canonical(bad)  # type: ignore[arg-type]
    assert repr(bad) in str(info.value)


def test_unsplittable_binance_symbol() -> None:
    with pytest.raises(SymbolError, match="XYZABC"):
        from_binance("XYZABC")


# --------------------------------------------------------------------------- round trips

finite = st.floats(allow_nan=False, allow_infinity=False, width=64)
ms = st.integers(min_value=0, max_value=2**53)
text = st.text(max_size=20)
levels = st.lists(st.tuples(finite, finite), max_size=5).map(tuple)
symbols = st.from_regex(r"\A[A-Z0-9]{1,6}-[A-Z0-9]{1,6}(-PERP)?\Z")
exchanges = st.sampled_from(["binance", "okx", "binance-usdm"])

records = st.one_of(
    st.builds(
        Trade,
        exchanges,
        symbols,
        ms,
        finite,
        finite,
        finite,
        st.sampled_from(["buy", "sell"]),
        text,
    ),
    st.builds(
        Ticker,
        exchanges,
        symbols,
        ms,
        finite,
        finite,
        finite,
        finite,
        finite,
        finite,
        finite,
        finite,
        finite,
        st.none() | finite,
        st.none() | finite,
    ),
    st.builds(
        Quote,
        exchanges,
        symbols,
        ms,
        finite,
        finite,
        finite,
        finite,
        finite,
        st.none() | ms,
        st.booleans(),
    ),
    st.builds(Book, exchanges, symbols, ms, finite, levels, levels, st.none() | ms, st.booleans()),
    st.builds(
        BookDelta,
        exchanges,
        symbols,
        ms,
        finite,
        levels,
        levels,
        st.booleans(),
        st.none() | ms,
        st.none() | ms,
        st.none() | ms,
        st.none() | st.integers(-(2**31), 2**31 - 1),
    ),
    st.builds(
        Candle,
        exchanges,
        symbols,
        ms,
        finite,
        ms,
        st.sampled_from(["1m", "1s"]),
        finite,
        finite,
        finite,
        finite,
        finite,
        st.booleans(),
        st.none() | finite,
        st.none() | st.integers(0, 10**9),
        st.booleans(),  # exchange_time
    ),
    st.builds(trio_feeds.Funding, exchanges, symbols, ms, finite, finite, ms),
    st.builds(trio_feeds.MarkPrice, exchanges, symbols, ms, finite, finite, st.none() | finite),
    st.builds(trio_feeds.OpenInterest, exchanges, symbols, ms, finite, finite),
    st.builds(
        trio_feeds.Liquidation,
        exchanges,
        symbols,
        ms,
        finite,
        st.sampled_from(["buy", "sell"]),
        finite,
        finite,
    ),
    st.builds(trio_feeds.Gap, exchanges, symbols, text, ms, ms, text),
    st.builds(
        trio_feeds.GapFilled, exchanges, symbols, text, st.integers(0, 10**6), ms, text, text
    ),
    st.builds(
        trio_feeds.Dropped,
        exchanges,
        symbols,
        text,
        st.integers(0, 10**6),
        st.integers(0, 10**9),
        ms,
    ),
    st.builds(trio_feeds.SubscriptionRejected, exchanges, symbols, text, text, text, ms),
    st.builds(
        trio_feeds.SubscriptionChange,
        exchanges,
        st.sampled_from(["subscribed", "unsubscribed", "instrument_added", "instrument_removed"]),
        st.lists(symbols, max_size=5).map(tuple),
        st.lists(st.sampled_from(["trade", "book", "quote"]), max_size=3).map(tuple),
        ms,
    ),
    st.builds(trio_feeds.SourceEvent, exchanges, text, text, ms),
    st.builds(trio_feeds.SourceSwitch, st.none() | exchanges, exchanges, text, ms),
    st.builds(trio_feeds.FailoverFailed, st.none() | exchanges, text, ms),
)


@given(records)
def test_json_round_trip_is_exact(record: trio_feeds.Item) -> None:
    data = dumps(record)
    back = loads(data)
    assert back == record
    assert type(back) is type(record)
    # and the JSON really is JSON-compatible data, tagged with its kind
    import orjson

    assert orjson.loads(data)["kind"] == record.kind


def test_every_type_is_covered_by_the_round_trip_strategy() -> None:
    assert set(ALL_TYPES) == {
        "trade",
        "ticker",
        "quote",
        "book",
        "book_delta",
        "candle",
        "funding",
        "mark",
        "open_interest",
        "liquidation",
        "gap",
        "gap_filled",
        "dropped",
        "subscription_rejected",
        "subscription_change",
        "source",
        "source_switch",
        "failover_failed",
    }


def test_raw_is_left_out_unless_asked_for() -> None:
    t = Trade("okx", "BTC-USDT", 1, 2.0, 3.0, 4.0, "sell", "9", raw={"px": "3"})
    assert "raw" not in trio_feeds.unstructure(t)
    with_raw = make_converter(include_raw=True)
    assert trio_feeds.unstructure(t, with_raw)["raw"] == {"px": "3"}


def test_loads_rejects_unknown_kind() -> None:
    with pytest.raises(trio_feeds.ProtocolError, match="kind"):
        loads(b'{"kind": "nonsense"}')


def test_floats_survive_exactly() -> None:
    t = Trade("binance", "BTC-USDT", 1, 0.1, 61234.12, 1e-8, "buy", "1")
    back = loads(dumps(t))
    assert isinstance(back, Trade)
    assert back.price == 61234.12 and back.amount == 1e-8
    assert not math.isnan(back.received_at)
