"""Pieces the recording and the replaying side share: the step clock, URL keys, and which
client sends are sequence points."""

from __future__ import annotations

import base64
import logging
from collections.abc import Callable
from typing import Any, Protocol
from urllib.parse import urlsplit

import trio

import trio_feeds.exchanges as registry

logger = logging.getLogger("trio_feeds.recording")

#: the recording format this trio_feeds writes (and the newest it reads)
FORMAT_VERSION = 1
WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


# -- the clock ----------------------------------------------------------------------------
class StepClock(trio.abc.Instrument):
    """A clock that returns a latched time inside the task step that latched it."""

    def __init__(self, fallback: Callable[[], float]) -> None:
        self.fallback = fallback
        self._latched: dict[trio.lowlevel.Task, float] = {}

    def latch(self, t: float) -> None:
        try:
            self._latched[trio.lowlevel.current_task()] = t
        except RuntimeError:  # pragma: no cover - outside trio
            pass

    def after_task_step(self, task: trio.lowlevel.Task) -> None:
        if self._latched:
            self._latched.pop(task, None)

    def __call__(self) -> float:
        if self._latched:
            try:
                t = self._latched.get(trio.lowlevel.current_task())
            except RuntimeError:  # pragma: no cover - outside trio
                t = None
            if t is not None:
                return t
        return self.fallback()


def path_key(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + ("?" + parts.query if parts.query else "")


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def essential(data: bytes) -> bool:
    """Does this client send start with a WebSocket text frame other than ``ping``?

    The handshake and such frames (subscriptions) are sequence points of a recording: their
    order relative to the chunks received shows how far the engine had got.  Pings, pongs
    and closes depend on timers, so they are not."""
    if len(data) < 2 or data[0] & 0x0F != 0x1:
        return False
    masked = data[1] & 0x80
    n = data[1] & 0x7F
    if n != 4 or not masked or len(data) < 10:
        return True
    key = data[2:6]
    payload = bytes(b ^ key[i % 4] for i, b in enumerate(data[6:10]))
    return payload != b"ping"


class _Latching(Protocol):
    _last_rx: tuple[trio.lowlevel.Task, float] | None


def relatch(stream: _Latching, clock: StepClock) -> None:
    """After the task that last received on ``stream`` sends on it (once), latch again."""
    last = stream._last_rx
    if last is not None and last[0] is trio.lowlevel.current_task():
        stream._last_rx = None
        clock.latch(last[1])


def replay_ping_interval(exchanges: Any) -> float:
    """The ping interval of a replayed feed.  The replayed server never answers pings, so
    the feed should hardly ping; but an exchange that closes a quiet client (a client idle
    limit in its spec) must be pinged below that limit, as live."""
    names = [exchanges] if isinstance(exchanges, str) else list(exchanges or ())
    limits = [
        limit
        for name in names
        if name in registry.names()
        and (limit := registry.get(name).heartbeat.client_idle_limit) is not None
    ]
    return min(limits) * 5 / 6 if limits else 3600.0
