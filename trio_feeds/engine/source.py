"""One exchange, kept connected: sessions, heartbeats, reconnects, make-before-break.

Task tree of one source (see ``docs/architecture.md``)::

    Source.run                       nursery
    └── _keep_shard (per connection) nursery; reconnect loop with backoff
        └── _session                 cancel scope (cancelled on handoff or failure)
            ├── connect              trio.fail_after(connect_timeout)
            ├── _heartbeat           ping/pong with a deadline scope
            └── _reader              watchdog scope pushed forward by every batch

The source knows nothing of any exchange's JSON: that is the adapter's job
(:mod:`trio_feeds.protocol`).  It sends what it reads, in batches, to the
feed's aggregator over a memory channel.
"""

from __future__ import annotations

import math
from typing import Any

import trio

from trio_feeds.core.errors import ProtocolError, ReconnectLimitError
from trio_feeds.engine import subscriptions
from trio_feeds.engine.connect import CONNECT_ERRORS as CONNECT_ERRORS
from trio_feeds.engine.connect import SessionEnded as SessionEnded
from trio_feeds.engine.connect import Settings as Settings
from trio_feeds.engine.connect import _BasicAuth as _BasicAuth
from trio_feeds.engine.connect import _leaves as _leaves
from trio_feeds.engine.connect import _split_userinfo as _split_userinfo
from trio_feeds.engine.connect import explain as explain
from trio_feeds.engine.connect import jitter_bounds as jitter_bounds
from trio_feeds.engine.connect import open_websocket as open_websocket
from trio_feeds.engine.dedupe import _Dedupe as _Dedupe
from trio_feeds.engine.limits import Backoff, ConnectionBudget
from trio_feeds.engine.polling import RestPoller
from trio_feeds.engine.session import UNSOLICITED_REPORT_INTERVAL as UNSOLICITED_REPORT_INTERVAL
from trio_feeds.engine.session import _Session as _Session
from trio_feeds.engine.source_base import ERROR_WINDOW as ERROR_WINDOW
from trio_feeds.engine.source_base import SourceBase as SourceBase
from trio_feeds.engine.stats import SourceStatus
from trio_feeds.engine.ws import (
    ConnectionClosed,
    ConnectProgress,
)
from trio_feeds.protocol import Subscription

__all__ = ["SessionEnded", "Settings", "Source", "explain", "jitter_bounds", "status_of"]


class Source(SourceBase):
    """All connections of one exchange for one feed: the reconnect loop and the
    make-before-break handoff of each shard (one connection per shard)."""

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Keep every shard connected until cancelled (or the reconnect limit is hit)."""
        setup = self.spec.adapter_setup
        needs_setup = setup is not None and setup.needed(self.subscriptions)
        wants_rest = self.full_books and self.spec.books.snapshot is not None
        if wants_rest or needs_setup or self.polled or self.backfill is not None:
            subscriptions.make_rest(self)
        try:
            async with trio.open_nursery() as outer:
                outer.start_soon(self._flush_errors)
                if self.backfill is not None:
                    outer.start_soon(self.backfill.run)
                try:
                    async with trio.open_nursery() as nursery:
                        self._nursery = nursery
                        for shard in self.shards:
                            subscriptions.start_shard(self, nursery, shard)
                        if self.polled and self.rest is not None:
                            # REST-only channels: polled beside the connections, through
                            # the same REST client (one budget with the book snapshots)
                            self.poller = RestPoller(self, self.polled, self.rest)
                            nursery.start_soon(self.poller.run)
                        task_status.started()
                finally:
                    self._nursery = None
                    self._flush_errors_now(force=True)
                    outer.cancel_scope.cancel()
        finally:
            if self.rest is not None:
                with trio.CancelScope(shield=True):
                    await self.rest.aclose()

    # -- the reconnect loop ----------------------------------------------------------------
    async def _setup_adapter(self, adapter: Any, shard: list[Subscription]) -> None:
        """The spec's :class:`~trio_feeds.exchanges.spec.AdapterSetup`: a REST answer the
        adapter needs before subscribing, refreshed at every connect; on failure the last
        good answer is used and an ``error`` event says why."""
        setup = self.spec.adapter_setup
        if setup is None or self.rest is None or not setup.needed(shard):
            return
        try:
            with trio.fail_after(self.settings.connect_timeout):
                self._setup_body = await self.rest.get(setup.path, setup.cost)
        except (ProtocolError, trio.TooSlowError) as exc:
            why = str(exc) or f"no answer within {self.settings.connect_timeout:g} s"
            self._event("error", f"{setup.path}: {why}", "adapter_setup")
        if self._setup_body is not None:
            try:
                setup.apply(adapter, self._setup_body)
            except ProtocolError as exc:
                self._event("error", str(exc), "adapter_setup")

    async def _keep_shard(self, shard: list[Subscription]) -> None:
        s = self.settings
        backoff = Backoff(
            base=s.reconnect_delay,
            cap=s.max_reconnect_delay,
            stable_after=s.stable_after,
            rng=s.rng,
        )
        dedupe = _Dedupe()
        failures = 0
        down_since: int | None = None
        async with trio.open_nursery() as nursery:
            while True:
                ended: trio.Event = trio.Event()
                box: dict[str, Any] = {}
                started_at = trio.current_time()
                try:
                    await self.budget.connect()
                    await nursery.start(self._session, shard, ended, box, nursery, dedupe)
                except (*CONNECT_ERRORS, SessionEnded, BaseExceptionGroup) as exc:
                    reason, detail = explain(exc)
                    if reason == "timeout":
                        reason = "connect_timeout"
                    self._failed(reason, detail)
                    self._maybe_fatal(exc)
                else:
                    if down_since is not None:
                        self._gap(shard, down_since, "reconnect")
                        down_since = None
                    await ended.wait()
                    backoff.connected_for(trio.current_time() - started_at)
                    if backoff.failures == 0:
                        failures = 0
                    self._failed(box.get("reason", "disconnected"), box.get("detail", ""))
                if all(x in self.rejected for x in shard):
                    self._event(
                        "error",
                        "every subscription on this connection was rejected; not reconnecting it",
                    )
                    self.active_shards -= 1
                    return
                if down_since is None:
                    down_since = self._last_seen_ms(shard)
                failures += 1
                limit = s.max_reconnect_attempts
                if limit is not None and failures > limit:
                    self.gave_up = True
                    self.state = "gave_up"
                    msg = (
                        f"{self.exchange}: gave up after {limit} reconnect attempts "
                        f"(last error: {self.last_error})"
                    )
                    self._event("gave_up", msg)
                    raise ReconnectLimitError(msg)
                delay = backoff.next_delay()
                self.state = "backoff"
                self._reconnecting(delay, f"in {delay:.3f} s (attempt {failures})")
                await trio.sleep(delay)

    # -- one connection --------------------------------------------------------------------
    async def _session(
        self,
        shard: list[Subscription],
        ended: trio.Event,
        box: dict[str, Any],
        shard_nursery: trio.Nursery,
        dedupe: _Dedupe,
        confirm: bool = False,
        *,
        task_status: trio.TaskStatus[Any] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        s = self.settings
        # only_subscribed: frames of streams this connection did not ask for are dropped
        # and counted (no record, no per-symbol state); _Session reports them
        adapter = self.adapter_cls(keep_raw=s.keep_raw, only_subscribed=True)
        endpoint = adapter.endpoint(shard[0])
        url = self.url + endpoint
        conn_budget = ConnectionBudget(self.limits)
        self.state = "connecting"
        progress = ConnectProgress()
        try:
            with trio.fail_after(s.connect_timeout):
                ws = await open_websocket(url, s, progress, shard_nursery)
        except trio.TooSlowError:
            raise SessionEnded(
                "connect_timeout", f"{progress.phase} not done within {s.connect_timeout:g} s"
            ) from None
        self.connections_opened += 1
        await self._setup_adapter(adapter, shard)
        session = _Session(self, adapter, ws, shard, conn_budget, dedupe)
        handed_over = False
        replacement: _Session | None = None
        try:
            with trio.CancelScope() as scope:
                session.scope = scope
                async with trio.open_nursery() as nursery:
                    session.nursery = nursery
                    nursery.start_soon(session.read)
                    self.state = "subscribing"
                    sent = set(shard)  # what subscribe_all sends (no checkpoint between)
                    await session.subscribe_all()
                    self.live_sessions += 1
                    session.live = True
                    await subscriptions.attach(self, shard, session, sent)
                    if confirm:
                        # a replacement: wait (bounded) until the exchange confirmed every
                        # subscription, by an ack or by data, before the old one is closed
                        with trio.move_on_after(s.subscribe_timeout):
                            await session.acked.wait()
                    if self.connected_since is None:
                        self.connected_since = s.clock()
                    self.state = "streaming"
                    self._event("connected", url)
                    nursery.start_soon(session.heartbeat)
                    age = s.max_connection_age or self.spec.max_connection_age
                    if age:
                        nursery.start_soon(session.age_limit, age)
                    task_status.started(session)
                    handoff_reason = await session.wait_handoff()
                    # make-before-break: open the replacement first; this one keeps
                    # delivering until the replacement is subscribed.
                    replacement = await self._replace(shard, ended, box, shard_nursery, dedupe)
                    handed_over = True
                    self._event("handoff", handoff_reason)
                    # Overlap: frames the exchange sent on this connection before the
                    # replacement's subscriptions took effect may still be in flight.  Keep
                    # reading until this connection has delivered data as new as the
                    # replacement's first (duplicate trades are dropped by id).
                    with trio.move_on_after(s.subscribe_timeout):
                        await session.catch_up(replacement)
                    if replacement.first_ts is not None and not session.caught_up(replacement):
                        self._handoff_gap(shard, session, replacement)
                    scope.cancel()
        except (SessionEnded, *CONNECT_ERRORS, BaseExceptionGroup) as exc:
            self._maybe_fatal(exc)  # a refused replacement certificate, when that is fatal
            box["reason"], box["detail"] = explain(exc)
            # died during the overlap: a clean close (its close frame follows the last data
            # frame) lost nothing; an abrupt end may have
            clean = box["reason"] == "closed" and not box["detail"].startswith("1006")
            if replacement is not None and not clean and not session.caught_up(replacement):
                self._handoff_gap(shard, session, replacement)
        finally:
            subscriptions.detach(self, shard, session)
            if session.adapter.unsolicited != session.unsolicited_reported:
                session.unsolicited_report_at = None  # the rest of the count, now
                session._report_unsolicited(trio.current_time())
            if session.live:
                self.live_sessions -= 1
            with trio.CancelScope(shield=True):
                await ws.aclose()
            if not handed_over and session.live:
                ended.set()
        if not session.live and not handed_over:
            # failed before it was established: report like a connect failure
            raise ConnectionClosed(1006, box.get("detail") or box.get("reason", "failed"))

    async def _replace(
        self,
        shard: list[Subscription],
        ended: trio.Event,
        box: dict[str, Any],
        shard_nursery: trio.Nursery,
        dedupe: _Dedupe,
    ) -> _Session:
        """Open the make-before-break replacement, retrying with backoff while the old
        connection (whose scope this runs in) keeps delivering."""
        s = self.settings
        backoff = Backoff(
            base=s.reconnect_delay,
            cap=s.max_reconnect_delay,
            stable_after=s.stable_after,
            rng=s.rng,
        )
        attempt = 0
        while True:
            try:
                await self.budget.connect()
                new: _Session = await shard_nursery.start(
                    self._session, shard, ended, box, shard_nursery, dedupe, True
                )
                return new
            except (*CONNECT_ERRORS, SessionEnded, BaseExceptionGroup) as exc:
                reason, detail = explain(exc)
                if reason == "timeout":
                    reason = "connect_timeout"
                self.errors += 1
                self.last_error = f"replacement connection failed: {reason}: {detail}"
                self.state = "streaming"
                self._event("error", self.last_error or "", reason)
                self._maybe_fatal(exc)
            attempt += 1
            delay = backoff.next_delay()
            self._reconnecting(
                delay, f"replacement in {delay:.3f} s (attempt {attempt})", "handoff"
            )
            await trio.sleep(delay)

    def _reconnecting(self, delay: float, detail: str, reason: str = "") -> None:
        """A connection attempt is retried after ``delay`` seconds: count the reconnect,
        record its delay and tell the consumer, together.

        A retried make-before-break replacement is a reconnect attempt too (its old
        connection keeps delivering meanwhile), so ``reconnects`` (``SourceStatus``), the
        ``reconnecting`` events and ``reconnect_delays`` always agree, even when the old
        connection dies during the replacement's backoff and the shard's own reconnect
        loop takes over with a delay of its own.
        """
        self.reconnect_delays.append(delay)
        self.reconnects += 1
        self._event("reconnecting", detail, reason)


def status_of(source: Source) -> SourceStatus:
    s = source.settings
    now = s.clock()
    stale = tuple(
        sorted(
            sub.topic
            for sub in source.subscriptions
            if sub not in source.rejected
            and (now - source.last_data.get(sub, -math.inf)) > source.stale_limit(sub)
        )
    )
    tracker = source.latency
    lag = tracker.lag.percentiles()
    rtt = tracker.rtt.percentiles()
    latency = tracker.current_lag(trio.current_time())
    if latency is None and rtt is not None:
        latency = rtt.p50
    # a source that only polls REST has no connection: its polls tell
    connected = source.live_sessions > 0 or (not source.shards and source.connected)
    state = source.state
    if (
        connected
        and stale
        and len(stale) == len([x for x in source.subscriptions if x not in source.rejected])
    ):
        state = "stale"
    return SourceStatus(
        exchange=source.exchange,
        connected=connected,
        state=state,
        latency=latency,
        last_update=source.last_update,
        messages_received=source.messages,
        errors=source.errors,
        reconnects=source.reconnects,
        connected_since=source.connected_since,
        gaps=source.gaps,
        dropped=0,
        connections=source.live_sessions,
        rtt=rtt,
        lag=lag,
        stale_subscriptions=stale,
        last_error=source.last_error,
        clock_offset=tracker.baseline,
    )
