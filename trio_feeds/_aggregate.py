"""The feed's source policy: which source's records reach the consumer.

Pure logic (no trio): the aggregator task feeds it batches in arrival order.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ._records import SourceSwitch

CONFLICT_MODES = ("primary", "latest", "average")


class Aggregator:
    def __init__(
        self,
        sources: list[str],
        *,
        primary: str,
        failover: bool = True,
        conflict: str = "primary",
        clock: Callable[[], float],
    ) -> None:
        self.sources = sources
        self.primary = primary
        self.failover = failover
        self.conflict = conflict
        self.clock = clock
        self.active: str | None = primary
        self.connected: set[str] = set()
        self._newest: dict[tuple[str, str], int] = {}

    def process(self, exchange: str, items: list[Any]) -> list[Any]:
        if len(self.sources) == 1:
            for item in items:
                if item.kind == "source":
                    self._on_source_event(exchange, item)
            return items
        out: list[Any] = []
        for item in items:
            kind = item.kind
            if kind == "source":
                out.append(item)
                out.extend(self._on_source_event(exchange, item))
                continue
            if not hasattr(item, "symbol") or kind in ("subscription_rejected", "dropped"):
                out.append(item)
                continue
            if self.conflict == "primary":
                if exchange == self.active:
                    out.append(item)
            else:  # "latest" (and, until it is built, "average")
                ts = getattr(item, "timestamp", None)
                if ts is None or kind == "gap":
                    out.append(item)
                    continue
                key = (kind, item.symbol)
                if ts >= self._newest.get(key, -1):
                    self._newest[key] = ts
                    out.append(item)
        return out

    def _on_source_event(self, exchange: str, event: Any) -> list[Any]:
        if event.state == "connected":
            self.connected.add(exchange)
            if exchange == self.primary and self.active != self.primary and self.failover:
                return [self._switch(self.primary, "primary recovered")]
        elif event.state in ("disconnected", "gave_up"):
            self.connected.discard(exchange)
            if exchange == self.active and self.failover and len(self.sources) > 1:
                others = [s for s in self.sources if s in self.connected]
                if others:
                    return [self._switch(others[0], f"{exchange} {event.state}")]
        return []

    def _switch(self, to: str, reason: str) -> SourceSwitch:
        prev, self.active = self.active, to
        return SourceSwitch(prev, to, reason, int(self.clock() * 1000))
