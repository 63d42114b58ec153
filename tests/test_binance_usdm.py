"""Binance USD-M futures: frames shaped like the real ones (2024 capture, Binance docs) become
the right records; the local book follows the ``pu`` chain, and a broken chain is a gap and a
resync, never a wrong book."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import trio_feeds
from trio_feeds import ConfigError, ProtocolError, SymbolError
from trio_feeds.books.orderbook import BookGap, BookUpdated, SnapshotRequest
from trio_feeds.core.records import BookDelta
from trio_feeds.exchanges.binance import BinanceAdapter
from trio_feeds.exchanges.binance_usdm import BinanceUsdmAdapter, UsdmBookSync
from trio_feeds.exchanges.binance_usdm.snapshot import (
    depth_snapshot_path,
    depth_snapshot_weight,
    open_interest_path,
    parse_depth_snapshot,
    parse_open_interest,
)
from trio_feeds.protocol import ParseError

R = 1723161255.5  # receive time, s


def envelope(stream: str, data: dict[str, Any]) -> bytes:
    return orjson.dumps({"stream": stream, "data": data})


def subscribed(*channels: str) -> BinanceUsdmAdapter:
    a = BinanceUsdmAdapter()
    a.subscribe([a.subscription(c, "BTC-USDT-PERP") for c in channels])
    return a


def parse(a: BinanceUsdmAdapter, frame: bytes) -> Any:
    (record,) = a.parse_one(frame, R)
    return record


# --------------------------------------------------------------------------- symbols


def test_perp_symbols_map_to_usdm_names_and_spot_ones_are_refused() -> None:
    a = BinanceUsdmAdapter()
    assert a.subscription("trade", "btc-usdt-perp").topic == "btcusdt@trade"
    with pytest.raises(SymbolError, match=r"spot symbol.*binance-usdm lists perpetuals"):
        a.subscription("trade", "BTC-USDT")
    with pytest.raises(SymbolError, match=r"perpetual symbol.*binance lists spot"):
        BinanceAdapter().subscription("trade", "BTC-USDT-PERP")
    assert trio_feeds.canonical("eth-usdt-perp") == "ETH-USDT-PERP"


def test_perp_channels_are_refused_on_spot_with_the_channels_it_has() -> None:
    with pytest.raises(ConfigError, match="binance has no 'funding' channel"):
        BinanceAdapter().subscription("funding", "BTC-USDT")


# --------------------------------------------------------------------------- records


def test_trade_as_on_spot_with_the_perp_symbol() -> None:
    a = subscribed("trade")
    t = parse(a, envelope("btcusdt@trade", {
        "e": "trade", "E": 1723161256322, "T": 1723161256322, "s": "BTCUSDT",
        "t": 5266583935, "p": "61800.30", "q": "0.006", "X": "MARKET", "m": False,
    }))  # fmt: skip
    assert (t.exchange, t.symbol, t.price, t.amount, t.side, t.trade_id, t.timestamp) == (
        "binance-usdm", "BTC-USDT-PERP", 61800.3, 0.006, "buy", "5266583935", 1723161256322,
    )  # fmt: skip


def test_quote_uses_the_event_time() -> None:
    a = subscribed("quote")
    q = parse(a, envelope("btcusdt@bookTicker", {
        "e": "bookTicker", "u": 5123107839020, "s": "BTCUSDT", "b": "61800.20", "B": "2.507",
        "a": "61800.30", "A": "2.510", "T": 1723161256313, "E": 1723161256314,
    }))  # fmt: skip
    assert q.timestamp == 1723161256314 and q.exchange_time
    assert (q.bid, q.bid_size, q.ask, q.ask_size) == (61800.2, 2.507, 61800.3, 2.51)


def test_depth_diff_keeps_the_pu_chain() -> None:
    a = subscribed("book")
    d = parse(a, envelope("btcusdt@depth@100ms", {
        "e": "depthUpdate", "E": 1723161256299, "T": 1723161256298, "s": "BTCUSDT",
        "U": 5123107832006, "u": 5123107837557, "pu": 5123107831937,
        "b": [["58710.20", "0.014"], ["61510.90", "0.000"]], "a": [["61800.30", "3.330"]],
    }))  # fmt: skip
    assert isinstance(d, BookDelta) and not d.snapshot
    assert (d.first_sequence, d.sequence, d.prev_sequence) == (
        5123107832006, 5123107837557, 5123107831937,
    )  # fmt: skip
    assert d.bids == ((58710.2, 0.014), (61510.9, 0.0)) and d.asks == ((61800.3, 3.33),)


def test_partial_depth_is_a_book_with_the_event_time() -> None:
    a = BinanceUsdmAdapter()
    a.subscribe([a.subscription("book", "BTC-USDT-PERP", stream="depth5@100ms")])
    b = parse(a, envelope("btcusdt@depth5@100ms", {
        "e": "depthUpdate", "E": 1723161256500, "T": 1723161256499, "s": "BTCUSDT",
        "U": 1, "u": 9, "pu": 0, "b": [["61800.20", "2.9"]], "a": [["61800.30", "1.0"]],
    }))  # fmt: skip
    assert (b.kind, b.timestamp, b.sequence, b.exchange_time) == ("book", 1723161256500, 9, True)


MARK = {
    "e": "markPriceUpdate", "E": 1562305380000, "s": "BTCUSDT", "p": "11794.15000000",
    "i": "11784.62659091", "P": "11784.25641265", "r": "-0.00038167", "T": 1562306400000,
}  # fmt: skip


def test_funding_rate_and_when_it_settles() -> None:
    f = parse(subscribed("funding"), envelope("btcusdt@markPrice", MARK))
    assert (f.kind, f.rate, f.next_funding_time, f.timestamp) == (
        "funding", -0.00038167, 1562306400000, 1562305380000,
    )  # fmt: skip


def test_mark_price_with_its_index() -> None:
    m = parse(subscribed("mark"), envelope("btcusdt@markPrice@1s", MARK))
    assert (m.kind, m.mark_price, m.index_price) == ("mark", 11794.15, 11784.62659091)


def test_liquidation_side_price_amount_and_order_time() -> None:
    liq = parse(subscribed("liquidation"), envelope("btcusdt@forceOrder", {
        "e": "forceOrder", "E": 1568014460893,
        "o": {"s": "BTCUSDT", "S": "SELL", "o": "LIMIT", "f": "IOC", "q": "0.014",
              "p": "9910", "ap": "9910", "X": "FILLED", "l": "0.014", "z": "0.014",
              "T": 1568014460890},
    }))  # fmt: skip
    assert (liq.kind, liq.side, liq.price, liq.amount, liq.timestamp) == (
        "liquidation", "sell", 9910.0, 0.014, 1568014460890,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("stream", "change"),
    [
        ("btcusdt@markPrice", {"r": "NaN"}),
        ("btcusdt@markPrice@1s", {"p": "-1"}),
        ("btcusdt@markPrice", {"T": "soon"}),
        ("btcusdt@forceOrder", {"o": {"S": "LONG", "p": "1", "q": "1", "T": 1}}),
    ],
)
def test_bad_values_are_parse_errors_naming_the_stream(stream: str, change: dict[str, Any]) -> None:
    a = subscribed("funding", "mark", "liquidation")
    e = parse(a, envelope(stream, {**MARK, **change}))
    assert isinstance(e, ParseError) and e.symbol == "BTC-USDT-PERP"
    assert e.stream == stream.partition("@")[2]


# --------------------------------------------------------------------------- REST


def test_snapshot_request_weight_and_parse() -> None:
    assert depth_snapshot_path("BTC-USDT-PERP") == "/fapi/v1/depth?symbol=BTCUSDT&limit=1000"
    assert [depth_snapshot_weight(n) for n in (5, 50, 100, 500, 1000)] == [2, 2, 5, 10, 20]
    with pytest.raises(ConfigError, match="must be one of"):
        depth_snapshot_weight(5000)
    snap = parse_depth_snapshot(
        b'{"lastUpdateId":5123107852948,"E":1723161256501,"T":1723161256493,'
        b'"bids":[["61800.20","2.909"]],"asks":[["61800.30","1.5"]]}',
        "BTC-USDT-PERP", R,
    )  # fmt: skip
    assert (snap.exchange, snap.sequence, snap.timestamp, snap.snapshot) == (
        "binance-usdm", 5123107852948, 1723161256501, True,
    )  # fmt: skip
    with pytest.raises(ProtocolError, match="binance-usdm depth snapshot for BTC-USDT-PERP"):
        parse_depth_snapshot(b'{"code":-1121,"msg":"Invalid symbol."}', "BTC-USDT-PERP", R)


def test_open_interest_over_rest() -> None:
    assert open_interest_path("BTC-USDT-PERP") == "/fapi/v1/openInterest?symbol=BTCUSDT"
    oi = parse_open_interest(
        b'{"openInterest":"10659.509","symbol":"BTCUSDT","time":1589437530011}', "BTC-USDT-PERP", R
    )
    assert (oi.kind, oi.amount, oi.timestamp) == ("open_interest", 10659.509, 1589437530011)
    with pytest.raises(ProtocolError, match="open interest for BTC-USDT-PERP"):
        parse_open_interest(b'{"openInterest":"-1","time":1}', "BTC-USDT-PERP", R)


# --------------------------------------------------------------------------- the book


def delta(U: int, u: int, pu: int, bids: dict[float, float], ts: int = 1) -> BookDelta:
    return BookDelta(
        "binance-usdm", "BTC-USDT-PERP", ts, 0.0, tuple(sorted(bids.items(), reverse=True)),
        ((1e9, 1.0),), False, u, prev_sequence=pu, first_sequence=U,
    )  # fmt: skip


def snapshot(last: int, bids: dict[float, float]) -> BookDelta:
    return BookDelta(
        "binance-usdm", "BTC-USDT-PERP", 0, 0.0, tuple(sorted(bids.items(), reverse=True)),
        ((1e9, 1.0),), True, last,
    )  # fmt: skip


def test_first_event_straddles_the_snapshot_then_pu_chains() -> None:
    s = UsdmBookSync("BTC-USDT-PERP")
    out = s.on_delta(delta(100, 110, 99, {1.0: 1.0}))
    assert [type(o) for o in out] == [SnapshotRequest]
    s.on_delta(delta(113, 120, 110, {2.0: 2.0}))  # U skipped 111-112: fine on futures
    out = s.on_snapshot(snapshot(115, {1.0: 1.0, 3.0: 3.0}))  # L inside [113, 120]
    assert s.synced and s.book.sequence == 120
    assert dict(s.book.bids) == {1.0: 1.0, 2.0: 2.0, 3.0: 3.0}
    assert isinstance(out[-1], BookUpdated) and out[-1].snapshot


def test_a_broken_pu_chain_is_a_gap_and_a_resync() -> None:
    s = UsdmBookSync("BTC-USDT-PERP")
    s.on_delta(delta(100, 110, 99, {1.0: 1.0}))
    s.on_snapshot(snapshot(105, {1.0: 1.0}))
    out = s.on_delta(delta(121, 130, 120, {2.0: 2.0}))  # pu 120 != last u 110
    assert [type(o) for o in out] == [BookGap, SnapshotRequest]
    assert "pu=120 != last u=110" in out[0].reason
    assert not s.synced and len(s.book) == 0


@st.composite
def markets(draw: st.DrawFn) -> tuple[list[BookDelta], list[dict[float, float]]]:
    """Events with their pu chain, and the true bids after each."""
    n = draw(st.integers(2, 40))
    events, truths, bids, u = [], [], {}, draw(st.integers(1, 10**6))
    for _ in range(n):
        U = u + 1 + draw(st.integers(0, 3))  # U may skip ids on futures
        new_u = U + draw(st.integers(0, 5))
        prices, sizes = st.sampled_from([1.0, 2.0, 3.0, 4.0]), st.sampled_from([0.0, 1.0, 2.0])
        change = draw(st.dictionaries(prices, sizes, max_size=3))
        events.append(delta(U, new_u, u, change))
        bids = {p: q for p, q in {**bids, **change}.items() if q}
        truths.append(dict(bids))
        u = new_u
    return events, truths


@settings(max_examples=200, deadline=None)
@given(markets(), st.data())
def test_the_book_is_right_or_declared_gone(
    market: tuple[list[BookDelta], list[dict[float, float]]], data: st.DataObject
) -> None:
    """Snapshots at random points, events lost at random: whenever the book says it is in
    sync it equals the true book, and every loss is a BookGap."""
    events, truths = market
    s = UsdmBookSync("BTC-USDT-PERP")
    want_snapshot = False
    for i, ev in enumerate(events):
        if i > 0 and data.draw(st.integers(0, 9)) == 0:
            continue  # this event never arrives
        out = s.on_delta(ev)
        want_snapshot |= any(isinstance(o, SnapshotRequest) for o in out)
        if want_snapshot and data.draw(st.booleans()):
            want_snapshot = False
            out = s.on_snapshot(snapshot(ev.sequence or 0, truths[i]))  # taken now
            want_snapshot |= any(isinstance(o, SnapshotRequest) for o in out)
        if s.synced:
            assert dict(s.book.bids) == truths[i], f"wrong book after event {i}"
