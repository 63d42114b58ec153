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

from collections.abc import Callable, Iterable, Sequence
from typing import Any, ClassVar

import orjson

from trio_feeds.core.errors import ConfigError
from trio_feeds.exchanges.okx import perps
from trio_feeds.exchanges.okx.control import ControlFrames, _Request
from trio_feeds.exchanges.okx.diagnose import _check_item
from trio_feeds.exchanges.okx.frames import (
    _ARG_PREFIX,
    _BOOK_TAG,
    _EXCHANGE,
    _MAX_PENDING,
    BUSINESS_PATH,
    PUBLIC_PATH,
    STREAMS,
    SWAP_ONLY,
    _BookPush,
    _decode_book_push,
    _describe,
    _Handler,
    _Key,
    _loads,
)
from trio_feeds.exchanges.okx.push import PushParsers
from trio_feeds.exchanges.okx.snapshot import book_checksum, parse_rest_books, rest_books_path
from trio_feeds.protocol import _rules as rules
from trio_feeds.protocol._base import Adapter, normalize_channel
from trio_feeds.protocol._events import (
    ParseError,
    Pong,
    excerpt,
)
from trio_feeds.protocol._subscription import Subscription
from trio_feeds.protocol._typed import reads_as_strings_do

__all__ = [
    "BUSINESS_PATH",
    "PUBLIC_PATH",
    "OkxAdapter",
    "book_checksum",
    "parse_rest_books",
    "rest_books_path",
]

# --------------------------------------------------------------------------- adapter


class OkxAdapter(PushParsers, ControlFrames, Adapter):
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
        self._padded: set[str] = set()
        self._checksummed: set[str] = set()
        self._keep_texts: set[str] = set()
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
        handlers.update(perps.SWAP_HANDLERS)
        self._handlers = handlers
        #: instId -> contract value (``ctVal``) of linear swaps (:meth:`load_instruments`)
        self.contract_values: dict[str, float] = {}
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
        inst = perps.inst_id(symbol)
        swap = inst.endswith(perps.SWAP_SUFFIX)
        if kind in SWAP_ONLY and not swap:
            raise ConfigError(
                f"okx channel {kind!r} exists for perpetual swaps only: use e.g. 'BTC-USDT-PERP'"
            )
        return Subscription(_EXCHANGE, kind, perps.perp_symbol(inst), stream, f"{stream}:{inst}")

    # -- perpetual swaps -----------------------------------------------------------------
    instruments_path: ClassVar[str] = perps.INSTRUMENTS_PATH

    def load_instruments(self, body: bytes | str) -> dict[str, float]:
        """Learn the swaps' contract values from an ``instruments_path`` answer (REST);
        swap amounts are converted to the base asset with them.  Returns what was learnt."""
        values = perps.parse_instruments(body)
        self.contract_values.update(values)
        return values

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
        for sub in subscriptions:
            self._unwant(sub)
        # an instType arg (liquidation-orders) stays while other swaps still want it
        shared = {c for c in perps.BY_INST_TYPE if self._insts.get(c)}
        return self._requests("unsubscribe", [s for s in subscriptions if s.stream not in shared])

    def ping(self) -> str:
        return "ping"

    def _key(self, sub: Subscription) -> _Key:
        if not isinstance(sub, Subscription) or sub.exchange != _EXCHANGE:
            raise ConfigError(f"{sub!r} is not an okx Subscription")
        return (sub.stream, perps.inst_id(sub.symbol))

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
                "args": perps.wire_args(args),
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
                    if arg.instId.endswith("-SWAP"):
                        self._swap_records(out, mark)
                    return
            except Exception:
                pass
            del out[mark:]
        swap = None
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
                    swap = inst.endswith("-SWAP")
        except Exception:
            del out[mark:]
        if swap is None:
            # Control frames, pongs and bad frames: the careful path, item by item.
            self._parse_slow(frame, received_at, out)
            swap = True  # (cold: look at every record it made)
        if swap:
            self._swap_records(out, mark)

    def _swap_records(self, out: list[Any], mark: int) -> None:
        """Swap records from ``out[mark:]``: canonical symbol, amounts in the base asset."""
        for i in range(mark, len(out)):
            sym = getattr(out[i], "symbol", None)
            if sym.__class__ is str and sym.endswith("-SWAP"):
                out[i] = self._swap_record(out[i], sym)

    def _swap_record(self, record: Any, inst: str) -> Any:
        ct = self.contract_values.get(inst)
        if ct is None:
            return ParseError(
                f"okx: contract value of {inst} unknown (instruments not loaded): "
                "its amounts would be in contracts",
                "",
                stream=None,
                symbol=perps.perp_symbol(inst),
            )
        return perps.to_perp(record, ct)

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
            if inst is None and channel in perps.BY_INST_TYPE:  # liquidation-orders
                perps.on_liquidations(msg, frame, self._insts.get(channel, set()), received_at, out)
                return
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
