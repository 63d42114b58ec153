"""A simulated OKX v5 public market-data server (/ws/v5/public, /ws/v5/business, REST books)."""

from __future__ import annotations

import copy
import zlib
from collections.abc import Callable
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
    format_plain,
)
from trio_feeds.simulator.server import RestResult, SimConnection, SimulatedExchange, _RateWindow

__all__ = ["SimulatedOkx", "okx_checksum"]

PUBLIC_CHANNELS = frozenset({"trades", "tickers", "bbo-tbt", "books5", "books"})
BUSINESS_CHANNELS = frozenset({"candle1m", "trades-all"})
_PATHS = {"/ws/v5/public": False, "/ws/v5/business": True}
_NOTICE = "The connection will soon be closed for a service upgrade. Please reconnect."
_JSON = [("content-type", "application/json")]
_TRADE_ID_OFFSET = 100_000_000
_MESSAGES = {
    "60011": "Please log in",
    "60012": "Invalid request",
    "60014": "Requests too frequent.",
    "64003": "Your trading fee tier doesn't meet the requirement to access this channel",
    "64004": "You can't subscribe to this channel because you already subscribed to another "
    "order book channel for this instrument",
}


def okx_checksum(bids: list[list[str]], asks: list[list[str]]) -> int:
    """OKX's legacy order-book CRC32 (signed) over the 25 best bids (desc) and asks (asc).

    >>> okx_checksum([["3366.1", "7"], ["3366", "6"]], [["3366.8", "9"], ["3368", "8"]])
    -1881014294
    """
    parts: list[str] = []
    for i in range(25):
        if i < len(bids):
            parts.append(f"{bids[i][0]}:{bids[i][1]}")
        if i < len(asks):
            parts.append(f"{asks[i][0]}:{asks[i][1]}")
    crc = zlib.crc32(":".join(parts).encode())
    return crc - (1 << 32) if crc >= 1 << 31 else crc


def _wrong_url(channel: str, inst: str) -> str:
    return (
        f"Wrong URL or channel:{channel},instId:{inst} doesn't exist. "
        "Please use the correct URL, channel and parameters referring to API document."
    )


@attrs.frozen
class _Reject:
    symbol: str | None
    channel: str | None
    code: str | None


@attrs.define
class _ConnState:
    conn_id: str
    business: bool
    ops: _RateWindow
    no_subs_since: float
    pending: set[tuple[str, str]] = attrs.Factory(set)


class _SymState:
    def __init__(self) -> None:
        self.book_bids: dict[int, int] = {}
        self.book_asks: dict[int, int] = {}
        self.books_seq: int | None = None
        self.books_last_push = 0.0
        self.ticker_dirty = False
        self.ticker_last = -1e9
        self.top5: Any = None


#: channel -> (price keys, size keys) for the "nan" / "negative" faults
_DAMAGE: dict[str, tuple[tuple[Any, ...], tuple[Any, ...]]] = {
    "trades": (("px",), ("sz",)),
    "trades-all": (("px",), ("sz",)),
    "tickers": (("last",), ("vol24h",)),
    "bbo-tbt": (("bids", "asks"), ("bids", "asks")),
    "books5": (("bids", "asks"), ("bids", "asks")),
    "books": (("bids", "asks"), ("bids", "asks")),
    "candle1m": ((1,), (5,)),
}


class SimulatedOkx(DataFaults, SimulatedExchange):
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
        **kwargs: Any,
    ) -> None:
        super().__init__(market, max_message_size=max_message_size, **kwargs)
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
        """Refuse future subscriptions matching ``symbol`` (instId) and ``channel`` with the
        real error event (default code ``"60018"`` and its message).  ``None`` matches all."""
        self._rejects.append(_Reject(symbol, channel, None if code is None else str(code)))

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

    def _send_event(self, conn: SimConnection, msg: dict[str, Any], rid: Any, has_id: bool) -> None:
        out: dict[str, Any] = {"id": rid} if has_id else {}
        out.update(msg)
        out["connId"] = self._conn[conn].conn_id
        conn.send_reply(orjson.dumps(out).decode())

    def _error(self, conn: SimConnection, code: str, msg: str, rid: Any, has_id: bool) -> None:
        self._send_event(conn, {"event": "error", "code": code, "msg": msg}, rid, has_id)

    def _rejected(self, channel: str, inst: str) -> _Reject | None:
        for r in self._rejects:
            if (r.symbol is None or r.symbol == inst) and (
                r.channel is None or r.channel == channel
            ):
                return r
        return None

    def _on_text(self, conn: SimConnection, text: str) -> None:
        if text == "ping":
            conn.pings_received += 1
            conn.send_keepalive("pong")
            return
        st = self._conn[conn]
        try:
            msg = orjson.loads(text)
        except orjson.JSONDecodeError:
            msg = None
        if not isinstance(msg, dict):
            self._error(conn, "60012", f"Invalid request: {text}", None, False)
            return
        has_id = "id" in msg
        rid = msg.get("id")
        op = msg.get("op")
        args = msg.get("args")
        if op not in ("subscribe", "unsubscribe"):
            self._error(conn, "60019", f"Invalid op: op : {op}", rid, has_id)
            return
        if not isinstance(args, list) or not args:
            self._error(conn, "60012", f"Invalid request: {text}", rid, has_id)
            return
        if st.ops.add(trio.current_time()) > self.max_ops_per_hour:
            self._violation("subscribe_rate", conn, f"> {self.max_ops_per_hour}/h")
            self._error(conn, "60014", "Requests too frequent.", rid, has_id)
            return
        for arg in args:
            channel = arg.get("channel") if isinstance(arg, dict) else None
            inst = arg.get("instId") if isinstance(arg, dict) else None
            if not isinstance(channel, str) or not isinstance(inst, str):
                self._error(conn, "60012", f"Invalid request: {text}", rid, has_id)
                continue
            if op == "unsubscribe":
                self._remove_sub(conn, channel, inst)
                self._send_event(conn, {"event": "unsubscribe", "arg": arg}, rid, has_id)
                continue
            rule = self._rejected(channel, inst)
            if rule is not None:
                code = rule.code or "60018"
                text_ = (
                    _wrong_url(channel, inst)
                    if code == "60018"
                    else _MESSAGES.get(code, "Rejected")
                )
                self._error(conn, code, text_, rid, has_id)
                continue
            allowed = BUSINESS_CHANNELS if st.business else PUBLIC_CHANNELS
            if channel not in allowed or not self.market.has_symbol(inst):
                self._error(conn, "60018", _wrong_url(channel, inst), rid, has_id)
                continue
            self._add_sub(conn, channel, inst)
            self._send_event(conn, {"event": "subscribe", "arg": arg}, rid, has_id)

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
        msg: dict[str, Any] = {"arg": {"channel": channel, "instId": inst}}
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

    def _faulted(
        self, conn: SimConnection, channel: str, inst: str, msg: dict[str, Any], text: str
    ) -> list[str]:
        """The frames ``conn`` gets instead of ``text`` under its armed fault."""
        action = msg.get("action")
        out = [text]
        if channel == "books" and action == "snapshot":
            snap = msg["data"][0]
            fault = self._take(conn, ("bad_checksum",), inst)
            if fault is not None:
                bad = copy.deepcopy(msg)
                right = snap.get("checksum") or self._checksum(inst)
                bad["data"][0]["checksum"] = right ^ 1 if right not in (0, 1) else 2
                out = [dumps(bad)]
            fault = self._take(conn, ("snapshot_and_break",), inst)
            if fault is not None:
                seq = snap["seqId"]
                breaking = {
                    "arg": msg["arg"],
                    "action": "update",
                    "data": [
                        {
                            "asks": [],
                            "bids": snap["bids"][:1],
                            "ts": snap["ts"],
                            "checksum": 0,
                            "prevSeqId": seq + 1000,  # not the snapshot's seqId
                            "seqId": seq + 2000,
                        }
                    ],
                }
                out.append(dumps(breaking))
            gap = self._take(conn, ("gap",), inst)
            if gap is not None:
                conn.gaps[inst] = conn.gaps.get(inst, 0) + 1  # lose the first update
        elif channel == "books" and self._take(conn, ("gap",), inst) is not None:
            return []  # this update is lost
        kinds = ["malformed"]
        if channel in _DAMAGE or channel.startswith("candle"):
            kinds += ["nan", "negative"]
        if channel.startswith("trades"):
            kinds.append("bad_trade_id")
        fault = self._take(conn, kinds, inst)
        if fault is None:
            return out
        if fault.kind == "malformed":
            return [cut(out[0]), *out[1:]]
        bad = orjson.loads(out[0])
        item = bad["data"][0]
        if fault.kind == "bad_trade_id":
            item["tradeId"] = {"id": 1}
        elif not damage(fault.kind, item, *_DAMAGE.get(channel, _DAMAGE["candle1m"])):
            self._arm(conn, fault)  # nowhere to put it (an empty update): the next frame
            return out
        return [dumps(bad), *out[1:]]

    def _fmt(self, inst: str) -> tuple[Callable[[int], str], Callable[[int], str]]:
        spec = self.market.spec(inst)
        pd, sd = spec.price_decimals, spec.size_decimals
        return (lambda v: format_plain(v, pd)), (lambda v: format_plain(v, sd))

    def _levels(self, inst: str, levels: list[tuple[int, int]]) -> list[list[str]]:
        px, sz = self._fmt(inst)
        return [[px(p), sz(q), "0", _orders(q)] for p, q in levels]

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
        if t + 1e-9 >= self._next[1.0]:
            self._next[1.0] = max(self._next[1.0] + 1.0, t)
            for inst, chans in self._chans.items():
                if "candle1m" in chans:
                    self._take_pending("candle1m", inst)
                    self._push_candle(inst, self.market.candle(inst, tick.ts), None)

    def _trades(self, inst: str, up: SymbolUpdate, chans: dict[str, set[SimConnection]]) -> None:
        px, sz = self._fmt(inst)
        ts = str(self.clock.stamp(up.ts))
        for order in up.orders:
            side = "buy" if order.is_buy else "sell"
            if "trades-all" in chans:
                for f in order.fills:
                    item = {
                        "instId": inst,
                        "tradeId": str(f.trade_id + _TRADE_ID_OFFSET),
                        "px": px(f.price),
                        "sz": sz(f.size),
                        "side": side,
                        "source": "0",
                        "ts": ts,
                    }
                    self._push("trades-all", inst, [item])
            if "trades" in chans:
                groups: list[list[Any]] = []
                for f in order.fills:
                    if groups and groups[-1][-1].price == f.price:
                        groups[-1].append(f)
                    else:
                        groups.append([f])
                for g in groups:
                    agg: dict[str, Any] = {
                        "instId": inst,
                        "tradeId": str(g[-1].trade_id + _TRADE_ID_OFFSET),
                        "px": px(g[0].price),
                        "sz": sz(sum(f.size for f in g)),
                        "side": side,
                        "ts": ts,
                        "count": str(len(g)),
                        "source": "0",
                        "seqId": up.seq_id,
                    }
                    self._push("trades", inst, [agg])

    def _push_bbo(self, inst: str, ts: int, conns: list[SimConnection] | None) -> None:
        bids, asks = self.market.book(inst, 1)
        item = {
            "asks": self._levels(inst, asks),
            "bids": self._levels(inst, bids),
            "ts": str(self.clock.stamp(ts)),
            "seqId": self.market.seq_id(inst),
        }
        self._push("bbo-tbt", inst, [item], conns)

    def _push_ticker(self, inst: str, ts: int, conns: list[SimConnection] | None) -> None:
        px, sz = self._fmt(inst)
        spec = self.market.spec(inst)
        st = self.market.stats(inst, ts)
        bid, bq, ask, aq = self.market.bbo(inst)
        item: dict[str, Any] = {
            "instType": "SPOT",
            "instId": inst,
            "last": px(st.last),
            "lastSz": sz(st.last_size),
            "askPx": px(ask or 0),
            "askSz": sz(aq),
            "bidPx": px(bid or 0),
            "bidSz": sz(bq),
            "open24h": px(st.open),
            "high24h": px(st.high),
            "low24h": px(st.low),
            "sodUtc0": px(st.day_open_utc0),
            "sodUtc8": px(st.day_open_utc8),
            "volCcy24h": format_plain(st.quote_volume, spec.price_decimals + spec.size_decimals),
            "vol24h": sz(st.volume),
            "ts": str(self.clock.stamp(ts)),
        }
        self._push("tickers", inst, [item], conns)

    def _push_candle(self, inst: str, c: Candle, conns: list[SimConnection] | None) -> None:
        px, sz = self._fmt(inst)
        spec = self.market.spec(inst)
        quote = format_plain(c.quote_volume, spec.price_decimals + spec.size_decimals)
        row = [
            str(c.open_time),
            px(c.open),
            px(c.high),
            px(c.low),
            px(c.close),
            sz(c.volume),
            quote,
            quote,
            "1" if c.closed else "0",
        ]
        self._push("candle1m", inst, [row], conns)

    def _flush_books(self, t: float, market_ts: int) -> None:
        ts = self.clock.stamp(market_ts)
        for inst, ss in self._sym.items():
            chans = self._chans.get(inst)
            cur = self.market.seq_id(inst)
            last = ss.books_seq if ss.books_seq is not None else cur
            changed = cur != last
            if chans and "books5" in chans:
                pending = self._take_pending("books5", inst)
                bids, asks = self.market.book(inst, 5)
                top5 = (bids, asks)
                if top5 != ss.top5 or pending:
                    item = {
                        "asks": self._levels(inst, asks),
                        "bids": self._levels(inst, bids),
                        "instId": inst,
                        "ts": str(ts),
                        "seqId": cur,
                    }
                    self._push("books5", inst, [item], None if top5 != ss.top5 else pending)
                    ss.top5 = top5
            subs = chans.get("books") if chans else None
            if subs:
                pending = self._take_pending("books", inst)
                checksum = self._checksum(inst) if self.checksum else 0
                if pending:
                    bids, asks = self.market.book(inst, 400)
                    snap = {
                        "asks": self._levels(inst, asks),
                        "bids": self._levels(inst, bids),
                        "ts": str(ts),
                        "checksum": checksum,
                        "prevSeqId": -1,
                        "seqId": cur,
                    }
                    self._push("books", inst, [snap], pending, action="snapshot")
                heartbeat = t - ss.books_last_push >= self.book_heartbeat - 1e-9
                if changed or heartbeat:
                    upd = {
                        "asks": self._levels(inst, sorted(ss.book_asks.items())),
                        "bids": self._levels(inst, sorted(ss.book_bids.items(), reverse=True)),
                        "ts": str(ts),
                        "checksum": checksum,
                        "prevSeqId": last,
                        "seqId": cur,
                    }
                    targets = [
                        c
                        for c in subs
                        if c not in pending and not (c.gaps and self._take_gap(c, inst))
                    ]
                    self._push("books", inst, [upd], targets, action="update")
            if changed or t - ss.books_last_push >= self.book_heartbeat - 1e-9:
                ss.books_last_push = t
            ss.books_seq = cur
            ss.book_bids.clear()
            ss.book_asks.clear()

    def _checksum(self, inst: str) -> int:
        bids, asks = self.market.book(inst, 25)
        return okx_checksum(self._levels(inst, bids), self._levels(inst, asks))

    # --- REST ------------------------------------------------------------------------------

    def _rest_throttled(self) -> RestResult:
        body = b'{"msg":"Too Many Requests","code":"50011"}'
        return 429, [*_JSON, ("retry-after", str(self._rest_retry_after))], body

    def _rest(self, method: str, path: str, query: dict[str, str]) -> RestResult:
        if self._rest_window.add(trio.current_time()) > 40:
            self._violation("rest_rate", None, "> 40 requests / 2 s")
        if method != "GET":
            return 405, _JSON, b'{"code":"405","msg":"Method Not Allowed","data":[]}'
        if path == "/api/v5/public/time":
            ts = str(self.clock.stamp(self.market.to_ms(trio.current_time())))
            return 200, _JSON, orjson.dumps({"code": "0", "msg": "", "data": [{"ts": ts}]})
        if path != "/api/v5/market/books":
            return 404, _JSON, b'{"code":"404","msg":"Not Found","data":[]}'
        inst = query.get("instId")
        if not inst:
            return (
                200,
                _JSON,
                b'{"code":"50014","msg":"Parameter instId can not be empty.","data":[]}',
            )
        if not self.market.has_symbol(inst):
            return 200, _JSON, b'{"code":"51001","msg":"Instrument ID doesn\'t exist.","data":[]}'
        try:
            sz = max(1, min(int(query.get("sz", "1")), 400))
        except ValueError:
            return 200, _JSON, b'{"code":"51000","msg":"Parameter sz error","data":[]}'
        bids, asks = self.market.book(inst, sz)
        item = {
            "asks": self._levels(inst, asks),
            "bids": self._levels(inst, bids),
            "ts": str(self.clock.stamp(self.market.to_ms(trio.current_time()))),
            "seqId": self.market.seq_id(inst),
        }
        return 200, _JSON, orjson.dumps({"code": "0", "msg": "", "data": [item]})


def _orders(size: int) -> str:
    """A stable, plausible order count for a level of ``size`` lots."""
    return str(1 + (size * 2654435761 >> 7) % 9)
