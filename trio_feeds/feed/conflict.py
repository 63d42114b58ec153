"""The conflict modes ``latest`` and ``average``: which records of several delivering
sources reach the consumer, and how quotes and tickers are combined.

A mixin of :class:`~trio_feeds.feed.aggregate.Aggregator` (it owns the state these
methods read and write): the per-batch calls stay plain method calls, as fast as before
the split.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from trio_feeds.core.records import DATA_KINDS, Candle, Quote, Ticker

if TYPE_CHECKING:
    from trio_feeds.feed.aggregate import _Health

_DATA = frozenset({*DATA_KINDS, "book_delta"})
#: kinds that describe a state (the newest replaces the older): ``latest`` orders them
_STATE = frozenset({"ticker", "quote", "book", "funding", "mark", "open_interest"})
#: state kinds whose records carry the exchange's sequence (a source's own order)
_SEQUENCED = frozenset({"quote", "book"})


class _ConflictModes:
    """``latest`` and ``average`` (``primary`` needs no more than the active source)."""

    # owned and set by the Aggregator
    health: dict[str, _Health]
    active: str | None
    stale_after: float
    _now: Callable[[], float]
    _delivering: set[str]
    _last: dict[str, dict[str, Any]]
    _candle_newest: dict[tuple[str, str], int]
    _candle_own: dict[tuple[str, str, str], list[int]]
    _quotes: dict[str, dict[str, Quote]]
    _tickers: dict[str, dict[str, Ticker]]

    # -- conflict resolution ---------------------------------------------------------------
    def _latest(self, source: str, items: list[Any]) -> list[Any]:
        """Records of every delivering source, each source's in its own order (sequence ids
        where the records have them, arrival otherwise); a state record (quote, ticker,
        book) from another source than the last delivered one only when it is not older
        than that one (:meth:`_common`); every trade and book delta; candles by their
        interval (:meth:`_candle_ok`)."""
        if source not in self._delivering:
            return [i for i in items if i.kind not in _DATA]
        last = self._last
        out: list[Any] = []
        append = out.append
        for item in items:
            kind = item.kind
            by_symbol = last.get(kind)
            if by_symbol is None:  # not a state kind
                if kind != "candle" or self._candle_ok(source, item):
                    append(item)
                continue
            symbol = item.symbol
            prev = by_symbol.get(symbol)
            if prev is not None:
                if prev.exchange == source:
                    # the source's own order: its sequence when it has one (one that goes
                    # down with a newer event time is a reset, as OKX's after maintenance;
                    # an older one is a repeat, from a replacement connection), else arrival
                    if kind in _SEQUENCED:
                        seq, pseq = item.sequence, prev.sequence
                        if (
                            seq is not None
                            and pseq is not None
                            and seq <= pseq
                            and not (item.exchange_time and item.timestamp > prev.timestamp)
                        ):
                            continue
                elif self._common(item) < self._common(prev):
                    continue  # older than what the consumer has from another source
            by_symbol[symbol] = item
            append(item)
        return out

    def _common(self, r: Any) -> float:
        """``r``'s time on the common time line (ms): when it would have arrived here with
        its source's normal delay, i.e. its event time plus that source's normal offset
        (so the exchanges' clock offsets cancel), or its receive time when it has no
        event time."""
        if not getattr(r, "exchange_time", True):
            return float(r.timestamp)
        base = self.health[r.exchange].latency.baseline
        if base is None:
            return float(r.received_at * 1000.0)
        return float(r.timestamp + base * 1000.0)

    def _candle_ok(self, source: str, c: Candle) -> bool:
        """``latest`` for candles: an update of the newest interval (any source's) and every
        closing candle pass; an update of an older interval, and a repeat (after the
        source closed that interval, or a close already delivered) do not."""
        symbol, interval, start = c.symbol, c.interval, c.start
        own_key = (source, symbol, interval)
        own = self._candle_own.get(own_key)
        if own is not None and start <= own[1]:
            return False  # that interval was closed already: a repeat
        newest_key = (symbol, interval)
        newest = self._candle_newest.get(newest_key)
        if not c.closed and newest is not None and start < newest:
            return False  # an update of an interval older than one delivered
        if own is None:
            self._candle_own[own_key] = [start, start if c.closed else -1]
        else:
            if start > own[0]:
                own[0] = start
            if c.closed:
                own[1] = start
        if newest is None or start > newest:
            self._candle_newest[newest_key] = start
        return True

    def _average(self, source: str, items: list[Any]) -> list[Any]:
        """One combined quote/ticker per update across the delivering sources (the healthy
        ones, or the active one when none is); trades and liquidations from each of them;
        books, candles, funding, mark prices and open interest from the active source only.
        No comparison of timestamps: every update counts."""
        healthy = source in self._delivering
        out: list[Any] = []
        for item in items:
            kind = item.kind
            if kind not in _DATA:
                out.append(item)
            elif not healthy:
                continue
            elif kind == "trade" or kind == "liquidation":
                out.append(item)
            elif kind == "quote":
                self._quotes.setdefault(item.symbol, {})[source] = item
                out.append(self._combined_quote(item.symbol))
            elif kind == "ticker":
                self._tickers.setdefault(item.symbol, {})[source] = item
                out.append(self._combined_ticker(item.symbol))
            elif source == self.active:
                out.append(item)
        return out

    def _fresh(self, records: dict[str, Any]) -> dict[str, Any]:
        now = self._now()
        return {
            s: r
            for s, r in records.items()
            if s in self._delivering and self.health[s].last_data >= now - self.stale_after
        }

    def _combined_quote(self, symbol: str) -> Quote:
        quotes = self._fresh(self._quotes[symbol])
        best_bid = max(quotes.values(), key=lambda q: q.bid)
        best_ask = min(quotes.values(), key=lambda q: q.ask)
        newest = max(quotes.values(), key=lambda q: q.received_at)
        return Quote(
            "+".join(sorted(quotes)),
            symbol,
            max(q.timestamp for q in quotes.values()),
            newest.received_at,
            best_bid.bid,
            best_bid.bid_size,
            best_ask.ask,
            best_ask.ask_size,
            None,
            all(q.exchange_time for q in quotes.values()),
        )

    def _combined_ticker(self, symbol: str) -> Ticker:
        ts = list(self._fresh(self._tickers[symbol]).values())
        n = len(ts)
        return Ticker(
            "+".join(sorted(t.exchange for t in ts)),
            symbol,
            max(t.timestamp for t in ts),
            max(t.received_at for t in ts),
            sum(t.price for t in ts) / n,
            max(t.bid for t in ts),
            min(t.ask for t in ts),
            sum(t.volume for t in ts),
            sum(t.open for t in ts) / n,
            max(t.high for t in ts),
            min(t.low for t in ts),
            sum(t.quote_volume for t in ts),
        )
