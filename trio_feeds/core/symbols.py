"""Canonical symbols: upper-case ``BASE-QUOTE`` for spot (``BTC-USDT``), and
``BASE-QUOTE-PERP`` for a perpetual swap settled in ``QUOTE`` (``BTC-USDT-PERP``: USDT-margined;
``BTC-USD-PERP``: coin-margined, quoted in USD).  Amounts are always in the base currency.

Each exchange's own spelling lives in ``trio_feeds.exchanges.<name>.symbols`` (and its
``SPEC.symbols``).  The converters that used to live here (``to_<exchange>``,
``from_<exchange>``, ``<EXCHANGE>_QUOTES``) stay importable from this module through
:func:`__getattr__`, which forwards to the exchange's module.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache

from trio_feeds.core.symbol_input import PERP_SUFFIX as PERP_SUFFIX
from trio_feeds.core.symbol_input import parse_symbol

__all__ = ["canonical"]


_CANONICAL = re.compile(r"^[A-Z0-9]{1,20}-[A-Z0-9]{1,20}$")


@lru_cache(maxsize=4096)
def canonical(symbol: str) -> str:
    """The canonical form (upper case) of a symbol as users type it: ``btc-usdt``, ccxt's
    ``BTC/USDT``, exchange-native ``BTCUSDT`` (split on a known quote asset), and the
    perpetuals ``BTC-USDT-PERP`` / ccxt's ``BTC/USDT:USDT``; see
    :mod:`trio_feeds.core.symbol_input`.  Whether an exchange lists it is the exchange's
    to say (a spot exchange refuses a perpetual by name, and the reverse).

    >>> canonical("btc-usdt"), canonical("BTC/USDT"), canonical("BTC/USDT:USDT")
    ('BTC-USDT', 'BTC-USDT', 'BTC-USDT-PERP')
    """
    return parse_symbol(symbol)


def is_perp(symbol: str) -> bool:
    """True for a canonical perpetual-swap symbol (``BTC-USDT-PERP``)."""
    return symbol.endswith(PERP_SUFFIX)


def spot_of(symbol: str) -> str:
    """``BTC-USDT-PERP`` → ``BTC-USDT`` (its pair); a spot symbol is returned as is."""
    return symbol[: -len(PERP_SUFFIX)] if symbol.endswith(PERP_SUFFIX) else symbol


def __getattr__(name: str) -> Callable[[str], str]:
    """``to_<x>``, ``to_<x>_stream``, ``from_<x>`` and ``<X>_QUOTES`` moved to
    ``trio_feeds.exchanges.<x>.symbols``; kept importable here."""
    import importlib

    parts = name.split("_")
    if parts[0] in ("to", "from") and len(parts) >= 2:
        exchange = parts[1]
    elif name.isupper() and len(parts) >= 2:
        exchange = parts[0].lower()
    else:
        exchange = ""
    if exchange.isidentifier():
        try:
            module = importlib.import_module(f"trio_feeds.exchanges.{exchange}.symbols")
        except ImportError:
            module = None
        if module is not None and hasattr(module, name):
            return getattr(module, name)  # type: ignore[no-any-return]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
