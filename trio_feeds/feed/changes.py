"""``Feed.subscribe`` / ``Feed.unsubscribe``: checked first, then applied on every source of
the feed (the standbys follow the primary), each change told by a
:class:`~trio_feeds.SubscriptionChange` event."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import trio

from trio_feeds.core.errors import ConfigError, ProtocolError, SymbolError
from trio_feeds.core.records import SubscriptionChange
from trio_feeds.core.symbols import canonical
from trio_feeds.engine import subscriptions
from trio_feeds.engine.instruments import fetch_instruments
from trio_feeds.engine.source import Source
from trio_feeds.protocol import Subscription, normalize_channel

__all__ = ["apply", "listed", "names", "plan"]


def names(what: str, value: Iterable[str] | str) -> list[str]:
    """``value`` as a non-empty list of strings (one string is a list of one)."""
    items = [value] if isinstance(value, str) else list(value)
    if not items or not all(isinstance(x, str) for x in items):
        raise ConfigError(f"{what} must be a string or a non-empty list of strings, got {value!r}")
    return items


async def listed(source: Source) -> set[str] | None:
    """The symbols ``source``'s exchange lists (any status), or None when that cannot be
    told (no instrument list, or it could not be fetched)."""
    if source.spec.instruments is None:
        return None
    wait = source.settings.connect_timeout
    try:
        with trio.fail_after(wait):
            items = await fetch_instruments(
                source.exchange,
                rest_url=source.rest_url,
                http_transport=source.settings.http_transport,
                request_timeout=wait,
            )
    except (ProtocolError, trio.TooSlowError):
        return None
    return {i.symbol for i in items}


async def plan(
    sources: Mapping[str, Source],
    symbols: Iterable[str] | str,
    channels: Iterable[str] | str,
    exchanges: Iterable[str] | str | None,
    check_listed: bool,
) -> dict[str, list[Subscription]]:
    """The subscriptions each source would change, every argument checked first: a bad
    symbol, channel or exchange raises (naming it) before anything changes."""
    syms = [canonical(s) for s in names("symbols", symbols)]
    chans: list[str] = []
    for c in names("channels", channels):
        n = normalize_channel(c)
        if n not in chans:
            chans.append(n)
    targets = (
        list(sources) if exchanges is None else [x.lower() for x in names("exchanges", exchanges)]
    )
    for name in targets:
        if name not in sources:
            raise ConfigError(f"{name!r} is not an exchange of this feed ({', '.join(sources)})")
    out: dict[str, list[Subscription]] = {}
    for name in targets:
        source = sources[name]
        known = await listed(source) if check_listed else None
        subs: list[Subscription] = []
        for ch in chans:
            if source.spec.rest_poll(ch) is not None:
                raise ConfigError(
                    f"{ch} is polled over REST on {name}: give it to open_feed (it cannot be "
                    "added to or removed from a running feed yet)"
                )
        for sym in syms:
            if known is not None and sym not in known:
                raise SymbolError(sym, f"not listed by {name}", name)
            for ch in chans:
                stream = source.book_stream if ch == "book" else None
                subs.append(source._probe.subscription(ch, sym, stream))
        out[name] = subs
    return out


async def apply(
    sources: Mapping[str, Source], changes: dict[str, list[Subscription]], action: str
) -> dict[str, list[Subscription]]:
    """Add (``action`` ``"subscribed"`` / ``"instrument_added"``) or remove the planned
    subscriptions on each source, every source at once; one event per source that
    changed.  Returns what changed per source."""
    adding = action in ("subscribed", "instrument_added")
    done: dict[str, list[Subscription]] = {}

    async def one(name: str, subs: list[Subscription]) -> None:
        source = sources[name]
        changed = await (subscriptions.add if adding else subscriptions.remove)(source, subs)
        if changed:
            done[name] = changed
            source._emit([_event(source, action, changed)])

    async with trio.open_nursery() as nursery:
        for name, subs in changes.items():
            nursery.start_soon(one, name, subs)
    return done


def _event(source: Source, action: str, subs: list[Subscription]) -> Any:
    symbols = tuple(dict.fromkeys(x.symbol for x in subs))
    channels = tuple(dict.fromkeys(x.channel for x in subs))
    return SubscriptionChange(source.exchange, action, symbols, channels, source._now_ms())
