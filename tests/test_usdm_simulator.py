"""The simulated Binance USD-M speaks the futures protocol: ``/ws`` and ``/stream``, trades with
contiguous ids, book tickers with ``E``, ``markPriceUpdate`` every second with funding and
index, ``forceOrder`` liquidations, ``pu``-chained diffs consistent with ``/fapi/v1/depth``
(and a broken chain on demand), ``/fapi/v1/openInterest`` and ``/fapi/v1/exchangeInfo``."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
import trio
import trio.testing
from sim_clients import apply_diff, collect, recv, send, ws_client

from trio_feeds.testing import (
    MarketSimulator,
    SimulatedBinanceUsdm,
    SimulatedExchanges,
    open_simulated_exchanges,
)

EIGHT_HOURS = 8 * 3600 * 1000


@asynccontextmanager
async def usdm(**options: Any) -> AsyncIterator[SimulatedExchanges]:
    async with open_simulated_exchanges(
        ["BTC-USDT", "BTC-USDT-PERP"],
        memory=True,
        rate=20,
        exchanges=["binance-usdm"],
        options={"binance-usdm": options},
    ) as sims:
        yield sims


def http(sims: SimulatedExchanges) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=sims.http_transport, base_url=sims.rest_urls["binance-usdm"])


async def test_only_the_perpetuals_are_listed_under_their_futures_names(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with usdm() as sims, ws_client(sims.binance_usdm, "/ws") as ws, http(sims) as h:
        info = (await h.get("/fapi/v1/exchangeInfo")).json()
        assert [s["symbol"] for s in info["symbols"]] == ["BTCUSDT"]
        (btc,) = info["symbols"]
        assert btc["contractType"] == "PERPETUAL" and btc["marginAsset"] == "USDT"
        assert {f["filterType"]: f.get("tickSize", f.get("stepSize")) for f in btc["filters"]} == {
            "PRICE_FILTER": "0.10000000",
            "LOT_SIZE": "0.00100000",
        }
        await send(ws, {"method": "SUBSCRIBE", "params": ["btcusdtperp@trade"], "id": 1})
        assert (await recv(ws))["error"]["code"] == 2  # the spot-style name is not a stream


async def test_streams_in_the_futures_shapes(autojump_clock: trio.testing.MockClock) -> None:
    streams = ["btcusdt@trade", "btcusdt@bookTicker", "btcusdt@markPrice@1s", "btcusdt@markPrice"]
    async with usdm() as sims, ws_client(sims.binance_usdm, "/stream") as ws:
        await send(ws, {"method": "SUBSCRIBE", "params": streams, "id": 7})
        assert await recv(ws) == {"result": None, "id": 7}
        frames = await collect(ws, 10.5)
    by_stream: dict[str, list[dict[str, Any]]] = {}
    for f in frames:
        by_stream.setdefault(f["stream"], []).append(f["data"])
    trades = by_stream["btcusdt@trade"]
    ids = [t["t"] for t in trades]
    assert len(ids) > 20 and ids == list(range(ids[0], ids[0] + len(ids)))  # contiguous
    assert {t["X"] for t in trades} == {"MARKET"} and all(t["E"] == t["T"] for t in trades)
    quotes = by_stream["btcusdt@bookTicker"]
    assert quotes and all(q["e"] == "bookTicker" and q["E"] >= q["T"] > 0 for q in quotes)
    marks = by_stream["btcusdt@markPrice@1s"]
    # every virtual second, with the funding rate, its settlement time and the index
    assert len(marks) == 10
    assert [b["E"] - a["E"] for a, b in itertools.pairwise(marks)] == [1000] * 9
    for m in marks:
        assert m["e"] == "markPriceUpdate" and m["s"] == "BTCUSDT"
        assert float(m["p"]) > 0 and float(m["i"]) > 0 and abs(float(m["r"])) < 0.001
        assert m["T"] % EIGHT_HOURS == 0 and 0 < m["T"] - m["E"] <= EIGHT_HOURS
    assert len(by_stream["btcusdt@markPrice"]) == 3  # the 3 s stream


async def test_liquidations_on_demand_and_at_a_rate(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with usdm(liquidation_rate=0.5) as sims, ws_client(sims.binance_usdm, "/ws") as ws:
        await send(ws, {"method": "SUBSCRIBE", "params": ["btcusdt@forceOrder"], "id": 1})
        await recv(ws)
        sent = sims.binance_usdm.liquidate("BTC-USDT-PERP", "buy", amount="0.25", price="61000")
        assert (sent.size, sent.price, sent.is_buy) == (250, 610000, True)
        first = await recv(ws)
        assert first["e"] == "forceOrder"
        assert {k: first["o"][k] for k in ("s", "S", "q", "p", "X")} == {
            "s": "BTCUSDT", "S": "BUY", "q": "0.25000000", "p": "61000.00000000", "X": "FILLED",
        }  # fmt: skip
        more = await collect(ws, 60)
        # about one every two seconds, never two for a symbol in the same second
        assert 15 <= len(more) <= 45
        seconds = [m["E"] // 1000 for m in more]
        assert len(seconds) == len(set(seconds))
        with pytest.raises(ValueError, match="side"):
            sims.binance_usdm.liquidate("BTC-USDT-PERP", "long")


async def test_pu_chained_diffs_rebuild_the_rest_book(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with usdm() as sims, ws_client(sims.binance_usdm, "/ws") as ws, http(sims) as h:
        await send(ws, {"method": "SUBSCRIBE", "params": ["btcusdt@depth@100ms"], "id": 1})
        assert await recv(ws) == {"result": None, "id": 1}
        queued = [await recv(ws)]
        r = await h.get("/fapi/v1/depth", params={"symbol": "BTCUSDT", "limit": 1000})
        assert r.headers["x-mbx-used-weight-1m"] == "20"
        snap = r.json()
        assert snap["E"] == snap["T"] > 0
        L = snap["lastUpdateId"]
        book = {"b": dict(snap["bids"]), "a": dict(snap["asks"])}
        queued.extend(await collect(ws, 3))
        sims.market.freeze()
        queued.extend(await collect(ws, 0.5))
        last: int | None = None
        for ev in queued:
            if ev["u"] < L:
                continue
            if last is None:
                assert ev["U"] <= L <= ev["u"]
            else:
                assert ev["pu"] == last  # the chain
            apply_diff(book, ev)
            last = ev["u"]
        assert last is not None and last > L + 20
        final = (await h.get("/fapi/v1/depth?symbol=BTCUSDT&limit=1000")).json()
    assert final["lastUpdateId"] == last
    assert sorted(book["b"].items(), key=lambda x: -float(x[0])) == [
        tuple(x) for x in final["bids"]
    ]
    assert sorted(book["a"].items(), key=lambda x: float(x[0])) == [tuple(x) for x in final["asks"]]


async def test_a_gap_on_demand_breaks_the_pu_chain_once(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with usdm() as sims, ws_client(sims.binance_usdm, "/ws/btcusdt@depth@0ms") as ws:
        before = await collect(ws, 1)
        sims.binance_usdm.sequence_gap("BTC-USDT-PERP")
        after = await collect(ws, 1)
    events = before + after
    breaks = [(a["u"], b["pu"]) for a, b in itertools.pairwise(events) if b["pu"] != a["u"]]
    # one diff lost: the next one's pu is the lost one's u, beyond the last u received
    assert len(breaks) == 1 and breaks[0][1] > breaks[0][0]


async def test_open_interest_in_the_binance_format(autojump_clock: trio.testing.MockClock) -> None:
    async with usdm() as sims, http(sims) as h:
        await trio.sleep(1)
        r = await h.get("/fapi/v1/openInterest", params={"symbol": "BTCUSDT"})
        assert r.status_code == 200 and r.headers["x-mbx-used-weight-1m"] == "1"
        body = r.json()
        assert set(body) == {"symbol", "openInterest", "time"}
        assert body["symbol"] == "BTCUSDT" and float(body["openInterest"]) > 0
        assert body["time"] == round(sims.clock() * 1000)
        unknown = await h.get("/fapi/v1/openInterest", params={"symbol": "NOPEUSDT"})
        assert unknown.status_code == 400 and unknown.json()["code"] == -1121


async def test_a_market_without_perpetuals_serves_none(
    autojump_clock: trio.testing.MockClock,
) -> None:
    market = MarketSimulator(["BTC-USDT"], rate=20)
    sim = SimulatedBinanceUsdm(market)
    async with sim.serve(memory=True), ws_client(sim, "/ws") as ws:
        await send(ws, {"method": "SUBSCRIBE", "params": ["btcusdt@trade"], "id": 1})
        assert (await recv(ws))["error"] == {"code": 2, "msg": "Invalid request: invalid stream"}
        await trio.sleep(2)  # the market ticks on: nothing breaks
        assert market.last_tick is not None and market.last_tick.number >= 30
