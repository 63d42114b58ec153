"""What the simulated OKX keeps per connection and symbol; its protocol constants and the
legacy book checksum."""

from __future__ import annotations

import zlib
from typing import Any

import attrs

from trio_feeds.simulator.server import _RateWindow

__all__ = ["BUSINESS_CHANNELS", "PUBLIC_CHANNELS", "okx_checksum"]


PUBLIC_CHANNELS = frozenset(
    {"trades", "tickers", "bbo-tbt", "books5", "books"}
    | {"funding-rate", "mark-price", "open-interest", "liquidation-orders"}  # swaps
)
BUSINESS_CHANNELS = frozenset({"candle1m", "trades-all"})
_PATHS = {"/ws/v5/public": False, "/ws/v5/business": True}
_NOTICE = "The connection will soon be closed for a service upgrade. Please reconnect."
_JSON = [("content-type", "application/json")]
_TRADE_ID_OFFSET = 100_000_000
_MESSAGES = {
    "60011": "Please log in",
    "60012": "Invalid request",
    "60014": "Requests too frequent.",
    "64003": "Your trading fee tier doesn't meet the requirement to access this channel",
    "64004": "You can't subscribe to this channel because you already subscribed to another "
    "order book channel for this instrument",
}


def okx_checksum(bids: list[list[str]], asks: list[list[str]]) -> int:
    """OKX's legacy order-book CRC32 (signed) over the 25 best bids (desc) and asks (asc).

    >>> okx_checksum([["3366.1", "7"], ["3366", "6"]], [["3366.8", "9"], ["3368", "8"]])
    -1881014294
    """
    parts: list[str] = []
    for i in range(25):
        if i < len(bids):
            parts.append(f"{bids[i][0]}:{bids[i][1]}")
        if i < len(asks):
            parts.append(f"{asks[i][0]}:{asks[i][1]}")
    crc = zlib.crc32(":".join(parts).encode())
    return crc - (1 << 32) if crc >= 1 << 31 else crc


def _wrong_url(channel: str, inst: str) -> str:
    return (
        f"Wrong URL or channel:{channel},instId:{inst} doesn't exist. "
        "Please use the correct URL, channel and parameters referring to API document."
    )


@attrs.frozen
class _Reject:
    symbol: str | None
    channel: str | None
    code: str | None


@attrs.define
class _ConnState:
    conn_id: str
    business: bool
    ops: _RateWindow
    no_subs_since: float
    pending: set[tuple[str, str]] = attrs.Factory(set)


class _SymState:
    def __init__(self) -> None:
        self.book_bids: dict[int, int] = {}
        self.book_asks: dict[int, int] = {}
        self.books_seq: int | None = None
        self.books_last_push = 0.0
        self.ticker_dirty = False
        self.ticker_last = -1e9
        self.top5: Any = None


#: channel -> (price keys, size keys) for the "nan" / "negative" faults
_DAMAGE: dict[str, tuple[tuple[Any, ...], tuple[Any, ...]]] = {
    "trades": (("px",), ("sz",)),
    "trades-all": (("px",), ("sz",)),
    "tickers": (("last",), ("vol24h",)),
    "bbo-tbt": (("bids", "asks"), ("bids", "asks")),
    "books5": (("bids", "asks"), ("bids", "asks")),
    "books": (("bids", "asks"), ("bids", "asks")),
    "candle1m": ((1,), (5,)),
}


def _orders(size: int) -> str:
    """A stable, plausible order count for a level of ``size`` lots."""
    return str(1 + (size * 2654435761 >> 7) % 9)
