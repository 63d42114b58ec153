"""A source's state, health counters and events (the lifecycle is in :mod:`.source`)."""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import trio

from trio_feeds.core.errors import TLSCertificateError
from trio_feeds.core.records import Gap, SourceEvent
from trio_feeds.core.redact import redact
from trio_feeds.engine.backfill import Backfill, BackfillSettings
from trio_feeds.engine.books import RestClient
from trio_feeds.engine.connect import Settings, _leaves
from trio_feeds.engine.limits import ExchangeBudget
from trio_feeds.engine.polling import DEFAULT_POLL_INTERVAL, RestPoller
from trio_feeds.engine.stats import LatencyTracker
from trio_feeds.engine.unanchored import unanchored
from trio_feeds.exchanges.spec import ExchangeSpec
from trio_feeds.protocol import (
    Adapter,
    Subscription,
)

__all__ = ["ERROR_WINDOW", "SourceBase"]

if TYPE_CHECKING:
    from trio_feeds.engine.session import _Session


#: repeated errors of one reason within this many seconds are coalesced into one event
ERROR_WINDOW = 1.0


class SourceBase:
    """The state of one exchange's connections for one feed: structure (shards), health
    counters, the events it emits and how repeated errors are coalesced.  The
    connection lifecycle is :class:`trio_feeds.engine.source.Source`."""

    def __init__(
        self,
        adapter_cls: type[Adapter],
        subscriptions: Sequence[Subscription],
        settings: Settings,
        url: str,
        send: trio.MemorySendChannel[tuple[str, list[Any]]],
        budget: ExchangeBudget | None = None,
        rest_url: str | None = None,
        *,
        spec: ExchangeSpec | None = None,
    ) -> None:
        if spec is None:
            from trio_feeds.exchanges import get

            spec = get(adapter_cls.name)
        #: what the engine knows of the exchange (limits, heartbeat, books, …)
        self.spec = spec
        self.adapter_cls = adapter_cls
        self.exchange = adapter_cls.name
        self.subscriptions = list(subscriptions)
        self.settings = settings
        self.url = url.rstrip("/")
        self.rest_url = (rest_url or adapter_cls.default_rest_url).rstrip("/")
        self.rest: RestClient | None = None
        #: the last good answer to the spec's adapter setup request (None: none yet)
        self._setup_body: bytes | None = None
        #: subscriptions kept as full local books (diff streams + snapshots)
        self.full_books = {
            s.symbol
            for s in subscriptions
            if s.channel == "book" and s.stream in spec.books.full_streams
        }
        self._send = send
        self.limits = spec.limits
        self.budget = budget or ExchangeBudget(self.limits)
        #: subscriptions of channels the exchange serves over REST only (polled, never
        #: sent on a connection; ``ExchangeSpec.rest_polls``)
        self.polled = [s for s in self.subscriptions if spec.rest_poll(s.channel) is not None]
        self._poll_channels = {s.channel for s in self.polled}
        self.poller: RestPoller | None = None
        self.shards = self._shard([s for s in self.subscriptions if s not in self.polled])
        #: shards still kept up (a shard whose every subscription was rejected stops)
        self.active_shards = len(self.shards)
        # health
        self.state = "connecting"
        self.live_sessions = 0
        self.connected_since: float | None = None
        self.last_update: float | None = None
        self.messages = 0
        self.errors = 0
        self.reconnects = 0
        self.gaps = 0
        self.connections_opened = 0
        self._last_error: str | None = None
        #: lag (above this source's normal clock offset) and ping round trips; the feed's
        #: aggregator adds the lag samples, the sessions the round trips
        self.latency = LatencyTracker()
        self.rtt = self.latency.rtt
        self.lag = self.latency.lag
        self.last_data: dict[Subscription, float] = {}
        #: exchange time (ms) of the newest record per subscription (exchange-stamped only)
        self.last_ts: dict[Subscription, int] = {}
        self.rejected: set[Subscription] = set()
        self.gave_up = False
        #: the most recent reconnect delays drawn (bounded: a long-lived feed must not grow)
        self.reconnect_delays: deque[float] = deque(maxlen=1024)
        self.idle_strikes: dict[int, int] = {}
        #: reason -> [window end (trio time), errors counted since, latest detail]
        self._error_windows: dict[str, list[Any]] = {}
        self._errors_pending = trio.Event()
        #: trades missed across reconnects and holes, fetched over REST (None: off)
        backfill = Backfill(
            self, self.subscriptions, BackfillSettings(settings.backfill_timeout), settings.clock
        )
        self.backfill: Backfill | None = backfill if settings.backfill and backfill else None
        self._by_topic: dict[tuple[str, str], Subscription] = {
            (s.channel, s.symbol): s for s in self.subscriptions
        }
        # runtime subscription changes (trio_feeds.engine.subscriptions): the live session
        # of each shard, each shard's cancel scope, the nursery shards run in (None: the
        # source is not running), and the stream used for "book" (book_mode="partial")
        self.sessions: dict[int, _Session] = {}
        self.shard_scopes: dict[int, trio.CancelScope] = {}
        self._nursery: trio.Nursery | None = None
        self.book_stream: str | None = None
        #: canonical symbols a ``symbols="*"`` feed streams on this source (by its channels)
        self.wildcard_symbols: set[str] = set()

    @property
    def last_error(self) -> str | None:
        """The latest error, as people read it (credentials redacted)."""
        return self._last_error

    @last_error.setter
    def last_error(self, value: str | None) -> None:
        self._last_error = None if value is None else redact(value)

    @property
    def connected(self) -> bool:
        """Every connection of this source is up (a source that only polls REST: its last
        polls succeeded)."""
        if not self.shards and self.poller is not None:
            return self.poller.ok
        return self.active_shards > 0 and self.live_sessions >= self.active_shards

    def reset_state(self) -> None:
        """After the source was stopped (cold standby): forget connection state."""
        self.live_sessions = 0
        self.active_shards = len(self.shards)
        self.connected_since = None
        self.state = "stopped"

    def stale_limit(self, sub: Subscription) -> float:
        """Seconds without data after which ``sub`` counts as stale: ``stale_after``, or for
        a REST-polled channel at least two of its poll intervals."""
        limit = self.settings.stale_after
        if sub.channel in self._poll_channels:
            interval = self.settings.poll_intervals.get(sub.channel, DEFAULT_POLL_INTERVAL)
            limit = max(limit, 2 * interval)
        return limit

    # -- structure -------------------------------------------------------------------------
    def _shard(self, subs: Sequence[Subscription]) -> list[list[Subscription]]:
        """Group subscriptions by endpoint and split them to respect per-connection caps."""
        self._probe = probe = self.adapter_cls()
        cap = self.spec.streams_per_connection
        book_cap = self.spec.limits.book_streams_per_connection
        groups: dict[str, list[Subscription]] = {}
        for s in subs:
            groups.setdefault(probe.endpoint(s), []).append(s)
        shards: list[list[Subscription]] = []
        for group in groups.values():
            current: list[Subscription] = []
            books = 0
            for s in group:
                is_book = s.channel == "book"
                if len(current) >= cap or (book_cap and is_book and books >= book_cap):
                    shards.append(current)
                    current, books = [], 0
                current.append(s)
                books += is_book
            if current:
                shards.append(current)
        return shards

    # -- events out ------------------------------------------------------------------------
    def _now_ms(self) -> int:
        return int(self.settings.clock() * 1000)

    def _emit(self, items: list[Any]) -> None:
        try:
            self._send.send_nowait((self.exchange, items))
        except (trio.WouldBlock, trio.ClosedResourceError, trio.BrokenResourceError):
            pass

    def _event(self, state: str, detail: str, reason: str = "") -> None:
        self._emit([SourceEvent(self.exchange, state, redact(detail), self._now_ms(), reason)])

    def _error(self, reason: str, detail: str) -> None:
        """An ``"error"`` event, coalesced per ``reason`` (see ``docs/engine.md``, "Errors").

        The first error of a reason goes out at once; the ones that follow within
        :data:`ERROR_WINDOW` seconds are counted, and one event with ``count`` (and the
        latest detail) goes out when the window closes.  A storm of bad frames thus costs
        one event per second per reason, whatever the rate; memory stays bounded even
        for a consumer that does not read.
        """
        window = self._error_windows.get(reason)
        if window is None:
            self._event("error", detail, reason)
            self._error_windows[reason] = [trio.current_time() + ERROR_WINDOW, 0, ""]
            self._errors_pending.set()
        else:
            window[1] += 1
            window[2] = detail

    def _flush_errors_now(self, force: bool = False) -> float:
        """Emit the coalesced errors whose window closed; return the next window's end."""
        now = trio.current_time()
        next_end = math.inf
        for reason, window in list(self._error_windows.items()):
            end, count, detail = window
            if end > now and not force:
                next_end = min(next_end, end)
                continue
            if count:
                self._emit(
                    [
                        SourceEvent(
                            self.exchange, "error", redact(f"{count} more: {detail}"),
                            self._now_ms(), reason, count,
                        )
                    ]
                )  # fmt: skip
                # still erring: keep coalescing (one event per window while it lasts)
                window[:] = [now + ERROR_WINDOW, 0, ""]
                next_end = min(next_end, now + ERROR_WINDOW)
            else:
                del self._error_windows[reason]
        return next_end

    async def _flush_errors(self) -> None:
        while True:
            await self._errors_pending.wait()
            self._errors_pending = trio.Event()
            while self._error_windows:
                end = self._flush_errors_now()
                if end == math.inf:  # every window closed: wait for the next error
                    break
                await trio.sleep_until(end)

    def _handoff_gap(self, shard: list[Subscription], old: _Session, new: _Session) -> None:
        """A handoff without a proven overlap: data between the two may be missing."""
        start = old.last_ts if old.last_ts is not None else self._last_seen_ms(shard)
        end = new.first_ts if new.first_ts is not None else self._now_ms() + 1
        gaps = [
            Gap(self.exchange, sub.symbol, sub.channel, min(start, end), end, "handoff")
            for sub in shard
            if sub not in self.rejected
        ]
        self._emit_gaps(gaps)

    def _emit_gaps(self, gaps: list[Gap]) -> None:
        """Connection gaps, and for trades missed before any trade of their symbol was
        seen, the ``gap_not_filled`` events saying no backfill can fill them."""
        self.gaps += len(gaps)
        items: list[Any] = list(gaps)
        if self.backfill is not None:
            bf = self.backfill
            items.extend(unanchored(self.exchange, bf.symbols, gaps, bf.clock))
        self._emit(items)

    def _failed(self, reason: str, detail: str) -> None:
        self.errors += reason not in ("handoff",)
        self.last_error = f"{reason}: {detail}" if detail else reason
        if self.live_sessions == 0:
            self.connected_since = None
        self._event("disconnected", self.last_error or "", reason)

    def _maybe_fatal(self, exc: BaseException) -> None:
        """``certificate_errors="fatal"``: a refused certificate ends the feed."""
        if self.settings.certificate_errors != "fatal":
            return
        for leaf in _leaves(exc):
            if isinstance(leaf, TLSCertificateError):
                raise leaf

    def _last_seen_ms(self, shard: list[Subscription]) -> int:
        """The exchange time (ms) of the newest record this shard delivered.

        Exchange times, not receive times: with network latency, what is lost on a
        connection that breaks was *sent* after the last record received, which may be
        before the moment that record was received.
        """
        stamps = [self.last_ts[x] for x in shard if x in self.last_ts]
        if stamps:
            return max(stamps)
        seen = [self.last_data[x] for x in shard if x in self.last_data]
        return int((max(seen) if seen else self.settings.clock()) * 1000)

    def _gap(self, shard: list[Subscription], start: int, reason: str) -> None:
        end = math.ceil(self.settings.clock() * 1000)
        gaps = [
            Gap(self.exchange, sub.symbol, sub.channel, start, end, reason)
            for sub in shard
            if sub not in self.rejected
        ]
        self._emit_gaps(gaps)
