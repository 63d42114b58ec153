"""Coinbase's product list (``GET /api/v3/brokerage/market/products``) as
:class:`~trio_feeds.core.instruments.Instrument` objects.

https://docs.cdp.coinbase.com/advanced-trade/reference/retailbrokerageapi_getpublicproducts
"""

from __future__ import annotations

from typing import Any

import orjson

from trio_feeds.core.errors import ProtocolError
from trio_feeds.core.instruments import Instrument, InstrumentStatus

__all__ = ["parse_products"]


def _status(row: dict[str, Any]) -> InstrumentStatus:
    if row.get("is_disabled") or str(row.get("status", "")).lower() == "delisted":
        return "delisted"
    if row.get("trading_disabled") or row.get("cancel_only") or row.get("view_only"):
        return "halted"
    return "trading" if str(row.get("status", "online")).lower() == "online" else "halted"


def parse_products(body: bytes | str) -> list[Instrument]:
    """The spot products (``BTC-USD``); ``online`` and not disabled → ``"trading"``;
    ``trading_disabled`` / ``cancel_only`` → ``"halted"``."""
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ProtocolError(f"products: not JSON ({exc})") from None
    rows = doc.get("products") if isinstance(doc, dict) else None
    if not isinstance(rows, list):
        raise ProtocolError("products: no 'products' list in the answer")
    out: list[Instrument] = []
    for row in rows:
        try:
            if str(row.get("product_type", "SPOT")).upper() != "SPOT":
                continue
            native = str(row["product_id"])
            base = str(row.get("base_currency_id") or native.split("-")[0]).upper()
            quote = str(row.get("quote_currency_id") or native.split("-")[1]).upper()
            tick = float(row.get("quote_increment") or row.get("price_increment") or 0)
            lot = float(row.get("base_increment") or 0)
        except (KeyError, TypeError, ValueError, AttributeError, IndexError):
            continue
        out.append(
            Instrument(f"{base}-{quote}", base, quote, "spot", tick, lot, 1.0, _status(row), native)
        )
    return out
