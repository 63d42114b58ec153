"""One good frame of every channel of both exchanges, with the validation rule of each field.

Shaped like the real frames (``PROTOCOLS.md``), written here so the tests stay
self-contained.  ``FIELDS`` lists, per template, every field the adapter reads and the
rule function (``trio_feeds.protocol._rules``) that field must satisfy: the oracle the
rule tests and the fuzz test hold the adapters to.
"""

from __future__ import annotations

import copy
import functools
import math
from collections.abc import Callable
from typing import Any

import attrs
import orjson

from trio_feeds import Book, BookDelta, Candle, Quote, Ticker, Trade
from trio_feeds.protocol import Adapter, BinanceAdapter, OkxAdapter, ParseError
from trio_feeds.protocol import _rules as rules

Path = tuple[str | int, ...]
Checker = Callable[[str, Any], object]

T0 = 1_700_000_000_123


@attrs.frozen
class Template:
    name: str
    exchange: str
    channel: str  # the subscription: normalized channel ...
    stream: str  # ... and the exchange's stream
    frame: dict[str, Any]
    fields: tuple[tuple[Path, Checker], ...]

    def adapter(self, *, keep_raw: bool = False) -> Adapter:
        cls = BinanceAdapter if self.exchange == "binance" else OkxAdapter
        a = cls(keep_raw=keep_raw, only_subscribed=True)
        a.subscribe([a.subscription(self.channel, "BTC-USDT", self.stream)])
        return a

    def with_value(self, path: Path, value: Any) -> dict[str, Any]:
        frame = copy.deepcopy(self.frame)
        node: Any = frame
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value
        return frame


def _id(field: str, v: Any) -> object:
    return rules.trade_id(field, v, strings=False)


def _okx_id(field: str, v: Any) -> object:
    return rules.trade_id(field, v, strings=True)


def _okx_ts(field: str, v: Any) -> object:
    return rules.timestamp(field, v, strings=True)


def _okx_seq(field: str, v: Any) -> object:
    return None if v is None else rules.sequence(field, v, strings=True)


def _okx_crc(field: str, v: Any) -> object:
    return None if v is None else rules.checksum(field, v)


def _empty_or(check: Checker) -> Checker:
    def checker(field: str, v: Any) -> object:
        return 0.0 if v == "" and v.__class__ is str else check(field, v)

    return checker


def _side(field: str, v: Any) -> object:
    if v.__class__ is str and v in ("buy", "sell"):
        return v
    raise rules.BadValue(field, v, "buy or sell")


def _confirm(field: str, v: Any) -> object:
    if v.__class__ is str and v in ("0", "1"):
        return v
    raise rules.BadValue(field, v, '"0" or "1"')


def _text(field: str, v: Any) -> object:
    if v.__class__ is str:
        return v
    raise rules.BadValue(field, v, "a string")


def _pairs(field: str, v: Any) -> object:
    return rules.levels(field, v, pairs=True)


_BN_LEVELS = [["100.50000000", "1.25000000"], ["100.40000000", "0.00000000"]]
_BN_ASKS = [["100.60000000", "2.00000000"]]


def _bn(name: str, channel: str, stream: str, data: dict[str, Any], fields: Any) -> Template:
    frame = {"stream": f"btcusdt@{stream}", "data": data}
    return Template(
        name, "binance", channel, stream, frame, tuple((("data", *p), c) for p, c in fields)
    )


def _level_fields(key: str, rows: list[list[str]], pairs: bool) -> list[tuple[Path, Checker]]:
    whole: Checker = _pairs if pairs else rules.levels
    out: list[tuple[Path, Checker]] = [((key,), whole)]
    for i in range(len(rows)):
        out.append(((key, i), lambda f, v, p=pairs: rules.levels(f, [v], pairs=p)))
        out.append(((key, i, 0), rules.price))
        out.append(((key, i, 1), rules.size))
    return out


BINANCE = [
    _bn(
        "binance trade",
        "trade",
        "trade",
        {"e": "trade", "E": T0, "s": "BTCUSDT", "t": 12345, "p": "100.50000000"}
        | {"q": "0.25000000", "T": T0, "m": True, "M": True},
        [
            (("t",), _id),
            (("p",), rules.price),
            (("q",), rules.amount),
            (("T",), rules.timestamp),
            (("m",), rules.flag),
        ],
    ),
    _bn(
        "binance aggTrade",
        "trade",
        "aggTrade",
        {"e": "aggTrade", "E": T0, "s": "BTCUSDT", "a": 777, "p": "100.5", "q": "1"}
        | {"f": 1, "l": 2, "T": T0, "m": False, "M": True},
        [
            (("a",), _id),
            (("p",), rules.price),
            (("q",), rules.amount),
            (("T",), rules.timestamp),
            (("m",), rules.flag),
        ],
    ),
    _bn(
        "binance bookTicker",
        "quote",
        "bookTicker",
        {"u": 400900217, "s": "BTCUSDT", "b": "100.50000000", "B": "31.21000000"}
        | {"a": "100.60000000", "A": "40.66000000"},
        [
            (("u",), rules.update_id),
            (("b",), rules.best),
            (("B",), rules.size),
            (("a",), rules.best),
            (("A",), rules.size),
        ],
    ),
    _bn(
        "binance ticker",
        "ticker",
        "ticker",
        {"e": "24hrTicker", "E": T0, "s": "BTCUSDT", "p": "1.5", "P": "1.2", "w": "100.1"}
        | {"x": "99", "c": "100.5", "Q": "0.1", "b": "100.4", "B": "2", "a": "100.6"}
        | {"A": "3", "o": "99.0", "h": "101.0", "l": "98.5", "v": "12345.6", "q": "1234567.8"}
        | {"O": 0, "C": T0, "F": 1, "L": 2, "n": 2},
        [
            (("E",), rules.timestamp),
            *[((k,), rules.best) for k in "cbaohl"],
            *[((k,), rules.size) for k in "BAvq"],
        ],
    ),
    _bn(
        "binance depth diff",
        "book",
        "depth@100ms",
        {"e": "depthUpdate", "E": T0, "s": "BTCUSDT", "U": 157, "u": 160}
        | {"b": _BN_LEVELS, "a": _BN_ASKS},
        [
            (("E",), rules.timestamp),
            (("U",), rules.update_id),
            (("u",), rules.update_id),
            *_level_fields("b", _BN_LEVELS, True),
            *_level_fields("a", _BN_ASKS, True),
        ],
    ),
    _bn(
        "binance partial depth",
        "book",
        "depth20@100ms",
        {"lastUpdateId": 160, "bids": _BN_LEVELS, "asks": _BN_ASKS},
        [
            (("lastUpdateId",), rules.update_id),
            *_level_fields("bids", _BN_LEVELS, True),
            *_level_fields("asks", _BN_ASKS, True),
        ],
    ),
    _bn(
        "binance kline",
        "candle",
        "kline_1m",
        {
            "e": "kline",
            "E": T0,
            "s": "BTCUSDT",
            "k": {"t": T0 - 123, "T": T0 + 59876, "s": "BTCUSDT", "i": "1m", "f": 1, "L": 2}
            | {"o": "100.1", "c": "100.2", "h": "100.9", "l": "99.5", "v": "10.5", "n": 2}
            | {"x": False, "q": "1052.1", "V": "5", "Q": "500", "B": "0"},
        },
        [
            (("E",), rules.timestamp),
            (("k", "t"), rules.timestamp),
            (("k", "i"), _text),
            *[(("k", c), rules.price) for c in "ohlc"],
            (("k", "v"), rules.size),
            (("k", "q"), rules.size),
            (("k", "x"), rules.flag),
            (("k", "n"), rules.count),
        ],
    ),
]

_OKX_BIDS = [["100.5", "1.25", "0", "2"], ["100.4", "0", "0", "0"]]
_OKX_ASKS = [["100.6", "2", "0", "1"]]


def _okx(
    name: str,
    channel: str,
    stream: str,
    item: Any,
    fields: Any,
    action: str | None = None,
) -> Template:
    frame: dict[str, Any] = {"arg": {"channel": stream, "instId": "BTC-USDT"}}
    if action is not None:
        frame["action"] = action
    frame["data"] = [item]
    return Template(
        name, "okx", channel, stream, frame, tuple((("data", 0, *p), c) for p, c in fields)
    )


def _okx_levels(pairs: bool = False) -> list[tuple[Path, Checker]]:
    return [*_level_fields("bids", _OKX_BIDS, pairs), *_level_fields("asks", _OKX_ASKS, pairs)]


_BOOK_ITEM = {"asks": _OKX_ASKS, "bids": _OKX_BIDS, "ts": str(T0), "checksum": 0}
_BOOK_FIELDS = [
    (("ts",), _okx_ts),
    (("seqId",), _okx_seq),
    (("prevSeqId",), _okx_seq),
    (("checksum",), _okx_crc),
    *_okx_levels(),
]

OKX = [
    _okx(
        "okx trades",
        "trade",
        "trades",
        {"instId": "BTC-USDT", "tradeId": "130639474", "px": "42219.9", "sz": "0.12"}
        | {"side": "buy", "ts": str(T0), "count": "3", "source": "0", "seqId": 1234},
        [
            (("tradeId",), _okx_id),
            (("px",), rules.price),
            (("sz",), rules.amount),
            (("side",), _side),
            (("ts",), _okx_ts),
        ],
    ),
    _okx(
        "okx tickers",
        "ticker",
        "tickers",
        {"instType": "SPOT", "instId": "BTC-USDT", "last": "30236", "lastSz": "0.0002"}
        | {"askPx": "30228.7", "askSz": "1.55", "bidPx": "30228.6", "bidSz": "0.23"}
        | {"open24h": "29700.4", "high24h": "31073", "low24h": "28020.3", "sodUtc0": "1"}
        | {"sodUtc8": "1", "volCcy24h": "525802090.6", "vol24h": "17602.1", "ts": str(T0)},
        [
            (("ts",), _okx_ts),
            *[((k,), _empty_or(rules.best)) for k in ("last", "bidPx", "askPx")],
            *[((k,), _empty_or(rules.best)) for k in ("open24h", "high24h", "low24h")],
            (("vol24h",), _empty_or(rules.size)),
            (("volCcy24h",), _empty_or(rules.size)),
            (("bidSz",), rules.optional_size),
            (("askSz",), rules.optional_size),
        ],
    ),
    _okx(
        "okx bbo-tbt",
        "quote",
        "bbo-tbt",
        {"asks": _OKX_ASKS, "bids": _OKX_BIDS[:1], "ts": str(T0), "seqId": 363996337},
        [
            (("ts",), _okx_ts),
            (("seqId",), _okx_seq),
            *_level_fields("bids", _OKX_BIDS[:1], False),
            *_level_fields("asks", _OKX_ASKS, False),
        ],
    ),
    _okx(
        "okx books5",
        "book",
        "books5",
        {"asks": _OKX_ASKS, "bids": _OKX_BIDS, "instId": "BTC-USDT", "ts": str(T0), "seqId": 5},
        [(("ts",), _okx_ts), (("seqId",), _okx_seq), *_okx_levels()],
    ),
    _okx(
        "okx books snapshot",
        "book",
        "books",
        _BOOK_ITEM | {"prevSeqId": -1, "seqId": 123456},
        _BOOK_FIELDS,
        action="snapshot",
    ),
    _okx(
        "okx books update",
        "book",
        "books",
        _BOOK_ITEM | {"prevSeqId": 123456, "seqId": 123459},
        _BOOK_FIELDS,
        action="update",
    ),
    _okx(
        "okx candle1m",
        "candle",
        "candle1m",
        [str(T0 - 123), "16837.25", "16840", "16830.5", "16838", "0.0438", "737.47", "737.4", "1"],
        [
            ((0,), _okx_ts),
            *[((i,), rules.price) for i in (1, 2, 3, 4)],
            ((5,), rules.size),
            ((7,), rules.size),
            ((8,), _confirm),
        ],
    ),
]

TEMPLATES = BINANCE + OKX
FIELDS = [(t, path, checker) for t in TEMPLATES for path, checker in t.fields]
"""Every (template, field, rule) there is."""


def encode(frame: dict[str, Any]) -> bytes:
    """JSON bytes; Python's json for integers beyond 64 bits (orjson refuses them)."""
    try:
        return orjson.dumps(frame)
    except TypeError:
        import json

        return json.dumps(frame, separators=(",", ":")).encode()


RECORDS = (Trade, Ticker, Quote, Book, BookDelta, Candle)


def check_record(r: Any) -> None:
    """Every number finite and of the declared type; every level a (price > 0, size >= 0)."""
    assert isinstance(r, RECORDS), r
    assert type(r.exchange) is str and type(r.symbol) is str
    assert type(r.timestamp) is int and 0 <= r.timestamp < rules.MAX_TS
    assert type(r.received_at) is float
    for name in attrs.fields_dict(type(r)):
        value = getattr(r, name)
        if type(value) is float:
            assert math.isfinite(value) and value >= 0.0, (name, r)
    if isinstance(r, Trade):
        assert r.price > 0 and r.amount > 0 and r.side in ("buy", "sell")
        assert type(r.trade_id) is str and r.trade_id.isascii() and r.trade_id.isdigit()
    if isinstance(r, Book | BookDelta):
        for price, size in r.bids + r.asks:
            assert type(price) is float and type(size) is float
            assert 0 < price < math.inf and 0 <= size < math.inf
        assert r.sequence is None or type(r.sequence) is int
    if isinstance(r, Quote):
        assert r.sequence is None or type(r.sequence) is int
    if isinstance(r, Candle):
        assert min(r.open, r.high, r.low, r.close) > 0
        assert type(r.start) is int and type(r.closed) is bool


def verdict(out: list[Any]) -> bool:
    """True if a frame gave records (all well-formed), False if exactly one ParseError."""
    errors = [x for x in out if isinstance(x, ParseError)]
    if errors:
        assert len(out) == 1, out  # one error event, and no record beside it
        assert errors[0].problem
        return False
    assert out, "a frame of a subscribed stream gave nothing"
    for r in out:
        check_record(r)
    return True


@functools.cache
def field_name(path: Path) -> str:
    return ".".join(map(str, path))
