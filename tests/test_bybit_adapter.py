"""Bybit v5 sans-I/O adapter: frames shaped like the docs' examples (spot and linear)."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from trio_feeds import Book, BookDelta, Candle, ConfigError, Quote, SymbolError, Ticker, Trade
from trio_feeds.exchanges.bybit import BybitAdapter, facts, split_symbol
from trio_feeds.protocol import (
    ExchangeError,
    ParseError,
    Pong,
    Rejected,
    Subscribed,
    Unsubscribed,
)

T0 = 1_672_304_486_868


def push(topic: str, data: Any, kind: str = "snapshot", ts: int = T0, **extra: Any) -> bytes:
    return orjson.dumps({"topic": topic, "type": kind, "ts": ts, "data": data, **extra})


def book_data(bids: list[list[str]], asks: list[list[str]], u: int) -> dict[str, Any]:
    return {"s": "BTCUSDT", "b": bids, "a": asks, "u": u, "seq": 7961638724}


LINEAR_TICKER = {
    "symbol": "BTCUSDT", "tickDirection": "PlusTick", "price24hPcnt": "0.017103",
    "lastPrice": "17216.00", "prevPrice24h": "16926.50", "highPrice24h": "17281.50",
    "lowPrice24h": "16915.00", "prevPrice1h": "17238.00", "markPrice": "17217.33",
    "indexPrice": "17227.36", "openInterest": "68744.761", "openInterestValue": "1183601235.91",
    "turnover24h": "1570383121.943499", "volume24h": "91705.276",
    "nextFundingTime": "1673280000000", "fundingRate": "-0.000212", "bid1Price": "17215.50",
    "bid1Size": "84.489", "ask1Price": "17216.00", "ask1Size": "83.020",
}  # fmt: skip
SPOT_TICKER = {
    "symbol": "BTCUSDT", "lastPrice": "21109.77", "highPrice24h": "21426.99",
    "lowPrice24h": "20575", "prevPrice24h": "20704.93", "volume24h": "6780.866843",
    "turnover24h": "141946527.22907118", "price24hPcnt": "0.0196",
    "usdIndexPrice": "21120.2400136",
}  # fmt: skip


def subscribed(adapter: BybitAdapter, channel: str, symbol: str, stream: str | None = None) -> Any:
    sub = adapter.subscription(channel, symbol, stream)
    adapter.subscribe([sub])
    return sub


# --------------------------------------------------------------------------- subscriptions


def test_symbols_map_to_category_and_wire_name() -> None:
    assert split_symbol("btc-usdt") == ("BTC-USDT", "BTCUSDT", False)
    assert split_symbol("ETH-USDT-PERP") == ("ETH-USDT-PERP", "ETHUSDT", True)
    a = BybitAdapter()
    assert a.endpoint(a.subscription("trade", "BTC-USDT")) == "/v5/public/spot"
    assert a.endpoint(a.subscription("trade", "BTC-USDT-PERP")) == "/v5/public/linear"


@pytest.mark.parametrize(
    ("symbol", "says"),
    [
        ("BTCUSDT", "BASE-QUOTE"),
        ("BTC-USDC-PERP", "only USDT perpetuals"),
        ("BTC-USDT-SWAP", "BASE-QUOTE"),
        (42, "expected a string"),
    ],
)
def test_bad_symbols_are_refused_by_name(symbol: Any, says: str) -> None:
    with pytest.raises(SymbolError, match=says) as info:
        BybitAdapter().subscription("trade", symbol)
    assert "bybit" in str(info.value)


def test_streams_per_channel_and_a_wrong_stream_is_named() -> None:
    a = BybitAdapter()
    topics = [a.subscription(c, "BTC-USDT").topic for c in ("trade", "ticker", "quote", "book")]
    assert topics == [
        "publicTrade.BTCUSDT",
        "tickers.BTCUSDT",
        "orderbook.1.BTCUSDT",
        "orderbook.50.BTCUSDT",
    ]
    assert a.subscription("candle", "BTC-USDT").topic == "kline.1.BTCUSDT"
    assert a.subscription("book", "BTC-USDT", "orderbook.200").topic == "orderbook.200.BTCUSDT"
    with pytest.raises(ConfigError, match=r"'orderbook\.500' cannot serve channel 'book'"):
        a.subscription("book", "BTC-USDT", "orderbook.500")
    with pytest.raises(ConfigError, match="channel 'depthz'"):
        a.subscription("depthz", "BTC-USDT")


def test_subscribe_batches_ten_args_per_request_and_shares_a_topic() -> None:
    a = BybitAdapter()
    symbols = [f"C{i}-USDT" for i in range(11)]
    subs = [a.subscription("trade", s) for s in symbols]
    subs += [a.subscription("kline", s) for s in symbols]
    subs += [a.subscription("quote", "BTC-USDT"), a.subscription("book", "BTC-USDT", "orderbook.1")]
    frames = [orjson.loads(f) for f in a.subscribe(subs)]
    assert [len(f["args"]) for f in frames] == [10, 10, 3]
    assert all(f["op"] == "subscribe" for f in frames)
    assert len({f["req_id"] for f in frames}) == 3
    assert frames[-1]["args"][-1] == "orderbook.1.BTCUSDT"  # quote and book share the topic
    assert sum(len(f) for f in a.subscribe([])) == 0
    assert facts.MAX_ARGS_PER_REQUEST == 10


def test_topics_of_a_full_connection_stay_under_the_args_limit() -> None:
    longest = "orderbook.1000." + "A" * 20 + "B" * 20
    chars = facts.MAX_STREAMS_PER_CONNECTION * (len(longest) + 3)  # quotes and a comma
    assert chars <= facts.MAX_ARGS_CHARS_PER_CONNECTION


def test_spot_and_linear_never_share_a_connection() -> None:
    a = BybitAdapter()
    a.subscribe([a.subscription("trade", "BTC-USDT")])
    with pytest.raises(ConfigError, match="separate connections"):
        a.subscribe([a.subscription("trade", "BTC-USDT-PERP")])


def test_acks_unsubscribe_and_pongs() -> None:
    a = BybitAdapter()
    subs = [a.subscription("trade", "BTC-USDT"), a.subscription("ticker", "BTC-USDT")]
    req_id = orjson.loads(a.subscribe(subs)[0])["req_id"]
    ack = {"success": True, "ret_msg": "subscribe", "conn_id": "2324d924", "op": "subscribe"}
    assert a.parse_one(orjson.dumps({**ack, "req_id": req_id})) == [Subscribed(tuple(subs), "1")]
    frame = orjson.loads(a.unsubscribe(subs[:1])[0])
    assert frame["op"] == "unsubscribe" and frame["args"] == ["publicTrade.BTCUSDT"]
    # linear answers carry an empty req_id: the oldest request of that op is meant
    unack = {
        "success": True,
        "ret_msg": "",
        "conn_id": "3cd84cb1",
        "req_id": "",
        "op": "unsubscribe",
    }
    assert a.parse_one(orjson.dumps(unack)) == [Unsubscribed((subs[0],), frame["req_id"])]
    ping = orjson.loads(a.ping())
    assert ping["op"] == "ping" and ping["req_id"] != orjson.loads(a.ping())["req_id"]
    spot_pong = b'{"success":true,"ret_msg":"pong","conn_id":"0970e817","op":"ping"}'
    linear_pong = b'{"success":true,"ret_msg":"pong","conn_id":"4657","req_id":"","op":"ping"}'
    option_pong = b'{"args":["1672916271846"],"op":"pong"}'
    for pong in (spot_pong, linear_pong, option_pong):
        assert a.parse_one(pong, 5.0) == [Pong(5.0)]
    assert a.parse_one(b"pong")[0].__class__ is ParseError  # OKX's text pong is not Bybit's


def test_a_refused_request_names_what_was_refused() -> None:
    a = BybitAdapter()
    ok, bad = a.subscription("trade", "BTC-USDT"), a.subscription("ticker", "NOPE-USDT")
    a.subscribe([ok, bad])
    out = a.parse_one(
        b'{"success":false,"ret_msg":"Invalid symbol :[tickers.NOPEUSDT]","conn_id":"c",'
        b'"req_id":"1","op":"subscribe"}'
    )
    assert out == [Rejected((bad,), "success=false", "Invalid symbol :[tickers.NOPEUSDT]", "1")]
    # the rest of the request is confirmed by its data (or an ack)
    assert a.parse_one(b'{"success":true,"ret_msg":"subscribe","req_id":"1","op":"subscribe"}')
    # a request refused without naming a topic is refused whole
    subs = [a.subscription("trade", f"C{i}-USDT") for i in range(2)]
    a.subscribe(subs)
    out = a.parse_one(b'{"success":false,"ret_msg":"args size >10","req_id":"2","op":"subscribe"}')
    assert out == [Rejected(tuple(subs), "success=false", "args size >10", "2")]


def test_already_subscribed_counts_as_subscribed() -> None:
    a = BybitAdapter()
    sub = subscribed(a, "candle", "BTC-USDT")
    msg = (
        b'{"success":false,"ret_msg":"error:already subscribed,topic:kline.1.BTCUSDT",'
        b'"op":"subscribe"}'
    )
    assert a.parse_one(msg) == [Subscribed((sub,), "1")]


def test_errors_tied_to_no_request_are_exchange_errors() -> None:
    a = BybitAdapter()
    out = a.parse_one(b'{"success":false,"ret_msg":"error:request not supported","op":"foo"}')
    assert out == [ExchangeError("bybit", "error:request not supported", None)]
    sub = subscribed(a, "trade", "BTC-USDT")
    a.unsubscribe([sub])
    out = a.parse_one(
        b'{"success":false,"ret_msg":"not subscribed","req_id":"2","op":"unsubscribe"}'
    )
    assert [type(x) for x in out] == [ExchangeError]  # never a rejected subscription


# --------------------------------------------------------------------------- data


def test_trades_spot_and_linear() -> None:
    a = BybitAdapter()
    subscribed(a, "trade", "BTC-USDT-PERP")
    frame = push(
        "publicTrade.BTCUSDT",
        [
            {"T": T0 - 3, "s": "BTCUSDT", "S": "Buy", "v": "0.001", "p": "16578.50",
             "L": "PlusTick", "i": "20f43950-d8dd-5b31-9112-a178eb6023af", "BT": False},
            {"T": T0 - 3, "s": "BTCUSDT", "S": "Sell", "v": "0.5", "p": "16578.00",
             "L": "MinusTick", "i": "20f43950-d8dd-5b31-9112-a178eb6023b0", "BT": False},
        ],
    )  # fmt: skip
    out = a.parse_one(frame, 1.5)
    assert out == [
        Trade("bybit", "BTC-USDT-PERP", T0 - 3, 1.5, 16578.5, 0.001, "buy",
              "20f43950-d8dd-5b31-9112-a178eb6023af"),
        Trade("bybit", "BTC-USDT-PERP", T0 - 3, 1.5, 16578.0, 0.5, "sell",
              "20f43950-d8dd-5b31-9112-a178eb6023b0"),
    ]  # fmt: skip
    spot = BybitAdapter()
    subscribed(spot, "trade", "ETH-USDT")
    trade = {
        "T": T0,
        "s": "ETHUSDT",
        "S": "Sell",
        "v": "2",
        "p": "1200.5",
        "i": 2290000000036455162,
    }
    (rec,) = spot.parse_one(push("publicTrade.ETHUSDT", [trade]))
    assert rec.symbol == "ETH-USDT" and rec.trade_id == "2290000000036455162"


def test_spot_ticker_has_no_best_bid_ask() -> None:
    a = BybitAdapter()
    subscribed(a, "ticker", "BTC-USDT")
    (t,) = a.parse_one(push("tickers.BTCUSDT", SPOT_TICKER, cs=2588407389), 2.0)
    assert t == Ticker("bybit", "BTC-USDT", T0, 2.0, 21109.77, 0.0, 0.0, 6780.866843,
                       20704.93, 21426.99, 20575.0, 141946527.22907118, None, None)  # fmt: skip


def test_linear_ticker_deltas_are_merged_into_the_snapshot() -> None:
    a = BybitAdapter()
    subscribed(a, "ticker", "BTC-USDT-PERP")
    (t0,) = a.parse_one(push("tickers.BTCUSDT", LINEAR_TICKER, cs=1))
    assert (t0.price, t0.bid, t0.ask, t0.bid_size, t0.open) == (17216.0, 17215.5, 17216.0,
                                                                84.489, 16926.5)  # fmt: skip
    delta = {
        "symbol": "BTCUSDT",
        "bid1Price": "17215.00",
        "bid1Size": "1.5",
        "fundingRate": "0.0001",
    }
    (t1,) = a.parse_one(push("tickers.BTCUSDT", delta, "delta", ts=T0 + 100, cs=2))
    assert t1.timestamp == T0 + 100
    assert (t1.price, t1.bid, t1.bid_size, t1.ask, t1.volume) == (17216.0, 17215.0, 1.5, 17216.0,
                                                                  91705.276)  # fmt: skip
    (t2,) = a.parse_one(push("tickers.BTCUSDT", {"lastPrice": "17300"}, "delta", ts=T0 + 200))
    assert (t2.price, t2.bid) == (17300.0, 17215.0)
    state = a.ticker_state("BTC-USDT-PERP")
    assert state is not None
    assert state["fundingRate"] == "0.0001" and state["markPrice"] == "17217.33"
    assert a.ticker_state("ETH-USDT-PERP") is None


def test_a_ticker_delta_before_its_snapshot_is_an_error_not_a_ticker() -> None:
    a = BybitAdapter()
    subscribed(a, "ticker", "BTC-USDT-PERP")
    (e,) = a.parse_one(push("tickers.BTCUSDT", {"lastPrice": "1"}, "delta"))
    assert isinstance(e, ParseError) and "before any snapshot" in e.problem
    # a bad delta does not spoil the state: the next good one still merges
    a.parse_one(push("tickers.BTCUSDT", LINEAR_TICKER))
    (bad,) = a.parse_one(push("tickers.BTCUSDT", {"bid1Price": "-3"}, "delta"))
    assert isinstance(bad, ParseError) and "bid1Price" in bad.problem
    (t,) = a.parse_one(push("tickers.BTCUSDT", {"bid1Price": "17000"}, "delta"))
    assert t.bid == 17000.0


def test_level1_as_quote_and_as_book() -> None:
    a = BybitAdapter()
    quote = subscribed(a, "quote", "BTC-USDT")
    frame = push(
        "orderbook.1.BTCUSDT", book_data([["16493.50", "0.006"]], [["16611.00", "0.029"]], 18521288)
    )
    assert a.parse_one(frame, 3.0) == [
        Quote("bybit", "BTC-USDT", T0, 3.0, 16493.5, 0.006, 16611.0, 0.029, 18521288)
    ]
    book = subscribed(a, "book", "BTC-USDT", "orderbook.1")
    q, b = a.parse_one(frame, 3.0)
    assert isinstance(q, Quote)
    assert b == Book(
        "bybit", "BTC-USDT", T0, 3.0, ((16493.5, 0.006),), ((16611.0, 0.029),), 18521288
    )
    a.unsubscribe([quote])
    (only_book,) = a.parse_one(
        push("orderbook.1.BTCUSDT", book_data([], [["16611.00", "1"]], 18521289))
    )
    assert only_book.bids == () and only_book.asks == ((16611.0, 1.0),)
    a.unsubscribe([book])


def test_level1_empty_side_and_a_delta_on_top_of_a_snapshot() -> None:
    a = BybitAdapter()
    subscribed(a, "quote", "BTC-USDT")
    (q,) = a.parse_one(push("orderbook.1.BTCUSDT", book_data([], [["100", "2"]], 5)))
    assert (q.bid, q.bid_size, q.ask) == (0.0, 0.0, 100.0)
    delta = book_data([["99", "1"]], [["100", "0"], ["100.5", "3"]], 6)
    (q,) = a.parse_one(push("orderbook.1.BTCUSDT", delta, "delta"))
    assert (q.bid, q.ask, q.ask_size, q.sequence) == (99.0, 100.5, 3.0, 6)


def test_orderbook_snapshots_and_deltas_become_book_deltas() -> None:
    a = BybitAdapter()
    subscribed(a, "book", "BTC-USDT-PERP", "orderbook.200")
    snap = book_data(
        [["16493.50", "0.006"], ["16493.00", "0.100"]], [["16611.00", "0.029"]], 18521288
    )
    (d,) = a.parse_one(push("orderbook.200.BTCUSDT", snap, cts=T0 - 2), 4.0)
    assert d == BookDelta("bybit", "BTC-USDT-PERP", T0, 4.0, ((16493.5, 0.006), (16493.0, 0.1)),
                          ((16611.0, 0.029),), True, 18521288)  # fmt: skip
    delta = book_data([], [["16611.00", "0"], ["16612.00", "0.213"]], 18521289)
    (d,) = a.parse_one(push("orderbook.200.BTCUSDT", delta, "delta", ts=T0 + 18), 4.1)
    assert (d.snapshot, d.sequence, d.bids) == (False, 18521289, ())
    assert d.asks == ((16611.0, 0.0), (16612.0, 0.213))


def test_kline_interval_and_closed_flag() -> None:
    a = BybitAdapter()
    subscribed(a, "candle", "BTC-USDT", "kline.5")
    k = {"start": 1672324800000, "end": 1672325099999, "interval": "5", "open": "16649.5",
         "close": "16677", "high": "16677", "low": "16608", "volume": "2.081",
         "turnover": "34666.4005", "confirm": True, "timestamp": 1672324988882}  # fmt: skip
    (c,) = a.parse_one(push("kline.5.BTCUSDT", [k], ts=1672325100001), 9.0)
    assert c == Candle("bybit", "BTC-USDT", 1672325100001, 9.0, 1672324800000, "5m", 16649.5,
                       16677.0, 16608.0, 16677.0, 2.081, True, 34666.4005)  # fmt: skip


def test_keep_raw_keeps_the_payload() -> None:
    a = BybitAdapter(keep_raw=True)
    subscribed(a, "trade", "BTC-USDT")
    trade = {"T": T0, "s": "BTCUSDT", "S": "Buy", "v": "1", "p": "2", "i": "7"}
    (t,) = a.parse_one(push("publicTrade.BTCUSDT", [trade]))
    assert t.raw == trade


def test_an_unsubscribed_topic_is_named_from_its_wire_symbol() -> None:
    a = BybitAdapter()
    subscribed(a, "trade", "BTC-USDT-PERP")
    trade = {"T": T0, "s": "ETHUSDT", "S": "Buy", "v": "1", "p": "2", "i": "7"}
    (t,) = a.parse_one(push("publicTrade.ETHUSDT", [trade]))
    assert t.symbol == "ETH-USDT-PERP"


TRADE = {"T": T0, "s": "BTCUSDT", "S": "Buy", "v": "1", "p": "2", "i": "7"}
KLINE = {"start": 1, "end": 2, "interval": "1", "open": "1", "close": "1", "high": "1",
         "low": "1", "volume": "1", "turnover": "1", "confirm": False}  # fmt: skip
MALFORMED = {
    "not JSON": b'{"topic": "publicTrade.BTCUSDT", ',
    "a list": b"[1, 2]",
    "no topic and no op": b'{"hello": "world"}',
    "unknown topic": push("liquidation.BTCUSDT", {}),
    "topic without a dot": push("tickers", {}),
    "data not a list": push("publicTrade.BTCUSDT", TRADE),
    "missing price": push("publicTrade.BTCUSDT", [{k: v for k, v in TRADE.items() if k != "p"}]),
    "NaN price": push("publicTrade.BTCUSDT", [{**TRADE, "p": "NaN"}]),
    "zero price": push("publicTrade.BTCUSDT", [{**TRADE, "p": "0"}]),
    "negative size": push("publicTrade.BTCUSDT", [{**TRADE, "v": "-1"}]),
    "infinite size": push("publicTrade.BTCUSDT", [{**TRADE, "v": "inf"}]),
    "unknown side": push("publicTrade.BTCUSDT", [{**TRADE, "S": "buy"}]),
    "time as text": push("publicTrade.BTCUSDT", [{**TRADE, "T": "soon"}]),
    "second trade bad": push("publicTrade.BTCUSDT", [TRADE, {**TRADE, "p": None}]),
    "book type": push("orderbook.50.BTCUSDT", book_data([], [], 1), "partial"),
    "book u as text": push("orderbook.50.BTCUSDT", book_data([], [], "1")),  # type: ignore[arg-type]
    "book level short": push("orderbook.50.BTCUSDT", book_data([["1"]], [], 1)),
    "book negative size": push("orderbook.50.BTCUSDT", book_data([["1", "-2"]], [], 1)),
    "level1 delta first": push("orderbook.1.BTCUSDT", book_data([], [], 1), "delta"),
    "ticker missing last": push("tickers.BTCUSDT", {"symbol": "BTCUSDT"}),
    "kline confirm text": push("kline.1.BTCUSDT", [{**KLINE, "confirm": "true"}]),
    "kline interval": push("kline.1.BTCUSDT", [{**KLINE, "interval": "2"}]),
}


@pytest.mark.parametrize("frame", list(MALFORMED.values()), ids=list(MALFORMED))
def test_a_malformed_frame_yields_one_parse_error_and_nothing_else(frame: bytes) -> None:
    a = BybitAdapter()
    for channel, stream in (("trade", None), ("book", None), ("quote", None), ("ticker", None),
                            ("candle", None)):  # fmt: skip
        subscribed(a, channel, "BTC-USDT", stream)
    out = a.parse_one(frame)
    assert len(out) == 1 and isinstance(out[0], ParseError), out
    assert out[0].problem.startswith("bybit")
    # and the next good frame parses normally
    assert isinstance(a.parse_one(push("publicTrade.BTCUSDT", [TRADE]))[0], Trade)
