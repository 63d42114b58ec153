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
    """What the live table shows: one row per (source, symbol), so prices of different
    symbols are never mixed; the source's own health on its first row.  Fits 80 columns."""

    def __init__(self, sources: Sequence[str]) -> None:
        self.sources = list(sources)
        self.last_price: dict[tuple[str, str], float] = {}
        self.rates: dict[tuple[str, str], deque[float]] = {}
        self.events: deque[str] = deque(maxlen=8)

    def add(self, item: Any) -> None:
        kind = item.kind
        if kind in _DATA:
            now = time.monotonic()
            key = (item.exchange, item.symbol)
            q = self.rates.setdefault(key, deque())
            q.append(now)
            while q and q[0] < now - 1.0:
                q.popleft()
            price = getattr(item, "price", None)
            if price is None and kind == "quote":
                price = (item.bid + item.ask) / 2
            if price is not None:
                self.last_price[key] = price
        elif kind == "source_switch":
            self.events.append(f"SWITCH {item.from_source} -> {item.to_source}: {item.reason}")
        elif kind == "failover_failed":
            self.events.append(f"FAILOVER FAILED: {item.reason}")
        elif kind == "gap":
            self.events.append(f"gap {item.exchange} {item.symbol} {item.channel}: {item.reason}")
        elif kind == "gap_filled":
            where = f"{item.exchange} {item.symbol} {item.channel}"
            self.events.append(f"filled {where}: {item.count} trades over REST")
        elif kind == "source" and item.state == "gap_not_filled":
            self.events.append(f"not filled {item.exchange}: {item.reason}: {item.detail}")
        elif kind == "source" and item.state in ("connected", "disconnected", "gave_up"):
            self.events.append(f"{item.exchange} {item.state} {item.detail}")

    def table(self, feed: Feed, title: str) -> Any:
        from rich import box
        from rich.table import Table

        health = feed.health()
        table = Table(title=f"{title} — healthy: {health.healthy}", box=box.SIMPLE_HEAD)
        for col, justify in (
            ("source", "left"), ("symbol", "left"), ("state", "left"), ("last price", "right"),
            ("lat ms", "right"), ("msg/s", "right"), ("err/rec/gap", "right"),
        ):  # fmt: skip
            table.add_column(col, justify=justify)  # type: ignore[arg-type]
        for name, st in health.sources.items():
            symbols = sorted(sym for ex, sym in self.rates if ex == name) or ["-"]
            for i, symbol in enumerate(symbols):
                price = self.last_price.get((name, symbol))
                first = i == 0
                table.add_row(
                    (name + (" ●" if name == health.active_source else "")) if first else "",
                    symbol,
                    st.state if first else "",
                    f"{price:,.2f}" if price is not None else "-",
                    (f"{st.latency * 1000:.2f}" if st.latency is not None else "-")
                    if first
                    else "",
                    str(len(self.rates.get((name, symbol), ()))),
                    f"{st.errors}/{st.reconnects}/{st.gaps}" if first else "",
                )
        return table


async def _table(feed: Feed, sources: Sequence[str], out: _Output) -> None:
    from rich.console import Console, Group
    from rich.live import Live
    from rich.text import Text

    tty = out.fd is not None and os.isatty(out.fd)
    console = Console(file=out.file(), width=None if tty else 80, force_terminal=tty)
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
