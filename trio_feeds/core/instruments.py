"""What an exchange lists: :class:`Instrument`, as its REST instrument list describes it.

Each exchange package parses its own list (sans-I/O, ``SPEC.instruments``); the engine
fetches and caches it (:func:`trio_feeds.fetch_instruments`).  Numbers are ``float``, as in
the records.
"""

from __future__ import annotations

from typing import Literal, TypeAlias

import attrs

__all__ = ["Instrument", "InstrumentKind", "InstrumentStatus"]

#: ``"spot"`` (``BTC-USDT``) or ``"perpetual"`` (``BTC-USDT-PERP``)
InstrumentKind: TypeAlias = Literal["spot", "perpetual"]
#: ``"trading"``; ``"halted"`` (listed, not trading now: Binance ``BREAK``/``HALT``, OKX
#: ``suspend``); ``"preopen"`` (listed, not trading yet); ``"delisted"``
InstrumentStatus: TypeAlias = Literal["trading", "halted", "preopen", "delisted"]


@attrs.frozen(slots=True)
class Instrument:
    """One instrument an exchange lists.

    ``symbol`` is canonical (``BTC-USDT``, ``BTC-USDT-PERP``); ``base`` / ``quote`` its
    currencies; ``tick_size`` the price step; ``lot_size`` the amount step in the base
    currency (for a swap traded in contracts: one contract's worth, ``contract_size``
    base units times the exchange's contract step); ``contract_size`` the base currency
    per contract (1.0 for spot and for swaps traded in the base currency).
    ``status``: see :data:`InstrumentStatus`; ``open_feed(symbols="*")`` streams the
    ``"trading"`` ones.  ``native`` is the exchange's own name (``BTCUSDT``).
    """

    symbol: str
    base: str
    quote: str
    kind: InstrumentKind
    tick_size: float
    lot_size: float
    contract_size: float = 1.0
    status: InstrumentStatus = "trading"
    native: str = ""

    @property
    def trading(self) -> bool:
        """True when the instrument trades now."""
        return self.status == "trading"
