"""OKX v5 public WebSocket protocol, sans-I/O.

Facts this module relies on (``PROTOCOLS.md`` §3):

* Two paths: ``/ws/v5/business`` carries ``candle*`` and ``trades-all``;
  ``/ws/v5/public`` everything else here.
* Requests ``{"id","op","args":[{"channel","instId"},…]}``; the server acks
  **once per arg** (``connId`` and the echoed ``id`` may be absent, as in 2022);
  errors carry **no** ``arg`` (a 60018 message names ``channel:X,instId:Y``).
* Keepalive is the text ``ping`` / ``pong``.  ``notice`` 64008 announces a
  close for an upgrade.
* Pushes ``{"arg":{"channel","instId"},"action"?,"data":[…]}``; numbers are
  JSON strings, times ms strings, ``seqId``/``prevSeqId``/``checksum`` ints.
* ``books`` ``checksum`` is ``0`` since 2026-06-23: the original level
  strings are only kept (``BookDelta.text``) when it is non-zero.

Parsing never raises: a frame (or one ``data`` item) that cannot be used
becomes a :class:`~trio_feeds.protocol.ParseError` and parsing goes on.

Speed notes.  ``float(str)`` is the dominant cost of a book frame.  Book-shaped
pushes (``books*``, ``bbo-tbt``) arriving as ``bytes`` are decoded by
:mod:`msgspec` straight into typed structs whose level prices and sizes are
floats (``strict=False`` converts the JSON strings in C, correctly rounded,
so bit-identical to ``float()``; NaN and infinities are refused by a range
constraint).  That is about 2.5x faster than ``orjson`` + ``float()`` per
level.  Anything that does not fit the typed shape (a non-zero checksum that
needs the original strings, ``keep_raw``, an odd field) takes the ordinary
``orjson`` path, which also names what was wrong.
"""

from __future__ import annotations

import functools
import re
import zlib
from collections.abc import Callable, Iterable, Sequence
from typing import Any, ClassVar, Final, TypeAlias

import msgspec
import orjson

from trio_feeds.core.accel import speedups
from trio_feeds.core.errors import ConfigError, ProtocolError
from trio_feeds.core.fast import new_book as _new_book
from trio_feeds.core.fast import new_candle as _new_candle
from trio_feeds.core.fast import new_delta as _new_delta
from trio_feeds.core.fast import new_quote as _new_quote
from trio_feeds.core.fast import new_ticker as _new_ticker
from trio_feeds.core.fast import new_trade as _new_trade
from trio_feeds.core.records import BookDelta, Levels
from trio_feeds.core.symbols import to_okx
from trio_feeds.protocol import _rules as rules
from trio_feeds.protocol._base import Adapter, normalize_channel
from trio_feeds.protocol._events import (
    ExchangeError,
    ParseError,
    Pong,
    Rejected,
    ServerShutdown,
    Subscribed,
    Unsubscribed,
    excerpt,
)
from trio_feeds.protocol._rules import numbers, parse_levels, parse_sides
from trio_feeds.protocol._subscription import Subscription
from trio_feeds.protocol._typed import Int64, Price, Size, reads_as_strings_do

__all__ = [
    "BUSINESS_PATH",
    "PUBLIC_PATH",
    "OkxAdapter",
    "book_checksum",
    "parse_rest_books",
    "rest_books_path",
]

_EXCHANGE: Final = "okx"
PUBLIC_PATH: Final = "/ws/v5/public"
BUSINESS_PATH: Final = "/ws/v5/business"

#: OKX candlestick intervals (channel ``"candle" + interval``); case matters (1m ≠ 1M).
CANDLE_INTERVALS: Final[tuple[str, ...]] = (
    "1m", "1s", "3m", "5m", "15m", "30m", "1H", "2H", "4H", "6H", "12H",
    "1D", "2D", "3D", "5D", "1W", "1M", "3M",
    "6Hutc", "12Hutc", "1Dutc", "2Dutc", "3Dutc", "5Dutc", "1Wutc", "1Mutc", "3Mutc",
)  # fmt: skip

#: Normalized channel → the OKX channels (``stream``) that serve it; the first is the default.
STREAMS: Final[dict[str, tuple[str, ...]]] = {
    "trade": ("trades", "trades-all"),
    "ticker": ("tickers",),
    "quote": ("bbo-tbt",),
    "book": ("books", "books5", "bbo-tbt"),
    # the default is candle1m (1-minute candles), then every other interval
    "candle": ("candle1m", *(f"candle{i}" for i in CANDLE_INTERVALS if i != "1m")),
}

TextLevels: TypeAlias = tuple[tuple[str, str], ...]
_Key: TypeAlias = tuple[str, str]
"""``(channel, instId)``: one OKX subscription arg."""
_Handler: TypeAlias = Callable[[Any, str, dict[str, Any], float, list[Any]], None]

_loads = orjson.loads
_set = object.__setattr__  # to attach ``raw`` to a frozen record right after building it
_SIDES: Final[dict[str, Any]] = {"buy": "buy", "sell": "sell"}


class _Invalid(Exception):
    """Internal: a hot-path check of the validation rule failed; :func:`_check_item`
    names the field."""


_INF: Final = rules.INF
_MAX_TS: Final = rules.MAX_TS
_MAX_ID: Final = rules.MAX_ID
_MAX_DIGITS: Final = rules.MAX_ID_DIGITS
# "Wrong URL or channel:tickers,instId:NMR-USDT doesn't exist…" (60018)
_NAMED_ARG = re.compile(r"channel:\s*([A-Za-z0-9_-]+)\s*,\s*instId:\s*([A-Za-z0-9_-]+)")
_MAX_PENDING = 1000
#: the arg at the start of a push, even a cut one
_ARG_PREFIX = re.compile(
    rb'\s*\{\s*"arg"\s*:\s*\{\s*"channel"\s*:\s*"([A-Za-z0-9_-]{1,40})"\s*,'
    rb'\s*"instId"\s*:\s*"([A-Za-z0-9_-]{1,60})"'
)


# --------------------------------------------------------------------------- level helpers


def _levels(levels: Any, field: str = "levels") -> Levels:
    """``[["px","sz","0","n"], …]`` → ``((px, sz), …)`` floats under the validation rule."""
    return parse_levels(field, levels)


def _sides(bids: Any, asks: Any) -> tuple[Levels, Levels]:
    """Both sides of a book push in one orjson call (the common case), else side by side."""
    return parse_sides(bids, asks, "bids", "asks")


# ----------------------------------------------------------------- typed book pushes
# Book-shaped pushes decoded by msgspec into these structs: level numbers become
# floats in C, checked against the validation rule by the constrained types.  Anything
# they do not describe raises msgspec.DecodeError and the frame takes the ordinary path.

_BOOK_TAG: Final = b'"asks":['


class _Level(msgspec.Struct, array_like=True, gc=False):
    """``["px","sz",…]``: the elements after price and size are ignored."""

    price: Price
    size: Size


class _BookItem(msgspec.Struct, gc=False):
    asks: list[_Level]
    bids: list[_Level]
    ts: str
    # only an int (or a str, read as the ordinary path reads it) is used: a float sends
    # the frame down the ordinary path, which refuses it
    seqId: Int64 | float | str | None = None
    prevSeqId: Int64 | float | str | None = None
    checksum: Int64 | float | str | None = None


class _BookArg(msgspec.Struct, gc=False):
    channel: str
    instId: str


class _BookPush(msgspec.Struct, gc=False):
    arg: _BookArg
    data: list[_BookItem]
    action: str | None = None


_decode_book_push: Final = msgspec.json.Decoder(_BookPush, strict=False).decode


def _py_pairs(levels: list[_Level]) -> Levels:
    return tuple([(lv.price, lv.size) for lv in levels])


if speedups is not None:
    # the C twin reads the two slots of each struct directly
    _pairs: Callable[[list[_Level]], Levels] = functools.partial(
        speedups.pairs, _Level.price, _Level.size
    )
else:
    _pairs = _py_pairs


def _text_levels(levels: Any) -> TextLevels:
    """The exchange's own ``(price, size)`` strings, for the checksum."""
    text = tuple([(lv[0], lv[1]) for lv in levels])
    for p, s in text:
        if p.__class__ is not str or s.__class__ is not str:
            raise TypeError(f"level {[p, s]!r}: price and size must be strings")
    return text


def _snapshot_text(bids: Any, asks: Any) -> tuple[TextLevels, TextLevels] | None:
    """A checksum-0 snapshot's texts, for a later non-zero checksum; None when its levels
    are not strings (JSON numbers: nothing to verify over, and no reason to refuse it)."""
    try:
        return _text_levels(bids), _text_levels(asks)
    except TypeError:
        return None


def _ts(value: Any) -> int:
    """An OKX time (``"1597026383085"``) under the rule; raises naming the field ``ts``."""
    t = int(value) if value.__class__ is str else value
    if t.__class__ is int and 0 <= t < _MAX_TS:
        return t
    raise rules.BadValue("ts", value, rules.TIMESTAMP)


def _seq(value: Any, field: str) -> int | None:
    """An optional OKX ``seqId``/``prevSeqId`` under the rule."""
    if value is None:
        return None
    if value.__class__ is int and -1 <= value < _MAX_ID:
        return value
    return rules.sequence(field, value, strings=True)


def _crc(value: Any) -> int | None:
    """An optional OKX ``checksum`` under the rule (a signed 32-bit integer)."""
    if value is None:
        return None
    if value.__class__ is int and rules.MIN_CRC <= value < rules.MAX_CRC:
        return value
    return rules.checksum("checksum", value)


def _describe(exc: Exception) -> str:
    if isinstance(exc, rules.BadValue):
        return str(exc)
    if isinstance(exc, KeyError):
        return f"missing field {exc.args[0]!r}" if exc.args else "missing field"
    if isinstance(exc, IndexError):
        return f"too few elements ({exc})"
    return f"{type(exc).__name__}: {exc}"


# --------------------------------------------------------------------------- diagnosis
# The hot paths apply the rule inline and raise whatever fails; these schemas, through
# ``_rules``, name the field (slow, error path only).


def _side(field: str, value: Any) -> str:
    if value == "buy" or value == "sell":
        return value  # type: ignore[no-any-return]
    raise rules.BadValue(field, value, '"buy" or "sell"')


def _confirm(field: str, value: Any) -> bool:
    if value == "0" or value == "1":
        return value == "1"  # type: ignore[no-any-return]
    raise rules.BadValue(field, value, '"0" or "1"')


def _best_or_none(field: str, value: Any) -> float:
    """A ticker price: ``""`` (none) or a price >= 0."""
    return 0.0 if value == "" else rules.best(field, value)


def _size_or_none(field: str, value: Any) -> float:
    return 0.0 if value == "" else rules.size(field, value)


def _ts_check(field: str, value: Any) -> int:
    return rules.timestamp(field, value, strings=True)


_Checker: TypeAlias = Callable[[str, Any], object]
_TRADE_ID = functools.partial(rules.trade_id, strings=True)
_SCHEMAS: Final[dict[str, tuple[tuple[str | int, _Checker, bool], ...]]] = {
    # (key, checker, required)
    "trades": (
        ("ts", _ts_check, True),
        ("px", rules.price, True),
        ("sz", rules.amount, True),
        ("side", _side, True),
        ("tradeId", _TRADE_ID, True),
    ),
    "tickers": (
        ("ts", _ts_check, True),
        *[(k, _best_or_none, True) for k in ("last", "bidPx", "askPx")],
        *[(k, _best_or_none, True) for k in ("open24h", "high24h", "low24h")],
        ("vol24h", _size_or_none, True),
        ("volCcy24h", _size_or_none, True),
        ("bidSz", rules.optional_size, False),
        ("askSz", rules.optional_size, False),
    ),
    "book": (
        ("ts", _ts_check, True),
        ("bids", rules.levels, True),
        ("asks", rules.levels, True),
        ("seqId", functools.partial(rules.sequence, strings=True), False),
        ("prevSeqId", functools.partial(rules.sequence, strings=True), False),
        ("checksum", rules.checksum, False),
    ),
    "candle": (
        (0, _ts_check, True),
        *[(i, rules.price, True) for i in (1, 2, 3, 4)],
        (5, rules.size, True),
        (7, rules.size, False),
        (8, _confirm, False),
    ),
}
_CANDLE_FIELDS: Final = ("ts", "o", "h", "l", "c", "vol", "volCcy", "volCcyQuote", "confirm")
_SCHEMA_OF: Final[dict[str, str]] = {
    "trades": "trades",
    "trades-all": "trades",
    "tickers": "tickers",
}


def _check_item(channel: str, item: Any) -> str | None:
    """The first field of one ``data`` item breaking the rule, as a message (or None)."""
    schema = _SCHEMA_OF.get(channel) or ("candle" if channel.startswith("candle") else "book")
    if schema == "candle":
        if item.__class__ is not list:
            return None
        present: Callable[[str | int], bool] = lambda key: key < len(item)  # type: ignore[operator]  # noqa: E731
    elif item.__class__ is not dict:
        return f"a data item is {rules.show(item)}, expected an object"
    else:
        present = item.__contains__
    for key, checker, required in _SCHEMAS[schema]:
        if not present(key):
            if required:
                return f"field {key!r} is missing"
            continue
        try:
            name = key if isinstance(key, str) else f"{_CANDLE_FIELDS[key]} ([{key}])"
            checker(name, item[key])
        except rules.BadValue as exc:
            return str(exc)
    return None


def book_checksum(bids_text: Sequence[Sequence[str]], asks_text: Sequence[Sequence[str]]) -> int:
    """OKX's legacy book CRC32 over the best 25 bids (descending) and asks (ascending).

    ``"bidpx:bidsz:askpx:asksz:…"`` interleaved level by level (a side that
    runs out is skipped), CRC-32, read as a signed 32-bit int.  Use the
    exchange's strings verbatim (``"8477"``, not ``"8477.0"``).

    >>> book_checksum([("3366.1", "7"), ("3366", "6")], [("3366.8", "9"), ("3368", "8")])
    -1881014294
    """
    parts: list[str] = []
    bids = bids_text[:25]
    asks = asks_text[:25]
    for i in range(max(len(bids), len(asks))):
        if i < len(bids):
            parts.append(f"{bids[i][0]}:{bids[i][1]}")
        if i < len(asks):
            parts.append(f"{asks[i][0]}:{asks[i][1]}")
    crc = zlib.crc32(":".join(parts).encode())
    return crc - 0x1_0000_0000 if crc & 0x8000_0000 else crc


# --------------------------------------------------------------------------- REST snapshot


def rest_books_path(inst_id: str, sz: int = 400) -> str:
    """Path and query of the REST book snapshot, ``GET /api/v5/market/books``.

    >>> rest_books_path("btc-usdt")
    '/api/v5/market/books?instId=BTC-USDT&sz=400'
    """
    if sz.__class__ is not int or not 1 <= sz <= 400:
        raise ConfigError(f"sz={sz!r}: the OKX REST book depth must be an int from 1 to 400")
    return f"/api/v5/market/books?instId={to_okx(inst_id)}&sz={sz}"


def parse_rest_books(body: bytes | str, symbol: str, received_at: float) -> BookDelta:
    """A ``GET /api/v5/market/books`` response → a snapshot ``BookDelta``.

    ``sequence`` is the snapshot's ``seqId``; ``text`` keeps the level strings
    (for a book that later has to verify non-zero checksums).  Raises
    :class:`~trio_feeds.ProtocolError` on an unusable body or ``code != "0"``.
    """
    inst = to_okx(symbol)
    try:
        msg = _loads(body)
    except orjson.JSONDecodeError as exc:
        raise ProtocolError(f"okx REST books {inst}: not JSON ({exc}): {excerpt(body)}") from None
    if not isinstance(msg, dict):
        raise ProtocolError(f"okx REST books {inst}: expected a JSON object: {excerpt(body)}")
    code = msg.get("code")
    if str(code) != "0":
        raise ProtocolError(f"okx REST books {inst}: error code {code!r}: {msg.get('msg')!r}")
    data = msg.get("data")
    if not isinstance(data, list) or not data or not isinstance(data[0], dict):
        raise ProtocolError(f"okx REST books {inst}: 'data' is missing or empty: {excerpt(body)}")
    d = data[0]
    try:
        bids = d["bids"]
        asks = d["asks"]
        bid_levels, ask_levels = _sides(bids, asks)
        return _new_delta(
            _EXCHANGE,
            inst,
            _ts(d["ts"]),
            received_at,
            bid_levels,
            ask_levels,
            True,
            _seq(d.get("seqId"), "seqId"),
            None,
            None,
            None,
            (_text_levels(bids), _text_levels(asks)),
        )
    except Exception as exc:
        raise ProtocolError(f"okx REST books {inst}: {_describe(exc)}: {excerpt(body)}") from exc


# --------------------------------------------------------------------------- adapter


class _Request:
    """An unanswered subscribe/unsubscribe request."""

    __slots__ = ("args", "id", "op", "subscriptions", "unanswered")

    def __init__(
        self, request_id: str, op: str, args: dict[_Key, tuple[Subscription, ...]]
    ) -> None:
        self.id = request_id
        self.op = op
        self.args = args
        self.subscriptions = tuple(s for subs in args.values() for s in subs)
        self.unanswered = set(args)


class OkxAdapter(Adapter):
    """Sans-I/O OKX v5 public market data (one instance per connection).

    >>> a = OkxAdapter()
    >>> sub = a.subscription("book", "btc-usdt")
    >>> sub.topic, a.endpoint(sub)
    ('books:BTC-USDT', '/ws/v5/public')
    >>> a.subscribe([sub])
    ['{"id":"1","op":"subscribe","args":[{"channel":"books","instId":"BTC-USDT"}]}']
    """

    name: ClassVar[str] = "okx"
    default_url: ClassVar[str] = "wss://ws.okx.com:8443"
    default_rest_url: ClassVar[str] = "https://openapi.okx.com"
    max_streams_per_connection: ClassVar[int] = 240
    #: OKX advises fewer than 30 deep-book channels per connection.
    MAX_BOOK_CHANNELS_PER_CONNECTION: ClassVar[int] = 30
    #: args per subscribe/unsubscribe request.
    MAX_ARGS_PER_REQUEST: ClassVar[int] = 100
    #: a request must stay below this many bytes (larger ones are closed with 1009).
    MAX_REQUEST_BYTES: ClassVar[int] = 64 * 1024

    rest_books_path = staticmethod(rest_books_path)
    parse_rest_books = staticmethod(parse_rest_books)
    book_checksum = staticmethod(book_checksum)

    def __init__(self, *, keep_raw: bool = False, only_subscribed: bool = False) -> None:
        super().__init__(keep_raw=keep_raw, only_subscribed=only_subscribed)
        self._next_id = 0
        self._pending: dict[str, _Request] = {}
        self._wanted: dict[_Key, tuple[Subscription, ...]] = {}
        #: channel -> the instIds wanted on it (``_wanted`` by channel, for the hot path)
        self._insts: dict[str, set[str]] = {}
        self._bbo_as_book: set[str] = set()
        self._bbo_as_quote: set[str] = set()
        handlers: dict[str, _Handler] = {
            "trades": self._on_trades,
            "trades-all": self._on_trades,
            "tickers": self._on_tickers,
            "bbo-tbt": self._on_bbo,
            "books5": self._on_books5,
            "books": self._on_books,
            "books-l2-tbt": self._on_books,
            "books50-l2-tbt": self._on_books,
            "books-elp": self._on_books,
        }
        for stream in STREAMS["candle"]:
            handlers[stream] = self._on_candle
        self._handlers = handlers
        typed: dict[str, Callable[[_BookPush, float, list[Any]], bool]] = {
            "bbo-tbt": self._typed_bbo,
            "books5": self._typed_books5,
            "books": self._typed_books,
            "books-l2-tbt": self._typed_books,
            "books50-l2-tbt": self._typed_books,
            "books-elp": self._typed_books,
        }
        self._typed = typed

    # -- subscriptions -------------------------------------------------------------------
    def subscription(self, channel: str, symbol: str, stream: str | None = None) -> Subscription:
        kind = normalize_channel(channel)
        allowed = STREAMS[kind]
        if stream is None:
            stream = allowed[0]
        elif stream not in allowed:
            raise ConfigError(
                f"okx stream {stream!r} cannot serve channel {kind!r}; "
                f"choose one of {', '.join(allowed)} (names are case-sensitive)"
            )
        inst = to_okx(symbol)
        return Subscription(_EXCHANGE, kind, inst, stream, f"{stream}:{inst}")

    def endpoint(self, subscription: Subscription) -> str:
        stream = subscription.stream
        return (
            BUSINESS_PATH if stream.startswith("candle") or stream == "trades-all" else PUBLIC_PATH
        )

    def subscribe(self, subscriptions: Sequence[Subscription]) -> list[str]:
        frames = self._requests("subscribe", subscriptions)
        for sub in subscriptions:
            self._want(sub)
        return frames

    def unsubscribe(self, subscriptions: Sequence[Subscription]) -> list[str]:
        frames = self._requests("unsubscribe", subscriptions)
        for sub in subscriptions:
            self._unwant(sub)
        return frames

    def ping(self) -> str:
        return "ping"

    def _key(self, sub: Subscription) -> _Key:
        if not isinstance(sub, Subscription) or sub.exchange != _EXCHANGE:
            raise ConfigError(f"{sub!r} is not an okx Subscription")
        return (sub.stream, to_okx(sub.symbol))

    def _requests(self, op: str, subscriptions: Iterable[Subscription]) -> list[str]:
        groups: dict[_Key, tuple[Subscription, ...]] = {}
        for sub in subscriptions:
            key = self._key(sub)
            have = groups.get(key, ())
            if sub not in have:
                groups[key] = (*have, sub)
        frames: list[str] = []
        batch: dict[_Key, tuple[Subscription, ...]] = {}
        # '{"id":"<32>","op":"unsubscribe","args":[]}' plus one comma per arg, conservatively.
        overhead = 64
        size = overhead
        for key, subs in groups.items():
            arg_size = len(orjson.dumps({"channel": key[0], "instId": key[1]})) + 1
            if batch and (
                len(batch) >= self.MAX_ARGS_PER_REQUEST or size + arg_size >= self.MAX_REQUEST_BYTES
            ):
                frames.append(self._request(op, batch))
                batch = {}
                size = overhead
            batch[key] = subs
            size += arg_size
        if batch:
            frames.append(self._request(op, batch))
        return frames

    def _request(self, op: str, args: dict[_Key, tuple[Subscription, ...]]) -> str:
        self._next_id += 1
        request_id = str(self._next_id)
        if len(self._pending) >= _MAX_PENDING:  # never answered: forget the oldest
            del self._pending[next(iter(self._pending))]
        self._pending[request_id] = _Request(request_id, op, args)
        frame = orjson.dumps(
            {
                "id": request_id,
                "op": op,
                "args": [{"channel": c, "instId": i} for c, i in args],
            }
        ).decode()
        assert len(frame) < self.MAX_REQUEST_BYTES
        return frame

    def _want(self, sub: Subscription) -> None:
        key = self._key(sub)
        have = self._wanted.get(key, ())
        if sub not in have:
            self._wanted[key] = (*have, sub)
        self._insts.setdefault(key[0], set()).add(key[1])
        if sub.stream == "bbo-tbt":
            (self._bbo_as_book if sub.channel == "book" else self._bbo_as_quote).add(key[1])

    def _unwant(self, sub: Subscription) -> None:
        key = self._key(sub)
        left = tuple(s for s in self._wanted.get(key, ()) if s != sub)
        if left:
            self._wanted[key] = left
        else:
            self._wanted.pop(key, None)
            insts = self._insts.get(key[0])
            if insts is not None:
                insts.discard(key[1])
        if sub.stream == "bbo-tbt":
            roles = {s.channel for s in left}
            if "book" not in roles:
                self._bbo_as_book.discard(key[1])
            if not roles - {"book"}:
                self._bbo_as_quote.discard(key[1])

    # -- receiving -----------------------------------------------------------------------
    def parse(self, frame: bytes | str, received_at: float, out: list[Any]) -> None:
        mark = len(out)
        if (
            frame.__class__ is bytes
            and _BOOK_TAG in frame
            and not self.keep_raw
            and reads_as_strings_do(frame)
        ):
            # book-shaped pushes: msgspec reads the level numbers as floats in C
            try:
                push = _decode_book_push(frame)
                arg = push.arg
                if self.only_subscribed and arg.instId not in self._insts.get(arg.channel, ()):
                    self._drop_unsolicited(f"{arg.channel}:{arg.instId}")
                    return
                typed = self._typed.get(arg.channel)
                if typed is not None and typed(push, received_at, out):
                    return
            except Exception:
                pass
            del out[mark:]
        try:
            msg = _loads(frame)
            arg = msg["arg"]
            inst = arg["instId"]
            data = msg["data"]
            if inst.__class__ is str and data.__class__ is list:
                channel = arg["channel"]
                if self.only_subscribed and inst not in self._insts.get(channel, ()):
                    if channel.__class__ is str:
                        self._drop_unsolicited(f"{channel}:{inst}")
                        return
                else:
                    self._handlers[channel](data, inst, msg, received_at, out)
                    return
        except Exception:
            del out[mark:]
        # Control frames, pongs and bad frames: the careful path, item by item.
        self._parse_slow(frame, received_at, out)

    def _parse_slow(self, frame: bytes | str, received_at: float, out: list[Any]) -> None:
        try:
            if frame == "pong" or frame == b"pong":
                out.append(Pong(received_at))
                return
            try:
                msg = _loads(frame)
            except orjson.JSONDecodeError as exc:
                # a cut frame's start may still name its subscription
                raw = frame.encode() if isinstance(frame, str) else frame
                found = _ARG_PREFIX.match(raw[:200]) if isinstance(raw, bytes) else None
                stream = symbol = None
                if found and found[2].decode() in self._insts.get(found[1].decode(), ()):
                    stream, symbol = found[1].decode(), found[2].decode()
                problem = f"okx: not JSON ({exc})"
                out.append(ParseError(problem, excerpt(frame), stream, symbol))
                return
            if not isinstance(msg, dict):
                problem = f"okx: expected a JSON object, got {type(msg).__name__}"
                out.append(ParseError(problem, excerpt(frame)))
                return
            if "event" in msg:
                self._on_event(msg, frame, received_at, out)
                return
            arg = msg.get("arg")
            channel = arg.get("channel") if isinstance(arg, dict) else None
            inst = arg.get("instId") if isinstance(arg, dict) else None
            if not isinstance(channel, str) or not isinstance(inst, str):
                problem = "okx: no 'arg' with string 'channel' and 'instId', and no 'event'"
                out.append(ParseError(problem, excerpt(frame)))
                return
            subscribed = inst in self._insts.get(channel, ())
            if self.only_subscribed and not subscribed:
                self._drop_unsolicited(f"{channel}:{inst}")
                return
            handler = self._handlers.get(channel)
            if handler is None:
                problem = f"okx: unknown channel {channel!r} (instId {inst!r})"
                out.append(ParseError(problem, excerpt(frame)))
                return
            # a refused item of a subscribed book names it: the local book must resync
            stream, symbol = (channel, inst) if subscribed else (None, None)
            data = msg.get("data")
            if not isinstance(data, list):
                problem = f"okx {channel} {inst}: 'data' is missing or not a list"
                out.append(ParseError(problem, excerpt(frame), stream, symbol))
                return
            for i, item in enumerate(data):
                mark = len(out)
                try:
                    handler((item,), inst, msg, received_at, out)
                except Exception as exc:
                    del out[mark:]
                    named = None if isinstance(exc, rules.BadValue) else _check_item(channel, item)
                    problem = f"okx {channel} {inst}: data[{i}]: {named or _describe(exc)}"
                    out.append(ParseError(problem, excerpt(frame), stream, symbol))
        except Exception as exc:  # pragma: no cover - last resort, parse never raises
            out.append(ParseError(f"okx: {_describe(exc)}", excerpt(frame)))

    # -- control events ------------------------------------------------------------------
    def _on_event(
        self, msg: dict[str, Any], frame: bytes | str, received_at: float, out: list[Any]
    ) -> None:
        event = msg["event"]
        raw_id = msg.get("id")
        request_id = None if raw_id is None or raw_id == "" else str(raw_id)
        if event == "subscribe" or event == "unsubscribe":
            arg = msg.get("arg")
            channel = arg.get("channel") if isinstance(arg, dict) else None
            inst = arg.get("instId") if isinstance(arg, dict) else None
            if not isinstance(channel, str) or not isinstance(inst, str):
                problem = f"okx: {event} ack without an 'arg' naming channel and instId"
                out.append(ParseError(problem, excerpt(frame), control=True))
                return
            key = (channel, inst)
            req = self._pending.get(request_id) if request_id is not None else None
            if req is None or req.op != event or key not in req.args:
                req = self._find_pending(key, event)
            if req is not None:
                subs = req.args[key]
                self._answered(req, key)
                request_id = request_id or req.id
            else:
                subs = self._wanted.get(key) or (self._subscription_for(key),)
            cls = Subscribed if event == "subscribe" else Unsubscribed
            out.append(cls(subs, request_id))
        elif event == "error":
            code = str(msg.get("code", ""))
            text = str(msg.get("msg", ""))
            self._on_error(code, text, request_id, out)
        elif event == "notice":
            code = str(msg.get("code", ""))
            text = str(msg.get("msg", ""))
            if code == "64008":
                out.append(ServerShutdown(code, text, received_at))
            else:
                out.append(ExchangeError(code, text, request_id))
        elif event in ("channel-conn-count", "login"):
            pass  # informational
        else:
            out.append(ParseError(f"okx: unknown event {event!r}", excerpt(frame), control=True))

    def _on_error(self, code: str, text: str, request_id: str | None, out: list[Any]) -> None:
        match = _NAMED_ARG.search(text)
        named: _Key | None = (match[1], match[2]) if match else None
        req = self._pending.get(request_id) if request_id is not None else None
        subs: tuple[Subscription, ...] | None = None
        op = "subscribe"
        if req is not None:
            if named is not None and named in req.args:
                subs = req.args[named]
                self._answered(req, named)
            else:  # the whole request failed
                subs = req.subscriptions
                del self._pending[req.id]
            op = req.op
        elif named is not None:
            found = self._find_pending(named, None)
            if found is not None:
                subs = found.args[named]
                self._answered(found, named)
                op = found.op
                request_id = request_id or found.id
            elif named in self._wanted:
                subs = self._wanted[named]
        if subs is None:
            out.append(ExchangeError(code, text, request_id))
            return
        if op == "subscribe":
            for sub in subs:
                self._unwant(sub)
        out.append(Rejected(subs, code, text, request_id))

    def _find_pending(self, key: _Key, op: str | None) -> _Request | None:
        """The oldest request (of ``op``, if given) still waiting for an answer on ``key``."""
        for req in self._pending.values():
            if key in req.unanswered and (op is None or req.op == op):
                return req
        return None

    def _answered(self, req: _Request, key: _Key) -> None:
        req.unanswered.discard(key)
        if not req.unanswered:
            self._pending.pop(req.id, None)

    @staticmethod
    def _subscription_for(key: _Key) -> Subscription:
        """A Subscription for an arg nobody asked this adapter for."""
        stream, inst = key
        kind = next((k for k, streams in STREAMS.items() if stream in streams), stream)
        return Subscription(_EXCHANGE, kind, inst, stream, f"{stream}:{inst}")

    # -- data handlers: (data, instId, message, received_at, out) ------------------------
    # Each applies the validation rule (``_rules``) inline and raises on a break; the
    # careful path (_parse_slow) then names the field (_check_item).

    def _on_trades(
        self, data: Any, inst: str, msg: dict[str, Any], received_at: float, out: list[Any]
    ) -> None:
        append = out.append
        keep_raw = self.keep_raw
        f = float
        inf, max_ts, max_id, digits = _INF, _MAX_TS, _MAX_ID, _MAX_DIGITS
        for d in data:
            p = d["px"]
            q = d["sz"]
            price = f(p)
            amount = f(q)
            ts = d["ts"]
            t = int(ts) if ts.__class__ is str else ts
            tid = d["tradeId"]
            if tid.__class__ is str:
                if not (tid.isascii() and tid.isdigit() and len(tid) <= digits):
                    raise _Invalid
            elif tid.__class__ is int and 0 <= tid < max_id:
                tid = str(tid)
            else:
                raise _Invalid
            if not (
                0.0 < price < inf
                and 0.0 < amount < inf
                and t.__class__ is int
                and 0 <= t < max_ts
                and p is not True  # (false gives 0.0: refused anyway)
                and q is not True
            ):
                raise _Invalid
            rec = _new_trade(_EXCHANGE, inst, t, received_at, price, amount, _SIDES[d["side"]], tid)
            if keep_raw:
                _set(rec, "raw", d)
            append(rec)

    def _on_tickers(
        self, data: Any, inst: str, msg: dict[str, Any], received_at: float, out: list[Any]
    ) -> None:
        append = out.append
        keep_raw = self.keep_raw
        for d in data:
            inst_type = d.get("instType")
            spot = inst_type == "SPOT" or (inst_type is None and inst.count("-") == 1)
            bid_size = d.get("bidSz")
            ask_size = d.get("askSz")
            values = [
                d["last"], d["bidPx"], d["askPx"], d["open24h"], d["high24h"], d["low24h"],
                d["vol24h"], d["volCcy24h"],
            ]  # fmt: skip
            has_bs = bid_size is not None and bid_size != ""
            has_as = ask_size is not None and ask_size != ""
            if has_bs:
                values.append(bid_size)
            if has_as:
                values.append(ask_size)
            # "" is OKX's "none" (no trade yet, an empty book side): 0
            nums = numbers(values, empty=0.0)
            # every ticker number is a price or a size: >= 0
            if min(nums) < 0.0:
                raise _Invalid
            last, bid, ask, open_, high, low, vol, vol_ccy = nums[:8]
            bs = nums[8] if has_bs else None
            as_ = nums[-1] if has_as else None
            if spot:  # vol24h base ccy, volCcy24h quote ccy
                volume, quote_volume = vol, vol_ccy
            else:  # derivatives: vol24h contracts, volCcy24h base ccy; no quote volume (0)
                volume, quote_volume = vol_ccy, 0.0
            rec = _new_ticker(
                _EXCHANGE, inst, _ts(d["ts"]), received_at, last, bid, ask, volume,
                open_, high, low, quote_volume, bs, as_,
            )  # fmt: skip
            if keep_raw:
                _set(rec, "raw", d)
            append(rec)

    def _on_bbo(
        self, data: Any, inst: str, msg: dict[str, Any], received_at: float, out: list[Any]
    ) -> None:
        as_book = inst in self._bbo_as_book
        as_quote = not as_book or inst in self._bbo_as_quote
        append = out.append
        keep_raw = self.keep_raw
        for d in data:
            ts = _ts(d["ts"])
            seq = _seq(d.get("seqId"), "seqId")
            bids, asks = _sides(d["bids"], d["asks"])
            if as_quote:
                # an empty side is reported as price 0, size 0 (OKX's own "0" = none)
                bid_px, bid_sz = bids[0] if bids else (0.0, 0.0)
                ask_px, ask_sz = asks[0] if asks else (0.0, 0.0)
                quote = _new_quote(
                    _EXCHANGE, inst, ts, received_at, bid_px, bid_sz, ask_px, ask_sz, seq
                )
                if keep_raw:
                    _set(quote, "raw", d)
                append(quote)
            if as_book:
                book = _new_book(_EXCHANGE, inst, ts, received_at, bids, asks, seq)
                if keep_raw:
                    _set(book, "raw", d)
                append(book)

    def _on_books5(
        self, data: Any, inst: str, msg: dict[str, Any], received_at: float, out: list[Any]
    ) -> None:
        append = out.append
        keep_raw = self.keep_raw
        for d in data:
            bid_levels, ask_levels = _sides(d["bids"], d["asks"])
            rec = _new_book(
                _EXCHANGE,
                inst,
                _ts(d["ts"]),
                received_at,
                bid_levels,
                ask_levels,
                _seq(d.get("seqId"), "seqId"),
            )
            if keep_raw:
                _set(rec, "raw", d)
            append(rec)

    def _on_books(
        self, data: Any, inst: str, msg: dict[str, Any], received_at: float, out: list[Any]
    ) -> None:
        action = msg.get("action")
        if action == "update":
            snapshot = False
        elif action == "snapshot":
            snapshot = True
        else:
            raise ValueError(f"'action' is {action!r}, expected 'snapshot' or 'update'")
        append = out.append
        keep_raw = self.keep_raw
        for d in data:
            bids = d["bids"]
            asks = d["asks"]
            checksum = _crc(d.get("checksum"))
            bid_levels, ask_levels = _sides(bids, asks)
            # the exchange's strings are kept when a checksum comes with them, and with
            # every snapshot: a later update may carry a non-zero checksum even after a
            # snapshot with checksum 0, and it is verified over these texts
            rec = _new_delta(
                _EXCHANGE,
                inst,
                _ts(d["ts"]),
                received_at,
                bid_levels,
                ask_levels,
                snapshot,
                _seq(d.get("seqId"), "seqId"),
                _seq(d.get("prevSeqId"), "prevSeqId"),
                None,
                checksum,
                (_text_levels(bids), _text_levels(asks))
                if checksum
                else (_snapshot_text(bids, asks) if snapshot else None),
            )
            if keep_raw:
                _set(rec, "raw", d)
            append(rec)

    # -- typed book pushes (msgspec structs, see the speed notes at the top) -------------
    # Each mirrors its dict twin above and returns False (or raises) to send the frame
    # down the ordinary path instead (which also names whatever is wrong with it).  The
    # levels were checked by the constrained types; only the ids are left to check.

    def _typed_books(self, push: _BookPush, received_at: float, out: list[Any]) -> bool:
        action = push.action
        if action != "update":
            return False  # a snapshot keeps its texts: the ordinary path (rare)
        inst = push.arg.instId
        append = out.append
        max_ts, max_id = _MAX_TS, _MAX_ID
        for d in push.data:
            checksum = d.checksum
            seq = d.seqId
            prev = d.prevSeqId
            ts = int(d.ts)
            if not (
                (checksum is None or (checksum.__class__ is int and checksum == 0))
                and seq.__class__ is int
                and prev.__class__ is int
                and -1 <= seq < max_id
                and -1 <= prev < max_id
                and 0 <= ts < max_ts
            ):  # the rule, or the other encodings it allows, through the helpers
                checksum = _crc(checksum)
                if checksum:
                    return False  # verifying it needs the exchange's own strings
                ts = _ts(d.ts)
                seq = _seq(seq, "seqId")
                prev = _seq(prev, "prevSeqId")
            append(
                _new_delta(
                    _EXCHANGE,
                    inst,
                    ts,
                    received_at,
                    _pairs(d.bids),
                    _pairs(d.asks),
                    False,
                    seq,
                    prev,
                    None,
                    checksum,
                )
            )
        return True

    def _typed_books5(self, push: _BookPush, received_at: float, out: list[Any]) -> bool:
        inst = push.arg.instId
        append = out.append
        max_ts, max_id = _MAX_TS, _MAX_ID
        for d in push.data:
            seq = d.seqId
            ts = int(d.ts)
            if not (seq.__class__ is int and -1 <= seq < max_id and 0 <= ts < max_ts):
                seq = _seq(seq, "seqId")
                ts = _ts(d.ts)
            append(_new_book(_EXCHANGE, inst, ts, received_at, _pairs(d.bids), _pairs(d.asks), seq))
        return True

    def _typed_bbo(self, push: _BookPush, received_at: float, out: list[Any]) -> bool:
        inst = push.arg.instId
        as_book = inst in self._bbo_as_book
        as_quote = not as_book or inst in self._bbo_as_quote
        append = out.append
        max_ts, max_id = _MAX_TS, _MAX_ID
        for d in push.data:
            seq = d.seqId
            ts = int(d.ts)
            if not (seq.__class__ is int and -1 <= seq < max_id and 0 <= ts < max_ts):
                seq = _seq(seq, "seqId")
                ts = _ts(d.ts)
            bids = d.bids
            asks = d.asks
            if as_quote:
                bid_px, bid_sz = (bids[0].price, bids[0].size) if bids else (0.0, 0.0)
                ask_px, ask_sz = (asks[0].price, asks[0].size) if asks else (0.0, 0.0)
                append(
                    _new_quote(
                        _EXCHANGE, inst, ts, received_at, bid_px, bid_sz, ask_px, ask_sz, seq
                    )
                )
            if as_book:
                append(_new_book(_EXCHANGE, inst, ts, received_at, _pairs(bids), _pairs(asks), seq))
        return True

    def _on_candle(
        self, data: Any, inst: str, msg: dict[str, Any], received_at: float, out: list[Any]
    ) -> None:
        interval = msg["arg"]["channel"][6:]  # "candle1m" -> "1m"
        received_ms = int(received_at * 1000)
        append = out.append
        keep_raw = self.keep_raw
        for d in data:
            if d.__class__ is not list:
                raise TypeError(f"a candle must be a list, got {type(d).__name__}")
            n = len(d)
            if n < 9 and n != 7:  # 7: before volCcyQuote and confirm were added
                raise ValueError(f"a candle has 9 elements, got {n}")
            # the push carries the interval's open time only (``start``): no event time,
            # so ``timestamp`` is the receive time, as for every record without one
            start = d[0]
            start = int(start) if start.__class__ is str else start
            if start.__class__ is not int or not 0 <= start < _MAX_TS:
                start = _ts(d[0])
            values = [d[1], d[2], d[3], d[4], d[5]]
            if n > 7:
                values.append(d[7])  # volCcyQuote
            o, h, lo, c, *volumes = numbers(values)
            if n > 8:
                confirm = d[8]
                if confirm != "0" and confirm != "1":
                    raise _Invalid
            if not (min(o, h, lo, c) > 0.0 and min(volumes) >= 0.0):
                raise _Invalid
            rec = _new_candle(
                _EXCHANGE,
                inst,
                received_ms,
                received_at,
                start,
                interval,
                o,
                h,
                lo,
                c,
                volumes[0],
                n > 8 and d[8] == "1",  # confirm
                volumes[1] if n > 7 else None,  # volCcyQuote
                None,
                False,
            )
            if keep_raw:
                _set(rec, "raw", d)
            append(rec)
