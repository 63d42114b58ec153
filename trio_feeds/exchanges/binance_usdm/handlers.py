"""Handlers of the USD-M streams whose payloads differ from spot's (the hot path).

Each builds the record straight from the decoded payload and raises on anything the
validation rule refuses (the adapter's careful path then names the field).
"""

from __future__ import annotations

from typing import Any

from trio_feeds.core.fast import new_book as _new_book
from trio_feeds.core.fast import new_delta as _new_delta
from trio_feeds.core.records import (
    Book,
    BookDelta,
    Funding,
    Liquidation,
    MarkPrice,
    Side,
)
from trio_feeds.exchanges.binance.handlers import (
    _book_ticker_handler,
    _make_handler,
    _raw,
)
from trio_feeds.exchanges.binance.streams import _INF, _MAX_ID, _MAX_TS, Handler, _Invalid
from trio_feeds.exchanges.binance_usdm.streams import NAME
from trio_feeds.protocol._rules import parse_sides

__all__ = ["make_handler"]

_SIDES: dict[str, Side] = {"BUY": "buy", "SELL": "sell"}


def _ts(v: Any) -> int:
    if v.__class__ is not int or not 0 <= v < _MAX_TS:
        raise _Invalid
    return int(v)


def _id(v: Any) -> int:
    if v.__class__ is not int or not 0 <= v < _MAX_ID:
        raise _Invalid
    return int(v)


def _positive(v: Any) -> float:
    if v.__class__ is not str:
        raise _Invalid
    x = float(v)
    if not 0.0 < x < _INF:
        raise _Invalid
    return x


def _diff_depth_handler(symbol: str, exchange: str) -> Handler:
    """``depthUpdate``: ``U``/``u`` and ``pu`` (the previous event's ``u``: the chain)."""

    def handle(d: Any, r: float) -> BookDelta:
        ts, first, last, prev = _ts(d["E"]), _id(d["U"]), _id(d["u"]), _id(d["pu"])
        bids, asks = parse_sides(d["b"], d["a"], "b", "a", pairs=True)
        return _new_delta(
            exchange, symbol, ts, r, bids, asks, False, last,
            prev_sequence=prev, first_sequence=first,
        )  # fmt: skip

    return handle


def _partial_depth_handler(symbol: str, exchange: str) -> Handler:
    """USD-M partial depth: the diff's shape (``E``, ``u``), the top levels only."""

    def handle(d: Any, r: float) -> Book:
        ts, seq = _ts(d["E"]), _id(d["u"])
        bids, asks = parse_sides(d["b"], d["a"], "b", "a", pairs=True)
        return _new_book(exchange, symbol, ts, r, bids, asks, seq, True)

    return handle


def _funding_handler(symbol: str, exchange: str) -> Handler:
    def handle(d: Any, r: float) -> Funding:
        rate = d["r"]
        if rate.__class__ is not str:
            raise _Invalid
        x = float(rate)
        if not -1.0 < x < 1.0:  # a fraction per interval; also refuses NaN
            raise _Invalid
        return Funding(exchange, symbol, _ts(d["E"]), r, x, _ts(d["T"]))

    return handle


def _mark_handler(symbol: str, exchange: str) -> Handler:
    def handle(d: Any, r: float) -> MarkPrice:
        index = d.get("i")
        idx = None if index in (None, "", "0", "0.00000000") else _positive(index)
        return MarkPrice(exchange, symbol, _ts(d["E"]), r, _positive(d["p"]), idx)

    return handle


def _liquidation_handler(symbol: str, exchange: str) -> Handler:
    """``forceOrder``: ``o.S`` side of the liquidation order, ``o.p`` its (bankruptcy)
    price, ``o.q`` its quantity (base currency), ``o.T`` its time."""

    def handle(d: Any, r: float) -> Liquidation:
        o = d["o"]
        side = _SIDES.get(o["S"]) if o["S"].__class__ is str else None
        if side is None:
            raise _Invalid
        return Liquidation(
            exchange, symbol, _ts(o["T"]), r, side, _positive(o["p"]), _positive(o["q"])
        )

    return handle


_PERP_HANDLERS = {
    "depth_diff": _diff_depth_handler,
    "depth_partial": _partial_depth_handler,
    "funding": _funding_handler,
    "mark": _mark_handler,
    "liquidation": _liquidation_handler,
}


def make_handler(kind: str, symbol: str, keep_raw: bool, exchange: str = NAME) -> Handler:
    """The handler of a USD-M stream kind (spot's where the payload is the same)."""
    factory = _PERP_HANDLERS.get(kind)
    if factory is not None:
        handler = factory(symbol, exchange)
    elif kind == "bookTicker":
        handler = _book_ticker_handler(symbol, exchange, event_time=True)
    else:
        return _make_handler(kind, symbol, keep_raw, exchange)
    return _raw(handler) if keep_raw else handler
