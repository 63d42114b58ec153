"""``fetch_instruments``: an exchange's instrument list over REST, cached per trio run.

The exchange package says where the lists are and how to read them
(``SPEC.instruments``, sans-I/O); this module fetches them within the exchange's REST
budget and keeps the answer for ``max_age`` seconds (``trio.current_time()``, so virtual
time works).
"""

from __future__ import annotations

import attrs
import httpx
import trio

from trio_feeds.core.errors import ConfigError
from trio_feeds.core.instruments import Instrument
from trio_feeds.engine.books import RestClient

__all__ = ["DEFAULT_MAX_AGE", "fetch_instruments"]

#: how long a fetched list is reused (seconds)
DEFAULT_MAX_AGE = 3600.0


@attrs.define
class _Entry:
    lock: trio.Lock = attrs.field(factory=trio.Lock)
    at: float = -float("inf")
    items: list[Instrument] = attrs.field(factory=list)


_CACHE: trio.lowlevel.RunVar[dict[tuple[str, str], _Entry]] = trio.lowlevel.RunVar(
    "trio_feeds_instruments"
)


def _cache() -> dict[tuple[str, str], _Entry]:
    try:
        return _CACHE.get()
    except LookupError:
        cache: dict[tuple[str, str], _Entry] = {}
        _CACHE.set(cache)
        return cache


async def fetch_instruments(
    exchange: str,
    *,
    rest_url: str | None = None,
    http_transport: httpx.AsyncBaseTransport | None = None,
    max_age: float = DEFAULT_MAX_AGE,
    request_timeout: float = 10.0,
) -> list[Instrument]:
    """Every instrument ``exchange`` lists (all statuses), from its REST instrument lists.

    ::

        instruments = await trio_feeds.fetch_instruments("binance")
        trading = [i.symbol for i in instruments if i.trading]

    The answer is cached for this trio run and reused for ``max_age`` seconds
    (``max_age=0`` fetches again); concurrent callers share one fetch.  ``rest_url``
    replaces scheme, host and port (simulators, proxies); ``http_transport`` replaces how
    HTTP is sent.  The requests are paced within the exchange's REST limits
    (``SPEC.limits.rest_rate``; ``SPEC.instruments.cost`` units each).  An exchange
    without instrument lists raises :class:`~trio_feeds.ConfigError`; a failed or
    unreadable answer raises :class:`~trio_feeds.ProtocolError` naming the path (an HTTP
    request gets ``request_timeout`` seconds; bound the whole call with ``trio.fail_after``).
    """
    from trio_feeds.exchanges import get

    spec = get(exchange)
    lists = spec.instruments
    if lists is None:
        raise ConfigError(f"{spec.name} has no instrument list (SPEC.instruments is None)")
    base = (rest_url or spec.default_rest_url).rstrip("/")
    entry = _cache().setdefault((spec.name, base), _Entry())
    async with entry.lock:
        if trio.current_time() - entry.at < max_age:
            return list(entry.items)
        client = RestClient(spec, base, http_transport, timeout=request_timeout)
        try:
            items: list[Instrument] = []
            for path in lists.paths:
                items.extend(lists.parse(await client.get(path, lists.cost)))
        finally:
            with trio.CancelScope(shield=True):
                await client.aclose()
        entry.items, entry.at = items, trio.current_time()
        return list(items)
