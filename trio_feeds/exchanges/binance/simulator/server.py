"""A simulated Binance Spot public market-data server (WebSocket streams + REST depth).

The class is here; its request handling (:mod:`.requests`), payloads (:mod:`.payloads`), REST
endpoints (:mod:`.rest`) and per-connection/per-symbol state (:mod:`.state`) are next to it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

import orjson
import trio

from trio_feeds.core.symbols import PERP_SUFFIX, canonical
from trio_feeds.exchanges.binance.simulator import history, payloads, requests, rest
from trio_feeds.exchanges.binance.simulator.state import (
    _STREAM,
    _ConnState,
    _Reject,
    _Stream,
    _SymState,
)
from trio_feeds.simulator.faults import DataFaults
from trio_feeds.simulator.market import ExchangeClock, Fill, MarketSimulator, MarketTick
from trio_feeds.simulator.server import SimConnection, SimulatedExchange, _RateWindow

__all__ = ["SimulatedBinance"]


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
        served = [s for s in market.symbols if self._serves(s)]
        self._lower = {self._native(s): s for s in served}
        self._upper = {k.upper(): v for k, v in self._lower.items()}
        self._bn = {v: k.upper() for k, v in self._lower.items()}
        self._sym = {
            s: _SymState(s, market.last_trade_id(s) // 2 + 7_000_000, self._CADENCES)
            for s in served
        }
        self._conn: dict[SimConnection, _ConnState] = {}
        self._subs: dict[str, set[SimConnection]] = {}
        self._names: dict[str, dict[str, _Stream]] = {}
        self._rejects: list[_Reject] = []
        self._next: dict[float, float] = {}
        self._attempts: dict[str, _RateWindow] = {}
        self._weights = _RateWindow(60.0)
        self._weight_log: list[tuple[float, int]] = []
        #: what ``GET /api/v3/exchangeInfo`` lists: symbol -> status (:meth:`set_listing`)
        self.listing: dict[str, str] = {s: "TRADING" for s in self._sym}
        self.instrument_requests = 0  # exchangeInfo requests served

    set_listing = rest.set_listing

    #: the cadences (s) of the diff buffers kept per symbol
    _CADENCES: tuple[float, ...] = (0.1, 1.0)

    @staticmethod
    def _serves(symbol: str) -> bool:
        """Whether this exchange lists the market's ``symbol`` (spot: not the perpetuals)."""
        return not symbol.endswith(PERP_SUFFIX)

    @staticmethod
    def _native(symbol: str) -> str:
        """The symbol in stream names (``btcusdt``)."""
        return canonical(symbol).replace("-", "").lower()

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

    _parse = requests.parse
    #: the stream names served (``<symbol>@<stream>``)
    _STREAM_RE = _STREAM

    @staticmethod
    def _cadence(base: str, speed: str) -> float:
        """Seconds between pushes of stream ``base@speed`` (for the batched kinds)."""
        return 0.1 if speed == "100ms" else 1.0

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

    _reply = requests.reply
    _error = requests.error
    _rejected = requests.rejected
    _on_text = requests.on_text

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

    _faulted = payloads.faulted
    _px = payloads.px
    _qty = payloads.qty

    def _on_tick(self, tick: MarketTick) -> None:
        t = tick.time
        for sym, up in tick.updates.items():
            ss = self._sym.get(sym)
            if ss is None:
                continue  # not listed here (see _serves)
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
            if aggs:
                history.record_aggs(self, sym, up.ts, aggs)  # for REST aggTrades
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

    _realtime = payloads.realtime
    _trade_shape = staticmethod(payloads.trade_shape)
    _ticker_shape = staticmethod(payloads.ticker_shape)

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

    _diff_builder = payloads.diff_builder
    _partial_builder = payloads.partial_builder
    _kline_builder = payloads.kline_builder
    _ticker_builder = payloads.ticker_builder
    _mini_builder = payloads.mini_builder

    # --- REST --------------------------------------------------------------------------

    _rest_throttled = rest.rest_throttled
    _used_weight = rest.used_weight
    _rest = rest.rest
