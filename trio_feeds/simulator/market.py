"""A deterministic market: per-symbol L2 books on a tick grid, taker trades, candles, 24 h stats.

Everything is integers: prices are counted in ticks (``10**-price_decimals``) and sizes in
lots (``10**-size_decimals``), so books stay exact and each exchange simulator formats the
numbers the way its exchange does.  All randomness comes from one :class:`random.Random`
per symbol, seeded from ``(seed, symbol)``: the same seed gives the same book changes and
trades tick after tick, whatever the timing, and adding a symbol does not change the others.

The pieces: :mod:`~trio_feeds.simulator.marketdata` (what the market produces),
:mod:`~trio_feeds.simulator.symbol_book` (one symbol's state),
:mod:`~trio_feeds.simulator.clock` (exchange clocks); every name is importable from here too.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterable, Iterator

import trio

from trio_feeds.core.symbols import canonical
from trio_feeds.simulator.clock import ExchangeClock, LagEpisode
from trio_feeds.simulator.marketdata import (
    BookChange,
    Candle,
    Fill,
    MarketTick,
    Stats24h,
    SymbolSpec,
    SymbolUpdate,
    TakerOrder,
    format_fixed,
    format_plain,
)
from trio_feeds.simulator.symbol_book import SymbolState as _SymbolState
from trio_feeds.simulator.tape import TradeTape

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

TickListener = Callable[[MarketTick], None]


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
        symbols_per_tick: move only this many symbols per step, in turn (None: all).  A
            whole-market simulation (1,500 symbols) stays cheap: the aggregate rate is
            ``rate * symbols_per_tick`` symbol steps per second, whatever the count.
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
        symbols_per_tick: int | None = None,
    ) -> None:
        if symbols_per_tick is not None and symbols_per_tick < 1:
            raise ValueError("symbols_per_tick must be >= 1 (or None: all)")
        self.symbols_per_tick = symbols_per_tick
        self._turn = 0
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
        #: the recent fills, for the simulators' REST trade history
        self.tape = TradeTape()
        self._listeners: list[TickListener] = [self.tape]
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
        states = self._states
        if self.symbols_per_tick is not None and self.symbols_per_tick < len(states):
            names = list(states)
            n, start = len(names), self._turn
            self._turn = (start + self.symbols_per_tick) % n
            chosen = [names[(start + i) % n] for i in range(self.symbols_per_tick)]
            states = {sym: states[sym] for sym in chosen}
        updates = {
            sym: st.step(ts, self.trade_probability, self.max_changes) for sym, st in states.items()
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
