"""Coinbase Advanced Trade market-data WebSocket, sans-I/O.

Facts relied on (``docs/exchanges.md`` gives the pages):

* One endpoint, ``wss://advanced-trade-ws.coinbase.com``.  Requests
  ``{"type":"subscribe"|"unsubscribe","product_ids":[…],"channel":"…"}``, exactly one
  channel each.  The adapter subscribes ``heartbeats`` (no products) first on every
  connection, so quiet subscriptions stay open; the engine need not know.
* Every message is ``{"channel","client_id","timestamp","sequence_num","events":[…]}``;
  ``sequence_num`` counts the messages of the connection over all channels: a hole
  means whole messages were missed → one :class:`~trio_feeds.exchanges._shared.ConnectionGap`
  (a ``Gap`` per subscription) and every ``level2`` book of the connection resyncs.
* ``subscriptions`` answers list what the connection now carries; ``{"type":"error",
  "message"…}`` frames report refusals.
* ``market_trades``: ``side`` is the **maker's** side (see the docs page for the
  evidence); the record carries the taker's, the opposite.
* ``level2`` pushes arrive as channel ``l2_data``: a ``snapshot`` event, then
  ``update`` events of ``{"side":"bid"|"offer","price_level","new_quantity"}``
  (absolute sizes, ``"0"`` removes).
* ``candles`` are five-minute buckets (``start`` in Unix seconds) with no closed flag:
  a bucket is emitted once more with ``closed=True`` when the next one starts.
* ``-USDC`` products outside the user channel return the ``-USD`` data: records of such
  a product are named after the symbol that was subscribed.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any, ClassVar, Final, TypeAlias

import orjson

from trio_feeds.core.errors import ConfigError
from trio_feeds.core.records import Candle, Gap
from trio_feeds.core.symbols import canonical
from trio_feeds.exchanges._shared import ConnectionGap, describe, iso_ms
from trio_feeds.exchanges.coinbase import facts
from trio_feeds.exchanges.coinbase._push import PushHandlers
from trio_feeds.protocol import (
    Adapter,
    ExchangeError,
    ParseError,
    Rejected,
    Subscribed,
    Subscription,
    Unsubscribed,
    normalize_channel,
)
from trio_feeds.protocol._events import excerpt

__all__ = ["STREAMS", "CoinbaseAdapter"]

_NAME: Final = facts.NAME
#: normalized channel → the Coinbase channels that serve it; the first is the default
STREAMS: Final[dict[str, tuple[str, ...]]] = {
    "trade": ("market_trades",),
    "ticker": ("ticker", "ticker_batch"),
    "quote": ("ticker",),
    "book": ("level2",),
    "candle": ("candles",),
}
#: the channel name a push or a ``subscriptions`` list uses → the one we subscribe
_SUBSCRIBED_AS: Final = {"l2_data": "level2", "level2": "level2"}
_HEARTBEATS: Final = '{"type":"subscribe","channel":"heartbeats"}'
_MAX_PENDING: Final = 1000
_Key: TypeAlias = tuple[str, str]
"""``(channel, product_id)``: one Coinbase subscription."""
_Handler: TypeAlias = Callable[[dict[str, Any], int, int | None, float, list[Any]], None]


class _Request:
    __slots__ = ("keys", "op")

    def __init__(self, op: str, keys: dict[_Key, tuple[Subscription, ...]]) -> None:
        self.op = op
        self.keys = keys


class CoinbaseAdapter(PushHandlers, Adapter):
    """Sans-I/O Coinbase Advanced Trade public market data (one instance per connection).

    >>> a = CoinbaseAdapter()
    >>> sub = a.subscription("trade", "btc-usd")
    >>> sub.topic, a.endpoint(sub)
    ('market_trades:BTC-USD', '/')
    >>> a.subscribe([sub])  # doctest: +NORMALIZE_WHITESPACE
    ['{"type":"subscribe","channel":"heartbeats"}',
     '{"type":"subscribe","product_ids":["BTC-USD"],"channel":"market_trades"}']
    """

    name: ClassVar[str] = _NAME
    default_url: ClassVar[str] = facts.WS_URL
    default_rest_url: ClassVar[str] = facts.REST_URL
    max_streams_per_connection: ClassVar[int] = facts.MAX_STREAMS_PER_CONNECTION
    MAX_PRODUCTS_PER_REQUEST: ClassVar[int] = facts.MAX_PRODUCTS_PER_REQUEST

    def __init__(self, *, keep_raw: bool = False, only_subscribed: bool = False) -> None:
        super().__init__(keep_raw=keep_raw, only_subscribed=only_subscribed)
        self._wanted: dict[_Key, tuple[Subscription, ...]] = {}
        self._labels: dict[_Key, tuple[str, ...]] = {}
        self._pending: list[_Request] = []
        self._heartbeats = False
        self._last_seq: int | None = None
        self._last_ts: int | None = None
        self._l2_last: dict[str, int] = {}
        self._candles: dict[tuple[str, str], Candle] = {}
        self.gaps = 0
        """Holes seen in ``sequence_num`` on this connection."""
        self._handlers: dict[str, _Handler] = {
            "l2_data": self._on_l2,
            "market_trades": self._on_trades,
            "ticker": functools.partial(self._on_ticker, "ticker"),
            "ticker_batch": functools.partial(self._on_ticker, "ticker_batch"),
            "candles": self._on_candles,
            "subscriptions": self._on_subscriptions,
            "heartbeats": _ignore,
            "status": _ignore,
        }

    # -- subscriptions ---------------------------------------------------------------------
    def subscription(self, channel: str, symbol: str, stream: str | None = None) -> Subscription:
        kind = normalize_channel(channel)
        allowed = STREAMS[kind]
        if stream is None:
            stream = allowed[0]
        elif stream not in allowed:
            raise ConfigError(
                f"coinbase channel {stream!r} cannot serve {kind!r}; "
                f"choose one of {', '.join(allowed)}"
            )
        product = canonical(symbol)  # Coinbase product ids are canonical symbols
        return Subscription(_NAME, kind, product, stream, f"{stream}:{product}")

    def endpoint(self, subscription: Subscription) -> str:
        return facts.WS_PATH

    def subscribe(self, subscriptions: Sequence[Subscription]) -> list[str]:
        frames = [] if self._heartbeats else [_HEARTBEATS]
        self._heartbeats = True
        new: dict[_Key, tuple[Subscription, ...]] = {}
        for sub in subscriptions:
            key = self._key(sub)
            have = self._wanted.get(key, ())
            if not have or key in new:  # a key already carried needs no new request
                new[key] = (*new.get(key, ()), sub)
            if sub not in have:
                self._wanted[key] = (*have, sub)
        self._labels.clear()
        return frames + self._requests("subscribe", new)

    def unsubscribe(self, subscriptions: Sequence[Subscription]) -> list[str]:
        gone: dict[_Key, tuple[Subscription, ...]] = {}
        for sub in subscriptions:
            key = self._key(sub)
            left = tuple(s for s in self._wanted.get(key, ()) if s != sub)
            if left:
                self._wanted[key] = left
                continue
            if key in self._wanted:
                del self._wanted[key]
                gone[key] = (*gone.get(key, ()), sub)
            self._forget(key)
        self._labels.clear()
        return self._requests("unsubscribe", gone)

    def _key(self, sub: Subscription) -> _Key:
        if not isinstance(sub, Subscription) or sub.exchange != _NAME:
            raise ConfigError(f"{sub!r} is not a coinbase Subscription")
        return (sub.stream, sub.symbol)

    def _forget(self, key: _Key) -> None:
        channel, product = key
        if channel == "level2":
            self._l2_last.pop(product, None)
        elif channel == "candles":
            for k in [k for k in self._candles if k[0] == product]:
                del self._candles[k]

    def _requests(self, op: str, keys: dict[_Key, tuple[Subscription, ...]]) -> list[str]:
        by_channel: dict[str, list[_Key]] = {}
        for key in keys:
            by_channel.setdefault(key[0], []).append(key)
        frames = []
        step = self.MAX_PRODUCTS_PER_REQUEST
        for channel, channel_keys in by_channel.items():
            for i in range(0, len(channel_keys), step):
                batch = channel_keys[i : i + step]
                if len(self._pending) >= _MAX_PENDING:  # never answered: forget the oldest
                    del self._pending[0]
                self._pending.append(_Request(op, {k: keys[k] for k in batch}))
                body = {"type": op, "product_ids": [k[1] for k in batch], "channel": channel}
                frames.append(orjson.dumps(body).decode())
        return frames

    def _label(self, channel: str, product: str) -> tuple[str, ...]:
        """The symbols records of ``product`` on ``channel`` are named after."""
        key = (channel, product)
        names = self._labels.get(key)
        if names is None:
            found: list[str] = []
            keys = [key, (channel, product + "C")] if product.endswith("-USD") else [key]
            for k in keys:  # a -USDC subscription is answered with -USD data
                for s in self._wanted.get(k, ()):
                    if s.symbol not in found:
                        found.append(s.symbol)
            if not found and self.only_subscribed:  # nobody asked for it here: dropped
                self._drop_unsolicited(f"{channel}:{product}")
                return ()
            names = self._labels[key] = tuple(found) or (product,)
        return names

    # -- receiving -------------------------------------------------------------------------
    def parse(self, frame: bytes | str, received_at: float, out: list[Any]) -> None:
        mark = len(out)
        try:
            try:
                msg = orjson.loads(frame)
            except orjson.JSONDecodeError as exc:
                out.append(ParseError(f"coinbase: not JSON ({exc})", excerpt(frame)))
                return
            if msg.__class__ is not dict:
                problem = f"coinbase: expected a JSON object, got {type(msg).__name__}"
                out.append(ParseError(problem, excerpt(frame)))
                return
            channel = msg.get("channel")
            if channel is None:
                if msg.get("type") == "error":
                    self._on_error(msg, out)
                else:
                    out.append(ParseError("coinbase: no 'channel' and no error", excerpt(frame)))
                return
            raw_ts = msg.get("timestamp")
            try:
                ts = iso_ms(raw_ts)
            except Exception:
                ts = None
            seq = msg.get("sequence_num")
            if seq.__class__ is int:
                self._sequence(seq, int(received_at * 1000) if ts is None else ts, received_at, out)
            elif seq is not None:
                problem = f"coinbase {channel}: 'sequence_num' {seq!r} is not an integer"
                out.append(ParseError(problem, excerpt(frame)))
                return
            if ts is None:
                problem = f"coinbase {channel}: 'timestamp' {raw_ts!r} is not an RFC 3339 time"
                out.append(ParseError(problem, excerpt(frame)))
                return
            handler = self._handlers.get(channel)
            if handler is None:
                problem = f"coinbase: unknown channel {channel!r}"
                out.append(ParseError(problem, excerpt(frame)))
                return
            events = msg.get("events")
            if events.__class__ is not list:
                problem = f"coinbase {channel}: 'events' is missing or not a list"
                out.append(ParseError(problem, excerpt(frame)))
                return
            for i, ev in enumerate(events):
                at = len(out)
                try:
                    handler(ev, ts, seq, received_at, out)
                except Exception as exc:
                    del out[at:]
                    if channel == "l2_data":  # an update was lost: the chain breaks here
                        product = ev.get("product_id") if ev.__class__ is dict else None
                        if product.__class__ is str:
                            self._l2_last.pop(product, None)
                        else:
                            self._l2_last.clear()
                    problem = f"coinbase {channel}: events[{i}]: {describe(exc)}"
                    out.append(ParseError(problem, excerpt(frame)))
        except Exception as exc:  # pragma: no cover - last resort, parse never raises
            del out[mark:]
            out.append(ParseError(f"coinbase: {describe(exc)}", excerpt(frame)))

    def _sequence(self, seq: int, now: int, received_at: float, out: list[Any]) -> None:
        last = self._last_seq
        before = self._last_ts
        self._last_seq = seq
        self._last_ts = now
        if last is None or seq == last + 1:
            return
        self.gaps += 1
        self._l2_last.clear()  # every book of the connection must resync
        if seq > last:
            reason = f"sequence_num jumped from {last} to {seq}: {seq - last - 1} message(s) lost"
        else:
            reason = f"sequence_num went back from {last} to {seq}"
        start = min(before, now) if before is not None else now
        subs = [s for key_subs in self._wanted.values() for s in key_subs]
        gaps = tuple(Gap(_NAME, s.symbol, s.channel, start, now, reason) for s in subs)
        books = tuple(sorted({s.symbol for s in subs if s.channel == "book"}))
        out.append(ConnectionGap(_NAME, last + 1, seq, gaps, books, received_at))

    # -- control ---------------------------------------------------------------------------
    def _on_subscriptions(
        self, ev: Any, ts: int, seq: int | None, received_at: float, out: list[Any]
    ) -> None:
        listed: set[_Key] = set()
        for channel, products in ev["subscriptions"].items():
            channel = _SUBSCRIBED_AS.get(channel, channel)
            listed.update((channel, p) for p in products if p.__class__ is str)
        for req in list(self._pending):
            if req.op == "subscribe":
                done = [k for k in req.keys if k in listed]
                cls: type[Subscribed | Unsubscribed] = Subscribed
            else:
                done = [k for k in req.keys if k not in listed]
                cls = Unsubscribed
            if done:
                out.append(cls(tuple(s for k in done for s in req.keys.pop(k))))
            if not req.keys:
                self._pending.remove(req)

    def _on_error(self, msg: dict[str, Any], out: list[Any]) -> None:
        text = " ".join(str(msg[k]) for k in ("message", "reason") if msg.get(k))
        for req in list(self._pending):
            if req.op != "subscribe":
                continue
            named = [k for k in req.keys if k[1] in text]
            for key in named:
                subs = req.keys.pop(key)
                left = tuple(s for s in self._wanted.get(key, ()) if s not in subs)
                if left:
                    self._wanted[key] = left
                else:
                    self._wanted.pop(key, None)
                self._labels.clear()
                out.append(Rejected(subs, "error", text))
            if not req.keys:
                self._pending.remove(req)
            if named:
                return
        out.append(ExchangeError("error", text))


def _ignore(ev: Any, ts: int, seq: int | None, received_at: float, out: list[Any]) -> None:
    """Heartbeats and status: they count for ``sequence_num`` and nothing else."""
