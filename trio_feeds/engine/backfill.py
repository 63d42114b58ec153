"""Trades missed across a reconnect, a handoff or a hole, fetched over REST and delivered in
order (``open_feed(backfill=True)``; see ``docs/engine.md``, "Backfill").

One :class:`Backfill` per source sees every batch a connection delivers (after the
shard's dedupe) for the trade subscriptions whose stream has a REST history
(``ExchangeSpec.trade_history``).  A trade that follows a hole is held back: on
consecutive ids, any jump; on ids that skip, the first trade of a new connection (or
after a trade ``Gap``) newer than the newest delivered.  A task beside the readers fetches
the trades in between within the REST budget shared with book snapshots, while that
symbol's live trades wait (bounded) and everything else flows.  Then the fetched trades go
out in id order, a ``GapFilled`` event, and the held trades (repeats removed by id); or,
when the history cannot cover the hole, what was fetched, a
``SourceEvent(state="gap_not_filled")`` saying why, and the held trades.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any, Protocol

import attrs
import trio

from trio_feeds.core.errors import ProtocolError
from trio_feeds.core.records import GapFilled, SourceEvent
from trio_feeds.engine.books import RestClient
from trio_feeds.engine.unanchored import unanchored
from trio_feeds.exchanges.spec import ExchangeSpec, TradeHistory
from trio_feeds.protocol import Subscription

__all__ = ["Backfill", "BackfillSettings"]


@attrs.define
class BackfillSettings:
    """How far a backfill may go (``open_feed(backfill=..., backfill_timeout=...)``)."""

    #: seconds a hole's fetch may take before it is given up (the held trades go out)
    timeout: float = 10.0
    #: live trades one symbol may hold while its hole is fetched
    buffer: int = 100_000
    #: the most trades one hole may need (more: not fetched, the Gap stays)
    max_trades: int = 100_000


class _Source(Protocol):
    exchange: str
    spec: ExchangeSpec
    rest: RestClient | None

    def _emit(self, items: list[Any]) -> None: ...


class _Fill:
    """One hole being fetched: the trades strictly between ids ``lo`` and ``hi``."""

    __slots__ = ("got", "hi", "lo", "scope")

    def __init__(self, lo: int, hi: int) -> None:
        self.lo = lo
        self.hi = hi
        self.got: dict[int, Any] = {}
        self.scope = trio.CancelScope()


class _Symbol:
    __slots__ = (
        "conns", "contiguous", "current", "fill", "filled", "first", "history", "last", "queue",
        "unfilled",
    )  # fmt: skip

    #: connections and filled ranges remembered per symbol
    KEEP = 4
    UNFILLED_KEEP = 64

    def __init__(self, history: TradeHistory, contiguous: bool) -> None:
        self.history = history
        self.contiguous = contiguous
        #: the newest trade id delivered (None: none yet)
        self.last: int | None = None
        #: connections that delivered this symbol's trades (the newest KEEP)
        self.conns: list[int] = []
        #: the connection of the last trade taken (the fast path's check)
        self.current = 0
        #: the hole being fetched, and the live trades held meanwhile (trade, connection)
        self.fill: _Fill | None = None
        self.queue: list[tuple[Any, int]] = []
        #: id ranges delivered by a fill: a live trade inside one is a repeat
        self.filled: list[tuple[int, int]] = []
        #: the first trade id delivered, and the holes given up (ids never delivered, the
        #: newest UNFILLED_KEEP): on consecutive ids, any other id from the first on was
        #: delivered
        self.first = 0
        self.unfilled: list[tuple[int, int]] = []

    def unfilled_has(self, tid: int) -> bool:
        return any(lo <= tid <= hi for lo, hi in self.unfilled)


class Backfill:
    """The backfill of one source's trade subscriptions (see the module docstring)."""

    def __init__(
        self,
        source: _Source,
        subscriptions: Iterable[Subscription],
        settings: BackfillSettings,
        clock: Callable[[], float],
    ) -> None:
        self.source = source
        self.settings = settings
        self.clock = clock
        spec = source.spec
        self.symbols: dict[str, _Symbol] = {}
        for sub in subscriptions:
            history = spec.trade_history.get(sub.stream)
            if sub.channel != "trade" or history is None:
                continue
            if history.covers is not None and not history.covers(sub.symbol):
                continue
            contiguous = sub.stream in spec.contiguous_trade_ids
            self.symbols[sub.symbol] = _Symbol(history, contiguous)
        self._nursery: trio.Nursery | None = None
        #: holes found, filled, and given up; trades delivered by fills; repeats dropped
        self.holes = 0
        self.filled = 0
        self.failed = 0
        self.fetched = 0
        self.repeats = 0

    def __bool__(self) -> bool:
        return bool(self.symbols)

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Run the fetch tasks (until cancelled with the source).

        A source that was stopped (a cold standby) and runs again starts afresh: what it
        missed while stopped is not fetched, and fills cut short by the stop are dropped.
        """
        for st in self.symbols.values():
            st.__init__(st.history, st.contiguous)  # type: ignore[misc]
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            task_status.started()
            await trio.sleep_forever()

    # -- the receive side (called by each connection's reader, never waits) --------------
    def filter(self, records: list[Any], connection: int) -> list[Any]:
        """``records`` as they may go out now: trades after a hole held back, repeats of
        filled trades dropped, the rest untouched and in order."""
        symbols = self.symbols
        out: list[Any] = []
        append = out.append
        for r in records:
            if r.kind == "trade":
                st = symbols.get(r.symbol)
                if st is not None:
                    # the usual case inline: the next trade of the connection seen last,
                    # no fill under way
                    last = st.last
                    if st.current == connection and st.fill is None and last is not None:
                        tid = int(r.trade_id)
                        if tid == last + 1 or (tid > last and not st.contiguous):
                            st.last = tid
                            append(r)
                            continue
                    self._take(st, r, connection, out)
                    continue
            elif r.kind == "gap" and r.channel in ("trade", "*"):
                # trades lost on a live connection: on ids that skip, ask as after a reconnect
                append(r)
                out.extend(unanchored(self.source.exchange, symbols, [r], self.clock))
                for sym, st in symbols.items():
                    if r.symbol in (sym, "*") and not st.contiguous:
                        st.current = 0
                        if connection in st.conns:
                            st.conns.remove(connection)
                continue
            append(r)
        return out

    def _take(self, st: _Symbol, r: Any, conn: int, out: list[Any]) -> None:
        try:
            tid = int(r.trade_id)
        except ValueError:  # pragma: no cover - the adapters only let digits through
            out.append(r)
            return
        fill = st.fill
        if fill is not None:
            if len(st.queue) < self.settings.buffer:
                st.queue.append((r, conn))
                return
            detail = f"more than {self.settings.buffer} live trades waited"
            self._finish(st, fill, "buffer_full", detail, out)
            if st.fill is not None:  # the released trades opened another hole
                st.queue.append((r, conn))
                return
        st.current = conn
        new_conn = conn not in st.conns
        if new_conn:
            st.conns.append(conn)
            if len(st.conns) > _Symbol.KEEP:
                del st.conns[0]
        last = st.last
        if last is None:
            st.last = st.first = tid
            out.append(r)
            return
        if tid <= last:
            for lo, hi in st.filled:
                if lo <= tid <= hi:
                    self.repeats += 1
                    return
            if st.contiguous and tid >= st.first and not st.unfilled_has(tid):
                # consecutive ids, every hole since the first filled or listed: seen
                self.repeats += 1
                return
            out.append(r)  # older but unseen: delivered as before (the dedupe said so)
            return
        if tid > last + 1 if st.contiguous else new_conn:
            self._start(st, last, tid, r, conn, out)
            return
        st.last = tid
        out.append(r)

    def _start(self, st: _Symbol, lo: int, hi: int, r: Any, conn: int, out: list[Any]) -> None:
        self.holes += 1
        fill = st.fill = _Fill(lo, hi)
        st.queue = [(r, conn)]
        why = self._refuse(st, fill)
        if why is not None:
            self._finish(st, fill, why[0], why[1], out)
            return
        assert self._nursery is not None
        self._nursery.start_soon(self._fetch, r.symbol, st, fill)

    def _refuse(self, st: _Symbol, fill: _Fill) -> tuple[str, str] | None:
        """Why this hole is not fetched at all (None: it is)."""
        source = self.source
        if self._nursery is None or source.rest is None:
            return "no_rest", "no REST client"
        if not st.contiguous:
            return None
        missing = fill.hi - fill.lo - 1
        if missing > self.settings.max_trades:
            return "too_many", f"{missing} trades missed, more than {self.settings.max_trades}"
        h = st.history
        limits = source.spec.limits
        cost = math.ceil(missing / h.page_size) * h.weight
        # what the budget's burst does not cover accrues at its rate
        if max(0.0, cost - limits.rest_capacity) / limits.rest_rate > self.settings.timeout:
            return (
                "over_budget",
                f"{missing} trades need {cost:g} {limits.rest_unit}, more than the REST "
                f"budget allows within {self.settings.timeout:g} s",
            )
        return None

    # -- the fetch (a task of its own) ---------------------------------------------------
    async def _fetch(self, symbol: str, st: _Symbol, fill: _Fill) -> None:
        reason, detail = None, ""
        with fill.scope:
            with trio.move_on_after(self.settings.timeout) as timer:
                try:
                    if st.history.backward:
                        reason, detail = await self._backward(symbol, st, fill)
                    else:
                        reason, detail = await self._forward(symbol, st, fill)
                except ProtocolError as exc:
                    reason, detail = "rest_refused", str(exc)
            if timer.cancelled_caught:
                reason = "timeout"
                detail = f"not fetched within {self.settings.timeout:g} s"
        if st.fill is not fill:
            return  # given up already (the buffer filled)
        out: list[Any] = []
        self._finish(st, fill, reason, detail, out)
        self.source._emit(out)

    async def _page(self, symbol: str, h: TradeHistory, cursor: int) -> list[Any]:
        rest = self.source.rest
        assert rest is not None
        body = await rest.get(h.path(symbol, cursor, h.page_size), h.weight)
        return h.parse(body, symbol, self.clock())

    def _keep(self, fill: _Fill, page: list[Any]) -> list[int]:
        ids = []
        for t in page:
            tid = int(t.trade_id)
            ids.append(tid)
            if fill.lo < tid < fill.hi:
                fill.got[tid] = t
        if len(fill.got) > self.settings.max_trades:
            raise _TooMany
        return ids

    async def _forward(self, symbol: str, st: _Symbol, fill: _Fill) -> tuple[str | None, str]:
        h = st.history
        cursor = fill.lo + 1
        while cursor < fill.hi:
            page = await self._page(symbol, h, cursor)
            try:
                ids = self._keep(fill, page)
            except _TooMany:
                return "too_many", f"more than {self.settings.max_trades} trades missed"
            if not ids or max(ids) < cursor:
                break
            cursor = max(ids) + 1
            if len(page) < h.page_size:
                break
        return self._complete(st, fill)

    async def _backward(self, symbol: str, st: _Symbol, fill: _Fill) -> tuple[str | None, str]:
        h = st.history
        cursor = fill.hi
        while True:
            page = await self._page(symbol, h, cursor)
            try:
                ids = [i for i in self._keep(fill, page) if i < cursor]
            except _TooMany:
                return "too_many", f"more than {self.settings.max_trades} trades missed"
            if ids and min(ids) <= fill.lo:
                break  # reached the newest trade delivered: the hole is covered
            if not h.paged:
                return "too_old", (
                    f"the newest {h.page_size} trades the history serves do not reach "
                    f"back to trade {fill.lo}"
                )
            if not ids or len(page) < h.page_size:
                return "too_old", (
                    f"the history ends before trade {fill.lo}: older trades are gone"
                )
            cursor = min(ids)
        return self._complete(st, fill)

    def _complete(self, st: _Symbol, fill: _Fill) -> tuple[str | None, str]:
        if not st.contiguous:
            return None, ""
        missing = fill.hi - fill.lo - 1
        if len(fill.got) == missing:
            return None, ""
        lost = [i for i in range(fill.lo + 1, fill.hi) if i not in fill.got]
        return "too_old", (
            f"trade ids {lost[0]}-{lost[-1]} not in the history ({len(lost)} of {missing})"
        )

    # -- the end of a fill -----------------------------------------------------------------
    def _finish(
        self, st: _Symbol, fill: _Fill, reason: str | None, detail: str, out: list[Any]
    ) -> None:
        """Deliver what was fetched, the event saying how it went, then the held trades."""
        fill.scope.cancel()
        st.fill = None
        queue, st.queue = st.queue, []
        source = self.source
        now = int(self.clock() * 1000)
        trades = [fill.got[k] for k in sorted(fill.got)]
        self.fetched += len(trades)
        out.extend(trades)
        if trades:
            st.filled.append((int(trades[0].trade_id), int(trades[-1].trade_id)))
            if len(st.filled) > _Symbol.KEEP:
                del st.filled[0]
        symbol = queue[0][0].symbol
        if reason is None:
            self.filled += 1
            first, last = (trades[0].trade_id, trades[-1].trade_id) if trades else ("", "")
            out.append(GapFilled(source.exchange, symbol, "trade", len(trades), now, first, last))
        else:
            self.failed += 1
            if fill.hi - fill.lo > 1:
                st.unfilled.append((fill.lo + 1, fill.hi - 1))
                if len(st.unfilled) > _Symbol.UNFILLED_KEEP:
                    del st.unfilled[0]
            what = f"{symbol} trades between ids {fill.lo} and {fill.hi}"
            out.append(
                SourceEvent(
                    source.exchange,
                    "gap_not_filled",
                    f"{what} not backfilled: {detail}; {len(trades)} fetched trades "
                    "delivered, the Gap stands",
                    now,
                    reason,
                )
            )
        # the held trade opened the hole: it is next, whatever was fetched
        st.last = max(st.last or fill.lo, fill.hi - 1)
        queue.sort(key=lambda x: int(x[0].trade_id))
        got = fill.got
        for r, conn in queue:
            if int(r.trade_id) in got:  # held while it was fetched: delivered already
                self.repeats += 1
                continue
            self._take(st, r, conn, out)


class _TooMany(Exception):
    pass
