"""What a session does with lost data and unsubscribed frames (a part of
:class:`~trio_feeds.engine.session._Session`, kept apart from its receive loop)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from trio_feeds.core.records import Gap
from trio_feeds.protocol import Adapter, ConnectionGap, ParseError, Subscription

if TYPE_CHECKING:
    from trio_feeds.engine.books import BookKeeper
    from trio_feeds.engine.source import Source

__all__ = ["UNSOLICITED_REPORT_INTERVAL"]

#: frames of unsubscribed streams are reported at once, then at most this often (s)
UNSOLICITED_REPORT_INTERVAL = 60.0


class _Losses:
    """Gaps for lost frames and messages, and the report of unsubscribed frames."""

    source: Source
    adapter: Adapter
    shard: list[Subscription]
    books: BookKeeper | None
    opened_ms: int
    unsolicited_reported: int
    unsolicited_report_at: float | None

    def _connection_gap(self, item: ConnectionGap) -> list[Any]:
        """Whole messages were lost on this connection: its ``Gap`` events, and the local
        books it names dropped and resynced (their own Gaps)."""
        src = self.source
        src.gaps += len(item.gaps)
        src.errors += 1
        src.last_error = f"messages lost: expected {item.expected}, got {item.received}"
        src._error("connection_gap", src.last_error)
        out: list[Any] = list(item.gaps)
        if self.books is not None and item.books:
            out.extend(self.books.on_connection_gap(item.books, int(item.received_at * 1000)))
        return out

    def _lost(self, item: ParseError, received_at: float) -> list[Any]:
        """A refused frame (not a control message): its data is missing, so a ``Gap``
        says where: for its subscription (from that subscription's newest record to
        now), or for the whole connection when the frame names none.  A full local book
        is dropped and resynced at once instead (its own Gap), rather than on the next
        frame's sequence check, maybe much later."""
        symbol = item.symbol
        src = self.source
        end = math.ceil(received_at * 1000)
        if symbol is None:
            # whose data it held cannot be told: any subscription of this connection may
            # miss some (a Gap for the whole connection, from its oldest newest record)
            stamps = [src.last_ts[x] for x in self.shard if x in src.last_ts]
            start = min(min(stamps, default=self.opened_ms), end)
            src.gaps += 1
            return [Gap(src.exchange, "*", "*", start, end, "malformed frame")]
        if self.books is not None and item.stream in src.spec.books.full_streams:
            return self.books.on_lost(symbol, item.problem, received_at)
        gaps = []
        for sub in self.shard:
            if sub.stream == item.stream and sub.symbol == symbol and sub not in src.rejected:
                start = src.last_ts.get(sub, self.opened_ms)
                gaps.append(
                    Gap(src.exchange, symbol, sub.channel, min(start, end), end, "malformed frame")
                )
        src.gaps += len(gaps)
        return gaps

    def _report_unsolicited(self, now: float) -> None:
        """Frames of streams this connection never subscribed were dropped: one error
        event at once, then at most one per UNSOLICITED_REPORT_INTERVAL with the count."""
        at = self.unsolicited_report_at
        if at is not None and now - at < UNSOLICITED_REPORT_INTERVAL:
            return
        adapter = self.adapter
        new = adapter.unsolicited - self.unsolicited_reported
        self.unsolicited_reported = adapter.unsolicited
        self.unsolicited_report_at = now
        src = self.source
        src.errors += 1
        src.last_error = f"{new} frames of unsubscribed streams dropped"
        topics = ", ".join(adapter.unsolicited_topics)
        src._event(
            "error",
            f"dropped {new} frame{'s' if new != 1 else ''} of streams this connection did not "
            f"subscribe ({adapter.unsolicited} so far; first seen: {topics})",
        )
