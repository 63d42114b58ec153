"""The simulated Bybit v5 server, checked with a plain WebSocket client and the sans-I/O
adapter and book sync (no engine): acks and refusals, ping/pong, every topic's shape, books
equal to the server's through snapshots, deltas, gaps, ``u == 1`` restarts and resyncs."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import orjson
import pytest
import trio
import trio.testing
from sim_clients import collect, collect_raw, recv_until, send, ws_client

from trio_feeds import Book, BookDelta, Candle, Quote, Ticker, Trade
from trio_feeds.books.orderbook import BookGap, BookUpdated, ResubscribeRequest
from trio_feeds.exchanges.bybit import BybitAdapter, BybitBookSync
from trio_feeds.exchanges.bybit.simulator import SimulatedBybit
from trio_feeds.protocol import ParseError, Pong, Rejected, Subscribed, Unsubscribed
from trio_feeds.testing import MarketSimulator

SPOT, LINEAR = "/v5/public/spot", "/v5/public/linear"


@asynccontextmanager
async def bybit(**kwargs: Any) -> AsyncIterator[SimulatedBybit]:
    market = MarketSimulator(["BTC-USDT", "ETH-USDT"], seed=5, rate=50.0)
    sim = SimulatedBybit(market, **kwargs)
    async with sim.serve(memory=True):
        yield sim


def is_answer(op: str) -> Any:
    return lambda m: m.get("op") == op and "topic" not in m


async def test_acks_refusals_and_pong(autojump_clock: trio.testing.MockClock) -> None:
    async with bybit() as sim, ws_client(sim, SPOT) as ws:
        await send(ws, {"req_id": "7", "op": "subscribe", "args": ["publicTrade.BTCUSDT"]})
        ack = await recv_until(ws, is_answer("subscribe"))
        assert ack["success"] is True and ack["ret_msg"] == "subscribe"
        assert ack["req_id"] == "7" and ack["conn_id"] == sim.conn_id(sim.connections[0])
        await send(ws, {"req_id": "8", "op": "subscribe", "args": ["publicTrade.BTCUSDT"]})
        again = await recv_until(ws, is_answer("subscribe"))
        assert again["success"] is False
        assert again["ret_msg"] == "error:already subscribed,topic:publicTrade.BTCUSDT"
        await send(ws, {"op": "subscribe", "args": ["orderbook.500.BTCUSDT"]})
        bad = await recv_until(ws, is_answer("subscribe"))
        assert bad["ret_msg"] == "error:handler not found,topic:orderbook.500.BTCUSDT"
        await send(ws, {"op": "subscribe", "args": ["tickers.NOPEUSDT"]})
        bad = await recv_until(ws, is_answer("subscribe"))
        assert bad["ret_msg"] == "Invalid symbol :[tickers.NOPEUSDT]"
        many = [f"kline.1.X{i}USDT" for i in range(11)]
        await send(ws, {"op": "subscribe", "args": many})
        bad = await recv_until(ws, is_answer("subscribe"))
        assert bad["ret_msg"] == "args size >10" and bad["success"] is False
        assert [v.kind for v in sim.violations] == ["too_many_args"]
        await send(ws, {"req_id": "p1", "op": "ping"})
        pong = await recv_until(ws, is_answer("ping"))
        assert pong["ret_msg"] == "pong" and pong["success"] is True
        await send(ws, {"req_id": "9", "op": "unsubscribe", "args": ["publicTrade.BTCUSDT"]})
        unsub = await recv_until(ws, is_answer("unsubscribe"))
        assert unsub["success"] is True and sim.connections[0].subscriptions == []
    async with bybit() as sim, ws_client(sim, LINEAR) as ws:
        await send(ws, {"op": "subscribe", "args": ["tickers.BTCUSDT"]})
        ack = await recv_until(ws, is_answer("subscribe"))
        assert ack["ret_msg"] == "" and ack["req_id"] == ""  # linear: empty, req_id present


async def test_unknown_path_is_404(autojump_clock: trio.testing.MockClock) -> None:
    async with bybit() as sim:
        with pytest.raises(BaseException):  # noqa: B017 - trio-websocket's ConnectionRejected
            async with ws_client(sim, "/v5/public/inverse"):
                pass
        assert sim.connection_log[-1].status == 404


async def test_adapter_reads_every_topic(autojump_clock: trio.testing.MockClock) -> None:
    """Every channel the adapter serves yields contract records from the simulator."""
    for path, symbol in ((SPOT, "BTC-USDT"), (LINEAR, "BTC-USDT-PERP")):
        adapter = BybitAdapter()
        subs = [
            adapter.subscription(c, symbol) for c in ("trade", "ticker", "quote", "book", "candle")
        ]
        async with bybit() as sim, ws_client(sim, path) as ws:
            for frame in adapter.subscribe(subs):
                await send(ws, frame)
            out: list[Any] = []
            for frame in await collect_raw(ws, 62.0):
                adapter.parse(frame, 0.0, out)
        kinds = {type(r) for r in out}
        assert {Subscribed, Trade, Ticker, Quote, BookDelta, Candle} <= kinds, kinds
        assert not [r for r in out if isinstance(r, ParseError)]
        assert all(r.symbol == symbol for r in out if isinstance(r, Trade | Ticker | Quote))
        tickers = [r for r in out if isinstance(r, Ticker)]
        if path == LINEAR:  # deltas merged: every ticker has a best bid and ask
            assert all(t.bid > 0 and t.ask > 0 for t in tickers)
            state = adapter.ticker_state(symbol)
            assert state is not None and {"fundingRate", "markPrice", "openInterest"} <= set(state)
        else:
            assert all(t.bid == 0 for t in tickers)  # spot tickers carry no best bid/ask
        candles = [r for r in out if isinstance(r, Candle)]
        assert any(c.closed for c in candles) and any(not c.closed for c in candles)
        assert all(c.interval == "1m" for c in candles)
        trades = [r for r in out if isinstance(r, Trade)]
        assert len({t.trade_id for t in trades}) == len(trades)
        quotes = [r for r in out if isinstance(r, Quote)]
        assert all(q.bid < q.ask for q in quotes)


async def test_pong_reaches_the_adapter(autojump_clock: trio.testing.MockClock) -> None:
    adapter = BybitAdapter()
    async with bybit() as sim, ws_client(sim, LINEAR) as ws:
        await send(ws, adapter.ping())
        out: list[Any] = []
        adapter.parse(await ws.get_message(), 1.0, out)
        assert out == [Pong(1.0)]
        sim.stop_pongs()
        await send(ws, adapter.ping())
        assert await collect(ws, 2.0) == []


def level_text(levels: Any) -> list[tuple[float, float]]:
    return [(float(p), float(q)) for p, q in levels]


class BookClient:
    """The adapter + book sync, acting on resubscribe requests as an engine would."""

    def __init__(self, ws: Any, symbol: str, depth: int) -> None:
        self.ws = ws
        self.adapter = BybitAdapter()
        self.sub = self.adapter.subscription("book", symbol, f"orderbook.{depth}")
        self.sync = BybitBookSync(self.sub.symbol, max_depth=depth)
        self.gaps: list[BookGap] = []
        self.resubscribes = 0
        self.updates = 0

    async def start(self) -> None:
        for frame in self.adapter.subscribe([self.sub]):
            await send(self.ws, frame)

    async def pump(self, seconds: float) -> None:
        with trio.move_on_after(seconds):
            while True:
                out: list[Any] = []
                self.adapter.parse(await self.ws.get_message(), 0.0, out)
                for ev in out:
                    if isinstance(ev, BookDelta):
                        await self._act(self.sync.on_delta(ev))
                    elif isinstance(ev, Subscribed):
                        await self._act(self.sync.on_subscribed())
                    else:
                        assert isinstance(ev, Unsubscribed), ev

    async def _act(self, outputs: list[Any]) -> None:
        for o in outputs:
            if isinstance(o, BookGap):
                self.gaps.append(o)
            elif isinstance(o, ResubscribeRequest):
                self.resubscribes += 1
                for frame in self.adapter.unsubscribe([self.sub]):
                    await send(self.ws, frame)
                for frame in self.adapter.subscribe([self.sub]):
                    await send(self.ws, frame)
            else:
                assert isinstance(o, BookUpdated)
                self.updates += 1

    def book(self) -> tuple[list[tuple[float, float]], list[tuple[float, float]]]:
        bids, asks = self.sync.book.top()
        return list(bids), list(asks)


@pytest.mark.parametrize(("path", "symbol"), [(SPOT, "BTC-USDT"), (LINEAR, "ETH-USDT-PERP")])
@pytest.mark.parametrize("depth", [50, 200])
async def test_books_equal_the_server_through_gaps_and_restarts(
    autojump_clock: trio.testing.MockClock, path: str, symbol: str, depth: int
) -> None:
    async with bybit() as sim, ws_client(sim, path) as ws:
        client = BookClient(ws, symbol, depth)
        await client.start()
        await client.pump(3.0)

        async def check() -> None:
            sim.market.freeze()  # let what is in flight arrive: then both sides must agree
            await client.pump(0.5)
            bids, asks = sim.book(symbol, depth)
            assert client.sync.synced
            assert client.book() == (level_text(bids), level_text(asks))
            assert 0 < len(bids) <= depth and 0 < len(asks) <= depth
            sim.market.thaw()

        await check()
        sim.sequence_gap(symbol)  # one delta lost: u jumps, resubscribe, fresh snapshot
        await client.pump(3.0)
        await check()
        assert len(client.gaps) == 1 and client.resubscribes == 1
        sim.corrupt("gap", symbol)
        await client.pump(3.0)
        await check()
        assert len(client.gaps) == 2
        sim.restart_books(symbol)  # u == 1: a snapshot that replaces the book, no gap
        await client.pump(0.15)  # the next push (every 20 or 100 ms): u starts again at 1
        assert (client.sync.book.sequence or 0) < 10 and client.sync.resets == 1
        await client.pump(3.0)
        await check()
        sim.resend_snapshot()
        await client.pump(3.0)
        await check()
        assert len(client.gaps) == 2 and client.sync.resets == 2


async def test_book_delta_shape_and_u_chain(autojump_clock: trio.testing.MockClock) -> None:
    async with bybit() as sim, ws_client(sim, LINEAR) as ws:
        await send(ws, {"op": "subscribe", "args": ["orderbook.50.BTCUSDT"]})
        msgs = [m for m in await collect(ws, 2.0) if "topic" in m]
    assert msgs[0]["type"] == "snapshot" and len(msgs[0]["data"]["b"]) == 50
    assert all(m["type"] == "delta" for m in msgs[1:]) and len(msgs) > 20
    us = [m["data"]["u"] for m in msgs]
    assert us == list(range(us[0], us[0] + len(us)))
    first = msgs[0]
    assert list(first) == ["topic", "type", "ts", "data", "cts"]
    assert set(first["data"]) == {"s", "b", "a", "u", "seq"}
    assert all(isinstance(x, str) for lvl in first["data"]["b"] for x in lvl)


async def test_level1_resends_unchanged_snapshot(autojump_clock: trio.testing.MockClock) -> None:
    async with bybit() as sim, ws_client(sim, SPOT) as ws:
        await send(ws, {"op": "subscribe", "args": ["orderbook.1.BTCUSDT"]})
        await recv_until(ws, lambda m: m.get("topic") == "orderbook.1.BTCUSDT")
        sim.market.freeze()
        await collect(ws, 0.1)
        quiet = [m for m in await collect(ws, 7.0) if "topic" in m]
    assert 2 <= len(quiet) <= 3 and all(m["type"] == "snapshot" for m in quiet)
    assert len({m["data"]["u"] for m in quiet}) == 1
    assert list(quiet[0]) == ["topic", "ts", "type", "data", "cts"]


async def test_data_faults(autojump_clock: trio.testing.MockClock) -> None:
    adapter = BybitAdapter()
    subs = [adapter.subscription("trade", "BTC-USDT"), adapter.subscription("candle", "BTC-USDT")]
    async with bybit() as sim, ws_client(sim, SPOT) as ws:
        for frame in adapter.subscribe(subs):
            await send(ws, frame)
        await collect(ws, 0.5)
        out: list[Any] = []
        for fault in ("malformed", "nan", "negative", "bad_trade_id"):
            sim.corrupt(fault, "BTC-USDT")
            for frame in await collect_raw(ws, 3.0):
                adapter.parse(frame, 0.0, out)
    errors = [e for e in out if isinstance(e, ParseError)]
    assert len(errors) == 4, [e.problem for e in errors]


async def test_rejects_shutdown_refusals_and_idle(autojump_clock: trio.testing.MockClock) -> None:
    adapter = BybitAdapter()
    async with bybit(idle_timeout=30.0) as sim:
        sim.reject("BTCUSDT", "tickers")
        async with ws_client(sim, SPOT) as ws:
            sub = adapter.subscription("ticker", "BTC-USDT")
            for frame in adapter.subscribe([sub]):
                await send(ws, frame)
            out: list[Any] = []
            adapter.parse(await ws.get_message(), 0.0, out)
            assert isinstance(out[0], Rejected) and out[0].subscriptions == (sub,)
            with trio.fail_after(60):
                await sim.all_connections[-1].closed.wait()  # no ping, no data for 30 s
            assert sim.all_connections[-1].close_reason == "idle: no ping-pong and no data"
        sim.refuse_connections(1, status=503)
        with pytest.raises(BaseException):  # noqa: B017 - trio-websocket's ConnectionRejected
            async with ws_client(sim, SPOT):
                pass
        assert sim.connection_log[-1].outcome == "rejected"
        async with ws_client(sim, SPOT):
            sim.shutdown()
            conn = sim.all_connections[-1]
            with trio.fail_after(5):
                await conn.closed.wait()
            assert conn.close_code == 1001


async def test_loopback_tcp() -> None:
    market = MarketSimulator(["BTC-USDT"], seed=2, rate=50.0)
    sim = SimulatedBybit(market)
    async with sim.serve(), ws_client(sim, SPOT) as ws:
        assert sim.url.startswith("ws://127.0.0.1:")
        await send(ws, {"op": "subscribe", "args": ["orderbook.1.BTCUSDT"]})
        msg = await recv_until(ws, lambda m: "topic" in m)
        assert orjson.loads(orjson.dumps(msg))["data"]["s"] == "BTCUSDT"
        book = Book  # the record type the adapter builds from it
        assert book is not None
