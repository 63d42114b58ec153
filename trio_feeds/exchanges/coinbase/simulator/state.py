"""What the simulated Coinbase keeps per connection and product, its protocol constants and
timestamps."""

from __future__ import annotations

from datetime import UTC, datetime

import attrs

from trio_feeds.simulator.server import _RateWindow

__all__ = ["CHANNELS", "rfc3339"]

CHANNELS = frozenset(
    {"heartbeats", "market_trades", "ticker", "ticker_batch", "level2", "candles", "status"}
)
#: the channel a push of a subscription carries
_PUSH_CHANNEL = {"level2": "l2_data"}
_TRADES_EVERY = 0.25  # market_trades batches 250 ms of trades
_TICKER_BATCH_EVERY = 5.0
_CANDLE_EVERY = 1.0
_CANDLE_S = 300  # five-minute buckets
_RECENT_TRADES = 50
_SNAPSHOT_TIME = "1970-01-01T00:00:00Z"


def rfc3339(ms: int) -> str:
    """Unix ms → ``"2023-02-09T20:32:50.714Z"`` (fraction trimmed, as Coinbase trims zeros).

    >>> rfc3339(1_675_974_770_710), rfc3339(0)
    ('2023-02-09T20:32:50.71Z', '1970-01-01T00:00:00Z')
    """
    dt = datetime.fromtimestamp(ms // 1000, UTC)
    frac = f"{ms % 1000:03d}".rstrip("0")
    return dt.strftime("%Y-%m-%dT%H:%M:%S") + (f".{frac}Z" if frac else "Z")


@attrs.define
class _ConnState:
    opened_at: float
    seq: int = 0
    subscribed: bool = False
    heartbeats: bool = False
    heartbeat_counter: int = 0
    last_sent: float = 0.0
    #: (channel, product) waiting for their first push (a snapshot)
    pending: set[tuple[str, str]] = attrs.Factory(set)
    messages: _RateWindow = attrs.Factory(lambda: _RateWindow(1.0))


@attrs.define
class _Bucket:
    start: int  # Unix seconds
    open: int
    high: int
    low: int
    close: int
    volume: int = 0


#: push channel → (price keys, size keys) of the first item for the "nan"/"negative" faults
_DAMAGE: dict[str, tuple[str, tuple[str, ...], tuple[str, ...]]] = {
    "market_trades": ("trades", ("price",), ("size",)),
    "ticker": ("tickers", ("price",), ("volume_24_h",)),
    "ticker_batch": ("tickers", ("price",), ("volume_24_h",)),
    "l2_data": ("updates", ("price_level",), ("new_quantity",)),
    "candles": ("candles", ("open",), ("volume",)),
}


def _l2(side: str, price: str, size: str, when: str) -> dict[str, str]:
    return {"side": side, "event_time": when, "price_level": price, "new_quantity": size}
