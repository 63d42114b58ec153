"""Binance Spot market-data protocol, sans-I/O.

Frames in, records out; no trio, no sockets.  Subscriptions travel as
``SUBSCRIBE``/``UNSUBSCRIBE`` messages on ``/stream`` (the combined envelope
``{"stream": ..., "data": ...}``), and bare ``/ws`` events parse too.

The hot path is one ``orjson.loads``, one dict lookup from the envelope's
stream name to a handler closure built once per stream name (subscribed or
first seen), and a direct slot-filling constructor for the frozen record.
``@trade`` and ``@bookTicker`` handlers reuse the previous frame's float when a
price string repeats (``float(str)`` is the costliest step left).  Anything
unusable becomes a :class:`~trio_feeds.protocol.ParseError` naming the stream
and field; :meth:`BinanceAdapter.parse` never raises.

Speed notes.  In a depth frame ``float(str)`` per level dominates.  ``@depth*``
frames arriving as ``bytes`` (without ``keep_raw``) are decoded by
:mod:`msgspec` straight into a typed struct whose levels are tuples of floats
(``strict=False`` converts the JSON strings in C, correctly rounded, so
bit-identical to ``float()``; NaN and infinities are refused by a range
constraint, rows of other than two elements by the tuple type): a 20-level
frame parses ~1.6x faster.  The attempt is gated by the frame's length and
last bytes (a depth frame ends in ``]}}``), so trade and quote frames pay one
``len()`` for it.  Anything the typed shape refuses (an odd field, a stream
not seen yet, a frame msgspec might read differently: see
:func:`~trio_feeds.protocol._typed.reads_as_strings_do`) takes the ordinary
``orjson`` path, which also names what was wrong.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any, ClassVar, Final, TypeAlias

import attrs
import msgspec
import orjson

from trio_feeds.core.errors import ConfigError, ProtocolError, SymbolError
from trio_feeds.core.fast import new_book as _new_book
from trio_feeds.core.fast import new_candle as _new_candle
from trio_feeds.core.fast import new_delta as _new_delta
from trio_feeds.core.fast import new_quote as _new_quote
from trio_feeds.core.fast import new_ticker as _new_ticker
from trio_feeds.core.fast import new_trade as _new_trade
from trio_feeds.core.records import Book, BookDelta, Candle, Levels, Quote, Side, Ticker, Trade
from trio_feeds.core.symbols import canonical, from_binance, to_binance, to_binance_stream
from trio_feeds.protocol import _rules as rules
from trio_feeds.protocol._base import Adapter, normalize_channel
from trio_feeds.protocol._events import (
    ExchangeError,
    ParseError,
    Rejected,
    ServerShutdown,
    Subscribed,
    Unsubscribed,
    excerpt,
)
from trio_feeds.protocol._rules import numbers, parse_sides
from trio_feeds.protocol._subscription import Subscription
from trio_feeds.protocol._typed import Int64, Price, Size, reads_as_strings_do

__all__ = [
    "BinanceAdapter",
    "depth_snapshot_path",
    "depth_snapshot_weight",
    "parse_depth_snapshot",
]

NAME: Final = "binance"
#: Streams per SUBSCRIBE/UNSUBSCRIBE message.
MAX_PARAMS_PER_REQUEST: Final = 200
#: Handlers cached per adapter (stream names and bare ``(e, s)`` pairs) before caching stops.
_MAX_CACHED: Final = 4096

Handler = Callable[[Any, float], object]
"""``handler(payload, received_at) -> record or event``; raises on a bad payload."""

_loads = orjson.loads
_set = object.__setattr__  # to attach ``raw`` to a frozen record right after building it
_UNSET: Final = object()  # equal to no JSON value

_SHORT_INTERVALS = ("1s", "1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "8h", "12h")
KLINE_INTERVALS: Final = (*_SHORT_INTERVALS, "1d", "3d", "1w", "1M")

#: channel -> (default stream, accepted streams)
_STREAMS: Final[dict[str, tuple[str, tuple[str, ...]]]] = {
    "trade": ("trade", ("trade", "aggTrade")),
    "ticker": ("ticker", ("ticker",)),
    "quote": ("bookTicker", ("bookTicker",)),
    "book": (
        "depth@100ms",
        tuple(f"depth{n}{s}" for n in ("", "5", "10", "20") for s in ("", "@100ms")),
    ),
    "candle": ("kline_1m", tuple(f"kline_{i}" for i in KLINE_INTERVALS)),
}

_PARTIAL_RE: Final = re.compile(r"depth(5|10|20)(@\d+ms)?")
#: the stream name at the start of a combined-stream frame, even a cut one
_STREAM_PREFIX: Final = re.compile(rb'\s*\{\s*"stream"\s*:\s*"([A-Za-z0-9@_!:+-]{1,80})"')
_DIFF_RE: Final = re.compile(r"depth(@\d+ms)?")
_KLINE_RE: Final = re.compile(r"kline_[0-9]+[smhdwM](@[+-]\d{1,2}(:\d{2})?)?")

#: bare ``/ws`` event type ``e`` -> the stream-name suffix whose handler parses it.
_EVENT_STREAM: Final[dict[str, str]] = {
    "trade": "trade",
    "aggTrade": "aggTrade",
    "24hrTicker": "ticker",
    "depthUpdate": "depth",
    "kline": "kline_1m",
}


def _stream_kind(native: str) -> str | None:
    """``"depth10@100ms"`` -> ``"depth_partial"``; None for streams we do not parse."""
    if native in ("trade", "aggTrade", "ticker", "bookTicker"):
        return native
    if _PARTIAL_RE.fullmatch(native):
        return "depth_partial"
    if _DIFF_RE.fullmatch(native):
        return "depth_diff"
    if _KLINE_RE.fullmatch(native):
        return "kline"
    return None


class _Bad(Exception):
    """Internal: a frame we recognised as unusable; ``args[0]`` is the problem."""


class _Invalid(Exception):
    """Internal: a hot-path check of the validation rule failed; the diagnosis
    (:func:`_check`, through :mod:`._rules`) names the field."""


_INF: Final = rules.INF
_MAX_TS: Final = rules.MAX_TS
_MAX_ID: Final = rules.MAX_ID


# --------------------------------------------------------------------------- typed depth frames
# ``@depth*`` frames decoded by msgspec into these structs: level numbers become floats
# in C, checked against the validation rule by the constrained types.  Anything they do
# not describe raises, or leaves a needed field None or not an int, and the frame takes
# the ordinary path (which names the problem).

_Id: TypeAlias = Int64 | float | str | None
"""Only an ``int`` is used; a float or a string sends the frame down the ordinary path,
which refuses it (``strict=False`` alone would read ``2.0`` or ``"7"`` as an int)."""
_TypedLevels: TypeAlias = tuple[tuple[Price, Size], ...] | None
"""``[["px","qty"], ...]``: exactly two elements per row, as the string path requires."""


class _Depth(msgspec.Struct, gc=False):
    """Either depth payload: ``depthUpdate`` (E U u b a) or partial (lastUpdateId bids asks)."""

    E: _Id = None
    U: _Id = None
    u: _Id = None
    b: _TypedLevels = None
    a: _TypedLevels = None
    lastUpdateId: _Id = None
    bids: _TypedLevels = None
    asks: _TypedLevels = None


class _DepthFrame(msgspec.Struct, gc=False):
    stream: str
    data: _Depth


_decode_depth: Final = msgspec.json.Decoder(_DepthFrame, strict=False).decode
#: Shorter frames skip the typed attempt: trade and bookTicker frames (~140-190 bytes),
#: and depth frames of about one level, which would gain little.
_TYPED_MIN_SIZE: Final = 192

TypedHandler = Callable[[_Depth, float], object]
"""``typed(payload, received_at) -> record``, or None to take the ordinary path."""


# --------------------------------------------------------------------------- handlers
# Each applies the validation rule (``_rules``) inline: a failed check raises _Invalid and
# the diagnosis names the field.  Numbers arrive as strings; a JSON number is read too, a
# JSON true/false never (float(True) would be 1.0).


def _raw(handler: Handler) -> Handler:
    """``handler`` attaching the payload to each record as ``raw``."""

    def handle_raw(d: Any, r: float) -> object:
        rec = handler(d, r)
        _set(rec, "raw", d)
        return rec

    return handle_raw


def _trade_handler(symbol: str, id_key: str) -> Handler:
    trade = _new_trade
    f = float
    ex = NAME
    inf, max_ts, max_id = _INF, _MAX_TS, _MAX_ID
    last_p: object = _UNSET  # the previous price string and its float: trades often repeat it
    price = 0.0

    def handle(d: Any, r: float) -> Trade:
        nonlocal last_p, price
        p = d["p"]
        if p != last_p:
            x = f(p)
            if not 0.0 < x < inf or p is True:  # (false gives 0.0: refused anyway)
                raise _Invalid
            price = x
            last_p = p if p.__class__ is str else _UNSET  # never equal to true
        q = d["q"]
        amount = f(q)
        ts = d["T"]
        tid = d[id_key]
        m = d["m"]
        if not (
            0.0 < amount < inf
            and ts.__class__ is int
            and tid.__class__ is int
            and (ts | tid) >= 0  # neither is negative
            and ts < max_ts
            and tid < max_id
            and q is not True  # (false gives 0.0: refused anyway)
        ):
            raise _Invalid
        if m is True:  # buyer is maker: the taker sold
            side: Side = "sell"
        elif m is False:
            side = "buy"
        else:
            raise _Invalid
        return trade(ex, symbol, ts, r, price, amount, side, str(tid))

    return handle


def _book_ticker_handler(symbol: str) -> Handler:
    quote = _new_quote
    f = float
    ex = NAME
    inf, max_id = _INF, _MAX_ID
    # Top-of-book prices repeat in ~95% of consecutive BTCUSDT frames, sizes in ~50%
    # (2024 capture): comparing with the previous string is ~8x cheaper than float().
    # Only strings are remembered (so JSON true never equals a remembered 1).
    lb: object = _UNSET
    lbs: object = _UNSET
    la: object = _UNSET
    las: object = _UNSET
    bid = bid_size = ask = ask_size = 0.0
    last_r = -1.0
    ts = 0

    def handle(d: Any, r: float) -> Quote:
        nonlocal lb, lbs, la, las, bid, bid_size, ask, ask_size, last_r, ts
        v = d["b"]
        if v != lb:
            x = f(v)
            if not 0.0 <= x < inf or v.__class__ is bool:
                raise _Invalid
            bid = x
            lb = v if v.__class__ is str else _UNSET
        v = d["B"]
        if v != lbs:
            x = f(v)
            if not 0.0 <= x < inf or v.__class__ is bool:
                raise _Invalid
            bid_size = x
            lbs = v if v.__class__ is str else _UNSET
        v = d["a"]
        if v != la:
            x = f(v)
            if not 0.0 <= x < inf or v.__class__ is bool:
                raise _Invalid
            ask = x
            la = v if v.__class__ is str else _UNSET
        v = d["A"]
        if v != las:
            x = f(v)
            if not 0.0 <= x < inf or v.__class__ is bool:
                raise _Invalid
            ask_size = x
            las = v if v.__class__ is str else _UNSET
        u = d["u"]
        if u.__class__ is not int or not 0 <= u < max_id:
            raise _Invalid
        if r != last_r:  # one receive time per socket read: convert it once
            ts = int(r * 1000)
            last_r = r
        return quote(ex, symbol, ts, r, bid, bid_size, ask, ask_size, u, False)

    return handle


def _ticker_handler(symbol: str) -> Handler:
    max_ts = _MAX_TS

    def handle(d: Any, r: float) -> Ticker:
        ts = d["E"]
        c, b, a, v, o, h, lo, q, bs, as_ = nums = numbers(
            [d["c"], d["b"], d["a"], d["v"], d["o"], d["h"], d["l"], d["q"], d["B"], d["A"]]
        )
        # every ticker number is a price or a size: >= 0 (a price of 0: none)
        if not (ts.__class__ is int and 0 <= ts < max_ts and min(nums) >= 0.0):
            raise _Invalid
        return _new_ticker(
            NAME, symbol, ts, r, price=c, bid=b, ask=a, volume=v, open=o, high=h, low=lo,
            quote_volume=q, bid_size=bs, ask_size=as_,
        )  # fmt: skip

    return handle


def _partial_depth_handler(symbol: str) -> Handler:
    max_id = _MAX_ID

    def handle(d: Any, r: float) -> Book:
        seq = d["lastUpdateId"]
        if seq.__class__ is not int or not 0 <= seq < max_id:
            raise _Invalid
        bids, asks = parse_sides(d["bids"], d["asks"], "bids", "asks", pairs=True)
        return _new_book(NAME, symbol, int(r * 1000), r, bids, asks, seq, False)

    return handle


def _diff_depth_handler(symbol: str) -> Handler:
    max_ts, max_id = _MAX_TS, _MAX_ID

    def handle(d: Any, r: float) -> BookDelta:
        ts = d["E"]
        first = d["U"]
        last = d["u"]
        if not (
            ts.__class__ is int
            and 0 <= ts < max_ts
            and first.__class__ is int
            and 0 <= first < max_id
            and last.__class__ is int
            and 0 <= last < max_id
        ):
            raise _Invalid
        bids, asks = parse_sides(d["b"], d["a"], "b", "a", pairs=True)
        return _new_delta(NAME, symbol, ts, r, bids, asks, False, last, first_sequence=first)

    return handle


def _typed_partial_handler(symbol: str) -> TypedHandler:
    """:func:`_partial_depth_handler` for a :class:`_Depth` (levels checked by msgspec)."""

    def handle(d: _Depth, r: float) -> Book | None:
        seq, bids, asks = d.lastUpdateId, d.bids, d.asks
        if seq.__class__ is not int or seq < 0 or bids is None or asks is None:
            return None
        return _new_book(NAME, symbol, int(r * 1000), r, bids, asks, seq, False)

    return handle


def _typed_diff_handler(symbol: str) -> TypedHandler:
    """:func:`_diff_depth_handler` for a :class:`_Depth` (levels checked by msgspec)."""
    max_ts = _MAX_TS

    def handle(d: _Depth, r: float) -> BookDelta | None:
        ts, first, last, b, a = d.E, d.U, d.u, d.b, d.a
        if not (
            ts.__class__ is int
            and 0 <= ts < max_ts
            and first.__class__ is int
            and first >= 0
            and last.__class__ is int
            and last >= 0
            and b is not None
            and a is not None
        ):
            return None
        return _new_delta(NAME, symbol, ts, r, b, a, False, last, first_sequence=first)

    return handle


_TYPED: Final[dict[str, Callable[[str], TypedHandler]]] = {
    "depth_partial": _typed_partial_handler,
    "depth_diff": _typed_diff_handler,
}


def _kline_handler(symbol: str) -> Handler:
    max_ts, max_id = _MAX_TS, _MAX_ID

    def handle(d: Any, r: float) -> Candle:
        ts = d["E"]
        k = d["k"]
        start = k["t"]
        interval = k["i"]
        trades = k["n"]
        closed = k["x"]
        o, h, lo, c, v, q = numbers([k["o"], k["h"], k["l"], k["c"], k["v"], k["q"]])
        if not (
            ts.__class__ is int
            and 0 <= ts < max_ts
            and start.__class__ is int
            and 0 <= start < max_ts
            and trades.__class__ is int
            and 0 <= trades < max_id
            and interval.__class__ is str
            and (closed is True or closed is False)
            and min(o, h, lo, c) > 0.0
            and v >= 0.0
            and q >= 0.0
        ):
            raise _Invalid
        return _new_candle(
            NAME, symbol, ts, r, start, interval, o, h, lo, c, v, closed,
            quote_volume=q, trades=trades,
        )  # fmt: skip

    return handle


def _shutdown_handler(d: Any, r: float) -> ServerShutdown:
    when = d.get("E") if isinstance(d, dict) else None
    return ServerShutdown("serverShutdown", f"Binance serverShutdown (E={when})", r)


def _make_handler(kind: str, symbol: str, keep_raw: bool) -> Handler:
    if kind == "trade":
        handler = _trade_handler(symbol, "t")
    elif kind == "aggTrade":
        handler = _trade_handler(symbol, "a")
    elif kind == "bookTicker":
        handler = _book_ticker_handler(symbol)
    elif kind == "ticker":
        handler = _ticker_handler(symbol)
    elif kind == "depth_partial":
        handler = _partial_depth_handler(symbol)
    elif kind == "depth_diff":
        handler = _diff_depth_handler(symbol)
    elif kind == "kline":
        handler = _kline_handler(symbol)
    else:  # pragma: no cover
        raise AssertionError(kind)
    return _raw(handler) if keep_raw else handler


# --------------------------------------------------------------------------- diagnosis (cold path)


def _text(field: str, v: Any) -> str:
    if not isinstance(v, str):
        raise rules.BadValue(field, v, "a string")
    return v


def _obj(field: str, v: Any) -> dict[str, Any]:
    if not isinstance(v, dict):
        raise rules.BadValue(field, v, "an object")
    return v


def _pairs(field: str, v: Any) -> Levels:
    return rules.levels(field, v, pairs=True)


Checker = Callable[[str, Any], object]
"""``checker(field, value)``: the validation rule for one field; raises ``BadValue``."""

_SCHEMAS: Final[dict[str, tuple[tuple[str, Checker], ...]]] = {
    "trade": (
        ("T", rules.timestamp),
        ("p", rules.price),
        ("q", rules.amount),
        ("m", rules.flag),
        ("t", partial(rules.trade_id, strings=False)),
    ),
    "aggTrade": (
        ("T", rules.timestamp),
        ("p", rules.price),
        ("q", rules.amount),
        ("m", rules.flag),
        ("a", partial(rules.trade_id, strings=False)),
    ),
    "bookTicker": (
        ("u", rules.update_id),
        ("b", rules.best),
        ("B", rules.size),
        ("a", rules.best),
        ("A", rules.size),
    ),
    "ticker": (
        ("E", rules.timestamp),
        *[(k, rules.best) for k in "cbaohl"],
        *[(k, rules.size) for k in "vqBA"],
    ),
    "depth_partial": (("lastUpdateId", rules.update_id), ("bids", _pairs), ("asks", _pairs)),
    "depth_diff": (
        ("E", rules.timestamp),
        ("U", rules.update_id),
        ("u", rules.update_id),
        ("b", _pairs),
        ("a", _pairs),
    ),
    "kline": (("E", rules.timestamp), ("k", _obj)),
    "kline.k": (
        ("t", rules.timestamp),
        ("i", _text),
        *[(k, rules.price) for k in "ohlc"],
        ("v", rules.size),
        ("q", rules.size),
        ("x", rules.flag),
        ("n", rules.count),
    ),
}


def _type_name(v: object) -> str:
    return {dict: "an object", list: "an array", str: "a string", type(None): "null"}.get(
        type(v), type(v).__name__
    )


def _check(data: dict[str, Any], schema: str, prefix: str = "") -> str | None:
    """The first field of ``data`` breaking the validation rule, as a message (or None)."""
    for name, checker in _SCHEMAS[schema]:
        field = prefix + name
        if name not in data:
            return f"field {field!r} is missing"
        try:
            checker(field, data[name])
        except rules.BadValue as exc:
            return str(exc)
    if schema == "kline":
        return _check(data["k"], "kline.k", "k.")
    return None


def _diagnose(frame: object, exc: BaseException) -> str:
    """Say what is wrong with a frame whose parsing raised ``exc`` (slow, error path only)."""
    if isinstance(exc, _Bad):
        return str(exc.args[0])
    try:
        msg = _loads(frame)  # type: ignore[arg-type]
    except orjson.JSONDecodeError as e:
        return f"invalid JSON: {e}"
    except TypeError:
        return f"frame is {type(frame).__name__}, expected bytes or str"
    if not isinstance(msg, dict):
        return f"expected a JSON object, got {_type_name(msg)}"
    kind: str | None = None
    stream = msg.get("stream")
    if stream is not None:
        where = f"stream {stream!r}"
        if not isinstance(stream, str):
            return f"envelope 'stream' is {_type_name(stream)}, expected a string"
        if "data" not in msg:
            return f"{where}: envelope has no 'data'"
        data = msg["data"]
        kind = _stream_kind(stream.partition("@")[2])
    else:
        data = msg
        event = msg.get("e")
        where = f"{event!r} event"
        if isinstance(event, str):
            suffix = _EVENT_STREAM.get(event)
            kind = _stream_kind(suffix) if suffix else None
        elif "lastUpdateId" in msg:
            where, kind = "partial depth", "depth_partial"
        elif "u" in msg:
            where, kind = "bookTicker", "bookTicker"
    if not isinstance(data, dict):
        return f"{where}: payload is {_type_name(data)}, expected an object"
    if kind is not None:
        found = _check(data, kind)
        if found:
            return f"{where}: {found}"
    if isinstance(exc, _Invalid):  # pragma: no cover - _check names every rule break
        return f"{where}: a value breaks the validation rule"
    return f"{where}: {type(exc).__name__}: {exc}"


def _parse_error(frame: object, exc: BaseException) -> ParseError:
    try:
        return ParseError(_diagnose(frame, exc), excerpt(frame))  # type: ignore[arg-type]
    except Exception:  # pragma: no cover - the diagnosis must not raise either
        return ParseError(f"{type(exc).__name__}: {exc}", repr(frame)[:200])


# --------------------------------------------------------------------------- REST snapshot


def depth_snapshot_path(symbol: str, limit: int = 1000) -> str:
    """``/api/v3/depth?symbol=BTCUSDT&limit=1000`` for a canonical symbol."""
    depth_snapshot_weight(limit)
    return f"/api/v3/depth?symbol={to_binance(symbol)}&limit={limit}"


def depth_snapshot_weight(limit: int) -> int:
    """Request weight of ``/api/v3/depth``: 5 (≤100), 25 (≤500), 50 (≤1000), 250 (≤5000)."""
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 5000:
        raise ConfigError(f"depth snapshot limit {limit!r} must be an int from 1 to 5000")
    if limit <= 100:
        return 5
    if limit <= 500:
        return 25
    if limit <= 1000:
        return 50
    return 250


def parse_depth_snapshot(
    body: bytes | str, symbol: str, received_at: float, *, keep_raw: bool = False
) -> BookDelta:
    """A REST ``/api/v3/depth`` body as a snapshot ``BookDelta`` (``sequence`` = ``lastUpdateId``).

    Spot snapshots carry no time: ``timestamp`` is ``received_at`` in ms.
    Raises :class:`~trio_feeds.ProtocolError` on a body it cannot use.
    """
    sym = canonical(symbol)
    try:
        data = _loads(body)
    except (orjson.JSONDecodeError, TypeError) as exc:
        raise ProtocolError(f"binance depth snapshot for {sym}: invalid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ProtocolError(
            f"binance depth snapshot for {sym}: expected an object: {excerpt(body)}"
        )
    if "lastUpdateId" not in data and "code" in data:
        raise ProtocolError(
            f"binance depth snapshot for {sym}: error {data.get('code')}: {data.get('msg')}"
        )
    problem = _check(data, "depth_partial")
    if problem is not None:
        raise ProtocolError(f"binance depth snapshot for {sym}: {problem}")
    bids, asks = parse_sides(data["bids"], data["asks"], "bids", "asks", pairs=True)
    return BookDelta(
        NAME, sym, int(received_at * 1000), received_at, bids, asks, True,
        data["lastUpdateId"], raw=data if keep_raw else None,
    )  # fmt: skip


# --------------------------------------------------------------------------- the adapter


class BinanceAdapter(Adapter):
    """Binance Spot public market data (one instance per connection)."""

    name: ClassVar[str] = NAME
    default_url: ClassVar[str] = "wss://stream.binance.com:9443"
    default_rest_url: ClassVar[str] = "https://api.binance.com"
    max_streams_per_connection: ClassVar[int] = 1024

    def __init__(self, *, keep_raw: bool = False, only_subscribed: bool = False) -> None:
        self._handlers: dict[object, Handler] = {}
        self._typed: dict[str, TypedHandler] = {}  # depth streams: twins of _handlers
        self._bare: dict[tuple[str, str], Handler] = {}
        self._symbols: dict[str, str] = {}  # "btcusdt" -> "BTC-USDT" as subscribed
        self._partial_topics: set[str] = set()
        #: subscribed topics, and their (symbol prefix, kind) for bare /ws events
        self._topics: set[str] = set()
        self._kinds: set[tuple[str, str]] = set()
        self._pending: dict[int, tuple[str, tuple[Subscription, ...]]] = {}
        self._next_id = 1
        self._keep_raw = keep_raw
        super().__init__(keep_raw=keep_raw, only_subscribed=only_subscribed)

    @property
    def keep_raw(self) -> bool:
        """Attach the decoded payload to every record as ``raw``."""
        return self._keep_raw

    @keep_raw.setter
    def keep_raw(self, value: bool) -> None:
        self._keep_raw = bool(value)
        self._handlers.clear()
        self._typed.clear()
        self._bare.clear()
        self._handlers["!serverShutdown"] = _shutdown_handler

    # -- subscriptions -------------------------------------------------------------------
    def subscription(self, channel: str, symbol: str, stream: str | None = None) -> Subscription:
        kind = normalize_channel(channel)
        sym = canonical(symbol)
        default, accepted = _STREAMS[kind]
        native = default if stream is None else _match_stream(kind, stream, accepted)
        return Subscription(NAME, kind, sym, native, f"{to_binance_stream(sym)}@{native}")

    def endpoint(self, subscription: Subscription) -> str:
        return "/stream"

    def subscribe(self, subscriptions: Sequence[Subscription]) -> list[str]:
        """``SUBSCRIBE`` frames of at most 200 streams, ids 1, 2, 3, ...

        Each frame counts against Binance's 5 incoming messages/s: pacing is the engine's job.
        """
        for sub in subscriptions:
            self._register(sub)
        return self._requests("SUBSCRIBE", subscriptions)

    def unsubscribe(self, subscriptions: Sequence[Subscription]) -> list[str]:
        for sub in subscriptions:
            _check_sub(sub)
            self._topics.discard(sub.topic)
            if self.only_subscribed:  # its frames are unsolicited from now on
                self._handlers.pop(sub.topic, None)
                self._typed.pop(sub.topic, None)
                self._bare.clear()
        self._kinds = {_topic_kind(t) for t in self._topics}
        return self._requests("UNSUBSCRIBE", subscriptions)

    @property
    def pending_requests(self) -> dict[int, tuple[Subscription, ...]]:
        """Request id -> subscriptions of the requests not answered yet (a copy)."""
        return {rid: subs for rid, (_, subs) in self._pending.items()}

    def _requests(self, method: str, subscriptions: Sequence[Subscription]) -> list[str]:
        frames: list[str] = []
        subs = tuple(subscriptions)
        for i in range(0, len(subs), MAX_PARAMS_PER_REQUEST):
            chunk = subs[i : i + MAX_PARAMS_PER_REQUEST]
            rid = self._next_id
            self._next_id += 1
            self._pending[rid] = (method, chunk)
            params = [s.topic for s in chunk]
            frames.append(orjson.dumps({"method": method, "params": params, "id": rid}).decode())
        return frames

    def _register(self, sub: Subscription) -> None:
        _check_sub(sub)
        prefix, _, native = sub.topic.partition("@")
        self._symbols[prefix] = sub.symbol
        kind = _stream_kind(native)
        self._topics.add(sub.topic)
        self._kinds.add(_topic_kind(sub.topic))
        if kind == "depth_partial":
            self._partial_topics.add(sub.topic)
        if kind is not None:
            self._cache(sub.topic, kind, sub.symbol)

    # -- receiving -----------------------------------------------------------------------
    def parse(self, frame: bytes | str, received_at: float, out: list[Any]) -> None:
        # Keep other frames off the typed path cheaply: trade and quote frames are shorter
        # than _TYPED_MIN_SIZE, and a depth frame's last field is a level array, so it
        # ends in "]}}" (93 is "]"; a str frame gives a str).
        if (
            len(frame) > _TYPED_MIN_SIZE
            and frame[-3] == 93
            and self._parse_typed(frame, received_at, out)
        ):
            return
        try:
            msg = _loads(frame)
            try:
                handler = self._handlers[msg["stream"]]
            except (KeyError, TypeError):  # zero-cost unless raised: not an envelope we know yet
                self._parse_other(msg, received_at, out)
                return
            out.append(handler(msg["data"], received_at))
        except Exception as exc:
            out.append(self._parse_error(frame, exc))

    def _parse_error(self, frame: bytes | str, exc: BaseException) -> ParseError:
        """The ParseError of a frame; naming its stream and symbol if it is subscribed."""
        error = _parse_error(frame, exc)
        try:
            msg = _loads(frame)
            if isinstance(msg, dict) and ("result" in msg or "error" in msg):  # a reply
                return attrs.evolve(error, control=True)
            stream = msg.get("stream")
        except Exception:  # not JSON (a cut frame?): its start may still name the stream
            raw = frame.encode() if isinstance(frame, str) else frame
            found = _STREAM_PREFIX.match(raw[:200]) if isinstance(raw, bytes) else None
            stream = found[1].decode() if found else None
        if stream.__class__ is str and stream in self._topics:
            prefix, _, native = stream.partition("@")
            return attrs.evolve(error, stream=native, symbol=self._symbols.get(prefix))
        return error

    def _parse_typed(self, frame: bytes | str, received_at: float, out: list[Any]) -> bool:
        """A ``bytes`` depth frame through msgspec (module speed notes); False if not taken."""
        if (
            not isinstance(frame, bytes)
            or self._keep_raw
            or frame.find(b"@depth", 0, 64) < 0  # the stream name comes first
            or not reads_as_strings_do(frame)
        ):
            return False
        try:
            msg = _decode_depth(frame)
            record = self._typed[msg.stream](msg.data, received_at)
        except Exception:  # the ordinary path names the problem
            return False
        if record is None:
            return False
        out.append(record)
        return True

    def _parse_other(self, msg: Any, received_at: float, out: list[Any]) -> None:
        if not isinstance(msg, dict):
            raise _Bad(f"expected a JSON object, got {_type_name(msg)}")
        stream = msg.get("stream")
        if stream is not None:
            handler = self._stream_handler(stream)
            if handler is not None:
                out.append(handler(msg["data"], received_at))
        elif "e" in msg:
            event = self._parse_event(msg, received_at)
            if event is not None:
                out.append(event)
        elif "error" in msg:
            out.append(self._error(msg["error"], msg.get("id")))
        elif "result" in msg and "id" in msg:
            out.append(self._ack(msg["id"]))
        elif "lastUpdateId" in msg:
            if len(self._partial_topics) != 1:
                raise _Bad(
                    "partial depth without a stream name: cannot tell its symbol "
                    "(use the /stream endpoint)"
                )
            (topic,) = self._partial_topics
            handler = self._stream_handler(topic)
            if handler is not None:
                out.append(handler(msg, received_at))
        elif "u" in msg and "s" in msg:
            handler = self._bare_handler("bookTicker", msg["s"], "bookTicker")
            if handler is not None:
                out.append(handler(msg, received_at))
        else:
            raise _Bad(f"unrecognised message with keys {sorted(msg)[:8]}")

    def _parse_event(self, msg: dict[str, Any], received_at: float) -> object:
        event = msg["e"]
        if event == "serverShutdown":
            return _shutdown_handler(msg, received_at)
        suffix = _EVENT_STREAM.get(event) if isinstance(event, str) else None
        if suffix is None:
            raise _Bad(f"unsupported event type {event!r}")
        handler = self._bare_handler(event, msg.get("s"), suffix)
        return None if handler is None else handler(msg, received_at)

    def _bare_handler(self, event: str, symbol: object, suffix: str) -> Handler | None:
        """The handler of a bare ``/ws`` event; None (counted) if its symbol and kind were
        not subscribed and ``only_subscribed`` is set."""
        if not isinstance(symbol, str):
            raise _Bad(f"{event!r} event: field 's' is {_type_name(symbol)}, expected a string")
        key = (event, symbol)
        handler = self._bare.get(key)
        if handler is None:
            stream = f"{symbol.lower()}@{suffix}"
            if self.only_subscribed and _topic_kind(stream) not in self._kinds:
                self._drop_unsolicited(stream)
                return None
            handler = self._stream_handler(stream, bare=True)
            if handler is not None and len(self._bare) < _MAX_CACHED:
                self._bare[key] = handler
        return handler

    def _stream_handler(self, stream: object, bare: bool = False) -> Handler | None:
        """The handler for a stream name, built (and cached) on first sight; None (counted)
        for a stream this adapter did not subscribe when ``only_subscribed`` is set."""
        handler = self._handlers.get(stream)
        if handler is not None:
            return handler
        if not isinstance(stream, str):
            raise _Bad(f"envelope 'stream' is {_type_name(stream)}, expected a string")
        if self.only_subscribed and not bare and stream not in self._topics:
            self._drop_unsolicited(stream)
            return None
        prefix, at, native = stream.partition("@")
        kind = _stream_kind(native) if at else None
        if kind is None:
            raise _Bad(f"unknown or unsupported stream {stream!r}")
        symbol = self._symbols.get(prefix)
        if symbol is None:
            try:
                symbol = from_binance(prefix.upper())
            except SymbolError as e:
                raise _Bad(f"stream {stream!r}: {e}") from None
        if len(self._handlers) < _MAX_CACHED:
            return self._cache(stream, kind, symbol)
        return _make_handler(kind, symbol, self._keep_raw)

    def _cache(self, stream: str, kind: str, symbol: str) -> Handler:
        """Build and keep the handler of a stream (and its typed twin for a depth stream)."""
        handler = self._handlers[stream] = _make_handler(kind, symbol, self._keep_raw)
        typed = _TYPED.get(kind)
        if typed is not None:
            self._typed[stream] = typed(symbol)
        return handler

    def _take(self, rid: object) -> tuple[str, tuple[Subscription, ...]] | None:
        if isinstance(rid, str) and rid.isdigit():
            rid = int(rid)
        if isinstance(rid, int) and not isinstance(rid, bool):
            return self._pending.pop(rid, None)
        return None

    def _ack(self, rid: object) -> Subscribed | Unsubscribed:
        pending = self._take(rid)
        if pending is None:
            raise _Bad(f"reply to unknown request id {rid!r}")
        method, subs = pending
        if method == "SUBSCRIBE":
            return Subscribed(subs, str(rid))
        return Unsubscribed(subs, str(rid))

    def _error(self, error: object, rid: object) -> Rejected | ExchangeError:
        if isinstance(error, dict):
            code, message = str(error.get("code", "")), str(error.get("msg", ""))
        else:
            code, message = "", str(error)
        request_id = None if rid is None else str(rid)
        pending = self._take(rid)
        if pending is None:
            return ExchangeError(code, message, request_id)
        return Rejected(pending[1], code, message, request_id)

    # -- REST order book snapshot (engine side, not the hot path) ----------------------
    parse_depth_snapshot = staticmethod(parse_depth_snapshot)
    depth_snapshot_path = staticmethod(depth_snapshot_path)
    depth_snapshot_weight = staticmethod(depth_snapshot_weight)


def _topic_kind(topic: str) -> tuple[str, str]:
    """``"btcusdt@depth@100ms"`` -> ``("btcusdt", "depth_diff")``."""
    prefix, _, native = topic.partition("@")
    return prefix, _stream_kind(native) or native


def _check_sub(sub: Subscription) -> None:
    if not isinstance(sub, Subscription) or sub.exchange != NAME:
        raise ConfigError(f"{sub!r} is not a binance subscription")


def _match_stream(kind: str, stream: str, accepted: tuple[str, ...]) -> str:
    if isinstance(stream, str):
        s = stream.strip()
        if kind == "candle" and s in KLINE_INTERVALS:
            return f"kline_{s}"
        if kind == "candle" and s[:6].lower() == "kline_" and s[6:] in KLINE_INTERVALS:
            return f"kline_{s[6:]}"  # the interval is case-sensitive: 1m != 1M
        for name in accepted:
            if kind != "candle" and s.lower() == name.lower():
                return name
    raise ConfigError(
        f"binance stream {stream!r} is not valid for channel {kind!r}; choose from "
        + ", ".join(accepted)
    )
