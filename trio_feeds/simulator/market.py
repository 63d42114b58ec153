"""A deterministic market: per-symbol L2 books on a tick grid, taker trades, candles, 24 h stats.

Everything is integers: prices are counted in ticks (``10**-price_decimals``) and sizes in
lots (``10**-size_decimals``), so books stay exact and each exchange simulator formats the
numbers the way its exchange does.  All randomness comes from one :class:`random.Random`
per symbol, seeded from ``(seed, symbol)``: the same seed gives the same book changes and
trades tick after tick, whatever the timing, and adding a symbol does not change the others.
"""

from __future__ import annotations

import bisect
import math
import random
import time
import zlib
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from typing import NamedTuple

import attrs
import trio

from trio_feeds.core.symbols import canonical

__all__ = [
    "BookChange",
    "Candle",
    "ExchangeClock",
    "Fill",
    "LagEpisode",
    "MarketSimulator",
    "MarketTick",
    "Stats24h",
    "SymbolSpec",
    "SymbolUpdate",
    "TakerOrder",
    "format_fixed",
    "format_plain",
]

# (initial price, price decimals, size decimals) of a few well-known pairs.
_KNOWN: dict[str, tuple[float, int, int]] = {
    "BTC": (60000.0, 2, 5),
    "ETH": (3000.0, 2, 4),
    "SOL": (150.0, 2, 3),
    "BNB": (600.0, 2, 3),
    "XRP": (0.6, 4, 1),
    "DOGE": (0.15, 5, 0),
    "ADA": (0.45, 4, 1),
    "LTC": (80.0, 2, 3),
}
_USD_QUOTES = {"USDT", "USDC", "FDUSD", "TUSD", "BUSD", "USD", "DAI"}


@attrs.frozen
class SymbolSpec:
    """Static description of one simulated instrument.

    Attributes:
        symbol: canonical ``BASE-QUOTE``.
        price: initial mid price.
        price_decimals: the tick is ``10**-price_decimals`` (0…8).
        size_decimals: the lot is ``10**-size_decimals`` (0…8).
    """

    symbol: str
    price: float
    price_decimals: int
    size_decimals: int

    @classmethod
    def default(cls, symbol: str) -> SymbolSpec:
        """A plausible spec: known majors get realistic prices, other symbols a stable guess."""
        sym = canonical(symbol)
        base, quote = sym.split("-")
        if base in _KNOWN and quote in _USD_QUOTES:
            price, pd, sd = _KNOWN[base]
            return cls(sym, price, pd, sd)
        h = zlib.crc32(sym.encode())
        price = (1 + h % 9) * 10.0 ** (h // 9 % 5 - 1)
        pd = max(0, min(8, round(5.5 - math.log10(price))))
        sd = max(0, min(8, round(math.log10(price)) + 2))
        return cls(sym, price, pd, sd)


class BookChange(NamedTuple):
    """A level's new absolute size (``size == 0`` removes it)."""

    is_bid: bool
    price: int
    size: int


class Fill(NamedTuple):
    """One trade: the match of a taker order with one resting order."""

    trade_id: int
    price: int
    size: int
    buyer_is_maker: bool


class TakerOrder(NamedTuple):
    """A market order and the fills it made, best price first."""

    is_buy: bool
    fills: tuple[Fill, ...]


@attrs.define
class Candle:
    """A one-minute candle built from trades (prices in ticks, sizes in lots).

    ``quote_volume`` and ``taker_buy_quote`` are in units of
    ``10**-(price_decimals + size_decimals)``.  ``first_id``/``last_id`` are -1 when the
    minute had no trade.
    """

    open_time: int
    open: int
    high: int
    low: int
    close: int
    volume: int = 0
    quote_volume: int = 0
    taker_buy_volume: int = 0
    taker_buy_quote: int = 0
    trades: int = 0
    first_id: int = -1
    last_id: int = -1
    closed: bool = False

    def add(self, fill: Fill, taker_is_buy: bool) -> None:
        if self.trades == 0:
            self.open = self.high = self.low = fill.price
            self.first_id = fill.trade_id
        self.high = max(self.high, fill.price)
        self.low = min(self.low, fill.price)
        self.close = fill.price
        self.volume += fill.size
        self.quote_volume += fill.size * fill.price
        if taker_is_buy:
            self.taker_buy_volume += fill.size
            self.taker_buy_quote += fill.size * fill.price
        self.trades += 1
        self.last_id = fill.trade_id


@attrs.frozen
class Stats24h:
    """Rolling statistics over (up to) the last 24 h of simulated trading (minute granularity)."""

    open_time: int
    close_time: int
    open: int
    high: int
    low: int
    last: int
    last_size: int
    volume: int
    quote_volume: int
    first_id: int
    last_id: int
    count: int
    day_open_utc0: int
    day_open_utc8: int


class SymbolUpdate(NamedTuple):
    """What happened to one symbol in one tick.

    ``first_update_id``/``last_update_id`` number the book changes (one id per change,
    Binance-style; ``first > last`` when there was none).  ``seq_id`` is the OKX-style
    sequence after the tick (``prev_seq_id`` before it; steps are not +1).
    """

    symbol: str
    ts: int
    changes: list[BookChange]
    orders: list[TakerOrder]
    first_update_id: int
    last_update_id: int
    prev_seq_id: int
    seq_id: int
    bbo_changed: bool
    closed_candle: Candle | None


class MarketTick(NamedTuple):
    """One step of the simulation: trio time, Unix ms timestamp, step number, per-symbol updates."""

    time: float
    ts: int
    number: int
    updates: dict[str, SymbolUpdate]


def format_fixed(value: int, decimals: int, out: int = 8) -> str:
    """``value * 10**-decimals`` with exactly ``out`` decimals (Binance style: ``"0.35280000"``).

    Extra precision is truncated toward zero.
    """
    if decimals > out:
        value = (
            int(value / 10 ** (decimals - out)) if value < 0 else value // 10 ** (decimals - out)
        )
    else:
        value *= 10 ** (out - decimals)
    sign = "-" if value < 0 else ""
    value = abs(value)
    if out == 0:
        return f"{sign}{value}"
    q, r = divmod(value, 10**out)
    return f"{sign}{q}.{r:0{out}d}"


def format_plain(value: int, decimals: int) -> str:
    """``value * 10**-decimals`` without trailing zeros (OKX style: ``"30243.5"``, ``"8477"``)."""
    sign = "-" if value < 0 else ""
    value = abs(value)
    if decimals == 0:
        return f"{sign}{value}"
    q, r = divmod(value, 10**decimals)
    if r == 0:
        return f"{sign}{q}"
    return f"{sign}{q}.{f'{r:0{decimals}d}'.rstrip('0')}"


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


class _SymbolState:
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


TickListener = Callable[[MarketTick], None]


@attrs.frozen
class LagEpisode:
    """A spell in which an exchange's event time runs behind (its publisher is backlogged
    under load): from trio time ``start`` the lag grows linearly to ``peak`` seconds over
    ``rise`` s, stays there ``hold`` s, and falls back to 0 over ``fall`` s."""

    start: float
    peak: float
    rise: float = 1.0
    hold: float = 0.0
    fall: float = 1.0

    @property
    def end(self) -> float:
        """When the lag is back to 0 (trio time)."""
        return self.start + self.rise + self.hold + self.fall

    def at(self, t: float) -> float:
        """The lag (s) at trio time ``t``."""
        x = t - self.start
        if x <= 0:
            return 0.0
        if x < self.rise:
            return self.peak * x / self.rise
        x -= self.rise
        if x <= self.hold:
            return self.peak
        x -= self.hold
        if x < self.fall:
            return self.peak * (1.0 - x / self.fall)
        return 0.0

    def above(self, level: float) -> tuple[float, float] | None:
        """The trio-time interval during which the lag exceeds ``level`` (None: never)."""
        if self.peak <= level:
            return None
        up = self.start + self.rise * level / self.peak
        down = self.start + self.rise + self.hold + self.fall * (1.0 - level / self.peak)
        return (up, down)


class ExchangeClock:
    """How a simulated exchange stamps its events (every exchange simulator has one, as
    ``sim.clock``): what real exchanges do and a clean simulator would not.

    * ``offset``: seconds the exchange's clock runs ahead of the market's time, which is
      what ``sims.clock()`` (the feed's clock in tests) returns; negative: behind.  A
      machine whose clock is 8 s fast is, to the feed, every exchange at ``offset=-8``.
    * :meth:`lag_episode`: spells in which its event time falls behind and recovers.

    Only event times move (Binance ``E``/``T``, OKX ``ts``); candle open times stay on the
    minute, and what is published (prices, ids) and when does not change.

    >>> clock = ExchangeClock(offset=-8.0)
    >>> clock.stamp(1_700_000_000_000, t=0.0)
    1699999992000
    """

    def __init__(self, offset: float = 0.0) -> None:
        self.offset = offset
        self.episodes: list[LagEpisode] = []

    def lag_episode(
        self,
        peak: float,
        rise: float = 1.0,
        hold: float = 0.0,
        fall: float = 1.0,
        start: float | None = None,
    ) -> LagEpisode:
        """Make the event time fall behind by up to ``peak`` s, starting now (or at trio time
        ``start``); see :class:`LagEpisode`.  Overlapping episodes: the largest lag counts."""
        episode = LagEpisode(
            trio.current_time() if start is None else start, peak, rise, hold, fall
        )
        self.episodes.append(episode)
        return episode

    def lag(self, t: float | None = None) -> float:
        """The event-time lag (s) at trio time ``t`` (default: now)."""
        if not self.episodes:
            return 0.0
        if t is None:
            t = trio.current_time()
        self.episodes = [e for e in self.episodes if e.end > t or e.start > t]
        return max((e.at(t) for e in self.episodes), default=0.0)

    def stamp(self, ts: int, t: float | None = None) -> int:
        """The exchange's time stamp (Unix ms) for an event at market time ``ts`` (ms)."""
        if not self.offset and not self.episodes:
            return ts
        return ts + round((self.offset - self.lag(t)) * 1000)


class MarketSimulator:
    """A deterministic, seeded market for a set of symbols.

    Each :meth:`step` moves every symbol once: maybe one taker order (a market order that
    walks the best levels, split into 1-3 fills per level, with sequential trade ids), then
    a few limit-order adds and cancels on a tick grid, then trimming/refilling so each side
    keeps between ``min_levels`` and ``max_levels`` levels.  A mild pull toward the initial
    price keeps the random walk bounded.

    :meth:`run` calls :meth:`step` ``rate`` times per (trio) second and hands every
    :class:`MarketTick` to the registered listeners (the exchange simulators).  It uses
    ``trio.sleep_until``, so it runs as fast as the CPU allows under
    ``trio.testing.MockClock(autojump_threshold=0)``.

    Args:
        symbols: canonical symbols (``"BTC-USDT"``) or :class:`SymbolSpec` objects.
        seed: the seed; equal seeds give equal markets.
        rate: ticks per second for :meth:`run`.
        min_levels, max_levels: bounds of each book side.
        trade_probability: chance of a taker order per symbol per tick.
        max_changes: limit-order changes per symbol per tick are 1…max_changes.
        epoch: Unix time (s) that trio time 0 maps to; default: fixed on first use so that
            :meth:`clock` starts at ``time.time()``.
        bursts: chance per tick that 1-4 more steps follow in the same millisecond (real
            markets send many events with one time stamp: 42 % of the Binance BTCUSDT
            quotes of a 2024 capture share their millisecond with the previous one).
    """

    def __init__(
        self,
        symbols: Iterable[str | SymbolSpec] = ("BTC-USDT", "ETH-USDT"),
        seed: int = 0,
        *,
        rate: float = 50.0,
        min_levels: int = 50,
        max_levels: int = 400,
        trade_probability: float = 0.3,
        max_changes: int = 4,
        epoch: float | None = None,
        bursts: float = 0.0,
    ) -> None:
        if rate <= 0:
            raise ValueError("rate must be > 0")
        if not 0.0 <= bursts <= 1.0:
            raise ValueError("bursts must be a probability (0 to 1)")
        if not 1 <= min_levels <= max_levels:
            raise ValueError("need 1 <= min_levels <= max_levels")
        specs = [s if isinstance(s, SymbolSpec) else SymbolSpec.default(s) for s in symbols]
        self.seed = seed
        self.rate = rate
        self.trade_probability = trade_probability
        self.max_changes = max_changes
        self._epoch = epoch
        self.bursts = bursts
        self._burst_rng = random.Random(f"{seed}:bursts")
        self._states: dict[str, _SymbolState] = {
            s.symbol: _SymbolState(s, seed, min_levels, max_levels) for s in specs
        }
        self._listeners: list[TickListener] = []
        self._running = False
        self._index = 0
        self.last_tick: MarketTick | None = None

    # --- time ----------------------------------------------------------------------

    @property
    def epoch(self) -> float:
        """Unix seconds corresponding to ``trio.current_time() == 0`` (fixed on first use)."""
        if self._epoch is None:
            self._epoch = time.time() - trio.current_time()
        return self._epoch

    def clock(self) -> float:
        """Simulated Unix time in s (``epoch + trio.current_time()``); works under MockClock."""
        return self.epoch + trio.current_time()

    def to_ms(self, trio_time: float) -> int:
        """Unix milliseconds of a trio timestamp."""
        return round((self.epoch + trio_time) * 1000)

    # --- introspection ----------------------------------------------------------

    @property
    def symbols(self) -> list[str]:
        """Canonical symbols, in construction order."""
        return list(self._states)

    @property
    def running(self) -> bool:
        """True while :meth:`run` is driving the market."""
        return self._running

    def spec(self, symbol: str) -> SymbolSpec:
        """The :class:`SymbolSpec` of ``symbol`` (``KeyError`` if not simulated)."""
        return self._states[symbol].spec

    def has_symbol(self, symbol: str) -> bool:
        """True if ``symbol`` (canonical) is simulated."""
        return symbol in self._states

    def book(
        self, symbol: str, depth: int | None = None
    ) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        """``(bids, asks)`` as ``[(price_ticks, size_lots)]``, best first, ``depth`` levels each."""
        st = self._states[symbol]
        return st.bids.top(depth), st.asks.top(depth)

    def bbo(self, symbol: str) -> tuple[int | None, int, int | None, int]:
        """``(bid, bid_size, ask, ask_size)`` in ticks/lots (``None`` for an empty side)."""
        return self._states[symbol].bbo()

    def update_id(self, symbol: str) -> int:
        """Id of the last book change (Binance ``lastUpdateId``/``u``)."""
        return self._states[symbol].update_id

    def seq_id(self, symbol: str) -> int:
        """OKX-style ``seqId`` of the current book."""
        return self._states[symbol].seq_id

    def last_trade_id(self, symbol: str) -> int:
        """Id of the last fill (the next is this + 1)."""
        return self._states[symbol].trade_id

    def candle(self, symbol: str, ts: int | None = None) -> Candle:
        """The open one-minute candle (``ts`` in Unix ms, default: now)."""
        return self._states[symbol]._candle(self.to_ms(trio.current_time()) if ts is None else ts)

    def stats(self, symbol: str, ts: int | None = None) -> Stats24h:
        """Rolling 24 h statistics at ``ts`` (Unix ms, default: now)."""
        return self._states[symbol].stats(self.to_ms(trio.current_time()) if ts is None else ts)

    # --- control -------------------------------------------------------------------

    def freeze(self, symbol: str | None = None) -> None:
        """Stop book changes and trades (for one symbol or all) until :meth:`thaw`."""
        for st in self._select(symbol):
            st.frozen = True

    def thaw(self, symbol: str | None = None) -> None:
        """Undo :meth:`freeze`."""
        for st in self._select(symbol):
            st.frozen = False

    def _select(self, symbol: str | None) -> Iterator[_SymbolState]:
        if symbol is None:
            yield from self._states.values()
        else:
            yield self._states[canonical(symbol)]

    def add_listener(self, listener: TickListener) -> None:
        """Call ``listener(tick)`` after every step (synchronously, inside the tick loop)."""
        self._listeners.append(listener)

    def remove_listener(self, listener: TickListener) -> None:
        """Stop calling ``listener`` (no error if absent)."""
        if listener in self._listeners:
            self._listeners.remove(listener)

    def step(self, now: float | None = None) -> MarketTick:
        """Advance every symbol by one tick at trio time ``now`` (default: current time).

        Listeners are *not* called; :meth:`run` does that.
        """
        if now is None:
            now = trio.current_time()
        ts = self.to_ms(now)
        self._index += 1
        updates = {
            sym: st.step(ts, self.trade_probability, self.max_changes)
            for sym, st in self._states.items()
        }
        tick = MarketTick(now, ts, self._index, updates)
        self.last_tick = tick
        return tick

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Drive the market: :meth:`step` every ``1/rate`` s (with ``bursts``, sometimes a few
        steps at once), then notify listeners; forever."""
        if self._running:
            raise RuntimeError("this MarketSimulator is already running")
        self._running = True
        try:
            start = trio.current_time()
            _ = self.epoch
            task_status.started()
            k = 0
            while True:
                k += 1
                t = start + k / self.rate
                await trio.sleep_until(t)
                extra = 0
                if self.bursts and self._burst_rng.random() < self.bursts:
                    extra = self._burst_rng.randint(1, 4)
                for _ in range(1 + extra):  # a burst: several steps in one millisecond
                    tick = self.step(t)
                    for listener in list(self._listeners):
                        listener(tick)
        finally:
            self._running = False
