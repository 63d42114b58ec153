"""The market's recent trades, kept so simulated exchanges can serve their REST trade
history (Binance ``historicalTrades`` / ``aggTrades``, OKX ``history-trades``).

:class:`TradeTape` listens to the :class:`~trio_feeds.simulator.market.MarketSimulator`
from its creation and keeps, per symbol, the last :attr:`TradeTape.keep` fills with their
market time and taker order: each exchange simulator shapes them as its own trades.
Older fills are forgotten, as real exchanges forget: a request for them finds nothing
older than the tape's first fill.
"""

from __future__ import annotations

from bisect import bisect_left
from typing import NamedTuple

from trio_feeds.simulator.marketdata import MarketTick

__all__ = ["TapeFill", "TradeTape"]


class TapeFill(NamedTuple):
    """One fill as the tape keeps it (prices in ticks, sizes in lots)."""

    trade_id: int
    #: market time, Unix ms (before any exchange clock offset)
    ts: int
    price: int
    size: int
    taker_is_buy: bool
    #: the taker order it belongs to (increasing per symbol)
    order: int


class TradeTape:
    """The last :attr:`keep` fills of every symbol, in id order."""

    def __init__(self, keep: int = 200_000) -> None:
        self.keep = keep
        self._fills: dict[str, list[TapeFill]] = {}
        self._ids: dict[str, list[int]] = {}
        self._orders = 0

    def __call__(self, tick: MarketTick) -> None:
        for sym, up in tick.updates.items():
            if not up.orders:
                continue
            fills = self._fills.setdefault(sym, [])
            ids = self._ids.setdefault(sym, [])
            for order in up.orders:
                self._orders += 1
                for f in order.fills:
                    fills.append(
                        TapeFill(f.trade_id, up.ts, f.price, f.size, order.is_buy, self._orders)
                    )
                    ids.append(f.trade_id)
            if len(fills) > 2 * self.keep:
                del fills[: len(fills) - self.keep]
                del ids[: len(ids) - self.keep]

    def first_id(self, symbol: str) -> int | None:
        """The oldest fill id still kept (None: no fill yet)."""
        ids = self._ids.get(symbol)
        return ids[0] if ids else None

    def since(self, symbol: str, trade_id: int, limit: int) -> list[TapeFill]:
        """Up to ``limit`` fills from id ``trade_id`` on (the oldest kept, if it is older)."""
        ids = self._ids.get(symbol, [])
        i = bisect_left(ids, trade_id)
        return self._fills.get(symbol, [])[i : i + limit]

    def before(self, symbol: str, trade_id: int, limit: int) -> list[TapeFill]:
        """Up to ``limit`` fills older than id ``trade_id``, oldest first."""
        ids = self._ids.get(symbol, [])
        i = bisect_left(ids, trade_id)
        return self._fills.get(symbol, [])[max(0, i - limit) : i]

    def latest(self, symbol: str, limit: int) -> list[TapeFill]:
        """The newest ``limit`` fills, oldest first."""
        fills = self._fills.get(symbol, [])
        return fills[-limit:] if limit > 0 else []
