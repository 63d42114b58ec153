"""What a simulated perpetual swap shows besides its book: mark and index prices, funding,
open interest and liquidations (shared by the exchange simulators that serve perps).

A perpetual is a market symbol ending in ``-PERP`` (``BTC-USDT-PERP``): it has its own book
and trades in the :class:`~trio_feeds.simulator.market.MarketSimulator`.  Everything here is
a deterministic function of the market, the symbol and the time, so two simulated exchanges
serving the same perpetual show the same mark price, funding rate and open interest (as
real venues show nearly the same), and a test can compute what it should receive:

* mark price: the book's mid (in price ticks);
* premium: a slow wave (period 8 virtual minutes, at most ±0.03 %), per symbol;
* index price: ``mark * (1 - premium)``;
* funding rate: ``0.01 % + premium`` (in units of 1e-8, as an integer);
* next funding time: the next 00:00, 08:00 or 16:00 UTC after the time (Unix ms);
* open interest: a typical order size times 20,000, ±20 % in a wave (in lots).

Liquidations are made on demand (:meth:`PerpMarket.liquidation`) or at random at a rate
(:meth:`PerpMarket.random_liquidation`, seeded per exchange and symbol).
"""

from __future__ import annotations

import math
import random
import zlib

import attrs
import trio

from trio_feeds.core.symbols import PERP_SUFFIX, canonical
from trio_feeds.simulator.market import MarketSimulator

__all__ = ["FUNDING_INTERVAL_MS", "LiquidationControl", "PerpMarket", "SimLiquidation"]

#: funding is settled every 8 hours (00:00, 08:00, 16:00 UTC)
FUNDING_INTERVAL_MS = 8 * 3600 * 1000
_PREMIUM_PERIOD_S = 480.0
_OI_PERIOD_S = 300.0


@attrs.frozen
class SimLiquidation:
    """A simulated liquidation order: ``is_buy`` is the order's side (a liquidated short is
    bought back), ``price`` the bankruptcy price in ticks, ``size`` in lots (base currency),
    ``ts`` Unix ms (market time)."""

    symbol: str
    is_buy: bool
    price: int
    size: int
    ts: int


class PerpMarket:
    """The perp-only quantities of the ``-PERP`` symbols of ``market`` (see the module doc).

    ``liquidation_rate``: mean random liquidations per second per symbol (0: only on
    demand); ``name`` seeds the random ones, so each exchange has its own.
    """

    def __init__(self, market: MarketSimulator, name: str, liquidation_rate: float = 0.0) -> None:
        if liquidation_rate < 0:
            raise ValueError("liquidation_rate must be >= 0")
        self.market = market
        self.liquidation_rate = liquidation_rate
        self._rng = {
            s: random.Random(f"{market.seed}:{name}:{s}:liquidations") for s in self.symbols()
        }

    def symbols(self) -> list[str]:
        """The perpetuals of the market."""
        return [s for s in self.market.symbols if s.endswith(PERP_SUFFIX)]

    @staticmethod
    def _phase(symbol: str) -> float:
        return zlib.crc32(symbol.encode()) % 1000 / 1000 * 2 * math.pi

    def mark(self, symbol: str) -> int:
        """The mark price (ticks): the book's mid."""
        bid, _, ask, _ = self.market.bbo(symbol)
        if bid is not None and ask is not None:
            return (bid + ask) // 2
        spec = self.market.spec(symbol)
        return bid or ask or round(spec.price * 10**spec.price_decimals)

    def premium(self, symbol: str, ts: int) -> float:
        """The perpetual's premium over its index at ``ts`` (Unix ms)."""
        return 0.0003 * math.sin(2 * math.pi * ts / 1000 / _PREMIUM_PERIOD_S + self._phase(symbol))

    def index(self, symbol: str, ts: int) -> int:
        """The index price (ticks)."""
        mark = self.mark(symbol)
        return mark - round(mark * self.premium(symbol, ts))

    def funding_e8(self, symbol: str, ts: int) -> int:
        """The funding rate in units of 1e-8 (``10000`` is 0.01 %)."""
        return 10_000 + round(self.premium(symbol, ts) * 1e8)

    @staticmethod
    def next_funding_time(ts: int) -> int:
        """When the current funding rate is settled: the next 8-hour boundary after ``ts``."""
        return (ts // FUNDING_INTERVAL_MS + 1) * FUNDING_INTERVAL_MS

    def open_interest(self, symbol: str, ts: int) -> int:
        """Open interest in lots (base currency)."""
        st = self.market._states[symbol]
        wave = math.sin(2 * math.pi * ts / 1000 / _OI_PERIOD_S + self._phase(symbol))
        return round(float(st.typ) * 20_000 * (1 + 0.2 * wave))

    def liquidation(
        self,
        symbol: str,
        ts: int,
        side: str = "sell",
        amount: float | str | None = None,
        price: float | str | None = None,
    ) -> SimLiquidation:
        """A liquidation order of ``symbol`` at ``ts``: ``side`` ``"sell"`` (a long
        liquidated) or ``"buy"``; ``amount`` in the base currency (default: a typical order),
        ``price`` (default: 0.5 % through the mark: the bankruptcy price)."""
        if side not in ("buy", "sell"):
            raise ValueError(f"side must be 'buy' or 'sell', got {side!r}")
        if symbol not in self._rng:
            raise KeyError(f"{symbol!r} is not a simulated perpetual (e.g. 'BTC-USDT-PERP')")
        spec = self.market.spec(symbol)
        size = None if amount is None else round(float(amount) * 10**spec.size_decimals)
        ticks = None if price is None else round(float(price) * 10**spec.price_decimals)
        return self._liquidation(symbol, ts, side == "buy", size, ticks)

    def _liquidation(
        self, symbol: str, ts: int, is_buy: bool, size: int | None, price: int | None
    ) -> SimLiquidation:
        if price is None:
            mark = self.mark(symbol)
            price = mark + (1 if is_buy else -1) * max(1, mark // 200)
        if size is None:
            size = self.market._states[symbol].typ
        if size <= 0 or price <= 0:
            raise ValueError("a liquidation needs a positive amount and price")
        return SimLiquidation(symbol, is_buy, price, size, ts)

    def random_liquidation(self, symbol: str, ts: int, seconds: float) -> SimLiquidation | None:
        """With probability ``liquidation_rate * seconds``: a random liquidation now."""
        rng = self._rng.get(symbol)
        if rng is None or not self.liquidation_rate:
            return None
        if rng.random() >= self.liquidation_rate * seconds:
            return None
        typ = self.market._states[symbol].typ
        is_buy = rng.random() < 0.5
        return self._liquidation(
            symbol, ts, is_buy, max(1, round(typ * rng.uniform(0.2, 5.0))), None
        )


class LiquidationControl:
    """Mixin of the simulators serving perpetuals: :meth:`liquidate`."""

    market: MarketSimulator

    def _perp_market(self) -> PerpMarket:
        raise NotImplementedError

    def _push_liquidation(self, liq: SimLiquidation) -> None:
        raise NotImplementedError

    def liquidate(
        self,
        symbol: str,
        side: str = "sell",
        amount: float | str | None = None,
        price: float | str | None = None,
    ) -> SimLiquidation:
        """Push a liquidation order of the perpetual ``symbol`` (``"BTC-USDT-PERP"``) now, on
        the exchange's liquidation stream: ``side`` ``"sell"`` (a long liquidated) or
        ``"buy"``, ``amount`` in the base currency (the exchange's units on the wire) and
        the bankruptcy ``price`` (defaults: a typical order, 0.5 % through the mark).
        Returns what was sent (price in ticks, size in lots of the symbol's spec)."""
        now = self.market.to_ms(trio.current_time())
        liq = self._perp_market().liquidation(canonical(symbol), now, side, amount, price)
        self._push_liquidation(liq)
        return liq
