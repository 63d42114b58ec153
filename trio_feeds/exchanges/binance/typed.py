"""The Binance adapter's receive loop and its msgspec paths (see the speed notes of
:mod:`.adapter`)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from trio_feeds.exchanges.binance.streams import (
    _QUOTE_MAX_SIZE,
    _TYPED_MIN_SIZE,
    Handler,
    QuoteHandler,
    TypedHandler,
    _decode_depth,
    _decode_quote,
    _loads,
)
from trio_feeds.protocol._events import ParseError
from trio_feeds.protocol._typed import reads_as_strings_do

__all__: list[str] = []


class _TypedFrames:
    """The loop over a read's frames, and the frames msgspec decodes into typed structs
    (a part of :class:`~trio_feeds.exchanges.binance.adapter.BinanceAdapter`)."""

    _keep_raw: bool
    _handlers: dict[object, Handler]
    _typed: dict[str, TypedHandler]
    _quick: dict[str, QuoteHandler]

    if TYPE_CHECKING:

        def _parse_other(self, msg: Any, received_at: float, out: list[Any]) -> None: ...
        def _parse_error(self, frame: bytes | str, exc: BaseException) -> ParseError: ...

    def _parse_into(
        self, frames: Iterable[bytes | str], received_at: float, out: list[Any]
    ) -> None:
        handlers, quick, loads, append = self._handlers, self._quick, _loads, out.append
        decode_quote, typed_min, quote_max = _decode_quote, _TYPED_MIN_SIZE, _QUOTE_MAX_SIZE
        for frame in frames:
            n = len(frame)
            # Keep other frames off the typed paths cheaply: trade and quote frames are
            # shorter than _TYPED_MIN_SIZE, and a depth frame's last field is a level
            # array, so it ends in "]}}" (93 is "]"; a str frame gives a str).
            if n > typed_min and frame[-3] == 93:
                if self._parse_typed(frame, received_at, out):
                    continue
            elif (  # a Spot bookTicker frame, when one is subscribed: msgspec (speed notes)
                quick
                and 64 < n < quote_max  # (a real one is ~150 bytes)
                and frame.__class__ is bytes
                and frame[-3] == 34  # its last value is a string ('"}}'; a trade's is not)
                and frame.isascii()  # msgspec does not check the UTF-8 of skipped fields
            ):
                try:
                    msg = decode_quote(frame)
                    record = quick[msg.stream](msg.data, received_at)
                except Exception:  # the ordinary path names the problem
                    record = None
                if record is not None:
                    append(record)
                    continue
            try:
                msg = loads(frame)
                try:
                    handler = handlers[msg["stream"]]
                except (KeyError, TypeError):  # zero-cost unless raised: not known yet
                    self._parse_other(msg, received_at, out)
                    continue
                append(handler(msg["data"], received_at))
            except Exception as exc:
                append(self._parse_error(frame, exc))

    def _parse_typed(self, frame: bytes | str, received_at: float, out: list[Any]) -> bool:
        """A ``bytes`` depth frame through msgspec (module speed notes); False if not taken."""
        if (
            not isinstance(frame, bytes)
            or self._keep_raw
            or frame.find(b"@depth", 0, 64) < 0  # the stream name comes first
            or not reads_as_strings_do(frame)
        ):
            return False
        try:
            msg = _decode_depth(frame)
            record = self._typed[msg.stream](msg.data, received_at)
        except Exception:  # the ordinary path names the problem
            return False
        if record is None:
            return False
        out.append(record)
        return True
