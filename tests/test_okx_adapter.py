"""OKX v5 sans-I/O adapter: frames in the exact wire formats (docs + 2022/2023 captures)."""

from __future__ import annotations

import math
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from trio_feeds import (
    Book,
    BookDelta,
    Candle,
    ConfigError,
    ProtocolError,
    Quote,
    SymbolError,
    Ticker,
    Trade,
)
from trio_feeds.exchanges.okx.adapter import (
    OkxAdapter,
    book_checksum,
    parse_rest_books,
    rest_books_path,
)
from trio_feeds.protocol import (
    ExchangeError,
    ParseError,
    Pong,
    Rejected,
    ServerShutdown,
    Subscribed,
    Subscription,
    Unsubscribed,
)

# --------------------------------------------------------------------------- fixtures (verbatim)

TRADE_2025 = (
    '{"arg":{"channel":"trades","instId":"BTC-USDT"},"data":[{"instId":"BTC-USDT",'
    '"tradeId":"130639474","px":"42219.9","sz":"0.12060306","side":"buy","ts":"1630048897897",'
    '"count":"3","source":"0","seqId":1234}]}'
)
TRADE_2022 = (
    '{"arg":{"channel":"trades","instId":"UNI-USD-SWAP"},"data":[{"instId":"UNI-USD-SWAP",'
    '"tradeId":"12883020","px":"5.123","sz":"100","side":"sell","ts":"1652459215150"}]}'
)
TRADES_ALL = (
    '{"arg":{"channel":"trades-all","instId":"BTC-USDT"},"data":[{"instId":"BTC-USDT",'
    '"tradeId":"130639474","px":"42219.9","sz":"0.12060306","side":"buy","source":"0",'
    '"ts":"1630048897897"}]}'
)
TICKER_SPOT = (
    '{"arg":{"channel":"tickers","instId":"BTC-USDT"},"data":[{"instType":"SPOT",'
    '"instId":"BTC-USDT","last":"30236","lastSz":"0.0002","askPx":"30228.7",'
    '"askSz":"1.55896972","bidPx":"30228.6","bidSz":"0.23393","open24h":"29700.4",'
    '"high24h":"31073","low24h":"28020.3","sodUtc0":"29028.8","sodUtc8":"30337.7",'
    '"volCcy24h":"525802090.62716611","vol24h":"17602.13085371","ts":"1652459224956"}]}'
)
TICKER_SWAP = (
    '{"arg":{"channel":"tickers","instId":"UNI-USD-SWAP"},"data":[{"instType":"SWAP",'
    '"instId":"UNI-USD-SWAP","last":"5.123","lastSz":"100","askPx":"5.142","askSz":"25",'
    '"bidPx":"5.134","bidSz":"96","open24h":"4.799","high24h":"5.458","low24h":"4.537",'
    '"sodUtc0":"4.654","sodUtc8":"5.204","volCcy24h":"577730.7823","vol24h":"289425",'
    '"ts":"1652459223143"}]}'
)
BBO = (
    '{"arg":{"channel":"bbo-tbt","instId":"BCH-USDT-SWAP"},"data":[{"asks":[["111.06","55154",'
    '"0","2"]],"bids":[["111.05","57745","0","2"]],"ts":"1670324386802","seqId":363996337}]}'
)
BOOKS5 = (
    '{"arg":{"channel":"books5","instId":"BCH-USDT-SWAP"},"data":[{"asks":[["111.06","55154",'
    '"0","2"],["111.07","53276","0","2"],["111.08","72435","0","2"],["111.09","70312","0","2"],'
    '["111.1","67272","0","2"]],"bids":[["111.05","57745","0","2"],["111.04","57109","0","2"],'
    '["111.03","69563","0","2"],["111.02","71248","0","2"],["111.01","65090","0","2"]],'
    '"instId":"BCH-USDT-SWAP","ts":"1670324386802","seqId":363996337}]}'
)
BOOKS_SNAPSHOT = (
    '{"arg":{"channel":"books","instId":"BTC-USDT"},"action":"snapshot","data":[{"asks":'
    '[["8476.98","415","0","13"],["8477","7","0","2"],["8477.34","85","0","1"],'
    '["8477.56","1","0","1"],["8505.84","8","0","1"],["8506.37","85","0","1"],'
    '["8506.49","2","0","1"],["8506.96","100","0","2"]],"bids":[["8476.97","256","0","12"],'
    '["8475.55","101","0","1"],["8475.54","100","0","1"],["8475.3","1","0","1"],'
    '["8447.32","6","0","1"],["8447.02","246","0","1"],["8446.83","24","0","1"],'
    '["8446","95","0","3"]],"ts":"1597026383085","checksum":0,"prevSeqId":-1,"seqId":123456}]}'
)
BOOKS_UPDATE = (
    '{"arg":{"channel":"books","instId":"BTC-USDT"},"action":"update","data":[{"asks":'
    '[["8476.98","0","0","0"],["8477.1","3.5","0","2"]],"bids":[["8476.97","250","0","11"]],'
    '"ts":"1597026383185","checksum":0,"prevSeqId":123456,"seqId":123459}]}'
)
# 2022 capture format: checksum set, no seqId / prevSeqId
BOOKS_2022 = (
    '{"arg":{"channel":"books","instId":"BTC-USDT"},"action":"update","data":[{"asks":'
    '[["3366.8","9","0","1"],["3368","8","0","3"]],"bids":[["3366.1","7","0","4"],'
    '["3366","6","0","3"]],"ts":"1652459225453","checksum":-1881014294}]}'
)
BOOKS_HEARTBEAT = (
    '{"arg":{"channel":"books","instId":"USDC-USDT"},"action":"update","data":[{"asks":[],'
    '"bids":[],"ts":"1685221700000","checksum":0,"prevSeqId":55,"seqId":55}]}'
)
CANDLE = (
    '{"arg":{"channel":"candle1m","instId":"BTC-USD"},"data":[["1672913160000","16837.25",'
    '"16837.26","16837.2","16837.24","0.0438","737.4716","737.4717","1"]]}'
)
CANDLE_OPEN = (
    '{"arg":{"channel":"candle1m","instId":"ETH-USD"},"data":[["1685221620000","1880","1880",'
    '"1880","1880","0","0","0","0"]]}'
)
REST_BOOKS = (
    '{"code":"0","msg":"","data":[{"asks":[["41006.8","0.60038921","0","1"]],"bids":'
    '[["41006.3","0.30178218","0","2"]],"ts":"1629966436396","seqId":3235851742}]}'
)
ERROR_60018 = (
    '{"event":"error","msg":"Wrong URL or channel:tickers,instId:NMR-USDT doesn\'t exist. '
    'Please use the correct URL, channel and parameters referring to API document.",'
    '"code":"60018","connId":"0d0c61a5"}'
)
NOTICE = (
    '{"event":"notice","code":"64008","msg":"The connection will soon be closed for a service '
    'upgrade. Please reconnect.","connId":"a4d3ae55"}'
)


def parse(frame: str | bytes, adapter: OkxAdapter | None = None) -> list[Any]:
    return (adapter or OkxAdapter()).parse_one(frame, 12.5)


def linear(frame: str) -> str:
    """A verbatim 2022 coin-margined swap frame, re-labelled as the linear (USDT) swap."""
    return frame.replace("UNI-USD-SWAP", "UNI-USDT-SWAP")


def swaps() -> OkxAdapter:
    """An adapter that knows the swaps' contract values (ctVal, from the instruments list)."""
    a = OkxAdapter()
    a.load_instruments(
        '{"code":"0","msg":"","data":['
        '{"instId":"UNI-USDT-SWAP","ctVal":"10","ctValCcy":"UNI","instType":"SWAP"},'
        '{"instId":"BCH-USDT-SWAP","ctVal":"10","ctValCcy":"BCH","instType":"SWAP"},'
        '{"instId":"UNI-USD-SWAP","ctVal":"10","ctValCcy":"USD","instType":"SWAP"}]}'
    )
    return a


def one(frame: str | bytes, adapter: OkxAdapter | None = None) -> Any:
    out = parse(frame, adapter)
    assert len(out) == 1, out
    return out[0]


# --------------------------------------------------------------------------- class contract


def test_class_constants() -> None:
    assert OkxAdapter.name == "okx"
    assert OkxAdapter.default_url == "wss://ws.okx.com:8443"
    assert OkxAdapter.default_rest_url == "https://openapi.okx.com"
    assert OkxAdapter.max_streams_per_connection == 240
    assert OkxAdapter.MAX_BOOK_CHANNELS_PER_CONNECTION == 30
    assert OkxAdapter().ping() == "ping"


# --------------------------------------------------------------------------- subscriptions


@pytest.mark.parametrize(
    ("channel", "stream"),
    [
        ("trade", "trades"),
        ("trades", "trades"),
        ("ticker", "tickers"),
        ("quote", "bbo-tbt"),
        ("book", "books"),
        ("depth", "books"),
        ("candle", "candle1m"),
        ("kline", "candle1m"),
    ],
)
def test_subscription_defaults(channel: str, stream: str) -> None:
    sub = OkxAdapter().subscription(channel, "btc-usdt")
    assert sub.exchange == "okx"
    assert sub.symbol == "BTC-USDT"
    assert sub.stream == stream
    assert sub.topic == f"{stream}:BTC-USDT"


@pytest.mark.parametrize(
    ("channel", "stream"),
    [("book", "books5"), ("book", "bbo-tbt"), ("trade", "trades-all"), ("candle", "candle1H")],
)
def test_subscription_variants(channel: str, stream: str) -> None:
    sub = OkxAdapter().subscription(channel, "BTC-USDT-SWAP", stream)
    assert (sub.channel, sub.stream, sub.topic) == (channel, stream, f"{stream}:BTC-USDT-SWAP")


def test_subscription_errors_name_the_problem() -> None:
    a = OkxAdapter()
    with pytest.raises(ConfigError, match="'bogus'"):
        a.subscription("bogus", "BTC-USDT")
    with pytest.raises(ConfigError, match=r"'books5'.*'trade'"):
        a.subscription("trade", "BTC-USDT", "books5")
    with pytest.raises(ConfigError, match="candle1M"):  # month, not minute: wrong for "quote"
        a.subscription("quote", "BTC-USDT", "candle1M")
    with pytest.raises(SymbolError, match="'BTC USDT'"):
        a.subscription("trade", "BTC USDT")
    assert a.subscription("trade", "BTC/USDT").topic == "trades:BTC-USDT"  # ccxt's form


def test_endpoint_split() -> None:
    a = OkxAdapter()
    business = [a.subscription("candle", "BTC-USDT"), a.subscription("trade", "X-Y", "trades-all")]
    public = [
        a.subscription("trade", "BTC-USDT"),
        a.subscription("ticker", "BTC-USDT"),
        a.subscription("quote", "BTC-USDT"),
        a.subscription("book", "BTC-USDT"),
        a.subscription("book", "BTC-USDT", "books5"),
    ]
    assert {a.endpoint(s) for s in business} == {"/ws/v5/business"}
    assert {a.endpoint(s) for s in public} == {"/ws/v5/public"}


def test_subscribe_frame_shape() -> None:
    a = OkxAdapter()
    subs = [a.subscription("ticker", "BTC-USDT"), a.subscription("trade", "ETH-USDT")]
    (frame,) = a.subscribe(subs)
    assert orjson.loads(frame) == {
        "id": "1",
        "op": "subscribe",
        "args": [
            {"channel": "tickers", "instId": "BTC-USDT"},
            {"channel": "trades", "instId": "ETH-USDT"},
        ],
    }
    (frame,) = a.unsubscribe(subs[:1])
    assert orjson.loads(frame) == {
        "id": "2",
        "op": "unsubscribe",
        "args": [{"channel": "tickers", "instId": "BTC-USDT"}],
    }


def test_subscribe_batches_100_args_under_64k() -> None:
    a = OkxAdapter()
    subs = [a.subscription("trade", f"C{i}-USDT") for i in range(250)]
    frames = a.subscribe(subs)
    assert len(frames) == 3
    decoded = [orjson.loads(f) for f in frames]
    assert [len(d["args"]) for d in decoded] == [100, 100, 50]
    assert all(len(f.encode()) < 64 * 1024 for f in frames)
    ids = [d["id"] for d in decoded]
    assert len(set(ids)) == 3
    assert all(i.isalnum() and len(i) <= 32 for i in ids)
    args = [arg["instId"] for d in decoded for arg in d["args"]]
    assert args == [f"C{i}-USDT" for i in range(250)]


def test_subscribe_respects_the_byte_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(OkxAdapter, "MAX_REQUEST_BYTES", 300)
    a = OkxAdapter()
    frames = a.subscribe([a.subscription("trade", f"C{i}-USDT") for i in range(20)])
    assert len(frames) > 1
    assert all(len(f) < 300 for f in frames)
    assert sum(len(orjson.loads(f)["args"]) for f in frames) == 20


def test_subscribe_rejects_foreign_subscription() -> None:
    foreign = Subscription("binance", "trade", "BTC-USDT", "trade", "btcusdt@trade")
    with pytest.raises(ConfigError, match="not an okx"):
        OkxAdapter().subscribe([foreign])


# --------------------------------------------------------------------------- acks and errors


def test_ack_with_id_and_conn_id() -> None:
    a = OkxAdapter()
    t = a.subscription("ticker", "BTC-USDT")
    b = a.subscription("book", "BTC-USDT")
    (frame,) = a.subscribe([t, b])
    rid = orjson.loads(frame)["id"]
    ack_t = (
        f'{{"id":"{rid}","event":"subscribe","arg":{{"channel":"tickers","instId":"BTC-USDT"}},'
        '"connId":"accb8e21"}'
    )
    ack_b = (
        f'{{"id":"{rid}","event":"subscribe","arg":{{"channel":"books","instId":"BTC-USDT"}},'
        '"connId":"accb8e21"}'
    )
    assert one(ack_b, a) == Subscribed((b,), rid)
    assert one(ack_t, a) == Subscribed((t,), rid)


def test_ack_without_id_or_conn_id_2022() -> None:
    a = OkxAdapter()
    t = a.subscription("ticker", "BTC-USD-220527")
    u = a.subscription("ticker", "UNI-USDT-SWAP")
    assert u.symbol == "UNI-USDT-PERP"
    (frame,) = a.subscribe([t, u])
    rid = orjson.loads(frame)["id"]
    ack = '{"event":"subscribe","arg":{"channel":"tickers","instId":"UNI-USDT-SWAP"}}'
    assert one(ack, a) == Subscribed((u,), rid)
    # a repeated ack (re-subscribe) still maps to the subscription
    assert one(ack, a) == Subscribed((u,), None)


def test_ack_for_unknown_arg_builds_a_subscription() -> None:
    ack = '{"event":"subscribe","arg":{"channel":"books5","instId":"ETH-USDT"}}'
    (sub,) = one(ack).subscriptions
    assert sub == Subscription("okx", "book", "ETH-USDT", "books5", "books5:ETH-USDT")


def test_unsubscribe_ack() -> None:
    a = OkxAdapter()
    t = a.subscription("ticker", "BTC-USDT")
    a.subscribe([t])
    (frame,) = a.unsubscribe([t])
    rid = orjson.loads(frame)["id"]
    ack = (
        '{"event":"unsubscribe","arg":{"channel":"tickers","instId":"BTC-USDT"},'
        '"connId":"d0b44253"}'
    )
    assert one(ack, a) == Unsubscribed((t,), rid)


def test_error_with_id_rejects_the_request() -> None:
    a = OkxAdapter()
    subs = [a.subscription("book", "BTC-USD-191227"), a.subscription("trade", "BTC-USDT")]
    (frame,) = a.subscribe(subs)
    rid = orjson.loads(frame)["id"]
    err = (
        f'{{"id":"{rid}","event":"error","code":"60012","msg":"Invalid request: '
        '{\\"op\\": \\"subscribe\\", \\"argss\\":[]}","connId":"a4d3ae55"}'
    )
    ev = one(err, a)
    assert isinstance(ev, Rejected)
    assert ev.subscriptions == tuple(subs)
    assert (ev.code, ev.request_id) == ("60012", rid)
    assert ev.message.startswith("Invalid request")


def test_error_60018_with_id_narrows_to_the_named_subscription() -> None:
    a = OkxAdapter()
    good = a.subscription("ticker", "BTC-USDT")
    bad = a.subscription("ticker", "NMR-USDT")
    (frame,) = a.subscribe([good, bad])
    rid = orjson.loads(frame)["id"]
    err = ERROR_60018[:-1] + f',"id":"{rid}"}}'
    assert one(err, a) == Rejected((bad,), "60018", orjson.loads(ERROR_60018)["msg"], rid)
    ack = f'{{"id":"{rid}","event":"subscribe","arg":{{"channel":"tickers","instId":"BTC-USDT"}}}}'
    assert one(ack, a) == Subscribed((good,), rid)


def test_error_60018_without_id_is_matched_by_name() -> None:
    a = OkxAdapter()
    bad = a.subscription("ticker", "NMR-USDT")
    (frame,) = a.subscribe([a.subscription("ticker", "BTC-USDT"), bad])
    rid = orjson.loads(frame)["id"]
    ev = one(ERROR_60018, a)
    assert isinstance(ev, Rejected)
    assert ev.subscriptions == (bad,)
    assert ev.code == "60018"
    assert ev.request_id == rid


def test_error_without_id_unmatched_is_exchange_error() -> None:
    ev = one(ERROR_60018)
    assert isinstance(ev, ExchangeError)
    assert ev.code == "60018"
    assert "NMR-USDT" in ev.message
    assert ev.request_id is None
    assert one('{"event":"error","code":"60012","msg":"Invalid request"}') == ExchangeError(
        "60012", "Invalid request", None
    )


def test_notice_64008_is_server_shutdown() -> None:
    ev = one(NOTICE)
    assert ev == ServerShutdown(
        "64008",
        "The connection will soon be closed for a service upgrade. Please reconnect.",
        12.5,
    )


@pytest.mark.parametrize("frame", ["pong", b"pong"])
def test_pong(frame: str | bytes) -> None:
    assert one(frame) == Pong(12.5)


# --------------------------------------------------------------------------- data


def test_trades_2025() -> None:
    assert one(TRADE_2025) == Trade(
        "okx", "BTC-USDT", 1630048897897, 12.5, 42219.9, 0.12060306, "buy", "130639474"
    )


def test_trades_2022_and_trades_all() -> None:
    # a swap's sz is contracts: without the contract value it is refused, never passed on
    refused = one(TRADE_2022, swaps())
    assert isinstance(refused, ParseError) and "contract value of UNI-USD-SWAP" in refused.problem
    t = one(linear(TRADE_2022), swaps())
    assert (t.symbol, t.price, t.amount, t.side, t.trade_id, t.timestamp) == (
        "UNI-USDT-PERP",
        5.123,
        1000.0,  # 100 contracts of 10 UNI
        "sell",
        "12883020",
        1652459215150,
    )
    assert one(TRADES_ALL).trade_id == "130639474"


def test_ticker_spot() -> None:
    assert one(TICKER_SPOT) == Ticker(
        "okx",
        "BTC-USDT",
        1652459224956,
        12.5,
        price=30236.0,
        bid=30228.6,
        ask=30228.7,
        volume=17602.13085371,
        open=29700.4,
        high=31073.0,
        low=28020.3,
        quote_volume=525802090.62716611,
        bid_size=0.23393,
        ask_size=1.55896972,
    )


def test_ticker_derivative_volume_in_base_currency() -> None:
    t = one(linear(TICKER_SWAP), swaps())
    assert t.symbol == "UNI-USDT-PERP"
    assert t.volume == 577730.7823  # volCcy24h: base ccy for derivatives (vol24h = contracts)
    assert t.quote_volume == 0.0
    # bidSz/askSz are contracts (x ctVal 10)
    assert (t.price, t.bid, t.ask, t.bid_size, t.ask_size) == (5.123, 5.134, 5.142, 960.0, 250.0)


def test_bbo_quote() -> None:
    assert one(BBO, swaps()) == Quote(
        "okx", "BCH-USDT-PERP", 1670324386802, 12.5, 111.05, 577450.0, 111.06, 551540.0, 363996337
    )


def test_bbo_subscribed_as_book() -> None:
    a = swaps()
    a.subscribe([a.subscription("book", "BCH-USDT-PERP", "bbo-tbt")])
    assert one(BBO, a) == Book(
        "okx",
        "BCH-USDT-PERP",
        1670324386802,
        12.5,
        ((111.05, 577450.0),),
        ((111.06, 551540.0),),
        363996337,
    )
    a.subscribe([a.subscription("quote", "BCH-USDT-PERP")])
    assert [type(r) for r in parse(BBO, a)] == [Quote, Book]


def test_books5() -> None:
    b = one(BOOKS5, swaps())
    assert isinstance(b, Book) and b.symbol == "BCH-USDT-PERP"
    assert b.sequence == 363996337
    assert b.bids[0] == (111.05, 577450.0)  # contracts x ctVal 10
    assert b.asks == (
        (111.06, 551540.0),
        (111.07, 532760.0),
        (111.08, 724350.0),
        (111.09, 703120.0),
        (111.1, 672720.0),
    )
    assert len(b.bids) == 5


def test_books_snapshot_with_checksum_zero_keeps_its_text() -> None:
    d = one(BOOKS_SNAPSHOT)
    assert isinstance(d, BookDelta)
    assert d.snapshot is True
    assert (d.sequence, d.prev_sequence, d.checksum) == (123456, -1, 0)
    # a snapshot keeps the exchange's strings even with checksum 0: a later update with a
    # non-zero checksum is verified over them
    assert d.text is not None and d.text[1][:2] == (("8476.98", "415"), ("8477", "7"))
    assert d.asks[:2] == ((8476.98, 415.0), (8477.0, 7.0))
    assert d.bids[-1] == (8446.0, 95.0)
    assert len(d.asks) == len(d.bids) == 8
    assert all(type(x) is float for lv in d.asks + d.bids for x in lv)


def test_books_update() -> None:
    assert one(BOOKS_UPDATE) == BookDelta(
        "okx",
        "BTC-USDT",
        1597026383185,
        12.5,
        bids=((8476.97, 250.0),),
        asks=((8476.98, 0.0), (8477.1, 3.5)),
        snapshot=False,
        sequence=123459,
        prev_sequence=123456,
        checksum=0,
    )


def test_books_2022_keeps_text_for_checksum() -> None:
    d = one(BOOKS_2022)
    assert (d.sequence, d.prev_sequence, d.checksum) == (None, None, -1881014294)
    assert d.text == ((("3366.1", "7"), ("3366", "6")), (("3366.8", "9"), ("3368", "8")))
    assert book_checksum(*d.text) == d.checksum
    assert d.bids == ((3366.1, 7.0), (3366.0, 6.0))


def test_books_empty_heartbeat() -> None:
    d = one(BOOKS_HEARTBEAT)
    assert (d.bids, d.asks, d.sequence, d.prev_sequence) == ((), (), 55, 55)


def test_books_one_empty_side() -> None:
    frame = BOOKS_UPDATE.replace('"bids":[["8476.97","250","0","11"]]', '"bids":[]')
    d = one(frame)
    assert d.bids == ()
    assert d.asks == ((8476.98, 0.0), (8477.1, 3.5))


def test_candles() -> None:
    # a candle push carries only the interval's open time (``start``): the timestamp is the
    # receive time, flagged as such, like every record without an event time
    assert one(CANDLE) == Candle(
        "okx",
        "BTC-USD",
        12500,
        12.5,
        start=1672913160000,
        interval="1m",
        open=16837.25,
        high=16837.26,
        low=16837.2,
        close=16837.24,
        volume=0.0438,
        closed=True,
        quote_volume=737.4717,
        exchange_time=False,
    )
    c = one(CANDLE_OPEN)
    assert (c.closed, c.open, c.volume, c.quote_volume) == (False, 1880.0, 0.0, 0.0)


def test_keep_raw() -> None:
    a = OkxAdapter(keep_raw=True)
    assert one(TRADE_2025, a).raw == orjson.loads(TRADE_2025)["data"][0]
    assert one(CANDLE, a).raw == orjson.loads(CANDLE)["data"][0]
    assert one(BOOKS_UPDATE, a).raw == orjson.loads(BOOKS_UPDATE)["data"][0]
    assert one(TRADE_2025).raw is None


def test_every_data_item_is_parsed() -> None:
    msg = orjson.loads(TRADE_2025)
    item = msg["data"][0]
    msg["data"] = [item, {**item, "tradeId": "2", "side": "sell"}]
    out = parse(orjson.dumps(msg))
    assert [(t.trade_id, t.side) for t in out] == [("130639474", "buy"), ("2", "sell")]


def test_bytes_and_str_frames_agree() -> None:
    for frame in (TRADE_2025, TICKER_SPOT, BBO, BOOKS5, BOOKS_SNAPSHOT, BOOKS_2022, CANDLE):
        assert parse(frame) == parse(frame.encode())


# --------------------------------------------------------------------------- bad input


def test_bad_frame_between_good_ones() -> None:
    a = OkxAdapter()
    out = a.parse_many([TRADE_2025, '{"arg":{"channel":"trades"', TRADES_ALL], 1.0)
    assert [type(x) for x in out] == [Trade, ParseError, Trade]
    assert "not JSON" in out[1].problem
    assert out[1].frame == '{"arg":{"channel":"trades"'


def test_bad_item_does_not_spoil_the_others() -> None:
    msg = orjson.loads(TRADE_2025)
    good = msg["data"][0]
    bad = {k: v for k, v in good.items() if k != "px"}
    msg["data"] = [good, bad, {**good, "tradeId": "3"}]
    out = parse(orjson.dumps(msg))
    assert [type(x) for x in out] == [Trade, ParseError, Trade]
    assert out[1].problem == "okx trades BTC-USDT: data[1]: field 'px' is missing"


@pytest.mark.parametrize(
    ("frame", "words"),
    [
        ('{"arg":{"channel":"nope","instId":"BTC-USDT"},"data":[{}]}', ["unknown channel", "nope"]),
        ('{"arg":{"channel":"trades","instId":"BTC-USDT"},"data":{}}', ["trades", "'data'"]),
        ("[1,2]", ["JSON object"]),
        ('{"hello":1}', ["arg"]),
        ('{"event":"whatever"}', ["unknown event"]),
        (
            '{"arg":{"channel":"books","instId":"BTC-USDT"},"data":[{"asks":[],"bids":[],"ts":"1"}]}',
            ["books", "BTC-USDT", "action"],
        ),
        (
            BOOKS_UPDATE.replace('"8477.1"', '"abc"'),
            ["books", "BTC-USDT", "abc"],
        ),
        (TRADE_2025.replace('"buy"', '"long"'), ["trades", "'side'", '"long"']),
        (TICKER_SPOT.replace('"ts":"1652459224956"', '"ts":"soon"'), ["tickers", "soon"]),
        (CANDLE.replace('"16837.25",', "", 1), ["candle1m", "BTC-USD", "9 elements"]),
        (b"\xff\xfe", ["not JSON"]),
        ("", ["not JSON"]),
    ],
)
def test_problems_are_named(frame: str | bytes, words: list[str]) -> None:
    ev = one(frame)
    assert isinstance(ev, ParseError), ev
    for word in words:
        assert word in ev.problem or word in ev.frame, (word, ev.problem)


def test_candle_short_item_is_a_parse_error_not_a_crash() -> None:
    ev = one('{"arg":{"channel":"candle1m","instId":"BTC-USD"},"data":[["1","2"]]}')
    assert isinstance(ev, ParseError)
    assert "data[0]" in ev.problem


def test_books_levels_fall_back_to_float() -> None:
    # numbers instead of strings and 2-element levels still parse (fast path declines)
    frame = (
        '{"arg":{"channel":"books","instId":"A-B"},"action":"update","data":[{"asks":[[1.5,2]],'
        '"bids":[["1","2.5"]],"ts":"1","seqId":2,"prevSeqId":1,"checksum":0}]}'
    )
    d = one(frame)
    assert (d.asks, d.bids) == (((1.5, 2.0),), ((1.0, 2.5),))


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.floats()
    | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children)
    ),
    max_leaves=20,
)
numeric_text = st.one_of(
    st.from_regex(r"-?[0-9]{1,6}(\.[0-9]{1,8})?", fullmatch=True), st.text(max_size=5)
)
level = st.lists(numeric_text | json_values, min_size=0, max_size=5)
channels = st.sampled_from(
    ["trades", "trades-all", "tickers", "bbo-tbt", "books5", "books", "candle1m", "candle1D", "x"]
)
items = st.one_of(
    json_values,
    st.lists(numeric_text, max_size=10),
    st.fixed_dictionaries(
        {
            "asks": st.lists(level, max_size=4) | json_values,
            "bids": st.lists(level, max_size=4),
            "ts": numeric_text | json_values,
        },
        optional={
            "seqId": json_values,
            "prevSeqId": json_values,
            "checksum": st.integers(-(2**31), 2**31) | json_values,
            "px": numeric_text,
            "sz": numeric_text,
            "side": st.sampled_from(["buy", "sell", "x"]),
            "tradeId": numeric_text | json_values,
            "last": numeric_text,
        },
    ),
)
envelopes = st.fixed_dictionaries(
    {
        "arg": st.fixed_dictionaries({"channel": channels, "instId": st.text(max_size=6)})
        | json_values,
        "data": st.lists(items, max_size=3) | json_values,
    },
    optional={
        "action": st.sampled_from(["snapshot", "update", "x"]),
        "event": st.sampled_from(["subscribe", "unsubscribe", "error", "notice", "login"]),
        "id": json_values,
        "code": json_values,
        "msg": json_values | st.just("channel:books,instId:BTC-USDT"),
    },
)

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _check_never_raises(frame: bytes | str, adapter: OkxAdapter) -> None:
    out = adapter.parse_one(frame, 1.0)
    for rec in out:
        if isinstance(rec, (Trade, Ticker, Quote, Book, BookDelta, Candle)):
            assert isinstance(rec.symbol, str)
            assert isinstance(rec.timestamp, int)
        if isinstance(rec, (Book, BookDelta)):
            assert all(type(x) is float for lv in rec.bids + rec.asks for x in lv)


@FUZZ
@given(st.binary(max_size=300))
def test_fuzz_bytes_never_raise(frame: bytes) -> None:
    _check_never_raises(frame, OkxAdapter())


@FUZZ
@given(json_values)
def test_fuzz_json_never_raises(value: Any) -> None:
    frame = orjson.dumps(value)
    _check_never_raises(frame, OkxAdapter())
    _check_never_raises(frame.decode(), OkxAdapter(keep_raw=True))


@FUZZ
@given(envelopes)
def test_fuzz_envelopes_never_raise(msg: dict[str, Any]) -> None:
    a = OkxAdapter()
    a.subscribe([a.subscription("book", "BTC-USDT", "bbo-tbt")])
    _check_never_raises(orjson.dumps(msg), a)


@FUZZ
@given(
    st.lists(
        st.tuples(
            st.from_regex(r"[1-9][0-9]{0,5}(\.[0-9]{1,8})?", fullmatch=True),
            st.from_regex(r"(0|[1-9][0-9]{0,6})(\.[0-9]{1,8})?", fullmatch=True),
        ),
        max_size=30,
    ),
    st.lists(
        st.tuples(
            st.from_regex(r"[1-9][0-9]{0,5}(\.[0-9]{1,8})?", fullmatch=True),
            st.from_regex(r"(0|[1-9][0-9]{0,6})(\.[0-9]{1,8})?", fullmatch=True),
        ),
        max_size=30,
    ),
)
def test_fast_level_parsing_equals_float(
    bids: list[tuple[str, str]], asks: list[tuple[str, str]]
) -> None:
    msg = orjson.loads(BOOKS_UPDATE)
    msg["data"][0]["bids"] = [[p, s, "0", "3"] for p, s in bids]
    msg["data"][0]["asks"] = [[p, s, "0", "3"] for p, s in asks]
    d = one(orjson.dumps(msg))
    assert d.bids == tuple((float(p), float(s)) for p, s in bids)
    assert d.asks == tuple((float(p), float(s)) for p, s in asks)


# --------------------------------------------------------------------------- checksum, REST


def test_checksum_vectors() -> None:
    assert book_checksum([("3366.1", "7"), ("3366", "6")], [("3366.8", "9"), ("3368", "8")]) == (
        -1881014294
    )
    assert book_checksum([("3366.1", "7")], [("3366.8", "9"), ("3368", "8"), ("3372", "8")]) == (
        831078360
    )


def test_checksum_uses_only_25_levels() -> None:
    bids = [(str(1000 - i), "1") for i in range(40)]
    asks = [(str(2000 + i), "1") for i in range(40)]
    assert book_checksum(bids, asks) == book_checksum(bids[:25], asks[:25])
    assert book_checksum([], []) == 0


def test_rest_books_path() -> None:
    assert rest_books_path("btc-usdt") == "/api/v5/market/books?instId=BTC-USDT&sz=400"
    assert OkxAdapter.rest_books_path("ETH-USDT", 5) == "/api/v5/market/books?instId=ETH-USDT&sz=5"
    with pytest.raises(ConfigError, match="sz=401"):
        rest_books_path("BTC-USDT", 401)


def test_parse_rest_books() -> None:
    d = parse_rest_books(REST_BOOKS, "BTC-USDT", 3.0)
    assert d == BookDelta(
        "okx",
        "BTC-USDT",
        1629966436396,
        3.0,
        bids=((41006.3, 0.30178218),),
        asks=((41006.8, 0.60038921),),
        snapshot=True,
        sequence=3235851742,
        text=((("41006.3", "0.30178218"),), (("41006.8", "0.60038921"),)),
    )
    assert d.text == ((("41006.3", "0.30178218"),), (("41006.8", "0.60038921"),))
    assert parse_rest_books(REST_BOOKS.encode(), "BTC-USDT", 3.0) == d


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ('{"code":"51001","msg":"Instrument ID does not exist","data":[]}', "51001"),
        ('{"code":"0","msg":"","data":[]}', "data"),
        ("<html>", "not JSON"),
        ('{"code":"0","msg":"","data":[{"asks":[],"bids":[]}]}', "'ts'"),
    ],
)
def test_parse_rest_books_errors(body: str, words: str) -> None:
    with pytest.raises(ProtocolError, match=words):
        parse_rest_books(body, "BTC-USDT", 0.0)


def test_float_nan_free() -> None:
    for frame in (TRADE_2025, TICKER_SPOT, TICKER_SWAP, BBO, CANDLE):
        rec = one(frame)
        values = [v for v in vars_of(rec) if isinstance(v, float)]
        assert not any(math.isnan(v) for v in values)


def vars_of(rec: Any) -> list[Any]:
    return [getattr(rec, name) for name in rec.__slots__ if name != "__weakref__"]


def test_ticker_empty_book_fields_are_zero_or_none() -> None:
    msg = orjson.loads(linear(TICKER_SWAP))
    msg["data"][0].update(bidPx="", bidSz="", askPx="", askSz="")
    t = one(orjson.dumps(msg), swaps())
    assert (t.bid, t.ask, t.bid_size, t.ask_size) == (0.0, 0.0, None, None)


def test_candle_pre_2022_seven_elements() -> None:
    c = one(
        '{"arg":{"channel":"candle1m","instId":"A-B"},"data":[["60000","1","2","0.5","1.5","10","15"]]}'
    )
    assert (c.closed, c.quote_volume, c.volume, c.close) == (False, None, 10.0, 1.5)


def test_default_candle_channel_is_one_minute() -> None:
    from trio_feeds.protocol import OkxAdapter

    sub = OkxAdapter().subscription("candle", "BTC-USDT")
    assert sub.stream == "candle1m"
    assert OkxAdapter().endpoint(sub) == "/ws/v5/business"


_level_value = st.one_of(
    st.decimals(min_value=0, max_value=10**7, places=8, allow_nan=False).map(
        lambda d: format(d.normalize(), "f")
    ),
    st.sampled_from(
        ["0", "1e5", "", "abc", "-1.5", "-0", "-0.0", "-0e0", "007", "NaN", "1.", ".5"]
    ),
)
_level = st.lists(_level_value, min_size=4, max_size=4)


_int_field = st.one_of(
    st.integers(0, 2**63), st.sampled_from(["7", "1.0", "1e3", "x", None, 2.0, 2.5, True])
)


@FUZZ
@example([["-0", "1", "0", "1"]], [["1", "-0.0", "0", "1"]], "books5", "snapshot", 0, "1", 1, False)
@example([["1", "-0", "0", "1"]], [], "books", "snapshot", 0, "1", 1, False)
@given(
    st.lists(_level, max_size=6),
    st.lists(_level, max_size=6),
    st.sampled_from(["books", "books5", "books-l2-tbt", "bbo-tbt"]),
    st.sampled_from(["update", "snapshot", "partial"]),
    st.sampled_from([0, 0, -123456, "0", None]),
    st.one_of(st.just("1597026383085"), st.sampled_from(["1.0", "1e3", "", 1597026383085])),
    _int_field,
    st.booleans(),
)
def test_the_typed_fast_path_equals_the_string_path(
    bids: list[list[str]],
    asks: list[list[str]],
    channel: str,
    action: str,
    checksum: object,
    ts: object,
    seq: object,
    as_book: bool,
) -> None:
    """Book-shaped frames parsed from bytes (fast path: msgspec decodes the level
    numbers as floats) give exactly what the ordinary path gives, errors included."""
    import orjson

    from trio_feeds.protocol import OkxAdapter

    data: dict[str, object] = {"asks": asks, "bids": bids, "ts": ts}
    if channel.startswith("books") and channel != "books5":
        data.update(checksum=checksum, prevSeqId=1, seqId=seq)
    else:
        data.update(instId="BTC-USDT", seqId=seq)
    msg: dict[str, object] = {"arg": {"channel": channel, "instId": "BTC-USDT"}, "data": [data]}
    if channel.startswith("books") and channel != "books5":
        msg["action"] = action
    frame = orjson.dumps(msg)
    adapters = [OkxAdapter(), OkxAdapter()]
    if channel == "bbo-tbt":
        for a in adapters:
            a.subscribe([a.subscription("book" if as_book else "quote", "BTC-USDT", "bbo-tbt")])
    fast = adapters[0].parse_one(frame, 1.0)
    slow = adapters[1].parse_one(frame.decode(), 1.0)
    assert [type(x) for x in fast] == [type(x) for x in slow]
    for a, b in zip(fast, slow, strict=True):
        if hasattr(a, "symbol"):
            assert a == b
            assert repr(a) == repr(b)  # -0.0 vs 0.0 and int vs float would differ here
        if hasattr(a, "bids"):
            assert all(type(v) is float for lv in a.bids + a.asks for v in lv)


def test_a_book_frame_with_bad_utf8_is_an_error_not_a_book() -> None:
    """The typed path must not accept what the ordinary JSON parser refuses."""
    from trio_feeds.protocol import OkxAdapter, ParseError

    frame = (
        b'{"arg":{"channel":"books5","instId":"BTC-USDT"},"data":[{"x":"\xff",'
        b'"asks":[["100","1","0","1"]],"bids":[["99","2","0","1"]],'
        b'"instId":"BTC-USDT","ts":"1597026383085","seqId":1}]}'
    )
    (error,) = OkxAdapter().parse_one(frame, 1.0)
    assert isinstance(error, ParseError)
    good = frame.replace(b'"x":"\xff",', b"")
    (book,) = OkxAdapter().parse_one(good, 1.0)
    assert book.asks == ((100.0, 1.0),) and book.bids == ((99.0, 2.0),)
