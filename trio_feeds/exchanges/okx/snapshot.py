"""OKX book checksums and the REST book snapshot (request path and parser)."""

from __future__ import annotations

import zlib
from collections.abc import Sequence

import orjson

from trio_feeds.core.errors import ConfigError, ProtocolError
from trio_feeds.core.fast import new_delta as _new_delta
from trio_feeds.core.records import BookDelta
from trio_feeds.exchanges.okx.frames import (
    _EXCHANGE,
    _describe,
    _loads,
    _seq,
    _sides,
    _text_levels,
    _ts,
)
from trio_feeds.exchanges.okx.symbols import to_okx
from trio_feeds.protocol._events import (
    excerpt,
)

__all__ = ["book_checksum", "parse_rest_books", "rest_books_path"]


def book_checksum(bids_text: Sequence[Sequence[str]], asks_text: Sequence[Sequence[str]]) -> int:
    """OKX's legacy book CRC32 over the best 25 bids (descending) and asks (ascending).

    ``"bidpx:bidsz:askpx:asksz:…"`` interleaved level by level (a side that
    runs out is skipped), CRC-32, read as a signed 32-bit int.  Use the
    exchange's strings verbatim (``"8477"``, not ``"8477.0"``).

    >>> book_checksum([("3366.1", "7"), ("3366", "6")], [("3366.8", "9"), ("3368", "8")])
    -1881014294
    """
    parts: list[str] = []
    bids = bids_text[:25]
    asks = asks_text[:25]
    for i in range(max(len(bids), len(asks))):
        if i < len(bids):
            parts.append(f"{bids[i][0]}:{bids[i][1]}")
        if i < len(asks):
            parts.append(f"{asks[i][0]}:{asks[i][1]}")
    crc = zlib.crc32(":".join(parts).encode())
    return crc - 0x1_0000_0000 if crc & 0x8000_0000 else crc


# --------------------------------------------------------------------------- REST snapshot


def rest_books_path(inst_id: str, sz: int = 400) -> str:
    """Path and query of the REST book snapshot, ``GET /api/v5/market/books``.

    >>> rest_books_path("btc-usdt")
    '/api/v5/market/books?instId=BTC-USDT&sz=400'
    """
    if sz.__class__ is not int or not 1 <= sz <= 400:
        raise ConfigError(f"sz={sz!r}: the OKX REST book depth must be an int from 1 to 400")
    return f"/api/v5/market/books?instId={to_okx(inst_id)}&sz={sz}"


def parse_rest_books(body: bytes | str, symbol: str, received_at: float) -> BookDelta:
    """A ``GET /api/v5/market/books`` response → a snapshot ``BookDelta``.

    ``sequence`` is the snapshot's ``seqId``; ``text`` keeps the level strings
    (for a book that later has to verify non-zero checksums).  Raises
    :class:`~trio_feeds.ProtocolError` on an unusable body or ``code != "0"``.
    """
    inst = to_okx(symbol)
    try:
        msg = _loads(body)
    except orjson.JSONDecodeError as exc:
        raise ProtocolError(f"okx REST books {inst}: not JSON ({exc}): {excerpt(body)}") from None
    if not isinstance(msg, dict):
        raise ProtocolError(f"okx REST books {inst}: expected a JSON object: {excerpt(body)}")
    code = msg.get("code")
    if str(code) != "0":
        raise ProtocolError(f"okx REST books {inst}: error code {code!r}: {msg.get('msg')!r}")
    data = msg.get("data")
    if not isinstance(data, list) or not data or not isinstance(data[0], dict):
        raise ProtocolError(f"okx REST books {inst}: 'data' is missing or empty: {excerpt(body)}")
    d = data[0]
    try:
        bids = d["bids"]
        asks = d["asks"]
        bid_levels, ask_levels = _sides(bids, asks)
        return _new_delta(
            _EXCHANGE,
            inst,
            _ts(d["ts"]),
            received_at,
            bid_levels,
            ask_levels,
            True,
            _seq(d.get("seqId"), "seqId"),
            None,
            None,
            None,
            (_text_levels(bids), _text_levels(asks)),
        )
    except Exception as exc:
        raise ProtocolError(f"okx REST books {inst}: {_describe(exc)}: {excerpt(body)}") from exc
