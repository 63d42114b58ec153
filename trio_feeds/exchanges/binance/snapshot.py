"""Binance REST depth snapshots: the request path, its weight, and the parser."""

from __future__ import annotations

import orjson

from trio_feeds.core.errors import ConfigError, ProtocolError
from trio_feeds.core.records import BookDelta
from trio_feeds.core.symbols import canonical
from trio_feeds.exchanges.binance.diagnose import _check
from trio_feeds.exchanges.binance.streams import _MAX_TS, NAME, _loads
from trio_feeds.exchanges.binance.symbols import to_binance
from trio_feeds.protocol._events import (
    excerpt,
)
from trio_feeds.protocol._rules import parse_sides

__all__ = ["depth_snapshot_path", "depth_snapshot_weight", "parse_depth_snapshot"]


# --------------------------------------------------------------------------- REST snapshot


def depth_snapshot_path(symbol: str, limit: int = 1000) -> str:
    """``/api/v3/depth?symbol=BTCUSDT&limit=1000`` for a canonical symbol."""
    depth_snapshot_weight(limit)
    return f"/api/v3/depth?symbol={to_binance(symbol)}&limit={limit}"


def depth_snapshot_weight(limit: int) -> int:
    """Request weight of ``/api/v3/depth``: 5 (≤100), 25 (≤500), 50 (≤1000), 250 (≤5000)."""
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 5000:
        raise ConfigError(f"depth snapshot limit {limit!r} must be an int from 1 to 5000")
    if limit <= 100:
        return 5
    if limit <= 500:
        return 25
    if limit <= 1000:
        return 50
    return 250


def parse_depth_snapshot(
    body: bytes | str,
    symbol: str,
    received_at: float,
    *,
    keep_raw: bool = False,
    exchange: str = NAME,
) -> BookDelta:
    """A REST ``/api/v3/depth`` body as a snapshot ``BookDelta`` (``sequence`` = ``lastUpdateId``).

    Spot snapshots carry no time: ``timestamp`` is ``received_at`` in ms; USD-M snapshots
    (``exchange="binance-usdm"``, same shape) carry ``E``, which is used.
    Raises :class:`~trio_feeds.ProtocolError` on a body it cannot use.
    """
    sym = canonical(symbol)
    try:
        data = _loads(body)
    except (orjson.JSONDecodeError, TypeError) as exc:
        raise ProtocolError(f"{exchange} depth snapshot for {sym}: invalid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ProtocolError(
            f"{exchange} depth snapshot for {sym}: expected an object: {excerpt(body)}"
        )
    if "lastUpdateId" not in data and "code" in data:
        raise ProtocolError(
            f"{exchange} depth snapshot for {sym}: error {data.get('code')}: {data.get('msg')}"
        )
    problem = _check(data, "depth_partial")
    if problem is not None:
        raise ProtocolError(f"{exchange} depth snapshot for {sym}: {problem}")
    bids, asks = parse_sides(data["bids"], data["asks"], "bids", "asks", pairs=True)
    ts = data.get("E")
    if ts.__class__ is not int or not 0 <= ts < _MAX_TS:
        ts = int(received_at * 1000)
    return BookDelta(
        exchange, sym, ts, received_at, bids, asks, True,
        data["lastUpdateId"], raw=data if keep_raw else None,
    )  # fmt: skip


# --------------------------------------------------------------------------- the adapter
