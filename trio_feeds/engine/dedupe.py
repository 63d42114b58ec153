"""Trades delivered at most once across the connections of a shard (see :class:`_Dedupe`)."""

from __future__ import annotations

from typing import Any

from trio_feeds.core.records import SourceEvent


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
        self, records: list[Any], connection: int = 0, exchange: str = "", now_ms: int = 0
    ) -> list[Any]:
        last = self.last
        mine = self.ranges.get(connection)
        if mine is None:
            mine = self.ranges[connection] = {}
            if len(self.ranges) > self.KEEP:
                del self.ranges[next(iter(self.ranges))]
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
