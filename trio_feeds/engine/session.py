"""The live state of one WebSocket connection: subscribing, heartbeats, the receive path.

:meth:`_Session.read` is the hot receive path: it stays one method with its locals
hoisted (no per-frame helper calls), which is why this module runs a little over 400
lines rather than being split further.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import trio

from trio_feeds.core.records import SubscriptionRejected
from trio_feeds.engine.batch import RECORDS, TRADES_OR_GAPS, none_exchange_timed, types_of
from trio_feeds.engine.books import BookKeeper
from trio_feeds.engine.connect import SessionEnded
from trio_feeds.engine.dedupe import _Dedupe, _TradeIdGaps
from trio_feeds.engine.limits import ConnectionBudget
from trio_feeds.engine.losses import UNSOLICITED_REPORT_INTERVAL as UNSOLICITED_REPORT_INTERVAL
from trio_feeds.engine.losses import _Losses
from trio_feeds.engine.transport import Connection
from trio_feeds.protocol import (
    Adapter,
    ConnectionGap,
    ExchangeError,
    ParseError,
    Pong,
    Rejected,
    ServerShutdown,
    Subscribed,
    Subscription,
)

__all__ = ["UNSOLICITED_REPORT_INTERVAL"]

if TYPE_CHECKING:
    from trio_feeds.engine.source import Source

#: record kinds with an exchange ``timestamp`` (what a session's batches may also carry:
#: ``Gap`` events of its local books)
_STAMPED = frozenset({"trade", "ticker", "quote", "book", "candle", "book_delta"})


_session_numbers = itertools.count(1)


class _Session(_Losses):
    """The live state of one WebSocket connection."""

    def __init__(
        self,
        source: Source,
        adapter: Adapter,
        ws: Connection,
        shard: list[Subscription],
        budget: ConnectionBudget,
        dedupe: _Dedupe,
    ) -> None:
        self.source = source
        self.adapter = adapter
        self.ws = ws
        self.shard = shard
        self.budget = budget
        self.dedupe = dedupe
        #: tells this connection's trade-id ranges apart in the dedupe
        self.number = next(_session_numbers)
        #: when it was opened (ms, the feed's clock): where a first refused frame's Gap starts
        self.opened_ms = source._now_ms()
        #: frames of unsubscribed streams (adapter.unsolicited) already reported, and when
        self.unsolicited_reported = 0
        self.unsolicited_report_at: float | None = None
        self.scope: trio.CancelScope | None = None
        self.nursery: trio.Nursery | None = None
        self.live = False
        self.pending: set[Subscription] = set()
        self.acked = trio.Event()
        self.handoff = trio.Event()
        self.handoff_reason = ""
        #: exchange times (ms) of the first and newest exchange-stamped record received
        self.first_ts: int | None = None
        self.last_ts: int | None = None
        #: set after each batch while a handoff waits for this connection to catch up
        self.progress: trio.Event | None = None
        self.last_rx = trio.current_time()
        #: when we last sent a text frame (some exchanges close a connection whose client is
        #: silent: ``Heartbeat.client_idle_limit``)
        self.last_tx = self.last_rx
        self.pong = trio.Event()
        self.ping_sent_at: dict[bytes, float] = {}
        self.app_ping_at: float | None = None
        ws.on_pong = self._on_ws_pong
        #: trades lost on this connection, told by their ids (streams with consecutive ids)
        contiguous = source.spec.contiguous_trade_ids
        id_symbols = [x.symbol for x in shard if x.channel == "trade" and x.stream in contiguous]
        self.id_gaps = _TradeIdGaps(source.exchange, id_symbols) if id_symbols else None
        book_symbols = [
            x.symbol for x in shard if x.channel == "book" and x.symbol in source.full_books
        ]
        self.books: BookKeeper | None = None
        if book_symbols:
            st = source.settings
            self.books = BookKeeper(
                source.spec,
                book_symbols,
                depth=st.book_depth,
                deltas=st.book_deltas,
                rest=source.rest,
                clock=st.clock,
                spawn=self._spawn,
                resubscribe=self._resubscribe_book,
                emit=source._emit,
                on_error=self._book_error,
            )

    # -- subscribe -------------------------------------------------------------------------
    async def subscribe_all(self) -> None:
        src = self.source
        subs = [x for x in self.shard if x not in src.rejected]
        self.pending = set(subs)
        if not subs:
            return
        for frame in self.adapter.subscribe(subs):
            await self.budget.request()
            await src.budget.request()
            await self._send_text(frame)

    async def _send_text(self, frame: str) -> None:
        self.last_tx = trio.current_time()
        await self.ws.send_text(frame)

    async def _retry_individually(self, subs: tuple[Subscription, ...]) -> None:
        """A batch was refused whole (Binance): find the bad ones one by one."""
        for sub in subs:
            for frame in self.adapter.subscribe([sub]):
                await self.budget.request()
                await self.source.budget.request()
                await self._send_text(frame)

    def _resolve(self, subs: Sequence[Subscription]) -> None:
        self.pending.difference_update(subs)
        if not self.pending:
            self.acked.set()

    def _spawn(self, fn: Callable[[str], Any], arg: str) -> None:
        if self.nursery is not None:
            self.nursery.start_soon(fn, arg)

    def _book_error(self, message: str) -> None:
        self.source.errors += 1
        self.source.last_error = message
        self.source._error("book", message)

    async def _resubscribe_book(self, symbol: str) -> None:
        """A fresh in-band snapshot for one book channel (a ``ResubscribeRequest``); the
        other channels are untouched."""
        subs = [x for x in self.shard if x.channel == "book" and x.symbol == symbol]
        for frames in (self.adapter.unsubscribe(subs), self.adapter.subscribe(subs)):
            for frame in frames:
                await self.budget.request()
                await self.source.budget.request()
                await self._send_text(frame)

    # -- heartbeat -------------------------------------------------------------------------
    def _on_ws_pong(self, payload: bytes) -> None:
        sent = self.ping_sent_at.pop(payload, None)
        if sent is not None:
            self.source.latency.add_rtt(trio.current_time() - sent)
            self.pong.set()

    async def heartbeat(self) -> None:
        s = self.source.settings
        latency = self.source.latency
        rules = self.source.spec.heartbeat
        app_level = rules.app_level
        pong_timeout = s.pong_timeout
        if rules.timeout is not None:
            pong_timeout = min(pong_timeout, rules.timeout)
        counter = 0
        while True:
            interval = s.heartbeat_interval
            if rules.interval is not None:
                interval = min(interval, rules.interval)
            slow = latency.last_rtt
            if slow is not None and slow > s.max_source_latency:
                # the last round trip was slow (a source that lags from the start shows
                # only here): measure again soon, so its recovery is seen soon too
                interval = min(interval, max(s.max_source_latency, 0.5))
            if not app_level:
                # WebSocket control pings: a regular ping measures the round trip.
                await trio.sleep(interval)
                counter += 1
                payload = str(counter).encode()
                self.pong = trio.Event()
                await self.budget.message()
                self.ping_sent_at = {payload: trio.current_time()}
                await self.ws.ping(payload)
            else:
                # an application ping (text or JSON, built by the adapter) when the line
                # has been quiet for `interval` in either direction: some exchanges also
                # close a connection whose client sends nothing for a while, however much
                # data it receives (Heartbeat.client_idle_limit).
                deadline = min(self.last_rx, self.last_tx) + interval
                if trio.current_time() < deadline:
                    await trio.sleep_until(deadline)
                    continue
                self.pong = trio.Event()
                await self.budget.message()
                self.app_ping_at = trio.current_time()
                await self._send_text(self.adapter.ping() or "ping")
            with trio.move_on_after(pong_timeout) as cs:
                await self.pong.wait()
            if cs.cancelled_caught:
                raise SessionEnded("heartbeat_timeout", f"no pong within {pong_timeout} s")

    async def age_limit(self, age: float) -> None:
        await trio.sleep(age)
        self.request_handoff("connection_age")

    def request_handoff(self, reason: str) -> None:
        if not self.handoff.is_set():
            self.handoff_reason = reason
            self.handoff.set()

    async def wait_handoff(self) -> str:
        await self.handoff.wait()
        return self.handoff_reason

    def caught_up(self, new: _Session) -> bool:
        """True once this (old) connection delivered data as new as ``new``'s first."""
        return (
            new.first_ts is not None and self.last_ts is not None and self.last_ts >= new.first_ts
        )

    async def catch_up(self, new: _Session) -> None:
        while not self.caught_up(new):
            self.progress = new.progress = trio.Event()
            await self.progress.wait()
        self.progress = new.progress = None

    # -- the receive path ------------------------------------------------------------------
    async def read(self) -> None:
        src = self.source
        settings = src.settings
        clock = settings.clock
        adapter = self.adapter
        parse_many = adapter.parse_many
        receive = self.ws.receive_batch
        key = id(self.shard)
        strikes = src.idle_strikes.get(key, 0)
        base_idle = settings.stale_after
        # after consecutive stale reconnects (a quiet market), wait longer each time, up to
        # 256x (at most 30 min, unless stale_after is longer): a market that stays quiet
        # for hours costs a handful of reconnects, not one every few minutes
        idle = min(base_idle * (2 ** min(strikes, 8)), max(base_idle, 1800.0))
        with trio.CancelScope(deadline=trio.current_time() + idle) as watchdog:
            while True:
                frames = await receive()
                now = trio.current_time()
                self.last_rx = now
                if not frames:
                    continue
                received_at = clock()
                out = parse_many(frames, received_at)
                if adapter.unsolicited != self.unsolicited_reported:
                    self._report_unsolicited(now)
                # by the classes in the batch (engine/batch.py): records only, no trade
                # ids to follow, no local books: nothing to sort out item by item
                types: set[type] | None = types_of(out)
                if types <= RECORDS and self.id_gaps is None:  # type: ignore[operator]
                    records = out
                else:
                    records, types = self._sort(out, received_at), None
                if self.books is not None and records:
                    records, types = self.books.process(records), None
                if records:
                    if idle != base_idle:
                        idle, strikes = base_idle, 0
                        src.idle_strikes[key] = 0
                    watchdog.deadline = now + idle
                    # per batch, not per record: the newest record of each stream
                    if self.first_ts is None and (
                        types is None or not none_exchange_timed(types, records)
                    ):
                        # data records only: a batch may hold events (a book Gap first of
                        # all on a fresh connection), which have no timestamp
                        stamps = [
                            r.timestamp
                            for r in records
                            if r.kind in _STAMPED and getattr(r, "exchange_time", True)
                        ]
                        if stamps:
                            self.first_ts = min(stamps)
                    by_topic = src._by_topic
                    seen: set[tuple[str, str]] = set()
                    newest_of: list[tuple[Subscription, Any]] = []
                    wanted = len(self.shard)
                    for r in reversed(records):
                        if r.kind not in _STAMPED:
                            continue
                        k = (r.kind, r.symbol)
                        if k in seen:
                            continue
                        seen.add(k)
                        sub = by_topic.get(("book" if k[0] == "book_delta" else k[0], k[1]))
                        if sub is not None:
                            newest_of.append((sub, r))
                            if len(newest_of) >= wanted:
                                break
                    last_ts = src.last_ts
                    pending = self.pending
                    newest = self.last_ts
                    for sub, r in newest_of:
                        src.last_data[sub] = received_at
                        if getattr(r, "exchange_time", True):
                            ts = r.timestamp
                            last_ts[sub] = ts
                            if newest is None or ts > newest:
                                newest = ts
                        if pending and sub in pending:
                            self._resolve((sub,))
                    self.last_ts = newest
                    if self.progress is not None:
                        self.progress.set()
                    # during a handoff overlap a whole batch may be repeats
                    trades = types is None or not types.isdisjoint(TRADES_OR_GAPS)
                    records = self.dedupe.filter(
                        records, self.number, src.exchange, int(received_at * 1000), trades=trades
                    )
                    if src.backfill is not None and trades:  # trades after a hole wait
                        records = src.backfill.filter(records, self.number)
                    if not records:
                        continue
                    src.messages += len(records)
                    src.last_update = received_at
                    src._emit(records)
        # watchdog fired: no data on this connection for `idle` seconds
        src.idle_strikes[key] = strikes + 1
        raise SessionEnded("stale", f"no data for {idle:g} s")

    def _sort(self, out: list[Any], received_at: float) -> list[Any]:
        """Split parser output into records (returned) and control events (handled here)."""
        records: list[Any] = []
        src = self.source
        # trades lost on this connection, by their ids: checked here, in the order
        # received (refused frames included) and before the dedupe (a repeat is still a
        # trade this connection got)
        id_gaps = self.id_gaps
        for item in out:
            kind = getattr(item, "kind", None)
            if kind is not None:
                if kind == "trade" and id_gaps is not None:
                    gap = id_gaps.see(item)
                    if gap is not None:
                        src.gaps += 1
                        records.append(gap)
                records.append(item)
                continue
            if isinstance(item, Subscribed):
                self._resolve(item.subscriptions)
                if self.books is not None:
                    for sub in item.subscriptions:
                        if sub.channel == "book":
                            records.extend(self.books.on_subscribed(sub.symbol))
            elif isinstance(item, Pong):
                if self.app_ping_at is not None:
                    src.latency.add_rtt(trio.current_time() - self.app_ping_at)
                    self.app_ping_at = None
                self.pong.set()
            elif isinstance(item, Rejected):
                self._on_rejected(item)
            elif isinstance(item, ServerShutdown):
                src._event("server_shutdown", f"{item.code} {item.message}".strip())
                self.request_handoff(f"server_shutdown {item.code}".strip())
            elif isinstance(item, ParseError):
                src.errors += 1
                src.last_error = f"parse error: {item.problem}"
                src._error("malformed_frame", f"malformed frame: {item.problem}")
                if not item.control:
                    records.extend(self._lost(item, received_at))
                    if id_gaps is not None and (
                        item.stream is None or item.stream in src.spec.contiguous_trade_ids
                    ):
                        id_gaps.refused(item.symbol)
            elif isinstance(item, ExchangeError):
                src.errors += 1
                src.last_error = f"exchange error {item.code}: {item.message}"
                src._error("exchange_error", src.last_error or "")
            elif isinstance(item, ConnectionGap):
                records.extend(self._connection_gap(item))
        return records

    def _on_rejected(self, item: Rejected) -> None:
        src = self.source
        src.errors += 1
        subs = item.subscriptions
        if len(subs) > 1:
            # refused as a batch: ask again one by one to find the bad one(s)
            self._spawn_retry(subs)
            return
        now = int(src.settings.clock() * 1000)
        events: list[Any] = []
        for sub in subs:
            src.rejected.add(sub)
            events.append(
                SubscriptionRejected(
                    src.exchange, sub.symbol, sub.channel, item.code, item.message, now
                )
            )
        if not subs:
            src._error("request_refused", f"request refused [{item.code}] {item.message}")
        src.last_error = f"subscription rejected [{item.code}] {item.message}"
        src._emit(events)
        self._resolve(subs)

    def _spawn_retry(self, subs: tuple[Subscription, ...]) -> None:
        # run the retries beside the reader, never blocking it
        if self.nursery is not None:
            self.nursery.start_soon(self._retry_individually, subs)
