"""A simulated Bybit v5 public market-data server (``/v5/public/spot``, ``/v5/public/linear``).

Built on :class:`~trio_feeds.testing.SimulatedExchange` like the Binance and OKX simulators;
it speaks the protocol of https://bybit-exchange.github.io/docs/v5/ws/connect and the
public topic pages (see ``docs/exchanges.md``).  Spot and linear share the market: the
linear instrument ``BTCUSDT`` (``BTC-USDT-PERP`` to the feed) follows the simulated
``BTC-USDT`` book, with its own update ids, ticker state and trade ids (UUIDs).

The class is here; its request handling (:mod:`.requests`), pushes and data faults
(:mod:`.payloads`) and per-connection/per-topic state (:mod:`.state`) are next to it.
"""

from __future__ import annotations

import uuid
import zlib
from typing import Any

import trio

from trio_feeds.exchanges.bybit.simulator import history, payloads, requests
from trio_feeds.exchanges.bybit.simulator.state import (
    _PATHS,
    _BookTopic,
    _ConnState,
    _Reject,
    _TickerTopic,
)
from trio_feeds.simulator.faults import DATA_FAULTS, DataFaults, dumps
from trio_feeds.simulator.market import (
    Candle,
    ExchangeClock,
    MarketSimulator,
    MarketTick,
    SymbolUpdate,
    format_fixed,
)
from trio_feeds.simulator.server import RestResult, SimConnection, SimulatedExchange, _RateWindow

__all__ = ["SimulatedBybit"]


class SimulatedBybit(DataFaults, SimulatedExchange):
    """A Bybit v5 public WebSocket server driven by a :class:`MarketSimulator`.

    Paths ``/v5/public/spot`` and ``/v5/public/linear`` (anything else: HTTP 404).  Requests
    ``{"req_id","op":"subscribe"|"unsubscribe","args":[topic,…]}`` get one answer each
    (``{"success","ret_msg","conn_id","req_id","op"}``; spot's ``ret_msg`` is the op, linear's
    is empty).  Refusals are ``"success": false`` with Bybit's texts: ``"args size >10"``
    (spot, more than 10 args; nothing of the request is subscribed), ``"error:handler not
    found,topic:…"`` (unknown topic), ``"Invalid symbol :[…]"``, ``"error:already
    subscribed,topic:…"``; the valid topics of a partly refused request are subscribed.
    ``{"op":"ping"}`` is answered with ``{"success":true,"ret_msg":"pong","op":"ping",…}``.

    Topics: ``publicTrade`` (one push per taker order, ``S`` the taker's side; ids numeric
    on spot, UUIDs on linear), ``tickers`` (spot: whole snapshots without best bid/ask every
    50 ms on change; linear: a snapshot, then deltas of the changed fields every 100 ms, with
    mark/index price, open interest and funding), ``orderbook.{1,50,200,1000}`` (a snapshot
    after subscribing, then deltas of the top ``depth`` levels with ``u`` + 1 each; level 1
    sends snapshots only and re-sends an unchanged one after 3 s with the same ``u``) and
    ``kline.1`` (the open candle every second with ``confirm`` false, the closed one with
    ``confirm`` true).

    Faults beyond the framework's: :meth:`restart_books` (a ``u == 1`` snapshot, as after a
    service restart), :meth:`resend_snapshot`, :meth:`reject`, :meth:`shutdown`, and
    :meth:`corrupt` (``gap`` loses one book delta; it is also what :meth:`sequence_gap`
    does).  Symbols in faults are the feed's: ``"BTC-USDT"`` (spot), ``"BTC-USDT-PERP"``.

    Rules: spot requests carry at most 10 args; the args of one connection at most 21,000
    characters (over: refused and a :class:`~trio_feeds.testing.Violation`); at most 500 new
    connections per 5 minutes per IP (counted); a connection from which nothing (no ping)
    has come and to which no data has gone for ``idle_timeout`` s (10 minutes) is closed.

    REST: ``GET /v5/market/recent-trade`` (the newest trades from the market's tape; see
    :mod:`.history`).
    """

    name = "bybit"
    _FAULT_KINDS = DATA_FAULTS
    memory_host = "stream.bybit.test"
    memory_port = 443
    memory_rest_host = "api.bybit.test"

    def __init__(
        self,
        market: MarketSimulator,
        *,
        idle_timeout: float | None = 600.0,
        max_args_per_request: int = 10,
        max_arg_chars: int = 21_000,
        max_connections_per_window: int = 500,
        clock_offset: float = 0.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(market, **kwargs)
        self.clock = ExchangeClock(clock_offset)
        self._init_faults()
        self.idle_timeout = idle_timeout
        self.max_args_per_request = max_args_per_request
        self.max_arg_chars = max_arg_chars
        self.max_connections_per_window = max_connections_per_window
        self._conn: dict[SimConnection, _ConnState] = {}
        #: (linear, topic) → subscribed connections
        self._subs: dict[tuple[bool, str], set[SimConnection]] = {}
        self._wire = {s.replace("-", ""): s for s in market.symbols}
        self._books: dict[tuple[bool, str], _BookTopic] = {}
        self._tickers: dict[tuple[bool, str], _TickerTopic] = {}
        self._rejects: list[_Reject] = []
        self._attempts: dict[str, _RateWindow] = {}
        self._next_kline = 0.0
        self._trade_seq = 0

    # --- faults and controls specific to Bybit ---------------------------------------------

    def reject(
        self, symbol: str | None = None, topic: str | None = None, message: str | None = None
    ) -> None:
        """Refuse future subscriptions of ``topic`` (its stream, e.g. ``"orderbook.50"``, or a
        whole topic) for ``symbol`` (wire name ``"BTCUSDT"``): ``"success": false`` with
        ``message`` (default Bybit's ``"Invalid symbol :[topic]"``).  ``None`` matches all."""
        self._rejects.append(_Reject(symbol, topic, message))

    def clear_rejects(self) -> None:
        """Forget every :meth:`reject` rule."""
        self._rejects.clear()

    def restart_books(self, symbol: str | None = None) -> None:
        """A service restart: every book topic of ``symbol`` (the feed's name, any if None)
        starts again at ``u == 1`` with a fresh snapshot to every subscriber (at the next
        push)."""
        for (linear, topic), bt in self._books.items():
            if symbol is None or self._feed_symbol(linear, topic) == symbol:
                bt.u = 0

    def resend_snapshot(self, symbol: str | None = None) -> None:
        """A problem at Bybit's end: a new snapshot (``u`` continuing) to every subscriber
        of the book topics of ``symbol`` (at the next push)."""
        for (linear, topic), bt in self._books.items():
            if symbol is None or self._feed_symbol(linear, topic) == symbol:
                bt.resend = True

    def shutdown(self, lead: float = 0.0, connection: SimConnection | None = None) -> None:
        """Close connections with 1001 (going away) after ``lead`` s: Bybit announces
        nothing before a restart; the client reconnects and resubscribes."""
        for conn in self._targets(connection):

            def later(c: SimConnection = conn) -> None:
                c.close(1001, "going away")

            if lead > 0:
                self._later(lead, later)
            else:
                later()

    def conn_id(self, connection: SimConnection) -> str:
        """The ``conn_id`` Bybit reports for ``connection``."""
        return self._conn[connection].conn_id

    def book(self, symbol: str, depth: int = 50) -> tuple[list[tuple[str, str]], ...]:
        """The ``orderbook.{depth}`` levels last published for ``symbol`` (the feed's name),
        best first, as Bybit formats them: for tests comparing books."""
        canon = symbol.removesuffix("-PERP")
        topic = f"orderbook.{depth}.{canon.replace('-', '')}"
        bt = self._books.get((symbol.endswith("-PERP"), topic))
        if bt is None:
            return [], []
        return (
            self._levels(canon, sorted(bt.bids.items(), reverse=True)),
            self._levels(canon, sorted(bt.asks.items())),
        )

    # --- connection ---------------------------------------------------------------------

    def _handshake_status(self, conn: SimConnection) -> int | None:
        linear = _PATHS.get(conn.path.rstrip("/"))
        if linear is None:
            return 404
        raw = uuid.UUID(int=zlib.crc32(f"{self.market.seed}:bybit:{conn.id}".encode()) << 64)
        self._conn[conn] = _ConnState(
            f"{raw.hex[:8]}-{conn.id:04d}-bybit", linear, last_data=conn.opened_at
        )
        return None

    def _check_connection_rate(self, remote: str, now: float) -> None:
        window = self._attempts.setdefault(remote, _RateWindow(300.0))
        if window.add(now) > self.max_connections_per_window:
            self._violation(
                "connection_rate", None, f"{remote}: > {self.max_connections_per_window}/5 min"
            )

    def _connection_tasks(self, conn: SimConnection, nursery: trio.Nursery) -> None:
        if self.idle_timeout is not None:
            nursery.start_soon(self._idle_watchdog, conn, self.idle_timeout)

    async def _idle_watchdog(self, conn: SimConnection, idle: float) -> None:
        """Bybit: "if there is no ping-pong and no stream data sent from server end, the
        connection will be cut off after 10 minutes"."""
        while True:
            st = self._conn.get(conn)
            last_data = st.last_data if st is not None else conn.opened_at
            deadline = max(conn.last_received, last_data) + idle
            if trio.current_time() >= deadline:
                conn.close(1000, "idle: no ping-pong and no data")
                return
            await trio.sleep_until(deadline)

    def _on_open(self, conn: SimConnection) -> None:
        self._arm_new(conn)

    def _open_connections(self) -> list[SimConnection]:
        return list(self.connections)

    def _on_close(self, conn: SimConnection) -> None:
        st = self._conn.pop(conn, None)
        if st is not None:
            for topic in list(conn._subs):
                self._remove(conn, st, topic)
        self._disarm(conn)

    # --- requests -------------------------------------------------------------------------

    def _answer(
        self,
        conn: SimConnection,
        op: str,
        ok: bool,
        text: str,
        req_id: Any,
        keepalive: bool = False,
    ) -> None:
        requests.answer(self, conn, op, ok, text, req_id, keepalive)

    def _on_text(self, conn: SimConnection, text: str) -> None:
        requests.on_text(self, conn, text)

    def _refusal(self, conn: SimConnection, st: _ConnState, topic: str) -> str | None:
        return requests.refusal(self, conn, st, topic)

    def _add(self, conn: SimConnection, st: _ConnState, topic: str) -> None:
        requests.add(self, conn, st, topic)

    def _remove(self, conn: SimConnection, st: _ConnState, topic: str) -> None:
        requests.remove(self, conn, st, topic)

    def _rest(self, method: str, path: str, query: dict[str, str]) -> RestResult:
        if method == "GET" and path in history.PATHS:
            return history.serve(self, path, query)
        return super()._rest(method, path, query)

    # --- publishing --------------------------------------------------------------------------

    def _feed_symbol(self, linear: bool, topic: str) -> str:
        canon = self._wire[topic.rpartition(".")[2]]
        return canon + "-PERP" if linear else canon

    def _send(self, conn: SimConnection, linear: bool, topic: str, msg: dict[str, Any]) -> None:
        st = self._conn.get(conn)
        if st is not None:
            st.last_data = trio.current_time()
        text = dumps(msg)
        if self._armed and conn in self._armed:
            for faulted in self._faulted(conn, linear, topic, msg, text):
                conn.send_data(faulted)
            return
        conn.send_data(text)

    def _faulted(
        self, conn: SimConnection, linear: bool, topic: str, msg: dict[str, Any], text: str
    ) -> list[str]:
        return payloads.faulted(self, conn, linear, topic, msg, text)

    def _fmt_px(self, sym: str, v: int) -> str:
        return format_fixed(
            v, self.market.spec(sym).price_decimals, self.market.spec(sym).price_decimals
        )

    def _fmt_sz(self, sym: str, v: int) -> str:
        sd = self.market.spec(sym).size_decimals
        return format_fixed(v, sd, sd)

    def _levels(self, sym: str, levels: list[tuple[int, int]]) -> list[tuple[str, str]]:
        pd = self.market.spec(sym).price_decimals
        sd = self.market.spec(sym).size_decimals
        return [(format_fixed(p, pd, pd), format_fixed(q, sd, sd)) for p, q in levels]

    def _take_pending(self, linear: bool, topic: str) -> list[SimConnection]:
        out = []
        for conn in self._subs.get((linear, topic), ()):
            st = self._conn.get(conn)
            if st is not None and topic in st.pending:
                st.pending.discard(topic)
                out.append(conn)
        return out

    def _on_tick(self, tick: MarketTick) -> None:
        if not self._subs:
            return
        t = tick.time
        ts = self.clock.stamp(tick.ts)
        for linear, topic in list(self._subs):
            stream, _, wire = topic.rpartition(".")
            sym = self._wire[wire]
            up = tick.updates.get(sym)
            if up is None:
                continue
            if stream == "publicTrade":
                if up.orders:
                    self._trades(linear, topic, sym, up, ts)
            elif stream == "tickers":
                self._ticker(linear, topic, sym, t, ts)
            elif stream.startswith("orderbook."):
                self._book(linear, topic, sym, t, ts)
            elif stream.startswith("kline."):
                pending = self._take_pending(linear, topic)
                if up.closed_candle is not None:
                    self._kline(linear, topic, sym, up.closed_candle, ts, None)
                if pending:
                    self._kline(linear, topic, sym, self.market.candle(sym, tick.ts), ts, pending)
        if t + 1e-9 >= self._next_kline:
            self._next_kline = max(self._next_kline + 1.0, t)
            for (linear, topic), _conns in list(self._subs.items()):
                if topic.startswith("kline."):
                    sym = self._wire[topic.rpartition(".")[2]]
                    self._kline(linear, topic, sym, self.market.candle(sym, tick.ts), ts, None)

    def _trades(self, linear: bool, topic: str, sym: str, up: SymbolUpdate, ts: int) -> None:
        payloads.trades(self, linear, topic, sym, up, ts)

    def _ticker_fields(self, linear: bool, sym: str, ts: int) -> dict[str, str]:
        return payloads.ticker_fields(self, linear, sym, ts)

    def _ticker(self, linear: bool, topic: str, sym: str, t: float, ts: int) -> None:
        payloads.ticker(self, linear, topic, sym, t, ts)

    def _book(self, linear: bool, topic: str, sym: str, t: float, ts: int) -> None:
        payloads.book(self, linear, topic, sym, t, ts)

    @staticmethod
    def _published(bt: _BookTopic) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        return payloads.published(bt)

    def _push_book(
        self,
        linear: bool,
        topic: str,
        sym: str,
        bt: _BookTopic,
        kind: str,
        bids: list[tuple[int, int]],
        asks: list[tuple[int, int]],
        ts: int,
        conns: list[SimConnection],
    ) -> None:
        payloads.push_book(self, linear, topic, sym, bt, kind, bids, asks, ts, conns)

    def _kline(
        self,
        linear: bool,
        topic: str,
        sym: str,
        c: Candle,
        ts: int,
        conns: list[SimConnection] | None,
    ) -> None:
        payloads.kline(self, linear, topic, sym, c, ts, conns)
