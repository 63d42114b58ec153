"""OKX data pushes (the hot path): trades, tickers, bbo, books, candles into records.

:class:`PushParsers` is mixed into :class:`~trio_feeds.exchanges.okx.adapter.OkxAdapter`;
its methods are bound once per adapter into a channel -> handler table, so the split
costs nothing per frame.
"""

from __future__ import annotations

from typing import Any

from trio_feeds.core.fast import new_book as _new_book
from trio_feeds.core.fast import new_candle as _new_candle
from trio_feeds.core.fast import new_delta as _new_delta
from trio_feeds.core.fast import new_quote as _new_quote
from trio_feeds.core.fast import new_ticker as _new_ticker
from trio_feeds.core.fast import new_trade as _new_trade
from trio_feeds.exchanges.okx.frames import (
    _EXCHANGE,
    _INF,
    _MAX_DIGITS,
    _MAX_ID,
    _MAX_TS,
    _SIDES,
    TextLevels,
    _BookPush,
    _crc,
    _Invalid,
    _padded,
    _pairs,
    _seq,
    _set,
    _sides,
    _snapshot_text,
    _text_levels,
    _ts,
)
from trio_feeds.protocol._rules import numbers

__all__ = ["PushParsers"]


class PushParsers:
    """The OKX push parsers: ``(data, instId, message, received_at, out) -> None``.

    Each applies the validation rule (``_rules``) inline and raises on a break; the
    careful path (``_parse_slow``) then names the field (``_check_item``).
    """

    keep_raw: bool
    _bbo_as_book: set[str]
    _bbo_as_quote: set[str]
    #: instruments whose book snapshot showed padded numbers ("3366.10"), those that sent a
    #: non-zero checksum, and both: the ones whose every update keeps its texts
    _padded: set[str]
    _checksummed: set[str]
    _keep_texts: set[str]

    def _on_trades(
        self, data: Any, inst: str, msg: dict[str, Any], received_at: float, out: list[Any]
    ) -> None:
        append = out.append
        keep_raw = self.keep_raw
        f = float
        inf, max_ts, max_id, digits = _INF, _MAX_TS, _MAX_ID, _MAX_DIGITS
        for d in data:
            p = d["px"]
            q = d["sz"]
            price = f(p)
            amount = f(q)
            ts = d["ts"]
            t = int(ts) if ts.__class__ is str else ts
            tid = d["tradeId"]
            if tid.__class__ is str:
                if not (tid.isascii() and tid.isdigit() and len(tid) <= digits):
                    raise _Invalid
            elif tid.__class__ is int and 0 <= tid < max_id:
                tid = str(tid)
            else:
                raise _Invalid
            if not (
                0.0 < price < inf
                and 0.0 < amount < inf
                and t.__class__ is int
                and 0 <= t < max_ts
                and p is not True  # (false gives 0.0: refused anyway)
                and q is not True
            ):
                raise _Invalid
            rec = _new_trade(_EXCHANGE, inst, t, received_at, price, amount, _SIDES[d["side"]], tid)
            if keep_raw:
                _set(rec, "raw", d)
            append(rec)

    def _on_tickers(
        self, data: Any, inst: str, msg: dict[str, Any], received_at: float, out: list[Any]
    ) -> None:
        append = out.append
        keep_raw = self.keep_raw
        for d in data:
            inst_type = d.get("instType")
            spot = inst_type == "SPOT" or (inst_type is None and inst.count("-") == 1)
            bid_size = d.get("bidSz")
            ask_size = d.get("askSz")
            values = [
                d["last"], d["bidPx"], d["askPx"], d["open24h"], d["high24h"], d["low24h"],
                d["vol24h"], d["volCcy24h"],
            ]  # fmt: skip
            has_bs = bid_size is not None and bid_size != ""
            has_as = ask_size is not None and ask_size != ""
            if has_bs:
                values.append(bid_size)
            if has_as:
                values.append(ask_size)
            # "" is OKX's "none" (no trade yet, an empty book side): 0
            nums = numbers(values, empty=0.0)
            # every ticker number is a price or a size: >= 0
            if min(nums) < 0.0:
                raise _Invalid
            last, bid, ask, open_, high, low, vol, vol_ccy = nums[:8]
            bs = nums[8] if has_bs else None
            as_ = nums[-1] if has_as else None
            if spot:  # vol24h base ccy, volCcy24h quote ccy
                volume, quote_volume = vol, vol_ccy
            else:  # derivatives: vol24h contracts, volCcy24h base ccy; no quote volume (0)
                volume, quote_volume = vol_ccy, 0.0
            rec = _new_ticker(
                _EXCHANGE, inst, _ts(d["ts"]), received_at, last, bid, ask, volume,
                open_, high, low, quote_volume, bs, as_,
            )  # fmt: skip
            if keep_raw:
                _set(rec, "raw", d)
            append(rec)

    def _on_bbo(
        self, data: Any, inst: str, msg: dict[str, Any], received_at: float, out: list[Any]
    ) -> None:
        as_book = inst in self._bbo_as_book
        as_quote = not as_book or inst in self._bbo_as_quote
        append = out.append
        keep_raw = self.keep_raw
        for d in data:
            ts = _ts(d["ts"])
            seq = _seq(d.get("seqId"), "seqId")
            bids, asks = _sides(d["bids"], d["asks"])
            if as_quote:
                # an empty side is reported as price 0, size 0 (OKX's own "0" = none)
                bid_px, bid_sz = bids[0] if bids else (0.0, 0.0)
                ask_px, ask_sz = asks[0] if asks else (0.0, 0.0)
                quote = _new_quote(
                    _EXCHANGE, inst, ts, received_at, bid_px, bid_sz, ask_px, ask_sz, seq
                )
                if keep_raw:
                    _set(quote, "raw", d)
                append(quote)
            if as_book:
                book = _new_book(_EXCHANGE, inst, ts, received_at, bids, asks, seq)
                if keep_raw:
                    _set(book, "raw", d)
                append(book)

    def _on_books5(
        self, data: Any, inst: str, msg: dict[str, Any], received_at: float, out: list[Any]
    ) -> None:
        append = out.append
        keep_raw = self.keep_raw
        for d in data:
            bid_levels, ask_levels = _sides(d["bids"], d["asks"])
            rec = _new_book(
                _EXCHANGE,
                inst,
                _ts(d["ts"]),
                received_at,
                bid_levels,
                ask_levels,
                _seq(d.get("seqId"), "seqId"),
            )
            if keep_raw:
                _set(rec, "raw", d)
            append(rec)

    def _on_books(
        self, data: Any, inst: str, msg: dict[str, Any], received_at: float, out: list[Any]
    ) -> None:
        action = msg.get("action")
        if action == "update":
            snapshot = False
        elif action == "snapshot":
            snapshot = True
        else:
            raise ValueError(f"'action' is {action!r}, expected 'snapshot' or 'update'")
        append = out.append
        keep_raw = self.keep_raw
        padded = self._padded
        keep = self._keep_texts
        for d in data:
            bids = d["bids"]
            asks = d["asks"]
            checksum = _crc(d.get("checksum"))
            bid_levels, ask_levels = _sides(bids, asks)
            # the exchange's strings are kept when a checksum comes with them, and with
            # every snapshot: a later update may carry a non-zero checksum even after a
            # snapshot with checksum 0, and it is verified over these texts.  An instrument
            # that pads its numbers ("3366.10") and uses checksums keeps them on checksum-0
            # updates too: its floats written back would not give the next checksum.
            # (OKX sends checksum 0 only since 2026-06-23: such updates then skip them.)
            text: tuple[TextLevels, TextLevels] | None
            if checksum:
                text = (_text_levels(bids), _text_levels(asks))
                if inst not in keep:
                    self._checksummed.add(inst)
                    if inst in padded:
                        keep.add(inst)
            elif snapshot or inst in keep:
                text = _snapshot_text(bids, asks)
            else:
                text = None
            if snapshot and text is not None and inst not in padded and _padded(text):
                padded.add(inst)
                if inst in self._checksummed:
                    keep.add(inst)
            rec = _new_delta(
                _EXCHANGE,
                inst,
                _ts(d["ts"]),
                received_at,
                bid_levels,
                ask_levels,
                snapshot,
                _seq(d.get("seqId"), "seqId"),
                _seq(d.get("prevSeqId"), "prevSeqId"),
                None,
                checksum,
                text,
            )
            if keep_raw:
                _set(rec, "raw", d)
            append(rec)

    # -- typed book pushes (msgspec structs, see the speed notes at the top) -------------
    # Each mirrors its dict twin above and returns False (or raises) to send the frame
    # down the ordinary path instead (which also names whatever is wrong with it).  The
    # levels were checked by the constrained types; only the ids are left to check.

    def _typed_books(self, push: _BookPush, received_at: float, out: list[Any]) -> bool:
        action = push.action
        if action != "update":
            return False  # a snapshot keeps its texts: the ordinary path (rare)
        inst = push.arg.instId
        if inst in self._keep_texts:
            return False  # its updates keep their texts (see _on_books): the ordinary path
        append = out.append
        max_ts, max_id = _MAX_TS, _MAX_ID
        for d in push.data:
            checksum = d.checksum
            seq = d.seqId
            prev = d.prevSeqId
            ts = int(d.ts)
            if not (
                (checksum is None or (checksum.__class__ is int and checksum == 0))
                and seq.__class__ is int
                and prev.__class__ is int
                and -1 <= seq < max_id
                and -1 <= prev < max_id
                and 0 <= ts < max_ts
            ):  # the rule, or the other encodings it allows, through the helpers
                checksum = _crc(checksum)
                if checksum:
                    return False  # verifying it needs the exchange's own strings
                ts = _ts(d.ts)
                seq = _seq(seq, "seqId")
                prev = _seq(prev, "prevSeqId")
            append(
                _new_delta(
                    _EXCHANGE,
                    inst,
                    ts,
                    received_at,
                    _pairs(d.bids),
                    _pairs(d.asks),
                    False,
                    seq,
                    prev,
                    None,
                    checksum,
                )
            )
        return True

    def _typed_books5(self, push: _BookPush, received_at: float, out: list[Any]) -> bool:
        inst = push.arg.instId
        append = out.append
        max_ts, max_id = _MAX_TS, _MAX_ID
        for d in push.data:
            seq = d.seqId
            ts = int(d.ts)
            if not (seq.__class__ is int and -1 <= seq < max_id and 0 <= ts < max_ts):
                seq = _seq(seq, "seqId")
                ts = _ts(d.ts)
            append(_new_book(_EXCHANGE, inst, ts, received_at, _pairs(d.bids), _pairs(d.asks), seq))
        return True

    def _typed_bbo(self, push: _BookPush, received_at: float, out: list[Any]) -> bool:
        inst = push.arg.instId
        as_book = inst in self._bbo_as_book
        as_quote = not as_book or inst in self._bbo_as_quote
        append = out.append
        max_ts, max_id = _MAX_TS, _MAX_ID
        for d in push.data:
            seq = d.seqId
            ts = int(d.ts)
            if not (seq.__class__ is int and -1 <= seq < max_id and 0 <= ts < max_ts):
                seq = _seq(seq, "seqId")
                ts = _ts(d.ts)
            bids = d.bids
            asks = d.asks
            if as_quote:
                bid_px, bid_sz = (bids[0].price, bids[0].size) if bids else (0.0, 0.0)
                ask_px, ask_sz = (asks[0].price, asks[0].size) if asks else (0.0, 0.0)
                append(
                    _new_quote(
                        _EXCHANGE, inst, ts, received_at, bid_px, bid_sz, ask_px, ask_sz, seq
                    )
                )
            if as_book:
                append(_new_book(_EXCHANGE, inst, ts, received_at, _pairs(bids), _pairs(asks), seq))
        return True

    def _on_candle(
        self, data: Any, inst: str, msg: dict[str, Any], received_at: float, out: list[Any]
    ) -> None:
        interval = msg["arg"]["channel"][6:]  # "candle1m" -> "1m"
        received_ms = int(received_at * 1000)
        append = out.append
        keep_raw = self.keep_raw
        for d in data:
            if d.__class__ is not list:
                raise TypeError(f"a candle must be a list, got {type(d).__name__}")
            n = len(d)
            if n < 9 and n != 7:  # 7: before volCcyQuote and confirm were added
                raise ValueError(f"a candle has 9 elements, got {n}")
            # the push carries the interval's open time only (``start``): no event time,
            # so ``timestamp`` is the receive time, as for every record without one
            start = d[0]
            start = int(start) if start.__class__ is str else start
            if start.__class__ is not int or not 0 <= start < _MAX_TS:
                start = _ts(d[0])
            values = [d[1], d[2], d[3], d[4], d[5]]
            if n > 7:
                values.append(d[7])  # volCcyQuote
            o, h, lo, c, *volumes = numbers(values)
            if n > 8:
                confirm = d[8]
                if confirm != "0" and confirm != "1":
                    raise _Invalid
            if not (min(o, h, lo, c) > 0.0 and min(volumes) >= 0.0):
                raise _Invalid
            rec = _new_candle(
                _EXCHANGE,
                inst,
                received_ms,
                received_at,
                start,
                interval,
                o,
                h,
                lo,
                c,
                volumes[0],
                n > 8 and d[8] == "1",  # confirm
                volumes[1] if n > 7 else None,  # volCcyQuote
                None,
                False,
            )
            if keep_raw:
                _set(rec, "raw", d)
            append(rec)
