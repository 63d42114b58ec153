"""Binance USD-M futures streams: the spot set, plus the perpetual-only ones.

Facts (https://developers.binance.com/docs/derivatives/usds-margined-futures/websocket-market-streams,
checked 2026-12): base ``wss://fstream.binance.com``, ``/ws`` and ``/stream`` as on spot; a
connection lives 24 h; the server pings every 3 min and drops a connection without a pong
within 10 min; at most 10 incoming messages per second and 1024 streams per connection.

* ``<s>@markPrice`` (every 3 s) and ``<s>@markPrice@1s``: ``markPriceUpdate`` with the mark
  price ``p``, index price ``i``, funding rate ``r`` and next funding time ``T``.  Channel
  ``funding`` takes the 3 s stream, channel ``mark`` the 1 s stream, so each stream name
  yields one kind of record.
* ``<s>@forceOrder``: liquidation orders (at most one per symbol per second: a snapshot).
* ``<s>@depth[@100ms|@500ms]``: diffs chained by ``pu`` (the previous event's ``u``).
* ``<s>@depth<N>[@…]``: partial books, shaped like the diffs (``E``, ``u``; no ``lastUpdateId``).
* ``<s>@bookTicker``: carries the event time ``E`` (spot's does not).
* Open interest has no stream: ``GET /fapi/v1/openInterest`` (polled; see ``SPEC.rest_polls``).
"""

from __future__ import annotations

import re
from typing import Final

from trio_feeds.exchanges.binance.streams import _STREAMS as _SPOT_STREAMS
from trio_feeds.exchanges.binance.streams import _stream_kind as _spot_kind

__all__ = ["NAME", "REST_OPEN_INTEREST", "STREAMS", "stream_kind"]

NAME: Final = "binance-usdm"
#: the "stream" of channel ``open_interest``: served over REST only (polled), never subscribed
REST_OPEN_INTEREST: Final = "openInterest"

_DEPTH_SPEEDS = ("", "@100ms", "@250ms", "@500ms", "@0ms")

#: channel -> (default stream, accepted streams)
STREAMS: Final[dict[str, tuple[str, tuple[str, ...]]]] = {
    **_SPOT_STREAMS,
    "book": (
        "depth@100ms",
        tuple(f"depth{n}{s}" for n in ("", "5", "10", "20") for s in _DEPTH_SPEEDS),
    ),
    "funding": ("markPrice", ("markPrice",)),
    "mark": ("markPrice@1s", ("markPrice@1s",)),
    "liquidation": ("forceOrder", ("forceOrder",)),
    # no WebSocket stream: GET /fapi/v1/openInterest, polled by the engine (SPEC.rest_polls)
    "open_interest": (REST_OPEN_INTEREST, (REST_OPEN_INTEREST,)),
}

_PERP_KINDS: Final = {"markPrice": "funding", "markPrice@1s": "mark", "forceOrder": "liquidation"}
_PARTIAL_RE: Final = re.compile(r"depth(5|10|20)(@\d+ms)?")


def stream_kind(native: str) -> str | None:
    """``"markPrice@1s"`` -> ``"mark"``, ``"depth20@100ms"`` -> ``"depth_partial"``, …"""
    kind = _PERP_KINDS.get(native)
    if kind is not None:
        return kind
    if _PARTIAL_RE.fullmatch(native):
        return "depth_partial"
    return _spot_kind(native)
