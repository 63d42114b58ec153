"""Bybit pushes → records: the data half of :class:`~.adapter.BybitAdapter` (a mixin)."""

from __future__ import annotations

from typing import Any, Final

from trio_feeds.core.fast import new_book, new_candle, new_delta, new_quote, new_ticker, new_trade
from trio_feeds.exchanges._shared import levels, price, size
from trio_feeds.exchanges.bybit._perps import perp_records
from trio_feeds.protocol import Subscription

#: Bybit kline interval → the interval name in ``Candle.interval``
KLINE_INTERVALS: Final[dict[str, str]] = {
    "1": "1m", "3": "3m", "5": "5m", "15": "15m", "30": "30m", "60": "1h", "120": "2h",
    "240": "4h", "360": "6h", "720": "12h", "D": "1d", "W": "1w", "M": "1M",
}  # fmt: skip

_NAME: Final = "bybit"
_SIDES: Final = {"Buy": "buy", "Sell": "sell"}
_BOOL: Final = {True: True, False: False}


class PushHandlers:
    """Handlers ``(topic, symbol, message, received_at, out)``; raise on a bad push."""

    keep_raw: bool
    _wanted: dict[str, tuple[Subscription, ...]]
    _tickers: dict[str, dict[str, Any]]
    _level1: dict[str, tuple[dict[float, float], dict[float, float]]]

    def _on_trades(
        self, topic: str, symbol: str, msg: dict[str, Any], received_at: float, out: list[Any]
    ) -> None:
        data = msg["data"]
        if data.__class__ is not list:
            raise TypeError("'data' is not a list")
        keep_raw = self.keep_raw
        for d in data:
            tid = d["i"]
            if tid.__class__ is int:
                tid = str(tid)
            elif tid.__class__ is not str or not tid:
                raise TypeError(f"trade id {tid!r} is neither a string nor an integer")
            rec = new_trade(
                _NAME, symbol, _ms(d["T"]), received_at, price(d["p"]), size(d["v"], "amount"),
                _SIDES[d["S"]], tid,
            )  # fmt: skip
            if keep_raw:
                object.__setattr__(rec, "raw", d)
            out.append(rec)

    def _on_tickers(
        self, topic: str, symbol: str, msg: dict[str, Any], received_at: float, out: list[Any]
    ) -> None:
        data = msg["data"]
        if data.__class__ is not dict:
            raise TypeError("'data' is not an object")
        kind = msg.get("type", "snapshot")
        if kind == "snapshot":
            state = dict(data)
        elif kind == "delta":
            old = self._tickers.get(topic)
            if old is None:
                raise ValueError("a ticker delta before any snapshot (nothing to merge into)")
            state = {**old, **data}
        else:
            raise ValueError(f"'type' is {kind!r}, expected 'snapshot' or 'delta'")
        subs = self._wanted.get(topic, ())
        channels = {x.channel for x in subs} if subs else {"ticker"}
        ts = _ms(msg["ts"])
        records: list[Any] = []
        if "ticker" in channels:
            records.append(self._ticker(symbol, ts, received_at, state))
        if len(channels) > 1 or "ticker" not in channels:  # linear: funding, mark, OI
            changed = data if kind == "delta" else None
            records.extend(perp_records(channels, symbol, ts, received_at, state, changed))
        self._tickers[topic] = state  # only once the merged state proved usable
        if self.keep_raw:
            for rec in records:
                object.__setattr__(rec, "raw", msg)
        out.extend(records)

    @staticmethod
    def _ticker(symbol: str, ts: int, received_at: float, state: dict[str, Any]) -> Any:
        bid = state.get("bid1Price")
        ask = state.get("ask1Price")
        bid_size = state.get("bid1Size")
        ask_size = state.get("ask1Size")
        return new_ticker(
            _NAME, symbol, ts, received_at,
            price(state["lastPrice"], "lastPrice"),
            price(bid, "bid1Price") if bid else 0.0,  # spot tickers carry no best bid/ask
            price(ask, "ask1Price") if ask else 0.0,
            size(state["volume24h"], "volume24h"),
            price(state["prevPrice24h"], "prevPrice24h"),
            price(state["highPrice24h"], "highPrice24h"),
            price(state["lowPrice24h"], "lowPrice24h"),
            size(state["turnover24h"], "turnover24h"),
            size(bid_size, "bid1Size") if bid_size else None,
            size(ask_size, "ask1Size") if ask_size else None,
        )  # fmt: skip

    def _on_level1(
        self, topic: str, symbol: str, msg: dict[str, Any], received_at: float, out: list[Any]
    ) -> None:
        """``orderbook.1``: snapshots (a delta, should one come, is applied to the last)."""
        d = msg["data"]
        b, a = d["b"], d["a"]
        seq = _int(d["u"], "u")
        kind = msg.get("type")
        if (
            kind == "snapshot"
            and b.__class__ is list
            and a.__class__ is list
            and len(b) == len(a) == 1
        ):
            bid, ask = _one_level(b[0], "bid"), _one_level(a[0], "ask")  # the usual push
            book = ({bid[0]: bid[1]} if bid[1] else {}, {ask[0]: ask[1]} if ask[1] else {})
        else:
            bids, asks = levels(b), levels(a)
            if kind == "snapshot":
                book = ({p: s for p, s in bids if s}, {p: s for p, s in asks if s})
            elif kind == "delta" and topic in self._level1:
                book = self._level1[topic]
                for side, changes in ((book[0], bids), (book[1], asks)):
                    for p, s in changes:
                        if s:
                            side[p] = s
                        else:
                            side.pop(p, None)
            else:
                raise ValueError(f"'type' is {kind!r} (a level-1 delta needs a snapshot first)")
        self._level1[topic] = book
        bid = (
            max(book[0].items(), default=(0.0, 0.0))
            if len(book[0]) != 1
            else next(iter(book[0].items()))
        )
        ask = (
            min(book[1].items(), default=(0.0, 0.0))
            if len(book[1]) != 1
            else next(iter(book[1].items()))
        )
        ts = _ms(msg["ts"])
        as_quote, as_book = self._roles(topic)
        raw = msg if self.keep_raw else None
        if as_quote:
            out.append(new_quote(_NAME, symbol, ts, received_at, *bid, *ask, seq, raw=raw))
        if as_book:
            book_bids = (bid,) if bid[0] else ()
            book_asks = (ask,) if ask[0] else ()
            out.append(new_book(_NAME, symbol, ts, received_at, book_bids, book_asks, seq, raw=raw))

    def _roles(self, topic: str) -> tuple[bool, bool]:
        """``orderbook.1``: (as a quote, as a book)."""
        subs = self._wanted.get(topic, ())
        return not subs or any(s.channel == "quote" for s in subs), any(
            s.channel == "book" for s in subs
        )

    def _on_book(
        self, topic: str, symbol: str, msg: dict[str, Any], received_at: float, out: list[Any]
    ) -> None:
        kind = msg["type"]
        if kind != "snapshot" and kind != "delta":
            raise ValueError(f"'type' is {kind!r}, expected 'snapshot' or 'delta'")
        d = msg["data"]
        rec = new_delta(
            _NAME, symbol, _ms(msg["ts"]), received_at, levels(d["b"]), levels(d["a"]),
            kind == "snapshot", _int(d["u"], "u"),
        )  # fmt: skip
        if self.keep_raw:
            object.__setattr__(rec, "raw", msg)
        out.append(rec)

    def _on_kline(
        self, topic: str, symbol: str, msg: dict[str, Any], received_at: float, out: list[Any]
    ) -> None:
        data = msg["data"]
        if data.__class__ is not list:
            raise TypeError("'data' is not a list")
        ts = _ms(msg["ts"])
        for d in data:
            rec = new_candle(
                _NAME, symbol, ts, received_at, _ms(d["start"]), KLINE_INTERVALS[d["interval"]],
                price(d["open"], "open"), price(d["high"], "high"), price(d["low"], "low"),
                price(d["close"], "close"), size(d["volume"], "volume"), _BOOL[d["confirm"]],
                size(d["turnover"], "turnover"),
            )  # fmt: skip
            if self.keep_raw:
                object.__setattr__(rec, "raw", d)
            out.append(rec)


def _one_level(level: Any, side: str) -> tuple[float, float]:
    if level.__class__ is not list or len(level) != 2:
        raise ValueError(f"{side} level {level!r} is not a [price, size] list")
    return price(level[0], f"{side} price"), size(level[1], f"{side} size")


def _ms(value: Any) -> int:
    """A Unix-ms time: a JSON integer (or a digit string)."""
    if value.__class__ is int:
        return int(value)
    if value.__class__ is str and value.isdigit():
        return int(value)
    raise TypeError(f"time {value!r} is not an integer of milliseconds")


def _int(value: Any, what: str) -> int:
    if value.__class__ is int:
        return int(value)
    raise TypeError(f"{what} {value!r} is not an integer")
