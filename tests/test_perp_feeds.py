"""Perpetual swaps through ``open_feed``: Binance USD-M over the real protocol (a scripted
server sending USD-M-shaped frames and answering ``/fapi/v1/depth``), records with the perp
symbol, a book synced on the ``pu`` chain, and a broken chain declared as a Gap."""

from __future__ import annotations

from typing import Any

import orjson
import trio
import trio.testing
from scripted_ws import ScriptedServer

import trio_feeds

EPOCH = 1_700_000_000.0
T0 = int(EPOCH * 1000)
URLS = {"binance-usdm": "ws://usdm.scripted.test"}
REST_URLS = {"binance-usdm": "http://fapi.scripted.test"}


def clock() -> float:
    return EPOCH + trio.current_time()


def env(stream: str, data: dict[str, Any]) -> bytes:
    return orjson.dumps({"stream": f"btcusdt@{stream}", "data": data})


def diff(first: int, last: int, prev: int, bid: str) -> bytes:
    return env("depth@100ms", {
        "e": "depthUpdate", "E": T0 + last, "T": T0 + last, "s": "BTCUSDT", "U": first,
        "u": last, "pu": prev, "b": [[bid, "1.000"]], "a": [["70000.0", "2.000"]],
    })  # fmt: skip


SNAPSHOT = orjson.dumps({
    "lastUpdateId": 105, "E": T0 + 105, "T": T0 + 105,
    "bids": [["69000.0", "3.000"]], "asks": [["70000.0", "2.000"]],
})  # fmt: skip


def rest(path: str) -> tuple[int, bytes]:
    assert path.startswith("/fapi/v1/depth?symbol=BTCUSDT"), path
    return 200, SNAPSHOT


def test_usdm_records_and_book_through_open_feed() -> None:
    items: list[Any] = []

    async def main() -> None:
        async with trio.open_nursery() as servers:
            server = ScriptedServer(servers, rest)
            async with trio_feeds.open_feed(
                ["binance-usdm"], ["btc/usdt:usdt"], ["trade", "quote", "funding", "book"],
                urls=URLS, rest_urls=REST_URLS, connector=server.connector,
                http_transport=server.http_transport, clock=clock, stale_after=600,
            ) as feed:  # fmt: skip
                async with trio.open_nursery() as nursery:

                    async def collect() -> None:
                        async for item in feed:
                            items.append(item)  # noqa: PERF401

                    nursery.start_soon(collect)
                    conn = await server.connection()
                    topics = {p for r in conn.requests() for p in r.get("params", [])}
                    assert topics == {
                        "btcusdt@trade", "btcusdt@bookTicker", "btcusdt@markPrice",
                        "btcusdt@depth@100ms",
                    }  # fmt: skip
                    await conn.send([diff(100, 110, 99, "69500.0")])  # straddles L=105
                    await trio.sleep(1)
                    await conn.send([diff(111, 120, 110, "69600.0")])
                    await trio.sleep(1)
                    await conn.send([
                        env("trade", {"e": "trade", "E": T0 + 121, "T": T0 + 121,
                                      "s": "BTCUSDT", "t": 7, "p": "69700.1", "q": "0.010",
                                      "X": "MARKET", "m": True}),
                        env("bookTicker", {"e": "bookTicker", "u": 121, "s": "BTCUSDT",
                                           "b": "69600.0", "B": "1.0", "a": "70000.0",
                                           "A": "2.0", "T": T0 + 122, "E": T0 + 123}),
                        env("markPrice", {"e": "markPriceUpdate", "E": T0 + 124,
                                          "s": "BTCUSDT", "p": "69650.0", "i": "69640.0",
                                          "P": "69655.0", "r": "0.00010000",
                                          "T": T0 + 3_600_000}),
                        diff(125, 130, 124, "69800.0"),  # pu 124 != 120: a hole
                    ])  # fmt: skip
                    await trio.sleep(2)
                    nursery.cancel_scope.cancel()
            servers.cancel_scope.cancel()

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    data = {i.kind: i for i in items if i.kind in ("trade", "quote", "funding")}
    assert (data["trade"].symbol, data["trade"].side, data["trade"].amount) == (
        "BTC-USDT-PERP", "sell", 0.01,
    )  # fmt: skip
    assert data["quote"].timestamp == T0 + 123 and data["quote"].exchange_time
    assert (data["funding"].rate, data["funding"].next_funding_time) == (0.0001, T0 + 3_600_000)
    books = [i for i in items if i.kind == "book"]
    assert books, [i.kind for i in items]
    # synced from the snapshot (L=105) through the straddling diff and the chained one
    assert books[-1].sequence == 120
    assert (69600.0, 1.0) in books[-1].bids and (69500.0, 1.0) in books[-1].bids
    gaps = [i for i in items if i.kind == "gap" and i.channel == "book"]
    assert gaps and "pu=124 != last u=120" in gaps[0].reason


INSTRUMENTS = orjson.dumps({"code": "0", "msg": "", "data": [
    {"instId": "BTC-USDT-SWAP", "instType": "SWAP", "ctVal": "0.01", "ctValCcy": "BTC"},
]})  # fmt: skip


def okx_swap_run(rest_status: int) -> tuple[list[Any], list[str]]:
    items: list[Any] = []
    log: list[str] = []

    def answer(path: str) -> tuple[int, bytes]:
        log.append(path)
        return rest_status, INSTRUMENTS

    async def main() -> None:
        async with trio.open_nursery() as servers:
            server = ScriptedServer(servers, answer)
            async with trio_feeds.open_feed(
                ["okx"], ["BTC-USDT-PERP"], ["trade"],
                urls={"okx": "ws://okx.scripted.test"}, rest_urls={"okx": "http://okx.rest"},
                connector=server.connector, http_transport=server.http_transport, clock=clock,
                stale_after=600,
            ) as feed:  # fmt: skip
                async with trio.open_nursery() as nursery:

                    async def collect() -> None:
                        async for item in feed:
                            items.append(item)  # noqa: PERF401

                    nursery.start_soon(collect)
                    conn = await server.connection()
                    assert conn.requests()[0]["args"] == [
                        {"channel": "trades", "instId": "BTC-USDT-SWAP"}
                    ]
                    await conn.send([orjson.dumps({
                        "arg": {"channel": "trades", "instId": "BTC-USDT-SWAP"},
                        "data": [{"instId": "BTC-USDT-SWAP", "tradeId": "9", "px": "60000.5",
                                  "sz": "25", "side": "buy", "ts": str(T0 + 5)}],
                    })])  # fmt: skip
                    await trio.sleep(1)
                    nursery.cancel_scope.cancel()
            servers.cancel_scope.cancel()

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    return items, log


def test_okx_swap_trades_through_open_feed_carry_base_amounts() -> None:
    items, log = okx_swap_run(200)
    assert log == ["/api/v5/public/instruments?instType=SWAP"]  # before subscribing
    (t,) = [i for i in items if i.kind == "trade"]
    assert (t.exchange, t.symbol, t.amount, t.price) == ("okx", "BTC-USDT-PERP", 0.25, 60000.5)


def test_without_contract_sizes_swap_trades_are_errors_never_contracts() -> None:
    items, _ = okx_swap_run(503)
    assert not [i for i in items if i.kind == "trade"]
    details = " | ".join(i.detail for i in items if i.kind == "source" and i.state == "error")
    assert "instruments" in details and "HTTP 503" in details
    assert "contract value of BTC-USDT-SWAP unknown" in details


def test_an_okx_swap_subscribed_at_run_time_gets_its_contract_size_first() -> None:
    log: list[str] = []
    items: list[Any] = []

    def answer(path: str) -> tuple[int, bytes]:
        log.append(path)
        return 200, INSTRUMENTS

    async def main() -> None:
        async with trio.open_nursery() as servers:
            server = ScriptedServer(servers, answer)
            async with trio_feeds.open_feed(
                ["okx"], ["BTC-USDT"], ["trade"],
                urls={"okx": "ws://okx.scripted.test"}, rest_urls={"okx": "http://okx.rest"},
                connector=server.connector, http_transport=server.http_transport,
                stale_after=600,
            ) as feed:  # fmt: skip
                conn = await server.connection()
                assert log == []  # spot only: no contract sizes needed at connect
                await feed.subscribe("BTC-USDT-PERP", "trade")
                # once for the listing check (fetch_instruments), once for the sizes
                assert log.count("/api/v5/public/instruments?instType=SWAP") == 2
                assert conn.requests()[-1]["args"] == [
                    {"channel": "trades", "instId": "BTC-USDT-SWAP"}
                ]
                await conn.send([orjson.dumps({
                    "arg": {"channel": "trades", "instId": "BTC-USDT-SWAP"},
                    "data": [{"instId": "BTC-USDT-SWAP", "tradeId": "9", "px": "60000.5",
                              "sz": "25", "side": "buy", "ts": str(T0 + 5)}],
                })])  # fmt: skip
                with trio.fail_after(10):
                    async for item in feed:
                        items.append(item)
                        if item.kind == "trade":
                            break
            servers.cancel_scope.cancel()

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    (t,) = [i for i in items if i.kind == "trade"]
    assert (t.symbol, t.amount) == ("BTC-USDT-PERP", 0.25)
