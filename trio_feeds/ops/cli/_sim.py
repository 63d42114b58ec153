"""``trio-feeds demo`` and ``trio-feeds serve-sim``: the simulated exchanges on loopback.

Which exchanges: every registered exchange whose spec names a simulator
(:meth:`ExchangeSpec.simulator_class`); nothing here names one.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import trio

from trio_feeds import exchanges
from trio_feeds.core.errors import ConfigError
from trio_feeds.feed.feed import open_feed
from trio_feeds.ops.cli._options import check_port_free
from trio_feeds.ops.cli._output import _stdout


def simulated_exchanges() -> list[str]:
    """Registered exchanges that have a simulator, in registry order."""
    return [name for name in exchanges.names() if exchanges.get(name).simulator is not None]


def flag_name(name: str) -> str:
    """The attribute argparse gives ``--<name>-port``."""
    return name.replace("-", "_")


def add_port_flags(parser: argparse.ArgumentParser) -> None:
    """``--<name>-port`` and ``--<name>-rest-port`` for each simulated exchange."""
    from trio_feeds.ops.cli._options import port

    for name in simulated_exchanges():
        label = exchanges.get(name).label
        parser.add_argument(f"--{name}-port", type=port, default=0, metavar="N",
                            help=f"{label} WebSocket port (default 0: any free port)")  # fmt: skip
        parser.add_argument(f"--{name}-rest-port", type=port, default=0, metavar="N",
                            help=f"{label} REST port (default 0: any free port)")  # fmt: skip


def _chosen(values: Sequence[str] | None, default: Sequence[str]) -> list[str]:
    from trio_feeds.ops.cli._options import split_list

    chosen = [v.lower() for v in split_list(values)] or list(default)
    available = simulated_exchanges()
    for name in chosen:
        spec = exchanges.get(name)  # unknown: ConfigError naming the choices
        if spec.simulator is None:
            raise ConfigError(
                f"--exchange {name!r}: {spec.label} has no simulator; "
                f"simulated: {', '.join(available)}"
            )
    if len(set(chosen)) != len(chosen):
        raise ConfigError(f"--exchange lists an exchange twice: {chosen}")
    return chosen


@asynccontextmanager
async def _serving(
    names: Sequence[str], market: Any, host: str, ports: dict[str, tuple[int, int]]
) -> AsyncIterator[dict[str, Any]]:
    """Simulators of ``names`` on ``market``, serving on loopback TCP."""
    sims = {name: exchanges.get(name).simulator_class()(market, host=host) for name in names}
    async with AsyncExitStack() as stack:
        for name, sim in sims.items():
            ws, rest = ports.get(name, (0, 0))
            await stack.enter_async_context(sim.serve(port=ws, rest_port=rest))
        yield sims


async def _demo(args: argparse.Namespace) -> int:
    from rich.console import Console, Group
    from rich.live import Live
    from rich.text import Text

    from trio_feeds.ops.cli._board import _Board
    from trio_feeds.testing import MarketSimulator

    demo = [n for n in exchanges.DEMO_EXCHANGES if n in simulated_exchanges()]
    names = _chosen(args.exchange, demo if len(demo) >= 2 else simulated_exchanges()[:2])
    if len(names) < 2:
        raise ConfigError(f"the demo needs two simulated exchanges, got {names}")
    primary, standby = names[0], names[1]
    symbols = ["BTC-USDT", "ETH-USDT"]
    async with _stdout() as out:  # '| head' ends the demo quietly
        tty = out.fd is not None and os.isatty(out.fd)
        console = Console(file=out.file(), width=None if tty else 120, force_terminal=tty)
        duration = args.duration
        board = _Board(names)
        switches: list[Any] = []
        market = MarketSimulator(symbols, seed=args.seed, rate=20)
        async with trio.open_nursery() as tasks:
            await tasks.start(market.run)
            async with (
                _serving(names, market, "127.0.0.1", {}) as sims,
                open_feed(
                    names,
                    symbols,
                    ["trade", "quote"],
                    urls={n: s.url for n, s in sims.items()},
                    rest_urls={n: s.rest_url for n, s in sims.items()},
                    primary=primary,
                    stale_after=2.0,
                    failback_after=max(1.0, duration * 0.15),
                    reconnect_delay=0.2,
                    max_reconnect_delay=1.0,
                ) as feed,
            ):

                async def drill() -> None:
                    await trio.sleep(duration * 0.25)
                    board.events.append(f"DRILL: {primary} drops and refuses connections")
                    sims[primary].refuse_connections(3)
                    sims[primary].drop()

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
            tasks.cancel_scope.cancel()
        console.print()
        console.print(
            f"demo finished ({primary} primary, {standby} standby): {len(switches)} source "
            "switches: " + ", ".join(f"{s.from_source}->{s.to_source}" for s in switches)
        )
    return 0


async def _serve_sim(args: argparse.Namespace) -> int:
    from trio_feeds.testing import MarketSimulator

    names = _chosen(args.exchange, simulated_exchanges())
    ports: dict[str, tuple[int, int]] = {}
    for name in names:
        ws = getattr(args, f"{flag_name(name)}_port", 0)
        rest = getattr(args, f"{flag_name(name)}_rest_port", 0)
        check_port_free(args.host, ws, f"--{name}-port")
        check_port_free(args.host, rest, f"--{name}-rest-port")
        ports[name] = (ws, rest)
    from trio_feeds.core.symbols import canonical
    from trio_feeds.ops.cli._options import split_list

    symbols = [canonical(s) for s in split_list(args.symbol)] or ["BTC-USDT", "ETH-USDT"]
    market = MarketSimulator(symbols, seed=args.seed, rate=args.rate)
    async with trio.open_nursery() as nursery:
        await nursery.start(market.run)
        async with _serving(names, market, args.host, ports) as sims:
            urls = {name: sim.url for name, sim in sims.items()}
            rest = {name: sim.rest_url for name, sim in sims.items()}
            print(json.dumps({"urls": urls, "rest_urls": rest}), flush=True)
            flags = " ".join(f"--urls {k}={v} --rest-urls {k}={rest[k]}" for k, v in urls.items())
            chosen = " ".join(f"--exchange {name}" for name in names)
            print(f"simulated exchanges running; stream from them with:\n"
                  f"  trio-feeds stream {chosen} {flags}\n"
                  f"Ctrl-C to stop", file=sys.stderr, flush=True)  # fmt: skip
            await trio.sleep_forever()
    raise AssertionError("unreachable")  # pragma: no cover
