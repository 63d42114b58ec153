"""What the simulated Binance keeps per stream, connection and symbol; its protocol constants."""

from __future__ import annotations

import re

import attrs

from trio_feeds.simulator.market import SymbolUpdate
from trio_feeds.simulator.server import _RateWindow

__all__ = ["_ConnState", "_DiffBuf", "_Reject", "_Stream", "_SymState"]

_STREAM = re.compile(
    r"^([a-z0-9]+)@(trade|aggTrade|ticker|miniTicker|bookTicker|kline_1m"
    r"|depth(?:5|10|20)?(?:@100ms|@1000ms)?)$"
)
_ID_STR = re.compile(r"^[A-Za-z0-9_-]{1,36}$")
_METHODS = ("SUBSCRIBE", "UNSUBSCRIBE", "LIST_SUBSCRIPTIONS", "SET_PROPERTY", "GET_PROPERTY")
_INVALID_STREAM = "Invalid request: invalid stream"
_JSON = [("content-type", "application/json;charset=UTF-8")]


@attrs.frozen
class _Stream:
    name: str
    symbol: str  # canonical
    kind: str  # trade, aggTrade, ticker, miniTicker, bookTicker, kline_1m, depth, partial
    cadence: float  # seconds, for depth kinds
    levels: int  # partial depth levels


@attrs.frozen
class _Reject:
    symbol: str | None
    channel: str | None
    code: int | None


@attrs.define
class _ConnState:
    combined: bool
    tmul: int
    rate: _RateWindow


class _DiffBuf:
    __slots__ = ("asks", "bids", "first", "last", "prev")

    def __init__(self) -> None:
        self.first: int | None = None
        self.last = 0
        #: ``u`` of the last diff built from this buffer (USD-M's ``pu``)
        self.prev = 0
        self.bids: dict[int, int] = {}
        self.asks: dict[int, int] = {}

    def add(self, up: SymbolUpdate) -> None:
        if self.first is None:
            self.first = up.first_update_id
        self.last = up.last_update_id
        bids, asks = self.bids, self.asks
        for c in up.changes:
            (bids if c.is_bid else asks)[c.price] = c.size

    def reset(self) -> None:
        if self.first is not None:
            self.prev = self.last
        self.first = None
        self.bids = {}
        self.asks = {}


class _SymState:
    def __init__(self, symbol: str, agg_id: int, cadences: tuple[float, ...] = (0.1, 1.0)) -> None:
        self.symbol = symbol
        self.agg_id = agg_id
        self.bufs = {c: _DiffBuf() for c in cadences}


#: stream kind -> (price keys, size keys) for the "nan" / "negative" faults
_DAMAGE: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "trade": (("p",), ("q",)),
    "aggTrade": (("p",), ("q",)),
    "bookTicker": (("b", "a"), ("B", "A")),
    "ticker": (("c",), ("v",)),
    "depth": (("b", "a"), ("b", "a")),
    "partial": (("bids", "asks"), ("bids", "asks")),
}
