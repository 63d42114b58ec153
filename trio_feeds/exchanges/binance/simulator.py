"""A simulated Binance Spot public market-data server (WebSocket streams + REST depth)."""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import partial
from typing import Any, Literal

import attrs
import orjson
import trio

from trio_feeds.core.symbols import canonical
from trio_feeds.simulator.faults import DataFaults, cut, damage, dumps
from trio_feeds.simulator.market import (
    Candle,
    ExchangeClock,
    Fill,
    MarketSimulator,
    MarketTick,
    SymbolUpdate,
    format_fixed,
)
from trio_feeds.simulator.server import RestResult, SimConnection, SimulatedExchange, _RateWindow

__all__ = ["SimulatedBinance"]

_STREAM = re.compile(
    r"^([a-z0-9]+)@(trade|aggTrade|ticker|miniTicker|bookTicker|kline_1m"
    r"|depth(?:5|10|20)?(?:@100ms|@1000ms)?)$"
)
_ID_STR = re.compile(r"^[A-Za-z0-9_-]{1,36}$")
_METHODS = ("SUBSCRIBE", "UNSUBSCRIBE", "LIST_SUBSCRIPTIONS", "SET_PROPERTY", "GET_PROPERTY")
_INVALID_STREAM = "Invalid request: invalid stream"
_JSON = [("content-type", "application/json;charset=UTF-8")]


@attrs.frozen
class _Stream:
    name: str
    symbol: str  # canonical
    kind: str  # trade, aggTrade, ticker, miniTicker, bookTicker, kline_1m, depth, partial
    cadence: float  # seconds, for depth kinds
    levels: int  # partial depth levels


@attrs.frozen
class _Reject:
    symbol: str | None
    channel: str | None
    code: int | None


@attrs.define
class _ConnState:
    combined: bool
    tmul: int
    rate: _RateWindow


class _DiffBuf:
    __slots__ = ("asks", "bids", "first", "last")

    def __init__(self) -> None:
        self.first: int | None = None
        self.last = 0
        self.bids: dict[int, int] = {}
        self.asks: dict[int, int] = {}

    def add(self, up: SymbolUpdate) -> None:
        if self.first is None:
            self.first = up.first_update_id
        self.last = up.last_update_id
        bids, asks = self.bids, self.asks
        for c in up.changes:
            (bids if c.is_bid else asks)[c.price] = c.size

    def reset(self) -> None:
        self.first = None
        self.bids = {}
        self.asks = {}


class _SymState:
    def __init__(self, symbol: str, agg_id: int) -> None:
        self.symbol = symbol
        self.agg_id = agg_id
        self.bufs = {0.1: _DiffBuf(), 1.0: _DiffBuf()}


#: stream kind -> (price keys, size keys) for the "nan" / "negative" faults
_DAMAGE: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "trade": (("p",), ("q",)),
    "aggTrade": (("p",), ("q",)),
    "bookTicker": (("b", "a"), ("B", "A")),
    "ticker": (("c",), ("v",)),
    "depth": (("b", "a"), ("b", "a")),
    "partial": (("bids", "asks"), ("bids", "asks")),
}


class SimulatedBinance(DataFaults, SimulatedExchange):
    """A Binance Spot market-data WebSocket + REST server driven by a :class:`MarketSimulator`.

    WebSocket paths: ``/ws`` (bare events), ``/ws/<stream>[/<stream>…]`` (pre-subscribed,
    bare), ``/stream`` (combined ``{"stream","data"}`` envelopes) and
    ``/stream?streams=<s1>/<s2>``; ``timeUnit=MICROSECOND`` switches every time field to µs.
    Requests ``SUBSCRIBE``/``UNSUBSCRIBE``/``LIST_SUBSCRIPTIONS``/``SET_PROPERTY``/
    ``GET_PROPERTY`` are answered like Binance does (one reply per request).

    Streams: ``<s>@trade``, ``@aggTrade``, ``@bookTicker`` (real time), ``@ticker``,
    ``@miniTicker`` (1 s), ``@depth5|10|20[@100ms|@1000ms]`` (partial book),
    ``@depth[@100ms|@1000ms]`` (diffs: ``U``/``u`` contiguous, absolute sizes, ``0`` removes;
    consistent with ``GET /api/v3/depth``), ``@kline_1m`` (every 2 s, plus the final candle
    with ``x: true`` when a minute closes).

    Rules enforced: a WS ping every ``ping_interval`` s and a close if its pong has not come
    within ``pong_timeout`` s (unsolicited pongs do not help); ``max_messages_per_second``
    incoming frames (text, ping and pong) per connection, else close + a
    :class:`~trio_feeds.testing.Violation`; ``max_streams`` per connection;
    ``max_connection_age``; 300 connection attempts per 5 minutes per IP (counted only).

    Args:
        market: the market to publish.
        unknown_symbol: ``"error"`` (answer code 2 "invalid stream", as spot did in 2021-23)
            or ``"accept"`` (reply success and send nothing, as a 2026 probe saw).
        ping_interval, pong_timeout: keepalive (``None`` disables server pings).
        max_messages_per_second: incoming frame budget (``None`` disables).
        max_streams: streams per connection.
        max_connection_age: seconds before the server closes a connection (code 1001).
        clock_offset: seconds this exchange's clock runs ahead of the market's (negative:
            behind); see :class:`~trio_feeds.testing.ExchangeClock` (``self.clock``), which
            also makes its event time fall behind for a while (``clock.lag_episode``).
        **kwargs: see :class:`~trio_feeds.testing.SimulatedExchange`.
    """

    name = "binance"
    memory_host = "stream.binance.test"
    memory_port = 9443
    memory_rest_host = "api.binance.test"

    def __init__(
        self,
        market: MarketSimulator,
        *,
        unknown_symbol: Literal["error", "accept"] = "error",
        ping_interval: float | None = 20.0,
        pong_timeout: float = 60.0,
        max_messages_per_second: int | None = 5,
        max_streams: int = 1024,
        max_connection_age: float | None = 24 * 3600.0,
        clock_offset: float = 0.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(market, **kwargs)
        #: how this exchange stamps its events (offset, event time falling behind)
        self.clock = ExchangeClock(clock_offset)
        self._init_faults()
        self.unknown_symbol = unknown_symbol
        self.ping_interval = ping_interval
        self.pong_timeout = pong_timeout
        self.max_messages_per_second = max_messages_per_second
        self.max_streams = max_streams
        self.max_connection_age = max_connection_age
        self._lower = {canonical(s).replace("-", "").lower(): s for s in market.symbols}
        self._upper = {k.upper(): v for k, v in self._lower.items()}
        self._bn = {v: k.upper() for k, v in self._lower.items()}
        self._sym = {
            s: _SymState(s, market.last_trade_id(s) // 2 + 7_000_000) for s in market.symbols
        }
        self._conn: dict[SimConnection, _ConnState] = {}
        self._subs: dict[str, set[SimConnection]] = {}
        self._names: dict[str, dict[str, _Stream]] = {}
        self._rejects: list[_Reject] = []
        self._next: dict[float, float] = {}
        self._attempts: dict[str, _RateWindow] = {}
        self._weights = _RateWindow(60.0)
        self._weight_log: list[tuple[float, int]] = []

    # --- faults specific to Binance ------------------------------------------------------

    def reject(
        self, symbol: str | None = None, channel: str | None = None, code: int | None = None
    ) -> None:
        """Refuse future ``SUBSCRIBE`` requests for matching streams with
        ``{"error":{"code":code or 2,"msg":"Invalid request: invalid stream"},"id":…}``.

        ``symbol`` is canonical (``"BTC-USDT"``) or Binance (``"btcusdt"``); ``channel`` is
        the part after ``@`` (``"depth"`` also matches ``"depth@100ms"``).  ``None`` matches all.
        """
        sym = None
        if symbol is not None:
            sym = self._lower.get(symbol.replace("-", "").lower(), symbol)
        self._rejects.append(_Reject(sym, channel, code))

    def clear_rejects(self) -> None:
        """Forget every :meth:`reject` rule."""
        self._rejects.clear()

    def shutdown_notice(self, lead: float = 5.0, connection: SimConnection | None = None) -> None:
        """Send the ``serverShutdown`` event, then close (code 1001) after ``lead`` seconds."""
        ts = self.clock.stamp(self.market.to_ms(trio.current_time()))
        for conn in self._targets(connection):
            st = self._conn.get(conn)
            if st is None:
                continue
            data = {"e": "serverShutdown", "E": ts * st.tmul}
            msg = {"stream": "!serverShutdown", "data": data} if st.combined else data
            conn.send_data(orjson.dumps(msg).decode())

            def later(c: SimConnection = conn) -> None:
                c.close(1001, "server shutdown")

            self._later(lead, later)

    # --- handshake / connection ----------------------------------------------------------

    def _parse(self, name: str) -> _Stream | str:
        """A stream, or an error message."""
        m = _STREAM.match(name)
        if m is None:
            return _INVALID_STREAM
        lower, suffix = m.groups()
        symbol = self._lower.get(lower)
        if symbol is None:
            return "unknown-symbol"
        base, _, cad = suffix.partition("@")
        cadence = 0.1 if cad == "100ms" else 1.0
        if base.startswith("depth") and base != "depth":
            return _Stream(name, symbol, "partial", cadence, int(base[5:]))
        return _Stream(name, symbol, base, cadence, 0)

    def _handshake_status(self, conn: SimConnection) -> int | None:
        path = conn.path
        if path == "/ws" or path == "/ws/":
            names: list[str] = []
            combined = False
        elif path.startswith("/ws/"):
            names = [n for n in path[4:].split("/") if n]
            combined = False
        elif path in ("/stream", "/stream/"):
            names = [n for n in conn.query.get("streams", "").split("/") if n]
            combined = True
        else:
            return 404
        for n in names:
            parsed = self._parse(n)
            if isinstance(parsed, str) and not (
                parsed == "unknown-symbol" and self.unknown_symbol == "accept"
            ):
                return 400
        if len(names) > self.max_streams:
            return 400
        tmul = 1000 if conn.query.get("timeUnit", "").upper() == "MICROSECOND" else 1
        self._conn[conn] = _ConnState(combined, tmul, _RateWindow(1.0))
        for n in names:
            self._add_sub(conn, n)
        return None

    def _connection_tasks(self, conn: SimConnection, nursery: trio.Nursery) -> None:
        if self.ping_interval is not None:
            nursery.start_soon(self._pinger, conn)
        if self.max_connection_age is not None:
            nursery.start_soon(self._age_limit, conn, self.max_connection_age)

    async def _pinger(self, conn: SimConnection) -> None:
        assert self.ping_interval is not None
        next_ping = conn.opened_at + self.ping_interval
        while True:
            oldest = conn.oldest_pending_ping()
            deadline = next_ping if oldest is None else min(next_ping, oldest + self.pong_timeout)
            await trio.sleep_until(deadline)
            now = trio.current_time()
            oldest = conn.oldest_pending_ping()
            if oldest is not None and now >= oldest + self.pong_timeout and conn.answer_pings:
                self._violation("pong_timeout", conn)
                conn.close(1008, "Pong timeout")
                return
            if now >= next_ping:
                if conn.answer_pings:
                    await conn.send_ping()
                next_ping += self.ping_interval

    async def _age_limit(self, conn: SimConnection, age: float) -> None:
        await trio.sleep(age)
        conn.close(1001, "Connection age limit")

    def _count_incoming(self, conn: SimConnection) -> bool:
        st = self._conn.get(conn)
        if st is None or self.max_messages_per_second is None:
            return True
        if st.rate.add(trio.current_time()) > self.max_messages_per_second:
            self._violation("message_rate", conn, f"> {self.max_messages_per_second} msgs/s")
            conn.close(1008, "Too many requests")
            return False
        return True

    def _check_connection_rate(self, remote: str, now: float) -> None:
        window = self._attempts.setdefault(remote, _RateWindow(300.0))
        if window.add(now) > 300:
            self._violation("connection_rate", None, f"{remote}: > 300 attempts / 5 min")

    def _on_open(self, conn: SimConnection) -> None:
        self._arm_new(conn)

    def _open_connections(self) -> list[SimConnection]:
        return list(self.connections)

    def _on_close(self, conn: SimConnection) -> None:
        for name in list(conn._subs):
            self._remove_sub(conn, name)
        self._conn.pop(conn, None)
        self._disarm(conn)

    # --- subscriptions ---------------------------------------------------------------------

    def _add_sub(self, conn: SimConnection, name: str) -> None:
        if name in conn._subs:
            return
        conn._subs[name] = None
        parsed = self._parse(name)
        if isinstance(parsed, str):
            return  # accepted unknown symbol: silent
        self._subs.setdefault(name, set()).add(conn)
        self._names.setdefault(parsed.symbol, {})[name] = parsed

    def _remove_sub(self, conn: SimConnection, name: str) -> None:
        conn._subs.pop(name, None)
        subs = self._subs.get(name)
        if subs is None:
            return
        subs.discard(conn)
        if not subs:
            del self._subs[name]
            parsed = self._parse(name)
            if not isinstance(parsed, str):
                names = self._names.get(parsed.symbol)
                if names is not None:
                    names.pop(name, None)
                    if not names:
                        del self._names[parsed.symbol]

    def _reply(self, conn: SimConnection, result: Any, rid: Any) -> None:
        conn.send_reply(orjson.dumps({"result": result, "id": rid}).decode())

    def _error(
        self, conn: SimConnection, code: int, msg: str, rid: Any = None, with_id: bool = True
    ) -> None:
        err: dict[str, Any] = {"error": {"code": code, "msg": msg}}
        if with_id:
            err["id"] = rid
        conn.send_reply(orjson.dumps(err).decode())

    def _rejected(self, parsed: _Stream | str, name: str) -> int | None:
        suffix = name.partition("@")[2]
        sym = parsed.symbol if isinstance(parsed, _Stream) else None
        for r in self._rejects:
            if r.symbol is not None and r.symbol != sym:
                continue
            if r.channel is not None and not (
                suffix == r.channel or suffix.startswith(r.channel + "@")
            ):
                continue
            return r.code if r.code is not None else 2
        return None

    def _on_text(self, conn: SimConnection, text: str) -> None:
        try:
            msg = orjson.loads(text)
        except orjson.JSONDecodeError:
            self._error(conn, 3, "Invalid JSON: expected value at line 1 column 1", with_id=False)
            return
        if not isinstance(msg, dict):
            self._error(conn, 3, "Invalid JSON: expected an object", with_id=False)
            return
        rid = msg.get("id")
        if not (
            rid is None
            or (isinstance(rid, int) and not isinstance(rid, bool) and -(2**63) <= rid < 2**63)
            or (isinstance(rid, str) and _ID_STR.match(rid))
        ):
            self._error(conn, 2, "Invalid request: request ID must be an unsigned integer", None)
            return
        method = msg.get("method")
        if method is None:
            self._error(conn, 2, "Invalid request: missing field `method`", rid)
            return
        if method not in _METHODS:
            self._error(
                conn,
                2,
                f"Invalid request: unknown variant `{method}`, expected one of "
                "`SUBSCRIBE`, `UNSUBSCRIBE`, `LIST_SUBSCRIPTIONS`, `SET_PROPERTY`, `GET_PROPERTY`",
                rid,
            )
            return
        params = msg.get("params", [])
        if not isinstance(params, list):
            self._error(conn, 2, "Invalid request: params must be an array", rid)
            return
        st = self._conn[conn]
        if method == "SUBSCRIBE":
            if not all(isinstance(p, str) for p in params):
                self._error(conn, 2, _INVALID_STREAM, rid)
                return
            for name in params:
                parsed = self._parse(name)
                code = self._rejected(parsed, name)
                if code is not None:
                    self._error(conn, code, _INVALID_STREAM, rid)
                    return
                if isinstance(parsed, str) and not (
                    parsed == "unknown-symbol" and self.unknown_symbol == "accept"
                ):
                    self._error(conn, 2, _INVALID_STREAM, rid)
                    return
            if len(set(conn._subs) | set(params)) > self.max_streams:
                self._violation("too_many_streams", conn, f"> {self.max_streams}")
                self._error(conn, 2, "Invalid request: too many streams", rid)
                return
            for name in params:
                self._add_sub(conn, name)
            self._reply(conn, None, rid)
        elif method == "UNSUBSCRIBE":
            for name in params:
                if isinstance(name, str):
                    self._remove_sub(conn, name)
            self._reply(conn, None, rid)
        elif method == "LIST_SUBSCRIPTIONS":
            self._reply(conn, conn.subscriptions, rid)
        elif method == "SET_PROPERTY":
            if len(params) != 2:
                self._error(conn, 2, "Invalid request: too many parameters", rid)
            elif not isinstance(params[0], str):
                self._error(conn, 2, "Invalid request: property name must be a string", rid)
            elif params[0] != "combined":
                self._error(conn, 0, "Unknown property", rid)
            elif not isinstance(params[1], bool):
                self._error(conn, 1, "Invalid value type: expected Boolean", rid)
            else:
                st.combined = params[1]
                self._reply(conn, None, rid)
        else:  # GET_PROPERTY
            if len(params) != 1:
                self._error(conn, 2, "Invalid request: too many parameters", rid)
            elif not isinstance(params[0], str):
                self._error(conn, 2, "Invalid request: property name must be a string", rid)
            elif params[0] != "combined":
                self._error(conn, 0, "Unknown property", rid)
            else:
                self._reply(conn, st.combined, rid)

    # --- publishing --------------------------------------------------------------------

    def _publish(
        self, name: str, build: Callable[[int], dict[str, Any]], gap_symbol: str | None = None
    ) -> None:
        subs = self._subs.get(name)
        if not subs:
            return
        cache: dict[tuple[bool, int], str] = {}
        for conn in subs:
            st = self._conn[conn]
            if gap_symbol is not None and conn.gaps and self._take_gap(conn, gap_symbol):
                continue
            key = (st.combined, st.tmul)
            text = cache.get(key)
            if text is None:
                data = build(st.tmul)
                text = orjson.dumps(
                    {"stream": name, "data": data} if st.combined else data
                ).decode()
                cache[key] = text
            if self._armed and conn in self._armed:
                faulted = self._faulted(conn, name, text)
                if faulted is None:
                    continue
                text = faulted
            conn.send_data(text)

    def _faulted(self, conn: SimConnection, name: str, text: str) -> str | None:
        """``text`` after the fault armed on ``conn`` for this stream (None: lost)."""
        stream = self._parse(name)
        if isinstance(stream, str):
            return text
        kind, sym = stream.kind, stream.symbol
        if kind == "depth":
            gap = self._peek(conn, ("gap",), sym)
            if gap is not None:
                # on a new connection: the diffs before the REST snapshot and the one that
                # syncs the book pass; the next, the first live diff, is lost
                if not gap.fresh or gap.stage == 2:
                    self._take(conn, ("gap",), sym)
                    return None  # this diff is lost
                if gap.stage == 1:
                    gap.stage = 2
        kinds = ["malformed"]
        if kind in _DAMAGE or kind == "kline_1m":
            kinds += ["nan", "negative"]
        if kind in ("trade", "aggTrade"):
            kinds.append("bad_trade_id")
        fault = self._take(conn, kinds, sym)
        if fault is None:
            return text
        if fault.kind == "malformed":
            return cut(text)
        msg = orjson.loads(text)
        data = msg["data"] if "stream" in msg and "data" in msg else msg
        if fault.kind == "bad_trade_id":
            data["t" if kind == "trade" else "a"] = {"id": 1}
        elif kind == "kline_1m":
            damage(fault.kind, data["k"], ("o",), ("v",))
        elif not damage(fault.kind, data, *_DAMAGE[kind]):
            self._arm(conn, fault)  # nowhere to put it (an empty diff): the next frame
            return text
        return dumps(msg)

    def _px(self, symbol: str) -> Callable[[int], str]:
        pd = self.market.spec(symbol).price_decimals
        return lambda v: format_fixed(v, pd)

    def _qty(self, symbol: str) -> Callable[[int], str]:
        sd = self.market.spec(symbol).size_decimals
        return lambda v: format_fixed(v, sd)

    def _on_tick(self, tick: MarketTick) -> None:
        t = tick.time
        for sym, up in tick.updates.items():
            ss = self._sym[sym]
            if up.changes:
                for buf in ss.bufs.values():
                    buf.add(up)
            aggs: list[tuple[int, bool, list[Fill]]] = []
            for order in up.orders:
                group: list[Fill] = []
                for f in order.fills:
                    if group and group[-1].price != f.price:
                        ss.agg_id += 1
                        aggs.append((ss.agg_id, order.is_buy, group))
                        group = []
                    group.append(f)
                if group:
                    ss.agg_id += 1
                    aggs.append((ss.agg_id, order.is_buy, group))
            names = self._names.get(sym)
            if names:
                self._realtime(sym, up, aggs, names)
            if up.closed_candle is not None and names:
                for name, s in list(names.items()):
                    if s.kind == "kline_1m":
                        self._publish(name, self._kline_builder(sym, up.ts, up.closed_candle))
        if not self._next:
            self._next = {0.1: t + 0.1, 1.0: t + 1.0, 2.0: t + 2.0}
        for cadence in (0.1, 1.0, 2.0):
            if t + 1e-9 >= self._next[cadence]:
                self._next[cadence] = max(self._next[cadence] + cadence, t)
                self._flush(cadence, tick.ts)

    def _realtime(
        self,
        sym: str,
        up: SymbolUpdate,
        aggs: list[tuple[int, bool, list[Fill]]],
        names: dict[str, _Stream],
    ) -> None:
        S = self._bn[sym]
        px, qty = self._px(sym), self._qty(sym)
        ts = self.clock.stamp(up.ts)
        for name, s in list(names.items()):
            if s.kind == "trade":
                for order in up.orders:
                    for f in order.fills:
                        trade = {
                            "e": "trade",
                            "E": ts,
                            "s": S,
                            "t": f.trade_id,
                            "p": px(f.price),
                            "q": qty(f.size),
                            "T": ts,
                            "m": not order.is_buy,
                            "M": True,
                        }
                        self._publish(name, partial(_timed, trade, ("E", "T")))
            elif s.kind == "aggTrade":
                for agg_id, is_buy, fills in aggs:
                    agg = {
                        "e": "aggTrade",
                        "E": ts,
                        "s": S,
                        "a": agg_id,
                        "p": px(fills[0].price),
                        "q": qty(sum(f.size for f in fills)),
                        "f": fills[0].trade_id,
                        "l": fills[-1].trade_id,
                        "T": ts,
                        "m": not is_buy,
                        "M": True,
                    }
                    self._publish(name, partial(_timed, agg, ("E", "T")))
            elif s.kind == "bookTicker" and up.bbo_changed:
                bid, bq, ask, aq = self.market.bbo(sym)
                data = {
                    "u": up.last_update_id,
                    "s": S,
                    "b": px(bid or 0),
                    "B": qty(bq),
                    "a": px(ask or 0),
                    "A": qty(aq),
                }
                self._publish(name, partial(_timed, data, ()))

    def _flush(self, cadence: float, ts: int) -> None:
        for sym, ss in self._sym.items():
            names = self._names.get(sym)
            buf = ss.bufs.get(cadence)
            if names:
                for name, s in list(names.items()):
                    if cadence == 2.0:
                        if s.kind == "kline_1m":
                            self._publish(
                                name, self._kline_builder(sym, ts, self.market.candle(sym, ts))
                            )
                        continue
                    if cadence == 1.0 and s.kind == "ticker":
                        self._publish(name, self._ticker_builder(sym, ts))
                    elif cadence == 1.0 and s.kind == "miniTicker":
                        self._publish(name, self._mini_builder(sym, ts))
                    elif s.cadence != cadence:
                        continue
                    elif s.kind == "partial":
                        self._publish(name, self._partial_builder(sym, s.levels))
                    elif s.kind == "depth" and buf is not None and buf.first is not None:
                        self._publish(name, self._diff_builder(sym, ts, buf), gap_symbol=sym)
            if buf is not None:
                buf.reset()

    def _diff_builder(self, sym: str, ts: int, buf: _DiffBuf) -> Callable[[int], dict[str, Any]]:
        px, qty = self._px(sym), self._qty(sym)
        b = [[px(p), qty(q)] for p, q in sorted(buf.bids.items(), reverse=True)]
        a = [[px(p), qty(q)] for p, q in sorted(buf.asks.items())]
        first, last, S = buf.first, buf.last, self._bn[sym]
        ets = self.clock.stamp(ts)
        return lambda m: {
            "e": "depthUpdate",
            "E": ets * m,
            "s": S,
            "U": first,
            "u": last,
            "b": b,
            "a": a,
        }

    def _partial_builder(self, sym: str, levels: int) -> Callable[[int], dict[str, Any]]:
        px, qty = self._px(sym), self._qty(sym)
        bids, asks = self.market.book(sym, levels)
        data = {
            "lastUpdateId": self.market.update_id(sym),
            "bids": [[px(p), qty(q)] for p, q in bids],
            "asks": [[px(p), qty(q)] for p, q in asks],
        }
        return lambda m: data

    def _kline_builder(self, sym: str, ts: int, c: Candle) -> Callable[[int], dict[str, Any]]:
        px, qty = self._px(sym), self._qty(sym)
        spec = self.market.spec(sym)
        qd = spec.price_decimals + spec.size_decimals
        S = self._bn[sym]
        ets = self.clock.stamp(ts)  # the event time; the candle's own times stay on the minute
        return lambda m: {
            "e": "kline",
            "E": ets * m,
            "s": S,
            "k": {
                "t": c.open_time * m,
                "T": (c.open_time + 60000) * m - 1,
                "s": S,
                "i": "1m",
                "f": c.first_id,
                "L": c.last_id,
                "o": px(c.open),
                "c": px(c.close),
                "h": px(c.high),
                "l": px(c.low),
                "v": qty(c.volume),
                "n": c.trades,
                "x": c.closed,
                "q": format_fixed(c.quote_volume, qd),
                "V": qty(c.taker_buy_volume),
                "Q": format_fixed(c.taker_buy_quote, qd),
                "B": "0",
            },
        }

    def _ticker_builder(self, sym: str, ts: int) -> Callable[[int], dict[str, Any]]:
        px, qty = self._px(sym), self._qty(sym)
        spec = self.market.spec(sym)
        qd = spec.price_decimals + spec.size_decimals
        st = self.market.stats(sym, ts)
        bid, bq, ask, aq = self.market.bbo(sym)
        change = st.last - st.open
        pct = f"{change * 100 / st.open:.3f}" if st.open else "0.000"
        w = round(st.quote_volume / st.volume) if st.volume else st.last
        S = self._bn[sym]
        ets = self.clock.stamp(ts)
        return lambda m: {
            "e": "24hrTicker",
            "E": ets * m,
            "s": S,
            "p": px(change),
            "P": pct,
            "w": px(w),
            "x": px(st.open),
            "c": px(st.last),
            "Q": qty(st.last_size),
            "b": px(bid or 0),
            "B": qty(bq),
            "a": px(ask or 0),
            "A": qty(aq),
            "o": px(st.open),
            "h": px(st.high),
            "l": px(st.low),
            "v": qty(st.volume),
            "q": format_fixed(st.quote_volume, qd),
            "O": st.open_time * m,
            "C": ets * m,
            "F": st.first_id,
            "L": st.last_id,
            "n": st.count,
        }

    def _mini_builder(self, sym: str, ts: int) -> Callable[[int], dict[str, Any]]:
        px, qty = self._px(sym), self._qty(sym)
        spec = self.market.spec(sym)
        st = self.market.stats(sym, ts)
        S = self._bn[sym]
        ets = self.clock.stamp(ts)
        return lambda m: {
            "e": "24hrMiniTicker",
            "E": ets * m,
            "s": S,
            "c": px(st.last),
            "o": px(st.open),
            "h": px(st.high),
            "l": px(st.low),
            "v": qty(st.volume),
            "q": format_fixed(st.quote_volume, spec.price_decimals + spec.size_decimals),
        }

    # --- REST --------------------------------------------------------------------------

    def _rest_throttled(self) -> RestResult:
        body = orjson.dumps(
            {
                "code": -1003,
                "msg": "Too many requests; current limit of IP(127.0.0.1) is 6000 requests per "
                "minute. Please use the websocket for live updates to avoid polling the API.",
            }
        )
        return 429, [*_JSON, ("retry-after", str(self._rest_retry_after))], body

    def _used_weight(self, add: int) -> int:
        now = trio.current_time()
        self._weight_log = [(t, w) for t, w in self._weight_log if t > now - 60.0]
        self._weight_log.append((now, add))
        return sum(w for _, w in self._weight_log)

    def _rest(self, method: str, path: str, query: dict[str, str]) -> RestResult:
        if method != "GET":
            return 405, _JSON, b'{"code":-1,"msg":"Method not allowed."}'
        if path == "/api/v3/ping":
            return 200, [*_JSON, ("x-mbx-used-weight-1m", str(self._used_weight(1)))], b"{}"
        if path == "/api/v3/time":
            now_ms = self.clock.stamp(self.market.to_ms(trio.current_time()))
            body = orjson.dumps({"serverTime": now_ms})
            return 200, [*_JSON, ("x-mbx-used-weight-1m", str(self._used_weight(1)))], body
        if path != "/api/v3/depth":
            return 404, _JSON, b'{"code":-1,"msg":"Not found."}'
        raw = query.get("symbol")
        if not raw:
            return (
                400,
                _JSON,
                orjson.dumps(
                    {
                        "code": -1102,
                        "msg": "Mandatory parameter 'symbol' was not sent, was empty/null, "
                        "or malformed.",
                    }
                ),
            )
        sym = self._upper.get(raw)
        if sym is None:
            return 400, _JSON, b'{"code":-1121,"msg":"Invalid symbol."}'
        try:
            limit = int(query.get("limit", "100"))
        except ValueError:
            return (
                400,
                _JSON,
                orjson.dumps(
                    {
                        "code": -1100,
                        "msg": "Illegal characters found in parameter 'limit'; "
                        "legal range is '^[0-9]{1,20}$'.",
                    }
                ),
            )
        limit = max(1, min(limit, 5000))
        weight = 5 if limit <= 100 else 25 if limit <= 500 else 50 if limit <= 1000 else 250
        px, qty = self._px(sym), self._qty(sym)
        bids, asks = self.market.book(sym, limit)
        for faults in self._armed.values():  # corrupt("gap") on new connections: see _faulted
            for f in faults:
                if f.kind == "gap" and f.fresh and f.symbol in (None, sym) and f.stage == 0:
                    f.stage = 1
        body = orjson.dumps(
            {
                "lastUpdateId": self.market.update_id(sym),
                "bids": [[px(p), qty(q)] for p, q in bids],
                "asks": [[px(p), qty(q)] for p, q in asks],
            }
        )
        return 200, [*_JSON, ("x-mbx-used-weight-1m", str(self._used_weight(weight)))], body


def _timed(data: dict[str, Any], fields: tuple[str, ...], mul: int) -> dict[str, Any]:
    """``data`` with the time ``fields`` multiplied by ``mul`` (1 = ms, 1000 = µs)."""
    if mul == 1 or not fields:
        return data
    out = dict(data)
    for f in fields:
        out[f] = data[f] * mul
    return out
