"""Binance's instrument list (``GET /api/v3/exchangeInfo``, and the USD-M futures'
``/fapi/v1/exchangeInfo``) as :class:`~trio_feeds.core.instruments.Instrument` objects.

https://developers.binance.com/docs/binance-spot-api-docs/rest-api/general-endpoints#exchange-information
"""

from __future__ import annotations

from typing import Any

import orjson

from trio_feeds.core.errors import ProtocolError
from trio_feeds.core.instruments import Instrument, InstrumentKind, InstrumentStatus

__all__ = ["EXCHANGE_INFO_WEIGHT", "parse_exchange_info", "parse_usdm_exchange_info"]

#: request weight of a full ``exchangeInfo`` (spot: 20; USD-M futures: 1)
EXCHANGE_INFO_WEIGHT = 20.0

_STATUS: dict[str, InstrumentStatus] = {
    "TRADING": "trading",
    "BREAK": "halted",
    "HALT": "halted",
    "AUCTION_MATCH": "halted",
    "END_OF_DAY": "halted",
    "POST_TRADING": "halted",
    "PRE_TRADING": "preopen",
    "PENDING_TRADING": "preopen",
    "SETTLING": "halted",
    "CLOSE": "delisted",
    "DELIVERING": "delisted",
    "DELIVERED": "delisted",
}


def _symbols(body: bytes | str, where: str) -> list[dict[str, Any]]:
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ProtocolError(f"{where}: not JSON ({exc})") from None
    rows = doc.get("symbols") if isinstance(doc, dict) else None
    if not isinstance(rows, list):
        raise ProtocolError(f"{where}: no 'symbols' list in the answer")
    return [r for r in rows if isinstance(r, dict)]


def _filters(row: dict[str, Any]) -> tuple[float, float]:
    tick = lot = 0.0
    for f in row.get("filters") or ():
        kind = f.get("filterType")
        if kind == "PRICE_FILTER":
            tick = float(f.get("tickSize", 0) or 0)
        elif kind == "LOT_SIZE":
            lot = float(f.get("stepSize", 0) or 0)
    return tick, lot


def _parse(body: bytes | str, where: str, perpetual: bool) -> list[Instrument]:
    out: list[Instrument] = []
    for row in _symbols(body, where):
        try:
            if perpetual and row.get("contractType") != "PERPETUAL":
                continue  # quarterly futures: not streamed
            base, quote = str(row["baseAsset"]).upper(), str(row["quoteAsset"]).upper()
            tick, lot = _filters(row)
            native = str(row["symbol"])
        except (KeyError, TypeError, ValueError):
            continue  # a row we cannot read is not an instrument we can stream
        symbol = f"{base}-{quote}-PERP" if perpetual else f"{base}-{quote}"
        status = _STATUS.get(str(row.get("status", "")).upper(), "halted")
        kind: InstrumentKind = "perpetual" if perpetual else "spot"
        out.append(Instrument(symbol, base, quote, kind, tick, lot, 1.0, status, native))
    return out


def parse_exchange_info(body: bytes | str) -> list[Instrument]:
    """Spot ``exchangeInfo`` → instruments (``BTC-USDT``); tick and lot from the
    ``PRICE_FILTER`` / ``LOT_SIZE`` filters; status ``TRADING`` → ``"trading"``,
    ``BREAK``/``HALT`` → ``"halted"``, ``PRE_TRADING`` → ``"preopen"``."""
    return _parse(body, "exchangeInfo", perpetual=False)


def parse_usdm_exchange_info(body: bytes | str) -> list[Instrument]:
    """USD-M futures ``exchangeInfo`` → the perpetuals (``BTC-USDT-PERP``); quarterly
    contracts are left out."""
    return _parse(body, "fapi exchangeInfo", perpetual=True)
