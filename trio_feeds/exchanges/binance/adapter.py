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

Speed notes.  A Spot ``@bookTicker`` frame (``bytes``, ASCII, its last value a string)
is decoded by :mod:`msgspec` into a typed struct whose four numbers are checked floats:
~30 % fewer instructions per frame than ``orjson`` and the string handler, which stays
the one path to name what is wrong, and takes any frame the typed one does not (a zero,
which msgspec may read without its sign, included).  In a depth frame ``float(str)`` per
level dominates.  ``@depth*`` frames arriving as ``bytes`` (without ``keep_raw``) are decoded by
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

from collections.abc import Callable, Iterable, Sequence
from typing import Any, ClassVar

import attrs
import orjson

from trio_feeds.core.errors import ConfigError, SymbolError
from trio_feeds.core.symbols import PERP_SUFFIX, canonical, is_perp
from trio_feeds.exchanges.binance.diagnose import _parse_error, _type_name
from trio_feeds.exchanges.binance.handlers import (
    _QUICK,
    _TYPED,
    _make_handler,
    _shutdown_handler,
)
from trio_feeds.exchanges.binance.snapshot import (
    depth_snapshot_path,
    depth_snapshot_weight,
    parse_depth_snapshot,
)
from trio_feeds.exchanges.binance.streams import (
    _EVENT_STREAM,
    _MAX_CACHED,
    _STREAM_PREFIX,
    _STREAMS,
    MAX_PARAMS_PER_REQUEST,
    NAME,
    Handler,
    QuoteHandler,
    TypedHandler,
    _Bad,
    _loads,
    _match_stream,
    _stream_kind,
)
from trio_feeds.exchanges.binance.symbols import from_binance, to_binance_stream
from trio_feeds.exchanges.binance.typed import _TypedFrames
from trio_feeds.protocol._base import Adapter, normalize_channel
from trio_feeds.protocol._events import (
    ExchangeError,
    ParseError,
    Rejected,
    Subscribed,
    Unsubscribed,
)
from trio_feeds.protocol._subscription import Subscription

__all__ = [
    "BinanceAdapter",
    "depth_snapshot_path",
    "depth_snapshot_weight",
    "parse_depth_snapshot",
]


class BinanceAdapter(_TypedFrames, Adapter):
    """Binance Spot public market data (one instance per connection)."""

    name: ClassVar[str] = NAME
    default_url: ClassVar[str] = "wss://stream.binance.com:9443"
    default_rest_url: ClassVar[str] = "https://api.binance.com"
    max_streams_per_connection: ClassVar[int] = 1024
    #: True for a perpetual-swap market (symbols ``BASE-QUOTE-PERP``), False for spot.
    perpetual: ClassVar[bool] = False
    #: channel -> (default stream, accepted streams)
    streams: ClassVar[dict[str, tuple[str, tuple[str, ...]]]] = _STREAMS
    #: stream name -> handler kind (None: not parsed)
    stream_kind = staticmethod(_stream_kind)
    #: (kind, symbol, keep_raw, exchange) -> handler
    make_handler = staticmethod(_make_handler)
    #: kind -> (symbol, exchange) -> typed handler, for frames msgspec decodes
    typed_handlers: ClassVar[dict[str, Callable[[str, str], TypedHandler]]] = _TYPED
    #: kind -> (symbol, exchange) -> typed handler, for small frames msgspec decodes
    quick_handlers: ClassVar[dict[str, Callable[[str, str], QuoteHandler]]] = _QUICK

    def __init__(self, *, keep_raw: bool = False, only_subscribed: bool = False) -> None:
        self._handlers: dict[object, Handler] = {}
        self._typed: dict[str, TypedHandler] = {}  # depth streams: twins of _handlers
        self._quick: dict[str, QuoteHandler] = {}  # bookTicker streams: twins of _handlers
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
        self._quick.clear()
        self._bare.clear()
        self._handlers["!serverShutdown"] = _shutdown_handler

    # -- subscriptions -------------------------------------------------------------------
    def subscription(self, channel: str, symbol: str, stream: str | None = None) -> Subscription:
        kind = normalize_channel(channel)
        sym = canonical(symbol)
        if is_perp(sym) != self.perpetual:
            other = "a spot" if self.perpetual else "a perpetual"
            raise SymbolError(symbol, f"{other} symbol; {self.name} lists {self.market}", self.name)
        try:
            default, accepted = self.streams[kind]
        except KeyError:
            raise ConfigError(
                f"{self.name} has no {kind!r} channel; it has {', '.join(self.streams)}"
            ) from None
        native = default if stream is None else _match_stream(self.name, kind, stream, accepted)
        return Subscription(self.name, kind, sym, native, f"{to_binance_stream(sym)}@{native}")

    @property
    def market(self) -> str:
        """What this exchange lists, for error messages."""
        return "perpetuals (BASE-QUOTE-PERP)" if self.perpetual else "spot pairs (BASE-QUOTE)"

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
            self._check_sub(sub)
            self._topics.discard(sub.topic)
            if self.only_subscribed:  # its frames are unsolicited from now on
                self._handlers.pop(sub.topic, None)
                self._typed.pop(sub.topic, None)
                self._quick.pop(sub.topic, None)
                self._bare.clear()
        self._kinds = {self._topic_kind(t) for t in self._topics}
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
        self._check_sub(sub)
        prefix, _, native = sub.topic.partition("@")
        self._symbols[prefix] = sub.symbol
        kind = self.stream_kind(native)
        self._topics.add(sub.topic)
        self._kinds.add(self._topic_kind(sub.topic))
        if kind == "depth_partial":
            self._partial_topics.add(sub.topic)
        if kind is not None:
            self._cache(sub.topic, kind, sub.symbol)

    # -- receiving -----------------------------------------------------------------------
    def parse(self, frame: bytes | str, received_at: float, out: list[Any]) -> None:
        self._parse_into((frame,), received_at, out)

    def parse_many(self, frames: Iterable[bytes | str], received_at: float) -> list[Any]:
        """:meth:`parse` of each frame in turn, in one loop (the engine's call per read)."""
        out: list[Any] = []
        self._parse_into(frames, received_at, out)
        return out

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
            if self.only_subscribed and self._topic_kind(stream) not in self._kinds:
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
        kind = self.stream_kind(native) if at else None
        if kind is None:
            raise _Bad(f"unknown or unsupported stream {stream!r}")
        symbol = self._symbols.get(prefix)
        if symbol is None:
            try:
                symbol = from_binance(prefix.upper())
            except SymbolError as e:
                raise _Bad(f"stream {stream!r}: {e}") from None
            if self.perpetual:
                symbol += PERP_SUFFIX
        if len(self._handlers) < _MAX_CACHED:
            return self._cache(stream, kind, symbol)
        return self.make_handler(kind, symbol, self._keep_raw, self.name)

    def _cache(self, stream: str, kind: str, symbol: str) -> Handler:
        """Build and keep the handler of a stream (and its typed twin for a depth stream)."""
        handler = self._handlers[stream] = self.make_handler(
            kind, symbol, self._keep_raw, self.name
        )
        typed = self.typed_handlers.get(kind)
        if typed is not None:
            self._typed[stream] = typed(symbol, self.name)
        quick = self.quick_handlers.get(kind)
        if quick is not None and not self._keep_raw:
            self._quick[stream] = quick(symbol, self.name)
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

    def _topic_kind(self, topic: str) -> tuple[str, str]:
        """``"btcusdt@depth@100ms"`` -> ``("btcusdt", "depth_diff")``."""
        prefix, _, native = topic.partition("@")
        return prefix, self.stream_kind(native) or native

    def _check_sub(self, sub: Subscription) -> None:
        if not isinstance(sub, Subscription) or sub.exchange != self.name:
            raise ConfigError(f"{sub!r} is not a {self.name} subscription")
