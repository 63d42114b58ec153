"""Bybit v5 public WebSocket (spot and USDT perpetuals), sans-I/O.

Facts relied on (``docs/exchanges.md`` gives the pages):

* ``BTC-USDT`` is spot (``/v5/public/spot``), ``BTC-USDT-PERP`` the USDT perpetual
  (``/v5/public/linear``); both are ``BTCUSDT`` on the wire.
* Requests ``{"req_id","op":"subscribe"|"unsubscribe","args":["topic",…]}``, at most 10
  args each (spot); one answer per request, ``{"success","ret_msg","conn_id","req_id",
  "op"}`` naming no topic.  A refusal is ``"success":false`` with ``ret_msg`` such as
  ``"error:already subscribed,topic:kline.1.BTCUSDT"`` or ``"Invalid symbol
  :[tickers.NOPEUSDT]"``.
* Heartbeat: ``{"req_id","op":"ping"}``; answer ``{"success":true,"ret_msg":"pong",
  "op":"ping",…}`` (spot, linear) or ``{"op":"pong","args":[…]}``.
* Pushes ``{"topic","type":"snapshot"|"delta","ts",("cts"),"data"}``; numbers are JSON
  strings; parse by name (key order differs between categories).
* ``tickers`` on linear: a snapshot, then deltas carrying only changed fields (merged
  here, per topic); spot tickers are snapshots without best bid/ask.  The linear push
  also serves channels ``funding``, ``mark`` and ``open_interest`` (:mod:`._perps`).

Parsing never raises: an unusable frame becomes one
:class:`~trio_feeds.protocol.ParseError` and nothing else.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType
from typing import Any, ClassVar, Final, TypeAlias

import orjson

from trio_feeds.core.errors import ConfigError, SymbolError
from trio_feeds.core.symbols import from_binance
from trio_feeds.exchanges._shared import describe
from trio_feeds.exchanges.bybit import facts
from trio_feeds.exchanges.bybit._perps import PERP_CHANNELS
from trio_feeds.exchanges.bybit._push import KLINE_INTERVALS, PushHandlers
from trio_feeds.protocol import (
    Adapter,
    ExchangeError,
    ParseError,
    Pong,
    Rejected,
    Subscribed,
    Subscription,
    Unsubscribed,
    normalize_channel,
)
from trio_feeds.protocol._events import excerpt

__all__ = ["KLINE_INTERVALS", "STREAMS", "BybitAdapter", "split_symbol"]

_NAME: Final = facts.NAME


#: normalized channel → the Bybit streams that serve it; the first is the default
STREAMS: Final[dict[str, tuple[str, ...]]] = {
    "trade": ("publicTrade",),
    "ticker": ("tickers",),
    "quote": ("orderbook.1",),
    "book": ("orderbook.50", "orderbook.200", "orderbook.1000", "orderbook.1"),
    "candle": tuple(f"kline.{i}" for i in KLINE_INTERVALS),
    # USDT perpetuals only: fields of the linear tickers push (see ._perps)
    **{channel: ("tickers",) for channel in PERP_CHANNELS},
}

_SYMBOL = re.compile(r"^([A-Z0-9]{1,20})-([A-Z0-9]{1,20})(-PERP)?$")
_TOPIC_IN_MSG = re.compile(r"topic:\s*([A-Za-z0-9_.\-]+)|\[([A-Za-z0-9_.\-]+)\]")
_MAX_PENDING: Final = 1000
_Handler: TypeAlias = Callable[[str, str, dict[str, Any], float, list[Any]], None]


def split_symbol(symbol: str) -> tuple[str, str, bool]:
    """``"btc-usdt-perp"`` → ``("BTC-USDT-PERP", "BTCUSDT", True)``: canonical, wire, linear."""
    if not isinstance(symbol, str):
        raise SymbolError(symbol, "expected a string like 'BTC-USDT' or 'BTC-USDT-PERP'", _NAME)
    s = symbol.strip().upper()
    m = _SYMBOL.match(s)
    if m is None:
        raise SymbolError(symbol, "expected BASE-QUOTE (spot) or BASE-USDT-PERP", _NAME)
    base, quote, perp = m.groups()
    if perp and quote != "USDT":
        raise SymbolError(symbol, "only USDT perpetuals (BASE-USDT-PERP) are supported", _NAME)
    return s, base + quote, perp is not None


class _Request:
    __slots__ = ("id", "op", "topics")

    def __init__(self, request_id: str, op: str, topics: dict[str, tuple[Subscription, ...]]):
        self.id = request_id
        self.op = op
        self.topics = topics


class BybitAdapter(PushHandlers, Adapter):
    """Sans-I/O Bybit v5 public market data (one instance per connection).

    >>> a = BybitAdapter()
    >>> sub = a.subscription("book", "btc-usdt-perp")
    >>> sub.topic, a.endpoint(sub)
    ('orderbook.50.BTCUSDT', '/v5/public/linear')
    >>> a.subscribe([sub])
    ['{"req_id":"1","op":"subscribe","args":["orderbook.50.BTCUSDT"]}']
    """

    name: ClassVar[str] = _NAME
    default_url: ClassVar[str] = facts.WS_URL
    default_rest_url: ClassVar[str] = facts.REST_URL
    max_streams_per_connection: ClassVar[int] = facts.MAX_STREAMS_PER_CONNECTION
    MAX_ARGS_PER_REQUEST: ClassVar[int] = facts.MAX_ARGS_PER_REQUEST

    def __init__(self, *, keep_raw: bool = False, only_subscribed: bool = False) -> None:
        super().__init__(keep_raw=keep_raw, only_subscribed=only_subscribed)
        self._next_id = 0
        self._pending: dict[str, _Request] = {}
        self._wanted: dict[str, tuple[Subscription, ...]] = {}
        self._linear: bool | None = None
        self._tickers: dict[str, dict[str, Any]] = {}
        self._level1: dict[str, tuple[dict[float, float], dict[float, float]]] = {}
        self._handlers: dict[str, _Handler] = {
            "publicTrade": self._on_trades,
            "tickers": self._on_tickers,
            "orderbook.1": self._on_level1,
            "orderbook.50": self._on_book,
            "orderbook.200": self._on_book,
            "orderbook.1000": self._on_book,
        }
        for stream in STREAMS["candle"]:
            self._handlers[stream] = self._on_kline

    # -- subscriptions ---------------------------------------------------------------------
    def subscription(self, channel: str, symbol: str, stream: str | None = None) -> Subscription:
        kind = normalize_channel(channel)
        allowed = STREAMS[kind]
        if stream is None:
            stream = allowed[0]
        elif stream not in allowed:
            raise ConfigError(
                f"bybit stream {stream!r} cannot serve channel {kind!r}; "
                f"choose one of {', '.join(allowed)}"
            )
        canonical, wire, linear = split_symbol(symbol)
        if kind in PERP_CHANNELS and not linear:
            raise ConfigError(
                f"bybit channel {kind!r} exists for USDT perpetuals only: use e.g. "
                f"'{canonical}-PERP'"
            )
        return Subscription(_NAME, kind, canonical, stream, f"{stream}.{wire}")

    def endpoint(self, subscription: Subscription) -> str:
        linear = split_symbol(subscription.symbol)[2]
        return facts.LINEAR_PATH if linear else facts.SPOT_PATH

    def subscribe(self, subscriptions: Sequence[Subscription]) -> list[str]:
        frames = self._requests("subscribe", subscriptions)
        for sub in subscriptions:
            have = self._wanted.get(sub.topic, ())
            if sub not in have:
                self._wanted[sub.topic] = (*have, sub)
        return frames

    def unsubscribe(self, subscriptions: Sequence[Subscription]) -> list[str]:
        frames = self._requests("unsubscribe", subscriptions)
        for sub in subscriptions:
            self._unwant(sub)
        return frames

    def ping(self) -> str:
        self._next_id += 1
        return f'{{"req_id":"{self._next_id}","op":"ping"}}'

    def ticker_state(self, symbol: str) -> Mapping[str, Any] | None:
        """The merged ``tickers`` fields of ``symbol`` (linear: funding rate, mark and index
        price, open interest, next funding time, …) as last received; None before any."""
        wire = split_symbol(symbol)[1]
        state = self._tickers.get(f"tickers.{wire}")
        return MappingProxyType(state) if state is not None else None

    def _requests(self, op: str, subscriptions: Sequence[Subscription]) -> list[str]:
        topics: dict[str, tuple[Subscription, ...]] = {}
        for sub in subscriptions:
            if not isinstance(sub, Subscription) or sub.exchange != _NAME:
                raise ConfigError(f"{sub!r} is not a bybit Subscription")
            linear = split_symbol(sub.symbol)[2]
            if self._linear is None:
                self._linear = linear
            elif linear != self._linear:
                raise ConfigError(
                    "bybit spot and linear subscriptions need separate connections "
                    f"({sub.symbol} on a {'linear' if self._linear else 'spot'} connection)"
                )
            topics[sub.topic] = (*topics.get(sub.topic, ()), sub)
        frames = []
        items = list(topics.items())
        step = self.MAX_ARGS_PER_REQUEST
        for i in range(0, len(items), step):
            self._next_id += 1
            request_id = str(self._next_id)
            batch = dict(items[i : i + step])
            if len(self._pending) >= _MAX_PENDING:  # never answered: forget the oldest
                del self._pending[next(iter(self._pending))]
            self._pending[request_id] = _Request(request_id, op, batch)
            frames.append(orjson.dumps({"req_id": request_id, "op": op, "args": list(batch)}))
        return [f.decode() for f in frames]

    def _unwant(self, sub: Subscription) -> None:
        left = tuple(s for s in self._wanted.get(sub.topic, ()) if s != sub)
        if left:
            self._wanted[sub.topic] = left
        else:
            self._wanted.pop(sub.topic, None)
            self._tickers.pop(sub.topic, None)
            self._level1.pop(sub.topic, None)

    def _symbol(self, wire: str, topic: str) -> str:
        subs = self._wanted.get(topic)
        if subs:
            return subs[0].symbol
        # a topic nobody asked this adapter for: name it as well as we can
        symbol = from_binance(wire)
        return symbol + "-PERP" if self._linear else symbol

    # -- receiving -------------------------------------------------------------------------
    def parse(self, frame: bytes | str, received_at: float, out: list[Any]) -> None:
        mark = len(out)
        try:
            try:
                msg = orjson.loads(frame)
            except orjson.JSONDecodeError as exc:
                out.append(ParseError(f"bybit: not JSON ({exc})", excerpt(frame)))
                return
            if msg.__class__ is not dict:
                problem = f"bybit: expected a JSON object, got {type(msg).__name__}"
                out.append(ParseError(problem, excerpt(frame)))
                return
            topic = msg.get("topic")
            if topic is None:
                self._on_control(msg, frame, received_at, out)
                return
            if topic.__class__ is not str or "." not in topic:
                out.append(ParseError(f"bybit: bad 'topic' {topic!r}", excerpt(frame)))
                return
            stream, _, wire = topic.rpartition(".")
            handler = self._handlers.get(stream)
            if handler is None:
                out.append(ParseError(f"bybit: unknown topic {topic!r}", excerpt(frame)))
                return
            if self.only_subscribed and topic not in self._wanted:
                self._drop_unsolicited(topic)
                return
            try:
                handler(topic, self._symbol(wire, topic), msg, received_at, out)
            except Exception as exc:
                del out[mark:]
                out.append(ParseError(f"bybit {topic}: {describe(exc)}", excerpt(frame)))
        except Exception as exc:  # pragma: no cover - last resort, parse never raises
            del out[mark:]
            out.append(ParseError(f"bybit: {describe(exc)}", excerpt(frame)))

    # -- control frames --------------------------------------------------------------------
    def _on_control(
        self, msg: dict[str, Any], frame: bytes | str, received_at: float, out: list[Any]
    ) -> None:
        op = msg.get("op")
        ret = msg.get("ret_msg")
        text = ret if isinstance(ret, str) else ""
        success = msg.get("success")
        if op == "pong" or (op == "ping" and text == "pong"):
            out.append(Pong(received_at))
        elif op == "subscribe" or op == "unsubscribe":
            self._on_answer(op, success is True, text, msg.get("req_id"), out)
        elif success is False:
            out.append(ExchangeError("bybit", text, _text_id(msg.get("req_id"))))
        elif op == "auth" or success is True:
            pass  # an answer we need not act on
        else:
            out.append(ParseError("bybit: neither 'topic' nor a known 'op'", excerpt(frame)))

    def _on_answer(self, op: str, ok: bool, text: str, raw_id: Any, out: list[Any]) -> None:
        request_id = _text_id(raw_id)
        req = self._pending.get(request_id) if request_id else None
        if req is None or req.op != op:  # no (or an unknown) req_id: oldest of this op
            req = next((r for r in self._pending.values() if r.op == op), None)
        if req is None:
            if not ok:
                out.append(ExchangeError("bybit", text, request_id))
            return
        if ok:
            del self._pending[req.id]
            cls = Subscribed if op == "subscribe" else Unsubscribed
            out.append(cls(tuple(s for subs in req.topics.values() for s in subs), req.id))
            return
        named = [a or b for a, b in _TOPIC_IN_MSG.findall(text)]
        named = [t for t in named if t in req.topics]
        if op == "unsubscribe":
            del self._pending[req.id]
            out.append(ExchangeError("bybit", f"unsubscribe refused: {text}", req.id))
            return
        if not named:  # the whole request was refused (e.g. "args size >10")
            del self._pending[req.id]
            subs = tuple(s for topic_subs in req.topics.values() for s in topic_subs)
            for sub in subs:
                self._unwant(sub)
            out.append(Rejected(subs, "success=false", text, req.id))
            return
        for topic in named:  # the others of the request may stand: their data confirms them
            subs = req.topics.pop(topic)
            if "already subscribed" in text:
                out.append(Subscribed(subs, req.id))
            else:
                for sub in subs:
                    self._unwant(sub)
                out.append(Rejected(subs, "success=false", text, req.id))
        if not req.topics:
            del self._pending[req.id]


def _text_id(value: Any) -> str | None:
    if value is None or value == "":
        return None
    if value.__class__ is str or value.__class__ is int:
        return str(value)
    return None
