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
import math
import re
import zlib
from collections.abc import Callable, Iterable, Sequence
from typing import Any, ClassVar, Final, TypeAlias

import msgspec
import orjson

from .._accel import speedups
from .._errors import ConfigError, ProtocolError
from .._fast import new_book as _new_book
from .._fast import new_candle as _new_candle
from .._fast import new_delta as _new_delta
from .._fast import new_quote as _new_quote
from .._fast import new_ticker as _new_ticker
from .._fast import new_trade as _new_trade
from .._records import BookDelta, Levels
from .._symbols import to_okx
from ._base import Adapter, normalize_channel
from ._events import (
    ExchangeError,
    ParseError,
    Pong,
    Rejected,
    ServerShutdown,
    Subscribed,
    Unsubscribed,
    excerpt,
)
from ._subscription import Subscription
from ._typed import Finite as _Finite
from ._typed import reads_as_strings_do

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
# "Wrong URL or channel:tickers,instId:NMR-USDT doesn't exist…" (60018)
_NAMED_ARG = re.compile(r"channel:\s*([A-Za-z0-9_-]+)\s*,\s*instId:\s*([A-Za-z0-9_-]+)")
_MAX_PENDING = 1000


# --------------------------------------------------------------------------- level helpers


def _levels(levels: Any) -> Levels:
    """``[["px","sz","0","n"], …]`` → ``((px, sz), …)`` as floats."""
    if levels.__class__ is not list:
        raise TypeError(f"levels must be a list, got {type(levels).__name__}")
    if not levels:
        return ()
    try:
        # One orjson call instead of two float() per level; "e0" makes every value a float.
        values = _loads("[" + "e0,".join(map("e0,".join, levels)) + "e0]")
        first = levels[0]
        width = len(first)
        if first.__class__ is list and width >= 2 and len(values) == width * len(levels):
            return tuple(zip(values[0::width], values[1::width], strict=True))
    except (orjson.JSONDecodeError, TypeError):
        pass
    # the careful path: anything orjson refused, and never a NaN or infinite level
    out = tuple([(float(lv[0]), float(lv[1])) for lv in levels])
    for price, size in out:
        if not (math.isfinite(price) and math.isfinite(size)):
            raise ValueError(f"level ({price}, {size}) is not a finite number")
    return out


def _sides(bids: Any, asks: Any) -> tuple[Levels, Levels]:
    """Both sides of a book push in one orjson call (the common case), else side by side."""
    if bids and asks and bids.__class__ is list and asks.__class__ is list:
        b0 = bids[0]
        width = len(b0)
        if b0.__class__ is list and asks[0].__class__ is list and len(asks[0]) == width >= 2:
            try:
                values = _loads(
                    "["
                    + "e0,".join(map("e0,".join, bids))
                    + "e0,"
                    + "e0,".join(map("e0,".join, asks))
                    + "e0]"
                )
            except (orjson.JSONDecodeError, TypeError):
                values = None
            if values is not None and len(values) == width * (len(bids) + len(asks)):
                k = width * len(bids)
                return (
                    tuple(zip(values[0:k:width], values[1:k:width], strict=True)),
                    tuple(zip(values[k::width], values[k + 1 :: width], strict=True)),
                )
    return _levels(bids), _levels(asks)


# ----------------------------------------------------------------- typed book pushes
# Book-shaped pushes decoded by msgspec into these structs: level numbers become
# floats in C.  Anything they do not describe raises msgspec.DecodeError and the
# frame takes the ordinary path.

_BOOK_TAG: Final = b'"asks":['


class _Level(msgspec.Struct, array_like=True, gc=False):
    """``["px","sz",…]``: the elements after price and size are ignored."""

    price: _Finite
    size: _Finite


class _BookItem(msgspec.Struct, gc=False):
    asks: list[_Level]
    bids: list[_Level]
    ts: str
    seqId: int | str | None = None
    prevSeqId: int | str | None = None
    checksum: int | str | None = None


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


def _opt_int(value: Any) -> int | None:
    if value is None or value.__class__ is int:
        return value
    return int(value)


def _text_id(value: Any) -> str:
    if value.__class__ is str:
        return value
    if value.__class__ is int:
        return str(value)
    raise TypeError(f"id {value!r} is neither a string nor an integer")


def _describe(exc: Exception) -> str:
    if isinstance(exc, KeyError):
        return f"missing field {exc.args[0]!r}" if exc.args else "missing field"
    if isinstance(exc, IndexError):
        return f"too few elements ({exc})"
    return f"{type(exc).__name__}: {exc}"


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
        return _new_delta(
            _EXCHANGE,
            inst,
            int(d["ts"]),
            received_at,
            _levels(bids),
            _levels(asks),
            True,
            _opt_int(d.get("seqId")),
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

    def __init__(self, *, keep_raw: bool = False) -> None:
        super().__init__(keep_raw=keep_raw)
        self._next_id = 0
        self._pending: dict[str, _Request] = {}
        self._wanted: dict[_Key, tuple[Subscription, ...]] = {}
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
        if sub.stream == "bbo-tbt":
            (self._bbo_as_book if sub.channel == "book" else self._bbo_as_quote).add(key[1])

    def _unwant(self, sub: Subscription) -> None:
        key = self._key(sub)
        left = tuple(s for s in self._wanted.get(key, ()) if s != sub)
        if left:
            self._wanted[key] = left
        else:
            self._wanted.pop(key, None)
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
                typed = self._typed.get(push.arg.channel)
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
                self._handlers[arg["channel"]](data, inst, msg, received_at, out)
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
                out.append(ParseError(f"okx: not JSON ({exc})", excerpt(frame)))
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
            handler = self._handlers.get(channel)
            if handler is None:
                problem = f"okx: unknown channel {channel!r} (instId {inst!r})"
                out.append(ParseError(problem, excerpt(frame)))
                return
            data = msg.get("data")
            if not isinstance(data, list):
                problem = f"okx {channel} {inst}: 'data' is missing or not a list"
                out.append(ParseError(problem, excerpt(frame)))
                return
            for i, item in enumerate(data):
                mark = len(out)
                try:
                    handler((item,), inst, msg, received_at, out)
                except Exception as exc:
                    del out[mark:]
                    problem = f"okx {channel} {inst}: data[{i}]: {_describe(exc)}"
                    out.append(ParseError(problem, excerpt(frame)))
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
                out.append(ParseError(problem, excerpt(frame)))
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
            out.append(ParseError(f"okx: unknown event {event!r}", excerpt(frame)))

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
    def _on_trades(
        self, data: Any, inst: str, msg: dict[str, Any], received_at: float, out: list[Any]
    ) -> None:
        append = out.append
        keep_raw = self.keep_raw
        for d in data:
            tid = d["tradeId"]
            rec = _new_trade(
                _EXCHANGE,
                inst,
                int(d["ts"]),
                received_at,
                float(d["px"]),
                float(d["sz"]),
                _SIDES[d["side"]],
                tid if tid.__class__ is str else _text_id(tid),
            )
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
            if spot:  # vol24h base ccy, volCcy24h quote ccy
                volume = float(d["vol24h"] or 0)
                quote_volume = float(d["volCcy24h"] or 0)
            else:  # derivatives: vol24h contracts, volCcy24h base ccy; no quote volume (0)
                volume = float(d["volCcy24h"] or 0)
                quote_volume = 0.0
            bid_size = d.get("bidSz")
            ask_size = d.get("askSz")
            rec = _new_ticker(
                _EXCHANGE,
                inst,
                int(d["ts"]),
                received_at,
                float(d["last"] or 0),
                float(d["bidPx"] or 0),
                float(d["askPx"] or 0),
                volume,
                float(d["open24h"] or 0),
                float(d["high24h"] or 0),
                float(d["low24h"] or 0),
                quote_volume,
                float(bid_size) if bid_size else None,
                float(ask_size) if ask_size else None,
            )
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
            ts = int(d["ts"])
            seq = d.get("seqId")
            if seq is not None and seq.__class__ is not int:
                seq = int(seq)
            bids = d["bids"]
            asks = d["asks"]
            if as_quote:
                # an empty side is reported as price 0, size 0 (OKX's own "0" = none)
                if bids:
                    bid = bids[0]
                    bid_px, bid_sz = float(bid[0]), float(bid[1])
                else:
                    bid_px = bid_sz = 0.0
                if asks:
                    ask = asks[0]
                    ask_px, ask_sz = float(ask[0]), float(ask[1])
                else:
                    ask_px = ask_sz = 0.0
                for x in (bid_px, bid_sz, ask_px, ask_sz):
                    if not math.isfinite(x):
                        raise ValueError(f"best bid/ask {x} is not a finite number")
                quote = _new_quote(
                    _EXCHANGE, inst, ts, received_at, bid_px, bid_sz, ask_px, ask_sz, seq
                )
                if keep_raw:
                    _set(quote, "raw", d)
                append(quote)
            if as_book:
                book = _new_book(
                    _EXCHANGE, inst, ts, received_at, _levels(bids), _levels(asks), seq
                )
                if keep_raw:
                    _set(book, "raw", d)
                append(book)

    def _on_books5(
        self, data: Any, inst: str, msg: dict[str, Any], received_at: float, out: list[Any]
    ) -> None:
        append = out.append
        keep_raw = self.keep_raw
        for d in data:
            seq = d.get("seqId")
            bid_levels, ask_levels = _sides(d["bids"], d["asks"])
            rec = _new_book(
                _EXCHANGE,
                inst,
                int(d["ts"]),
                received_at,
                bid_levels,
                ask_levels,
                seq if seq is None or seq.__class__ is int else int(seq),
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
            seq = d.get("seqId")
            prev = d.get("prevSeqId")
            checksum = d.get("checksum")
            if checksum is not None and checksum.__class__ is not int:
                checksum = int(checksum)
            bid_levels, ask_levels = _sides(bids, asks)
            rec = _new_delta(
                _EXCHANGE,
                inst,
                int(d["ts"]),
                received_at,
                bid_levels,
                ask_levels,
                snapshot,
                seq if seq is None or seq.__class__ is int else int(seq),
                prev if prev is None or prev.__class__ is int else int(prev),
                None,
                checksum,
                (_text_levels(bids), _text_levels(asks)) if checksum else None,
            )
            if keep_raw:
                _set(rec, "raw", d)
            append(rec)

    # -- typed book pushes (msgspec structs, see the speed notes at the top) -------------
    # Each mirrors its dict twin above and returns False to send the frame down the
    # ordinary path instead (which also names whatever is wrong with it).

    def _typed_books(self, push: _BookPush, received_at: float, out: list[Any]) -> bool:
        action = push.action
        if action == "update":
            snapshot = False
        elif action == "snapshot":
            snapshot = True
        else:
            return False
        inst = push.arg.instId
        append = out.append
        for d in push.data:
            checksum = d.checksum
            if checksum is not None and checksum.__class__ is not int:
                checksum = int(checksum)
            if checksum:
                return False  # verifying it needs the exchange's own strings
            seq = d.seqId
            prev = d.prevSeqId
            append(
                _new_delta(
                    _EXCHANGE,
                    inst,
                    int(d.ts),
                    received_at,
                    _pairs(d.bids),
                    _pairs(d.asks),
                    snapshot,
                    seq if seq is None or seq.__class__ is int else int(seq),
                    prev if prev is None or prev.__class__ is int else int(prev),
                    None,
                    checksum,
                )
            )
        return True

    def _typed_books5(self, push: _BookPush, received_at: float, out: list[Any]) -> bool:
        inst = push.arg.instId
        append = out.append
        for d in push.data:
            seq = d.seqId
            append(
                _new_book(
                    _EXCHANGE,
                    inst,
                    int(d.ts),
                    received_at,
                    _pairs(d.bids),
                    _pairs(d.asks),
                    seq if seq is None or seq.__class__ is int else int(seq),
                )
            )
        return True

    def _typed_bbo(self, push: _BookPush, received_at: float, out: list[Any]) -> bool:
        inst = push.arg.instId
        as_book = inst in self._bbo_as_book
        as_quote = not as_book or inst in self._bbo_as_quote
        append = out.append
        for d in push.data:
            ts = int(d.ts)
            seq = d.seqId
            if seq is not None and seq.__class__ is not int:
                seq = int(seq)
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
            start = int(d[0])
            n = len(d)
            if n < 9 and n != 7:  # 7: before volCcyQuote and confirm were added
                raise ValueError(f"a candle has 9 elements, got {n}")
            # the push carries the interval's open time only (``start``): no event time,
            # so ``timestamp`` is the receive time, as for every record without one
            rec = _new_candle(
                _EXCHANGE,
                inst,
                received_ms,
                received_at,
                start,
                interval,
                float(d[1]),
                float(d[2]),
                float(d[3]),
                float(d[4]),
                float(d[5]),
                n > 8 and d[8] == "1",  # confirm
                float(d[7]) if n > 7 else None,  # volCcyQuote
                None,
                False,
            )
            if keep_raw:
                _set(rec, "raw", d)
            append(rec)
