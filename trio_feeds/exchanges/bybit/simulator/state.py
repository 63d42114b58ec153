"""What the simulated Bybit keeps per connection and topic, and its protocol constants."""

from __future__ import annotations

import attrs

__all__: list[str] = []

_PATHS = {"/v5/public/spot": False, "/v5/public/linear": True}
#: book depth → push interval in seconds (orderbook page: 1: 10 ms, 50: 20 ms, 200: 100 ms,
#: 1000: 200 ms)
_BOOK_DEPTHS = {1: 0.01, 50: 0.02, 200: 0.1, 1000: 0.2}
#: level 1 re-sends its snapshot after this long without change (same ``u``)
_LEVEL1_RESEND = 3.0
#: ticker push interval: derivatives 100 ms, spot 50 ms
_TICKER_EVERY = {False: 0.05, True: 0.1}
_KLINE_INTERVALS = {"1"}
_FUNDING_MS = 8 * 3600 * 1000


@attrs.frozen
class _Reject:
    symbol: str | None
    topic: str | None
    message: str | None


@attrs.define
class _ConnState:
    conn_id: str
    linear: bool
    #: topics waiting for their first push (a snapshot)
    pending: set[str] = attrs.Factory(set)
    #: characters of all subscribed args (Bybit: at most 21,000 per public connection)
    arg_chars: int = 0
    #: trio time of the last data frame sent
    last_data: float = 0.0


@attrs.define
class _BookTopic:
    """One ``orderbook.{depth}.{symbol}`` topic of one category: what was published."""

    depth: int
    u: int = 0
    bids: dict[int, int] = attrs.Factory(dict)
    asks: dict[int, int] = attrs.Factory(dict)
    next_push: float = 0.0
    last_push: float = 0.0
    #: a snapshot to every subscriber at the next push (``resend_snapshot``)
    resend: bool = False


@attrs.define
class _TickerTopic:
    state: dict[str, str] = attrs.Factory(dict)
    next_push: float = 0.0
    cs: int = 0


#: topic stream → (price keys, size keys) for the "nan" / "negative" faults
_DAMAGE: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "publicTrade": (("p",), ("v",)),
    "tickers": (("lastPrice", "bid1Price"), ("volume24h", "bid1Size")),
    "orderbook": (("b", "a"), ("b", "a")),
    "kline": (("open",), ("volume",)),
}


def _depths() -> set[str]:
    return {str(d) for d in _BOOK_DEPTHS}
