"""Binance stream names, the kinds they parse as, and the typed depth frame shapes."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, Final, TypeAlias

import msgspec
import orjson

from trio_feeds.core.errors import ConfigError
from trio_feeds.protocol import _rules as rules
from trio_feeds.protocol._typed import Int64, Price, Size

__all__ = ["KLINE_INTERVALS", "MAX_PARAMS_PER_REQUEST", "NAME", "Handler", "TypedHandler"]


NAME: Final = "binance"
#: Streams per SUBSCRIBE/UNSUBSCRIBE message.
MAX_PARAMS_PER_REQUEST: Final = 200
#: Handlers cached per adapter (stream names and bare ``(e, s)`` pairs) before caching stops.
_MAX_CACHED: Final = 4096

Handler = Callable[[Any, float], object]
"""``handler(payload, received_at) -> record or event``; raises on a bad payload."""

_loads = orjson.loads
_set = object.__setattr__  # to attach ``raw`` to a frozen record right after building it
_UNSET: Final = object()  # equal to no JSON value

_SHORT_INTERVALS = ("1s", "1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "8h", "12h")
KLINE_INTERVALS: Final = (*_SHORT_INTERVALS, "1d", "3d", "1w", "1M")

#: channel -> (default stream, accepted streams)
_STREAMS: Final[dict[str, tuple[str, tuple[str, ...]]]] = {
    "trade": ("trade", ("trade", "aggTrade")),
    "ticker": ("ticker", ("ticker",)),
    "quote": ("bookTicker", ("bookTicker",)),
    "book": (
        "depth@100ms",
        tuple(f"depth{n}{s}" for n in ("", "5", "10", "20") for s in ("", "@100ms")),
    ),
    "candle": ("kline_1m", tuple(f"kline_{i}" for i in KLINE_INTERVALS)),
}

_PARTIAL_RE: Final = re.compile(r"depth(5|10|20)(@\d+ms)?")
#: the stream name at the start of a combined-stream frame, even a cut one
_STREAM_PREFIX: Final = re.compile(rb'\s*\{\s*"stream"\s*:\s*"([A-Za-z0-9@_!:+-]{1,80})"')
_DIFF_RE: Final = re.compile(r"depth(@\d+ms)?")
_KLINE_RE: Final = re.compile(r"kline_[0-9]+[smhdwM](@[+-]\d{1,2}(:\d{2})?)?")

#: bare ``/ws`` event type ``e`` -> the stream-name suffix whose handler parses it.
_EVENT_STREAM: Final[dict[str, str]] = {
    "trade": "trade",
    "aggTrade": "aggTrade",
    "24hrTicker": "ticker",
    "depthUpdate": "depth",
    "kline": "kline_1m",
}


def _stream_kind(native: str) -> str | None:
    """``"depth10@100ms"`` -> ``"depth_partial"``; None for streams we do not parse."""
    if native in ("trade", "aggTrade", "ticker", "bookTicker"):
        return native
    if _PARTIAL_RE.fullmatch(native):
        return "depth_partial"
    if _DIFF_RE.fullmatch(native):
        return "depth_diff"
    if _KLINE_RE.fullmatch(native):
        return "kline"
    return None


class _Bad(Exception):
    """Internal: a frame we recognised as unusable; ``args[0]`` is the problem."""


class _Invalid(Exception):
    """Internal: a hot-path check of the validation rule failed; the diagnosis
    (:func:`_check`, through :mod:`._rules`) names the field."""


_INF: Final = rules.INF
_MAX_TS: Final = rules.MAX_TS
_MAX_ID: Final = rules.MAX_ID


# --------------------------------------------------------------------------- typed depth frames
# ``@depth*`` frames decoded by msgspec into these structs: level numbers become floats
# in C, checked against the validation rule by the constrained types.  Anything they do
# not describe raises, or leaves a needed field None or not an int, and the frame takes
# the ordinary path (which names the problem).

_Id: TypeAlias = Int64 | float | str | None
"""Only an ``int`` is used; a float or a string sends the frame down the ordinary path,
which refuses it (``strict=False`` alone would read ``2.0`` or ``"7"`` as an int)."""
_TypedLevels: TypeAlias = tuple[tuple[Price, Size], ...] | None
"""``[["px","qty"], ...]``: exactly two elements per row, as the string path requires."""


class _Depth(msgspec.Struct, gc=False):
    """Either depth payload: ``depthUpdate`` (E U u b a) or partial (lastUpdateId bids asks)."""

    E: _Id = None
    U: _Id = None
    u: _Id = None
    b: _TypedLevels = None
    a: _TypedLevels = None
    lastUpdateId: _Id = None
    bids: _TypedLevels = None
    asks: _TypedLevels = None


class _DepthFrame(msgspec.Struct, gc=False):
    stream: str
    data: _Depth


_decode_depth: Final = msgspec.json.Decoder(_DepthFrame, strict=False).decode
#: Shorter frames skip the typed attempt: trade and bookTicker frames (~140-190 bytes),
#: and depth frames of about one level, which would gain little.
_TYPED_MIN_SIZE: Final = 192


class _Quote(msgspec.Struct, gc=False):
    """A Spot ``bookTicker`` payload (u b B a A; ``s`` is not read, as on the ordinary path)."""

    u: _Id = None
    b: Size | None = None
    B: Size | None = None
    a: Size | None = None
    A: Size | None = None


class _QuoteFrame(msgspec.Struct, gc=False):
    stream: str
    data: _Quote


_decode_quote: Final = msgspec.json.Decoder(_QuoteFrame, strict=False).decode
#: longer frames skip the typed ``bookTicker`` attempt (the real ones are ~150 bytes)
_QUOTE_MAX_SIZE: Final = 320

QuoteHandler = Callable[[_Quote, float], object]
"""``typed(payload, received_at) -> Quote``, or None to take the ordinary path."""

TypedHandler = Callable[[_Depth, float], object]
"""``typed(payload, received_at) -> record``, or None to take the ordinary path."""


def _match_stream(exchange: str, kind: str, stream: str, accepted: tuple[str, ...]) -> str:
    """The native stream a user named for a channel (``"1h"`` -> ``"kline_1h"``), or an error."""
    if isinstance(stream, str):
        s = stream.strip()
        if kind == "candle" and s in KLINE_INTERVALS:
            return f"kline_{s}"
        if kind == "candle" and s[:6].lower() == "kline_" and s[6:] in KLINE_INTERVALS:
            return f"kline_{s[6:]}"  # the interval is case-sensitive: 1m != 1M
        for name in accepted:
            if kind != "candle" and s.lower() == name.lower():
                return name
    raise ConfigError(
        f"{exchange} stream {stream!r} is not valid for channel {kind!r}; choose from "
        + ", ".join(accepted)
    )
