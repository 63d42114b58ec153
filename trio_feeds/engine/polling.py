"""Channels served over REST only, polled: the trio side of ``ExchangeSpec.rest_polls``.

Some data has no WebSocket stream (Binance USD-M open interest): the exchange's spec
declares the channel a :class:`~trio_feeds.exchanges.spec.RestPoll` (path builder, parser,
request weight) and the source runs one :class:`RestPoller` beside its connections.  Each
subscribed symbol is polled at a fixed interval through the source's
:class:`~trio_feeds.engine.books.RestClient`, so polls and book snapshots share one REST
budget; the records go out on the source's channel like streamed ones.  Polling never
touches a socket reader: the tasks only hand finished records to the feed's unbounded
channel.

A failed poll (HTTP error, timeout, an unusable body) is an ``error`` event (reason
``rest_poll``) naming the symbol and channel, and that symbol backs off: the next try
comes after ``interval * 2**failures`` seconds (at most :data:`MAX_POLL_BACKOFF`, or the
interval when that is longer); the other symbols and channels go on.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import trio

from trio_feeds.core.errors import ConfigError, ProtocolError
from trio_feeds.exchanges.spec import ExchangeSpec, RestPoll
from trio_feeds.protocol import Subscription

if TYPE_CHECKING:
    from trio_feeds.engine.books import RestClient
    from trio_feeds.engine.source_base import SourceBase

__all__ = [
    "DEFAULT_POLL_INTERVAL",
    "MAX_POLL_BACKOFF",
    "POLL_BUDGET_SHARE",
    "RestPoller",
    "check_poll_budget",
]

#: seconds between two polls of one symbol, unless ``Settings.poll_intervals`` says otherwise
DEFAULT_POLL_INTERVAL = 5.0
#: the longest a failing symbol waits between tries (unless its interval is longer)
MAX_POLL_BACKOFF = 60.0


#: polls may take at most this share of an exchange's REST budget (the rest is for book
#: snapshots and setup requests)
POLL_BUDGET_SHARE = 0.5


def check_poll_budget(
    spec: ExchangeSpec, channels: Sequence[str], symbols: Sequence[str], intervals: dict[str, float]
) -> None:
    """Refuse (:class:`~trio_feeds.ConfigError`) intervals at which polling ``symbols`` would
    take more than :data:`POLL_BUDGET_SHARE` of ``spec``'s REST budget, naming the shortest
    interval that fits."""
    polls = [
        (p, intervals.get(c, DEFAULT_POLL_INTERVAL)) for c in channels if (p := spec.rest_poll(c))
    ]
    if not polls or not symbols:
        return
    allowed = spec.limits.rest_rate * POLL_BUDGET_SHARE
    used = len(symbols) * sum(p.weight / interval for p, interval in polls)
    if used > allowed:
        channel = polls[0][0].channel
        shortest = len(symbols) * sum(p.weight for p, _ in polls) / allowed
        raise ConfigError(
            f"{channel}_interval: polling {len(symbols)} symbol(s) of {spec.name} would use "
            f"{used:g} {spec.limits.rest_unit}/s of its REST budget ({spec.limits.rest_rate:g}/s, "
            f"at most {allowed:g}/s for polls); use an interval of at least {shortest:g} s"
        )


class RestPoller:
    """Polls the REST-served subscriptions of one source (see the module docstring)."""

    def __init__(
        self,
        source: SourceBase,
        subscriptions: Sequence[Subscription],
        rest: RestClient,
    ) -> None:
        self.source = source
        self.rest = rest
        self.jobs: list[tuple[Subscription, RestPoll, float]] = []
        intervals = source.settings.poll_intervals
        for sub in subscriptions:
            poll = source.spec.rest_poll(sub.channel)
            if poll is None:  # pragma: no cover - the source only hands polled channels
                raise ValueError(f"{source.exchange} does not poll channel {sub.channel!r}")
            self.jobs.append((sub, poll, intervals.get(sub.channel, DEFAULT_POLL_INTERVAL)))
        #: polls answered with a record / failed, over all symbols
        self.polls = 0
        self.failures = 0
        #: the last poll of every symbol succeeded (False before the first answer)
        self.ok = False
        self._failing: set[Subscription] = set()

    async def run(self) -> None:
        """Poll every subscription until cancelled; their first polls are spread over the
        shortest interval, so a feed of many symbols does not ask for all at once."""
        if not self.jobs:
            return
        spread = min(interval for _, _, interval in self.jobs) / len(self.jobs)
        async with trio.open_nursery() as nursery:
            for i, (sub, poll, interval) in enumerate(self.jobs):
                nursery.start_soon(self._poll, sub, poll, interval, i * spread)

    async def _poll(
        self, sub: Subscription, poll: RestPoll, interval: float, offset: float
    ) -> None:
        src = self.source
        clock = src.settings.clock
        path = poll.path(sub.symbol)
        await trio.sleep(offset)
        failures = 0
        newest: int | None = None
        while True:
            started = trio.current_time()
            try:
                body = await self.rest.get(path, poll.weight)
                record: Any = poll.parse(body, sub.symbol, clock())
            except Exception as exc:  # HTTP failures, and whatever a parser refuses
                failures += 1
                why = str(exc) if isinstance(exc, ProtocolError) else f"{type(exc).__name__}: {exc}"
                self._failed(sub, why)
                delay = min(interval * 2.0 ** min(failures, 16), max(interval, MAX_POLL_BACKOFF))
                await trio.sleep(delay)
                continue
            failures = 0
            self._answered(sub)
            ts = record.timestamp
            if newest is None or ts > newest:  # an answer no newer than the last is a repeat
                newest = ts
                src.last_data[sub] = record.received_at
                src.last_ts[sub] = ts
                src.last_update = record.received_at
                src.messages += 1
                src._emit([record])
            await trio.sleep_until(max(started + interval, trio.current_time()))

    def _failed(self, sub: Subscription, why: str) -> None:
        src = self.source
        self.failures += 1
        self._failing.add(sub)
        self.ok = False
        if not src.shards:
            src.state = "backoff"
        detail = f"{sub.symbol} {sub.channel}: {why}"
        src.errors += 1
        src.last_error = detail
        src._error("rest_poll", detail)

    def _answered(self, sub: Subscription) -> None:
        self.polls += 1
        self._failing.discard(sub)
        self.ok = not self._failing
        if self.ok and not self.source.shards:
            self.source.state = "streaming"  # nothing else would say so
