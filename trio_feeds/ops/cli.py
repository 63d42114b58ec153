"""The ``trio-feeds`` command line (also ``python -m trio_feeds``)."""

from __future__ import annotations

import argparse
import functools
import io
import json
import math
import os
import signal
import sys
import time
from collections import Counter, deque
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

import trio

import trio_feeds.core.convert as _convert
from trio_feeds.core.errors import ConfigError, TrioFeedsError
from trio_feeds.core.redact import redact
from trio_feeds.feed.feed import Feed, _unwrap, open_feed

_DATA = {"trade", "ticker", "quote", "book", "candle"}


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


class _Output:
    """Standard output that never blocks the event loop.

    Writes go to a bounded queue (``limit`` bytes); a worker thread writes it to the file
    descriptor.  :meth:`write` waits while the queue is full, so a reader that stops
    reading slows only the command's own consumer: the feed's readers, heartbeats, the
    monitor and ``--duration`` keep running, and the feed applies its slow-consumer policy
    (quotes conflated, trades dropped with a ``Dropped`` event).  :meth:`write_nowait`
    (live table) drops instead.  At the end, :meth:`aclose` gives the reader ``grace``
    seconds, then gives up on what is left (counted in :attr:`unwritten`).
    """

    def __init__(
        self, fd: int | None, limit: int = 1 << 20, writer: Callable[[bytes], None] | None = None
    ) -> None:
        self.fd = fd
        self.limit = limit
        if writer is None:
            assert fd is not None
            writer = functools.partial(_write_all, fd)
        self._writer = writer
        self._chunks: deque[bytes] = deque()
        self._pending = 0
        self._wake = trio.Event()
        self._space = trio.Event()
        self._idle = trio.Event()
        self._idle.set()
        #: writes refused by write_nowait because the queue was full
        self.dropped = 0
        #: writes still queued when the command ended (the reader never took them)
        self.unwritten = 0

    def _append(self, data: bytes) -> None:
        self._chunks.append(data)
        self._pending += len(data)
        self._idle = trio.Event() if self._idle.is_set() else self._idle
        self._wake.set()

    async def write(self, data: bytes) -> None:
        while self._pending >= self.limit:
            if self._space.is_set():
                self._space = trio.Event()
            await self._space.wait()
        self._append(data)

    def write_nowait(self, data: bytes) -> bool:
        if self._pending >= self.limit:
            self.dropped += 1
            return False
        self._append(data)
        return True

    async def run(self) -> None:
        """The writer: run it in a nursery for as long as the output is used."""
        while True:
            if not self._chunks:
                self._idle.set()
                self._wake = trio.Event()
                await self._wake.wait()
                continue
            parts: list[bytes] = []
            size = 0
            while self._chunks and size < 256 * 1024:
                part = self._chunks.popleft()
                parts.append(part)
                size += len(part)
            try:
                # abandon_on_cancel: a reader that never reads must not hold the exit
                await trio.to_thread.run_sync(self._writer, b"".join(parts), abandon_on_cancel=True)
            except BrokenPipeError:  # the reader is gone: nothing more to write
                self._chunks.clear()
            except trio.Cancelled:
                self.unwritten += len(parts)
                raise
            finally:
                self._pending -= size
                self._space.set()

    async def aclose(self, grace: float = 1.0) -> None:
        """Wait (at most ``grace`` s) for the queue to be written."""
        with trio.move_on_after(grace):
            await self._idle.wait()
        self.unwritten += len(self._chunks)
        self._chunks.clear()

    def file(self) -> Any:
        """A text file object for rich's Console: writes are ``write_nowait``."""
        return _OutputFile(self)


class _OutputFile(io.TextIOBase):
    def __init__(self, out: _Output) -> None:
        self._out = out

    def write(self, text: str) -> int:
        self._out.write_nowait(text.encode())
        return len(text)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return self._out.fd is not None and os.isatty(self._out.fd)


@asynccontextmanager
async def _stdout() -> AsyncIterator[_Output]:
    """Standard output through an :class:`_Output`, reporting on stderr what it could not
    write."""
    sys.stdout.flush()
    try:
        out = _Output(sys.stdout.fileno())
    except (AttributeError, OSError, ValueError):  # replaced by something without a descriptor

        def write(data: bytes, stdout: Any = sys.stdout) -> None:
            stdout.write(data.decode("utf-8", "replace"))
            stdout.flush()

        out = _Output(None, writer=write)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(out.run)
        try:
            yield out
        finally:
            with trio.CancelScope(shield=True):
                await out.aclose()
            nursery.cancel_scope.cancel()
    lost = out.unwritten + out.dropped
    if lost:
        print(f"trio-feeds: standard output was not being read: {lost} writes discarded",
              file=sys.stderr)  # fmt: skip


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

    from trio_feeds.testing import open_simulated_exchanges

    console = Console(width=None if sys.stdout.isatty() else 120)
    duration = args.duration
    board = _Board(["binance", "okx"])
    switches: list[Any] = []
    sim_cm = open_simulated_exchanges(["BTC-USDT", "ETH-USDT"], seed=args.seed, rate=20)
    async with sim_cm as sims:
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


def _pairs(option: str, values: Sequence[str] | None) -> dict[str, str] | None:
    """``["binance=ws://h:p", …]`` (or comma-joined) → ``{"binance": "ws://h:p", …}``."""
    if not values:
        return None
    out: dict[str, str] = {}
    for value in values:
        for part in value.split(","):
            name, sep, url = part.partition("=")
            if not sep or not name.strip() or not url.strip():
                raise ConfigError(f"{option} expects EXCHANGE=URL, got {redact(repr(part))}")
            out[name.strip()] = url.strip()
    return out


def _config(args: argparse.Namespace) -> Any:
    """FeedConfig from --config (TOML), the environment, then the command-line flags."""
    from trio_feeds.ops.config import FeedConfig

    config = FeedConfig.load(args.config, os.environ)
    changes: dict[str, Any] = {}
    if args.exchange:
        changes["exchanges"] = tuple(args.exchange)
    if args.symbol:
        changes["symbols"] = tuple(args.symbol)
    if args.channel:
        changes["channels"] = tuple(args.channel)
    if getattr(args, "primary", None):
        changes["primary"] = args.primary
    if getattr(args, "conflict", None):
        changes["conflict"] = args.conflict
    options = dict(config.options)
    for key, option in (("urls", "--urls"), ("rest_urls", "--rest-urls")):
        pairs = _pairs(option, getattr(args, key, None))
        if pairs is not None:
            options[key] = pairs
    changes["options"] = options
    if "primary" not in changes and config.primary not in (
        changes.get("exchanges") or (config.primary,)
    ):
        changes["primary"] = None  # --exchange replaced the exchanges: default to the first
    return config.evolve(**changes)


async def _stream(args: argparse.Namespace) -> int:
    config = _config(args)
    open_sink: Callable[[str], Any] | None = None
    if args.sink:
        try:
            from trio_feeds.sinks import open_sink as _open_sink
        except ImportError as exc:
            print(f"trio-feeds: --sink needs trio_feeds.sinks, which is not available: {exc}",
                  file=sys.stderr)  # fmt: skip
            return 2
        open_sink = _open_sink
    async with config.open_feed() as feed, trio.open_nursery() as nursery:
        if args.monitor_port is not None:
            from trio_feeds.ops.monitoring import serve_monitoring

            url = await nursery.start(serve_monitoring, feed, args.monitor_host, args.monitor_port)
            print(
                f"monitor: {url}/api/websocket/health  {url}/metrics", file=sys.stderr, flush=True
            )
        async with _stdout() as out:
            with trio.move_on_after(args.duration if args.duration else float("inf")):
                if open_sink is not None:
                    async with open_sink(args.sink) as sink:
                        await _to_sink(feed, sink)
                elif args.output == "table":
                    await _table(feed, config.exchanges, out)
                else:
                    await _json_lines(feed, out)
        nursery.cancel_scope.cancel()
    return 0


async def _json_lines(feed: Any, out: _Output) -> None:
    async for item in feed:
        await out.write(_convert.dumps(item) + b"\n")


async def _to_sink(feed: Feed, sink: Any, batch: int = 500) -> None:
    while True:
        items = [await feed.receive()]
        while len(items) < batch:
            try:
                items.append(feed.receive_nowait())
            except trio.WouldBlock:
                break
        await sink.send_many(items)


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


async def _serve_sim(args: argparse.Namespace) -> int:
    from trio_feeds.testing import MarketSimulator, SimulatedBinance, SimulatedOkx

    market = MarketSimulator(
        args.symbol or ["BTC-USDT", "ETH-USDT"], seed=args.seed, rate=args.rate
    )
    binance = SimulatedBinance(market, host=args.host)
    okx = SimulatedOkx(market, host=args.host)
    async with trio.open_nursery() as nursery:
        await nursery.start(market.run)
        async with binance.serve(port=args.binance_port, rest_port=args.binance_rest_port), \
                okx.serve(port=args.okx_port, rest_port=args.okx_rest_port):  # fmt: skip
            urls = {"binance": binance.url, "okx": okx.url}
            rest = {"binance": binance.rest_url, "okx": okx.rest_url}
            print(json.dumps({"urls": urls, "rest_urls": rest}), flush=True)
            flags = " ".join(f"--urls {k}={v} --rest-urls {k}={rest[k]}" for k, v in urls.items())
            print(f"simulated exchanges running; stream from them with:\n"
                  f"  trio-feeds stream --exchange binance --exchange okx {flags}\n"
                  f"Ctrl-C to stop", file=sys.stderr, flush=True)  # fmt: skip
            await trio.sleep_forever()
    raise AssertionError("unreachable")  # pragma: no cover


def _health(args: argparse.Namespace) -> int:
    import httpx

    url = args.url.rstrip("/") + "/api/websocket/health"
    shown = redact(url)
    try:
        response = httpx.get(url, timeout=args.timeout)
        data = response.json()
    except (httpx.HTTPError, ValueError) as exc:
        print(f"trio-feeds: cannot read {shown}: {redact(exc)}", file=sys.stderr)
        return 2
    except Exception as exc:  # e.g. a malformed --url (httpx raises several kinds)
        print(f"trio-feeds: cannot read {shown}: {type(exc).__name__}: {redact(exc)}",
              file=sys.stderr)  # fmt: skip
        return 2
    problem = _health_problem(data)
    if problem is not None:
        print(f"trio-feeds: {shown} did not answer a trio_feeds health report: {problem}",
              file=sys.stderr)  # fmt: skip
        return 2
    healthy = data["healthy"]
    if args.json:
        print(json.dumps(data, indent=2))
    else:
        from rich.console import Console
        from rich.markup import escape
        from rich.table import Table

        title = f"{args.url} — healthy: {healthy}, active: {data.get('active_source')}"
        table = Table(title=escape(redact(title)))
        for col in ("source", "state", "connected", "latency ms", "messages", "errors",
                    "reconnects", "gaps", "last error"):  # fmt: skip
            table.add_column(col)
        for name, st in (data.get("sources") or {}).items():
            lat = st.get("latency")
            row = [
                name, st.get("state"), st.get("connected"),
                f"{lat * 1000:.2f}" if lat is not None else "-",
                st.get("messages_received"), st.get("errors"), st.get("reconnects"),
                st.get("gaps"), st.get("last_error") or "",
            ]  # fmt: skip
            table.add_row(*(escape(redact(x if isinstance(x, str) else str(x))) for x in row))
        Console(width=None if sys.stdout.isatty() else 140).print(table)
    return 0 if healthy else 1


def _health_problem(data: Any) -> str | None:
    """What makes ``data`` unusable as a health report (None: fine)."""
    if not isinstance(data, dict):
        return f"expected a JSON object, got {type(data).__name__}"
    if not isinstance(data.get("healthy"), bool):
        return f"'healthy' must be true or false, got {data.get('healthy')!r:.60}"
    sources = data.get("sources")
    if sources is None:
        return None
    if not isinstance(sources, dict):
        return f"'sources' must be an object, got {type(sources).__name__}"
    for name, st in sources.items():
        if not isinstance(st, dict):
            return f"source {name!r:.40} must be an object, got {type(st).__name__}"
        lat = st.get("latency")
        if lat is not None and (
            isinstance(lat, bool) or not isinstance(lat, (int, float)) or not math.isfinite(lat)
        ):
            return f"source {name!r:.40}: 'latency' must be a number, got {lat!r:.40}"
    return None


async def _record(args: argparse.Namespace) -> int:
    from trio_feeds.ops.recording import record

    config = _config(args)
    kinds: Counter[str] = Counter()
    async with record(args.out, **config.feed_kwargs()) as feed:
        with trio.move_on_after(args.duration if args.duration else float("inf")):
            async for item in feed:
                kinds[item.kind] += 1
    summary = ", ".join(f"{n} {k}" for k, n in sorted(kinds.items())) or "nothing"
    print(f"recorded to {args.out}: {summary}", file=sys.stderr)
    return 0


async def _replay(args: argparse.Namespace) -> int:
    from trio_feeds.ops.recording import replay

    kinds: Counter[tuple[str, str]] = Counter()
    async with _stdout() as out, replay(args.file, args.speed) as feed:
        async for item in feed:
            kinds[getattr(item, "exchange", "") or "", item.kind] += 1
            if args.json:
                await out.write(_convert.dumps(item) + b"\n")
            elif not args.quiet:
                await out.write(_line(item).encode() + b"\n")
        skipped = feed.replay.skipped
    summary = ", ".join(f"{n} {ex} {k}".replace("  ", " ") for (ex, k), n in sorted(kinds.items()))
    print(f"replayed {args.file}: {summary or 'nothing'}"
          + (f" ({skipped} recorded deliveries skipped)" if skipped else ""),
          file=sys.stderr)  # fmt: skip
    return 0


def _line(item: Any) -> str:
    data = _convert.unstructure(item)
    kind = data.pop("kind")
    exchange = data.pop("exchange", "")
    symbol = data.pop("symbol", "")
    rest = " ".join(f"{k}={v}" for k, v in data.items() if v is not None)
    return f"{kind:<8} {exchange:<8} {symbol:<10} {rest}"


async def _interruptible(runner: Callable[[argparse.Namespace], Awaitable[int]],
                         args: argparse.Namespace) -> int:  # fmt: skip
    """Run ``runner``; Ctrl-C (SIGINT) or SIGTERM cancels it cleanly and gives exit code 0."""
    result = 0
    error: TrioFeedsError | None = None
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with trio.open_nursery() as nursery:

            async def watch() -> None:
                async for _ in signals:
                    print("trio-feeds: stopping", file=sys.stderr, flush=True)
                    nursery.cancel_scope.cancel()
                    return

            async def run() -> None:
                nonlocal result, error
                try:
                    result = await runner(args)
                except TrioFeedsError as exc:  # reported by main(), not as an exception group
                    error = exc
                except BaseExceptionGroup as group:
                    leaf = _unwrap(group)
                    if not isinstance(leaf, TrioFeedsError):
                        raise
                    error = leaf
                nursery.cancel_scope.cancel()

            nursery.start_soon(watch)
            nursery.start_soon(run)
    if error is not None:
        raise error
    return result


def _add_feed_options(p: argparse.ArgumentParser, *, policy: bool = True) -> None:
    p.add_argument("--exchange", action="append", help="binance or okx (repeatable)")
    p.add_argument("--symbol", action="append", help="e.g. BTC-USDT (repeatable)")
    p.add_argument("--channel", action="append",
                   help="trade, quote, ticker, book, candle (repeatable)")  # fmt: skip
    if policy:
        p.add_argument("--primary", help="the preferred exchange (failover order)")
        p.add_argument("--conflict", choices=["primary", "latest", "average"],
                       help="how records of several exchanges are combined")  # fmt: skip
    p.add_argument("--config", metavar="FILE", help="TOML settings (then env, then flags)")
    p.add_argument("--duration", type=float, default=0.0, help="stop after N s (0: never)")
    # hidden: point the feed at simulators (no internet in tests)
    p.add_argument("--urls", action="append", help=argparse.SUPPRESS)
    p.add_argument("--rest-urls", dest="rest_urls", action="append", help=argparse.SUPPRESS)


def _speed(value: str) -> float:
    v = float(value)
    if not v > 0:
        raise argparse.ArgumentTypeError(f"speed must be > 0, got {value!r}")
    return v


def main(argv: Sequence[str] | None = None, *, clock: trio.abc.Clock | None = None) -> int:
    """Run the command line; returns the exit code.  ``clock``: the trio clock to run under
    (tests run ``replay`` under ``trio.testing.MockClock``)."""
    parser = argparse.ArgumentParser(prog="trio-feeds", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="offline: simulated Binance + OKX, a failover drill")
    demo.add_argument("--duration", type=float, default=20.0, help="seconds (default 20)")
    demo.add_argument("--seed", type=int, default=1)

    stream = sub.add_parser("stream", help="stream records (JSON lines, a live table, a sink)")
    _add_feed_options(stream)
    stream.add_argument("--output", choices=["json", "table"], default="json")
    stream.add_argument("--monitor-port", type=int, metavar="N",
                        help="serve the HTTP monitor on this port (0: any free port)")  # fmt: skip
    stream.add_argument("--monitor-host", default="127.0.0.1")
    stream.add_argument("--sink", metavar="URL", help="publish to a sink (redis://…, file path)")

    sim = sub.add_parser("serve-sim", help="run simulated Binance + OKX on loopback")
    sim.add_argument("--symbol", action="append")
    sim.add_argument("--seed", type=int, default=1)
    sim.add_argument("--rate", type=float, default=20.0, help="market ticks per second")
    sim.add_argument("--host", default="127.0.0.1")
    for name in ("binance", "okx"):
        sim.add_argument(f"--{name}-port", type=int, default=0)
        sim.add_argument(f"--{name}-rest-port", type=int, default=0)

    health = sub.add_parser("health", help="query a running monitor; exit 0 healthy, 1 not")
    health.add_argument("--url", required=True, help="the monitor, e.g. http://127.0.0.1:8000")
    health.add_argument("--json", action="store_true")
    health.add_argument("--timeout", type=float, default=5.0)

    rec = sub.add_parser("record", help="record a feed's raw transport to a file")
    rec.add_argument("--out", required=True, metavar="FILE")
    _add_feed_options(rec)

    rep = sub.add_parser("replay", help="replay a recording through the feed pipeline")
    rep.add_argument("file")
    rep.add_argument("--speed", type=_speed, default=None,
                     help="1.0: recorded pace (default: as fast as possible)")  # fmt: skip
    rep.add_argument("--json", action="store_true", help="JSON lines")
    rep.add_argument("--quiet", action="store_true", help="only the summary")

    args = parser.parse_args(argv)
    if args.command == "health":
        return _health(args)
    runners: dict[str, Callable[[argparse.Namespace], Awaitable[int]]] = {
        "demo": _demo, "stream": _stream, "serve-sim": _serve_sim, "record": _record,
        "replay": _replay,
    }  # fmt: skip
    try:
        return trio.run(_interruptible, runners[args.command], args, clock=clock)
    except KeyboardInterrupt:
        return 130
    except TrioFeedsError as exc:
        print(f"trio-feeds: {redact(exc)}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

__all__ = [
    "main",
]
