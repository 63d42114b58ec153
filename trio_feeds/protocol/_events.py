"""Control events produced by the sans-I/O adapters beside the data records.

They are what the connection engine reacts to; the ones a consumer should
see (a rejected subscription, say) are turned into stream events
(:mod:`trio_feeds.core.records`) by the engine.
"""

from __future__ import annotations

from typing import TypeAlias

import attrs

from trio_feeds.core.records import Gap
from trio_feeds.protocol._subscription import Subscription


@attrs.frozen(slots=True)
class Subscribed:
    """The exchange acknowledged these subscriptions."""

    subscriptions: tuple[Subscription, ...]
    request_id: str | None = None


@attrs.frozen(slots=True)
class Unsubscribed:
    """The exchange confirmed that these subscriptions were removed."""

    subscriptions: tuple[Subscription, ...]
    request_id: str | None = None


@attrs.frozen(slots=True)
class Rejected:
    """The exchange refused a request.

    ``subscriptions`` are the ones the request carried (Binance answers once
    per request, so a batch is refused whole; the engine retries its members
    one by one to find the bad one).  Empty when the error cannot be tied to
    a subscription.
    """

    subscriptions: tuple[Subscription, ...]
    code: str
    message: str
    request_id: str | None = None


@attrs.frozen(slots=True)
class Pong:
    """An application-level pong (OKX's text ``pong``)."""

    received_at: float


@attrs.frozen(slots=True)
class ServerShutdown:
    """The server will close this connection soon: open a new one first.

    Binance ``serverShutdown``; OKX ``notice`` 64008.
    """

    code: str
    message: str
    received_at: float


@attrs.frozen(slots=True)
class ExchangeError:
    """An error message from the exchange that names no subscription."""

    code: str
    message: str
    request_id: str | None = None


@attrs.frozen(slots=True)
class ParseError:
    """A frame could not be used.  ``problem`` says why; ``frame`` is its start.

    ``stream`` (the exchange's own stream name, e.g. ``"depth@100ms"``, ``"books"``) and
    ``symbol`` are set when the frame belongs to a subscription of the adapter (even a cut
    frame, if its start names one): its data is missing, and a local book missed an update
    and must be resynced.  ``control`` is True for a control message (an ack, an error
    reply, an event) that carried no data; with neither, the frame may have held data of
    any subscription of the connection.
    """

    problem: str
    frame: str
    stream: str | None = None
    symbol: str | None = None
    control: bool = False


ControlEvent: TypeAlias = (
    Subscribed | Unsubscribed | Rejected | Pong | ServerShutdown | ExchangeError | ParseError
)
"""Any control event an adapter's ``parse`` appends beside the records."""


def excerpt(frame: bytes | str, limit: int = 200) -> str:
    """The first ``limit`` characters of a frame, for error messages."""
    text = (
        frame.decode("utf-8", "replace")
        if isinstance(frame, (bytes, bytearray, memoryview))
        else str(frame)
    )
    return text if len(text) <= limit else text[:limit] + "…"


@attrs.frozen(slots=True)
class ConnectionGap:
    """Messages were lost on this connection: a hole in a connection-wide sequence.

    Some exchanges number every message of a connection (all channels together);
    a hole means whole messages were missed, and which subscriptions they
    belonged to cannot be known.  ``gaps`` holds one :class:`~trio_feeds.Gap` per
    subscription of the connection (``start``/``end``: the exchange times of the
    messages either side of the hole); ``books`` names the symbols whose local books
    must be resynchronized.  An engine emits ``gaps`` as stream events and asks each
    named book to resync (``sync.on_connection_gap(...)``).
    """

    exchange: str
    expected: int
    """The sequence number that should have come."""
    received: int
    """The sequence number that came."""
    gaps: tuple[Gap, ...]
    books: tuple[str, ...]
    received_at: float
