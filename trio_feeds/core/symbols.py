"""Canonical symbols (``BTC-USDT``): upper-case ``BASE-QUOTE``.

Each exchange's own spelling lives in ``trio_feeds.exchanges.<name>.symbols`` (and its
``SPEC.symbols``).  The converters that used to live here (``to_<exchange>``,
``from_<exchange>``, ``<EXCHANGE>_QUOTES``) stay importable from this module through
:func:`__getattr__`, which forwards to the exchange's module.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache

from trio_feeds.core.errors import SymbolError
from trio_feeds.core.symbol_input import PERP_SUFFIX, parse_symbol

__all__ = ["canonical"]


_CANONICAL = re.compile(r"^[A-Z0-9]{1,20}-[A-Z0-9]{1,20}$")


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
