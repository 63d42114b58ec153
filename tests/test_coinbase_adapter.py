"""Coinbase Advanced Trade sans-I/O adapter: frames shaped like the docs' examples."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from trio_feeds import BookDelta, Candle, ConfigError, Gap, Quote, SymbolError, Ticker, Trade
from trio_feeds.exchanges._shared import ConnectionGap
from trio_feeds.exchanges.coinbase import CoinbaseAdapter
from trio_feeds.protocol import ExchangeError, ParseError, Rejected, Subscribed, Unsubscribed

TS = "2024-10-08T09:10:52.425044603Z"
TS_MS = 1728378652425


class Conn:
    """A connection's worth of messages: ``sequence_num`` counts them all."""

    def __init__(self) -> None:
        self.seq = -1

    def msg(self, channel: str, events: list[Any], ts: str = TS, seq: int | None = None) -> bytes:
        self.seq = self.seq + 1 if seq is None else seq
        body = {"channel": channel, "client_id": "", "timestamp": ts, "sequence_num": self.seq,
                "events": events}  # fmt: skip
        return orjson.dumps(body)


def trade(tid: str, side: str = "BUY", time: Any = "2024-10-08T09:10:52.378779Z", **kw: Any) -> Any:
    t = {"product_id": "BTC-USD", "trade_id": tid, "price": "62322.43", "size": "0.00005535"}
    return {**t, "time": time, "side": side, **kw}


TICKER = {
    "type": "ticker", "product_id": "BTC-USD", "price": "21932.98",
    "volume_24_h": "16038.28770938", "low_24_h": "21835.29", "high_24_h": "23011.18",
    "low_52_w": "15460", "high_52_w": "48240", "price_percent_chg_24_h": "-4.15775596190603",
    "best_bid": "21931.98", "best_bid_quantity": "0.5", "best_ask": "21933.04",
    "best_ask_quantity": "0.3",
}  # fmt: skip


def l2(kind: str, updates: list[tuple[str, str, str]], product: str = "BTC-USD") -> dict[str, Any]:
    return {
        "type": kind,
        "product_id": product,
        "updates": [
            {
                "side": side,
                "event_time": "1970-01-01T00:00:00Z",
                "price_level": px,
                "new_quantity": qty,
            }
            for side, px, qty in updates
        ],
    }


def adapter_with(*channels: str, symbol: str = "BTC-USD") -> tuple[CoinbaseAdapter, list[Any]]:
    a = CoinbaseAdapter()
    subs = [a.subscription(c, symbol) for c in channels]
    a.subscribe(subs)
    return a, subs


# --------------------------------------------------------------------------- subscriptions


def test_one_channel_per_request_and_heartbeats_first_once() -> None:
    a = CoinbaseAdapter()
    subs = [a.subscription(c, s) for c in ("trade", "book") for s in ("BTC-USD", "ETH-USD")]
    subs.append(a.subscription("ticker", "BTC-USDT"))
    subs.append(a.subscription("quote", "BTC-USDT"))  # the same ticker subscription serves it
    frames = [orjson.loads(f) for f in a.subscribe(subs)]
    assert frames == [
        {"type": "subscribe", "channel": "heartbeats"},
        {"type": "subscribe", "product_ids": ["BTC-USD", "ETH-USD"], "channel": "market_trades"},
        {"type": "subscribe", "product_ids": ["BTC-USD", "ETH-USD"], "channel": "level2"},
        {"type": "subscribe", "product_ids": ["BTC-USDT"], "channel": "ticker"},
    ]
    more = [orjson.loads(f) for f in a.subscribe([a.subscription("candle", "BTC-USD")])]
    assert more == [{"type": "subscribe", "product_ids": ["BTC-USD"], "channel": "candles"}]


def test_products_are_batched() -> None:
    a = CoinbaseAdapter()
    subs = [a.subscription("trade", f"C{i}-USD") for i in range(a.MAX_PRODUCTS_PER_REQUEST + 1)]
    frames = [orjson.loads(f) for f in a.subscribe(subs)][1:]
    assert [len(f["product_ids"]) for f in frames] == [a.MAX_PRODUCTS_PER_REQUEST, 1]


def test_validation_names_what_is_wrong() -> None:
    a = CoinbaseAdapter()
    with pytest.raises(SymbolError, match="BTC USD"):
        a.subscription("trade", "BTC USD")
    with pytest.raises(ConfigError, match="'level3' cannot serve 'book'"):
        a.subscription("book", "BTC-USD", "level3")
    assert a.subscription("ticker", "btc-usd", "ticker_batch").topic == "ticker_batch:BTC-USD"
    assert a.endpoint(a.subscription("trade", "BTC-USDC")) == "/"
    assert a.ping() is None  # the server's heartbeats channel keeps the line alive


def test_unsubscribe_only_what_nothing_else_needs() -> None:
    a, (ticker, quote, book) = adapter_with("ticker", "quote", "book")
    assert a.unsubscribe([quote]) == []  # the ticker subscription still serves ticker
    frames = [orjson.loads(f) for f in a.unsubscribe([ticker, book])]
    assert frames == [
        {"type": "unsubscribe", "product_ids": ["BTC-USD"], "channel": "ticker"},
        {"type": "unsubscribe", "product_ids": ["BTC-USD"], "channel": "level2"},
    ]


def test_subscriptions_answers_confirm_and_unconfirm() -> None:
    a, (tr, bk) = adapter_with("trade", "book")
    c = Conn()
    listed = {"subscriptions": {"market_trades": ["BTC-USD"], "heartbeats": ["heartbeats"]}}
    assert a.parse_one(c.msg("subscriptions", [listed])) == [Subscribed((tr,))]
    listed = {"subscriptions": {"market_trades": ["BTC-USD"], "level2": ["BTC-USD"]}}
    assert a.parse_one(c.msg("subscriptions", [listed])) == [Subscribed((bk,))]
    a.unsubscribe([tr])
    listed = {"subscriptions": {"level2": ["BTC-USD"]}}
    assert a.parse_one(c.msg("subscriptions", [listed])) == [Unsubscribed((tr,))]


def test_an_error_naming_a_product_rejects_it_else_it_is_an_exchange_error() -> None:
    a = CoinbaseAdapter()
    good, bad = a.subscription("trade", "BTC-USD"), a.subscription("trade", "NOPE-USD")
    a.subscribe([good, bad])
    msg = (
        b'{"type":"error","message":"Failed to subscribe",'
        b'"reason":"NOPE-USD is not a valid product"}'
    )
    out = a.parse_one(msg)
    assert out == [Rejected((bad,), "error", "Failed to subscribe NOPE-USD is not a valid product")]
    out = a.parse_one(b'{"type":"error","message":"rate limit exceeded"}')
    assert out == [ExchangeError("error", "rate limit exceeded")]


# --------------------------------------------------------------------------- data


def test_market_trades_carry_the_taker_side_in_trade_order() -> None:
    a, _ = adapter_with("trade")
    c = Conn()
    snapshot = {"type": "snapshot", "trades": [
        trade("699871156", "SELL", "2024-10-08T09:10:52.9Z"),  # newest first, as Coinbase sends
        trade("699871155", "BUY", "2024-10-08T09:10:52.9Z"),
        trade("699871154", "SELL", "2024-10-08T09:10:52.378779Z"),
    ]}  # fmt: skip
    out = a.parse_one(c.msg("market_trades", [snapshot]), 7.0)
    assert [(t.trade_id, t.side, t.timestamp) for t in out] == [
        ("699871154", "buy", 1728378652378),  # maker sold: a buyer took it
        ("699871155", "sell", 1728378652900),
        ("699871156", "buy", 1728378652900),
    ]
    assert out[0] == Trade("coinbase", "BTC-USD", 1728378652378, 7.0, 62322.43, 0.00005535,
                           "buy", "699871154")  # fmt: skip


def test_ticker_and_quote_from_one_ticker_subscription() -> None:
    a, _ = adapter_with("ticker", "quote", symbol="BTC-USDT")
    c = Conn()
    out = a.parse_one(c.msg("ticker", [{"type": "update", "tickers": [
        {**TICKER, "product_id": "BTC-USDT"}]}]), 2.0)  # fmt: skip
    t, q = out
    assert isinstance(t, Ticker) and isinstance(q, Quote)
    assert (t.symbol, t.price, t.bid, t.ask, t.volume, t.high, t.low) == (
        "BTC-USDT",
        21932.98,
        21931.98,
        21933.04,
        16038.28770938,
        23011.18,
        21835.29,
    )
    assert t.open == pytest.approx(21932.98 / (1 - 0.0415775596190603))
    assert t.timestamp == TS_MS and (t.bid_size, t.ask_size) == (0.5, 0.3)
    assert q == Quote("coinbase", "BTC-USDT", TS_MS, 2.0, 21931.98, 0.5, 21933.04, 0.3)


def test_ticker_batch_has_no_best_bid_ask() -> None:
    a, _ = adapter_with()
    a.subscribe([a.subscription("ticker", "BTC-USD", "ticker_batch")])
    batch = {k: v for k, v in TICKER.items() if not k.startswith("best_")}
    (t,) = a.parse_one(Conn().msg("ticker_batch", [{"type": "update", "tickers": [batch]}]))
    assert (t.bid, t.ask, t.bid_size) == (0.0, 0.0, None)


def test_usdc_products_are_named_as_subscribed() -> None:
    a, _ = adapter_with("trade", symbol="BTC-USDC")
    (t,) = a.parse_one(Conn().msg("market_trades", [{"type": "update", "trades": [trade("1")]}]))
    assert t.symbol == "BTC-USDC"


def test_level2_snapshot_and_updates_link_per_product() -> None:
    a, _ = adapter_with("book")
    c = Conn()
    snap = l2("snapshot", [("bid", "21921.73", "0.06317902"), ("offer", "21921.74", "0.5")])
    (d,) = a.parse_one(c.msg("l2_data", [snap]), 3.0)
    assert d == BookDelta("coinbase", "BTC-USD", TS_MS, 3.0, ((21921.73, 0.06317902),),
                          ((21921.74, 0.5),), True, 0)  # fmt: skip
    a.parse_one(c.msg("heartbeats", [{"current_time": "x", "heartbeat_counter": 3}]))
    (u,) = a.parse_one(c.msg("l2_data", [l2("update", [("offer", "21921.74", "0")])]))
    assert (u.snapshot, u.sequence, u.prev_sequence, u.asks) == (False, 2, 0, ((21921.74, 0.0),))


def test_candles_are_five_minute_and_close_when_the_next_bucket_starts() -> None:
    a, _ = adapter_with("candle")
    c = Conn()

    def candle(start: int, close: str) -> dict[str, Any]:
        return {"start": str(start), "high": "1867.72", "low": "1865.63", "open": "1867.38",
                "close": close, "volume": "0.20269406", "product_id": "BTC-USD"}  # fmt: skip

    (c0,) = a.parse_one(
        c.msg("candles", [{"type": "snapshot", "candles": [candle(1688998200, "1866.81")]}]), 1.0
    )
    assert c0 == Candle("coinbase", "BTC-USD", TS_MS, 1.0, 1688998200000, "5m", 1867.38,
                        1867.72, 1865.63, 1866.81, 0.20269406, False)  # fmt: skip
    (c1,) = a.parse_one(
        c.msg("candles", [{"type": "update", "candles": [candle(1688998200, "1867")]}])
    )
    assert not c1.closed and c1.close == 1867.0
    closed, c2 = a.parse_one(
        c.msg("candles", [{"type": "update", "candles": [candle(1688998500, "1866")]}]), 2.0
    )
    assert closed.closed and closed.start == 1688998200000 and closed.close == 1867.0
    assert closed.received_at == 2.0 and not c2.closed and c2.start == 1688998500000


# --------------------------------------------------------------------------- sequence_num


def test_a_hole_in_sequence_num_gaps_every_subscription_and_breaks_the_book_chain() -> None:
    a, subs = adapter_with("trade", "book", "ticker")
    c = Conn()
    a.parse_one(
        c.msg("l2_data", [l2("snapshot", [("bid", "100", "1")])], ts="2024-10-08T09:10:50Z")
    )
    out = a.parse_one(
        c.msg("l2_data", [l2("update", [("bid", "100", "2")])], ts="2024-10-08T09:10:51Z", seq=5),
        9.0,
    )
    gap, d = out
    assert isinstance(gap, ConnectionGap) and (gap.expected, gap.received) == (1, 5)
    assert gap.books == ("BTC-USD",) and gap.received_at == 9.0
    assert {(g.symbol, g.channel) for g in gap.gaps} == {(s.symbol, s.channel) for s in subs}
    g = gap.gaps[0]
    assert isinstance(g, Gap) and (g.start, g.end) == (1728378650000, 1728378651000)
    assert "4 message(s) lost" in g.reason
    assert d.prev_sequence is None  # the sync must not apply it
    (d,) = a.parse_one(c.msg("l2_data", [l2("update", [("bid", "100", "3")])]))
    assert d.prev_sequence == 5 and a.gaps == 1


def test_sequence_num_going_back_is_a_hole_too() -> None:
    a, _ = adapter_with("trade")
    c = Conn()
    a.parse_one(c.msg("heartbeats", [], seq=10))
    (gap,) = a.parse_one(c.msg("heartbeats", [], seq=3))
    assert isinstance(gap, ConnectionGap) and "went back" in gap.gaps[0].reason


def test_an_unusable_level2_event_breaks_that_products_chain() -> None:
    a, _ = adapter_with("book")
    c = Conn()
    a.parse_one(c.msg("l2_data", [l2("snapshot", [("bid", "100", "1")])]))
    (e,) = a.parse_one(c.msg("l2_data", [l2("update", [("bid", "100", "-1")])]))
    assert isinstance(e, ParseError) and "new_quantity" in e.problem
    (d,) = a.parse_one(c.msg("l2_data", [l2("update", [("bid", "100", "2")])]))
    assert d.prev_sequence is None


def test_keep_raw() -> None:
    a = CoinbaseAdapter(keep_raw=True)
    a.subscribe([a.subscription("trade", "BTC-USD")])
    t = trade("5")
    (rec,) = a.parse_one(Conn().msg("market_trades", [{"type": "update", "trades": [t]}]))
    assert rec.raw == t


C = Conn()


def trades_msg(**kw: Any) -> bytes:
    return C.msg("market_trades", [{"type": "update", "trades": [trade("1", **kw)]}])


def ticker_msg(**kw: Any) -> bytes:
    return C.msg("ticker", [{"type": "update", "tickers": [{**TICKER, **kw}]}])


MALFORMED = {
    "not JSON": b'{"channel": "l2_data", ',
    "a number": b"42",
    "no channel": b'{"type": "subscriptions"}',
    "unknown channel": C.msg("level3", []),
    "bad timestamp": C.msg("market_trades", [], ts="yesterday"),
    "sequence_num text": orjson.dumps(
        {"channel": "market_trades", "timestamp": TS, "sequence_num": "1", "events": []}
    ),
    "events not a list": orjson.dumps({"channel": "market_trades", "timestamp": TS, "events": {}}),
    "trade side": trades_msg(side="UNKNOWN"),
    "trade NaN price": trades_msg(price="NaN"),
    "trade zero price": trades_msg(price="0"),
    "trade id list": trades_msg(trade_id=["1"]),
    "trade time": trades_msg(time=17),
    "l2 side": C.msg("l2_data", [l2("update", [("buy", "1", "1")])]),
    "l2 type": C.msg("l2_data", [l2("delta", [("bid", "1", "1")])]),
    "l2 inf size": C.msg("l2_data", [l2("update", [("bid", "1", "inf")])]),
    "ticker no price": ticker_msg(price=None),
    "ticker change": ticker_msg(price_percent_chg_24_h="-100"),
    "quote without bid": ticker_msg(best_bid=""),
    "candle start": C.msg("candles", [{"type": "update", "candles": [{"start": "soon"}]}]),
    "subscriptions shape": C.msg("subscriptions", [{"subscriptions": ["level2"]}]),
}


@pytest.mark.parametrize("frame", list(MALFORMED.values()), ids=list(MALFORMED))
def test_a_malformed_frame_yields_one_parse_error_and_nothing_else(frame: bytes) -> None:
    a, _ = adapter_with("trade", "book", "ticker", "quote", "candle")
    out = a.parse_one(frame)
    assert len(out) == 1 and isinstance(out[0], ParseError), out
    assert out[0].problem.startswith("coinbase")
    good = orjson.dumps({"channel": "market_trades", "timestamp": TS,
                         "events": [{"type": "update", "trades": [trade("9")]}]})  # fmt: skip
    assert isinstance(a.parse_one(good)[0], Trade)
