"""A simulated Bybit v5 public market-data server (``/v5/public/spot``, ``/v5/public/linear``).

Built on :class:`~trio_feeds.testing.SimulatedExchange` like the Binance and OKX simulators;
it speaks the protocol of https://bybit-exchange.github.io/docs/v5/ws/connect and the
public topic pages (see ``docs/exchanges.md``).  Spot and linear share the market: the
linear instrument ``BTCUSDT`` (``BTC-USDT-PERP`` to the feed) follows the simulated
``BTC-USDT`` book, with its own update ids, ticker state and trade ids (UUIDs).
"""

from __future__ import annotations

import copy
import uuid
import zlib
from typing import Any

import attrs
import orjson
import trio

from trio_feeds.simulator.faults import DATA_FAULTS, DataFaults, cut, damage, dumps
from trio_feeds.simulator.market import (
    Candle,
    ExchangeClock,
    MarketSimulator,
    MarketTick,
    SymbolUpdate,
    format_fixed,
)
from trio_feeds.simulator.server import SimConnection, SimulatedExchange, _RateWindow

__all__ = ["SimulatedBybit"]

_PATHS = {"/v5/public/spot": False, "/v5/public/linear": True}
#: book depth → push interval in seconds (orderbook page: 1: 10 ms, 50: 20 ms, 200: 100 ms,
#: 1000: 200 ms)
_BOOK_DEPTHS = {1: 0.01, 50: 0.02, 200: 0.1, 1000: 0.2}
#: level 1 re-sends its snapshot after this long without change (same ``u``)
_LEVEL1_RESEND = 3.0
#: ticker push interval: derivatives 100 ms, spot 50 ms
_TICKER_EVERY = {False: 0.05, True: 0.1}
_KLINE_INTERVALS = {"1"}
_FUNDING_MS = 8 * 3600 * 1000


@attrs.frozen
class _Reject:
    symbol: str | None
    topic: str | None
    message: str | None


@attrs.define
class _ConnState:
    conn_id: str
    linear: bool
    #: topics waiting for their first push (a snapshot)
    pending: set[str] = attrs.Factory(set)
    #: characters of all subscribed args (Bybit: at most 21,000 per public connection)
    arg_chars: int = 0
    #: trio time of the last data frame sent
    last_data: float = 0.0


@attrs.define
class _BookTopic:
    """One ``orderbook.{depth}.{symbol}`` topic of one category: what was published."""

    depth: int
    u: int = 0
    bids: dict[int, int] = attrs.Factory(dict)
    asks: dict[int, int] = attrs.Factory(dict)
    next_push: float = 0.0
    last_push: float = 0.0
    #: a snapshot to every subscriber at the next push (``resend_snapshot``)
    resend: bool = False


@attrs.define
class _TickerTopic:
    state: dict[str, str] = attrs.Factory(dict)
    next_push: float = 0.0
    cs: int = 0


#: topic stream → (price keys, size keys) for the "nan" / "negative" faults
_DAMAGE: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "publicTrade": (("p",), ("v",)),
    "tickers": (("lastPrice", "bid1Price"), ("volume24h", "bid1Size")),
    "orderbook": (("b", "a"), ("b", "a")),
    "kline": (("open",), ("volume",)),
}


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
        st = self._conn[conn]
        msg: dict[str, Any] = {"success": ok, "ret_msg": text, "conn_id": st.conn_id}
        if req_id is not None or st.linear:
            msg["req_id"] = "" if req_id is None else req_id
        msg["op"] = op
        text_ = orjson.dumps(msg).decode()
        if keepalive:
            conn.send_keepalive(text_)
        else:
            conn.send_reply(text_)

    def _on_text(self, conn: SimConnection, text: str) -> None:
        st = self._conn[conn]
        try:
            msg = orjson.loads(text)
        except orjson.JSONDecodeError:
            msg = None
        if not isinstance(msg, dict):
            self._answer(conn, "", False, f"error:request not json,data:{text[:100]}", None)
            return
        op = msg.get("op")
        req_id = msg.get("req_id")
        if op == "ping":
            conn.pings_received += 1
            self._answer(conn, "ping", True, "pong", req_id, keepalive=True)
            return
        if op not in ("subscribe", "unsubscribe"):
            self._answer(conn, str(op), False, f"error:handler not found,op:{op}", req_id)
            return
        args = msg.get("args")
        if not isinstance(args, list) or not all(isinstance(a, str) for a in args):
            self._answer(conn, op, False, "error:args must be a list of topics", req_id)
            return
        if not st.linear and len(args) > self.max_args_per_request:
            self._violation("too_many_args", conn, f"{len(args)} args in one request")
            self._answer(conn, op, False, f"args size >{self.max_args_per_request}", req_id)
            return
        if op == "unsubscribe":
            for topic in args:
                self._remove(conn, st, topic)
            ret = "unsubscribe" if not st.linear else ""
            self._answer(conn, op, True, ret, req_id)
            return
        problem = None
        for topic in args:
            why = self._refusal(conn, st, topic)
            if why is not None:
                problem = problem or why
                continue
            chars = len(topic) + 3
            if st.arg_chars + chars > self.max_arg_chars:
                self._violation("too_many_streams", conn, f"> {self.max_arg_chars} arg chars")
                problem = problem or f"error:args length exceeds limit,topic:{topic}"
                continue
            st.arg_chars += chars
            self._add(conn, st, topic)
        if problem is not None:
            self._answer(conn, op, False, problem, req_id)
        else:
            self._answer(conn, op, True, "subscribe" if not st.linear else "", req_id)

    def _refusal(self, conn: SimConnection, st: _ConnState, topic: str) -> str | None:
        stream, _, wire = topic.rpartition(".")
        for r in self._rejects:
            if (r.symbol is None or r.symbol == wire) and (
                r.topic is None or r.topic in (stream, topic)
            ):
                return r.message or f"Invalid symbol :[{topic}]"
        parts = stream.split(".")
        known = (
            (parts[0] in ("publicTrade", "tickers") and len(parts) == 1)
            or (parts[0] == "orderbook" and len(parts) == 2 and parts[1] in _depths())
            or (parts[0] == "kline" and len(parts) == 2 and parts[1] in _KLINE_INTERVALS)
        )
        if not known:
            return f"error:handler not found,topic:{topic}"
        if wire not in self._wire:
            return f"Invalid symbol :[{topic}]"
        if topic in conn._subs:
            return f"error:already subscribed,topic:{topic}"
        return None

    def _add(self, conn: SimConnection, st: _ConnState, topic: str) -> None:
        conn._subs[topic] = None
        self._subs.setdefault((st.linear, topic), set()).add(conn)
        st.pending.add(topic)
        stream = topic.rpartition(".")[0]
        key = (st.linear, topic)
        if stream.startswith("orderbook.") and key not in self._books:
            self._books[key] = _BookTopic(int(stream.split(".")[1]))
        elif stream == "tickers" and key not in self._tickers:
            self._tickers[key] = _TickerTopic()

    def _remove(self, conn: SimConnection, st: _ConnState, topic: str) -> None:
        if topic not in conn._subs:
            return
        del conn._subs[topic]
        st.pending.discard(topic)
        st.arg_chars -= len(topic) + 3
        key = (st.linear, topic)
        subs = self._subs.get(key)
        if subs is not None:
            subs.discard(conn)
            if not subs:
                del self._subs[key]
                # nobody left: the next subscriber starts a fresh topic (as a new server would)
                self._books.pop(key, None)
                self._tickers.pop(key, None)

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
        """The frames ``conn`` gets instead of ``text`` under its armed faults."""
        symbol = self._feed_symbol(linear, topic)
        stream = topic.partition(".")[0]
        delta = stream == "orderbook" and msg["type"] == "delta"
        if delta and self._take(conn, ("gap",), symbol) is not None:
            return []  # this delta is lost: the next one's u jumps
        kinds = ["malformed", "nan", "negative"]
        if stream == "publicTrade":
            kinds.append("bad_trade_id")
        fault = self._take(conn, kinds, symbol)
        if fault is None:
            return [text]
        if fault.kind == "malformed":
            return [cut(text)]
        bad = copy.deepcopy(msg)
        data = bad["data"]
        item = data[0] if isinstance(data, list) else data
        if fault.kind == "bad_trade_id":
            item["i"] = {"id": 1}
        elif not damage(fault.kind, item, *_DAMAGE[stream]):
            self._arm(conn, fault)  # nowhere to put it (an empty delta): the next frame
            return [text]
        return [dumps(bad)]

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
        self._trade_seq += 1
        data = []
        last_px = None
        for order in up.orders:
            side = "Buy" if order.is_buy else "Sell"
            for f in order.fills:
                item: dict[str, Any] = {
                    "T": ts,
                    "s": topic.rpartition(".")[2],
                    "S": side,
                    "v": self._fmt_sz(sym, f.size),
                    "p": self._fmt_px(sym, f.price),
                }
                if linear:
                    tick_dir = "ZeroPlusTick"
                    if last_px is not None and f.price != last_px:
                        tick_dir = "PlusTick" if f.price > last_px else "MinusTick"
                    item["L"] = tick_dir
                    item["i"] = str(uuid.UUID(int=(self.market.seed << 64) | f.trade_id))
                else:
                    item["i"] = str(f.trade_id)
                item["BT"] = False
                item["RPI"] = False
                item["seq"] = up.seq_id
                last_px = f.price
                data.append(item)
        msg = {"topic": topic, "ts": ts, "type": "snapshot", "data": data}
        self._take_pending(linear, topic)
        for conn in list(self._subs.get((linear, topic), ())):
            self._send(conn, linear, topic, msg)

    def _ticker_fields(self, linear: bool, sym: str, ts: int) -> dict[str, str]:
        st = self.market.stats(sym, ts)
        spec = self.market.spec(sym)

        def px(v: int) -> str:
            return self._fmt_px(sym, v)

        change = (st.last - st.open) / st.open if st.open else 0.0
        turnover = format_fixed(st.quote_volume, spec.price_decimals + spec.size_decimals, 4)
        fields = {
            "symbol": sym.replace("-", ""),
            "lastPrice": px(st.last),
            "highPrice24h": px(st.high),
            "lowPrice24h": px(st.low),
            "prevPrice24h": px(st.open),
            "volume24h": self._fmt_sz(sym, st.volume),
            "turnover24h": turnover,
            "price24hPcnt": f"{change:.4f}",
        }
        bid, bq, ask, aq = self.market.bbo(sym)
        mid = ((bid or 0) + (ask or 0)) // 2
        if not linear:
            fields["usdIndexPrice"] = px(mid)
            return fields
        next_funding = ts - ts % _FUNDING_MS + _FUNDING_MS
        oi = 50_000 * 10**spec.size_decimals + st.volume // 10
        fields.update(
            {
                "tickDirection": "PlusTick",
                "prevPrice1h": px(st.open),
                "markPrice": px(mid),
                "indexPrice": px(mid),
                "openInterest": self._fmt_sz(sym, oi),
                "openInterestValue": format_fixed(
                    oi * mid, spec.price_decimals + spec.size_decimals, 2
                ),
                "nextFundingTime": str(next_funding),
                "fundingRate": "0.0001",
                "bid1Price": px(bid or 0),
                "bid1Size": self._fmt_sz(sym, bq),
                "ask1Price": px(ask or 0),
                "ask1Size": self._fmt_sz(sym, aq),
            }
        )
        return fields

    def _ticker(self, linear: bool, topic: str, sym: str, t: float, ts: int) -> None:
        tt = self._tickers[(linear, topic)]
        pending = self._take_pending(linear, topic)
        due = bool(pending) or t + 1e-9 >= tt.next_push
        if not due:
            return
        fields = self._ticker_fields(linear, sym, ts)
        changed = {k: v for k, v in fields.items() if tt.state.get(k) != v}
        conns = self._subs.get((linear, topic), set())
        if due:
            tt.next_push = t + _TICKER_EVERY[linear]
        tt.cs += 1
        base = {"topic": topic, "type": "snapshot", "data": fields, "cs": tt.cs, "ts": ts}
        if not linear:  # spot: snapshots only, pushed on change
            targets = list(conns) if (due and changed) else pending
            for conn in targets:
                self._send(conn, linear, topic, base)
            tt.state = fields
            return
        for conn in pending:
            self._send(conn, linear, topic, base)
        if due and changed:
            changed["symbol"] = fields["symbol"]
            delta = {"topic": topic, "type": "delta", "data": changed, "cs": tt.cs, "ts": ts}
            for conn in conns:
                if conn not in pending:
                    self._send(conn, linear, topic, delta)
        tt.state = fields

    def _book(self, linear: bool, topic: str, sym: str, t: float, ts: int) -> None:
        bt = self._books[(linear, topic)]
        pending = self._take_pending(linear, topic)
        due = t + 1e-9 >= bt.next_push
        if not pending and not due:
            return
        bids, asks = self.market.book(sym, bt.depth)
        new_b, new_a = dict(bids), dict(asks)
        if due:
            bt.next_push = t + _BOOK_DEPTHS[bt.depth]
        changed = new_b != bt.bids or new_a != bt.asks
        conns = self._subs.get((linear, topic), set())
        if bt.u == 0 or bt.resend:  # a first push, a restart or a re-sent snapshot: all
            bt.u += 1
            bt.resend = False
            bt.bids, bt.asks, bt.last_push = new_b, new_a, t
            self._push_book(linear, topic, sym, bt, "snapshot", bids, asks, ts, list(conns))
            return
        if bt.depth == 1:  # level 1: snapshots only, and again after 3 s without change
            resend = t - bt.last_push >= _LEVEL1_RESEND - 1e-9
            if due and (changed or resend):
                if changed:
                    bt.u += 1
                bt.bids, bt.asks, bt.last_push = new_b, new_a, t
                self._push_book(linear, topic, sym, bt, "snapshot", bids, asks, ts, list(conns))
            elif pending:
                published = self._published(bt)
                self._push_book(linear, topic, sym, bt, "snapshot", *published, ts, pending)
            return
        if due and changed:
            d_bids = [(p, q) for p, q in new_b.items() if bt.bids.get(p) != q]
            d_bids += [(p, 0) for p in bt.bids if p not in new_b]
            d_asks = [(p, q) for p, q in new_a.items() if bt.asks.get(p) != q]
            d_asks += [(p, 0) for p in bt.asks if p not in new_a]
            d_bids.sort(reverse=True)
            d_asks.sort()
            bt.u += 1
            bt.bids, bt.asks, bt.last_push = new_b, new_a, t
            targets = [
                c
                for c in conns
                if c not in pending and not self._take_gap(c, self._feed_symbol(linear, topic))
            ]
            self._push_book(linear, topic, sym, bt, "delta", d_bids, d_asks, ts, targets)
        if pending:
            self._push_book(linear, topic, sym, bt, "snapshot", *self._published(bt), ts, pending)

    @staticmethod
    def _published(bt: _BookTopic) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        return sorted(bt.bids.items(), reverse=True), sorted(bt.asks.items())

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
        if not conns:
            return
        data = {
            "s": topic.rpartition(".")[2],
            "b": self._levels(sym, bids),
            "a": self._levels(sym, asks),
            "u": bt.u,
            "seq": self.market.seq_id(sym),
        }
        if bt.depth == 1:  # level 1 and spot put ts before type (parse by name)
            msg = {"topic": topic, "ts": ts, "type": kind, "data": data, "cts": ts}
        else:
            msg = {"topic": topic, "type": kind, "ts": ts, "data": data, "cts": ts}
        for conn in conns:
            self._send(conn, linear, topic, msg)

    def _kline(
        self,
        linear: bool,
        topic: str,
        sym: str,
        c: Candle,
        ts: int,
        conns: list[SimConnection] | None,
    ) -> None:
        spec = self.market.spec(sym)
        item = {
            "start": c.open_time,
            "end": c.open_time + 59_999,
            "interval": "1",
            "open": self._fmt_px(sym, c.open),
            "close": self._fmt_px(sym, c.close),
            "high": self._fmt_px(sym, c.high),
            "low": self._fmt_px(sym, c.low),
            "volume": self._fmt_sz(sym, c.volume),
            "turnover": format_fixed(c.quote_volume, spec.price_decimals + spec.size_decimals, 4),
            "confirm": c.closed,
            "timestamp": ts,
        }
        msg = {"topic": topic, "data": [item], "ts": ts, "type": "snapshot"}
        targets = list(self._subs.get((linear, topic), ())) if conns is None else conns
        for conn in targets:
            self._send(conn, linear, topic, msg)


def _depths() -> set[str]:
    return {str(d) for d in _BOOK_DEPTHS}
