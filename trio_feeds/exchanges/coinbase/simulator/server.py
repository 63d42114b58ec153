"""A simulated Coinbase Advanced Trade market-data server (``wss://advanced-trade-ws.coinbase.com``).

Built on :class:`~trio_feeds.testing.SimulatedExchange` like the Binance and OKX simulators;
it speaks the protocol of
https://docs.cdp.coinbase.com/coinbase-app/advanced-trade-apis/websocket/websocket-channels
(see ``docs/exchanges.md``).  Products are the market's symbols one to one (``BTC-USDT``,
``BTC-USD`` …); a ``-USDC`` product is answered with the ``-USD`` product's data, as
Coinbase does outside the user channel.

The class is here; its request handling (:mod:`.requests`), pushes and data faults
(:mod:`.payloads`) and per-connection/per-product state (:mod:`.state`) are next to it.
"""

from __future__ import annotations

from collections import deque
from datetime import UTC, datetime
from typing import Any

import trio

from trio_feeds.exchanges.coinbase.simulator import history, payloads, requests
from trio_feeds.exchanges.coinbase.simulator.state import (
    _CANDLE_EVERY,
    _RECENT_TRADES,
    _TICKER_BATCH_EVERY,
    _TRADES_EVERY,
    _Bucket,
    _ConnState,
    rfc3339,
)
from trio_feeds.simulator.faults import DATA_FAULTS, DataFaults, dumps
from trio_feeds.simulator.market import (
    ExchangeClock,
    MarketSimulator,
    MarketTick,
    SymbolUpdate,
    format_plain,
)
from trio_feeds.simulator.server import RestResult, SimConnection, SimulatedExchange, _RateWindow

__all__ = ["SimulatedCoinbase", "rfc3339"]


class SimulatedCoinbase(DataFaults, SimulatedExchange):
    """A Coinbase Advanced Trade public market-data WebSocket driven by a :class:`MarketSimulator`.

    One path (``/``; others: HTTP 404).  Requests ``{"type":"subscribe"|"unsubscribe",
    "product_ids":[…],"channel":"…"}``, one channel each; the answer is a ``subscriptions``
    message listing what the connection now carries.  An unknown product or channel gets
    ``{"type":"error","message":"Failed to subscribe","reason":"…"}`` (products named in
    ``reason``); the valid products of the request are subscribed.

    Every message is ``{"channel","client_id","timestamp","sequence_num","events"}``;
    ``sequence_num`` counts the messages of the connection over all channels (from 0), so a
    lost message (a :meth:`sequence_gap`, a ``"gap"`` fault, a stall) leaves a hole.

    Channels: ``heartbeats`` (every second, ``heartbeat_counter``), ``market_trades`` (a
    snapshot of recent trades, then 250 ms batches; ``side`` is the **maker's** side),
    ``ticker`` (a snapshot, then one update per match, with best bid/ask), ``ticker_batch``
    (every 5 s, no best bid/ask), ``level2`` (pushed as ``l2_data``: a whole-book snapshot,
    then updates with absolute sizes), ``candles`` (five-minute buckets every second, no
    closed flag).  ``status`` is accepted and sends nothing.

    Rules: a connection that sends no subscribe within ``subscribe_within`` s is closed; one
    that carries no ``heartbeats`` and got nothing for ``idle_timeout`` s is closed; more than
    8 client messages per second, or 8 new connections per second per IP, are counted as
    :class:`~trio_feeds.testing.Violation` s.

    REST: ``GET /api/v3/brokerage/market/products/{id}/ticker`` (the newest trades from
    the market's tape; see :mod:`.history`).
    """

    name = "coinbase"
    _FAULT_KINDS = DATA_FAULTS
    memory_host = "advanced-trade-ws.coinbase.test"
    memory_port = 443
    memory_rest_host = "api.coinbase.test"

    def __init__(
        self,
        market: MarketSimulator,
        *,
        subscribe_within: float | None = 5.0,
        idle_timeout: float | None = 60.0,
        max_messages_per_second: int = 8,
        max_connections_per_second: int = 8,
        clock_offset: float = 0.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(market, **kwargs)
        self.clock = ExchangeClock(clock_offset)
        self._init_faults()
        self.subscribe_within = subscribe_within
        self.idle_timeout = idle_timeout
        self.max_messages_per_second = max_messages_per_second
        self.max_connections_per_second = max_connections_per_second
        self._conn: dict[SimConnection, _ConnState] = {}
        #: (channel, product) → subscribed connections
        self._subs: dict[tuple[str, str], set[SimConnection]] = {}
        self._recent: dict[str, deque[dict[str, Any]]] = {
            s: deque(maxlen=_RECENT_TRADES) for s in market.symbols
        }
        self._batch: dict[str, list[dict[str, Any]]] = {s: [] for s in market.symbols}
        self._buckets: dict[str, _Bucket] = {}
        self._next: dict[str, float] = {}
        self._attempts: dict[str, _RateWindow] = {}
        self._rejects: list[tuple[str | None, str | None]] = []

    # --- controls ---------------------------------------------------------------------

    def reject(self, product: str | None = None, channel: str | None = None) -> None:
        """Refuse future subscriptions of ``product`` on ``channel`` (None: any) with an
        error frame naming the product."""
        self._rejects.append((product, channel))

    def clear_rejects(self) -> None:
        """Forget every :meth:`reject` rule."""
        self._rejects.clear()

    def sequence_num(self, connection: SimConnection) -> int:
        """The ``sequence_num`` the next message on ``connection`` will carry."""
        return self._conn[connection].seq

    def book(self, product: str) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
        """The whole book of ``product`` as ``level2`` formats it, best first."""
        sym = self._product(product) or product
        bids, asks = self.market.book(sym)
        return self._levels(sym, bids), self._levels(sym, asks)

    # --- connection -------------------------------------------------------------------

    def _handshake_status(self, conn: SimConnection) -> int | None:
        if conn.path not in ("/", ""):
            return 404
        self._conn[conn] = _ConnState(conn.opened_at, last_sent=conn.opened_at)
        return None

    def _check_connection_rate(self, remote: str, now: float) -> None:
        window = self._attempts.setdefault(remote, _RateWindow(1.0))
        if window.add(now) > self.max_connections_per_second:
            self._violation(
                "connection_rate", None, f"{remote}: > {self.max_connections_per_second}/s"
            )

    def _connection_tasks(self, conn: SimConnection, nursery: trio.Nursery) -> None:
        nursery.start_soon(self._watchdog, conn)

    async def _watchdog(self, conn: SimConnection) -> None:
        st = self._conn[conn]
        while True:
            now = trio.current_time()
            deadlines = []
            if not st.subscribed and self.subscribe_within is not None:
                if now >= st.opened_at + self.subscribe_within:
                    conn.close(1000, "no subscription within 5 s")
                    return
                deadlines.append(st.opened_at + self.subscribe_within)
            if not st.heartbeats and self.idle_timeout is not None:
                if now >= st.last_sent + self.idle_timeout:
                    conn.close(1000, "idle")
                    return
                deadlines.append(st.last_sent + self.idle_timeout)
            await trio.sleep_until(min(deadlines, default=now + 1.0))

    def _on_open(self, conn: SimConnection) -> None:
        self._arm_new(conn)

    def _open_connections(self) -> list[SimConnection]:
        return list(self.connections)

    def _on_close(self, conn: SimConnection) -> None:
        self._conn.pop(conn, None)
        for key in [k for k, conns in self._subs.items() if conn in conns]:
            self._subs[key].discard(conn)
            if not self._subs[key]:
                del self._subs[key]
        self._disarm(conn)

    # --- requests ---------------------------------------------------------------------

    def _product(self, product: str) -> str | None:
        return requests.product(self, product)

    def _error(
        self, conn: SimConnection, reason: str, message: str = "Failed to subscribe"
    ) -> None:
        requests.error(self, conn, reason, message)

    def _on_text(self, conn: SimConnection, text: str) -> None:
        requests.on_text(self, conn, text)

    def _rejected(self, product: str, channel: str) -> bool:
        return requests.rejected(self, product, channel)

    def _add(
        self, conn: SimConnection, st: _ConnState, key: tuple[str, str], snapshot: bool
    ) -> None:
        requests.add(self, conn, st, key, snapshot)

    def _remove(self, conn: SimConnection, st: _ConnState, key: tuple[str, str]) -> None:
        requests.remove(self, conn, st, key)

    def _send_subscriptions(self, conn: SimConnection, st: _ConnState) -> None:
        requests.send_subscriptions(self, conn, st)

    # --- publishing ---------------------------------------------------------------------

    def _now_ms(self) -> int:
        return self.clock.stamp(self.market.to_ms(trio.current_time()))

    def _send(
        self,
        conn: SimConnection,
        st: _ConnState,
        channel: str,
        events: list[dict[str, Any]],
        *,
        reply: bool = False,
        product: str | None = None,
        ts: int | None = None,
    ) -> None:
        msg = {
            "channel": channel,
            "client_id": "",
            "timestamp": rfc3339(self._now_ms() if ts is None else ts),
            "sequence_num": st.seq,
            "events": events,
        }
        st.seq += 1  # counted even when the message is lost below: that is the hole
        st.last_sent = trio.current_time()
        if reply:
            conn.send_reply(dumps(msg))
            return
        if product is not None and conn in self._armed:
            for text in self._faulted(conn, channel, product, msg):
                conn.send_data(text)
            return
        conn.send_data(dumps(msg))

    def _faulted(
        self, conn: SimConnection, channel: str, product: str, msg: dict[str, Any]
    ) -> list[str]:
        return payloads.faulted(self, conn, channel, product, msg)

    def _rest(self, method: str, path: str, query: dict[str, str]) -> RestResult:
        if method == "GET" and history.matches(path):
            return history.serve(self, path, query)
        return super()._rest(method, path, query)

    def _fmt(self, sym: str, value: int, price: bool) -> str:
        spec = self.market.spec(sym)
        return format_plain(value, spec.price_decimals if price else spec.size_decimals)

    def _levels(self, sym: str, levels: list[tuple[int, int]]) -> list[tuple[str, str]]:
        return [(self._fmt(sym, p, True), self._fmt(sym, q, False)) for p, q in levels]

    def _subscribers(self, key: tuple[str, str]) -> list[tuple[SimConnection, _ConnState, bool]]:
        """Subscribers of ``key`` with their state and whether they await a snapshot."""
        out = []
        for conn in self._subs.get(key, ()):
            st = self._conn.get(conn)
            if st is None:
                continue
            pending = key in st.pending
            st.pending.discard(key)
            out.append((conn, st, pending))
        return out

    def _products(self, channel: str, sym: str) -> list[str]:
        """Subscribed products of ``channel`` served by market symbol ``sym``."""
        return [p for p in (sym, sym + "C") if (channel, p) in self._subs]

    def _due(self, name: str, t: float, every: float) -> bool:
        nxt = self._next.get(name)
        if nxt is None or t + 1e-9 >= nxt:
            self._next[name] = max((nxt or t) + every, t)
            return nxt is not None
        return False

    def _on_tick(self, tick: MarketTick) -> None:
        t, ts = tick.time, self.clock.stamp(tick.ts)
        for sym, up in tick.updates.items():
            self._record_trades(sym, up, ts)
        if not self._subs:
            return
        for sym, up in tick.updates.items():
            for product in self._products("level2", sym):
                self._level2(product, sym, up, ts)
            for product in self._products("ticker", sym):
                self._ticker("ticker", product, sym, ts, bool(up.orders))
            for product in self._products("market_trades", sym):
                self._trades_snapshot(product, sym, ts)
            for product in self._products("candles", sym):
                if any(p for _, _, p in self._peek_pending(("candles", product))):
                    self._candles(product, sym, ts, only_pending=True)
            for product in self._products("ticker_batch", sym):
                if any(p for _, _, p in self._peek_pending(("ticker_batch", product))):
                    self._ticker("ticker_batch", product, sym, ts, False)
        if self._due("trades", t, _TRADES_EVERY):
            for sym, batch in self._batch.items():
                if batch:
                    for product in self._products("market_trades", sym):
                        self._push_trades(product, "update", list(reversed(batch)), ts)
                    batch.clear()
        if self._due("candles", t, _CANDLE_EVERY):
            for sym in self.market.symbols:
                for product in self._products("candles", sym):
                    self._candles(product, sym, ts, only_pending=False)
        if self._due("ticker_batch", t, _TICKER_BATCH_EVERY):
            for sym in self.market.symbols:
                for product in self._products("ticker_batch", sym):
                    self._ticker("ticker_batch", product, sym, ts, True)
        if self._due("heartbeats", t, 1.0):
            for conn, st in list(self._conn.items()):
                if st.heartbeats:
                    st.heartbeat_counter += 1
                    now = datetime.fromtimestamp(ts / 1000, UTC)
                    event = {
                        "current_time": now.strftime("%Y-%m-%d %H:%M:%S.%f000 +0000 UTC"),
                        "heartbeat_counter": st.heartbeat_counter,
                    }
                    self._send(conn, st, "heartbeats", [event], ts=ts)

    def _peek_pending(self, key: tuple[str, str]) -> list[tuple[SimConnection, _ConnState, bool]]:
        out = []
        for conn in self._subs.get(key, ()):
            st = self._conn.get(conn)
            if st is not None:
                out.append((conn, st, key in st.pending))
        return out

    def _record_trades(self, sym: str, up: SymbolUpdate, ts: int) -> None:
        payloads.record_trades(self, sym, up, ts)

    def _bucket(self, sym: str, ts: int) -> _Bucket:
        return payloads.bucket(self, sym, ts)

    def _push_trades(self, product: str, kind: str, trades: list[dict[str, Any]], ts: int) -> None:
        payloads.push_trades(self, product, kind, trades, ts)

    def _trades_snapshot(self, product: str, sym: str, ts: int) -> None:
        payloads.trades_snapshot(self, product, sym, ts)

    def _ticker(self, channel: str, product: str, sym: str, ts: int, changed: bool) -> None:
        payloads.ticker(self, channel, product, sym, ts, changed)

    def _level2(self, product: str, sym: str, up: SymbolUpdate, ts: int) -> None:
        payloads.level2(self, product, sym, up, ts)

    def _candles(self, product: str, sym: str, ts: int, only_pending: bool) -> None:
        payloads.candles(self, product, sym, ts, only_pending)
