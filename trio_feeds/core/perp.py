"""Records only perpetual swaps have: funding, mark price, open interest, liquidations.

Re-exported by :mod:`trio_feeds.core.records` and :mod:`trio_feeds`.
"""

from __future__ import annotations

from typing import Any, Literal

import attrs

from trio_feeds.core.fields import _RAW, Side, _kind

__all__ = ["Funding", "Liquidation", "MarkPrice", "OpenInterest"]


@attrs.frozen(slots=True)
class Funding:
    """A perpetual swap's funding rate (channel ``funding``).

    ``rate`` is the fraction paid per funding interval by longs to shorts (negative: shorts
    pay), e.g. ``0.0001`` is 0.01 %.  ``next_funding_time`` (Unix ms) is when *this* rate is
    settled (Binance ``markPrice`` ``T``, OKX ``fundingTime``).  ``timestamp`` is the
    exchange's event time."""

    exchange: str
    symbol: str
    timestamp: int
    received_at: float
    rate: float
    next_funding_time: int
    raw: Any = _RAW
    kind: Literal["funding"] = _kind("funding")


@attrs.frozen(slots=True)
class MarkPrice:
    """A perpetual swap's mark price (channel ``mark``), and its index price where the same
    push carries it (Binance ``markPrice``: ``i``); ``None`` where it does not (OKX
    ``mark-price``)."""

    exchange: str
    symbol: str
    timestamp: int
    received_at: float
    mark_price: float
    index_price: float | None = None
    raw: Any = _RAW
    kind: Literal["mark"] = _kind("mark")


@attrs.frozen(slots=True)
class OpenInterest:
    """Open interest of a perpetual swap (channel ``open_interest``), ``amount`` in the
    **base currency** (converted from contracts where the exchange counts contracts)."""

    exchange: str
    symbol: str
    timestamp: int
    received_at: float
    amount: float
    raw: Any = _RAW
    kind: Literal["open_interest"] = _kind("open_interest")


@attrs.frozen(slots=True)
class Liquidation:
    """A forced (liquidation) order (channel ``liquidation``).

    ``side`` is the liquidation order's side: a liquidated long is sold (``"sell"``).
    ``price`` is the order's price (the bankruptcy price: Binance ``o.p``, OKX ``bkPx``);
    ``amount`` is in the **base currency**; ``timestamp`` is the exchange's time of the
    order (Binance ``o.T``, OKX ``ts``)."""

    exchange: str
    symbol: str
    timestamp: int
    received_at: float
    side: Side
    price: float
    amount: float
    raw: Any = _RAW
    kind: Literal["liquidation"] = _kind("liquidation")
