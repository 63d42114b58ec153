"""Bybit USDT perpetuals: ``funding``, ``mark`` and ``open_interest`` from linear ``tickers``.

Bybit has no separate stream for them: the linear ``tickers.{symbol}`` push carries
``fundingRate``, ``nextFundingTime``, ``markPrice``, ``indexPrice`` and ``openInterest``
(https://bybit-exchange.github.io/docs/v5/websocket/public/ticker).  It sends a snapshot,
then deltas holding only the fields that changed; the adapter merges them into the last
state per topic (``tickers``), and each channel gets a record when its own fields come:

* ``funding`` → ``Funding(rate=fundingRate, next_funding_time=nextFundingTime)``;
* ``mark`` → ``MarkPrice(mark_price=markPrice, index_price=indexPrice)``;
* ``open_interest`` → ``OpenInterest(amount=openInterest)``: linear USDT contracts are one
  coin of the base, so this is already the base currency (``openInterestValue`` is its
  value in USDT and is not used).

on a snapshot, and on a delta that carries at least one of them (a delta with only
``lastPrice`` gives a ticker, not three repeats).  ``timestamp`` is the message's ``ts``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from trio_feeds.core.records import Funding, MarkPrice, OpenInterest
from trio_feeds.exchanges._shared import price, size

__all__ = ["PERP_CHANNELS", "perp_records"]

#: channels served by the linear ``tickers`` push beside ``ticker``: field names that make
#: a delta carry news for the channel
PERP_CHANNELS: Final[dict[str, tuple[str, ...]]] = {
    "funding": ("fundingRate", "nextFundingTime"),
    "mark": ("markPrice", "indexPrice"),
    "open_interest": ("openInterest",),
}

_NAME: Final = "bybit"


def _ms(value: Any, what: str) -> int:
    if value.__class__ is int:
        return int(value)
    if value.__class__ is str and value.isdigit():
        return int(value)
    raise TypeError(f"{what} {value!r} is not an integer of milliseconds")


def perp_records(
    channels: set[str],
    symbol: str,
    ts: int,
    received_at: float,
    state: Mapping[str, Any],
    changed: Mapping[str, Any] | None,
) -> list[Any]:
    """The records of ``channels`` from a merged ``tickers`` ``state``; ``changed`` is the
    delta's own fields (None for a snapshot).  Raises on a value the rule refuses."""
    out: list[Any] = []
    for channel in ("funding", "mark", "open_interest"):
        if channel not in channels:
            continue
        if changed is not None and not any(f in changed for f in PERP_CHANNELS[channel]):
            continue
        if channel == "funding":
            rate = state["fundingRate"]
            if rate.__class__ is not str:
                raise TypeError(f"fundingRate {rate!r} is not a numeric string")
            r = float(rate)
            if not -1.0 < r < 1.0:  # a fraction per interval; also refuses NaN
                raise ValueError(f"fundingRate {rate!r} is not a fraction within (-1, 1)")
            when = _ms(state["nextFundingTime"], "nextFundingTime")
            out.append(Funding(_NAME, symbol, ts, received_at, r, when))
        elif channel == "mark":
            index = state.get("indexPrice")
            out.append(
                MarkPrice(
                    _NAME, symbol, ts, received_at, price(state["markPrice"], "markPrice"),
                    price(index, "indexPrice") if index not in (None, "") else None,
                )
            )  # fmt: skip
        else:
            amount = size(state["openInterest"], "openInterest")
            out.append(OpenInterest(_NAME, symbol, ts, received_at, amount))
    return out
