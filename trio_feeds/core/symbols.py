"""Canonical symbols (``BTC-USDT``) and their exchange spellings.

* canonical: upper-case ``BASE-QUOTE``.
* Binance: ``BTCUSDT`` in payloads and REST, ``btcusdt`` in stream names.
* OKX: ``BTC-USDT`` (the canonical form is OKX's spot ``instId``).

Going from Binance's ``BTCUSDT`` back to ``BTC-USDT`` needs to know where the
base ends: adapters remember the symbols they subscribed; for anything else
:func:`from_binance` splits on a known quote asset.
"""

from __future__ import annotations

import re
from functools import lru_cache

from trio_feeds.core.errors import SymbolError
from trio_feeds.core.symbol_input import PERP_SUFFIX, parse_symbol

_CANONICAL = re.compile(r"^[A-Z0-9]{1,20}-[A-Z0-9]{1,20}$")
_OKX_INST = re.compile(r"^[A-Z0-9]{1,20}-[A-Z0-9]{1,20}(-[A-Z0-9]{1,20}){0,3}$")
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


@lru_cache(maxsize=4096)
def canonical(symbol: str) -> str:
    """The canonical form (``BASE-QUOTE``, upper case) of a symbol as users type it:
    ``btc-usdt``, ccxt's ``BTC/USDT``, exchange-native ``BTCUSDT`` (split on a known quote
    asset); see :mod:`trio_feeds.core.symbol_input`.  Perpetuals (``BTC/USDT:USDT``,
    ``BTC-USDT-PERP``) are refused: the exchanges serve spot only so far.

    >>> canonical("btc-usdt"), canonical("BTC/USDT"), canonical("ETHBTC")
    ('BTC-USDT', 'BTC-USDT', 'ETH-BTC')
    """
    s = parse_symbol(symbol)
    if s.endswith(PERP_SUFFIX):
        raise SymbolError(
            symbol, f"this is the USDT perpetual {s!r}; perpetuals are not supported yet "
            "(spot pairs only, e.g. 'BTC-USDT')"
        )  # fmt: skip
    return s


def to_binance(symbol: str) -> str:
    """``BTC-USDT`` → ``BTCUSDT``."""
    return canonical(symbol).replace("-", "")


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


def to_okx(symbol: str) -> str:
    """``btc-usdt`` → ``BTC-USDT`` (OKX instrument ids are upper-case).

    Derivative ids such as ``BTC-USDT-SWAP`` pass through unchanged.
    """
    if not isinstance(symbol, str):
        raise SymbolError(symbol, "expected a string like 'BTC-USDT'", "okx")
    s = symbol.strip().upper()
    if not _OKX_INST.match(s):
        raise SymbolError(symbol, "expected an OKX instId like 'BTC-USDT'", "okx")
    return s


def from_okx(inst_id: str) -> str:
    """``BTC-USDT`` → ``BTC-USDT``; derivative ids are kept whole."""
    return to_okx(inst_id)
