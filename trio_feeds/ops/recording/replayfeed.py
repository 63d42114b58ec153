"""``replay()``: a recording through a new feed, as an async iterator that ends with it."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import trio

from trio_feeds.core.records import Item
from trio_feeds.feed.feed import Feed, open_feed
from trio_feeds.ops.recording.replayer import Replay, open_replay

__all__ = ["ReplayFeed", "replay"]


class ReplayFeed:
    """What :func:`replay` yields: iterate it for the replayed records and events; the
    iteration ends when the recording is exhausted.  :attr:`feed` is the underlying
    :class:`~trio_feeds.Feed` (``health()``, ``switches``, …) and :attr:`replay` the
    :class:`Replay`."""

    def __init__(self, feed: Feed, replay: Replay) -> None:
        self.feed = feed
        self.replay = replay
        self._waiting: trio.CancelScope | None = None

    def health(self) -> Any:
        return self.feed.health()

    def __aiter__(self) -> ReplayFeed:
        return self

    async def __anext__(self) -> Item:
        feed = self.feed
        while True:
            try:
                return feed.receive_nowait()
            except trio.WouldBlock:
                pass
            if self.replay.finished.is_set():
                raise StopAsyncIteration
            with trio.CancelScope() as scope:
                self._waiting = scope
                try:
                    return await feed.receive()
                except trio.EndOfChannel:
                    raise StopAsyncIteration from None
                finally:
                    self._waiting = None

    def _wake(self) -> None:
        if self._waiting is not None:
            self._waiting.cancel()

    async def collect(self) -> list[Item]:
        """Everything the replay yields, as a list."""
        return [item async for item in self]


@asynccontextmanager
async def replay(
    path: str | os.PathLike[str], speed: float | None = None, **overrides: Any
) -> AsyncIterator[ReplayFeed]:
    """Replay a recording through a new feed built with the recorded arguments.

    ``speed=None`` replays as fast as possible, ``speed=1.0`` at the recorded pace (2.0:
    twice as fast).  ``overrides`` change open_feed arguments.  Yields a :class:`ReplayFeed`::

        async with trio_feeds.replay("btc.tfrec.gz") as feed:
            async for record in feed:
                print(record)
    """
    async with open_replay(path, speed) as rp, open_feed(**rp.feed_kwargs(**overrides)) as feed:
        rf = ReplayFeed(feed, rp)
        async with trio.open_nursery() as nursery:

            async def wake_at_end() -> None:
                await rp.finished.wait()
                rf._wake()

            nursery.start_soon(wake_at_end)
            yield rf
            nursery.cancel_scope.cancel()
