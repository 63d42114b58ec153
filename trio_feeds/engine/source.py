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

import base64
import itertools
import math
import random
import ssl
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

import attrs
import httpx
import trio

from trio_feeds.core.errors import (
    HandshakeRejected,
    ProtocolError,
    ReconnectLimitError,
    TLSCertificateError,
    TLSError,
)
from trio_feeds.core.records import Gap, SourceEvent, SubscriptionRejected
from trio_feeds.core.redact import redact
from trio_feeds.engine.books import BookKeeper, RestClient
from trio_feeds.engine.limits import LIMITS, Backoff, ConnectionBudget, ExchangeBudget
from trio_feeds.engine.stats import LatencyTracker, SourceStatus
from trio_feeds.engine.transport import DEFAULT_TRANSPORT, Connection, Transport
from trio_feeds.engine.ws import (
    ConnectionClosed,
    Connector,
    ConnectProgress,
    tls_error,
)
from trio_feeds.protocol import (
    Adapter,
    ExchangeError,
    ParseError,
    Pong,
    Rejected,
    ServerShutdown,
    Subscribed,
    Subscription,
)

#: exchange streams whose frames are deltas that need a local book
FULL_BOOK_STREAMS = frozenset({"depth", "depth@100ms", "books"})

#: repeated errors of one reason within this many seconds are coalesced into one event
ERROR_WINDOW = 1.0

#: record kinds with an exchange ``timestamp`` (what a session's batches may also carry:
#: ``Gap`` events of its local books)
_STAMPED = frozenset({"trade", "ticker", "quote", "book", "candle", "book_delta"})

#: Binance closes every connection after 24 h; we hand over to a new one before that.
MAX_CONNECTION_AGE: dict[str, float] = {"binance": 23.5 * 3600}


@attrs.define
class Settings:
    """Per-feed connection settings (validated by :func:`trio_feeds.open_feed`)."""

    connect_timeout: float = 10.0
    heartbeat_interval: float = 20.0
    pong_timeout: float = 10.0
    stale_after: float = 10.0
    reconnect_delay: float = 1.0
    max_reconnect_delay: float = 60.0
    stable_after: float = 60.0
    max_reconnect_attempts: int | None = None
    keep_raw: bool = False
    connector: Connector | None = None
    clock: Callable[[], float] = time.time
    rng: random.Random = attrs.field(factory=random.Random)
    max_connection_age: float | None = None
    subscribe_timeout: float = 10.0
    http_transport: Any = None
    book_depth: int = 20
    book_deltas: bool = False
    #: TLS for the default connector (None: the system trust store)
    ssl_context: ssl.SSLContext | None = None
    #: "retry" (a certificate failure is retried like any connect failure) or "fatal"
    certificate_errors: str = "retry"
    #: a ping round trip above this counts as slow: the next ping goes out sooner
    max_source_latency: float = 5.0
    #: opens each session's WebSocket (``open_feed(transport=...)``)
    transport: Transport = DEFAULT_TRANSPORT


#: what a connection attempt may fail with (anything else is a bug and is raised)
CONNECT_ERRORS = (
    OSError,
    ConnectionClosed,
    trio.TooSlowError,
    trio.BrokenResourceError,
    trio.ClosedResourceError,
    ProtocolError,
    TLSError,
)


class SessionEnded(Exception):
    """Why a session stopped: ``reason`` is short and machine-friendly."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


class _Dedupe:
    """Trades delivered at most once; a trade older than one delivered is announced.

    Per symbol it keeps the newest trade id delivered, and per connection (the shard's
    last :attr:`KEEP`) the range of ids that connection delivered.  A connection
    delivers a contiguous run of the exchange's ids for a symbol (both exchanges number
    trades increasingly per instrument), so a trade whose id lies in *another*
    connection's range was delivered already: a repeat of the make-before-break overlap,
    dropped (counted in :attr:`repeats`); so is a resend of its own connection's last id.
    Any other trade is delivered, even one older than the newest delivered (it is
    unseen: an old connection still catching up during a handoff, or the exchange
    itself out of order); each such batch and symbol gets one
    ``SourceEvent(state="out_of_order")`` right before the first of them, naming the
    exchange, symbol and ids (counted in :attr:`out_of_order`).
    """

    __slots__ = ("last", "out_of_order", "ranges", "repeats")

    #: connections whose id ranges are remembered
    KEEP = 3

    def __init__(self) -> None:
        self.last: dict[str, int] = {}
        self.ranges: dict[int, dict[str, list[int]]] = {}
        self.repeats = 0
        self.out_of_order = 0

    def filter(
        self, records: list[Any], connection: int = 0, exchange: str = "", now_ms: int = 0
    ) -> list[Any]:
        last = self.last
        mine = self.ranges.get(connection)
        if mine is None:
            mine = self.ranges[connection] = {}
            if len(self.ranges) > self.KEEP:
                del self.ranges[next(iter(self.ranges))]
        out: list[Any] = []
        late: dict[str, tuple[int, int, list[int]]] = {}  # symbol -> (index, newest, ids)
        for r in records:
            if r.kind != "trade":
                out.append(r)
                continue
            try:
                tid = int(r.trade_id)
            except ValueError:  # pragma: no cover - the adapters only let digits through
                out.append(r)
                continue
            sym = r.symbol
            own = mine.get(sym)
            prev = last.get(sym)
            if prev is None or tid > prev:
                last[sym] = tid
                if own is None:
                    mine[sym] = [tid, tid]
                else:
                    own[1] = tid
                out.append(r)
                continue
            if (own is not None and tid == own[1]) or self._covered(sym, tid, connection):
                self.repeats += 1
                continue
            if own is None:
                mine[sym] = [tid, tid]
            else:
                own[0] = min(own[0], tid)
                own[1] = max(own[1], tid)
            self.out_of_order += 1
            seen = late.get(sym)
            if seen is None:
                late[sym] = (len(out), prev, [tid])
            else:
                seen[2].append(tid)
            out.append(r)
        if late:
            for sym, (index, newest, ids) in sorted(late.items(), key=lambda x: -x[1][0]):
                shown = ", ".join(map(str, ids[:10])) + (", ..." if len(ids) > 10 else "")
                what = f"trade {shown}" if len(ids) == 1 else f"{len(ids)} trades ({shown})"
                detail = (
                    f"{exchange} {sym}: {what} arrived after trade {newest}, out of order; "
                    "delivered"
                )
                out.insert(index, SourceEvent(exchange, "out_of_order", detail, now_ms))
        return out

    def _covered(self, symbol: str, tid: int, connection: int) -> bool:
        for conn, ranges in self.ranges.items():
            if conn != connection:
                span = ranges.get(symbol)
                if span is not None and span[0] <= tid <= span[1]:
                    return True
        return False


class Source:
    """All connections of one exchange for one feed."""

    def __init__(
        self,
        adapter_cls: type[Adapter],
        subscriptions: Sequence[Subscription],
        settings: Settings,
        url: str,
        send: trio.MemorySendChannel[tuple[str, list[Any]]],
        budget: ExchangeBudget | None = None,
        rest_url: str | None = None,
    ) -> None:
        self.adapter_cls = adapter_cls
        self.exchange = adapter_cls.name
        self.subscriptions = list(subscriptions)
        self.settings = settings
        self.url = url.rstrip("/")
        self.rest_url = (rest_url or adapter_cls.default_rest_url).rstrip("/")
        self.rest: RestClient | None = None
        #: subscriptions kept as full local books (diff streams + snapshots)
        self.full_books = {
            s.symbol for s in subscriptions if s.channel == "book" and s.stream in FULL_BOOK_STREAMS
        }
        self._send = send
        self.budget = budget or ExchangeBudget(LIMITS[self.exchange])
        self.limits = LIMITS[self.exchange]
        self.shards = self._shard(self.subscriptions)
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
        self._by_topic: dict[tuple[str, str], Subscription] = {
            (s.channel, s.symbol): s for s in self.subscriptions
        }

    @property
    def last_error(self) -> str | None:
        """The latest error, as people read it (credentials redacted)."""
        return self._last_error

    @last_error.setter
    def last_error(self, value: str | None) -> None:
        self._last_error = None if value is None else redact(value)

    @property
    def connected(self) -> bool:
        """Every connection of this source is up."""
        return self.active_shards > 0 and self.live_sessions >= self.active_shards

    def reset_state(self) -> None:
        """After the source was stopped (cold standby): forget connection state."""
        self.live_sessions = 0
        self.active_shards = len(self.shards)
        self.connected_since = None
        self.state = "stopped"

    # -- structure -------------------------------------------------------------------------
    def _shard(self, subs: Sequence[Subscription]) -> list[list[Subscription]]:
        """Group subscriptions by endpoint and split them to respect per-connection caps."""
        probe = self.adapter_cls()
        cap = self.adapter_cls.max_streams_per_connection
        book_cap = getattr(self.adapter_cls, "MAX_BOOK_CHANNELS_PER_CONNECTION", None)
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

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Keep every shard connected until cancelled (or the reconnect limit is hit)."""
        if self.full_books:
            base, auth = _split_userinfo(self.rest_url)
            transport = self.settings.http_transport
            if auth is not None:
                # credentials go in a header, not in the URL that httpx logs
                transport = _BasicAuth(transport, *auth)
            self.rest = RestClient(self.exchange, base, transport)
        try:
            async with trio.open_nursery() as outer:
                outer.start_soon(self._flush_errors)
                try:
                    async with trio.open_nursery() as nursery:
                        for shard in self.shards:
                            nursery.start_soon(self._keep_shard, shard)
                        task_status.started()
                finally:
                    self._flush_errors_now(force=True)
                    outer.cancel_scope.cancel()
        finally:
            if self.rest is not None:
                with trio.CancelScope(shield=True):
                    await self.rest.aclose()

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
            while self._error_windows:  # noqa: ASYNC110 - a deadline, not a condition
                await trio.sleep_until(self._flush_errors_now())

    # -- the reconnect loop ----------------------------------------------------------------
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
                self.reconnect_delays.append(delay)
                self.reconnects += 1
                self.state = "backoff"
                self._event("reconnecting", f"in {delay:.3f} s (attempt {failures})")
                await trio.sleep(delay)

    def _handoff_gap(self, shard: list[Subscription], old: _Session, new: _Session) -> None:
        """A handoff without a proven overlap: data between the two may be missing."""
        start = old.last_ts if old.last_ts is not None else self._last_seen_ms(shard)
        end = new.first_ts if new.first_ts is not None else self._now_ms() + 1
        gaps = [
            Gap(self.exchange, sub.symbol, sub.channel, min(start, end), end, "handoff")
            for sub in shard
            if sub not in self.rejected
        ]
        self.gaps += len(gaps)
        self._emit(list(gaps))

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
        self.gaps += len(gaps)
        self._emit(list(gaps))

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
                ws = await s.transport.connect(
                    url,
                    s.connector,
                    ssl_context=s.ssl_context,
                    progress=progress,
                    nursery=shard_nursery,
                )
        except trio.TooSlowError:
            raise SessionEnded(
                "connect_timeout", f"{progress.phase} not done within {s.connect_timeout:g} s"
            ) from None
        self.connections_opened += 1
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
                    await session.subscribe_all()
                    self.live_sessions += 1
                    session.live = True
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
                    age = s.max_connection_age or MAX_CONNECTION_AGE.get(self.exchange)
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
            self.reconnect_delays.append(delay)
            self._event(
                "reconnecting", f"replacement in {delay:.3f} s (attempt {attempt})", "handoff"
            )
            await trio.sleep(delay)


_session_numbers = itertools.count(1)
#: frames of unsubscribed streams are reported at once, then at most this often (s)
UNSOLICITED_REPORT_INTERVAL = 60.0


class _Session:
    """The live state of one WebSocket connection."""

    def __init__(
        self,
        source: Source,
        adapter: Adapter,
        ws: Connection,
        shard: list[Subscription],
        budget: ConnectionBudget,
        dedupe: _Dedupe,
    ) -> None:
        self.source = source
        self.adapter = adapter
        self.ws = ws
        self.shard = shard
        self.budget = budget
        self.dedupe = dedupe
        #: tells this connection's trade-id ranges apart in the dedupe
        self.number = next(_session_numbers)
        #: when it was opened (ms, the feed's clock): where a first refused frame's Gap starts
        self.opened_ms = source._now_ms()
        #: frames of unsubscribed streams (adapter.unsolicited) already reported, and when
        self.unsolicited_reported = 0
        self.unsolicited_report_at: float | None = None
        self.scope: trio.CancelScope | None = None
        self.nursery: trio.Nursery | None = None
        self.live = False
        self.pending: set[Subscription] = set()
        self.acked = trio.Event()
        self.handoff = trio.Event()
        self.handoff_reason = ""
        #: exchange times (ms) of the first and newest exchange-stamped record received
        self.first_ts: int | None = None
        self.last_ts: int | None = None
        #: set after each batch while a handoff waits for this connection to catch up
        self.progress: trio.Event | None = None
        self.last_rx = trio.current_time()
        #: when we last sent a text frame (OKX closes a connection whose client is silent)
        self.last_tx = self.last_rx
        self.pong = trio.Event()
        self.ping_sent_at: dict[bytes, float] = {}
        self.okx_ping_at: float | None = None
        ws.on_pong = self._on_ws_pong
        book_symbols = [
            x.symbol for x in shard if x.channel == "book" and x.symbol in source.full_books
        ]
        self.books: BookKeeper | None = None
        if book_symbols and source.rest is not None:
            st = source.settings
            self.books = BookKeeper(
                source.exchange,
                book_symbols,
                depth=st.book_depth,
                deltas=st.book_deltas,
                rest=source.rest,
                clock=st.clock,
                spawn=self._spawn,
                resubscribe=self._resubscribe_book,
                emit=source._emit,
                on_error=self._book_error,
            )

    # -- subscribe -------------------------------------------------------------------------
    async def subscribe_all(self) -> None:
        src = self.source
        subs = [x for x in self.shard if x not in src.rejected]
        self.pending = set(subs)
        if not subs:
            return
        for frame in self.adapter.subscribe(subs):
            await self.budget.request()
            await src.budget.request()
            await self._send_text(frame)

    async def _send_text(self, frame: str) -> None:
        self.last_tx = trio.current_time()
        await self.ws.send_text(frame)

    async def _retry_individually(self, subs: tuple[Subscription, ...]) -> None:
        """A batch was refused whole (Binance): find the bad ones one by one."""
        for sub in subs:
            for frame in self.adapter.subscribe([sub]):
                await self.budget.request()
                await self.source.budget.request()
                await self._send_text(frame)

    def _resolve(self, subs: Sequence[Subscription]) -> None:
        self.pending.difference_update(subs)
        if not self.pending:
            self.acked.set()

    def _spawn(self, fn: Callable[[str], Any], arg: str) -> None:
        if self.nursery is not None:
            self.nursery.start_soon(fn, arg)

    def _book_error(self, message: str) -> None:
        self.source.errors += 1
        self.source.last_error = message
        self.source._error("book", message)

    async def _resubscribe_book(self, symbol: str) -> None:
        """OKX: a fresh snapshot for one book channel; the other channels are untouched."""
        subs = [x for x in self.shard if x.channel == "book" and x.symbol == symbol]
        for frames in (self.adapter.unsubscribe(subs), self.adapter.subscribe(subs)):
            for frame in frames:
                await self.budget.request()
                await self.source.budget.request()
                await self._send_text(frame)

    # -- heartbeat -------------------------------------------------------------------------
    def _on_ws_pong(self, payload: bytes) -> None:
        sent = self.ping_sent_at.pop(payload, None)
        if sent is not None:
            self.source.latency.add_rtt(trio.current_time() - sent)
            self.pong.set()

    async def heartbeat(self) -> None:
        s = self.source.settings
        latency = self.source.latency
        counter = 0
        while True:
            interval = s.heartbeat_interval
            slow = latency.last_rtt
            if slow is not None and slow > s.max_source_latency:
                # the last round trip was slow (a source that lags from the start shows
                # only here): measure again soon, so its recovery is seen soon too
                interval = min(interval, max(s.max_source_latency, 0.5))
            if self.adapter.ping() is None:
                # WS control pings (Binance): a regular ping measures the round trip.
                await trio.sleep(interval)
                counter += 1
                payload = str(counter).encode()
                self.pong = trio.Event()
                await self.budget.message()
                self.ping_sent_at = {payload: trio.current_time()}
                await self.ws.ping(payload)
            else:
                # text ping (OKX) when the line has been quiet for `interval` in either
                # direction: OKX also closes (4004) a connection whose client sends nothing
                # for 30 s, however much data it receives.
                deadline = min(self.last_rx, self.last_tx) + interval
                if trio.current_time() < deadline:
                    await trio.sleep_until(deadline)
                    continue
                self.pong = trio.Event()
                await self.budget.message()
                self.okx_ping_at = trio.current_time()
                await self._send_text(self.adapter.ping() or "ping")
            with trio.move_on_after(s.pong_timeout) as cs:
                await self.pong.wait()
            if cs.cancelled_caught:
                raise SessionEnded("heartbeat_timeout", f"no pong within {s.pong_timeout} s")

    async def age_limit(self, age: float) -> None:
        await trio.sleep(age)
        self.request_handoff("connection_age")

    def request_handoff(self, reason: str) -> None:
        if not self.handoff.is_set():
            self.handoff_reason = reason
            self.handoff.set()

    async def wait_handoff(self) -> str:
        await self.handoff.wait()
        return self.handoff_reason

    def caught_up(self, new: _Session) -> bool:
        """True once this (old) connection delivered data as new as ``new``'s first."""
        return (
            new.first_ts is not None and self.last_ts is not None and self.last_ts >= new.first_ts
        )

    async def catch_up(self, new: _Session) -> None:
        while not self.caught_up(new):
            self.progress = new.progress = trio.Event()
            await self.progress.wait()
        self.progress = new.progress = None

    # -- the receive path ------------------------------------------------------------------
    async def read(self) -> None:
        src = self.source
        settings = src.settings
        clock = settings.clock
        adapter = self.adapter
        parse = adapter.parse
        receive = self.ws.receive_batch
        key = id(self.shard)
        strikes = src.idle_strikes.get(key, 0)
        base_idle = settings.stale_after
        # after consecutive stale reconnects (a quiet market), wait longer each time, up to
        # 256x (at most 30 min, unless stale_after is longer): a market that stays quiet
        # for hours costs a handful of reconnects, not one every few minutes
        idle = min(base_idle * (2 ** min(strikes, 8)), max(base_idle, 1800.0))
        with trio.CancelScope(deadline=trio.current_time() + idle) as watchdog:
            while True:
                frames = await receive()
                now = trio.current_time()
                self.last_rx = now
                if not frames:
                    continue
                received_at = clock()
                out: list[Any] = []
                for frame in frames:
                    parse(frame, received_at, out)
                if adapter.unsolicited != self.unsolicited_reported:
                    self._report_unsolicited(now)
                records = self._sort(out, received_at)
                if self.books is not None and records:
                    records = self.books.process(records)
                if records:
                    if idle != base_idle:
                        idle, strikes = base_idle, 0
                        src.idle_strikes[key] = 0
                    watchdog.deadline = now + idle
                    # per batch, not per record: the newest record of each stream
                    if self.first_ts is None:
                        # data records only: a batch may hold events (a book Gap first of
                        # all on a fresh connection), which have no timestamp
                        stamps = [
                            r.timestamp
                            for r in records
                            if r.kind in _STAMPED and getattr(r, "exchange_time", True)
                        ]
                        if stamps:
                            self.first_ts = min(stamps)
                    by_topic = src._by_topic
                    seen: set[tuple[str, str]] = set()
                    newest_of: list[tuple[Subscription, Any]] = []
                    wanted = len(self.shard)
                    for r in reversed(records):
                        if r.kind not in _STAMPED:
                            continue
                        k = (r.kind, r.symbol)
                        if k in seen:
                            continue
                        seen.add(k)
                        sub = by_topic.get(("book" if k[0] == "book_delta" else k[0], k[1]))
                        if sub is not None:
                            newest_of.append((sub, r))
                            if len(newest_of) >= wanted:
                                break
                    last_ts = src.last_ts
                    pending = self.pending
                    newest = self.last_ts
                    for sub, r in newest_of:
                        src.last_data[sub] = received_at
                        if getattr(r, "exchange_time", True):
                            ts = r.timestamp
                            last_ts[sub] = ts
                            if newest is None or ts > newest:
                                newest = ts
                        if pending and sub in pending:
                            self._resolve((sub,))
                    self.last_ts = newest
                    if self.progress is not None:
                        self.progress.set()
                    # during a handoff overlap a whole batch may be repeats
                    records = self.dedupe.filter(
                        records, self.number, src.exchange, int(received_at * 1000)
                    )
                    if not records:
                        continue
                    src.messages += len(records)
                    src.last_update = received_at
                    src._emit(records)
        # watchdog fired: no data on this connection for `idle` seconds
        src.idle_strikes[key] = strikes + 1
        raise SessionEnded("stale", f"no data for {idle:g} s")

    def _sort(self, out: list[Any], received_at: float) -> list[Any]:
        """Split parser output into records (returned) and control events (handled here)."""
        records: list[Any] = []
        src = self.source
        for item in out:
            kind = getattr(item, "kind", None)
            if kind is not None:
                records.append(item)
                continue
            if isinstance(item, Subscribed):
                self._resolve(item.subscriptions)
                if self.books is not None:
                    for sub in item.subscriptions:
                        if sub.channel == "book":
                            records.extend(self.books.on_subscribed(sub.symbol))
            elif isinstance(item, Pong):
                if self.okx_ping_at is not None:
                    src.latency.add_rtt(trio.current_time() - self.okx_ping_at)
                    self.okx_ping_at = None
                self.pong.set()
            elif isinstance(item, Rejected):
                self._on_rejected(item)
            elif isinstance(item, ServerShutdown):
                src._event("server_shutdown", f"{item.code} {item.message}".strip())
                self.request_handoff(f"server_shutdown {item.code}".strip())
            elif isinstance(item, ParseError):
                src.errors += 1
                src.last_error = f"parse error: {item.problem}"
                src._error("malformed_frame", f"malformed frame: {item.problem}")
                if not item.control:
                    records.extend(self._lost(item, received_at))
            elif isinstance(item, ExchangeError):
                src.errors += 1
                src.last_error = f"exchange error {item.code}: {item.message}"
                src._error("exchange_error", src.last_error or "")
        return records

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
        if self.books is not None and item.stream in FULL_BOOK_STREAMS:
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

    def _on_rejected(self, item: Rejected) -> None:
        src = self.source
        src.errors += 1
        subs = item.subscriptions
        if len(subs) > 1:
            # refused as a batch: ask again one by one to find the bad one(s)
            self._spawn_retry(subs)
            return
        now = int(src.settings.clock() * 1000)
        events: list[Any] = []
        for sub in subs:
            src.rejected.add(sub)
            events.append(
                SubscriptionRejected(
                    src.exchange, sub.symbol, sub.channel, item.code, item.message, now
                )
            )
        if not subs:
            src._error("request_refused", f"request refused [{item.code}] {item.message}")
        src.last_error = f"subscription rejected [{item.code}] {item.message}"
        src._emit(events)
        self._resolve(subs)

    def _spawn_retry(self, subs: tuple[Subscription, ...]) -> None:
        # run the retries beside the reader, never blocking it
        if self.nursery is not None:
            self.nursery.start_soon(self._retry_individually, subs)


def _split_userinfo(url: str) -> tuple[str, tuple[str, str] | None]:
    """``https://user:pw@host:port`` -> (``https://host:port``, (user, pw))."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url, None
    host = parts.netloc.rpartition("@")[2]
    auth = (unquote(parts.username or ""), unquote(parts.password or ""))
    return urlunsplit(parts._replace(netloc=host)), auth


class _BasicAuth(httpx.AsyncBaseTransport):
    """Adds HTTP Basic credentials to every request (for REST base URLs with userinfo)."""

    def __init__(self, inner: httpx.AsyncBaseTransport | None, user: str, password: str) -> None:
        self._inner = inner or httpx.AsyncHTTPTransport()
        token = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
        self._header = f"Basic {token}"

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        request.headers["Authorization"] = self._header
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()


def _leaves(exc: BaseException) -> list[BaseException]:
    if isinstance(exc, BaseExceptionGroup):
        out: list[BaseException] = []
        for e in exc.exceptions:
            out.extend(_leaves(e))
        return out
    return [exc]


def explain(exc: BaseException) -> tuple[str, str]:
    """``(reason, detail)`` for why a connection ended; re-raises anything unexpected."""
    leaves = _leaves(exc)
    for leaf in leaves:
        if isinstance(leaf, SessionEnded):
            return leaf.reason, redact(leaf.detail)
    for leaf in leaves:
        if isinstance(leaf, TLSError):
            return leaf.reason, redact(leaf.detail)
        if isinstance(leaf, ConnectionClosed):
            return "closed", redact(f"{leaf.code} {leaf.reason}".strip())
        if isinstance(leaf, trio.TooSlowError):
            return "timeout", "timed out"
        if isinstance(leaf, HandshakeRejected):
            return "handshake_rejected", redact(str(leaf))
        if isinstance(leaf, ProtocolError):
            return "protocol_error", redact(str(leaf))
        if isinstance(leaf, (trio.BrokenResourceError, trio.ClosedResourceError, ssl.SSLError)):
            cause = leaf.__cause__ or leaf.__context__
            if isinstance(leaf, ssl.SSLError) or isinstance(cause, ssl.SSLError):
                # a connector that did its own TLS: classified like ours
                tls = tls_error(leaf)
                return tls.reason, redact(tls.detail)
            return "connect_failed", redact(f"{type(leaf).__name__}: {leaf} {cause or ''}".strip())
        if isinstance(leaf, OSError):
            return "connect_failed", redact(f"{type(leaf).__name__}: {leaf}")
    raise exc


def jitter_bounds(base: float, cap: float, failures: int) -> tuple[float, float]:
    """The interval a full-jitter backoff delay falls in after ``failures`` failures."""
    return 0.0, min(cap, base * math.pow(2, failures))


def status_of(source: Source) -> SourceStatus:
    s = source.settings
    now = s.clock()
    stale = tuple(
        sorted(
            sub.topic
            for sub in source.subscriptions
            if sub not in source.rejected
            and (now - source.last_data.get(sub, -math.inf)) > s.stale_after
        )
    )
    tracker = source.latency
    lag = tracker.lag.percentiles()
    rtt = tracker.rtt.percentiles()
    latency = tracker.current_lag(trio.current_time())
    if latency is None and rtt is not None:
        latency = rtt.p50
    connected = source.live_sessions > 0
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
