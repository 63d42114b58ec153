"""OKX perpetual swaps on the ``okx`` exchange: symbols, contract sizes, and the swap-only pushes.

* Symbols: canonical ``BTC-USDT-PERP`` ↔ OKX ``instId`` ``BTC-USDT-SWAP`` (USDT- or
  USDC-margined, "linear").  Coin-margined swaps (``BTC-USD-SWAP``) count contracts in USD,
  whose size in the base asset moves with the price: not supported yet (refused by name).
* Amounts: OKX swap sizes are **contracts**.  Every amount is converted to the base asset
  by the instrument's ``ctVal`` from ``/api/v5/public/instruments?instType=SWAP``
  (https://www.okx.com/docs-v5/en/#public-data-rest-api-get-instruments), loaded into the
  adapter with :meth:`~trio_feeds.exchanges.okx.OkxAdapter.load_instruments`.  Converted
  fields: trade ``amount``, quote ``bid_size``/``ask_size``, book level sizes, ticker
  ``bid_size``/``ask_size``, candle ``volume``, liquidation ``amount``.  Ticker ``volume``
  (``volCcy24h``) and open interest (``oiCcy``) are already in the base asset.  Without a
  known ``ctVal`` a swap push becomes a :class:`~trio_feeds.protocol.ParseError` naming the
  instrument: never an amount in contracts.
* Pushes (https://www.okx.com/docs-v5/en/#public-data-websocket-funding-rate-channel and
  the mark-price and open-interest channels): ``funding-rate`` (``fundingRate``,
  ``fundingTime`` = when this rate is settled, ``ts``), ``mark-price`` (``markPx``, ``ts``;
  no index price), ``open-interest`` (``oiCcy``, ``ts``).
* ``liquidation-orders``
  (https://www.okx.com/docs-v5/en/#public-data-websocket-liquidation-orders-channel) is
  subscribed by instrument type, ``{"channel":"liquidation-orders","instType":"SWAP"}``, not
  by ``instId``: one arg serves every subscribed swap, its acks name no instrument, and its
  pushes (``{"arg":{"channel","instType"},"data":[{"instId",…,"details":[{"side","sz",
  "bkPx","ts",…}]}]}``) carry every swap's liquidations: only the subscribed instruments'
  become records (``side`` the order's side, ``bkPx`` the price, ``sz`` contracts).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import attrs
import orjson

from trio_feeds.core.errors import ProtocolError, SymbolError
from trio_feeds.core.records import (
    Book,
    BookDelta,
    Candle,
    Funding,
    Levels,
    Liquidation,
    MarkPrice,
    OpenInterest,
    Quote,
    Ticker,
    Trade,
)
from trio_feeds.core.symbols import PERP_SUFFIX, canonical
from trio_feeds.exchanges.okx.frames import _EXCHANGE, _INF, _SIDES, _describe, _Invalid, _ts
from trio_feeds.exchanges.okx.symbols import to_okx
from trio_feeds.protocol._events import ParseError, excerpt
from trio_feeds.protocol._rules import numbers

__all__ = [
    "BY_INST_TYPE",
    "INSTRUMENTS_PATH",
    "LINEAR_QUOTES",
    "SWAP_HANDLERS",
    "SWAP_SUFFIX",
    "inst_id",
    "on_liquidations",
    "parse_instruments",
    "perp_symbol",
    "to_perp",
    "wire_args",
]

SWAP_SUFFIX = "-SWAP"
#: settlement currencies of linear (base-denominated) swaps
LINEAR_QUOTES = ("USDT", "USDC")
INSTRUMENTS_PATH = "/api/v5/public/instruments?instType=SWAP"
#: channels subscribed by instrument type, not ``instId``: channel -> ``instType``
BY_INST_TYPE = {"liquidation-orders": "SWAP"}


def wire_args(keys: Iterable[tuple[str, str]]) -> list[dict[str, str]]:
    """The request ``args`` of ``(channel, instId)`` keys: one ``instType`` arg for all the
    instruments of a :data:`BY_INST_TYPE` channel."""
    out: dict[tuple[str, str], dict[str, str]] = {}
    for channel, inst in keys:
        kind = BY_INST_TYPE.get(channel)
        if kind is None:
            out[(channel, inst)] = {"channel": channel, "instId": inst}
        else:
            out.setdefault((channel, ""), {"channel": channel, "instType": kind})
    return list(out.values())


def inst_id(symbol: str) -> str:
    """``BTC-USDT-PERP`` → ``BTC-USDT-SWAP``; a spot symbol → itself (upper-cased); an OKX
    ``instId`` (``BTC-USDT-SWAP``, ``BTC-USD-250808``) passes through.  Coin-margined swaps
    are refused by name."""
    try:
        sym = canonical(symbol)
    except SymbolError:
        inst = to_okx(symbol)
    else:
        if not sym.endswith(PERP_SUFFIX):
            return sym
        inst = sym[: -len(PERP_SUFFIX)] + SWAP_SUFFIX
    if inst.endswith(SWAP_SUFFIX):
        base, quote = inst.split("-")[:2]
        if quote not in LINEAR_QUOTES:
            raise SymbolError(
                symbol,
                "coin-margined swaps are not supported on okx yet (their contracts are in "
                f"USD); use a {'/'.join(LINEAR_QUOTES)}-margined one, e.g. {base}-USDT-PERP",
                _EXCHANGE,
            )
    return inst


def perp_symbol(inst: str) -> str:
    """``BTC-USDT-SWAP`` → ``BTC-USDT-PERP``; any other instId is returned as is."""
    return inst[: -len(SWAP_SUFFIX)] + PERP_SUFFIX if inst.endswith(SWAP_SUFFIX) else inst


def parse_instruments(body: bytes | str) -> dict[str, float]:
    """The ``ctVal`` of every linear swap in an instruments answer, by ``instId``.

    Only instruments whose contract value is in the base asset (``ctValCcy`` equals the
    instrument's base) are kept; others cannot be converted by a constant factor."""
    try:
        msg: Any = orjson.loads(body)
        if str(msg.get("code")) != "0":
            raise ValueError(f"error {msg.get('code')}: {msg.get('msg')}")
        out: dict[str, float] = {}
        for item in msg["data"]:
            inst = item["instId"]
            base = inst.split("-")[0]
            ct = float(item["ctVal"])
            if item.get("ctValCcy") == base and 0.0 < ct < _INF:
                out[inst] = ct
        return out
    except Exception as exc:
        raise ProtocolError(f"okx instruments: unusable answer ({exc})") from None


def _scale(levels: Levels, ct: float) -> Levels:
    return tuple((p, q * ct) for p, q in levels)


def to_perp(record: Any, ct: float) -> Any:
    """A record of a swap push with its symbol made canonical and contracts made base."""
    sym = perp_symbol(record.symbol)
    cls = record.__class__
    if cls is Trade:
        return attrs.evolve(record, symbol=sym, amount=record.amount * ct)
    if cls is Quote:
        return attrs.evolve(
            record, symbol=sym, bid_size=record.bid_size * ct, ask_size=record.ask_size * ct
        )
    if cls is Book or cls is BookDelta:
        return attrs.evolve(
            record, symbol=sym, bids=_scale(record.bids, ct), asks=_scale(record.asks, ct)
        )
    if cls is Ticker:
        bs, as_ = record.bid_size, record.ask_size
        return attrs.evolve(
            record,
            symbol=sym,
            bid_size=None if bs is None else bs * ct,
            ask_size=None if as_ is None else as_ * ct,
        )
    if cls is Candle:
        return attrs.evolve(record, symbol=sym, volume=record.volume * ct)
    if cls is Liquidation:
        return attrs.evolve(record, symbol=sym, amount=record.amount * ct)
    return attrs.evolve(record, symbol=sym)  # Funding, MarkPrice, OpenInterest: no amounts


# -- pushes of the swap-only channels: (data, instId, message, received_at, out) ----------


def on_funding(data: Any, inst: str, msg: Any, received_at: float, out: list[Any]) -> None:
    for d in data:
        (rate,) = numbers([d["fundingRate"]])
        if not -1.0 < rate < 1.0:
            raise _Invalid
        out.append(Funding(_EXCHANGE, inst, _ts(d["ts"]), received_at, rate, _ts(d["fundingTime"])))


def on_mark(data: Any, inst: str, msg: Any, received_at: float, out: list[Any]) -> None:
    for d in data:
        (mark,) = numbers([d["markPx"]])
        if not 0.0 < mark < _INF:
            raise _Invalid
        out.append(MarkPrice(_EXCHANGE, inst, _ts(d["ts"]), received_at, mark, None))


def on_open_interest(data: Any, inst: str, msg: Any, received_at: float, out: list[Any]) -> None:
    for d in data:
        (amount,) = numbers([d["oiCcy"]])
        if not 0.0 <= amount < _INF:
            raise _Invalid
        out.append(OpenInterest(_EXCHANGE, inst, _ts(d["ts"]), received_at, amount))


SWAP_HANDLERS = {
    "funding-rate": on_funding,
    "mark-price": on_mark,
    "open-interest": on_open_interest,
}


def on_liquidations(
    msg: dict[str, Any], frame: bytes | str, wanted: set[str], received_at: float, out: list[Any]
) -> None:
    """A ``liquidation-orders`` push: a :class:`Liquidation` (in contracts; the adapter
    converts) per detail of each wanted instrument; a bad item is a ``ParseError`` naming it,
    and the others still count."""
    channel = msg["arg"]["channel"]
    data = msg.get("data")
    if not isinstance(data, list):
        out.append(ParseError(f"okx {channel}: 'data' is missing or not a list", excerpt(frame)))
        return
    for i, item in enumerate(data):
        inst = item.get("instId") if isinstance(item, dict) else None
        if inst not in wanted:
            continue  # another swap's (the arg covers every swap)
        mark = len(out)
        try:
            for d in item["details"]:
                side = _SIDES.get(d["side"]) if d["side"].__class__ is str else None
                price, size = numbers([d["bkPx"], d["sz"]])
                if side is None or not (0.0 < price < _INF and 0.0 < size < _INF):
                    raise ValueError(f"side {d['side']!r}, bkPx {d['bkPx']!r}, sz {d['sz']!r}")
                out.append(
                    Liquidation(_EXCHANGE, inst, _ts(d["ts"]), received_at, side, price, size)
                )
        except Exception as exc:
            del out[mark:]
            problem = f"okx {channel} {inst}: data[{i}]: {_describe(exc)}"
            out.append(ParseError(problem, excerpt(frame), channel, inst))
