"""USD-M REST: depth snapshots (``/fapi/v1/depth``), open interest (``/fapi/v1/openInterest``).

Weights (https://developers.binance.com/docs/derivatives/usds-margined-futures/market-data/rest-api/Order-Book):
limit 5, 10, 20, 50 → 2; 100 → 5; 500 → 10; 1000 → 20.  The snapshot has the spot shape
plus ``E``/``T``; the diffs after it chain on ``pu`` (see :mod:`.book`).
"""

from __future__ import annotations

from functools import partial
from typing import Any

import orjson

from trio_feeds.core.errors import ConfigError, ProtocolError
from trio_feeds.core.records import OpenInterest
from trio_feeds.core.symbols import canonical
from trio_feeds.exchanges.binance.snapshot import parse_depth_snapshot as _parse_spot_shape
from trio_feeds.exchanges.binance.symbols import to_binance
from trio_feeds.exchanges.binance_usdm.streams import NAME

__all__ = [
    "OPEN_INTEREST_WEIGHT",
    "depth_snapshot_path",
    "depth_snapshot_weight",
    "open_interest_path",
    "parse_depth_snapshot",
    "parse_open_interest",
]

#: request weight of ``GET /fapi/v1/openInterest``
OPEN_INTEREST_WEIGHT = 1

_LIMITS = {5: 2, 10: 2, 20: 2, 50: 2, 100: 5, 500: 10, 1000: 20}

parse_depth_snapshot = partial(_parse_spot_shape, exchange=NAME)


def depth_snapshot_path(symbol: str, limit: int = 1000) -> str:
    """``/fapi/v1/depth?symbol=BTCUSDT&limit=1000`` for ``BTC-USDT-PERP``."""
    depth_snapshot_weight(limit)
    return f"/fapi/v1/depth?symbol={to_binance(symbol)}&limit={limit}"


def depth_snapshot_weight(limit: int) -> int:
    """Request weight of ``/fapi/v1/depth``; the limit must be one Binance accepts."""
    if isinstance(limit, bool) or limit not in _LIMITS:
        raise ConfigError(
            f"USD-M depth snapshot limit {limit!r} must be one of {', '.join(map(str, _LIMITS))}"
        )
    return _LIMITS[limit]


def open_interest_path(symbol: str) -> str:
    """``/fapi/v1/openInterest?symbol=BTCUSDT`` (weight 1; there is no WebSocket stream)."""
    return f"/fapi/v1/openInterest?symbol={to_binance(symbol)}"


def parse_open_interest(body: bytes | str, symbol: str, received_at: float) -> OpenInterest:
    """``{"openInterest": "10659.509", "symbol": "BTCUSDT", "time": …}`` → :class:`OpenInterest`
    (USD-M counts open interest in the base asset already)."""
    sym = canonical(symbol)
    try:
        data: Any = orjson.loads(body)
        amount = float(data["openInterest"])
        ts = data["time"]
        if not (amount >= 0.0 and ts.__class__ is int and ts >= 0) or amount == float("inf"):
            raise ValueError("out of range")
    except Exception as exc:
        raise ProtocolError(f"{NAME} open interest for {sym}: unusable body ({exc})") from None
    return OpenInterest(NAME, sym, ts, received_at, amount)
