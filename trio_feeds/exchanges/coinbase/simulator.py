"""A simulated Coinbase Advanced Trade market-data server (``wss://advanced-trade-ws.coinbase.com``).

Built on :class:`~trio_feeds.testing.SimulatedExchange` like the Binance and OKX simulators;
it speaks the protocol of
https://docs.cdp.coinbase.com/coinbase-app/advanced-trade-apis/websocket/websocket-channels
(see ``docs/exchanges.md``).  Products are the market's symbols one to one (``BTC-USDT``,
``BTC-USD`` …); a ``-USDC`` product is answered with the ``-USD`` product's data, as
Coinbase does outside the user channel.
"""

from __future__ import annotations

import copy
from collections import deque
from datetime import UTC, datetime
from typing import Any

import attrs
import orjson
import trio

from trio_feeds.simulator.faults import DATA_FAULTS, DataFaults, cut, damage, dumps
from trio_feeds.simulator.market import (
    ExchangeClock,
    MarketSimulator,
    MarketTick,
    SymbolUpdate,
    format_plain,
)
from trio_feeds.simulator.server import SimConnection, SimulatedExchange, _RateWindow

__all__ = ["SimulatedCoinbase", "rfc3339"]

CHANNELS = frozenset(
    {"heartbeats", "market_trades", "ticker", "ticker_batch", "level2", "candles", "status"}
)
#: the channel a push of a subscription carries
_PUSH_CHANNEL = {"level2": "l2_data"}
_TRADES_EVERY = 0.25  # market_trades batches 250 ms of trades
_TICKER_BATCH_EVERY = 5.0
_CANDLE_EVERY = 1.0
_CANDLE_S = 300  # five-minute buckets
_RECENT_TRADES = 50
_SNAPSHOT_TIME = "1970-01-01T00:00:00Z"


def rfc3339(ms: int) -> str:
    """Unix ms → ``"2023-02-09T20:32:50.714Z"`` (fraction trimmed, as Coinbase trims zeros).

    >>> rfc3339(1_675_974_770_710), rfc3339(0)
    ('2023-02-09T20:32:50.71Z', '1970-01-01T00:00:00Z')
    """
    dt = datetime.fromtimestamp(ms // 1000, UTC)
    frac = f"{ms % 1000:03d}".rstrip("0")
    return dt.strftime("%Y-%m-%dT%H:%M:%S") + (f".{frac}Z" if frac else "Z")


@attrs.define
class _ConnState:
    opened_at: float
    seq: int = 0
    subscribed: bool = False
    heartbeats: bool = False
    heartbeat_counter: int = 0
    last_sent: float = 0.0
    #: (channel, product) waiting for their first push (a snapshot)
    pending: set[tuple[str, str]] = attrs.Factory(set)
    messages: _RateWindow = attrs.Factory(lambda: _RateWindow(1.0))


@attrs.define
class _Bucket:
    start: int  # Unix seconds
    open: int
    high: int
    low: int
    close: int
    volume: int = 0


#: push channel → (price keys, size keys) of the first item for the "nan"/"negative" faults
_DAMAGE: dict[str, tuple[str, tuple[str, ...], tuple[str, ...]]] = {
    "market_trades": ("trades", ("price",), ("size",)),
    "ticker": ("tickers", ("price",), ("volume_24_h",)),
    "ticker_batch": ("tickers", ("price",), ("volume_24_h",)),
    "l2_data": ("updates", ("price_level",), ("new_quantity",)),
    "candles": ("candles", ("open",), ("volume",)),
}


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
        """The market symbol serving ``product`` (``-USDC`` → ``-USD`` when simulated)."""
        if self.market.has_symbol(product):
            return product
        if product.endswith("-USDC") and self.market.has_symbol(product[:-1]):
            return product[:-1]
        return None

    def _error(
        self, conn: SimConnection, reason: str, message: str = "Failed to subscribe"
    ) -> None:
        conn.send_reply(dumps({"type": "error", "message": message, "reason": reason}))

    def _on_text(self, conn: SimConnection, text: str) -> None:
        st = self._conn[conn]
        if st.messages.add(trio.current_time()) > self.max_messages_per_second:
            self._violation("message_rate", conn, f"> {self.max_messages_per_second}/s")
        try:
            msg = orjson.loads(text)
        except orjson.JSONDecodeError:
            msg = None
        if not isinstance(msg, dict):
            self._error(conn, "malformed JSON", "Failed to parse message")
            return
        op = msg.get("type")
        channel = msg.get("channel")
        products = msg.get("product_ids", [])
        if op not in ("subscribe", "unsubscribe"):
            self._error(conn, f"unknown type {op!r}", "Failed to process message")
            return
        if not isinstance(channel, str) or channel not in CHANNELS:
            self._error(conn, f"channel {channel!r} is not a valid channel")
            return
        if not isinstance(products, list) or not all(isinstance(p, str) for p in products):
            self._error(conn, "product_ids must be a list of strings")
            return
        if op == "unsubscribe":
            keys = [k for k in self._subs if k[0] == channel and conn in self._subs[k]]
            for key in keys:
                if products and key[1] not in products:
                    continue
                self._remove(conn, st, key)
            if channel == "heartbeats":
                st.heartbeats = False
            self._send_subscriptions(conn, st)
            return
        st.subscribed = True
        if channel == "heartbeats":
            st.heartbeats = True
            self._add(conn, st, ("heartbeats", "heartbeats"), snapshot=False)
        else:
            bad = []
            for product in products:
                if self._product(product) is None or self._rejected(product, channel):
                    bad.append(product)
                    continue
                self._add(conn, st, (channel, product), snapshot=True)
            for product in bad:
                self._error(conn, f"{product} is not a valid product")
        self._send_subscriptions(conn, st)

    def _rejected(self, product: str, channel: str) -> bool:
        return any(
            (p is None or p == product) and (c is None or c == channel) for p, c in self._rejects
        )

    def _add(
        self, conn: SimConnection, st: _ConnState, key: tuple[str, str], snapshot: bool
    ) -> None:
        conns = self._subs.setdefault(key, set())
        if conn in conns:
            return
        conns.add(conn)
        conn._subs[f"{key[0]}:{key[1]}"] = None
        if snapshot:
            st.pending.add(key)

    def _remove(self, conn: SimConnection, st: _ConnState, key: tuple[str, str]) -> None:
        conns = self._subs.get(key)
        if conns is None or conn not in conns:
            return
        conns.discard(conn)
        if not conns:
            del self._subs[key]
        conn._subs.pop(f"{key[0]}:{key[1]}", None)
        st.pending.discard(key)

    def _send_subscriptions(self, conn: SimConnection, st: _ConnState) -> None:
        listed: dict[str, list[str]] = {}
        for channel, product in self._subs:
            if conn in self._subs[(channel, product)]:
                listed.setdefault(channel, []).append(product)
        self._send(conn, st, "subscriptions", [{"subscriptions": listed}], reply=True)

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
        event = msg["events"][0]
        update = channel == "l2_data" and event.get("type") == "update"
        if update and self._take(conn, ("gap",), product) is not None:
            return []  # this message is lost: a hole in sequence_num
        kinds = ["malformed", "nan", "negative"]
        if channel == "market_trades":
            kinds.append("bad_trade_id")
        fault = self._take(conn, kinds, product)
        text = dumps(msg)
        if fault is None:
            return [text]
        if fault.kind == "malformed":
            return [cut(text)]
        bad = copy.deepcopy(msg)
        field, prices, sizes = _DAMAGE[channel]
        items = bad["events"][0][field]
        if not items:
            self._arm(conn, fault)
            return [text]
        if fault.kind == "bad_trade_id":
            items[0]["trade_id"] = {"id": 1}
        else:
            damage(fault.kind, items[0], prices, sizes)
        return [dumps(bad)]

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
        if not up.orders:
            return
        bucket = self._bucket(sym, ts)
        for order in up.orders:
            maker_side = "SELL" if order.is_buy else "BUY"  # Coinbase reports the maker's side
            for f in order.fills:
                trade = {
                    "trade_id": str(f.trade_id),
                    "product_id": sym,
                    "price": self._fmt(sym, f.price, True),
                    "size": self._fmt(sym, f.size, False),
                    "side": maker_side,
                    "time": rfc3339(ts),
                }
                self._recent[sym].append(trade)
                self._batch[sym].append(trade)
                bucket.high = max(bucket.high, f.price)
                bucket.low = min(bucket.low, f.price)
                bucket.close = f.price
                bucket.volume += f.size

    def _bucket(self, sym: str, ts: int) -> _Bucket:
        start = ts // 1000 - ts // 1000 % _CANDLE_S
        b = self._buckets.get(sym)
        if b is None or b.start != start:
            if b is not None:
                px = b.close
            else:
                bid, _, ask, _ = self.market.bbo(sym)
                px = ((bid or 0) + (ask or 0)) // 2
            b = self._buckets[sym] = _Bucket(start, px, px, px, px)
        return b

    def _push_trades(self, product: str, kind: str, trades: list[dict[str, Any]], ts: int) -> None:
        for conn, st, pending in self._subscribers(("market_trades", product)):
            if pending and kind == "update":
                st.pending.add(("market_trades", product))  # it gets its snapshot first
                continue
            event = {"type": kind, "trades": trades}
            self._send(conn, st, "market_trades", [event], product=product, ts=ts)

    def _trades_snapshot(self, product: str, sym: str, ts: int) -> None:
        waiting = [c for c, _, p in self._peek_pending(("market_trades", product)) if p]
        if not waiting:
            return
        trades = list(reversed(self._recent[sym]))  # newest first
        for conn, st, pending in self._subscribers(("market_trades", product)):
            if pending:
                event = {"type": "snapshot", "trades": trades}
                self._send(conn, st, "market_trades", [event], product=product, ts=ts)

    def _ticker(self, channel: str, product: str, sym: str, ts: int, changed: bool) -> None:
        targets = self._subscribers((channel, product))
        if not changed and not any(p for _, _, p in targets):
            return
        st24 = self.market.stats(sym, ts)
        bid, bq, ask, aq = self.market.bbo(sym)
        change = (st24.last - st24.open) / st24.open * 100 if st24.open else 0.0
        item: dict[str, Any] = {
            "type": "ticker",
            "product_id": sym,
            "price": self._fmt(sym, st24.last, True),
            "volume_24_h": self._fmt(sym, st24.volume, False),
            "low_24_h": self._fmt(sym, st24.low, True),
            "high_24_h": self._fmt(sym, st24.high, True),
            "low_52_w": self._fmt(sym, st24.low, True),
            "high_52_w": self._fmt(sym, st24.high, True),
            "price_percent_chg_24_h": f"{change:.8f}",
        }
        if channel == "ticker":
            item.update(
                best_bid=self._fmt(sym, bid or 0, True),
                best_bid_quantity=self._fmt(sym, bq, False),
                best_ask=self._fmt(sym, ask or 0, True),
                best_ask_quantity=self._fmt(sym, aq, False),
            )
        for conn, st, pending in targets:
            if not pending and not changed:
                continue
            event = {"type": "snapshot" if pending else "update", "tickers": [item]}
            self._send(conn, st, channel, [event], product=product, ts=ts)

    def _level2(self, product: str, sym: str, up: SymbolUpdate, ts: int) -> None:
        changes: dict[tuple[bool, int], int] = {}
        for c in up.changes:
            changes[(c.is_bid, c.price)] = c.size
        snapshot: list[dict[str, Any]] | None = None
        update: list[dict[str, Any]] | None = None
        for conn, st, pending in self._subscribers(("level2", product)):
            if pending:
                if snapshot is None:
                    bids, asks = self.market.book(sym)
                    snapshot = [
                        _l2("bid", p, q, _SNAPSHOT_TIME) for p, q in self._levels(sym, bids)
                    ] + [_l2("offer", p, q, _SNAPSHOT_TIME) for p, q in self._levels(sym, asks)]
                event = {"type": "snapshot", "product_id": sym, "updates": snapshot}
            elif changes:
                if update is None:
                    when = rfc3339(ts)
                    update = [
                        _l2(
                            "bid" if is_bid else "offer",
                            self._fmt(sym, price, True),
                            self._fmt(sym, size, False),
                            when,
                        )
                        for (is_bid, price), size in changes.items()
                    ]
                if conn.gaps and self._take_gap(conn, product):
                    st.seq += 1  # lost on the way: a hole in sequence_num
                    continue
                event = {"type": "update", "product_id": sym, "updates": update}
            else:
                continue
            self._send(conn, st, "l2_data", [event], product=product, ts=ts)

    def _candles(self, product: str, sym: str, ts: int, only_pending: bool) -> None:
        b = self._bucket(sym, ts)
        candle = {
            "start": str(b.start),
            "high": self._fmt(sym, b.high, True),
            "low": self._fmt(sym, b.low, True),
            "open": self._fmt(sym, b.open, True),
            "close": self._fmt(sym, b.close, True),
            "volume": self._fmt(sym, b.volume, False),
            "product_id": sym,
        }
        for conn, st, pending in self._subscribers(("candles", product)):
            if only_pending and not pending:
                continue
            event = {"type": "snapshot" if pending else "update", "candles": [candle]}
            self._send(conn, st, "candles", [event], product=product, ts=ts)


def _l2(side: str, price: str, size: str, when: str) -> dict[str, str]:
    return {"side": side, "event_time": when, "price_level": price, "new_quantity": size}
