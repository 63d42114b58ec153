"""The ``trio-feeds`` command line (also ``python -m trio_feeds``)."""

from __future__ import annotations

import argparse
import sys
import time
from collections import deque
from collections.abc import Sequence
from typing import Any

import trio

from . import _convert
from ._errors import TrioFeedsError
from ._feed import Feed, open_feed

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


async def _demo(args: argparse.Namespace) -> int:
    from rich.console import Console, Group
    from rich.live import Live
    from rich.text import Text

    from .testing import open_simulated_exchanges

    console = Console(width=None if sys.stdout.isatty() else 120)
    duration = args.duration
    board = _Board(["binance", "okx"])
    switches: list[Any] = []
    async with open_simulated_exchanges(["BTC-USDT", "ETH-USDT"], seed=args.seed, rate=20) as sims:
        async with open_feed(
            ["binance", "okx"],
            ["BTC-USDT", "ETH-USDT"],
            ["trade", "quote"],
            urls=sims.urls,
            rest_urls=sims.rest_urls,
            primary="binance",
            stale_after=2.0,
            failback_after=max(1.0, duration * 0.15),
            reconnect_delay=0.2,
            max_reconnect_delay=1.0,
        ) as feed:

            async def drill() -> None:
                await trio.sleep(duration * 0.25)
                board.events.append("DRILL: binance drops and refuses connections")
                sims.binance.refuse_connections(3)
                sims.binance.drop()

            def render() -> Any:
                return Group(
                    board.table(feed, "trio_feeds demo (simulated exchanges on loopback)"),
                    Text("\n".join(board.events)),
                )

            with trio.move_on_after(duration):
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(drill)
                    with Live(render(), console=console, refresh_per_second=4,
                              transient=False) as live:  # fmt: skip
                        last = 0.0
                        async for item in feed:
                            board.add(item)
                            if item.kind == "source_switch":
                                switches.append(item)
                            now = trio.current_time()
                            if now - last > 0.25:
                                live.update(render())
                                last = now
    console.print()
    console.print(
        f"demo finished: {len(switches)} source switches: "
        + ", ".join(f"{s.from_source}->{s.to_source}" for s in switches)
    )
    return 0


async def _stream(args: argparse.Namespace) -> int:
    kwargs: dict[str, Any] = {}
    if args.primary:
        kwargs["primary"] = args.primary
    async with open_feed(
        args.exchange or ["binance"],
        args.symbol or ["BTC-USDT"],
        args.channel or ["trade"],
        conflict=args.conflict,
        **kwargs,
    ) as feed:
        out = sys.stdout.buffer
        with trio.move_on_after(args.duration if args.duration else float("inf")):
            async for item in feed:
                out.write(_convert.dumps(item) + b"\n")
                out.flush()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="trio-feeds", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="offline: simulated Binance + OKX, a failover drill")
    demo.add_argument("--duration", type=float, default=20.0, help="seconds (default 20)")
    demo.add_argument("--seed", type=int, default=1)
    stream = sub.add_parser("stream", help="live exchanges, JSON lines on stdout")
    stream.add_argument("--exchange", action="append")
    stream.add_argument("--symbol", action="append")
    stream.add_argument("--channel", action="append")
    stream.add_argument("--primary")
    stream.add_argument("--conflict", default="primary", choices=["primary", "latest", "average"])
    stream.add_argument("--duration", type=float, default=0.0, help="stop after N s (0: never)")
    args = parser.parse_args(argv)
    runner = {"demo": _demo, "stream": _stream}[args.command]
    try:
        return trio.run(runner, args)
    except KeyboardInterrupt:
        return 130
    except TrioFeedsError as exc:
        print(f"trio-feeds: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
