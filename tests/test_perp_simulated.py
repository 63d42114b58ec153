"""Perpetual swaps end to end on the simulators of ``trio_feeds.testing`` (virtual clock):
``open_feed(["binance-usdm", "okx"], ["BTC-USDT-PERP"], …)`` streams every perp channel from
both, fails over and back like spot, keeps USD-M books right through broken ``pu`` chains,
and delivers OKX swap trades in the base currency."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import orjson
import pytest
import trio
import trio.testing
from book_truth import Truth

import trio_feeds
from trio_feeds import Book, Gap, Trade
from trio_feeds.testing import (
    MarketTick,
    SimulatedExchanges,
    open_simulated_exchanges,
    simulated_exchanges,
)

SYMBOL = "BTC-USDT-PERP"
PERP_CHANNELS = ["trade", "quote", "funding", "mark", "liquidation", "book"]
DATA = {"trade", "quote", "book", "funding", "mark", "liquidation", "ticker", "candle"}


@asynccontextmanager
async def perp_sims(**options: Any) -> AsyncIterator[SimulatedExchanges]:
    async with open_simulated_exchanges(
        ["BTC-USDT", SYMBOL],
        memory=True,
        rate=20,
        exchanges=["binance-usdm", "okx"],
        options={"binance-usdm": options, "okx": options},
    ) as sims:
        yield sims


def feed(sims: SimulatedExchanges, exchanges: list[str], channels: list[str], **kw: Any) -> Any:
    opts: dict[str, Any] = dict(
        stale_after=2.0, failback_after=5.0, reconnect_delay=0.5, max_reconnect_delay=2.0, seed=7
    )
    opts.update(kw)
    return trio_feeds.open_feed(exchanges, [SYMBOL], channels, **sims.feed_kwargs(), **opts)


async def collect(f: trio_feeds.Feed, seconds: float) -> list[tuple[float, Any]]:
    out: list[tuple[float, Any]] = []
    with trio.move_on_after(seconds):
        async for item in f:
            out.append((trio.current_time(), item))  # noqa: PERF401 (cancelled midway)
    return out


async def test_both_exchanges_stream_every_perp_channel(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with perp_sims(liquidation_rate=0.5) as sims:
        async with feed(sims, ["binance-usdm", "okx"], PERP_CHANNELS, conflict="latest") as f:
            items = [i for _, i in await collect(f, 20)]
    got = {(i.exchange, i.kind) for i in items if i.kind in DATA}
    assert got == {(e, k) for e in ("binance-usdm", "okx") for k in PERP_CHANNELS}
    assert all(i.symbol == SYMBOL for i in items if i.kind in DATA)
    marks = [i for i in items if i.kind == "mark"]
    # USD-M's push carries the index, OKX's does not
    assert {(m.exchange, m.index_price is None) for m in marks} == {
        ("binance-usdm", False),
        ("okx", True),
    }
    for fu in (i for i in items if i.kind == "funding"):
        assert fu.next_funding_time % (8 * 3600 * 1000) == 0 and abs(fu.rate) < 0.001
    # both venues show the same market: their mark prices stay within a few ticks
    last = {m.exchange: m.mark_price for m in marks}
    assert math.isclose(last["binance-usdm"], last["okx"], rel_tol=1e-4)


async def test_failover_to_okx_and_back_for_a_perp(autojump_clock: trio.testing.MockClock) -> None:
    async with perp_sims() as sims:
        async with feed(sims, ["binance-usdm", "okx"], ["trade", "quote"]) as f:
            first = await collect(f, 3)
            assert f.active_source == "binance-usdm"
            sims.binance_usdm.refuse_connections(3)
            sims.binance_usdm.drop()
            items = await collect(f, 30)
    switches = [i for _, i in items if i.kind == "source_switch"]
    assert [(s.from_source, s.to_source) for s in switches] == [
        ("binance-usdm", "okx"),
        ("okx", "binance-usdm"),
    ]
    assert "disconnected" in switches[0].reason
    # primary mode: every data record came from the source active at that moment
    active = "binance-usdm"
    seen = set()
    for _, item in first + items:
        if item.kind == "source_switch":
            active = item.to_source
        elif item.kind in DATA:
            assert item.exchange == active and item.symbol == SYMBOL
            seen.add(item.exchange)
    assert seen == {"binance-usdm", "okx"}


async def test_a_broken_pu_chain_gives_a_gap_and_a_resync_never_a_wrong_book(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with perp_sims() as sims:
        truth = Truth(sims.market, SYMBOL, 20)
        async with feed(sims, ["binance-usdm"], ["book"], book_depth=20, stale_after=5.0) as f:
            items = [i for _, i in await collect(f, 3)]
            for _ in range(3):
                sims.binance_usdm.sequence_gap(SYMBOL)
                items += [i for _, i in await collect(f, 3)]
            sims.binance_usdm.corrupt("gap", SYMBOL)
            items += [i for _, i in await collect(f, 3)]
        snapshots = [r for r in sims.binance_usdm.rest_log if r.path == "/fapi/v1/depth"]
    books = [i for i in items if isinstance(i, Book)]
    gaps = [i for i in items if isinstance(i, Gap)]
    assert len(gaps) == 4 and all(g.exchange == "binance-usdm" for g in gaps)
    assert len(snapshots) == 5  # the first sync, then one resync per gap
    checked = sum(truth.check(b, between_ticks=True) for b in books)
    assert checked > 120 and checked >= len(books) - len(snapshots), (checked, len(books))
    assert [b for b in books if b.timestamp > max(g.end for g in gaps)], "books resumed"


async def test_okx_swap_trades_arrive_in_base_currency(
    autojump_clock: trio.testing.MockClock,
) -> None:
    lots: dict[str, int] = {}  # OKX trade id -> its size in market lots (0.001 BTC)

    def on_tick(tick: MarketTick) -> None:
        for order in tick.updates[SYMBOL].orders:
            groups: list[list[Any]] = []
            for fill in order.fills:  # OKX "trades" aggregates the fills of a price
                if groups and groups[-1][-1].price == fill.price:
                    groups[-1].append(fill)
                else:
                    groups.append([fill])
            for g in groups:
                lots[str(g[-1].trade_id + 100_000_000)] = sum(x.size for x in g)

    async with perp_sims() as sims:
        sims.market.add_listener(on_tick)
        async with feed(sims, ["okx"], ["trade"]) as f:
            trades = [i for _, i in await collect(f, 10) if isinstance(i, Trade)]
        _, _, body = sims.okx.rest_request("GET", "/api/v5/public/instruments?instType=SWAP")
    (inst,) = [x for x in orjson.loads(body)["data"] if x["instId"] == "BTC-USDT-SWAP"]
    ct_val = float(inst["ctVal"])
    assert ct_val == 0.01 and len(trades) > 50
    for t in trades:
        # contracts × ctVal: the market's own size in BTC, not in contracts
        assert math.isclose(t.amount, lots[t.trade_id] * 0.001, rel_tol=1e-9), t


async def test_the_lazy_toolkit_starts_the_perp_simulators(
    autojump_clock: trio.testing.MockClock,
) -> None:
    sims = simulated_exchanges(
        [SYMBOL],
        exchanges=["binance-usdm", "okx"],
        options={"binance-usdm": {"liquidation_rate": 1.0}},
    )
    assert set(sims.sims) == {"binance-usdm", "okx"}
    assert sims.binance_usdm.perp.liquidation_rate == 1.0
    assert sims.okx.swaps.perp.liquidation_rate == 0.0
    async with feed(sims, ["binance-usdm"], ["liquidation"]) as f:
        items = [i for _, i in await collect(f, 5)]
    assert [i for i in items if i.kind == "liquidation"]
    with pytest.raises(ValueError, match="unknown simulators"):
        simulated_exchanges(options={"binance_usdm": {}})
