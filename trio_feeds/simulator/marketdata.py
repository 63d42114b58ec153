"""What the market simulator produces: symbols, book changes, fills, candles, ticks; and the
integer-to-text formatting the exchange simulators share.

Everything is integers: prices are counted in ticks (``10**-price_decimals``) and sizes in
lots (``10**-size_decimals``).
"""

from __future__ import annotations

import math
import zlib
from typing import NamedTuple

import attrs

from trio_feeds.core.symbols import PERP_SUFFIX, canonical

__all__ = [
    "BookChange",
    "Candle",
    "Fill",
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
        """A plausible spec: known majors get realistic prices, other symbols a stable guess.

        A perpetual (``BTC-USDT-PERP``) has its pair's price, one price decimal less and
        two size decimals less (coarser steps, as on futures: BTCUSDT 0.1 / 0.001)."""
        sym = canonical(symbol)
        if sym.endswith(PERP_SUFFIX):
            pair = cls.default(sym[: -len(PERP_SUFFIX)])
            pd, sd = max(0, pair.price_decimals - 1), max(0, pair.size_decimals - 2)
            return cls(sym, pair.price, pd, sd)
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
