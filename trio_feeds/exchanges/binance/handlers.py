"""Per-stream handlers (the hot path): one closure per stream name, building records directly."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from trio_feeds.core.fast import new_book as _new_book
from trio_feeds.core.fast import new_candle as _new_candle
from trio_feeds.core.fast import new_delta as _new_delta
from trio_feeds.core.fast import new_quote as _new_quote
from trio_feeds.core.fast import new_ticker as _new_ticker
from trio_feeds.core.fast import new_trade as _new_trade
from trio_feeds.core.records import Book, BookDelta, Candle, Quote, Side, Ticker, Trade
from trio_feeds.exchanges.binance.streams import (
    _INF,
    _MAX_ID,
    _MAX_TS,
    _UNSET,
    NAME,
    Handler,
    QuoteHandler,
    TypedHandler,
    _Depth,
    _Invalid,
    _Quote,
    _set,
)
from trio_feeds.protocol._events import (
    ServerShutdown,
)
from trio_feeds.protocol._rules import numbers, parse_sides

__all__: list[str] = []


# --------------------------------------------------------------------------- handlers
# Each applies the validation rule (``_rules``) inline: a failed check raises _Invalid and
# the diagnosis names the field.  Numbers arrive as strings; a JSON number is read too, a
# JSON true/false never (float(True) would be 1.0).


def _raw(handler: Handler) -> Handler:
    """``handler`` attaching the payload to each record as ``raw``."""

    def handle_raw(d: Any, r: float) -> object:
        rec = handler(d, r)
        _set(rec, "raw", d)
        return rec

    return handle_raw


def _trade_handler(symbol: str, id_key: str, exchange: str = NAME) -> Handler:
    trade = _new_trade
    f = float
    ex = exchange
    inf, max_ts, max_id = _INF, _MAX_TS, _MAX_ID
    last_p: object = _UNSET  # the previous price string and its float: trades often repeat it
    price = 0.0

    def handle(d: Any, r: float) -> Trade:
        nonlocal last_p, price
        p = d["p"]
        if p != last_p:
            x = f(p)
            if not 0.0 < x < inf or p is True:  # (false gives 0.0: refused anyway)
                raise _Invalid
            price = x
            last_p = p if p.__class__ is str else _UNSET  # never equal to true
        q = d["q"]
        amount = f(q)
        ts = d["T"]
        tid = d[id_key]
        m = d["m"]
        if not (
            0.0 < amount < inf
            and ts.__class__ is int
            and tid.__class__ is int
            and (ts | tid) >= 0  # neither is negative
            and ts < max_ts
            and tid < max_id
            and q is not True  # (false gives 0.0: refused anyway)
        ):
            raise _Invalid
        if m is True:  # buyer is maker: the taker sold
            side: Side = "sell"
        elif m is False:
            side = "buy"
        else:
            raise _Invalid
        return trade(ex, symbol, ts, r, price, amount, side, str(tid))

    return handle


def _book_ticker_handler(symbol: str, exchange: str = NAME, event_time: bool = False) -> Handler:
    """Spot ``bookTicker`` has no event time (the receive time stands in); USD-M's has ``E``
    (``event_time=True``: use it)."""
    quote = _new_quote
    max_ts = _MAX_TS
    f = float
    ex = exchange
    inf, max_id = _INF, _MAX_ID
    # Top-of-book prices repeat in ~95% of consecutive BTCUSDT frames, sizes in ~50%
    # (2024 capture): comparing with the previous string is ~8x cheaper than float().
    # Only strings are remembered (so JSON true never equals a remembered 1).
    lb: object = _UNSET
    lbs: object = _UNSET
    la: object = _UNSET
    las: object = _UNSET
    bid = bid_size = ask = ask_size = 0.0
    last_r = -1.0
    ts = 0

    def handle(d: Any, r: float) -> Quote:
        nonlocal lb, lbs, la, las, bid, bid_size, ask, ask_size, last_r, ts
        v = d["b"]
        if v != lb:
            x = f(v)
            if not 0.0 <= x < inf or v.__class__ is bool:
                raise _Invalid
            bid = x
            lb = v if v.__class__ is str else _UNSET
        v = d["B"]
        if v != lbs:
            x = f(v)
            if not 0.0 <= x < inf or v.__class__ is bool:
                raise _Invalid
            bid_size = x
            lbs = v if v.__class__ is str else _UNSET
        v = d["a"]
        if v != la:
            x = f(v)
            if not 0.0 <= x < inf or v.__class__ is bool:
                raise _Invalid
            ask = x
            la = v if v.__class__ is str else _UNSET
        v = d["A"]
        if v != las:
            x = f(v)
            if not 0.0 <= x < inf or v.__class__ is bool:
                raise _Invalid
            ask_size = x
            las = v if v.__class__ is str else _UNSET
        u = d["u"]
        if u.__class__ is not int or not 0 <= u < max_id:
            raise _Invalid
        if event_time:
            e = d["E"]
            if e.__class__ is not int or not 0 <= e < max_ts:
                raise _Invalid
            return quote(ex, symbol, e, r, bid, bid_size, ask, ask_size, u, True)
        if r != last_r:  # one receive time per socket read: convert it once
            ts = int(r * 1000)
            last_r = r
        return quote(ex, symbol, ts, r, bid, bid_size, ask, ask_size, u, False)

    return handle


def _ticker_handler(symbol: str, exchange: str = NAME) -> Handler:
    max_ts = _MAX_TS

    def handle(d: Any, r: float) -> Ticker:
        ts = d["E"]
        c, b, a, v, o, h, lo, q, bs, as_ = nums = numbers(
            [d["c"], d["b"], d["a"], d["v"], d["o"], d["h"], d["l"], d["q"], d["B"], d["A"]]
        )
        # every ticker number is a price or a size: >= 0 (a price of 0: none)
        if not (ts.__class__ is int and 0 <= ts < max_ts and min(nums) >= 0.0):
            raise _Invalid
        return _new_ticker(
            exchange, symbol, ts, r, price=c, bid=b, ask=a, volume=v, open=o, high=h, low=lo,
            quote_volume=q, bid_size=bs, ask_size=as_,
        )  # fmt: skip

    return handle


def _partial_depth_handler(symbol: str, exchange: str = NAME) -> Handler:
    max_id = _MAX_ID

    def handle(d: Any, r: float) -> Book:
        seq = d["lastUpdateId"]
        if seq.__class__ is not int or not 0 <= seq < max_id:
            raise _Invalid
        bids, asks = parse_sides(d["bids"], d["asks"], "bids", "asks", pairs=True)
        return _new_book(exchange, symbol, int(r * 1000), r, bids, asks, seq, False)

    return handle


def _diff_depth_handler(symbol: str, exchange: str = NAME) -> Handler:
    max_ts, max_id = _MAX_TS, _MAX_ID

    def handle(d: Any, r: float) -> BookDelta:
        ts = d["E"]
        first = d["U"]
        last = d["u"]
        if not (
            ts.__class__ is int
            and 0 <= ts < max_ts
            and first.__class__ is int
            and 0 <= first < max_id
            and last.__class__ is int
            and 0 <= last < max_id
        ):
            raise _Invalid
        bids, asks = parse_sides(d["b"], d["a"], "b", "a", pairs=True)
        return _new_delta(exchange, symbol, ts, r, bids, asks, False, last, first_sequence=first)

    return handle


def _typed_partial_handler(symbol: str, exchange: str = NAME) -> TypedHandler:
    """:func:`_partial_depth_handler` for a :class:`_Depth` (levels checked by msgspec)."""

    def handle(d: _Depth, r: float) -> Book | None:
        seq, bids, asks = d.lastUpdateId, d.bids, d.asks
        if seq.__class__ is not int or seq < 0 or bids is None or asks is None:
            return None
        return _new_book(exchange, symbol, int(r * 1000), r, bids, asks, seq, False)

    return handle


def _typed_diff_handler(symbol: str, exchange: str = NAME) -> TypedHandler:
    """:func:`_diff_depth_handler` for a :class:`_Depth` (levels checked by msgspec)."""
    max_ts = _MAX_TS

    def handle(d: _Depth, r: float) -> BookDelta | None:
        ts, first, last, b, a = d.E, d.U, d.u, d.b, d.a
        if not (
            ts.__class__ is int
            and 0 <= ts < max_ts
            and first.__class__ is int
            and first >= 0
            and last.__class__ is int
            and last >= 0
            and b is not None
            and a is not None
        ):
            return None
        return _new_delta(exchange, symbol, ts, r, b, a, False, last, first_sequence=first)

    return handle


def _typed_book_ticker_handler(symbol: str, exchange: str = NAME) -> QuoteHandler:
    """:func:`_book_ticker_handler` (Spot: no event time) for a :class:`_Quote` (numbers
    checked by msgspec)."""
    quote = _new_quote
    max_id = _MAX_ID
    last_r = -1.0
    ts = 0

    def handle(d: _Quote, r: float) -> Quote | None:
        nonlocal last_r, ts
        u, b, bs, a, az = d.u, d.b, d.B, d.a, d.A
        if (
            u.__class__ is not int
            or not 0 <= u < max_id
            or b is None
            or bs is None
            or a is None
            or az is None
            # msgspec reads "-0" as 0.0 where float() gives -0.0: zeros take the string path
            or not (b and bs and a and az)
        ):
            return None
        if r != last_r:  # one receive time per socket read: convert it once
            ts = int(r * 1000)
            last_r = r
        return quote(exchange, symbol, ts, r, b, bs, a, az, u, False)

    return handle


#: kind -> (symbol, exchange) -> typed handler of a small frame (``bookTicker``)
_QUICK: Final[dict[str, Callable[[str, str], QuoteHandler]]] = {
    "bookTicker": _typed_book_ticker_handler,
}

_TYPED: Final[dict[str, Callable[[str, str], TypedHandler]]] = {
    "depth_partial": _typed_partial_handler,
    "depth_diff": _typed_diff_handler,
}


def _kline_handler(symbol: str, exchange: str = NAME) -> Handler:
    max_ts, max_id = _MAX_TS, _MAX_ID

    def handle(d: Any, r: float) -> Candle:
        ts = d["E"]
        k = d["k"]
        start = k["t"]
        interval = k["i"]
        trades = k["n"]
        closed = k["x"]
        o, h, lo, c, v, q = numbers([k["o"], k["h"], k["l"], k["c"], k["v"], k["q"]])
        if not (
            ts.__class__ is int
            and 0 <= ts < max_ts
            and start.__class__ is int
            and 0 <= start < max_ts
            and trades.__class__ is int
            and 0 <= trades < max_id
            and interval.__class__ is str
            and (closed is True or closed is False)
            and min(o, h, lo, c) > 0.0
            and v >= 0.0
            and q >= 0.0
        ):
            raise _Invalid
        return _new_candle(
            exchange, symbol, ts, r, start, interval, o, h, lo, c, v, closed,
            quote_volume=q, trades=trades,
        )  # fmt: skip

    return handle


def _shutdown_handler(d: Any, r: float) -> ServerShutdown:
    when = d.get("E") if isinstance(d, dict) else None
    return ServerShutdown("serverShutdown", f"Binance serverShutdown (E={when})", r)


def _make_handler(kind: str, symbol: str, keep_raw: bool, exchange: str = NAME) -> Handler:
    if kind == "trade":
        handler = _trade_handler(symbol, "t", exchange)
    elif kind == "aggTrade":
        handler = _trade_handler(symbol, "a", exchange)
    elif kind == "bookTicker":
        handler = _book_ticker_handler(symbol, exchange)
    elif kind == "ticker":
        handler = _ticker_handler(symbol, exchange)
    elif kind == "depth_partial":
        handler = _partial_depth_handler(symbol, exchange)
    elif kind == "depth_diff":
        handler = _diff_depth_handler(symbol, exchange)
    elif kind == "kline":
        handler = _kline_handler(symbol, exchange)
    else:  # pragma: no cover
        raise AssertionError(kind)
    return _raw(handler) if keep_raw else handler
