"""Tests of trio_feeds.testing: the simulated exchanges, driven by plain WebSocket clients.

Nothing here uses trio_feeds' own client code: the servers are checked with trio-websocket
(and a bare wsproto client where a client must misbehave), httpx, and the protocol facts of
PROTOCOLS.md.
"""

from __future__ import annotations

import contextlib
import itertools
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import orjson
import pytest
import trio
import trio.testing
from sim_clients import apply_diff, ws_client
from trio_websocket import (
    ConnectionClosed,
    ConnectionRejected,
    WebSocketConnection,
    connect_websocket_url,
)
from wsproto import ConnectionType, WSConnection
from wsproto.events import AcceptConnection, CloseConnection, Ping, Request, TextMessage

from trio_feeds.testing import (
    MarketSimulator,
    SimulatedBinance,
    SimulatedExchange,
    SimulatedExchanges,
    SimulatedOkx,
    okx_checksum,
    open_simulated_exchanges,
)

SYMBOLS = ["BTC-USDT", "ETH-USDT"]


# --- helpers -----------------------------------------------------------------


async def handshake_status(sim: SimulatedExchange, path: str) -> int | None:
    """HTTP status of a rejected handshake, or None if accepted."""
    status: list[int] = []
    try:
        async with ws_client(sim, path):
            pass
    except* ConnectionRejected as group:
        exc = group.exceptions[0]
        assert isinstance(exc, ConnectionRejected)
        status.append(exc.status_code)
    return status[0] if status else None


async def send(ws: WebSocketConnection, msg: Any) -> None:
    await trio.sleep(0.21)  # Binance allows 5 incoming messages per second
    await ws.send_message(msg if isinstance(msg, str) else orjson.dumps(msg).decode())


async def recv(ws: WebSocketConnection) -> Any:
    msg = await ws.get_message()
    return msg if msg == "pong" else orjson.loads(msg)


async def recv_until(ws: WebSocketConnection, pred: Any) -> Any:
    with trio.fail_after(10):
        while True:
            msg = await recv(ws)
            if pred(msg):
                return msg


async def collect(ws: WebSocketConnection, seconds: float) -> list[Any]:
    out: list[Any] = []
    with trio.move_on_after(seconds):
        while True:
            out.append(await recv(ws))
    return out


@asynccontextmanager
async def memory_sims(**kwargs: Any) -> AsyncIterator[SimulatedExchanges]:
    kwargs.setdefault("rate", 20.0)
    async with open_simulated_exchanges(SYMBOLS, seed=7, memory=True, **kwargs) as sims:
        yield sims


def types_of(d: dict[str, Any]) -> dict[str, type]:
    return {k: type(v) for k, v in d.items()}


class RawClient:
    """A bare wsproto client that never answers pings (to provoke timeouts)."""

    def __init__(self, stream: trio.abc.Stream) -> None:
        self.stream = stream
        self.ws = WSConnection(ConnectionType.CLIENT)

    async def handshake(self, host: str, path: str) -> None:
        await self.stream.send_all(self.ws.send(Request(host=host, target=path)))
        while True:
            for ev in self.ws.events():
                if isinstance(ev, AcceptConnection):
                    return
            self.ws.receive_data(await self.stream.receive_some(65536))

    async def events(self) -> AsyncIterator[Any]:
        while True:
            for ev in self.ws.events():
                yield ev
            data = await self.stream.receive_some(65536)
            if not data:
                return
            self.ws.receive_data(data)


# --- market -----------------------------------------------------------------


def test_market_is_deterministic_and_consistent() -> None:
    a = MarketSimulator(SYMBOLS, seed=3, epoch=1.7e9)
    b = MarketSimulator(SYMBOLS, seed=3, epoch=1.7e9)
    c = MarketSimulator(SYMBOLS, seed=4, epoch=1.7e9)
    fills_a, fills_b, fills_c = [], [], []
    book: dict[bool, dict[int, int]] = {True: {}, False: {}}
    bids0, asks0 = a.book("BTC-USDT")
    book[True].update(bids0)
    book[False].update(asks0)
    last_id = a.last_trade_id("BTC-USDT")
    for i in range(600):
        ta, tb, tc = a.step(i / 50), b.step(i / 50), c.step(i / 50)
        for t, out in ((ta, fills_a), (tb, fills_b), (tc, fills_c)):
            out.extend(f for o in t.updates["BTC-USDT"].orders for f in o.fills)
        up = ta.updates["BTC-USDT"]
        for ch in up.changes:
            if ch.size:
                book[ch.is_bid][ch.price] = ch.size
            else:
                book[ch.is_bid].pop(ch.price, None)
        bids, asks = a.book("BTC-USDT")
        assert bids[0][0] < asks[0][0]
        assert 50 <= len(bids) <= 400 and 50 <= len(asks) <= 400
        if up.changes:
            assert up.last_update_id - up.first_update_id + 1 == len(up.changes)
        assert up.seq_id >= up.prev_seq_id
    assert fills_a == fills_b and fills_a != fills_c
    ids = [f.trade_id for f in fills_a]
    assert ids == list(range(last_id + 1, last_id + 1 + len(ids)))
    bids, asks = a.book("BTC-USDT")
    assert sorted(book[True].items(), reverse=True) == bids
    assert sorted(book[False].items()) == asks
    for f in fills_a:  # a trade's price was on the book's grid near the top
        assert abs(f.price - bids[0][0]) < 10_000


# --- Binance: control messages ------------------------------------------------------------------


async def test_binance_control_replies(autojump_clock: trio.testing.MockClock) -> None:
    async with memory_sims() as sims, ws_client(sims.binance, "/ws") as ws:
        await send(
            ws, {"method": "SUBSCRIBE", "params": ["btcusdt@trade", "btcusdt@depth"], "id": 1}
        )
        assert await recv_until(ws, lambda m: "id" in m) == {"result": None, "id": 1}
        await send(ws, {"method": "LIST_SUBSCRIPTIONS", "id": "abc"})
        assert await recv_until(ws, lambda m: "id" in m) == {
            "result": ["btcusdt@trade", "btcusdt@depth"],
            "id": "abc",
        }
        await send(ws, {"method": "SUBSCRIBE", "params": ["nmrusdt@trade"], "id": 2})
        assert await recv_until(ws, lambda m: "id" in m) == {
            "error": {"code": 2, "msg": "Invalid request: invalid stream"},
            "id": 2,
        }
        await send(ws, {"method": "SUBSCRIBE", "params": ["btcusdt@nonsense"], "id": 3})
        assert (await recv_until(ws, lambda m: "id" in m))["error"]["code"] == 2
        await send(ws, "{not json")
        err = await recv_until(ws, lambda m: "error" in m)
        assert err["error"]["code"] == 3 and "id" not in err
        await send(ws, {"method": "GET_PROPERTY", "params": ["combined"], "id": 4})
        assert await recv_until(ws, lambda m: "id" in m) == {"result": False, "id": 4}
        await send(ws, {"method": "SET_PROPERTY", "params": ["combined", True], "id": 5})
        assert await recv_until(ws, lambda m: "id" in m) == {"result": None, "id": 5}
        await trio.sleep(1)  # stay under 5 messages/s
        await send(ws, {"method": "SET_PROPERTY", "params": ["combined", 1], "id": 6})
        assert (await recv_until(ws, lambda m: "id" in m))["error"]["code"] == 1
        await send(ws, {"method": "SET_PROPERTY", "params": ["nope", True], "id": 7})
        assert (await recv_until(ws, lambda m: "id" in m))["error"]["code"] == 0
        await send(ws, {"method": "FROB", "id": 8})
        assert (await recv_until(ws, lambda m: "id" in m))["error"]["code"] == 2
        # combined is on now: data arrives in envelopes
        env = await recv_until(ws, lambda m: "stream" in m)
        assert env["stream"] in ("btcusdt@trade", "btcusdt@depth")
        await send(ws, {"method": "UNSUBSCRIBE", "params": ["btcusdt@depth"], "id": 9})
        assert await recv_until(ws, lambda m: m.get("id") == 9) == {"result": None, "id": 9}
        assert sims.binance.connections[0].subscriptions == ["btcusdt@trade"]


async def test_binance_unknown_symbol_accept(autojump_clock: trio.testing.MockClock) -> None:
    async with (
        memory_sims(binance_options={"unknown_symbol": "accept"}) as sims,
        ws_client(sims.binance, "/ws") as ws,
    ):
        await send(ws, {"method": "SUBSCRIBE", "params": ["nmrusdt@trade"], "id": 1})
        assert await recv(ws) == {"result": None, "id": 1}
        assert await collect(ws, 3) == []


async def test_binance_paths_and_time_unit(autojump_clock: trio.testing.MockClock) -> None:
    async with memory_sims() as sims:
        async with ws_client(sims.binance, "/ws/btcusdt@trade") as ws:
            msg = await recv(ws)
            assert msg["e"] == "trade" and msg["s"] == "BTCUSDT"
        path = "/stream?streams=btcusdt@aggTrade/ethusdt@trade&timeUnit=MICROSECOND"
        async with ws_client(sims.binance, path) as ws:
            msgs = await collect(ws, 2)
            assert {m["stream"] for m in msgs} == {"btcusdt@aggTrade", "ethusdt@trade"}
            now_us = sims.clock() * 1e6
            assert all(abs(m["data"]["E"] - now_us) < 5e6 for m in msgs)
        assert await handshake_status(sims.binance, "/nope") == 404
        assert await handshake_status(sims.binance, "/ws/btcusdt@bogus") == 400
        assert [a.outcome for a in sims.binance.connection_log] == [
            "accepted",
            "accepted",
            "rejected",
            "rejected",
        ]


# --- Binance: payload shapes --------------------------------------------------------------------

_TYPES = {"s": str, "i": int, "b": bool, "l": list, "d": dict}


def shape(spec: str) -> dict[str, type]:
    """``"e:s E:i"`` -> ``{"e": str, "E": int}``."""
    return {k: _TYPES[t] for k, t in (item.split(":") for item in spec.split())}


BINANCE_SHAPES = {
    "trade": shape("e:s E:i s:s t:i p:s q:s T:i m:b M:b"),
    "aggTrade": shape("e:s E:i s:s a:i p:s q:s f:i l:i T:i m:b M:b"),
    "ticker": shape(
        "e:s E:i s:s p:s P:s w:s x:s c:s Q:s b:s B:s a:s A:s o:s h:s l:s v:s q:s "
        "O:i C:i F:i L:i n:i"
    ),
    "bookTicker": shape("u:i s:s b:s B:s a:s A:s"),
    "depth5": shape("lastUpdateId:i bids:l asks:l"),
    "depth@100ms": shape("e:s E:i s:s U:i u:i b:l a:l"),
    "kline_1m": shape("e:s E:i s:s k:d"),
    "miniTicker": shape("e:s E:i s:s c:s o:s h:s l:s v:s q:s"),
}
KLINE_SHAPE = shape("t:i T:i s:s i:s f:i L:i o:s c:s h:s l:s v:s n:i x:b q:s V:s Q:s B:s")


async def test_binance_payload_shapes(autojump_clock: trio.testing.MockClock) -> None:
    streams = [f"btcusdt@{k}" for k in BINANCE_SHAPES]
    async with memory_sims() as sims, ws_client(sims.binance, "/stream") as ws:
        await send(ws, {"method": "SUBSCRIBE", "params": streams, "id": 1})
        seen: dict[str, dict[str, Any]] = {}
        with trio.fail_after(10):
            while len(seen) < len(streams):
                m = await recv(ws)
                if "stream" in m:
                    seen.setdefault(m["stream"].split("@", 1)[1], m["data"])
    for kind, shape in BINANCE_SHAPES.items():
        assert types_of(seen[kind]) == shape, kind
    assert types_of(seen["kline_1m"]["k"]) == KLINE_SHAPE
    trade = seen["trade"]
    assert trade["p"].count(".") == 1 and len(trade["p"].split(".")[1]) == 8  # zero-padded
    assert seen["ticker"]["e"] == "24hrTicker" and seen["depth@100ms"]["e"] == "depthUpdate"
    for px, qty in seen["depth5"]["bids"] + seen["depth5"]["asks"]:
        assert isinstance(px, str) and isinstance(qty, str)
    assert len(seen["depth5"]["bids"]) == 5


async def test_binance_depth_diffs_match_rest_snapshot(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with memory_sims() as sims, ws_client(sims.binance, "/ws") as ws:
        await send(ws, {"method": "SUBSCRIBE", "params": ["btcusdt@depth@100ms"], "id": 1})
        assert await recv(ws) == {"result": None, "id": 1}
        queued = [await recv(ws)]
        async with httpx.AsyncClient(
            transport=sims.http_transport, base_url=sims.rest_urls["binance"]
        ) as http:
            r = await http.get("/api/v3/depth", params={"symbol": "BTCUSDT", "limit": 5000})
            snap = r.json()
            assert r.headers["x-mbx-used-weight-1m"] == "250"
            L = snap["lastUpdateId"]
            assert queued[0]["U"] <= L + 1
            book = {"b": dict(snap["bids"]), "a": dict(snap["asks"])}
            last = L
            applied = 0
            with trio.move_on_after(3):
                while True:
                    queued.append(await recv(ws))
            sims.market.freeze()
            queued.extend(await collect(ws, 0.5))
            for ev in queued:
                if ev["u"] <= L:
                    continue
                if last == L:
                    assert ev["U"] <= L + 1 <= ev["u"]
                else:
                    assert ev["U"] == last + 1  # contiguous
                apply_diff(book, ev)
                last = ev["u"]
                applied += 1
            assert applied >= 20
            final = (await http.get("/api/v3/depth?symbol=BTCUSDT&limit=5000")).json()
        assert final["lastUpdateId"] == last
        assert sorted(book["b"].items(), key=lambda x: -float(x[0])) == [
            tuple(x) for x in final["bids"]
        ]
        assert sorted(book["a"].items(), key=lambda x: float(x[0])) == [
            tuple(x) for x in final["asks"]
        ]


async def test_binance_rest_errors_and_throttle(autojump_clock: trio.testing.MockClock) -> None:
    async with memory_sims() as sims:
        async with httpx.AsyncClient(transport=sims.http_transport) as http:
            base = sims.rest_urls["binance"]
            r = await http.get(f"{base}/api/v3/depth?symbol=NOPEUSDT")
            assert r.status_code == 400 and r.json()["code"] == -1121
            sims.binance.throttle_rest(1, retry_after=7)
            r = await http.get(f"{base}/api/v3/depth?symbol=BTCUSDT")
            assert r.status_code == 429 and r.headers["retry-after"] == "7"
            r = await http.get(f"{base}/api/v3/depth?symbol=BTCUSDT")
            assert r.status_code == 200 and len(r.json()["bids"]) == 100
            okx = sims.rest_urls["okx"]
            r = await http.get(f"{okx}/api/v5/market/books?instId=NMR-USDT")
            assert r.json()["code"] == "51001"
            sims.okx.throttle_rest(1, retry_after=2)
            r = await http.get(f"{okx}/api/v5/market/books?instId=BTC-USDT")
            assert r.status_code == 429 and r.headers["retry-after"] == "2"
        assert [q.status for q in sims.binance.rest_log] == [400, 429, 200]
        assert sims.binance.rest_log[-1].query == {"symbol": "BTCUSDT"}


# --- Binance: keepalive and limits --------------------------------------------------------------


async def test_binance_server_pings_keep_a_ponging_client(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with memory_sims() as sims, ws_client(sims.binance, "/ws/btcusdt@trade") as ws:
        msgs = await collect(ws, 130)  # trio-websocket answers pings by itself
        conn = sims.binance.connections[0]
        assert conn.pings_sent == 6 and conn.pongs_received == 6
        assert msgs and conn.is_open
        assert sims.binance.violations == []


async def test_binance_pong_timeout_closes(autojump_clock: trio.testing.MockClock) -> None:
    async with memory_sims() as sims:
        raw = RawClient(await sims.connector(sims.urls["binance"]))
        await raw.handshake("stream.binance.test", "/ws")
        start = trio.current_time()
        pings: list[float] = []
        close: CloseConnection | None = None
        async for ev in raw.events():
            if isinstance(ev, Ping):
                pings.append(trio.current_time() - start)
                assert ev.payload  # Binance pings carry a payload
            elif isinstance(ev, CloseConnection):
                close = ev
                break
        assert close is not None and close.code == 1008
        assert pings[0] == pytest.approx(20, abs=0.1)
        assert trio.current_time() - start == pytest.approx(80, abs=0.1)  # ping at 20 + 60 s
        assert [v.kind for v in sims.binance.violations] == ["pong_timeout"]


async def test_binance_message_rate_limit(autojump_clock: trio.testing.MockClock) -> None:
    async with memory_sims() as sims, ws_client(sims.binance, "/ws") as ws:
        for i in range(6):
            await ws.send_message(orjson.dumps({"method": "LIST_SUBSCRIPTIONS", "id": i}).decode())
        with pytest.raises(ConnectionClosed) as info:
            await collect(ws, 5)
            await ws.get_message()
        assert info.value.reason.code == 1008
        assert [v.kind for v in sims.binance.violations] == ["message_rate"]


async def test_binance_max_connection_age(autojump_clock: trio.testing.MockClock) -> None:
    async with (
        memory_sims(binance_options={"max_connection_age": 100.0}) as sims,
        ws_client(sims.binance, "/ws") as ws,
    ):
        with pytest.raises(ConnectionClosed) as info:
            while True:
                await ws.get_message()
        assert info.value.reason.code == 1001
        assert trio.current_time() == pytest.approx(100, abs=1)


# --- OKX -----------------------------------------------------------------


async def test_okx_acks_errors_ping(autojump_clock: trio.testing.MockClock) -> None:
    async with memory_sims() as sims, ws_client(sims.okx, "/ws/v5/public") as ws:
        args = [
            {"channel": "tickers", "instId": "BTC-USDT"},
            {"channel": "trades", "instId": "ETH-USDT"},
        ]
        await send(ws, {"id": "1512", "op": "subscribe", "args": args})
        cid = sims.okx.conn_id(sims.okx.connections[0])
        acks = [await recv_until(ws, lambda m: "event" in m) for _ in args]
        assert acks == [{"id": "1512", "event": "subscribe", "arg": a, "connId": cid} for a in args]
        await send(ws, {"op": "subscribe", "args": [{"channel": "tickers", "instId": "NMR-USDT"}]})
        err = await recv_until(ws, lambda m: "event" in m)
        assert err == {
            "event": "error",
            "code": "60018",
            "msg": "Wrong URL or channel:tickers,instId:NMR-USDT doesn't exist. Please use the "
            "correct URL, channel and parameters referring to API document.",
            "connId": cid,
        }
        await send(
            ws,
            {"id": "2", "op": "subscribe", "args": [{"channel": "candle1m", "instId": "BTC-USDT"}]},
        )
        err = await recv_until(ws, lambda m: "event" in m)
        assert err["code"] == "60018" and err["id"] == "2" and "arg" not in err
        await send(ws, "ping")
        assert await recv_until(ws, lambda m: m == "pong") == "pong"
        await send(ws, "{oops")
        assert (await recv_until(ws, lambda m: "event" in m))["code"] == "60012"
        await send(ws, {"op": "unsubscribe", "args": args[:1]})
        unsub = await recv_until(ws, lambda m: "event" in m)
        assert unsub == {"event": "unsubscribe", "arg": args[0], "connId": cid}
        assert sims.okx.connections[0].subscriptions == ["trades:ETH-USDT"]
        assert await handshake_status(sims.okx, "/ws/v5/nothing") == 404


OKX_SHAPES = {
    "trades": shape("instId:s tradeId:s px:s sz:s side:s ts:s count:s source:s seqId:i"),
    "tickers": shape(
        "instType:s instId:s last:s lastSz:s askPx:s askSz:s bidPx:s bidSz:s open24h:s "
        "high24h:s low24h:s sodUtc0:s sodUtc8:s volCcy24h:s vol24h:s ts:s"
    ),
    "bbo-tbt": shape("asks:l bids:l ts:s seqId:i"),
    "books5": shape("asks:l bids:l instId:s ts:s seqId:i"),
    "books": shape("asks:l bids:l ts:s checksum:i prevSeqId:i seqId:i"),
    "trades-all": shape("instId:s tradeId:s px:s sz:s side:s source:s ts:s"),
}


async def test_okx_payload_shapes(autojump_clock: trio.testing.MockClock) -> None:
    async with (
        memory_sims() as sims,
        ws_client(sims.okx, "/ws/v5/public") as pub,
        ws_client(sims.okx, "/ws/v5/business") as biz,
    ):
        pub_ch = ["trades", "tickers", "bbo-tbt", "books5", "books"]
        await send(
            pub, {"op": "subscribe", "args": [{"channel": c, "instId": "BTC-USDT"} for c in pub_ch]}
        )
        biz_ch = ["candle1m", "trades-all"]
        await send(
            biz, {"op": "subscribe", "args": [{"channel": c, "instId": "BTC-USDT"} for c in biz_ch]}
        )
        seen: dict[str, Any] = {}
        for ws, want in ((pub, pub_ch), (biz, biz_ch)):
            with trio.fail_after(10):
                while not all(c in seen for c in want):
                    m = await recv(ws)
                    if "data" in m:
                        assert len(m["data"]) == 1 and m["arg"]["instId"] == "BTC-USDT"
                        assert set(m) == (
                            {"arg", "action", "data"}
                            if m["arg"]["channel"] == "books"
                            else {"arg", "data"}
                        )
                        seen.setdefault(m["arg"]["channel"], m["data"][0])
    for ch, shape in OKX_SHAPES.items():
        assert types_of(seen[ch]) == shape, ch
    candle = seen["candle1m"]
    assert len(candle) == 9 and all(isinstance(x, str) for x in candle) and candle[8] in "01"
    level = seen["books5"]["asks"][0]
    assert len(level) == 4 and level[2] == "0" and all(isinstance(x, str) for x in level)
    assert len(seen["books5"]["asks"]) == 5 and seen["books"]["prevSeqId"] == -1
    assert seen["books"]["checksum"] == 0
    assert not seen["trades"]["px"].endswith("0")  # OKX numbers are not padded


def apply_okx(book: dict[str, dict[str, list[str]]], data: dict[str, Any]) -> None:
    for side in ("bids", "asks"):
        for lvl in data[side]:
            if lvl[1] == "0":
                book[side].pop(lvl[0], None)
            else:
                book[side][lvl[0]] = lvl


def okx_sorted(book: dict[str, dict[str, list[str]]]) -> tuple[list[list[str]], list[list[str]]]:
    bids = sorted(book["bids"].values(), key=lambda lv: -float(lv[0]))
    asks = sorted(book["asks"].values(), key=lambda lv: float(lv[0]))
    return bids, asks


@pytest.mark.parametrize("snapshot", [True, False])
async def test_okx_books_chain_checksum_and_rest(
    autojump_clock: trio.testing.MockClock, snapshot: bool
) -> None:
    opts = {"checksum": True, "book_snapshot": snapshot}
    async with memory_sims(okx_options=opts) as sims, ws_client(sims.okx, "/ws/v5/public") as ws:
        await send(ws, {"op": "subscribe", "args": [{"channel": "books", "instId": "ETH-USDT"}]})
        await recv(ws)  # ack
        first = await recv(ws)
        book: dict[str, dict[str, list[str]]] = {"bids": {}, "asks": {}}
        queued = []
        async with httpx.AsyncClient(transport=sims.http_transport) as http:
            url = f"{sims.rest_urls['okx']}/api/v5/market/books?instId=ETH-USDT&sz=400"
            if snapshot:
                assert first["action"] == "snapshot" and first["data"][0]["prevSeqId"] == -1
                apply_okx(book, first["data"][0])
                last = first["data"][0]["seqId"]
            else:
                assert first["action"] == "update"
                queued.append(first["data"][0])
                rest = (await http.get(url)).json()["data"][0]
                apply_okx(book, rest)
                last = rest["seqId"]
            with trio.move_on_after(3):
                while True:
                    queued.append((await recv(ws))["data"][0])
            sims.market.freeze()
            queued.extend(m["data"][0] for m in await collect(ws, 0.5))
            steps = []
            for d in queued:
                if d["seqId"] <= last and not snapshot:
                    continue
                if not snapshot and not steps:
                    assert d["prevSeqId"] <= last < d["seqId"]
                else:
                    assert d["prevSeqId"] == last
                steps.append(d["seqId"] - d["prevSeqId"])
                apply_okx(book, d)
                bids, asks = okx_sorted(book)
                assert d["checksum"] == okx_checksum(bids, asks)
                last = d["seqId"]
            assert len(steps) >= 20 and any(s > 1 for s in steps)
            final = (await http.get(url)).json()["data"][0]
        assert final["seqId"] == last
        bids, asks = okx_sorted(book)
        assert (bids, asks) == (final["bids"], final["asks"])


async def test_okx_books_quiet_heartbeat(autojump_clock: trio.testing.MockClock) -> None:
    async with (
        memory_sims(okx_options={"client_idle_close": False}) as sims,
        ws_client(sims.okx, "/ws/v5/public") as ws,
    ):
        await send(ws, {"op": "subscribe", "args": [{"channel": "books", "instId": "BTC-USDT"}]})
        await recv(ws)
        await recv(ws)  # snapshot
        await trio.sleep(1)
        sims.market.freeze("BTC-USDT")
        frozen_at = trio.current_time()
        await collect(ws, 0.5)  # updates queued before the freeze
        msgs = [m["data"][0] for m in await collect(ws, 65)]
        beats = [d for d in msgs if not d["asks"] and not d["bids"]]
        assert len(beats) == 1 and beats[0]["seqId"] == beats[0]["prevSeqId"]
        assert msgs == beats
        assert sims.okx.connections, "connection must stay open"
        assert trio.current_time() - frozen_at >= 60


async def test_okx_idle_close_4004(autojump_clock: trio.testing.MockClock) -> None:
    async with memory_sims() as sims:
        async with ws_client(sims.okx, "/ws/v5/public") as ws:
            with pytest.raises(ConnectionClosed) as info:
                await ws.get_message()
            assert info.value.reason.code == 4004
            assert trio.current_time() == pytest.approx(30, abs=0.5)
        # subscribed and pinging every 20 s: stays open
        async with ws_client(sims.okx, "/ws/v5/public") as ws:
            await send(
                ws, {"op": "subscribe", "args": [{"channel": "trades", "instId": "BTC-USDT"}]}
            )
            for _ in range(5):
                await trio.sleep(20)
                await send(ws, "ping")
                await recv_until(ws, lambda m: m == "pong")
            assert sims.okx.connections[0].pongs_sent == 5
            assert sims.okx.connections[0].is_open


# --- faults -----------------------------------------------------------------


async def test_fault_drop_and_close(autojump_clock: trio.testing.MockClock) -> None:
    async with memory_sims() as sims:
        async with ws_client(sims.binance, "/ws/btcusdt@trade") as ws:
            await recv(ws)
            sims.binance.drop()
            with pytest.raises(ConnectionClosed) as info:
                await collect(ws, 5)
                await ws.get_message()
            assert info.value.reason.code == 1006  # no close frame
        async with ws_client(sims.okx, "/ws/v5/public") as ws:
            await send(
                ws, {"op": "subscribe", "args": [{"channel": "trades", "instId": "BTC-USDT"}]}
            )
            await recv(ws)
            sims.okx.close(4321, "bye")
            with pytest.raises(ConnectionClosed) as info:
                await collect(ws, 5)
                await ws.get_message()
            assert (info.value.reason.code, info.value.reason.reason) == (4321, "bye")
        assert [c.ended_by for c in sims.binance.all_connections] == ["drop"]
        assert sims.okx.all_connections[0].close_code == 4321


async def test_fault_silence_and_pongs(autojump_clock: trio.testing.MockClock) -> None:
    async with memory_sims() as sims, ws_client(sims.binance, "/ws/btcusdt@trade") as ws:
        await recv(ws)
        sims.binance.silence()
        await collect(ws, 0.2)  # frames already queued
        assert await collect(ws, 5) == []
        with trio.fail_after(1):
            await ws.ping(b"still-alive")  # pings still answered
        sims.binance.stop_pongs()
        with trio.move_on_after(5) as cs:
            await ws.ping(b"hello?")
        assert cs.cancelled_caught
        sims.binance.resume()
        sims.binance.resume_pongs()
        assert len(await collect(ws, 2)) > 0
    async with memory_sims() as sims, ws_client(sims.okx, "/ws/v5/public") as ws:
        sims.okx.stop_pongs()
        await send(ws, "ping")
        assert await collect(ws, 3) == []
        sims.okx.resume_pongs()
        await send(ws, "ping")
        assert await collect(ws, 1) == ["pong"]


async def test_fault_malformed_and_reject(autojump_clock: trio.testing.MockClock) -> None:
    async with memory_sims() as sims, ws_client(sims.binance, "/ws/btcusdt@trade") as ws:
        await ws.get_message()
        sims.binance.malformed(2)
        bad = 0
        good = 0
        with trio.fail_after(10):
            while good < 3:
                try:
                    orjson.loads(await ws.get_message())
                    good += 1
                except orjson.JSONDecodeError:
                    bad += 1
        assert bad == 2
        sims.binance.reject(symbol="ETH-USDT", channel="depth")
        await send(ws, {"method": "SUBSCRIBE", "params": ["ethusdt@depth@100ms"], "id": 9})
        err = await recv_until(ws, lambda m: "id" in m)
        assert err == {"error": {"code": 2, "msg": "Invalid request: invalid stream"}, "id": 9}
        await send(ws, {"method": "SUBSCRIBE", "params": ["ethusdt@trade"], "id": 10})
        assert await recv_until(ws, lambda m: "id" in m) == {"result": None, "id": 10}
    async with memory_sims() as sims, ws_client(sims.okx, "/ws/v5/public") as ws:
        sims.okx.reject(symbol="BTC-USDT", channel="books", code=64004)
        args = [
            {"channel": "books", "instId": "BTC-USDT"},
            {"channel": "books", "instId": "ETH-USDT"},
        ]
        await send(ws, {"id": "7", "op": "subscribe", "args": args})
        replies = [await recv_until(ws, lambda m: "event" in m) for _ in range(2)]
        assert [r["event"] for r in replies] == ["error", "subscribe"]
        assert replies[0]["code"] == "64004" and replies[0]["id"] == "7"


async def test_fault_sequence_gap(autojump_clock: trio.testing.MockClock) -> None:
    async with (
        memory_sims() as sims,
        ws_client(sims.binance, "/ws/btcusdt@depth@100ms") as bws,
        ws_client(sims.okx, "/ws/v5/public") as ows,
    ):
        await send(ows, {"op": "subscribe", "args": [{"channel": "books", "instId": "BTC-USDT"}]})
        await recv(ows)
        await trio.sleep(1)
        sims.binance.sequence_gap("BTC-USDT")
        sims.okx.sequence_gap("BTC-USDT")
        events = await collect(bws, 2)
        breaks = sum(1 for a, b in itertools.pairwise(events) if b["U"] != a["u"] + 1)
        assert breaks == 1
        pushes = [m["data"][0] for m in await collect(ows, 2)]
        chain_breaks = sum(1 for a, b in itertools.pairwise(pushes) if b["prevSeqId"] != a["seqId"])
        assert chain_breaks == 1


async def test_fault_shutdown_notices(autojump_clock: trio.testing.MockClock) -> None:
    async with memory_sims() as sims:
        async with ws_client(sims.binance, "/stream?streams=btcusdt@trade") as ws:
            await recv(ws)
            sims.binance.shutdown_notice(lead=3)
            notice = await recv_until(ws, lambda m: m.get("stream") == "!serverShutdown")
            assert set(notice["data"]) == {"e", "E"} and notice["data"]["e"] == "serverShutdown"
            t0 = trio.current_time()
            with pytest.raises(ConnectionClosed):
                while True:
                    await ws.get_message()
            assert trio.current_time() - t0 == pytest.approx(3, abs=0.2)
        async with ws_client(sims.okx, "/ws/v5/public") as ws:
            await send(
                ws, {"op": "subscribe", "args": [{"channel": "trades", "instId": "BTC-USDT"}]}
            )
            await recv(ws)
            sims.okx.shutdown_notice()
            notice = await recv_until(ws, lambda m: m.get("event") == "notice")
            cid = sims.okx.conn_id(sims.okx.connections[0])
            assert notice == {
                "event": "notice",
                "code": "64008",
                "msg": "The connection will soon be closed for a service upgrade. "
                "Please reconnect.",
                "connId": cid,
            }
            t0 = trio.current_time()
            with pytest.raises(ConnectionClosed):
                while True:
                    await ws.get_message()
                    if trio.current_time() - t0 > 25:
                        await send(ws, "ping")
                        t0 += 20
            assert trio.current_time() >= 60


async def test_fault_latency(autojump_clock: trio.testing.MockClock) -> None:
    async with memory_sims() as sims, ws_client(sims.binance, "/ws/btcusdt@trade") as ws:
        sims.binance.latency(2.5)
        await collect(ws, 0.1)
        lags = []
        for _ in range(20):
            m = await recv(ws)
            lags.append(sims.clock() * 1000 - m["E"])
        assert min(lags) >= 2500 - 1 and max(lags) < 2700


async def test_fault_refuse_connections(autojump_clock: trio.testing.MockClock) -> None:
    async with memory_sims() as sims:
        sims.okx.refuse_connections(1)
        sims.okx.refuse_connections(1, status=503)
        stream = await sims.connector(sims.urls["okx"])  # closed before the handshake
        raw = WSConnection(ConnectionType.CLIENT)
        with contextlib.suppress(trio.BrokenResourceError):
            await stream.send_all(raw.send(Request(host="ws.okx.test", target="/ws/v5/public")))
        assert await stream.receive_some() == b""
        assert await handshake_status(sims.okx, "/ws/v5/public") == 503
        async with ws_client(sims.okx, "/ws/v5/public") as ws:
            await send(ws, "ping")
            assert await recv(ws) == "pong"
        outcomes = [a.outcome for a in sims.okx.connection_log]
        assert outcomes == ["refused", "rejected", "accepted"]
        assert sims.okx.connection_log[1].status == 503


# --- virtual time, determinism, TCP ------------------------------------------


async def test_ten_virtual_minutes_no_loss(autojump_clock: trio.testing.MockClock) -> None:
    wall = time.perf_counter()
    async with (
        memory_sims(rate=10.0) as sims,
        ws_client(sims.binance, "/ws/btcusdt@trade") as ws,
    ):
        ids = [m["t"] for m in await collect(ws, 590)]
        conn = sims.binance.connections[0]
        assert conn.pings_sent == 29 and conn.pongs_received == 29
    assert trio.current_time() >= 590
    assert ids == list(range(ids[0], ids[0] + len(ids)))  # no loss, no duplicates
    assert len(ids) > 1000
    assert time.perf_counter() - wall < 5


async def _first_trades(n: int) -> list[tuple[int, str, str, bool]]:
    async with memory_sims() as sims, ws_client(sims.binance, "/ws/ethusdt@trade") as ws:
        out = []
        while len(out) < n:
            m = await recv(ws)
            out.append((m["t"], m["p"], m["q"], m["m"]))
        return out


async def test_same_seed_same_trades(autojump_clock: trio.testing.MockClock) -> None:
    assert await _first_trades(50) == await _first_trades(50)


async def test_tcp_mode_end_to_end() -> None:
    async with open_simulated_exchanges(SYMBOLS, seed=2, rate=50.0) as sims:
        assert sims.urls["binance"].startswith("ws://127.0.0.1:")
        assert sims.rest_urls["okx"].startswith("http://127.0.0.1:")
        async with trio.open_nursery() as nursery:
            bws = await connect_websocket_url(
                nursery, sims.urls["binance"] + "/stream?streams=btcusdt@bookTicker"
            )
            ows = await connect_websocket_url(nursery, sims.urls["okx"] + "/ws/v5/public")
            await send(
                ows, {"op": "subscribe", "args": [{"channel": "books5", "instId": "BTC-USDT"}]}
            )
            with trio.fail_after(5):
                assert (await recv(bws))["stream"] == "btcusdt@bookTicker"
                assert (await recv(ows))["event"] == "subscribe"
                assert (await recv(ows))["arg"]["channel"] == "books5"
            async with httpx.AsyncClient() as http:
                r = await http.get(
                    sims.rest_urls["binance"] + "/api/v3/depth?symbol=BTCUSDT&limit=5"
                )
                assert r.status_code == 200 and len(r.json()["asks"]) == 5
                r = await http.get(
                    sims.rest_urls["okx"] + "/api/v5/market/books?instId=BTC-USDT&sz=3"
                )
                assert len(r.json()["data"][0]["bids"]) == 3
            sims.binance.drop()
            with pytest.raises(ConnectionClosed), trio.fail_after(5):
                while True:
                    await bws.get_message()
            assert abs(sims.clock() - time.time()) < 1
            # the connector also works over TCP
            stream = await sims.connector(sims.urls["okx"])
            raw = RawClient(stream)
            await raw.handshake("127.0.0.1", "/ws/v5/business")
            await stream.send_all(raw.ws.send(TextMessage(data="ping")))
            with trio.fail_after(5):
                async for ev in raw.events():
                    if isinstance(ev, TextMessage):
                        assert ev.data == "pong"
                        break
            await stream.aclose()
            await ows.aclose()
            nursery.cancel_scope.cancel()


async def test_standalone_sim_serve_tcp() -> None:
    market = MarketSimulator(["BTC-USDT"], seed=5, rate=20)
    okx = SimulatedOkx(market)
    binance = SimulatedBinance(market)
    async with trio.open_nursery() as nursery:
        assert await nursery.start(binance.serve_tcp) is binance
        async with okx.serve(memory=True):
            async with ws_client(okx, "/ws/v5/public") as ws:
                await send(ws, "ping")
                assert await recv(ws) == "pong"
            async with ws_client(binance, "/ws/btcusdt@trade") as ws:
                assert (await recv(ws))["e"] == "trade"
        nursery.cancel_scope.cancel()
