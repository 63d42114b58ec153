"""A simulated OKX v5 public market-data server (/ws/v5/public, /ws/v5/business, REST books).

The class is here; its request handling (:mod:`.requests`), payloads (:mod:`.payloads`), REST
endpoints (:mod:`.rest`) and per-connection/per-symbol state (:mod:`.state`) are next to it.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from typing import Any

import orjson
import trio

from trio_feeds.exchanges.okx.simulator import payloads, requests, rest, swaps
from trio_feeds.exchanges.okx.simulator.state import (
    _NOTICE,
    _PATHS,
    _ConnState,
    _Reject,
    _SymState,
    okx_checksum,
)
from trio_feeds.exchanges.okx.simulator.swaps import Swaps
from trio_feeds.simulator.faults import DATA_FAULTS, DataFaults
from trio_feeds.simulator.market import (
    ExchangeClock,
    MarketSimulator,
    MarketTick,
)
from trio_feeds.simulator.perp import LiquidationControl, PerpMarket, SimLiquidation
from trio_feeds.simulator.server import SimConnection, SimulatedExchange, _RateWindow

__all__ = ["SimulatedOkx", "okx_checksum"]


class SimulatedOkx(LiquidationControl, DataFaults, SimulatedExchange):
    """An OKX v5 public market-data WebSocket + REST server driven by a :class:`MarketSimulator`.

    Paths ``/ws/v5/public`` (``trades``, ``tickers``, ``bbo-tbt``, ``books5``, ``books``) and
    ``/ws/v5/business`` (``candle1m``, ``trades-all``); a channel on the wrong path, an
    unknown channel or an unknown ``instId`` gets the 60018 error event (the socket stays
    open).  One ack per ``args`` item, echoing ``id``, with ``connId``.  Text ``ping`` is
    answered with text ``pong``.

    ``books``: a 400-level snapshot (``prevSeqId`` -1) at the next 100 ms push after the
    subscription, then ``update``s whose ``prevSeqId`` is the previous ``seqId`` (steps are not
    +1), and after ``book_heartbeat`` s without change an empty update with
    ``seqId == prevSeqId``.  ``checksum`` is 0 (production since 2026-06) unless
    ``checksum=True`` (legacy CRC32); ``book_snapshot=False`` omits the snapshot (the
    announced 2026 change: seed from ``GET /api/v5/market/books``).

    Rules: close 4004 when a connection has had no subscription, or (with
    ``client_idle_close``) no message from the client, for ``idle_timeout`` s; 480
    subscribe/unsubscribe requests per hour per connection (over: error 60014 + a
    :class:`~trio_feeds.testing.Violation`); 3 new connections per second per IP (counted);
    a client that reads too slowly is closed with 4005; requests over 64 KB get close 1009.

    ``clock_offset``: seconds this exchange's clock runs ahead of the market's (negative:
    behind); see :class:`~trio_feeds.testing.ExchangeClock` (``self.clock``).

    Swaps: the market's ``-PERP`` symbols are ``instId`` ``BTC-USDT-SWAP``, with every size
    in contracts of ``ctVal`` (``contract_values``, default BTC 0.01, ETH 0.1, …; listed by
    ``GET /api/v5/public/instruments?instType=SWAP``), and the channels ``funding-rate``
    (every ``funding_interval`` s), ``mark-price`` (when it moves, at most every 200 ms, else
    every 10 s), ``open-interest`` (every 3 s) and ``liquidation-orders`` (subscribed by
    ``instType`` ``SWAP``: every swap's liquidations, from :meth:`liquidate` or at random at
    ``liquidation_rate`` per second per swap).  See :mod:`trio_feeds.simulator.perp`.
    """

    name = "okx"
    _FAULT_KINDS = (*DATA_FAULTS, "bad_checksum", "snapshot_and_break")
    memory_host = "ws.okx.test"
    memory_port = 8443
    memory_rest_host = "openapi.okx.test"

    def __init__(
        self,
        market: MarketSimulator,
        *,
        checksum: bool = False,
        book_snapshot: bool = True,
        book_heartbeat: float = 60.0,
        idle_timeout: float | None = 30.0,
        client_idle_close: bool = True,
        max_ops_per_hour: int = 480,
        max_connections_per_second: int = 3,
        max_message_size: int = 64 * 1024,
        clock_offset: float = 0.0,
        contract_values: Mapping[str, str] | None = None,
        liquidation_rate: float = 0.0,
        funding_interval: float = 30.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(market, max_message_size=max_message_size, **kwargs)
        #: the market's ``-PERP`` symbols as swaps (``instId``, ``ctVal``, mark, funding…)
        self.swaps = Swaps(market, contract_values, liquidation_rate, funding_interval)
        #: how this exchange stamps its events (offset, event time falling behind); candle
        #: pushes carry their open time, as OKX's do
        self.clock = ExchangeClock(clock_offset)
        self._init_faults()
        self.checksum = checksum
        self.book_snapshot = book_snapshot
        self.book_heartbeat = book_heartbeat
        self.idle_timeout = idle_timeout
        self.client_idle_close = client_idle_close
        self.max_ops_per_hour = max_ops_per_hour
        self.max_connections_per_second = max_connections_per_second
        self._conn: dict[SimConnection, _ConnState] = {}
        self._subs: dict[tuple[str, str], set[SimConnection]] = {}
        self._chans: dict[str, dict[str, set[SimConnection]]] = {}
        self._sym = {s: _SymState() for s in market.symbols}
        self._rejects: list[_Reject] = []
        self._next: dict[float, float] = {}
        self._attempts: dict[str, _RateWindow] = {}
        self._rest_window = _RateWindow(2.0)

    # --- faults specific to OKX ------------------------------------------------------------

    def reject(
        self, symbol: str | None = None, channel: str | None = None, code: str | int | None = None
    ) -> None:
        """Refuse future subscriptions matching ``symbol`` (instId; a swap's canonical
        ``BTC-USDT-PERP`` too) and ``channel`` with the real error event (default code
        ``"60018"`` and its message).  ``None`` matches all."""
        inst = None if symbol is None else self.swaps.wire(symbol)
        self._rejects.append(_Reject(inst, channel, None if code is None else str(code)))

    def _perp_market(self) -> PerpMarket:
        return self.swaps.perp

    def _push_liquidation(self, liq: SimLiquidation) -> None:
        swaps.push_liquidation(self, liq)

    def clear_rejects(self) -> None:
        """Forget every :meth:`reject` rule."""
        self._rejects.clear()

    def shutdown_notice(self, lead: float = 60.0, connection: SimConnection | None = None) -> None:
        """Send the 64008 ``notice`` (on /public connections, like OKX), then close every
        targeted connection (code 1001) after ``lead`` seconds."""
        for conn in self._targets(connection):
            st = self._conn.get(conn)
            if st is None:
                continue
            if not st.business:
                msg = {"event": "notice", "code": "64008", "msg": _NOTICE, "connId": st.conn_id}
                conn.send_data(orjson.dumps(msg).decode())

            def later(c: SimConnection = conn) -> None:
                c.close(1001, "service upgrade")

            self._later(lead, later)

    def conn_id(self, connection: SimConnection) -> str:
        """The ``connId`` OKX reports for ``connection``."""
        return self._conn[connection].conn_id

    # --- connection -------------------------------------------------------------------------

    def _handshake_status(self, conn: SimConnection) -> int | None:
        business = _PATHS.get(conn.path.rstrip("/"))
        if business is None:
            return 404
        cid = f"{zlib.crc32(f'{self.market.seed}:okx:{conn.id}'.encode()):08x}"
        self._conn[conn] = _ConnState(cid, business, _RateWindow(3600.0), conn.opened_at)
        return None

    def _check_connection_rate(self, remote: str, now: float) -> None:
        window = self._attempts.setdefault(remote, _RateWindow(1.0))
        if window.add(now) > self.max_connections_per_second:
            self._violation(
                "connection_rate", None, f"{remote}: > {self.max_connections_per_second}/s"
            )

    def _connection_tasks(self, conn: SimConnection, nursery: trio.Nursery) -> None:
        if self.idle_timeout is not None:
            nursery.start_soon(self._idle_watchdog, conn, self.idle_timeout)

    async def _idle_watchdog(self, conn: SimConnection, idle: float) -> None:
        st = self._conn[conn]
        while True:
            deadlines: list[float] = []
            if not conn._subs:
                deadlines.append(st.no_subs_since + idle)
            if self.client_idle_close:
                deadlines.append(conn.last_received + idle)
            now = trio.current_time()
            if deadlines and min(deadlines) <= now:
                conn.close(4004, "No data received in 30s.")
                return
            await trio.sleep_until(min(deadlines) if deadlines else now + idle)

    def _on_backlog(self, conn: SimConnection) -> None:
        conn.close(4005, "Server buffer full")

    def _on_open(self, conn: SimConnection) -> None:
        self._arm_new(conn)

    def _open_connections(self) -> list[SimConnection]:
        return list(self.connections)

    def _on_close(self, conn: SimConnection) -> None:
        for key in list(conn._subs):
            channel, _, inst = key.partition(":")
            self._remove_sub(conn, channel, inst)
        self._conn.pop(conn, None)
        self._disarm(conn)

    # --- requests -----------------------------------------------------------------------------

    _send_event = requests.send_event
    _error = requests.error
    _rejected = requests.rejected
    _on_text = requests.on_text

    def _add_sub(self, conn: SimConnection, channel: str, inst: str) -> None:
        key = f"{channel}:{inst}"
        if key in conn._subs:
            return
        conn._subs[key] = None
        self._subs.setdefault((channel, inst), set()).add(conn)
        self._chans.setdefault(inst, {}).setdefault(channel, set()).add(conn)
        if channel != "books" or self.book_snapshot:
            self._conn[conn].pending.add((channel, inst))

    def _remove_sub(self, conn: SimConnection, channel: str, inst: str) -> None:
        key = f"{channel}:{inst}"
        if key not in conn._subs:
            return
        del conn._subs[key]
        st = self._conn.get(conn)
        if st is not None:
            st.pending.discard((channel, inst))
            if not conn._subs:
                st.no_subs_since = trio.current_time()
        subs = self._subs.get((channel, inst))
        if subs is not None:
            subs.discard(conn)
            if not subs:
                del self._subs[(channel, inst)]
        chans = self._chans.get(inst)
        if chans is not None and channel in chans:
            chans[channel].discard(conn)
            if not chans[channel]:
                del chans[channel]
            if not chans:
                del self._chans[inst]

    # --- publishing ------------------------------------------------------------------------

    def _push(
        self,
        channel: str,
        inst: str,
        data: list[Any],
        conns: set[SimConnection] | list[SimConnection] | None = None,
        action: str | None = None,
    ) -> None:
        targets = self._subs.get((channel, inst)) if conns is None else conns
        if not targets:
            return
        arg = {"channel": channel, "instType": inst} if channel == swaps.LIQUIDATIONS else {
            "channel": channel, "instId": self.swaps.wire(inst)
        }  # fmt: skip
        msg: dict[str, Any] = {"arg": arg}
        if action is not None:
            msg["action"] = action
        msg["data"] = data
        text = orjson.dumps(msg).decode()
        for conn in targets:
            if self._armed and conn in self._armed:
                for faulted in self._faulted(conn, channel, inst, msg, text):
                    conn.send_data(faulted)
                continue
            conn.send_data(text)

    _faulted = payloads.faulted
    _fmt = payloads.fmt
    _levels = payloads.levels

    def _take_pending(self, channel: str, inst: str) -> list[SimConnection]:
        out = []
        for conn in self._subs.get((channel, inst), ()):
            st = self._conn.get(conn)
            if st is not None and (channel, inst) in st.pending:
                st.pending.discard((channel, inst))
                out.append(conn)
        return out

    def _on_tick(self, tick: MarketTick) -> None:
        t = tick.time
        for inst, up in tick.updates.items():
            ss = self._sym[inst]
            for c in up.changes:
                (ss.book_bids if c.is_bid else ss.book_asks)[c.price] = c.size
            if ss.books_seq is None:
                ss.books_seq = up.prev_seq_id
                ss.books_last_push = t
            if up.orders or up.bbo_changed:
                ss.ticker_dirty = True
            chans = self._chans.get(inst)
            if not chans:
                continue
            if "trades" in chans or "trades-all" in chans:
                self._trades(inst, up, chans)
            if "bbo-tbt" in chans:
                pending = self._take_pending("bbo-tbt", inst)
                if up.bbo_changed or pending:
                    self._push_bbo(inst, up.ts, None if up.bbo_changed else pending)
            if "tickers" in chans:
                pending = self._take_pending("tickers", inst)
                if (ss.ticker_dirty and t - ss.ticker_last >= 0.1 - 1e-9) or pending:
                    self._push_ticker(inst, up.ts, None if ss.ticker_dirty else pending)
                    if ss.ticker_dirty:
                        ss.ticker_dirty = False
                        ss.ticker_last = t
            if up.closed_candle is not None and "candle1m" in chans:
                self._push_candle(inst, up.closed_candle, None)
        if not self._next:
            self._next = {0.1: t + 0.1, 1.0: t + 1.0}
        if t + 1e-9 >= self._next[0.1]:
            self._next[0.1] = max(self._next[0.1] + 0.1, t)
            self._flush_books(t, tick.ts)
            swaps.push_swaps(self, t, tick.ts)
        if t + 1e-9 >= self._next[1.0]:
            self._next[1.0] = max(self._next[1.0] + 1.0, t)
            for inst, chans in self._chans.items():
                if "candle1m" in chans:
                    self._take_pending("candle1m", inst)
                    self._push_candle(inst, self.market.candle(inst, tick.ts), None)

    _trades = payloads.trades
    _push_bbo = payloads.push_bbo
    _push_ticker = payloads.push_ticker
    _push_candle = payloads.push_candle
    _flush_books = payloads.flush_books
    _checksum = payloads.checksum

    # --- REST ------------------------------------------------------------------------------

    _rest_throttled = rest.rest_throttled
    _rest = rest.rest
