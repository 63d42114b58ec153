"""The simulated OKX's swaps: ``BTC-USDT-PERP`` is ``BTC-USDT-SWAP`` with sizes in contracts of
the ``ctVal`` it lists, and the swap-only channels (``funding-rate``, ``mark-price``,
``open-interest``, ``liquidation-orders`` by ``instType``)."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import Any

import httpx
import trio
import trio.testing
from sim_clients import collect, recv, send, ws_client

from trio_feeds.testing import SimulatedExchanges, open_simulated_exchanges

EIGHT_HOURS = 8 * 3600 * 1000


@asynccontextmanager
async def okx(**options: Any) -> AsyncIterator[SimulatedExchanges]:
    async with open_simulated_exchanges(
        ["BTC-USDT", "BTC-USDT-PERP", "ETH-USDT-PERP"],
        memory=True,
        rate=20,
        exchanges=["okx"],
        okx_options={"client_idle_close": False, **options},
    ) as sims:
        yield sims


async def subscribe(ws: Any, *args: dict[str, str]) -> list[dict[str, Any]]:
    await send(ws, {"id": "1", "op": "subscribe", "args": list(args)})
    return [await recv(ws) for _ in args]


async def test_instruments_list_the_swaps_with_their_contract_values(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with okx(contract_values={"ETH-USDT-PERP": "0.01"}) as sims:
        async with httpx.AsyncClient(
            transport=sims.http_transport, base_url=sims.rest_urls["okx"]
        ) as h:
            swaps = (await h.get("/api/v5/public/instruments?instType=SWAP")).json()["data"]
            spot = (await h.get("/api/v5/public/instruments?instType=SPOT")).json()["data"]
            books = (await h.get("/api/v5/market/books?instId=BTC-USDT-SWAP&sz=5")).json()
            wrong = (await h.get("/api/v5/market/books?instId=BTC-USDT-PERP")).json()
    assert [(s["instId"], s["ctVal"], s["ctValCcy"], s["ctType"]) for s in swaps] == [
        ("BTC-USDT-SWAP", "0.01", "BTC", "linear"),
        ("ETH-USDT-SWAP", "0.01", "ETH", "linear"),
    ]
    assert [s["instId"] for s in spot] == ["BTC-USDT"]
    assert books["code"] == "0" and len(books["data"][0]["bids"]) == 5
    assert wrong["code"] == "51001"  # the canonical name is not an instId


async def test_swap_sizes_are_contracts_of_the_same_market(
    autojump_clock: trio.testing.MockClock,
) -> None:
    fills: dict[str, int] = {}

    def listener(tick: Any) -> None:
        for order in tick.updates["BTC-USDT-PERP"].orders:
            fills.update({str(f.trade_id + 100_000_000): f.size for f in order.fills})

    async with okx() as sims, ws_client(sims.okx, "/ws/v5/business") as ws:
        sims.market.add_listener(listener)
        acks = await subscribe(ws, {"channel": "trades-all", "instId": "BTC-USDT-SWAP"})
        assert acks[0]["event"] == "subscribe"
        pushes = await collect(ws, 5)
    trades = [d for p in pushes for d in p["data"]]
    assert len(trades) > 20 and {t["instId"] for t in trades} == {"BTC-USDT-SWAP"}
    # the market's BTC-USDT-PERP lot is 0.001 BTC; a contract (ctVal) is 0.01 BTC
    for t in trades:
        assert Decimal(t["sz"]) * Decimal("0.01") == Decimal(fills[t["tradeId"]]) / 1000


async def test_swap_only_channels(autojump_clock: trio.testing.MockClock) -> None:
    async with okx(funding_interval=30.0) as sims, ws_client(sims.okx, "/ws/v5/public") as ws:
        args = [
            {"channel": c, "instId": "BTC-USDT-SWAP"}
            for c in ("funding-rate", "mark-price", "open-interest")
        ]
        acks = await subscribe(ws, *args, {"channel": "funding-rate", "instId": "BTC-USDT"})
        assert [a["event"] for a in acks] == ["subscribe"] * 3 + ["error"]
        assert acks[3]["code"] == "60018"  # a spot pair has no funding
        sims.okx.reject("ETH-USDT-PERP", "mark-price", code=64003)  # canonical names work too
        (refused,) = await subscribe(ws, {"channel": "mark-price", "instId": "ETH-USDT-SWAP"})
        assert (refused["event"], refused["code"]) == ("error", "64003")
        pushes = await collect(ws, 31)
    by: dict[str, list[dict[str, Any]]] = {}
    for p in pushes:
        by.setdefault(p["arg"]["channel"], []).extend(p["data"])
    funding = by["funding-rate"]
    assert len(funding) == 2  # at once, then every 30 s
    for f in funding:
        assert int(f["fundingTime"]) % EIGHT_HOURS == 0 and abs(float(f["fundingRate"])) < 0.001
    marks = by["mark-price"]
    gaps = [int(b["ts"]) - int(a["ts"]) for a, b in itertools.pairwise(marks)]
    assert len(marks) > 30 and min(gaps) >= 200
    oi = by["open-interest"]
    assert 10 <= len(oi) <= 12  # every 3 s
    for o in oi:  # oi in contracts, oiCcy in BTC
        assert Decimal(o["oi"]) * Decimal("0.01") == Decimal(o["oiCcy"])


async def test_liquidation_orders_by_inst_type(autojump_clock: trio.testing.MockClock) -> None:
    async with okx(liquidation_rate=0.2) as sims, ws_client(sims.okx, "/ws/v5/public") as ws:
        by_inst = await subscribe(ws, {"channel": "liquidation-orders", "instId": "BTC-USDT-SWAP"})
        assert by_inst[0]["event"] == "error"
        arg = {"channel": "liquidation-orders", "instType": "SWAP"}
        (ack,) = await subscribe(ws, arg)
        assert ack["event"] == "subscribe" and ack["arg"] == arg
        sent = sims.okx.liquidate("ETH-USDT-PERP", "sell", amount="0.5", price="2950.5")
        first = await recv(ws)
        later = await collect(ws, 30)
    assert first["arg"] == arg
    (item,) = first["data"]
    assert item["instId"] == "ETH-USDT-SWAP" and item["instFamily"] == "ETH-USDT"
    (d,) = item["details"]
    assert (d["side"], d["posSide"], d["bkPx"], d["sz"]) == ("sell", "long", "2950.5", "5")
    assert sent.size == 50 and int(d["ts"]) == sent.ts
    insts = {i["instId"] for p in later for i in p["data"]}
    assert insts == {"BTC-USDT-SWAP", "ETH-USDT-SWAP"}  # every swap's, at random
