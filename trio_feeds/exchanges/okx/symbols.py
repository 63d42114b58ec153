"""OKX symbols: ``BTC-USDT`` (the canonical form is OKX's spot ``instId``)."""

from __future__ import annotations

import re

from trio_feeds.core.errors import SymbolError

__all__ = ["from_okx", "to_okx"]

_OKX_INST = re.compile(r"^[A-Z0-9]{1,20}-[A-Z0-9]{1,20}(-[A-Z0-9]{1,20}){0,3}$")


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
