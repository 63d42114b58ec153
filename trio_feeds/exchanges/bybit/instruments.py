"""Bybit's instrument lists (``GET /v5/market/instruments-info``, ``category=spot`` and
``linear``) as :class:`~trio_feeds.core.instruments.Instrument` objects.

https://bybit-exchange.github.io/docs/v5/market/instrument
"""

from __future__ import annotations

from typing import Any

import orjson

from trio_feeds.core.errors import ProtocolError
from trio_feeds.core.instruments import Instrument, InstrumentStatus
from trio_feeds.exchanges.bybit.facts import REST_INSTRUMENTS_LINEAR, REST_INSTRUMENTS_SPOT

__all__ = ["INSTRUMENT_PATHS", "parse_instruments"]

#: one page each (spot is never paged; 1,000 linear contracts cover the USDT perpetuals)
INSTRUMENT_PATHS = (REST_INSTRUMENTS_SPOT, REST_INSTRUMENTS_LINEAR + "&limit=1000")

_STATUS: dict[str, InstrumentStatus] = {
    "Trading": "trading",
    "PreLaunch": "preopen",
    "Delivering": "delisted",
    "Closed": "delisted",
}


def _row(category: str, row: dict[str, Any]) -> Instrument | None:
    base, quote = str(row["baseCoin"]).upper(), str(row["quoteCoin"]).upper()
    tick = float((row.get("priceFilter") or {}).get("tickSize") or 0)
    lots = row.get("lotSizeFilter") or {}
    status = _STATUS.get(str(row.get("status", "")), "halted")
    native = str(row["symbol"])
    if category == "spot":
        lot = float(lots.get("basePrecision") or 0)
        return Instrument(f"{base}-{quote}", base, quote, "spot", tick, lot, 1.0, status, native)
    if row.get("contractType") != "LinearPerpetual" or quote != "USDT":
        return None  # dated futures, USDC perpetuals: not streamed
    lot = float(lots.get("qtyStep") or 0)
    symbol = f"{base}-{quote}-PERP"
    return Instrument(symbol, base, quote, "perpetual", tick, lot, 1.0, status, native)


def parse_instruments(body: bytes | str) -> list[Instrument]:
    """One ``instruments-info`` answer → instruments: spot pairs, and the USDT linear
    perpetuals (``BASE-USDT-PERP``, amounts in the base currency); ``Trading`` →
    ``"trading"``, ``PreLaunch`` → ``"preopen"``."""
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ProtocolError(f"instruments-info: not JSON ({exc})") from None
    if not isinstance(doc, dict) or doc.get("retCode") != 0:
        msg = doc.get("retMsg", "") if isinstance(doc, dict) else ""
        raise ProtocolError(f"instruments-info: error answer {msg!r}")
    result = doc.get("result") or {}
    rows = result.get("list")
    if not isinstance(rows, list):
        raise ProtocolError("instruments-info: no 'result.list' in the answer")
    category = str(result.get("category", "spot"))
    out: list[Instrument] = []
    for row in rows:
        try:
            inst = _row(category, row)
        except (KeyError, TypeError, ValueError, AttributeError):
            continue
        if inst is not None:
            out.append(inst)
    return out
