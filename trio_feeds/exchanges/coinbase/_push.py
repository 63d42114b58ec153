"""Coinbase pushes → records: the data half of :class:`~.adapter.CoinbaseAdapter` (a mixin)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

import attrs

from trio_feeds.core.fast import new_candle, new_delta, new_quote, new_ticker, new_trade
from trio_feeds.core.records import Candle, Trade
from trio_feeds.exchanges._shared import iso_ms, price, size
from trio_feeds.exchanges.coinbase import facts
from trio_feeds.protocol import Subscription

_NAME: Final = facts.NAME
_TAKER: Final = {"BUY": "sell", "SELL": "buy"}  # maker's side → taker's side


class PushHandlers:
    """Handlers ``(event, timestamp ms, sequence_num, received_at, out)``; raise on a bad
    event.  ``level2`` updates are linked per product through ``_l2_last``."""

    keep_raw: bool
    _wanted: dict[tuple[str, str], tuple[Subscription, ...]]
    _l2_last: dict[str, int]
    _candles: dict[tuple[str, str], Candle]
    _label: Callable[[str, str], tuple[str, ...]]

    def _on_trades(
        self, ev: Any, ts: int, seq: int | None, received_at: float, out: list[Any]
    ) -> None:
        recs: list[Trade] = []
        keep_raw = self.keep_raw
        for t in ev["trades"]:
            tid = t["trade_id"]
            if tid.__class__ is int:
                tid = str(tid)
            elif tid.__class__ is not str:
                raise TypeError(f"trade_id {tid!r} is neither a string nor an integer")
            side = _TAKER[t["side"]]
            args = (iso_ms(t["time"]), received_at, price(t["price"]), size(t["size"]), side, tid)
            for name in self._label("market_trades", t["product_id"]):
                rec = new_trade(_NAME, name, *args)
                if keep_raw:
                    object.__setattr__(rec, "raw", t)
                recs.append(rec)
        if len(recs) > 1:  # snapshots come newest first: deliver in trade order
            recs.sort(key=_trade_order)
        out.extend(recs)

    def _on_ticker(
        self, channel: str, ev: Any, ts: int, seq: int | None, received_at: float, out: list[Any]
    ) -> None:
        for t in ev["tickers"]:
            product = t["product_id"]
            last = price(t["price"])
            change = float(t["price_percent_chg_24_h"])  # percent, e.g. "-1.25"
            if not -100.0 < change < float("inf"):
                raise ValueError(f"price_percent_chg_24_h {change!r} is out of range")
            bid, ask = t.get("best_bid"), t.get("best_ask")
            bid_size, ask_size = t.get("best_bid_quantity"), t.get("best_ask_quantity")
            bid_px = price(bid, "best_bid") if bid else 0.0
            ask_px = price(ask, "best_ask") if ask else 0.0
            bid_sz = size(bid_size, "best_bid_quantity") if bid_size else None
            ask_sz = size(ask_size, "best_ask_quantity") if ask_size else None
            volume = size(t["volume_24_h"], "volume_24_h")
            high, low = price(t["high_24_h"], "high_24_h"), price(t["low_24_h"], "low_24_h")
            roles = {s.channel for k in self._wanted_keys(channel, product) for s in k}
            raw = t if self.keep_raw else None
            for name in self._label(channel, product):
                if "ticker" in roles or not roles:
                    rec: Any = new_ticker(
                        _NAME, name, ts, received_at, last, bid_px, ask_px, volume,
                        last / (1.0 + change / 100.0), high, low, 0.0, bid_sz, ask_sz, raw=raw,
                    )  # fmt: skip
                    out.append(rec)
                if "quote" in roles:
                    if not (bid and ask and bid_size is not None and ask_size is not None):
                        raise ValueError("a quote needs best_bid, best_ask and their quantities")
                    rec = new_quote(_NAME, name, ts, received_at, bid_px, bid_sz, ask_px,
                                    ask_sz, raw=raw)  # fmt: skip
                    out.append(rec)

    def _wanted_keys(self, channel: str, product: str) -> list[tuple[Subscription, ...]]:
        found = [self._wanted.get((channel, product), ())]
        if product.endswith("-USD"):
            found.append(self._wanted.get((channel, product + "C"), ()))
        return found

    def _on_l2(self, ev: Any, ts: int, seq: int | None, received_at: float, out: list[Any]) -> None:
        kind = ev["type"]
        product = ev["product_id"]
        if kind != "snapshot" and kind != "update":
            raise ValueError(f"'type' is {kind!r}, expected 'snapshot' or 'update'")
        bids: list[tuple[float, float]] = []
        asks: list[tuple[float, float]] = []
        for u in ev["updates"]:
            level = (
                price(u["price_level"], "price_level"),
                size(u["new_quantity"], "new_quantity"),
            )
            side = u["side"]
            if side == "bid":
                bids.append(level)
            elif side == "offer" or side == "ask":
                asks.append(level)
            else:
                raise ValueError(f"side {side!r} is neither 'bid' nor 'offer'")
        snapshot = kind == "snapshot"
        # prev_sequence links the updates of one product: None means continuity is unknown
        prev = None if snapshot else self._l2_last.get(product)
        if seq is None:
            self._l2_last.pop(product, None)
        else:
            self._l2_last[product] = seq
        raw = ev if self.keep_raw else None
        b, a = tuple(bids), tuple(asks)
        out.extend(
            new_delta(_NAME, name, ts, received_at, b, a, snapshot, seq, prev, raw=raw)
            for name in self._label("level2", product)
        )

    def _on_candles(
        self, ev: Any, ts: int, seq: int | None, received_at: float, out: list[Any]
    ) -> None:
        candles = sorted(ev["candles"], key=lambda c: int(c["start"]))
        for c in candles:
            product = c["product_id"]
            start = int(c["start"]) * 1000
            values = (
                price(c["open"], "open"), price(c["high"], "high"), price(c["low"], "low"),
                price(c["close"], "close"), size(c["volume"], "volume"),
            )  # fmt: skip
            raw = c if self.keep_raw else None
            for name in self._label("candles", product):
                last = self._candles.get((product, name))
                closed = last is not None and start < last.start
                if last is not None and start > last.start:  # a new bucket: the last is final
                    out.append(attrs.evolve(last, timestamp=ts, received_at=received_at,
                                            closed=True))  # fmt: skip
                rec = new_candle(_NAME, name, ts, received_at, start, facts.CANDLE_INTERVAL,
                                 *values, closed, raw=raw)  # fmt: skip
                if not closed:
                    self._candles[(product, name)] = rec
                out.append(rec)


def _trade_order(t: Trade) -> tuple[int, int, str]:
    tid = t.trade_id
    return (t.timestamp, int(tid) if tid.isdigit() else -1, tid)
