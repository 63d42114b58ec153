"""The simulated market's own book, for tests that check the books a feed delivers."""

from __future__ import annotations

import math

from trio_feeds import Book
from trio_feeds.testing import MarketSimulator, MarketTick


class Truth:
    """The market's own top ``depth`` levels of ``symbol`` after every tick, by time stamp."""

    def __init__(self, market: MarketSimulator, symbol: str, depth: int) -> None:
        self.market = market
        self.symbol = symbol
        self.depth = depth
        self.books: dict[int, tuple[list[tuple[float, float]], list[tuple[float, float]]]] = {}
        spec = market.spec(symbol)
        self.px = 10.0**-spec.price_decimals
        self.sz = 10.0**-spec.size_decimals
        market.add_listener(self.on_tick)

    def on_tick(self, tick: MarketTick) -> None:
        bids, asks = self.market.book(self.symbol, self.depth)
        self.books[tick.ts] = (
            [(p * self.px, q * self.sz) for p, q in bids],
            [(p * self.px, q * self.sz) for p, q in asks],
        )

    def check(self, book: Book, *, between_ticks: bool = False) -> bool:
        """Assert ``book`` equals the market at its time stamp.  With ``between_ticks``, a
        book stamped between two ticks (by a REST snapshot) is skipped: returns False."""
        want = self.books.get(book.timestamp)
        if want is None and between_ticks:
            return False
        assert want is not None, f"no tick at {book.timestamp}"
        for got, exp in zip((book.bids, book.asks), want, strict=True):
            assert len(got) == len(exp)
            for (gp, gq), (ep, eq) in zip(got, exp, strict=True):
                assert math.isclose(gp, ep, rel_tol=1e-12) and math.isclose(gq, eq, rel_tol=1e-9)
        return True
