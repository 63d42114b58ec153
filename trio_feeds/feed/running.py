"""The :class:`Feed` object :func:`trio_feeds.open_feed` yields: iteration, events, health,
and the tasks that run its sources and its aggregator (started by ``open_feed``)."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from time import perf_counter
from typing import Any

import trio

from trio_feeds.core.errors import ReconnectLimitError, SymbolError
from trio_feeds.core.records import DATA_KINDS, Item
from trio_feeds.engine.source import Source, status_of
from trio_feeds.engine.stats import Health
from trio_feeds.feed import changes
from trio_feeds.feed.aggregate import Aggregator
from trio_feeds.feed.buffer import YIELD_AFTER, RecordBuffer
from trio_feeds.feed.counters import FeedCounters

_DATA_KINDS = frozenset({*DATA_KINDS, "book_delta"})


__all__ = ["Feed"]


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
        buffer = self._buffer
        q = buffer._q
        # RecordBuffer.get's own first step, inlined (one coroutine less per record)
        if q and perf_counter() - buffer._last_yield < YIELD_AFTER:
            item: Item = q.popleft()
            return item
        try:
            item = await buffer.get()
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

    # -- changing what is streamed ----------------------------------------------------------
    async def subscribe(
        self,
        symbols: Iterable[str] | str,
        channels: Iterable[str] | str,
        *,
        exchanges: Iterable[str] | str | None = None,
    ) -> None:
        """Start streaming ``channels`` of ``symbols`` on the running feed (on every
        exchange of the feed, standbys included, or on ``exchanges``).

        Everything is checked first: a malformed symbol, one the exchange does not list
        (when its instrument list can be fetched) or a channel it lacks raises
        :class:`~trio_feeds.SymbolError` / :class:`~trio_feeds.ConfigError` naming it, and
        nothing changes.  Then each new stream goes to a connection with room (a
        ``SUBSCRIBE`` frame there, paced by the exchange's limits) or to a new connection;
        the other streams are untouched.  A full book goes through its normal sync.
        Returns once the requests are sent; a ``SubscriptionChange`` event
        (``"subscribed"``) per exchange says what was added (pairs already streamed are
        left alone); a refusal by the exchange is a ``SubscriptionRejected`` event.
        """
        plan = await changes.plan(self.sources, symbols, channels, exchanges, check_listed=True)
        await changes.apply(self.sources, plan, "subscribed")

    async def unsubscribe(
        self,
        symbols: Iterable[str] | str,
        channels: Iterable[str] | str,
        *,
        exchanges: Iterable[str] | str | None = None,
    ) -> None:
        """Stop streaming ``channels`` of ``symbols`` (``UNSUBSCRIBE`` frames on the
        connections carrying them; a connection left empty is closed).  No record of those
        streams follows the ``SubscriptionChange`` event (``"unsubscribed"``).  A symbol
        this feed does not stream raises :class:`~trio_feeds.SymbolError` and nothing
        changes."""
        plan = await changes.plan(self.sources, symbols, channels, exchanges, check_listed=False)
        topics = self._streamed()
        for subs in plan.values():
            streamed = {x.symbol for x in subs if (x.channel, x.symbol) in topics}
            for sub in subs:
                if sub.symbol not in streamed:
                    raise SymbolError(sub.symbol, "not streamed by this feed")
        await changes.apply(self.sources, plan, "unsubscribed")

    def _streamed(self) -> set[tuple[str, str]]:
        return {key for src in self.sources.values() for key in src._by_topic}

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
    def counters(self) -> FeedCounters:
        """Counts since the feed opened: records per exchange and kind, source switches per
        (from, to, reason), failover failures, the latest switches and gaps (read-only:
        the monitor's metrics and status page read them)."""
        return self._aggregator.counters

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
