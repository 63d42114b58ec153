"""Stream events: what a feed yields beside the data records (gaps and their backfills,
drops, subscription results and changes, source states, switches, failover failures).

Re-exported by :mod:`trio_feeds.core.records` and :mod:`trio_feeds`.
"""

from __future__ import annotations

from typing import Literal

import attrs

from trio_feeds.core.fields import _kind

__all__ = [
    "Dropped",
    "FailoverFailed",
    "Gap",
    "GapFilled",
    "SourceEvent",
    "SourceSwitch",
    "SubscriptionChange",
    "SubscriptionRejected",
]


@attrs.frozen(slots=True)
class Gap:
    """Data may have been missed between ``start`` and ``end`` (Unix ms).

    ``channel`` is a data kind (``"trade"``, ``"book"``, …) or ``"*"`` for a
    whole connection; ``symbol`` is ``"*"`` when every symbol is affected.
    """

    exchange: str
    symbol: str
    channel: str
    start: int
    end: int
    reason: str
    kind: Literal["gap"] = _kind("gap")


@attrs.frozen(slots=True)
class GapFilled:
    """The trades missed in a hole of ``symbol``'s ``channel`` (``"trade"``) were fetched
    from the exchange's REST history and delivered, in trade-id order, right before this
    event and before the first live trade after the hole (see ``docs/engine.md``,
    "Backfill").

    ``count`` trades were delivered that way (0: the history showed none was missed);
    ``first_id`` / ``last_id`` are the ids of the first and last of them (``""`` when
    none).  The ``Gap`` announced for the hole, if any, is answered by this event.
    """

    exchange: str
    symbol: str
    channel: str
    count: int
    timestamp: int
    first_id: str = ""
    last_id: str = ""
    kind: Literal["gap_filled"] = _kind("gap_filled")


@attrs.frozen(slots=True)
class Dropped:
    """Records were discarded because the consumer fell behind (trades only
    ever leave the feed this way, never silently)."""

    exchange: str
    symbol: str
    channel: str
    count: int
    """How many were dropped in this burst."""
    total: int
    """How many this feed has dropped so far."""
    timestamp: int
    kind: Literal["dropped"] = _kind("dropped")


@attrs.frozen(slots=True)
class SubscriptionRejected:
    """The exchange refused a subscription; the others keep streaming."""

    exchange: str
    symbol: str
    channel: str
    code: str
    message: str
    timestamp: int
    kind: Literal["subscription_rejected"] = _kind("subscription_rejected")


@attrs.frozen(slots=True)
class SubscriptionChange:
    """What a running feed streams changed: ``action`` is ``"subscribed"`` /
    ``"unsubscribed"`` (``Feed.subscribe`` / ``unsubscribe``) or ``"instrument_added"`` /
    ``"instrument_removed"`` (a ``symbols="*"`` feed's instrument list changed)."""

    exchange: str
    action: str
    symbols: tuple[str, ...]
    channels: tuple[str, ...]
    timestamp: int
    kind: Literal["subscription_change"] = _kind("subscription_change")


@attrs.frozen(slots=True)
class SourceEvent:
    """A change in a source's connection: ``"connected"``, ``"disconnected"``,
    ``"reconnecting"``, ``"error"``, ``"gave_up"``, ``"server_shutdown"`` or ``"handoff"``
    (``state``).

    ``reason`` is short and machine-friendly where there is one (``"tls_certificate"``,
    ``"tls_reset"``, ``"tls_protocol"``, ``"connect_timeout"``, ``"handshake_rejected"``,
    ``"closed"``, ``"malformed_frame"``, …); ``detail`` is for people.  ``count`` > 1 on an
    ``"error"`` event: that many errors of this ``reason`` were coalesced into this one
    (see ``docs/engine.md``, "Errors").  No credential ever appears in ``detail``.
    """

    exchange: str
    state: str
    detail: str
    timestamp: int
    reason: str = ""
    count: int = 1
    kind: Literal["source"] = _kind("source")


@attrs.frozen(slots=True)
class SourceSwitch:
    """The feed's active source changed."""

    from_source: str | None
    to_source: str
    reason: str
    timestamp: int
    kind: Literal["source_switch"] = _kind("source_switch")


@attrs.frozen(slots=True)
class FailoverFailed:
    """No healthy source is left; the feed keeps trying."""

    from_source: str | None
    reason: str
    timestamp: int
    kind: Literal["failover_failed"] = _kind("failover_failed")
