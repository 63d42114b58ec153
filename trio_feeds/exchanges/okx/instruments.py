"""OKX's instrument lists (``GET /api/v5/public/instruments?instType=SPOT`` and ``SWAP``)
as :class:`~trio_feeds.core.instruments.Instrument` objects.

https://www.okx.com/docs-v5/en/#public-data-rest-api-get-instruments
"""

from __future__ import annotations

from typing import Any

import orjson

from trio_feeds.core.errors import ProtocolError
from trio_feeds.core.instruments import Instrument, InstrumentStatus
from trio_feeds.exchanges.okx.perps import LINEAR_QUOTES, SWAP_SUFFIX

__all__ = ["INSTRUMENT_PATHS", "parse_instruments"]

INSTRUMENT_PATHS = (
    "/api/v5/public/instruments?instType=SPOT",
    "/api/v5/public/instruments?instType=SWAP",
)

_STATUS: dict[str, InstrumentStatus] = {
    "live": "trading",
    "suspend": "halted",
    "preopen": "preopen",
    "test": "preopen",
    "expired": "delisted",
}


def _row(row: dict[str, Any]) -> Instrument | None:
    inst = str(row["instId"])
    status = _STATUS.get(str(row.get("state", "")), "halted")
    tick = float(row.get("tickSz") or 0)
    lot = float(row.get("lotSz") or 0)
    if row.get("instType") == "SWAP" or inst.endswith(SWAP_SUFFIX):
        if not inst.endswith(SWAP_SUFFIX):
            return None
        base, quote = inst.split("-")[:2]
        if quote not in LINEAR_QUOTES or row.get("ctType", "linear") != "linear":
            return None  # coin-margined swaps are not streamed (amounts in USD)
        size = float(row.get("ctVal") or 1)
        return Instrument(
            f"{base}-{quote}-PERP", base, quote, "perpetual", tick, lot * size, size, status, inst
        )
    base = str(row.get("baseCcy") or inst.split("-")[0])
    quote = str(row.get("quoteCcy") or inst.split("-")[1])
    return Instrument(f"{base}-{quote}", base, quote, "spot", tick, lot, 1.0, status, inst)


def parse_instruments(body: bytes | str) -> list[Instrument]:
    """One ``instruments`` answer (spot or swaps) → instruments.  Linear swaps become
    ``BASE-QUOTE-PERP`` with ``contract_size`` = ``ctVal`` and ``lot_size`` in the base
    currency; coin-margined swaps are left out; ``live`` → ``"trading"``, ``suspend`` →
    ``"halted"``."""
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ProtocolError(f"instruments: not JSON ({exc})") from None
    if not isinstance(doc, dict) or str(doc.get("code", "0")) != "0":
        msg = doc.get("msg", "") if isinstance(doc, dict) else ""
        raise ProtocolError(f"instruments: error answer {msg!r}")
    rows = doc.get("data")
    if not isinstance(rows, list):
        raise ProtocolError("instruments: no 'data' list in the answer")
    out: list[Instrument] = []
    for row in rows:
        try:
            inst = _row(row)
        except (KeyError, TypeError, ValueError, IndexError, AttributeError):
            continue
        if inst is not None:
            out.append(inst)
    return out
