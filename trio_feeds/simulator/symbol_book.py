"""One simulated symbol: its L2 book on a tick grid, its taker and limit orders, candles and
24 h statistics (the state :class:`~trio_feeds.simulator.market.MarketSimulator` steps).

All randomness comes from one :class:`random.Random` per symbol, seeded from
``(seed, symbol)``.
"""

from __future__ import annotations

import bisect
import math
import random
from collections import deque

from trio_feeds.simulator.marketdata import (
    BookChange,
    Candle,
    Fill,
    Stats24h,
    SymbolSpec,
    SymbolUpdate,
    TakerOrder,
)

__all__ = ["SymbolState"]


class _Side:
    """One side of a book: sorted prices (ascending) and a size per price."""

    __slots__ = ("is_bid", "prices", "sizes")

    def __init__(self, is_bid: bool) -> None:
        self.is_bid = is_bid
        self.prices: list[int] = []
        self.sizes: dict[int, int] = {}

    def __len__(self) -> int:
        return len(self.prices)

    def best(self) -> int | None:
        if not self.prices:
            return None
        return self.prices[-1] if self.is_bid else self.prices[0]

    def worst(self) -> int | None:
        if not self.prices:
            return None
        return self.prices[0] if self.is_bid else self.prices[-1]

    def nth(self, i: int) -> int:
        """Price of the i-th best level."""
        return self.prices[-1 - i] if self.is_bid else self.prices[i]

    def set(self, price: int, size: int) -> None:
        if size <= 0:
            if price in self.sizes:
                del self.sizes[price]
                del self.prices[bisect.bisect_left(self.prices, price)]
            return
        if price not in self.sizes:
            bisect.insort(self.prices, price)
        self.sizes[price] = size

    def top(self, n: int | None = None) -> list[tuple[int, int]]:
        prices = reversed(self.prices) if self.is_bid else iter(self.prices)
        out: list[tuple[int, int]] = []
        for p in prices:
            if n is not None and len(out) >= n:
                break
            out.append((p, self.sizes[p]))
        return out


class SymbolState:
    def __init__(self, spec: SymbolSpec, seed: int, min_levels: int, max_levels: int) -> None:
        self.spec = spec
        self.rng = random.Random(f"{seed}:{spec.symbol}")
        self.bids = _Side(True)
        self.asks = _Side(False)
        self.p0: int = round(spec.price * 10**spec.price_decimals)
        self.typ = max(1, round(2000.0 / spec.price * 10**spec.size_decimals))
        rng = self.rng
        self.update_id = rng.randrange(10**9, 5 * 10**9)
        self.seq_id = rng.randrange(10**8, 4 * 10**9)
        self.trade_id = rng.randrange(10**6, 10**8)
        self.frozen = False
        self.min_levels = min_levels
        self.max_levels = max_levels
        self.candle: Candle | None = None
        self.history: deque[Candle] = deque(maxlen=24 * 60)
        self.last_size = 0
        half = max(1, self.p0 // 40000)
        for side, sign in ((self.bids, -1), (self.asks, 1)):
            px = self.p0 + sign * half
            for _ in range(
                rng.randint((min_levels + max_levels) // 3, (min_levels + max_levels) // 2)
            ):
                side.set(px, self.size())
                px += sign * rng.randint(1, 3)

    def size(self) -> int:
        return max(1, int(self.typ * self.rng.lognormvariate(0.0, 1.0)))

    def bbo(self) -> tuple[int | None, int, int | None, int]:
        b, a = self.bids.best(), self.asks.best()
        return (
            b,
            self.bids.sizes[b] if b is not None else 0,
            a,
            self.asks.sizes[a] if a is not None else 0,
        )

    def mid(self) -> int:
        b, a = self.bids.best(), self.asks.best()
        if b is not None and a is not None:
            return (a + b) // 2
        if b is not None:
            return b + 1
        if a is not None:
            return a - 1
        return self.p0

    # --- one tick -----------------------------------------------------------------

    def step(self, ts: int, trade_probability: float, max_changes: int) -> SymbolUpdate:
        rng = self.rng
        before = self.bbo()
        changes: list[BookChange] = []
        orders: list[TakerOrder] = []
        closed = self._roll_candle(ts)
        if not self.frozen:
            if rng.random() < trade_probability:
                order = self._taker(changes)
                if order is not None:
                    orders.append(order)
                    for f in order.fills:
                        self._candle(ts).add(f, order.is_buy)
                        self.last_size = f.size
            for _ in range(rng.randint(1, max_changes)):
                self._limit(changes)
            self._maintain(changes)
        first = self.update_id + 1
        prev_seq = self.seq_id
        if changes:
            self.update_id += len(changes)
            self.seq_id += len(changes) + rng.randint(0, len(changes))
        return SymbolUpdate(
            self.spec.symbol,
            ts,
            changes,
            orders,
            first,
            self.update_id,
            prev_seq,
            self.seq_id,
            self.bbo() != before,
            closed,
        )

    def _set(self, side: _Side, price: int, size: int, changes: list[BookChange]) -> None:
        side.set(price, size)
        changes.append(BookChange(side.is_bid, price, max(size, 0)))

    def _taker(self, changes: list[BookChange]) -> TakerOrder | None:
        rng = self.rng
        drift = math.log(self.mid() / self.p0) if self.p0 else 0.0
        is_buy = rng.random() < 0.5 - 0.15 * math.tanh(drift * 30)
        book = self.asks if is_buy else self.bids
        remaining = self.size()
        fills: list[Fill] = []
        levels = 0
        while remaining > 0 and len(book) > 1 and levels < 3:
            price = book.best()
            assert price is not None
            avail = book.sizes[price]
            take = min(avail, remaining)
            remaining -= take
            levels += 1
            parts = min(take, rng.randint(1, 3))
            for i in range(parts):
                part = take // parts + (1 if i < take % parts else 0)
                self.trade_id += 1
                fills.append(Fill(self.trade_id, price, part, is_buy))
            self._set(book, price, avail - take, changes)
        if not fills:
            return None
        return TakerOrder(is_buy, tuple(fills))

    def _limit(self, changes: list[BookChange]) -> None:
        rng = self.rng
        side = self.bids if rng.random() < 0.5 else self.asks
        other = self.asks if side is self.bids else self.bids
        sign = -1 if side.is_bid else 1
        if rng.random() < 0.6 or len(side) < 2:
            best = side.best()
            obest = other.best()
            if best is None:
                best = (obest - sign) if obest is not None else self.p0 + sign
            spread = (obest - best) * -sign if obest is not None else 0
            if spread > 1 and rng.random() < 0.4:
                price = best - sign * rng.randint(1, spread - 1)
            else:
                price = best + sign * int(rng.expovariate(0.06))
            self._set(side, price, side.sizes.get(price, 0) + self.size(), changes)
        else:
            i = min(int(rng.expovariate(0.08)), len(side) - 1)
            price = side.nth(i)
            size = side.sizes[price]
            if rng.random() < 0.25 or size <= 1:
                self._set(side, price, 0, changes)
            else:
                self._set(side, price, max(1, int(size * rng.uniform(0.2, 0.9))), changes)

    def _maintain(self, changes: list[BookChange]) -> None:
        rng = self.rng
        for side in (self.bids, self.asks):
            sign = -1 if side.is_bid else 1
            while len(side) > self.max_levels:
                worst = side.worst()
                assert worst is not None
                self._set(side, worst, 0, changes)
            while len(side) < self.min_levels:
                worst = side.worst()
                if worst is None:
                    other = (self.asks if side.is_bid else self.bids).best()
                    price = (other + sign) if other is not None else self.p0 + sign
                else:
                    price = worst + sign * rng.randint(1, 3)
                if price <= 0:
                    break
                self._set(side, price, self.size(), changes)

    # --- candles and stats -------------------------------------------------------

    def _candle(self, ts: int) -> Candle:
        if self.candle is None:
            px = self.mid()
            self.candle = Candle(ts - ts % 60000, px, px, px, px)
        return self.candle

    def _roll_candle(self, ts: int) -> Candle | None:
        c = self._candle(ts)
        start = ts - ts % 60000
        if start == c.open_time:
            return None
        c.closed = True
        self.history.append(c)
        self.candle = Candle(start, c.close, c.close, c.close, c.close)
        return c

    def stats(self, ts: int) -> Stats24h:
        cur = self._candle(ts)
        window_start = ts - 24 * 3600 * 1000
        candles = [c for c in self.history if c.open_time >= window_start]
        candles.append(cur)
        first = candles[0]
        traded = [c for c in candles if c.trades]
        day0 = ts - ts % 86_400_000
        day8 = ts - (ts + 8 * 3600_000) % 86_400_000
        return Stats24h(
            open_time=max(first.open_time, window_start),
            close_time=ts,
            open=first.open,
            high=max(c.high for c in candles),
            low=min(c.low for c in candles),
            last=cur.close,
            last_size=self.last_size,
            volume=sum(c.volume for c in candles),
            quote_volume=sum(c.quote_volume for c in candles),
            first_id=traded[0].first_id if traded else -1,
            last_id=traded[-1].last_id if traded else -1,
            count=sum(c.trades for c in candles),
            day_open_utc0=_open_since(candles, day0),
            day_open_utc8=_open_since(candles, day8),
        )


def _open_since(candles: list[Candle], start: int) -> int:
    for c in candles:
        if c.open_time >= start:
            return c.open
    return candles[0].open
