"""Trades delivered at most once across the connections of a shard (see :class:`_Dedupe`),
and trades lost on one connection found by their ids (see :class:`_TradeIdGaps`)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from trio_feeds.core.records import Gap, SourceEvent

__all__: list[str] = []


class _Dedupe:
    """Trades delivered at most once; a trade older than one delivered is announced.

    Per symbol it keeps the newest trade id delivered, and per connection (the shard's
    last :attr:`KEEP`) the range of ids that connection delivered.  A connection
    delivers a contiguous run of the exchange's ids for a symbol (both exchanges number
    trades increasingly per instrument), so a trade whose id lies in *another*
    connection's range was delivered already: a repeat of the make-before-break overlap,
    dropped (counted in :attr:`repeats`); so is a resend of its own connection's last id.
    Any other trade is delivered, even one older than the newest delivered (it is
    unseen: an old connection still catching up during a handoff, or the exchange
    itself out of order); each such batch and symbol gets one
    ``SourceEvent(state="out_of_order")`` right before the first of them, naming the
    exchange, symbol and ids (counted in :attr:`out_of_order`).
    """

    __slots__ = ("last", "out_of_order", "ranges", "repeats")

    #: connections whose id ranges are remembered
    KEEP = 3

    def __init__(self) -> None:
        self.last: dict[str, int] = {}
        self.ranges: dict[int, dict[str, list[int]]] = {}
        self.repeats = 0
        self.out_of_order = 0

    def filter(
        self,
        records: list[Any],
        connection: int = 0,
        exchange: str = "",
        now_ms: int = 0,
        *,
        trades: bool = True,
    ) -> list[Any]:
        """``records`` without the repeats, with the ``out_of_order`` events; ``trades=False``
        says the caller knows the batch holds no trade: ``records`` itself comes back."""
        last = self.last
        mine = self.ranges.get(connection)
        if mine is None:
            mine = self.ranges[connection] = {}
            if len(self.ranges) > self.KEEP:
                del self.ranges[next(iter(self.ranges))]
        if not trades:
            return records
        out: list[Any] = []
        late: dict[str, tuple[int, int, list[int]]] = {}  # symbol -> (index, newest, ids)
        for r in records:
            if r.kind != "trade":
                out.append(r)
                continue
            try:
                tid = int(r.trade_id)
            except ValueError:  # pragma: no cover - the adapters only let digits through
                out.append(r)
                continue
            sym = r.symbol
            own = mine.get(sym)
            prev = last.get(sym)
            if prev is None or tid > prev:
                last[sym] = tid
                if own is None:
                    mine[sym] = [tid, tid]
                else:
                    own[1] = tid
                out.append(r)
                continue
            if (own is not None and tid == own[1]) or self._covered(sym, tid, connection):
                self.repeats += 1
                continue
            if own is None:
                mine[sym] = [tid, tid]
            else:
                own[0] = min(own[0], tid)
                own[1] = max(own[1], tid)
            self.out_of_order += 1
            seen = late.get(sym)
            if seen is None:
                late[sym] = (len(out), prev, [tid])
            else:
                seen[2].append(tid)
            out.append(r)
        if late:
            for sym, (index, newest, ids) in sorted(late.items(), key=lambda x: -x[1][0]):
                shown = ", ".join(map(str, ids[:10])) + (", ..." if len(ids) > 10 else "")
                what = f"trade {shown}" if len(ids) == 1 else f"{len(ids)} trades ({shown})"
                detail = (
                    f"{exchange} {sym}: {what} arrived after trade {newest}, out of order; "
                    "delivered"
                )
                out.insert(index, SourceEvent(exchange, "out_of_order", detail, now_ms))
        return out

    def _covered(self, symbol: str, tid: int, connection: int) -> bool:
        for conn, ranges in self.ranges.items():
            if conn != connection:
                span = ranges.get(symbol)
                if span is not None and span[0] <= tid <= span[1]:
                    return True
        return False


class _TradeIdGaps:
    """Trades lost on one connection, told by a jump in their ids.

    For trade streams whose ids are consecutive per symbol
    (:attr:`~trio_feeds.exchanges.spec.ExchangeSpec.contiguous_trade_ids`), a trade whose
    id is more than one above the newest trade *this connection* received for that
    symbol follows a hole: the trades in between were lost (a stalled or throttled
    stream that dropped frames, a server that skipped them).  Each hole becomes one
    ``Gap(channel="trade")`` placed right before the trade after it, from the time of the
    trade before the hole to the time of the trade after it, its reason naming the
    missing ids and their count.

    Per connection, not per shard: during a make-before-break overlap the old and the
    new connection each receive their own contiguous run, so the new one starting
    ahead of (or behind) the old one is no hole.  Repeats and older ids move nothing
    (the newest id received stays the reference); the first trade of a connection has
    no predecessor on it (what was lost between connections is the reconnect's or the
    handoff's Gap).  A hole right after a refused frame (:meth:`refused`) already has
    that frame's own Gap and gets no second one.
    """

    __slots__ = ("exchange", "excused", "found", "last", "symbols")

    def __init__(self, exchange: str, symbols: Iterable[str]) -> None:
        self.exchange = exchange
        self.symbols = frozenset(symbols)
        #: symbol -> (newest trade id received, its exchange time in ms)
        self.last: dict[str, tuple[int, int]] = {}
        #: symbols whose next trade follows a refused frame (already a Gap)
        self.excused: set[str] = set()
        #: holes found so far
        self.found = 0

    def refused(self, symbol: str | None) -> None:
        """A frame of ``symbol`` (None: of a symbol that cannot be told) was refused and
        has its own Gap: a hole before that symbol's next trade is that frame's."""
        if symbol is None:
            self.excused.update(self.symbols)
        elif symbol in self.symbols:
            self.excused.add(symbol)

    def see(self, trade: Any) -> Gap | None:
        """The next trade received, in order: the Gap of the hole before it, if any."""
        sym = trade.symbol
        if sym not in self.symbols:
            return None
        try:
            tid = int(trade.trade_id)
        except ValueError:  # pragma: no cover - the adapters only let digits through
            return None
        excused = False
        if self.excused:
            excused = sym in self.excused
            self.excused.discard(sym)
        prev = self.last.get(sym)
        gap = None
        if prev is not None:
            prev_id, prev_ts = prev
            if tid <= prev_id:
                return None
            if tid > prev_id + 1 and not excused:
                gap = self._gap(sym, prev_id, prev_ts, tid, trade.timestamp)
                self.found += 1
        self.last[sym] = (tid, trade.timestamp)
        return gap

    def check(self, records: list[Any]) -> list[Any]:
        """``records`` (in the order received) with a ``Gap`` before each trade that
        follows a hole."""
        out: list[Any] = []
        for r in records:
            if r.kind == "trade":
                gap = self.see(r)
                if gap is not None:
                    out.append(gap)
            out.append(r)
        return out

    def _gap(self, symbol: str, prev_id: int, prev_ts: int, tid: int, ts: int) -> Gap:
        first, lost = prev_id + 1, tid - prev_id - 1
        if lost == 1:
            reason = f"trade id {first} missing (1 trade)"
        else:
            reason = f"trade ids {first}-{tid - 1} missing ({lost} trades)"
        return Gap(self.exchange, symbol, "trade", min(prev_ts, ts), ts, reason)
