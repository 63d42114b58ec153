"""The live table of ``demo`` and ``stream --output table`` (rich)."""

from __future__ import annotations

import os
import time
from collections import deque
from collections.abc import Sequence
from typing import Any

import trio

from trio_feeds.feed.feed import Feed
from trio_feeds.ops.cli._output import _Output

_DATA = {"trade", "ticker", "quote", "book", "candle"}


class _Board:
    """What the live table shows, per source."""

    def __init__(self, sources: Sequence[str]) -> None:
        self.last_price: dict[str, float] = {}
        self.rates: dict[str, deque[float]] = {s: deque() for s in sources}
        self.events: deque[str] = deque(maxlen=8)

    def add(self, item: Any) -> None:
        kind = item.kind
        if kind in _DATA:
            now = time.monotonic()
            q = self.rates.setdefault(item.exchange, deque())
            q.append(now)
            while q and q[0] < now - 1.0:
                q.popleft()
            price = getattr(item, "price", None)
            if price is None and kind == "quote":
                price = (item.bid + item.ask) / 2
            if price is not None:
                self.last_price[item.exchange] = price
        elif kind == "source_switch":
            self.events.append(f"SWITCH {item.from_source} -> {item.to_source}: {item.reason}")
        elif kind == "failover_failed":
            self.events.append(f"FAILOVER FAILED: {item.reason}")
        elif kind == "gap":
            self.events.append(f"gap {item.exchange} {item.symbol} {item.channel}: {item.reason}")
        elif kind == "source" and item.state in ("connected", "disconnected", "gave_up"):
            self.events.append(f"{item.exchange} {item.state} {item.detail}")

    def table(self, feed: Feed, title: str) -> Any:
        from rich.table import Table

        health = feed.health()
        table = Table(title=f"{title} — healthy: {health.healthy}")
        for col in ("source", "active", "state", "last price", "latency ms", "msg/s", "errors",
                    "reconnects", "gaps"):  # fmt: skip
            table.add_column(col)
        for name, st in health.sources.items():
            price = self.last_price.get(name)
            table.add_row(
                name,
                "●" if name == health.active_source else "",
                st.state,
                f"{price:,.2f}" if price is not None else "-",
                f"{st.latency * 1000:.2f}" if st.latency is not None else "-",
                str(len(self.rates.get(name, ()))),
                str(st.errors),
                str(st.reconnects),
                str(st.gaps),
            )
        return table


async def _table(feed: Feed, sources: Sequence[str], out: _Output) -> None:
    from rich.console import Console, Group
    from rich.live import Live
    from rich.text import Text

    tty = out.fd is not None and os.isatty(out.fd)
    console = Console(file=out.file(), width=None if tty else 120, force_terminal=tty)
    board = _Board(list(sources))

    def render() -> Any:
        return Group(board.table(feed, "trio_feeds"), Text("\n".join(board.events)))

    with Live(render(), console=console, refresh_per_second=4) as live:
        last = 0.0
        async for item in feed:
            board.add(item)
            now = trio.current_time()
            if now - last > 0.25:
                live.update(render())
                last = now
