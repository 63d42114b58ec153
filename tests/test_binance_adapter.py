"""The Binance Spot sans-I/O adapter: frames in, records and control events out.

Fixture frames are inline copies of real Binance Spot frames (docs examples and
recorded traffic), so the tests need nothing outside this repository.
"""

from __future__ import annotations

import json
from typing import Any, cast

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
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
from trio_feeds.exchanges.binance.adapter import (
    BinanceAdapter,
    depth_snapshot_path,
    depth_snapshot_weight,
    parse_depth_snapshot,
)
from trio_feeds.protocol import (
    ExchangeError,
    ParseError,
    Rejected,
    ServerShutdown,
    Subscribed,
    Subscription,
    Unsubscribed,
)

RX = 1633998524.25  # received_at used throughout (float Unix seconds)
RX_MS = 1633998524250

# --------------------------------------------------------------------------- fixture frames
# Combined-stream envelopes (/stream) and bare events (/ws), verbatim shapes.

TRADE = (
    '{"stream":"btcusdt@trade","data":{"e":"trade","E":1791284980615,"s":"BTCUSDT",'
    '"t":6739446511,"p":"86104.02000000","q":"0.00011000","T":1791284980614,"m":true,"M":true}}'
)
TRADE_2021 = (  # before 2024-06-18: still has the order ids b/a
    '{"stream":"ethusdt@trade","data":{"e":"trade","E":1639351062244,"s":"ETHUSDT",'
    '"t":705291099,"p":"4149.74000000","q":"0.43870000","b":7038593583,"a":7038593613,'
    '"T":1639351062243,"m":false,"M":true}}'
)
TRADE_BARE = (
    '{"e":"trade","E":1672515782136,"s":"BNBBTC","t":12345,"p":"0.001","q":"100",'
    '"T":1672515782136,"m":true,"M":true}'
)
AGG_TRADE = (
    '{"stream":"nknusdt@aggTrade","data":{"e":"aggTrade","E":1633998523963,"s":"NKNUSDT",'
    '"a":15683430,"p":"0.35280000","q":"58.00000000","f":19862790,"l":19862790,'
    '"T":1633998523963,"m":false,"M":true}}'
)
AGG_TRADE_BARE = (
    '{"e":"aggTrade","E":1672515782136,"s":"BNBBTC","a":12345,"p":"0.001","q":"100","f":100,'
    '"l":105,"T":1672515782136,"m":true,"M":true}'
)
TICKER = (
    '{"stream":"btcusdt@ticker","data":{"e":"24hrTicker","E":1791284981016,"s":"BTCUSDT",'
    '"p":"156.02000000","P":"0.182","w":"85748.34072691","x":"85948.00000000",'
    '"c":"86104.02000000","Q":"0.00011000","b":"86104.01000000","B":"7.31683000",'
    '"a":"86104.02000000","A":"5.55365000","o":"85948.00000000","h":"86725.12000000",'
    '"l":"84972.01000000","v":"13625.56497000","q":"1168369587.64419700","O":1791198581003,'
    '"C":1791284981003,"F":6736717189,"L":6739446511,"n":2729323}}'
)
TICKER_BARE = (
    '{"e":"24hrTicker","E":1672515782136,"s":"BNBBTC","p":"0.0015","P":"250.00","w":"0.0018",'
    '"x":"0.0009","c":"0.0025","Q":"10","b":"0.0024","B":"10","a":"0.0026","A":"100",'
    '"o":"0.0010","h":"0.0025","l":"0.0010","v":"10000","q":"18","O":0,"C":86400000,"F":0,'
    '"L":18150,"n":18151}'
)
BOOK_TICKER = (
    '{"stream":"nknusdt@bookTicker","data":{"u":499869768,"s":"NKNUSDT","b":"0.35210000",'
    '"B":"672.00000000","a":"0.35260000","A":"3199.00000000"}}'
)
BOOK_TICKER_2 = (
    '{"stream":"nknusdt@bookTicker","data":{"u":499869769,"s":"NKNUSDT","b":"0.35210000",'
    '"B":"672.00000000","a":"0.35250000","A":"1123.00000000"}}'
)
BOOK_TICKER_BARE = (
    '{"u":400900217,"s":"BNBUSDT","b":"25.35190000","B":"31.21000000","a":"25.36520000",'
    '"A":"40.66000000"}'
)
DEPTH5 = (
    '{"stream":"btcusdt@depth5","data":{"lastUpdateId":101096708675,'
    '"bids":[["86104.01000000","7.31683000"],["86104.00000000","0.02991000"]],'
    '"asks":[["86104.02000000","5.55365000"],["86104.03000000","0.00072000"]]}}'
)
DEPTH10_100MS = (
    '{"stream":"btcusdt@depth10@100ms","data":{"lastUpdateId":101096708778,'
    '"bids":[["86104.01000000","7.31528000"],["86104.00000000","0.02997000"]],'
    '"asks":[["86104.02000000","5.48779000"],["86104.03000000","0.00072000"]]}}'
)
DEPTH_PARTIAL_BARE = '{"lastUpdateId":160,"bids":[["0.0024","10"]],"asks":[["0.0026","100"]]}'
DEPTH_DIFF = (
    '{"stream":"nknusdt@depth@100ms","data":{"e":"depthUpdate","E":1633998512568,'
    '"s":"NKNUSDT","U":499869753,"u":499869754,"b":[["0.35170000","4265.00000000"]],'
    '"a":[["0.35290000","10968.00000000"]]}}'
)
DEPTH_DIFF_EMPTY_BIDS = (
    '{"stream":"nknusdt@depth@100ms","data":{"e":"depthUpdate","E":1633998513068,'
    '"s":"NKNUSDT","U":499869760,"u":499869760,"b":[],"a":[["0.35380000","3027.00000000"]]}}'
)
DEPTH_DIFF_BARE = (
    '{"e":"depthUpdate","E":1672515782136,"s":"BNBBTC","U":157,"u":160,'
    '"b":[["0.0024","10"]],"a":[["0.0026","100"]]}'
)
KLINE = (
    '{"stream":"nknusdt@kline_1m","data":{"e":"kline","E":1633998523963,"s":"NKNUSDT",'
    '"k":{"t":1633998480000,"T":1633998539999,"s":"NKNUSDT","i":"1m","f":19862761,'
    '"L":19862790,"o":"0.35270000","c":"0.35280000","h":"0.35280000","l":"0.35220000",'
    '"v":"25877.00000000","n":30,"x":false,"q":"9116.04600000","V":"58.00000000",'
    '"Q":"20.46240000","B":"0"}}}'
)
KLINE_BARE = (
    '{"e":"kline","E":1672515782136,"s":"BNBBTC","k":{"t":1672515780000,"T":1672515839999,'
    '"s":"BNBBTC","i":"1m","f":100,"L":200,"o":"0.0010","c":"0.0020","h":"0.0025",'
    '"l":"0.0015","v":"1000","n":100,"x":true,"q":"1.0000","V":"500","Q":"0.500","B":"123456"}}'
)
SHUTDOWN_BARE = '{"e":"serverShutdown","E":1770123456789}'
SHUTDOWN_COMBINED = '{"stream":"!serverShutdown","data":{"e":"serverShutdown","E":1770123456789}}'
REST_SNAPSHOT = (
    '{"lastUpdateId":1027024,"bids":[["4.00000000","431.00000000"]],'
    '"asks":[["4.00000200","12.00000000"]]}'
)

GOOD_COMBINED = [
    TRADE,
    TRADE_2021,
    AGG_TRADE,
    TICKER,
    BOOK_TICKER,
    DEPTH5,
    DEPTH10_100MS,
    DEPTH_DIFF,
    KLINE,
]


def parse(frame: str | bytes, adapter: BinanceAdapter | None = None) -> Any:
    """Parse one frame that must give exactly one item; return it."""
    items = (adapter or BinanceAdapter()).parse_one(frame, RX)
    assert len(items) == 1, items
    return items[0]


def parse_error(frame: str | bytes, adapter: BinanceAdapter | None = None) -> ParseError:
    item = parse(frame, adapter)
    assert isinstance(item, ParseError), item
    return item


# --------------------------------------------------------------------------- class facts


def test_class_attributes() -> None:
    assert BinanceAdapter.name == "binance"
    assert BinanceAdapter.default_url == "wss://stream.binance.com:9443"
    assert BinanceAdapter.default_rest_url == "https://api.binance.com"
    assert BinanceAdapter.max_streams_per_connection == 1024
    assert BinanceAdapter().ping() is None  # Binance pings with WS control frames


# --------------------------------------------------------------------------- each channel


def test_trade_combined() -> None:
    t = parse(TRADE)
    assert t == Trade(
        "binance",
        "BTC-USDT",
        1791284980614,  # T, the trade time (not E)
        RX,
        86104.02,
        0.00011,
        "sell",  # m = buyer is maker => the taker sold
        "6739446511",
    )
    assert t.kind == "trade"
    assert t.raw is None


def test_trade_buyer_taker_and_old_schema() -> None:
    t = parse(TRADE_2021)
    assert (t.symbol, t.side, t.trade_id, t.price, t.amount) == (
        "ETH-USDT",
        "buy",
        "705291099",
        4149.74,
        0.4387,
    )
    assert t.timestamp == 1639351062243


def test_trade_bare_ws_event() -> None:
    t = parse(TRADE_BARE)
    assert t == Trade("binance", "BNB-BTC", 1672515782136, RX, 0.001, 100.0, "sell", "12345")


def test_agg_trade() -> None:
    t = parse(AGG_TRADE)
    assert t == Trade(
        "binance", "NKN-USDT", 1633998523963, RX, 0.3528, 58.0, "buy", "15683430"
    )  # trade_id is the aggregate id a
    t = parse(AGG_TRADE_BARE)
    assert (t.symbol, t.trade_id, t.side) == ("BNB-BTC", "12345", "sell")


def test_ticker() -> None:
    t = parse(TICKER)
    assert t == Ticker(
        "binance",
        "BTC-USDT",
        1791284981016,
        RX,
        price=86104.02,
        bid=86104.01,
        ask=86104.02,
        volume=13625.56497,
        open=85948.0,
        high=86725.12,
        low=84972.01,
        quote_volume=1168369587.644197,
        bid_size=7.31683,
        ask_size=5.55365,
    )
    bare = parse(TICKER_BARE)
    assert (bare.symbol, bare.timestamp, bare.price, bare.bid_size, bare.ask_size) == (
        "BNB-BTC",
        1672515782136,
        0.0025,
        10.0,
        100.0,
    )
    assert (bare.volume, bare.quote_volume) == (10000.0, 18.0)


def test_book_ticker_has_no_exchange_time() -> None:
    q = parse(BOOK_TICKER)
    assert q == Quote(
        "binance",
        "NKN-USDT",
        RX_MS,  # receive time: spot bookTicker carries no time at all
        RX,
        0.3521,
        672.0,
        0.3526,
        3199.0,
        sequence=499869768,
        exchange_time=False,
    )
    bare = parse(BOOK_TICKER_BARE)
    assert (bare.symbol, bare.sequence, bare.bid, bare.ask_size) == (
        "BNB-USDT",
        400900217,
        25.3519,
        40.66,
    )
    assert bare.exchange_time is False


def test_partial_depth_symbol_from_stream_name() -> None:
    b = parse(DEPTH5)
    assert b == Book(
        "binance",
        "BTC-USDT",
        RX_MS,
        RX,
        ((86104.01, 7.31683), (86104.0, 0.02991)),
        ((86104.02, 5.55365), (86104.03, 0.00072)),
        101096708675,
        exchange_time=False,
    )
    assert b.best_bid == (86104.01, 7.31683)
    b10 = parse(DEPTH10_100MS)
    assert isinstance(b10, Book)
    assert (b10.symbol, b10.sequence, b10.asks[0]) == (
        "BTC-USDT",
        101096708778,
        (86104.02, 5.48779),
    )


def test_partial_depth_bare_needs_one_partial_subscription() -> None:
    err = parse_error(DEPTH_PARTIAL_BARE)
    assert "partial depth" in err.problem and "symbol" in err.problem
    a = BinanceAdapter()
    a.subscribe([a.subscription("book", "BNB-BTC", "depth5")])
    b = parse(DEPTH_PARTIAL_BARE, a)
    assert isinstance(b, Book)
    assert (b.symbol, b.sequence, b.bids, b.asks) == (
        "BNB-BTC",
        160,
        ((0.0024, 10.0),),
        ((0.0026, 100.0),),
    )


def test_diff_depth() -> None:
    d = parse(DEPTH_DIFF)
    assert d == BookDelta(
        "binance",
        "NKN-USDT",
        1633998512568,
        RX,
        ((0.3517, 4265.0),),
        ((0.3529, 10968.0),),
        snapshot=False,
        sequence=499869754,
        first_sequence=499869753,
    )
    e = parse(DEPTH_DIFF_EMPTY_BIDS)
    assert (e.bids, e.asks, e.first_sequence, e.sequence) == (
        (),
        ((0.3538, 3027.0),),
        499869760,
        499869760,
    )
    bare = parse(DEPTH_DIFF_BARE)
    assert (bare.symbol, bare.first_sequence, bare.sequence, bare.timestamp) == (
        "BNB-BTC",
        157,
        160,
        1672515782136,
    )


def test_kline() -> None:
    c = parse(KLINE)
    assert c == Candle(
        "binance",
        "NKN-USDT",
        1633998523963,
        RX,
        start=1633998480000,
        interval="1m",
        open=0.3527,
        high=0.3528,
        low=0.3522,
        close=0.3528,
        volume=25877.0,
        closed=False,
        quote_volume=9116.046,
        trades=30,
    )
    bare = parse(KLINE_BARE)
    assert (bare.symbol, bare.closed, bare.trades, bare.start) == (
        "BNB-BTC",
        True,
        100,
        1672515780000,
    )


@pytest.mark.parametrize("frame", [SHUTDOWN_BARE, SHUTDOWN_COMBINED])
def test_server_shutdown(frame: str) -> None:
    s = parse(frame)
    assert isinstance(s, ServerShutdown)
    assert s.code == "serverShutdown"
    assert s.received_at == RX


def test_bytes_and_str_frames_agree() -> None:
    a = BinanceAdapter()
    for frame in GOOD_COMBINED:
        assert parse(frame, a) == parse(frame.encode(), a)
        assert parse(cast(Any, bytearray(frame.encode())), a) == parse(frame, a)


def test_keep_raw() -> None:
    a = BinanceAdapter(keep_raw=True)
    for frame in [*GOOD_COMBINED, TRADE_BARE, BOOK_TICKER_BARE]:
        rec = parse(frame, a)
        payload = json.loads(frame)
        assert rec.raw == payload.get("data", payload)
    # switching it off later takes effect at once (handlers are rebuilt)
    parse(TRADE, a)
    a.keep_raw = False
    assert parse(TRADE, a).raw is None
    assert parse(TRADE, BinanceAdapter()).raw is None


def test_many_frames_one_list() -> None:
    a = BinanceAdapter()
    out = a.parse_many(GOOD_COMBINED, RX)
    assert [type(x) for x in out] == [
        Trade,
        Trade,
        Trade,
        Ticker,
        Quote,
        Book,
        Book,
        BookDelta,
        Candle,
    ]
    assert all(x.received_at == RX for x in out)


# --------------------------------------------------------------------------- symbols


def test_subscribed_symbol_wins_over_guessing() -> None:
    # "PEPEWBTC" would be split on BTC by guessing; the subscribed spelling must win.
    frame = TRADE.replace("btcusdt", "pepewbtc").replace("BTCUSDT", "PEPEWBTC")
    assert parse(frame).symbol == "PEPEW-BTC"  # fallback guess when nobody subscribed
    a = BinanceAdapter()
    a.subscribe([a.subscription("trade", "PEPE-WBTC")])
    assert parse(frame, a).symbol == "PEPE-WBTC"
    bare = TRADE_BARE.replace("BNBBTC", "PEPEWBTC")
    assert parse(bare, a).symbol == "PEPE-WBTC"


def test_unknown_but_valid_stream_is_parsed_and_cached() -> None:
    a = BinanceAdapter()
    frame = TRADE.replace("btcusdt", "solusdc").replace("BTCUSDT", "SOLUSDC")
    assert parse(frame, a).symbol == "SOL-USDC"
    assert "solusdc@trade" in a._handlers
    assert parse(frame, a).symbol == "SOL-USDC"


def test_unknown_symbol_in_stream_is_a_parse_error_naming_it() -> None:
    frame = TRADE.replace("btcusdt", "fooxyz")
    err = parse_error(frame)
    assert "fooxyz" in err.problem.lower()


# --------------------------------------------------------------------------- subscriptions


@pytest.mark.parametrize(
    ("channel", "stream", "topic"),
    [
        ("trade", "trade", "btcusdt@trade"),
        ("trades", "trade", "btcusdt@trade"),
        ("ticker", "ticker", "btcusdt@ticker"),
        ("quote", "bookTicker", "btcusdt@bookTicker"),
        ("bbo", "bookTicker", "btcusdt@bookTicker"),
        ("book", "depth@100ms", "btcusdt@depth@100ms"),
        ("depth", "depth@100ms", "btcusdt@depth@100ms"),
        ("candle", "kline_1m", "btcusdt@kline_1m"),
        ("kline", "kline_1m", "btcusdt@kline_1m"),
    ],
)
def test_default_subscriptions(channel: str, stream: str, topic: str) -> None:
    sub = BinanceAdapter().subscription(channel, "btc-usdt")
    assert sub.exchange == "binance"
    assert sub.symbol == "BTC-USDT"
    assert (sub.stream, sub.topic) == (stream, topic)
    assert BinanceAdapter().endpoint(sub) == "/stream"


@pytest.mark.parametrize(
    ("channel", "stream", "native"),
    [
        ("trade", "aggTrade", "aggTrade"),
        ("trade", "aggtrade", "aggTrade"),
        ("book", "depth", "depth"),
        ("book", "depth5", "depth5"),
        ("book", "depth10@100ms", "depth10@100ms"),
        ("book", "depth20", "depth20"),
        ("candle", "kline_5m", "kline_5m"),
        ("candle", "1M", "kline_1M"),
    ],
)
def test_stream_variants(channel: str, stream: str, native: str) -> None:
    sub = BinanceAdapter().subscription(channel, "ETH-BTC", stream)
    assert sub.stream == native
    assert sub.topic == f"ethbtc@{native}"


def test_bad_channel_names_it() -> None:
    with pytest.raises(ConfigError, match="'funding'"):
        BinanceAdapter().subscription("funding", "BTC-USDT")


@pytest.mark.parametrize(
    ("channel", "stream"),
    [("trade", "bookTicker"), ("book", "depth50"), ("candle", "kline_7m"), ("quote", "")],
)
def test_bad_stream_names_it(channel: str, stream: str) -> None:
    with pytest.raises(ConfigError, match=f"stream {stream!r}"):
        BinanceAdapter().subscription(channel, "BTC-USDT", stream)


@pytest.mark.parametrize("symbol", ["XYZABC", "BTC USDT", "", "BTC-USDT-SWAP", "b t c-usdt"])
def test_bad_symbol_names_it(symbol: str) -> None:
    with pytest.raises(SymbolError) as info:
        BinanceAdapter().subscription("trade", symbol)
    assert repr(symbol) in str(info.value)


def test_subscribe_frames_and_acks() -> None:
    a = BinanceAdapter()
    subs = [a.subscription("trade", "BTC-USDT", "aggTrade"), a.subscription("book", "BTC-USDT")]
    frames = a.subscribe(subs)
    assert frames == [
        '{"method":"SUBSCRIBE","params":["btcusdt@aggTrade","btcusdt@depth@100ms"],"id":1}'
    ]
    assert a.pending_requests == {1: tuple(subs)}
    assert parse('{"result":null,"id":1}', a) == Subscribed(tuple(subs), request_id="1")
    assert a.pending_requests == {}

    (unsub,) = a.unsubscribe(subs[1:])
    assert orjson.loads(unsub) == {
        "method": "UNSUBSCRIBE",
        "params": ["btcusdt@depth@100ms"],
        "id": 2,
    }
    assert parse('{"result":null,"id":2}', a) == Unsubscribed((subs[1],), request_id="2")


def test_subscribe_batches_at_200_streams() -> None:
    a = BinanceAdapter()
    subs = [a.subscription("trade", f"C{i}-USDT") for i in range(450)]
    frames = a.subscribe(subs)
    sent = [orjson.loads(f) for f in frames]
    assert [len(m["params"]) for m in sent] == [200, 200, 50]
    assert [m["id"] for m in sent] == [1, 2, 3]
    assert all(m["method"] == "SUBSCRIBE" for m in sent)
    assert [p for m in sent for p in m["params"]] == [s.topic for s in subs]
    # acks may come in any order; each maps back to its own batch
    assert parse('{"result":null,"id":3}', a) == Subscribed(tuple(subs[400:]), "3")
    assert parse('{"result":null,"id":1}', a) == Subscribed(tuple(subs[:200]), "1")
    assert parse('{"result":null,"id":2}', a) == Subscribed(tuple(subs[200:400]), "2")
    # ids keep increasing across requests
    (nxt,) = a.unsubscribe(subs[:1])
    assert orjson.loads(nxt)["id"] == 4
    assert a.subscribe([]) == []


def test_error_reply_rejects_the_batch() -> None:
    a = BinanceAdapter()
    subs = [a.subscription("trade", "BTC-USDT"), a.subscription("quote", "ETH-USDT")]
    a.subscribe(subs)
    a.subscribe([a.subscription("ticker", "BTC-USDT")])  # id 2: answered later
    got = parse('{"error":{"code":2,"msg":"Invalid request: invalid stream"},"id":1}', a)
    assert got == Rejected(tuple(subs), "2", "Invalid request: invalid stream", "1")
    assert list(a.pending_requests) == [2]


def test_error_without_id_is_an_exchange_error() -> None:
    got = parse('{"error":{"code":3,"msg":"Invalid JSON: expected value at line 1 column 1"}}')
    assert got == ExchangeError("3", "Invalid JSON: expected value at line 1 column 1", None)
    got = parse('{"error":{"code":2,"msg":"Invalid request: invalid stream"},"id":99}')
    assert got == ExchangeError("2", "Invalid request: invalid stream", "99")


def test_reply_to_unknown_request_is_a_parse_error() -> None:
    err = parse_error('{"result":null,"id":7}')
    assert "unknown request id 7" in err.problem


def test_subscribe_rejects_foreign_subscriptions() -> None:
    okx = Subscription("okx", "trade", "BTC-USDT", "trades", "trades:BTC-USDT")
    with pytest.raises(ConfigError, match="not a binance subscription"):
        BinanceAdapter().subscribe([okx])


# --------------------------------------------------------------------------- bad frames


@pytest.mark.parametrize(
    ("frame", "says"),
    [
        ('{"stream":"btcusdt@trade","data":{"e":"trade"', "invalid JSON"),
        (TRADE[:70], "invalid JSON"),
        ("", "invalid JSON"),
        (b"\xff\xfe garbage", "invalid JSON"),
        ("[1,2,3]", "expected a JSON object, got an array"),
        ("null", "expected a JSON object, got null"),
        (TRADE.replace('"p":"86104.02000000"', '"p":null'), "field 'p' is null"),
        (TRADE.replace('"p":"86104.02000000"', '"p":"abc"'), "field 'p' is \"abc\""),
        (TRADE.replace('"p":"86104.02000000",', ""), "field 'p' is missing"),
        (TRADE.replace('"m":true', '"m":"yes"'), "field 'm'"),
        (TRADE.replace('"T":1791284980614', '"T":"later"'), "field 'T'"),
        ('{"stream":"btcusdt@trade","data":[1,2]}', "payload is an array"),
        ('{"stream":"btcusdt@trade","data":"x"}', "payload is a string"),
        ('{"stream":"btcusdt@trade"}', "has no 'data'"),
        ('{"stream":42,"data":{}}', "'stream' is int"),
        ('{"stream":["a"],"data":{}}', "'stream' is an array"),
        (BOOK_TICKER.replace('"B":"672.00000000"', '"B":[]'), "field 'B'"),
        (DEPTH_DIFF.replace('"b":[["0.35170000","4265.00000000"]]', '"b":[["1"]]'), "field 'b[0]'"),
        (DEPTH5.replace('"lastUpdateId":101096708675', '"lastUpdateId":null'), "lastUpdateId"),
        (KLINE.replace('"x":false', '"x":0.5'), "field 'k.x'"),
        (KLINE.replace('"o":"0.35270000"', '"o":"open"'), "field 'k.o'"),
        (TICKER.replace('"c":"86104.02000000"', '"c":{}'), "field 'c'"),
        ('{"stream":"btcusdt@miniTicker","data":{}}', "'btcusdt@miniTicker'"),
        ('{"stream":"btcusdt@forceOrder","data":{}}', "unknown or unsupported stream"),
        ('{"stream":"nonsense","data":{}}', "'nonsense'"),
        ('{"e":"24hrMiniTicker","E":1,"s":"BNBBTC"}', "unsupported event type '24hrMiniTicker'"),
        ('{"e":"trade","E":1}', "field 's' is null"),
        ('{"e":"trade","s":"BNBBTC","t":1}', "field 'T' is missing"),
        ('{"hello":"world"}', "unrecognised message"),
    ],
)
def test_bad_frame_becomes_parse_error(frame: str | bytes, says: str) -> None:
    err = parse_error(frame)
    assert says in err.problem
    text = frame.decode("utf-8", "replace") if isinstance(frame, bytes) else frame
    assert err.frame == text[:200] + ("…" if len(text) > 200 else "")


def test_parse_error_names_the_stream() -> None:
    err = parse_error(TRADE.replace('"q":"0.00011000"', '"q":"x"'))
    assert "btcusdt@trade" in err.problem
    assert "field 'q'" in err.problem
    err = parse_error(TRADE_BARE.replace('"p":"0.001"', '"p":[]'))
    assert "'trade' event" in err.problem
    assert "field 'p'" in err.problem


def test_bad_frame_between_good_ones() -> None:
    a = BinanceAdapter()
    out: list[Any] = []
    a.parse(BOOK_TICKER, RX, out)
    a.parse(BOOK_TICKER_2[:50], RX, out)  # truncated
    a.parse(BOOK_TICKER_2, RX, out)
    a.parse(TRADE.replace('"p":"86104.02000000"', '"p":null'), RX, out)
    a.parse(TRADE, RX, out)
    assert [type(x) for x in out] == [Quote, ParseError, Quote, ParseError, Trade]
    assert out[2].sequence == 499869769
    assert out[4].price == 86104.02


def test_long_frame_is_excerpted() -> None:
    frame = '{"stream":"btcusdt@trade","data":' + "[" * 5000
    err = parse_error(frame)
    assert len(err.frame) == 201 and err.frame.endswith("…")


# --------------------------------------------------------------------------- REST snapshot


def test_depth_snapshot() -> None:
    d = parse_depth_snapshot(REST_SNAPSHOT, "BNB-USDT", RX)
    assert d == BookDelta(
        "binance",
        "BNB-USDT",
        RX_MS,
        RX,
        ((4.0, 431.0),),
        ((4.000002, 12.0),),
        snapshot=True,
        sequence=1027024,
    )
    assert parse_depth_snapshot(REST_SNAPSHOT.encode(), "bnb-usdt", RX) == d
    assert BinanceAdapter.parse_depth_snapshot(REST_SNAPSHOT, "BNB-USDT", RX) == d
    assert parse_depth_snapshot(REST_SNAPSHOT, "BNB-USDT", RX, keep_raw=True).raw == json.loads(
        REST_SNAPSHOT
    )


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ("<html>502 Bad Gateway</html>", "invalid JSON"),
        ("[]", "expected an object"),
        ('{"code":-1121,"msg":"Invalid symbol."}', "-1121: Invalid symbol."),
        ('{"lastUpdateId":1,"bids":[]}', "'asks' is missing"),
        ('{"lastUpdateId":1,"bids":[["x","1"]],"asks":[]}', "'bids[0][0]'"),
        ('{"lastUpdateId":"one","bids":[],"asks":[]}', "'lastUpdateId'"),
    ],
)
def test_depth_snapshot_bad_body(body: str, says: str) -> None:
    with pytest.raises(ProtocolError, match="BTC-USDT") as info:
        parse_depth_snapshot(body, "BTC-USDT", RX)
    assert says in str(info.value)


def test_depth_snapshot_path_and_weight() -> None:
    assert depth_snapshot_path("BTC-USDT") == "/api/v3/depth?symbol=BTCUSDT&limit=1000"
    assert depth_snapshot_path("eth-btc", 5000) == "/api/v3/depth?symbol=ETHBTC&limit=5000"
    assert [depth_snapshot_weight(n) for n in (1, 100, 101, 500, 501, 1000, 1001, 5000)] == [
        5,
        5,
        25,
        25,
        50,
        50,
        250,
        250,
    ]
    for bad in (0, 5001, -1, 1.5, True):
        with pytest.raises(ConfigError, match="limit"):
            depth_snapshot_weight(bad)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="limit"):
        depth_snapshot_path("BTC-USDT", 6000)


# --------------------------------------------------------------------------- never raises

_json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(st.characters(codec="utf-8"), max_size=12)
)
json_values = st.recursive(
    _json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=5)
    ),
    max_leaves=20,
)
_PAYLOADS = [json.loads(f) for f in GOOD_COMBINED]
_STREAMS = [p["stream"] for p in _PAYLOADS] + [
    "!serverShutdown",
    "btcusdt@depth",
    "btcusdt@depth20@100ms",
    "xxx@trade",
    "btcusdt@",
    "@trade",
    "",
]
_KEYS = sorted({k for p in _PAYLOADS for k in p["data"]} | {"k", "e", "s", "stream", "data"})
_LIMITS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _check_output(out: list[Any]) -> None:
    assert len(out) == 1, out  # every frame yields exactly one item
    item = out[0]
    allowed: tuple[type, ...] = (Trade, Ticker, Quote, Book, BookDelta, Candle)
    allowed += (ParseError, ServerShutdown, Subscribed, Unsubscribed, Rejected, ExchangeError)
    assert isinstance(item, allowed)
    if isinstance(item, ParseError):
        assert item.problem and isinstance(item.frame, str)


@_LIMITS
@given(st.binary(max_size=300))
def test_arbitrary_bytes_never_raise(frame: bytes) -> None:
    a = BinanceAdapter()
    out: list[Any] = []
    a.parse(frame, RX, out)
    _check_output(out)


@_LIMITS
@given(json_values)
def test_arbitrary_json_never_raises(value: Any) -> None:
    a = BinanceAdapter()
    out: list[Any] = []
    a.parse(orjson.dumps(value), RX, out)
    _check_output(out)


@_LIMITS
@given(st.sampled_from(_STREAMS), json_values)
def test_envelopes_with_random_data_never_raise(stream: str, data: Any) -> None:
    a = BinanceAdapter()
    out: list[Any] = []
    a.parse(orjson.dumps({"stream": stream, "data": data}), RX, out)
    _check_output(out)


@_LIMITS
@given(st.sampled_from(_PAYLOADS), st.data())
def test_mutated_real_payloads_never_raise(payload: dict[str, Any], data: st.DataObject) -> None:
    msg = json.loads(json.dumps(payload))
    body = msg["data"] if data.draw(st.booleans()) else msg  # bare /ws event or envelope
    for _ in range(data.draw(st.integers(1, 3))):
        key = data.draw(st.sampled_from(_KEYS))
        if data.draw(st.booleans()):
            body[key] = data.draw(json_values)
        else:
            body.pop(key, None)
    a = BinanceAdapter(keep_raw=data.draw(st.booleans()))
    out: list[Any] = []
    a.parse(orjson.dumps(msg), RX, out)
    _check_output(out)
    # and the adapter still parses the next good frame
    out.clear()
    a.parse(TRADE, RX, out)
    assert isinstance(out[0], Trade)


@_LIMITS
@given(st.sampled_from(GOOD_COMBINED), st.integers(0, 400))
def test_truncated_frames_never_raise(frame: str, cut: int) -> None:
    out: list[Any] = []
    BinanceAdapter().parse(frame[:cut], RX, out)
    _check_output(out)


# --------------------------------------------------------------------------- per-stream caches


def _book_ticker(u: int, b: Any, bq: Any, a: Any, aq: Any) -> bytes:
    data = {"u": u, "s": "NKNUSDT", "b": b, "B": bq, "a": a, "A": aq}
    return orjson.dumps({"stream": "nknusdt@bookTicker", "data": data})


def test_repeated_prices_reuse_nothing_stale() -> None:
    a = BinanceAdapter()
    out = a.parse_many(
        [
            _book_ticker(1, "0.35210000", "672.00000000", "0.35260000", "3199.00000000"),
            _book_ticker(2, "0.35210000", "42.00000000", "0.35260000", "3199.00000000"),
            _book_ticker(3, None, "42.00000000", "0.35260000", "3199.00000000"),
            _book_ticker(4, "0.35210000", "42.00000000", "abc", "3199.00000000"),
            _book_ticker(5, "0.35200000", "42.00000000", "0.35260000", "1.00000000"),
            _book_ticker(6, "0.35210000", 42, "0.35260000", "1.00000000"),
        ],
        RX,
    )
    assert [type(x) for x in out] == [Quote, Quote, ParseError, ParseError, Quote, Quote]
    got = [(x.sequence, x.bid, x.bid_size, x.ask, x.ask_size) for x in out if isinstance(x, Quote)]
    assert got == [
        (1, 0.3521, 672.0, 0.3526, 3199.0),
        (2, 0.3521, 42.0, 0.3526, 3199.0),
        (5, 0.352, 42.0, 0.3526, 1.0),
        (6, 0.3521, 42.0, 0.3526, 1.0),
    ]
    assert "field 'b' is null" in out[2].problem
    assert "field 'a' is \"abc\"" in out[3].problem
    # a new receive time gives a new timestamp
    (q,) = a.parse_one(_book_ticker(7, "1", "1", "2", "2"), 12.5)
    assert (q.timestamp, q.received_at) == (12500, 12.5)


_prices = st.sampled_from(["0.35210000", "0.3521", "1", "0.35260000", "nan", "x", None, 1, 1.5])


@_LIMITS
@given(
    st.lists(
        st.tuples(
            _prices, _prices, _prices, _prices, st.floats(0, 2e9, allow_nan=False), st.booleans()
        ),
        min_size=1,
        max_size=30,
    )
)
def test_stateful_parse_equals_fresh_parse(rows: list[tuple[Any, ...]]) -> None:
    """Reusing the previous price's float never changes a result."""
    a = BinanceAdapter()
    for u, (b, bq, ask, aq, received_at, trade) in enumerate(rows):
        if trade:
            data = orjson.loads(TRADE)
            data["data"]["p"] = b
            data["data"]["q"] = bq
            frame = orjson.dumps(data)
        else:
            frame = _book_ticker(u, b, bq, ask, aq)
        got = a.parse_one(frame, received_at)
        want = BinanceAdapter().parse_one(frame, received_at)
        assert repr(got) == repr(want)  # repr: nan != nan


# --------------------------------------------------------------------------- typed depth path

_MISSING: Any = object()  # a field left out of the frame


def _now_and_then(
    usual: st.SearchStrategy[Any], odd: st.SearchStrategy[Any], one_in: int
) -> st.SearchStrategy[Any]:
    """``odd`` about once in ``one_in`` draws, else ``usual`` (``one_of`` weighs them alike)."""
    return st.sampled_from([False] * (one_in - 1) + [True]).flatmap(lambda o: odd if o else usual)


_price = st.decimals(min_value=0, max_value=10**7, places=8, allow_nan=False).map(
    lambda d: format(d.normalize(), "f")
)
_good_value = _now_and_then(_price, st.integers(0, 2**70) | st.floats(0, 1e300), 6)
_good_levels = st.lists(st.lists(_good_value, min_size=2, max_size=2), max_size=8)
_odd_value = st.one_of(
    # both read these (msgspec "-0" as 0.0, float() as -0.0)
    st.sampled_from(["-0", "-0.0", "-1.5", "0", "1e5", "1E-3", "4.9e-324"]),
    # not a number, or not finite (float() gives nan or inf, msgspec refuses)
    st.sampled_from(["", "abc", "NaN", "nan", "inf", "Infinity", "1e400", "0x10"]),
    # float() reads these (even the full-width 1), msgspec does not
    st.sampled_from(["007", "1.", ".5", " 1", "1_0", "\uff11", "1e5 ", "+1"]),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from(["true", "null", "[]", "{}"]).map(orjson.loads),  # fresh [] and {}
)
_odd_row = st.one_of(
    st.lists(_good_value, max_size=1),
    st.lists(_good_value, min_size=3, max_size=3),
    st.sampled_from(["12", 12, None, {"1": "2"}]),
)
_odd_levels = st.sampled_from([_MISSING, None, "12", {"12": "3"}, 5])
_odd_int = st.one_of(
    st.sampled_from(["7", " 7", "1_0", "1.0", "1e3", "", "x", None, _MISSING, True]),
    st.sampled_from([-0.0, 2.0, 2.5, 1e20, 12345678901234567.5, -1, 2**63 - 1, 2**63, 2**64]),
    # orjson reads integers past 64 bits as floats, so int() gives the nearest double
    st.sampled_from([2**64 - 1, 2**64 + 1, 10**25 + 1, -(2**63), -(2**63) - 3]),
    st.integers(-(2**70), 2**70),
)
_depth_int = _now_and_then(st.integers(0, 2**62), _odd_int, 6)


@_LIMITS
@given(
    st.sampled_from(
        [
            *("btcusdt@depth@100ms", "btcusdt@depth", "btcusdt@depth10@100ms", "btcusdt@depth5"),
            *("ETHBTC@depth20", "btcusdt@trade"),
        ]
    ),
    st.booleans(),
    st.tuples(_depth_int, _depth_int, _depth_int),
    _good_levels,
    _good_levels,
    st.sampled_from(["x" * 200, "x" * 200, "", "\u00e9" * 100]),
    st.data(),
)
def test_the_typed_depth_path_equals_the_string_path(
    stream: str,
    subscribed: bool,
    ints: tuple[Any, Any, Any],
    bids: list[list[Any]],
    asks: list[list[Any]],
    pad: str,
    data: st.DataObject,
) -> None:
    """Depth frames parsed from bytes (fast path: msgspec decodes the level numbers as
    floats) give exactly what the ordinary path gives for str, errors included."""
    diff = stream.startswith("btcusdt@depth@") or stream.endswith("@depth")
    first, last, ts = ints
    levels = {"bids": bids, "asks": asks}
    for _ in range(data.draw(st.integers(0, 2), label="mutations")):
        what = data.draw(st.sampled_from(["value", "value", "row", "levels", "shape"]))
        side = levels[data.draw(st.sampled_from(sorted(levels)))]
        if what in ("value", "row") and side.__class__ is list and side:
            row = data.draw(st.integers(0, len(side) - 1))
            if what == "row":
                side[row] = data.draw(_odd_row)
            elif side[row].__class__ is list and side[row]:
                side[row][data.draw(st.integers(0, len(side[row]) - 1))] = data.draw(_odd_value)
        elif what == "levels":
            levels[data.draw(st.sampled_from(sorted(levels)))] = data.draw(_odd_levels)
        elif what == "shape":
            diff = not diff
    payload: dict[str, Any] = {"pad": pad} if pad else {}  # long enough for the typed path
    if diff:  # depthUpdate: the ordinary path ignores e and s
        payload.update(e="depthUpdate", E=ts, s="BTCUSDT", U=first, u=last)
        payload.update(b=levels["bids"], a=levels["asks"])
    else:
        payload.update(lastUpdateId=last, **levels)
    payload = {k: v for k, v in payload.items() if v is not _MISSING}
    # json, not orjson: integers beyond 64 bits; ensure_ascii=False keeps the padding's é
    msg = {"stream": stream, "data": payload}
    frame = json.dumps(msg, separators=(",", ":"), ensure_ascii=False).encode()
    fast, slow = BinanceAdapter(), BinanceAdapter()
    if subscribed and stream.startswith("btcusdt@depth"):
        for a in (fast, slow):
            a.subscribe([a.subscription("book", "BTC-USDT", stream.partition("@")[2])])
    want = slow.parse_one(frame.decode(), RX)
    for _ in range(2):  # the first frame of an unsubscribed stream builds its handlers
        got = fast.parse_one(frame, RX)
        assert [type(x) for x in got] == [type(x) for x in want]
        assert repr(got) == repr(want)  # -0.0 vs 0.0, int vs float and the problem text
        for x in got:
            if isinstance(x, Book | BookDelta):
                assert all(type(v) is float for lv in x.bids + x.asks for v in lv)
                assert type(x.sequence) is int


def _typed_taken(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Record what each ``_parse_typed`` call returns (True: the frame took the typed path)."""
    taken: list[bool] = []
    real = BinanceAdapter._parse_typed

    def spy(self: BinanceAdapter, frame: bytes | str, received_at: float, out: list[Any]) -> bool:
        taken.append(real(self, frame, received_at, out))
        return taken[-1]

    monkeypatch.setattr(BinanceAdapter, "_parse_typed", spy)
    return taken


def test_depth_bytes_take_the_typed_path(monkeypatch: pytest.MonkeyPatch) -> None:
    taken = _typed_taken(monkeypatch)
    a = BinanceAdapter()
    a.subscribe([a.subscription("book", "BTC-USDT", "depth5")])
    frames = [DEPTH5, DEPTH_DIFF, DEPTH_DIFF, DEPTH10_100MS, DEPTH10_100MS]
    got = a.parse_many([f.encode() for f in frames], RX)
    # subscribed: typed at once; first seen: ordinary, then typed
    assert taken == [True, False, True, False, True]
    assert repr(got) == repr(BinanceAdapter().parse_many(frames, RX))
    d = got[2]
    assert isinstance(d, BookDelta)
    assert (d.symbol, d.timestamp, d.first_sequence, d.sequence) == (
        "NKN-USDT",
        1633998512568,
        499869753,
        499869754,
    )
    assert d.bids == ((0.3517, 4265.0),) and d.asks == ((0.3529, 10968.0),)
    assert not d.snapshot and d.raw is None


def test_typed_path_skips_other_frames(monkeypatch: pytest.MonkeyPatch) -> None:
    taken = _typed_taken(monkeypatch)
    a = BinanceAdapter()
    a.subscribe([a.subscription("book", "BTC-USDT", "depth5")])
    # trade and bookTicker frames never get as far as the typed attempt
    a.parse_many([TRADE.encode(), BOOK_TICKER.encode(), DEPTH5], RX)
    assert taken == []
    # str frames, keep_raw, minus signs and non-ASCII bytes take the ordinary path
    raw = BinanceAdapter(keep_raw=True)
    raw.subscribe([raw.subscription("book", "BTC-USDT", "depth5")])
    (book,) = raw.parse_one(DEPTH5.encode(), RX)
    assert isinstance(book, Book) and book.raw is not None
    negative = DEPTH5.replace('"7.31683000"', '"-0"').encode()
    (book,) = a.parse_one(negative, RX)
    assert isinstance(book, Book) and repr(book.bids[0][1]) == "-0.0"  # msgspec says 0.0
    bad_utf8 = DEPTH5.encode().replace(b'"bids"', b'"x":"\xff","bids"')
    (error,) = a.parse_one(bad_utf8, RX)
    assert isinstance(error, ParseError) and "invalid JSON" in error.problem
    assert taken == [False, False, False]
