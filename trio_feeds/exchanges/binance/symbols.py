"""Binance symbols: ``BTCUSDT`` in payloads and REST, ``btcusdt`` in stream names.

Going from ``BTCUSDT`` back to ``BTC-USDT`` needs to know where the base ends: adapters
remember the symbols they subscribed; for anything else :func:`from_binance` splits on a
known quote asset.
"""

from __future__ import annotations

import re
from functools import lru_cache

from trio_feeds.core.errors import SymbolError
from trio_feeds.core.symbols import canonical, spot_of

__all__ = ["BINANCE_QUOTES", "from_binance", "to_binance", "to_binance_stream"]

_BINANCE = re.compile(r"^[A-Z0-9]{2,40}$")

#: Quote assets tried, longest first, when splitting a Binance symbol nobody subscribed to.
BINANCE_QUOTES: tuple[str, ...] = tuple(
    sorted(
        (
            "USDT",
            "USDC",
            "FDUSD",
            "TUSD",
            "BUSD",
            "USDP",
            "DAI",
            "BTC",
            "ETH",
            "BNB",
            "EUR",
            "TRY",
            "BRL",
            "GBP",
            "AUD",
            "JPY",
            "RUB",
            "UAH",
            "ZAR",
            "PLN",
            "RON",
            "ARS",
            "MXN",
            "COP",
            "IDRT",
            "BIDR",
            "XRP",
            "DOGE",
            "TRX",
            "DOT",
            "SOL",
            "USD",
        ),
        key=len,
        reverse=True,
    )
)


def to_binance(symbol: str) -> str:
    """``BTC-USDT`` → ``BTCUSDT`` (and the USD-M perpetual ``BTC-USDT-PERP`` → ``BTCUSDT``)."""
    return spot_of(canonical(symbol)).replace("-", "")


def to_binance_stream(symbol: str) -> str:
    """``BTC-USDT`` → ``btcusdt`` (the form inside stream names)."""
    return to_binance(symbol).lower()


@lru_cache(maxsize=4096)
def from_binance(symbol: str) -> str:
    """``BTCUSDT`` → ``BTC-USDT``, splitting on a known quote asset."""
    if not isinstance(symbol, str) or not _BINANCE.match(symbol.upper()):
        raise SymbolError(symbol, "not a Binance symbol like 'BTCUSDT'", "binance")
    s = symbol.upper()
    for quote in BINANCE_QUOTES:
        if s.endswith(quote) and len(s) > len(quote):
            return f"{s[: -len(quote)]}-{quote}"
    raise SymbolError(symbol, "cannot tell its quote asset", "binance")
