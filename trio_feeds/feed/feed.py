"""``open_feed``: the public entry point, and the ``Feed`` it yields.

Task tree::

    open_feed                              nursery (the feed's)
    ├── Source.run (one per exchange)      see trio_feeds.engine.source
    │   └── … connections send (exchange, batch) on a memory channel
    └── _aggregate                         receives batches, applies the source
                                           policy, fills the RecordBuffer
    consumer: ``async for record in feed`` pops from the RecordBuffer
"""

from __future__ import annotations

import math
import random
import ssl
import time
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlsplit

import httpx
import trio

from trio_feeds.core.errors import ConfigError, ReconnectLimitError
from trio_feeds.core.records import DATA_KINDS, Item
from trio_feeds.core.redact import redact
from trio_feeds.core.symbols import canonical
from trio_feeds.core.validate import seconds
from trio_feeds.engine.limits import shared_budget
from trio_feeds.engine.source import Settings, Source, status_of
from trio_feeds.engine.stats import Health
from trio_feeds.engine.transport import Transport, get_transport
from trio_feeds.engine.ws import Connector
from trio_feeds.exchanges import ADAPTERS, get_adapter
from trio_feeds.feed.aggregate import CONFLICT_MODES, Aggregator
from trio_feeds.feed.buffer import RecordBuffer
from trio_feeds.protocol import normalize_channel

_DATA_KINDS = frozenset({*DATA_KINDS, "book_delta"})

#: the exchange stream used for the ``"book"`` channel with ``book_mode="partial"``
BOOK_STREAMS: dict[str, str] = {"binance": "depth20@100ms", "okx": "books5"}


class Feed:
    """A running feed.  Iterate it for records and events; ask it for :meth:`health`."""

    def __init__(
        self,
        sources: dict[str, Source],
        buffer: RecordBuffer,
        aggregator: Aggregator,
        clock: Callable[[], float],
        stale_after: float,
        events_in_stream: bool = True,
    ) -> None:
        self.sources = sources
        self._buffer = buffer
        self._aggregator = aggregator
        self._clock = clock
        self._stale_after = stale_after
        self._events_in_stream = events_in_stream
        self._event_channels: list[trio.MemorySendChannel[Item]] = []
        self._nursery: trio.Nursery | None = None
        self._source_scopes: dict[str, trio.CancelScope] = {}
        self._watch_scopes: dict[str, trio.CancelScope] = {}
        #: events an unread :meth:`events` channel could not take
        self.events_dropped = 0

    # -- the consumer's side ---------------------------------------------------------------
    def events(self, max_buffer: int = 1000) -> trio.MemoryReceiveChannel[Item]:
        """A channel of the stream events only (gaps, switches, source changes, …).

        It never blocks the data: when it is full, further events are counted in
        :attr:`events_dropped` and skipped.  Events stay in the main stream unless
        the feed was opened with ``events_in_stream=False``.
        """
        send, receive = trio.open_memory_channel[Item](max_buffer)
        self._event_channels.append(send)
        return receive

    @property
    def switches(self) -> list[Any]:
        """Every ``SourceSwitch`` so far."""
        return list(self._aggregator.switches)

    def __aiter__(self) -> Feed:
        return self

    async def __anext__(self) -> Item:
        try:
            item: Item = await self._buffer.get()
        except trio.EndOfChannel:
            raise StopAsyncIteration from None
        return item

    async def receive(self) -> Item:
        """The next record or event (``trio.EndOfChannel`` at the end)."""
        item: Item = await self._buffer.get()
        return item

    def receive_nowait(self) -> Item:
        """The next buffered item, or raise ``trio.WouldBlock``."""
        item: Item = self._buffer.get_nowait()
        return item

    # -- the feed's own tasks ---------------------------------------------------------------
    def _start_source(self, name: str) -> None:
        assert self._nursery is not None
        if name in self._source_scopes:
            return
        self._aggregator.health[name].running = True
        self._source_scopes[name] = scope = trio.CancelScope()
        self._nursery.start_soon(self._run_source, name, scope)

    def _on_demand(self, name: str, wanted: bool) -> None:
        """Cold standby: start a standby when failover needs it, stop it after failback."""
        if wanted:
            self._start_source(name)
        else:
            scope = self._source_scopes.pop(name, None)
            if scope is not None:
                scope.cancel()
                self._aggregator.health[name].running = False

    async def _run_source(self, name: str, scope: trio.CancelScope) -> None:
        source = self.sources[name]
        with scope:
            try:
                await source.run()
            except* ReconnectLimitError as group:
                # through the channel, behind the "gave_up" event the source sent before
                error = _unwrap(group)  # the ReconnectLimitError itself, not a group of one
                try:
                    source._send.send_nowait(("", [error]))
                except (trio.BrokenResourceError, trio.ClosedResourceError):
                    pass
        if self._source_scopes.get(name) is scope:
            del self._source_scopes[name]
        source.reset_state()

    async def _aggregate(self, receive: trio.MemoryReceiveChannel[tuple[str, list[Any]]]) -> None:
        aggregator = self._aggregator
        process = aggregator.process
        scopes = self._watch_scopes
        deadlines = aggregator.deadlines
        async with receive:
            async for exchange, items in receive:
                if not exchange:  # a source gave up for good
                    if all(s.gave_up for s in self.sources.values()):
                        self._buffer.close(items[0])
                    continue
                out = process(exchange, items)
                for key, scope in scopes.items():
                    d = deadlines.get(key, math.inf)
                    if scope.deadline != d:
                        scope.deadline = d
                if out:
                    self._deliver(out)

    def _deliver(self, out: list[Any]) -> None:
        if self._event_channels:
            for item in out:
                if item.kind not in _DATA_KINDS:
                    self._publish_event(item)
            if not self._events_in_stream:
                out = [i for i in out if i.kind in _DATA_KINDS]
        elif not self._events_in_stream:
            out = [i for i in out if i.kind in _DATA_KINDS]
        if out:
            self._buffer.put_many(out)

    def _publish_event(self, item: Item) -> None:
        for ch in list(self._event_channels):
            try:
                ch.send_nowait(item)
            except trio.WouldBlock:
                self.events_dropped += 1
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                self._event_channels.remove(ch)

    async def _watch(self, key: str) -> None:
        """Wake the aggregator when ``key``'s deadline passes (a deadline scope per source)."""
        aggregator = self._aggregator
        while True:
            with trio.CancelScope(deadline=aggregator.deadlines.get(key, math.inf)) as scope:
                self._watch_scopes[key] = scope
                await trio.sleep_forever()
            out = aggregator.expire()
            if aggregator.deadlines.get(key, math.inf) <= trio.current_time():
                del aggregator.deadlines[key]  # never spin on a deadline already past
            if out:
                self._deliver(out)

    @property
    def active_source(self) -> str | None:
        return self._aggregator.active

    @property
    def buffered(self) -> int:
        """Items waiting for the consumer."""
        return len(self._buffer)

    def close(self) -> None:
        """End iteration once the items already buffered have been consumed."""
        self._buffer.close()

    @property
    def dropped(self) -> int:
        """Records dropped because the consumer fell behind (see ``Dropped`` events)."""
        return self._buffer.dropped

    def health(self) -> Health:
        """A snapshot of every source's status and the feed's overall health."""
        now = self._clock()
        sources = {name: status_of(src) for name, src in self.sources.items()}
        for name, st in sources.items():
            if name == self.active_source:
                sources[name] = _with_dropped(st, self._buffer.dropped)
        active = self.active_source
        fresh = False
        if active is not None:
            st = sources[active]
            fresh = st.connected and (
                st.last_update is not None and now - st.last_update <= self._stale_after
            )
            if len(self.sources) > 1:
                fresh = fresh and self._aggregator.healthy(active)
        return Health(
            healthy=fresh,
            active_source=active,
            connected_sources=sum(1 for s in sources.values() if s.connected),
            total_sources=len(sources),
            sources=sources,
        )


def _with_dropped(st: Any, dropped: int) -> Any:
    import attrs

    return attrs.evolve(st, dropped=dropped)


def _names(name: str, value: Any) -> list[str]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, Iterable):
        raise ConfigError(f"{name} must be a list of strings, got {value!r}")
    items = list(value)
    if not items:
        raise ConfigError(f"{name} must not be empty")
    for v in items:
        if not isinstance(v, str):
            raise ConfigError(f"{name} must contain strings, got {v!r}")
    return items


def _base_url(name: str, exchange: str, url: Any, schemes: tuple[str, ...]) -> str:
    if exchange not in ADAPTERS:
        # a typo must not silently send the feed to the real exchange instead
        raise ConfigError(
            f"{name} has an entry for {exchange!r}, which is not an exchange "
            f"({', '.join(sorted(ADAPTERS))})"
        )
    if not isinstance(url, str):
        raise ConfigError(f"{name}[{exchange!r}] must be a URL string, got {redact(repr(url))}")
    shown = redact(repr(url))
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError as exc:
        raise ConfigError(f"{name}[{exchange!r}] = {shown}: {redact(exc)}") from None
    if parts.scheme not in schemes or not parts.hostname:
        raise ConfigError(
            f"{name}[{exchange!r}] = {shown}: expected "
            + " or ".join(f"{s}://host:port" for s in schemes)
        )
    if parts.path not in ("", "/") or parts.query:
        raise ConfigError(
            f"{name}[{exchange!r}] = {shown}: give scheme, host and port only; "
            "the exchange's own paths are added by trio_feeds"
        )
    return f"{parts.scheme}://{parts.netloc}"


@asynccontextmanager
async def open_feed(
    exchanges: Iterable[str] | str = ("binance",),
    symbols: Iterable[str] | str = ("BTC-USDT",),
    channels: Iterable[str] | str = ("trade",),
    *,
    urls: Mapping[str, str] | None = None,
    rest_urls: Mapping[str, str] | None = None,
    connect_timeout: float = 10.0,
    heartbeat_interval: float = 20.0,
    pong_timeout: float = 10.0,
    stale_after: float = 10.0,
    reconnect_delay: float = 1.0,
    max_reconnect_delay: float = 60.0,
    max_reconnect_attempts: int | None = None,
    max_connection_age: float | None = None,
    primary: str | None = None,
    failover: bool = True,
    conflict: str = "primary",
    max_source_latency: float = 5.0,
    health_check_interval: float = 10.0,
    failback_after: float = 30.0,
    standby: str = "hot",
    events_in_stream: bool = True,
    buffer_size: int = 65_536,
    keep_raw: bool = False,
    book_depth: int = 20,
    book_mode: str = "full",
    book_deltas: bool = False,
    connector: Connector | None = None,
    transport: str | Transport = "default",
    http_transport: httpx.AsyncBaseTransport | None = None,
    ssl_context: ssl.SSLContext | None = None,
    certificate_errors: str = "retry",
    clock: Callable[[], float] | None = None,
    seed: int | None = None,
) -> AsyncIterator[Feed]:
    """Stream normalized records from one or more exchanges.

    ::

        async with trio_feeds.open_feed(["binance"], ["BTC-USDT"], ["trade", "quote"]) as feed:
            async for record in feed:
                print(record)

    Every argument is checked before anything connects; a wrong one raises
    :class:`~trio_feeds.ConfigError` naming it.  Durations are seconds.
    ``urls`` / ``rest_urls`` replace scheme, host and port of an exchange's
    endpoints (for simulators and proxies); the exchange's paths are kept.
    ``connector`` replaces how byte streams are opened (``trio_feeds.testing``
    passes an in-memory one); ``clock`` replaces ``time.time`` for
    receive times (virtual-time tests).

    ``ssl_context`` is the TLS configuration for ``wss://`` and ``https://`` (default: the
    system trust store, certificate and host name verified); it is used by the default
    connector and, unless ``http_transport`` is given, for REST.  A failed TLS handshake is
    a ``SourceEvent`` (reason ``tls_certificate``, ``tls_reset``, ``tls_protocol`` or
    ``connect_timeout``) and is retried with backoff; ``certificate_errors="fatal"`` makes
    a refused certificate end the feed with :class:`~trio_feeds.TLSCertificateError` (a
    ``ConfigError``) instead.

    ``transport`` says how each connection's WebSocket runs: ``"default"`` (the fast
    receive path, one batch per socket read) or ``"trio-websocket"`` (over trio-websocket
    connections, one message at a time; same engine, same events), or any object
    implementing :class:`trio_feeds.engine.transport.Transport`.
    """
    ex_names = _names("exchanges", exchanges)
    if len(set(ex_names)) != len(ex_names):
        raise ConfigError(f"exchanges lists an exchange twice: {ex_names}")
    adapters = {name: get_adapter(name) for name in ex_names}
    sym_names = [canonical(s) for s in _names("symbols", symbols)]
    chan_names: list[str] = []
    for c in _names("channels", channels):
        n = normalize_channel(c)
        if n not in chan_names:
            chan_names.append(n)
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise ConfigError(f"seed must be an int or None, got {seed!r}")
    settings = Settings(
        connect_timeout=seconds("connect_timeout", connect_timeout),
        heartbeat_interval=seconds("heartbeat_interval", heartbeat_interval),
        pong_timeout=seconds("pong_timeout", pong_timeout),
        stale_after=seconds("stale_after", stale_after),
        reconnect_delay=seconds("reconnect_delay", reconnect_delay, allow_zero=True),
        max_reconnect_delay=seconds("max_reconnect_delay", max_reconnect_delay, allow_zero=True),
        keep_raw=bool(keep_raw),
        connector=connector,
        clock=clock or time.time,
        rng=random.Random(seed),
        http_transport=http_transport,
        book_deltas=bool(book_deltas),
        transport=get_transport(transport),
    )
    if ssl_context is not None and not isinstance(ssl_context, ssl.SSLContext):
        raise ConfigError(f"ssl_context must be an ssl.SSLContext or None, got {ssl_context!r}")
    if certificate_errors not in ("retry", "fatal"):
        raise ConfigError(
            f"certificate_errors must be 'retry' or 'fatal', got {certificate_errors!r}"
        )
    settings.ssl_context = ssl_context
    settings.certificate_errors = certificate_errors
    if isinstance(book_depth, bool) or not isinstance(book_depth, int) or book_depth < 1:
        raise ConfigError(
            f"book_depth must be a positive int (levels per side), got {book_depth!r}"
        )
    settings.book_depth = book_depth
    if book_mode not in ("full", "partial"):
        raise ConfigError(f"book_mode must be 'full' or 'partial', got {book_mode!r}")
    settings.max_source_latency = seconds("max_source_latency", max_source_latency)
    seconds("health_check_interval", health_check_interval)
    seconds("failback_after", failback_after, allow_zero=True)
    if max_reconnect_attempts is not None and (
        isinstance(max_reconnect_attempts, bool)
        or not isinstance(max_reconnect_attempts, int)
        or max_reconnect_attempts < 0
    ):
        raise ConfigError(
            f"max_reconnect_attempts must be None (retry forever) or an int >= 0, "
            f"got {max_reconnect_attempts!r}"
        )
    settings.max_reconnect_attempts = max_reconnect_attempts
    if max_connection_age is not None:
        settings.max_connection_age = seconds("max_connection_age", max_connection_age)
    if "okx" in adapters and settings.heartbeat_interval >= 30:
        raise ConfigError(
            f"heartbeat_interval must be under 30 s for okx (it closes connections idle for 30 s), "
            f"got {heartbeat_interval!r}"
        )
    if primary is None:
        primary = ex_names[0]
    if not isinstance(primary, str) or primary not in adapters:
        raise ConfigError(f"primary {primary!r} is not one of exchanges {ex_names}")
    if conflict not in CONFLICT_MODES:
        raise ConfigError(f"conflict must be one of {', '.join(CONFLICT_MODES)}, got {conflict!r}")
    if isinstance(buffer_size, bool) or not isinstance(buffer_size, int) or buffer_size < 1:
        raise ConfigError(f"buffer_size must be a positive int, got {buffer_size!r}")
    # every entry is checked; entries for exchanges this feed does not use are allowed
    # (one map of endpoints for several feeds)
    for arg, value in (("urls", urls), ("rest_urls", rest_urls)):
        if value is not None and not isinstance(value, Mapping):
            raise ConfigError(f"{arg} must be a mapping of exchange to URL, got {redact(value)}")
    ws_urls = {name: _base_url("urls", name, u, ("ws", "wss")) for name, u in (urls or {}).items()}
    _rest = {
        name: _base_url("rest_urls", name, u, ("http", "https"))
        for name, u in (rest_urls or {}).items()
    }

    send, receive = trio.open_memory_channel[tuple[str, list[Any]]](math.inf)
    sources: dict[str, Source] = {}
    for name, cls in adapters.items():
        probe = cls()
        subs = [
            probe.subscription(
                ch, sym, BOOK_STREAMS.get(name) if ch == "book" and book_mode == "partial" else None
            )
            for sym in sym_names
            for ch in chan_names
        ]
        sources[name] = Source(
            cls,
            subs,
            settings,
            ws_urls.get(name, cls.default_url),
            send.clone(),
            shared_budget(name),
            _rest.get(name),
        )
    send.close()
    buffer = RecordBuffer(buffer_size, settings.clock)
    if standby not in ("hot", "cold"):
        raise ConfigError(f"standby must be 'hot' or 'cold', got {standby!r}")
    aggregator = Aggregator(
        list(sources),
        primary=primary,
        failover=bool(failover),
        conflict=conflict,
        clock=settings.clock,
        now=trio.current_time,
        stale_after=settings.stale_after,
        max_source_latency=float(max_source_latency),
        failback_after=float(failback_after),
        connected=lambda name: sources[name].connected,
        latency={name: src.latency for name, src in sources.items()},
    )
    feed = Feed(sources, buffer, aggregator, settings.clock, settings.stale_after, events_in_stream)
    owned_transport: _TLSTransport | None = None
    if ssl_context is not None and http_transport is None:
        owned_transport = _TLSTransport(ssl_context)
        settings.http_transport = owned_transport

    try:
        async with trio.open_nursery() as nursery:
            feed._nursery = nursery
            for name in sources:
                if standby == "hot" or name == primary:
                    feed._start_source(name)
                else:
                    aggregator.health[name].running = False
            aggregator.on_demand = feed._on_demand
            aggregator.cold = standby == "cold"
            nursery.start_soon(feed._aggregate, receive)
            for key in [*sources, "failback", "grace"]:
                nursery.start_soon(feed._watch, key)
            try:
                yield feed
            finally:
                nursery.cancel_scope.cancel()
    except BaseExceptionGroup as group:
        leaf = _unwrap(group)
        if leaf is group:
            raise
        # the caller's own exception, with its cause (e.g. the ssl error behind a TLSError)
        raise leaf from leaf.__cause__
    finally:
        if owned_transport is not None:
            with trio.CancelScope(shield=True):
                await owned_transport.close()


class _TLSTransport(httpx.AsyncBaseTransport):
    """REST over ``https://`` with the feed's ``ssl_context``; shared by the feed's sources
    (each closes its client; the feed closes this once at the end)."""

    def __init__(self, ssl_context: ssl.SSLContext) -> None:
        self._inner = httpx.AsyncHTTPTransport(verify=ssl_context)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        pass

    async def close(self) -> None:
        await self._inner.aclose()


def _unwrap(group: BaseExceptionGroup[Any]) -> BaseException:
    """Give the caller their own exception back, not a group of one."""
    leaves = [e for e in group.exceptions if not isinstance(e, trio.Cancelled)]
    if len(leaves) == 1:
        leaf = leaves[0]
        if isinstance(leaf, BaseExceptionGroup):
            return _unwrap(leaf)
        result: BaseException = leaf
        return result
    return group


__all__ = [
    "Feed",
    "open_feed",
]
