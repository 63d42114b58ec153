"""The symbol forms users type, read into the canonical form.

======================  ==================  =========================================
typed                   canonical           note
======================  ==================  =========================================
``BTC-USDT``            ``BTC-USDT``        the canonical form (any case)
``BTC/USDT``            ``BTC-USDT``        ccxt's spot form; ``BTC_USDT`` too
``BTCUSDT``             ``BTC-USDT``        exchange-native: split on a known quote
``BTC/USDT:USDT``       ``BTC-USDT-PERP``   ccxt's linear perpetual (USDT or USDC)
``BTC/USD:BTC``         ``BTC-USD-PERP``    ccxt's coin-margined (inverse) perpetual
``BTC-USDT-PERP``       ``BTC-USDT-PERP``
======================  ==================  =========================================

A symbol without separator is split on the longest known quote asset
(:data:`QUOTE_ASSETS`) that leaves a base: ``BTCUSDT`` → ``BTC-USDT``, ``ETHBTC`` →
``ETH-BTC``, ``BTCFDUSD`` → ``BTC-FDUSD``.  One that ends in no known quote asset is
ambiguous and refused (write it ``BASE-QUOTE``).  Other derivatives (dated futures
``BTC/USDT:USDT-250328``, exchange ids such as ``BTC-USDT-SWAP``) are refused with a
:class:`~trio_feeds.SymbolError` saying so.

No trio, no exchange names: this is the core layer.
"""

from __future__ import annotations

import re

from trio_feeds.core.errors import SymbolError

__all__ = ["PERP_SUFFIX", "QUOTE_ASSETS", "parse_symbol"]

#: the suffix of a canonical perpetual swap: ``BTC-USDT-PERP``
PERP_SUFFIX = "-PERP"

#: quote assets a symbol without separator may end in, longest first
QUOTE_ASSETS: tuple[str, ...] = tuple(
    sorted(
        {
            "USDT", "USDC", "FDUSD", "TUSD", "BUSD", "USDP", "DAI", "USD", "BTC", "ETH", "BNB",
            "EUR", "TRY", "BRL", "GBP", "AUD", "JPY", "RUB", "UAH", "ZAR", "PLN", "RON", "ARS",
            "MXN", "COP", "IDRT", "BIDR", "XRP", "DOGE", "TRX", "DOT", "SOL",
        },
        key=lambda q: (-len(q), q),
    )
)  # fmt: skip

_ASSET = r"[A-Z0-9]{1,20}"
_PAIR = re.compile(rf"^({_ASSET})[-/_]({_ASSET})$")
_PERP = re.compile(rf"^({_ASSET})-({_ASSET})-PERP$")
_CCXT_DERIVATIVE = re.compile(rf"^({_ASSET})/({_ASSET}):({_ASSET})(-[A-Z0-9]+)?$")
_NATIVE = re.compile(r"^[A-Z0-9]{2,40}$")

_FORMS = "expected BASE-QUOTE, e.g. 'BTC-USDT' (also 'BTC/USDT', 'BTCUSDT')"


def parse_symbol(symbol: object) -> str:
    """The canonical form of ``symbol`` as typed (see the module docstring); perpetuals
    included (``"BTC-USDT-PERP"``).  :class:`~trio_feeds.SymbolError` for anything else."""
    if not isinstance(symbol, str):
        raise SymbolError(symbol, "expected a string like 'BTC-USDT'")
    s = symbol.strip().upper()
    m = _PAIR.match(s)
    if m is not None:
        return f"{m[1]}-{m[2]}"
    m = _PERP.match(s)
    if m is not None:
        return s
    m = _CCXT_DERIVATIVE.match(s)
    if m is not None:
        base, quote, settle, expiry = m.groups()
        if expiry:
            raise SymbolError(symbol, "dated futures are not supported")
        if settle == quote or (quote == "USD" and settle == base):  # linear or inverse
            return f"{base}-{quote}{PERP_SUFFIX}"
        raise SymbolError(
            symbol, f"a perpetual settled in {settle} and quoted in {quote} is not understood"
        )
    if _NATIVE.match(s):
        for quote in QUOTE_ASSETS:
            if s.endswith(quote) and len(s) > len(quote):
                return f"{s[: -len(quote)]}-{quote}"
        raise SymbolError(
            symbol, "cannot tell where the base ends (no known quote asset); write BASE-QUOTE"
        )
    if s.count("-") >= 2:
        raise SymbolError(symbol, f"not a spot pair: {_FORMS}")
    raise SymbolError(symbol, _FORMS)
