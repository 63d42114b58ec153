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

from trio_feeds.core.errors import ConfigError
from trio_feeds.core.redact import redact
from trio_feeds.core.symbols import canonical
from trio_feeds.core.validate import seconds
from trio_feeds.engine.limits import shared_budget
from trio_feeds.engine.polling import DEFAULT_POLL_INTERVAL, check_poll_budget
from trio_feeds.engine.source import Settings, Source
from trio_feeds.engine.transport import Transport, get_transport
from trio_feeds.engine.ws import Connector
from trio_feeds.exchanges import ADAPTERS, DEFAULT_EXCHANGES, get
from trio_feeds.feed import wildcard
from trio_feeds.feed.aggregate import CONFLICT_MODES, Aggregator
from trio_feeds.feed.buffer import RecordBuffer
from trio_feeds.feed.running import Feed as Feed
from trio_feeds.feed.running import _unwrap as _unwrap
from trio_feeds.protocol import normalize_channel

__all__ = ["Feed", "open_feed"]


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
    exchanges: Iterable[str] | str = DEFAULT_EXCHANGES,
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
    open_interest_interval: float = DEFAULT_POLL_INTERVAL,
    connector: Connector | None = None,
    transport: str | Transport = "default",
    http_transport: httpx.AsyncBaseTransport | None = None,
    ssl_context: ssl.SSLContext | None = None,
    certificate_errors: str = "retry",
    clock: Callable[[], float] | None = None,
    seed: int | None = None,
    backfill: bool = True,
    backfill_timeout: float = 10.0,
    instrument_refresh: float | None = 3600.0,
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

    ``open_interest_interval`` is the seconds between two REST polls of one symbol's open
    interest on exchanges that have no stream for it (``binance-usdm``; see
    ``docs/engine.md``, "REST-polled channels"); intervals at which the polls would take
    more than half of the exchange's REST budget are refused.

    ``transport`` says how each connection's WebSocket runs: ``"default"`` (the fast
    receive path, one batch per socket read) or ``"trio-websocket"`` (over trio-websocket
    connections, one message at a time; same engine, same events), or any object
    implementing :class:`trio_feeds.engine.transport.Transport`.

    ``backfill`` (default on): trades missed across a reconnect, a handoff or a hole in
    the ids are fetched from the exchange's REST history and delivered in order before the
    next live trade, then a ``GapFilled`` event; ``backfill_timeout`` bounds one fetch (see
    ``docs/engine.md``, "Backfill").
    ``symbols="*"`` (or a list holding ``"*"``) streams every trading spot instrument of
    each exchange, ``"*-PERP"`` every trading perpetual, from its instrument list
    (:func:`trio_feeds.fetch_instruments`), over as many connections as the exchange's
    limits require; the lists are fetched again every ``instrument_refresh`` seconds
    (``None``: never) and new or gone instruments are subscribed or dropped, told by
    ``SubscriptionChange`` events.  ``feed.subscribe`` / ``feed.unsubscribe`` change the
    streams of a running feed (see ``docs/scaling.md``).
    """
    # exchange names are case-insensitive ("Binance" is "binance"), as on the CLI
    ex_names = [
        n.strip().lower() if isinstance(n, str) else n for n in _names("exchanges", exchanges)
    ]
    if len(set(ex_names)) != len(ex_names):
        raise ConfigError(f"exchanges lists an exchange twice: {ex_names}")
    specs = {name: get(name) for name in ex_names}
    adapters = {name: spec.adapter for name, spec in specs.items()}
    explicit, wild = wildcard.split(_names("symbols", symbols))
    sym_names = [canonical(s) for s in explicit]
    if instrument_refresh is not None:
        instrument_refresh = seconds("instrument_refresh", instrument_refresh)
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
        backfill_timeout=seconds("backfill_timeout", backfill_timeout),
        transport=get_transport(transport),
    )
    if ssl_context is not None and not isinstance(ssl_context, ssl.SSLContext):
        raise ConfigError(f"ssl_context must be an ssl.SSLContext or None, got {ssl_context!r}")
    if certificate_errors not in ("retry", "fatal"):
        raise ConfigError(
            f"certificate_errors must be 'retry' or 'fatal', got {certificate_errors!r}"
        )
    if not isinstance(backfill, bool):
        raise ConfigError(f"backfill must be True or False, got {backfill!r}")
    settings.backfill = backfill
    settings.ssl_context = ssl_context
    settings.certificate_errors = certificate_errors
    if isinstance(book_depth, bool) or not isinstance(book_depth, int) or book_depth < 1:
        raise ConfigError(
            f"book_depth must be a positive int (levels per side), got {book_depth!r}"
        )
    settings.book_depth = book_depth
    settings.poll_intervals = {
        "open_interest": seconds("open_interest_interval", open_interest_interval)
    }
    for spec in specs.values():
        check_poll_budget(spec, chan_names, sym_names, settings.poll_intervals)
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
    for name, spec in specs.items():
        idle = spec.heartbeat.client_idle_limit
        if idle is not None and settings.heartbeat_interval >= idle:
            raise ConfigError(
                f"heartbeat_interval must be under {idle:g} s for {name} (it closes connections "
                f"idle for {idle:g} s), got {heartbeat_interval!r}"
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
    for name, spec in specs.items():
        cls = spec.adapter
        probe = cls()
        # the exchange stream used for the "book" channel with book_mode="partial"
        partial = spec.books.partial_stream if book_mode == "partial" else None
        subs = [
            probe.subscription(ch, sym, partial if ch == "book" else None)
            for sym in sym_names
            for ch in chan_names
        ]
        listed: list[str] = []
        if wild:
            found = await wildcard.expand(
                spec, wild, _rest.get(name), http_transport, ssl_context,
                settings.connect_timeout,
            )  # fmt: skip
            named = set(sym_names)
            listed = [x for x in found if x not in named]
            subs += wildcard.subscriptions_for(probe, partial, listed, chan_names)
            if not subs:
                kinds = " and ".join(sorted(wild))
                raise ConfigError(f"symbols: {name} lists no trading {kinds} instruments")
        sources[name] = Source(
            cls,
            subs,
            settings,
            ws_urls.get(name, cls.default_url),
            send.clone(),
            shared_budget(name, spec.limits),
            _rest.get(name),
            spec=spec,
        )
        sources[name].book_stream = partial
        listed_set = set(listed)  # built once: per subscription it was O(streams x listed)
        sources[name].wildcard_symbols = {x.symbol for x in subs if x.symbol in listed_set}
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
            if wild and instrument_refresh is not None:
                nursery.start_soon(
                    wildcard.refresh, sources, wild, chan_names, instrument_refresh, ssl_context
                )
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
