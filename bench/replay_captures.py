"""Real exchange captures through the pipeline: what each conflict mode delivers.

    python bench/replay_captures.py [--captures DIR] [--speed 20] [--direct-only]

Needs the third-party captures in ``../shared/captures`` (next to the repository; or
``--captures DIR`` / ``TRIO_FEEDS_CAPTURES``): Binance Spot BTCUSDT 2024-08-08 (hftbacktest),
OKX 2022-05-13 and OKCoin 2023-05-27 (cryptofeed's raw recordings).  A user's clone has none
of them: the script then says so and exits 0.  It is not a test (the tests use their own
fixtures shaped like these frames, ``tests/test_differential.py``).

1. **Direct**: each capture's frames parsed by the adapters and fed, one batch per received
   millisecond, to the aggregator in each conflict mode, with the captures' own spacing on
   one local time line that starts now: the exchanges' time stamps stay the original ones
   (2022-2024), i.e. years away from this machine's clock, like any historical replay.
   Pairs: Binance 2024 + OKX 2022 (BTC-USDT on both), Binance 2024 + OKCoin 2023 (OKX v5
   protocol; BTC-USD and others, candles with their closes).
2. **Loopback**: the Binance and OKX frames served by two WebSocket servers on 127.0.0.1 to
   ``open_feed(["binance", "okx"], ["BTC-USDT"], ["trade", "quote", "ticker"])``, at
   ``--speed`` times the recorded pace (the 10.8 s OKX capture is looped, its times and
   trade ids moved on by one span per loop).  Scenarios:
   ``original`` (the original time stamps), ``8s-past`` (both exchanges' stamps rewritten to
   8 s before the send time, keeping their spacing and millisecond ties) and ``lag`` (as
   8s-past, then binance's event time falls 6 s further behind within 3 s, holds, recovers).

For each run: records sent and delivered per (exchange, kind), trades delivered exactly once,
each source's quotes and tickers in its own order, switches and FailoverFailed events.
"""

from __future__ import annotations

import argparse
import gzip
import os
import statistics
import sys
import time
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import orjson
import trio

import trio_feeds
from trio_feeds.feed.aggregate import CONFLICT_MODES, Aggregator
from trio_feeds.protocol import get_adapter
from trio_feeds.testing import LagEpisode, MarketSimulator, SimConnection, SimulatedExchange

ROOT = Path(__file__).resolve().parent.parent
DATA = {"trade", "quote", "ticker", "candle", "book"}

Frame = tuple[float, str]  # (recorded receive time, Unix s; frame text)


# -- loading ------------------------------------------------------------------------------
def captures_dir(arg: str | None) -> Path | None:
    for candidate in (arg, os.environ.get("TRIO_FEEDS_CAPTURES"), ROOT.parent / "shared/captures"):
        if candidate and (Path(candidate) / "binance_spot_btcusdt_20240808.gz").exists():
            return Path(candidate)
    return None


def load_binance(path: Path, streams: Iterable[str] = ("bookTicker", "trade")) -> list[Frame]:
    wanted = {f"btcusdt@{s}" for s in streams}
    out: list[Frame] = []
    with gzip.open(path, "rb") as f:
        for line in f:
            ns, _, text = line.rstrip(b"\n").partition(b" ")
            d = orjson.loads(text)
            if d.get("stream") in wanted:
                out.append((int(ns) / 1e9, text.decode()))
    return out


def load_cryptofeed(path: Path, channels: Iterable[str], inst: str | None = None) -> list[Frame]:
    """Received frames of a cryptofeed raw recording, kept for ``channels`` (and ``inst``)."""
    wanted = set(channels)
    out: list[Frame] = []
    for line in path.read_text().splitlines():
        head, sep, text = line.partition(": ")
        if not sep or " " in head:  # connect lines, sent frames
            continue
        try:
            d = orjson.loads(text)
        except orjson.JSONDecodeError:
            continue
        arg = d.get("arg") if isinstance(d, dict) else None
        if not arg or "data" not in d or arg.get("channel") not in wanted:
            continue
        if inst is not None and arg.get("instId") != inst:
            continue
        out.append((float(head), text))
    return out


def okx_subscriptions(frames: list[Frame]) -> list[tuple[str, str]]:
    """(normalized channel, symbol) of the OKX frames."""
    names = {"trades": "trade", "tickers": "ticker", "candle1m": "candle", "bbo-tbt": "quote"}
    pairs = set()
    for _, text in frames:
        arg = orjson.loads(text)["arg"]
        pairs.add((names[arg["channel"]], arg["instId"]))
    return sorted(pairs)


# -- 1. straight into the aggregator ------------------------------------------------------
def parse_batches(
    exchange: str, frames: list[Frame], subs: list[tuple[str, str]], t0: float
) -> list[tuple[float, str, list[Any]]]:
    """One batch per received millisecond, on a local time line starting at ``t0``."""
    adapter = get_adapter(exchange)()
    adapter.subscribe([adapter.subscription(ch, sym) for ch, sym in subs])
    first = frames[0][0]
    batches: list[tuple[float, str, list[Any]]] = []
    last_ms = None
    for recv, text in frames:
        local = t0 + (recv - first)
        out: list[Any] = []
        ms = int(local * 1000)
        if ms == last_ms:
            local = batches[-1][0]
            adapter.parse(text, local, out)
            batches[-1][2].extend(r for r in out if getattr(r, "kind", None) in DATA)
        else:
            adapter.parse(text, local, out)
            batches.append((local, exchange, [r for r in out if getattr(r, "kind", None) in DATA]))
            last_ms = ms
    return [b for b in batches if b[2]]


class _Clock:
    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def direct(pair: str, batches: list[tuple[float, str, list[Any]]]) -> None:
    sent = Counter((r.exchange, r.kind) for _, _, recs in batches for r in recs)
    print(f"\n== direct: {pair}, {sum(sent.values()):,} records parsed")
    print("   sent:       " + ", ".join(f"{e}/{k} {n:,}" for (e, k), n in sorted(sent.items())))
    for mode in CONFLICT_MODES:
        clock = _Clock(batches[0][0])
        agg = Aggregator(
            ["binance", "okx"], primary="binance", conflict=mode, clock=clock,
            connected=lambda s: True,
        )  # fmt: skip
        for ex in ("binance", "okx"):
            agg.process(ex, [trio_feeds.SourceEvent(ex, "connected", "", 0)])
        out: list[Any] = []
        for t, ex, recs in batches:
            clock.t = t
            out.extend(agg.process(ex, recs))
            out.extend(agg.expire())
        got = Counter((i.exchange, i.kind) for i in out if i.kind in DATA)
        events = Counter(i.kind for i in out if i.kind in ("source_switch", "failover_failed"))
        problems = check_order([i for i in out if i.kind in DATA])
        print(
            f"   {mode:8s}    "
            + ", ".join(f"{e}/{k} {n:,}" for (e, k), n in sorted(got.items()))
            + (f"; events {dict(events)}" if events else "; no switch, no FailoverFailed")
            + (f"; PROBLEMS {problems}" if problems else "")
        )
        for i in out:
            if i.kind == "failover_failed":
                print(f"      {i.reason[:150]}")


def check_order(records: list[Any]) -> list[str]:
    """Trades once each; each source's quotes by sequence, tickers by time."""
    problems: list[str] = []
    trades = Counter((r.exchange, r.trade_id) for r in records if r.kind == "trade")
    dups = sum(n - 1 for n in trades.values() if n > 1)
    if dups:
        problems.append(f"{dups} repeated trades")
    last: dict[tuple[str, str, str], Any] = {}
    for r in records:
        if r.kind not in ("quote", "ticker"):
            continue
        k = (r.exchange, r.kind, r.symbol)
        p = last.get(k)
        if p is not None:
            if r.kind == "quote" and r.sequence is not None and p.sequence is not None:
                if r.sequence <= p.sequence:
                    problems.append(f"{k} out of order")
            elif r.timestamp < p.timestamp:
                problems.append(f"{k} back in time")
        last[k] = r
    return problems[:5]


# -- 2. over loopback, through open_feed ----------------------------------------------------
class CaptureServer(SimulatedExchange):
    """Serves recorded frames to each subscribed connection, at a chosen pace."""

    def __init__(self, name: str, frames: list[Frame], plan: Any, speed: float) -> None:
        super().__init__(MarketSimulator(["BTC-USDT"], rate=1.0), max_backlog=None)
        self.exchange = name
        self.frames = frames
        self.plan = plan  # (index, send time offset) -> text
        self.speed = speed
        self.sent: Counter[str] = Counter()
        self.sent_trades: set[tuple[str, str]] = set()
        self.started: float | None = None
        self.subscribed = trio.Event()

    def _on_text(self, conn: SimConnection, text: str) -> None:
        if text == "ping":
            conn.send_keepalive("pong")
            return
        msg = orjson.loads(text)
        if "method" in msg:  # Binance
            conn.send_reply(orjson.dumps({"result": None, "id": msg.get("id")}).decode())
        else:
            for arg in msg.get("args", []):
                conn.send_reply(orjson.dumps({"event": "subscribe", "arg": arg}).decode())
        conn._subs["on"] = None
        self.subscribed.set()

    def _connection_tasks(self, conn: SimConnection, nursery: trio.Nursery) -> None:
        if conn.path in ("/stream", "/ws/v5/public"):
            nursery.start_soon(self._stream, conn)

    async def _stream(self, conn: SimConnection) -> None:
        await self.subscribed.wait()
        start = self.started = trio.current_time()
        for at, text, kinds in self.plan(start):
            now = trio.current_time()
            if at > now:
                await trio.sleep_until(at)
            conn.send_data(text)
            self.sent.update(kinds)


def binance_plan(frames: list[Frame], speed: float, rewrite: Any) -> Any:
    first = frames[0][0]

    def plan(start: float) -> Iterable[tuple[float, str, list[str]]]:
        for recv, text in frames:
            at = start + (recv - first) / speed
            d = orjson.loads(text)
            kind = "quote" if d["stream"].endswith("bookTicker") else "trade"
            if rewrite is not None and "E" in d["data"]:
                data = d["data"]
                data["E"] = rewrite(data["E"], at, "binance")
                if "T" in data:
                    data["T"] = rewrite(data["T"], at, "binance")
                text = orjson.dumps(d).decode()
            yield at, text, [f"binance/{kind}"]

    return plan


def okx_plan(frames: list[Frame], speed: float, rewrite: Any, duration: float) -> Any:
    first = frames[0][0]
    # a loop later, every stamp is newer than any of the loop before (the first frames
    # are OKX's snapshot pushes, stamped up to ~0.6 s before they were received)
    span = frames[-1][0] - first + 1.0

    def plan(start: float) -> Iterable[tuple[float, str, list[str]]]:
        loop = 0
        while loop * span / speed < duration:
            for recv, text in frames:
                at = start + (loop * span + recv - first) / speed
                d = orjson.loads(text)
                kind = "trade" if d["arg"]["channel"] == "trades" else "ticker"
                for item in d["data"]:
                    ts = int(item["ts"]) + round(loop * span * 1000)
                    item["ts"] = str(ts if rewrite is None else rewrite(ts, at, "okx"))
                    if "tradeId" in item:
                        item["tradeId"] = str(int(item["tradeId"]) + loop * 10_000_000)
                yield at, orjson.dumps(d).decode(), [f"okx/{kind}"] * len(d["data"])
            loop += 1

    return plan


def stamp_rewriter(
    frames: dict[str, list[Frame]], speed: float, past: float, lag: LagEpisode | None
) -> Any:
    """New event time = when the frame is sent (wall clock) - ``past`` (- binance's lag),
    keeping the recorded spacing of the stamps (scaled by ``speed``) and so their ties."""
    medians: dict[str, float] = {}
    firsts: dict[str, float] = {}
    for ex, fr in frames.items():
        offsets = []
        for recv, text in fr[:2000]:
            d = orjson.loads(text)
            if ex == "binance" and "E" in d["data"]:
                offsets.append(recv - d["data"]["E"] / 1000)
            elif ex == "okx":
                offsets.append(recv - int(d["data"][0]["ts"]) / 1000)
        medians[ex] = statistics.median(offsets)
        firsts[ex] = fr[0][0]
    wall = time.time() - trio.current_time()  # trio time -> the feed's clock

    def rewrite(ts_ms: int, at: float, ex: str) -> int:
        start = SERVERS[ex].started or trio.current_time()
        # the stamp as the receive time it normally goes with, on the replay's schedule
        normal = start + (ts_ms / 1000 + medians[ex] - firsts[ex]) / speed
        behind = lag.at(at - start) if lag is not None and ex == "binance" else 0.0
        return round((wall + normal - past - behind) * 1000)

    return rewrite


SERVERS: dict[str, CaptureServer] = {}


async def loopback(
    scenario: str,
    mode: str,
    frames: dict[str, list[Frame]],
    speed: float,
    **feed_args: Any,
) -> dict[str, Any]:
    duration = (frames["binance"][-1][0] - frames["binance"][0][0]) / speed
    # lag: 4 s into the run binance's event time falls 6 s behind within 3 s, for 3 s
    lag_ep = LagEpisode(4.0, peak=6.0, rise=3.0, hold=3.0, fall=1.0) if scenario == "lag" else None
    rewrite = None if scenario == "original" else stamp_rewriter(frames, speed, 8.0, lag_ep)
    bin_plan = binance_plan(frames["binance"], speed, rewrite)
    okx_plan_ = okx_plan(frames["okx"], speed, rewrite, duration)
    bin_srv = CaptureServer("binance", frames["binance"], bin_plan, speed)
    okx_srv = CaptureServer("okx", frames["okx"], okx_plan_, speed)
    SERVERS.update(binance=bin_srv, okx=okx_srv)
    items: list[tuple[float, Any]] = []
    async with bin_srv.serve(), okx_srv.serve():
        async with trio_feeds.open_feed(
            ["binance", "okx"], ["BTC-USDT"], ["trade", "quote", "ticker"],
            urls={"binance": bin_srv.url, "okx": okx_srv.url}, conflict=mode, **feed_args,
        ) as feed:  # fmt: skip
            with trio.move_on_after(duration + 3.0):
                async for item in feed:
                    items.append((trio.current_time(), item))  # noqa: PERF401
            health = feed.health()
    start = bin_srv.started or 0.0
    data = [i for _, i in items if i.kind in DATA]
    got = Counter(f"{i.exchange}/{i.kind}" for i in data)
    sent = bin_srv.sent + okx_srv.sent
    events = [(t - start, i) for t, i in items if i.kind in ("source_switch", "failover_failed")]
    return {
        "sent": sent, "got": got, "events": events, "problems": check_order(data),
        "health": health, "lag": lag_ep, "data": data,
    }  # fmt: skip


def report(scenario: str, mode: str, r: dict[str, Any]) -> None:
    keys = sorted(set(r["sent"]) | set(r["got"]))
    cells = ", ".join(f"{k} {r['got'][k]:,}/{r['sent'][k]:,}" for k in keys)
    print(f"   {scenario:8s} {mode:8s} delivered/sent: {cells}")
    if r["problems"]:
        print(f"      PROBLEMS: {r['problems']}")
    for t, e in r["events"]:
        what = f"{e.from_source} -> {e.to_source}" if e.kind == "source_switch" else "FAILED"
        print(f"      t={t:6.2f} s  {e.kind}: {what}: {e.reason[:120]}")
    if not r["events"]:
        print("      no switch, no FailoverFailed")
    st = r["health"].sources
    print(
        "      clock_offset: "
        + ", ".join(
            f"{ex} {s.clock_offset:+,.3f} s" if s.clock_offset is not None else f"{ex} -"
            for ex, s in st.items()
        )
    )


async def loopback_all(frames: dict[str, list[Frame]], speed: float) -> None:
    print(f"\n== loopback: open_feed over 127.0.0.1, {speed:g}x the recorded pace")
    for mode in CONFLICT_MODES:
        report("original", mode, await loopback("original", mode, frames, speed))
    report("8s-past", "latest", await loopback("8s-past", "latest", frames, speed))
    r = await loopback("lag", "primary", frames, speed, failback_after=5.0)
    report("lag", "primary", r)
    crossed = r["lag"].above(5.0)
    switch = next((t for t, e in r["events"] if e.kind == "source_switch"), None)
    back = [t for t, e in r["events"] if e.kind == "source_switch" and e.to_source == "binance"]
    if crossed is not None and switch is not None:
        print(
            f"      binance's lag above 5 s from t={crossed[0]:.2f} s to {crossed[1]:.2f} s: "
            f"switched at t={switch:.2f} s ({switch - crossed[0]:+.2f} s)"
            + (f", failback at t={back[0]:.2f} s ({back[0] - crossed[1]:+.2f} s)" if back else "")
        )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--captures", help="folder with the captures (default ../shared/captures)")
    ap.add_argument("--speed", type=float, default=20.0, help="loopback pace (x recorded)")
    ap.add_argument("--direct-only", action="store_true")
    args = ap.parse_args()
    where = captures_dir(args.captures)
    if where is None:
        print(
            "replay_captures: no captures found (../shared/captures next to the repository, "
            "--captures DIR or TRIO_FEEDS_CAPTURES): nothing to do."
        )
        return 0
    binance = load_binance(where / "binance_spot_btcusdt_20240808.gz")
    okx = load_cryptofeed(where / "cryptofeed_OKX.ws.1.0", ("trades", "tickers"), "BTC-USDT")
    okcoin = load_cryptofeed(where / "cryptofeed_OKCOIN.ws.1.0", ("trades", "tickers", "candle1m"))
    t0 = time.time()
    b_subs = [("quote", "BTC-USDT"), ("trade", "BTC-USDT")]
    b_batches = parse_batches("binance", binance, b_subs, t0)
    for name, frames in (("OKX 2022", okx), ("OKCoin 2023", okcoin)):
        o_batches = parse_batches("okx", frames, okx_subscriptions(frames), t0)
        merged = sorted(b_batches + o_batches, key=lambda b: b[0])
        direct(f"Binance 2024 + {name}", merged)
    if not args.direct_only:
        trio.run(loopback_all, {"binance": binance, "okx": okx}, args.speed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
