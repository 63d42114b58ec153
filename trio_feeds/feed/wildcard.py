"""``open_feed(symbols="*")``: every trading instrument of each exchange, kept current.

``"*"`` means every trading spot instrument, ``"*-PERP"`` every trading perpetual (both
may be given, beside explicit symbols).  The lists come from
:func:`trio_feeds.fetch_instruments`; every ``instrument_refresh`` seconds they are fetched
again and the difference is subscribed / unsubscribed on the running feed, told by
``SubscriptionChange`` events (``"instrument_added"`` / ``"instrument_removed"``).
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping

import httpx
import trio

from trio_feeds.core.errors import ConfigError, ProtocolError
from trio_feeds.core.instruments import InstrumentKind
from trio_feeds.engine.instruments import DEFAULT_MAX_AGE, fetch_instruments
from trio_feeds.engine.source import Source
from trio_feeds.exchanges.spec import ExchangeSpec
from trio_feeds.feed import changes
from trio_feeds.protocol import Adapter, Subscription

__all__ = ["WILDCARDS", "expand", "refresh", "split", "subscriptions_for"]

#: the wildcard symbols and the instrument kind each stands for
WILDCARDS: dict[str, InstrumentKind] = {"*": "spot", "*-PERP": "perpetual"}


def split(symbols: list[str]) -> tuple[list[str], set[InstrumentKind]]:
    """``symbols`` → (the explicit ones, the instrument kinds asked for by wildcard)."""
    explicit: list[str] = []
    kinds: set[InstrumentKind] = set()
    for s in symbols:
        kind = WILDCARDS.get(s.strip().upper())
        if kind is None:
            explicit.append(s)
        else:
            kinds.add(kind)
    return explicit, kinds


async def expand(
    spec: ExchangeSpec,
    kinds: set[InstrumentKind],
    rest_url: str | None,
    http_transport: httpx.AsyncBaseTransport | None,
    ssl_context: ssl.SSLContext | None,
    deadline: float,
    max_age: float = DEFAULT_MAX_AGE,
) -> list[str]:
    """The trading symbols of ``kinds`` that ``spec``'s exchange lists (within ``deadline``
    seconds, else ``trio.TooSlowError``)."""
    if spec.instruments is None:
        raise ConfigError(f"symbols='*': {spec.name} has no instrument list")
    owned = None
    if http_transport is None and ssl_context is not None:
        http_transport = owned = httpx.AsyncHTTPTransport(verify=ssl_context)
    try:
        with trio.fail_after(deadline):
            items = await fetch_instruments(
                spec.name, rest_url=rest_url, http_transport=http_transport, max_age=max_age,
                request_timeout=deadline,
            )  # fmt: skip
    finally:
        if owned is not None:
            await owned.aclose()
    return [i.symbol for i in items if i.trading and i.kind in kinds]


def subscriptions_for(
    probe: Adapter, book_stream: str | None, symbols: list[str], channels: list[str]
) -> list[Subscription]:
    """Subscriptions for listed ``symbols``; pairs the exchange cannot serve (a perpetual
    channel of a spot pair, a symbol of the other market) are left out."""
    out: list[Subscription] = []
    for sym in symbols:
        for ch in channels:
            stream = book_stream if ch == "book" else None
            try:
                out.append(probe.subscription(ch, sym, stream))
            except ConfigError:
                continue
    return out


async def refresh(
    sources: Mapping[str, Source],
    kinds: set[InstrumentKind],
    channels: list[str],
    interval: float,
    ssl_context: ssl.SSLContext | None,
) -> None:
    """Every ``interval`` s: fetch the lists again; subscribe new listings, unsubscribe the
    instruments no longer trading.  A failed fetch is an ``error`` event (reason
    ``"instruments"``) and changes nothing."""
    while True:
        await trio.sleep(interval)
        for name, source in sources.items():
            try:
                wanted = set(
                    await expand(
                        source.spec, kinds, source.rest_url, source.settings.http_transport,
                        ssl_context, source.settings.connect_timeout, max_age=0,
                    )
                )  # fmt: skip
            except (ProtocolError, ConfigError, trio.TooSlowError) as exc:
                why = str(exc) or "no answer in time"
                source._event("error", f"instrument list: {why}", "instruments")
                continue
            current = source.wildcard_symbols
            added = sorted(wanted - current)
            removed = sorted(current - wanted)
            if added:
                # REST-polled channels are fixed at open_feed: new listings stream the others
                streamed = [c for c in channels if source.spec.rest_poll(c) is None]
                subs = subscriptions_for(source._probe, source.book_stream, added, streamed)
                await changes.apply({name: source}, {name: subs}, "instrument_added")
                current.update(added)
            if removed:
                gone = [
                    source._by_topic[(ch, sym)]
                    for sym in removed
                    for ch in channels
                    if (ch, sym) in source._by_topic and source.spec.rest_poll(ch) is None
                ]
                await changes.apply({name: source}, {name: gone}, "instrument_removed")
                current.difference_update(removed)
