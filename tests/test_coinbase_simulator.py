"""The simulated Coinbase Advanced Trade server, checked with a plain WebSocket client and the
sans-I/O adapter and book sync (no engine): subscriptions answers and error frames,
``sequence_num`` per connection, every channel's shape, heartbeats, books equal to the
server's through snapshots, updates, lost messages and resyncs."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
import trio
import trio.testing
from sim_clients import collect, collect_raw, recv_until, send, ws_client

from trio_feeds import BookDelta, Candle, Quote, Ticker, Trade
from trio_feeds.books.orderbook import BookGap, BookUpdated, ResubscribeRequest
from trio_feeds.exchanges._shared import ConnectionGap
from trio_feeds.exchanges.coinbase import CoinbaseAdapter, CoinbaseBookSync
from trio_feeds.exchanges.coinbase.simulator import SimulatedCoinbase
from trio_feeds.protocol import ParseError, Rejected, Subscribed, Unsubscribed
from trio_feeds.testing import MarketSimulator


@asynccontextmanager
async def coinbase(**kwargs: Any) -> AsyncIterator[SimulatedCoinbase]:
    market = MarketSimulator(["BTC-USD", "ETH-USD", "BTC-USDT"], seed=3, rate=50.0)
    sim = SimulatedCoinbase(market, **kwargs)
    async with sim.serve(memory=True):
        yield sim


def channel(name: str) -> Any:
    return lambda m: m.get("channel") == name


async def test_subscriptions_errors_and_sequence(autojump_clock: trio.testing.MockClock) -> None:
    async with coinbase() as sim, ws_client(sim, "/") as ws:
        await send(ws, {"type": "subscribe", "product_ids": ["BTC-USD"], "channel": "level2"})
        subs = await recv_until(ws, channel("subscriptions"))
        assert subs["events"] == [{"subscriptions": {"level2": ["BTC-USD"]}}]
        assert subs["sequence_num"] == 0 and subs["client_id"] == ""
        snap = await recv_until(ws, channel("l2_data"))
        assert snap["events"][0]["type"] == "snapshot" and snap["sequence_num"] == 1
        await send(ws, {"type": "subscribe", "product_ids": ["NOPE-USD"], "channel": "ticker"})
        err = await recv_until(ws, lambda m: m.get("type") == "error")
        assert err == {
            "type": "error",
            "message": "Failed to subscribe",
            "reason": "NOPE-USD is not a valid product",
        }
        await send(ws, {"type": "subscribe", "channel": "heartbeats"})
        hb = await recv_until(ws, channel("heartbeats"))
        assert isinstance(hb["events"][0]["heartbeat_counter"], int)
        seqs = [m["sequence_num"] for m in await collect(ws, 2.0) if "sequence_num" in m]
        assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))  # one counter, all channels
        await send(ws, {"type": "unsubscribe", "product_ids": ["BTC-USD"], "channel": "level2"})
        subs = await recv_until(ws, channel("subscriptions"))
        assert subs["events"] == [{"subscriptions": {"heartbeats": ["heartbeats"]}}]


async def test_no_subscribe_and_idle_close(autojump_clock: trio.testing.MockClock) -> None:
    async with coinbase() as sim:
        async with ws_client(sim, "/"):
            conn = sim.all_connections[-1]
            with trio.fail_after(10):
                await conn.closed.wait()
            assert conn.closed_at is not None and conn.closed_at - conn.opened_at == pytest.approx(
                5
            )
        async with ws_client(sim, "/") as ws:  # a quiet product and no heartbeats: closed
            sim.market.freeze()
            await send(ws, {"type": "subscribe", "product_ids": ["ETH-USD"], "channel": "ticker"})
            conn = sim.all_connections[-1]
            with trio.fail_after(100):
                await conn.closed.wait()
            assert conn.close_reason == "idle"
        async with ws_client(sim, "/") as ws:  # heartbeats keep it open
            await send(ws, {"type": "subscribe", "channel": "heartbeats"})
            await send(ws, {"type": "subscribe", "product_ids": ["ETH-USD"], "channel": "ticker"})
            await collect(ws, 200.0)
            assert sim.all_connections[-1].is_open


async def test_adapter_reads_every_channel(autojump_clock: trio.testing.MockClock) -> None:
    adapter = CoinbaseAdapter()
    subs = [adapter.subscription(c, "BTC-USD") for c in ("trade", "ticker", "book", "candle")]
    subs.append(adapter.subscription("quote", "BTC-USDT"))
    async with coinbase() as sim, ws_client(sim, "/") as ws:
        for frame in adapter.subscribe(subs):
            await send(ws, frame)
        out: list[Any] = []
        for frame in await collect_raw(ws, 330.0):
            adapter.parse(frame, 0.0, out)
    kinds = {type(r) for r in out}
    assert {Subscribed, Trade, Ticker, Quote, BookDelta, Candle} <= kinds, kinds
    assert not [r for r in out if isinstance(r, ParseError | ConnectionGap)]
    assert adapter.gaps == 0
    candles = [r for r in out if isinstance(r, Candle)]
    assert all(c.interval == "5m" for c in candles)
    assert any(c.closed for c in candles)  # a new bucket closes the last one
    assert {c.start % 300_000 for c in candles} == {0}
    trades = [r for r in out if isinstance(r, Trade)]
    assert len({t.trade_id for t in trades}) == len(trades)
    assert all(q.bid < q.ask and q.symbol == "BTC-USDT" for q in out if isinstance(q, Quote))


async def test_taker_side_is_the_opposite_of_the_reported_side(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """The simulator reports the maker's side; the adapter's records carry the taker's,
    which is the market's taker order side."""
    seen: dict[str, bool] = {}

    def listener(tick: Any) -> None:
        for order in tick.updates["BTC-USD"].orders:
            for f in order.fills:
                seen[str(f.trade_id)] = order.is_buy

    adapter = CoinbaseAdapter()
    async with coinbase() as sim, ws_client(sim, "/") as ws:
        sim.market.add_listener(listener)
        for frame in adapter.subscribe([adapter.subscription("trade", "BTC-USD")]):
            await send(ws, frame)
        out: list[Any] = []
        for frame in await collect_raw(ws, 5.0):
            adapter.parse(frame, 0.0, out)
    trades = [t for t in out if isinstance(t, Trade) and t.trade_id in seen]
    assert len(trades) > 20
    assert all((t.side == "buy") == seen[t.trade_id] for t in trades)


class BookClient:
    """The adapter + book sync, acting on resubscribe requests as an engine would."""

    def __init__(self, ws: Any, product: str) -> None:
        self.ws = ws
        self.adapter = CoinbaseAdapter()
        self.sub = self.adapter.subscription("book", product)
        self.sync = CoinbaseBookSync(product)
        self.gaps: list[BookGap] = []
        self.resubscribes = 0

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
                    elif isinstance(ev, ConnectionGap):
                        await self._act(self.sync.on_connection_gap(ev.gaps[0].end))
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


async def test_books_equal_the_server_through_lost_messages(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with coinbase() as sim, ws_client(sim, "/") as ws:
        client = BookClient(ws, "BTC-USD")
        await client.start()
        await client.pump(2.0)

        async def check() -> None:
            sim.market.freeze()  # let what is in flight arrive: then both sides must agree
            await client.pump(0.5)
            bids, asks = sim.book("BTC-USD")
            assert client.sync.synced
            got_b, got_a = client.sync.book.top()
            assert list(got_b) == [(float(p), float(q)) for p, q in bids]
            assert list(got_a) == [(float(p), float(q)) for p, q in asks]
            sim.market.thaw()

        await check()
        sim.sequence_gap("BTC-USD")  # one l2_data message lost: a hole in sequence_num
        await client.pump(2.0)
        await check()
        assert len(client.gaps) == 1 and client.resubscribes == 1
        sim.corrupt("gap", "BTC-USD")
        await client.pump(2.0)
        await check()
        assert len(client.gaps) == 2
        sim.silence()  # a stall: messages lost meanwhile still count in sequence_num
        await client.pump(1.0)
        sim.resume()
        await client.pump(2.0)
        await check()
        assert len(client.gaps) == 3 and client.resubscribes == 3


async def test_data_faults_and_rejects(autojump_clock: trio.testing.MockClock) -> None:
    adapter = CoinbaseAdapter()
    subs = [adapter.subscription("trade", "BTC-USD"), adapter.subscription("ticker", "BTC-USD")]
    async with coinbase() as sim, ws_client(sim, "/") as ws:
        for frame in adapter.subscribe(subs):
            await send(ws, frame)
        await collect(ws, 1.0)
        out: list[Any] = []
        for fault in ("malformed", "nan", "negative", "bad_trade_id"):
            sim.corrupt(fault, "BTC-USD")
            for frame in await collect_raw(ws, 3.0):
                adapter.parse(frame, 0.0, out)
        assert len([e for e in out if isinstance(e, ParseError)]) == 4
        sim.reject("ETH-USD")
        sub = adapter.subscription("trade", "ETH-USD")
        for frame in adapter.subscribe([sub]):
            await send(ws, frame)
        out = []
        for frame in await collect_raw(ws, 0.5):
            adapter.parse(frame, 0.0, out)
        assert next(r for r in out if isinstance(r, Rejected)).subscriptions == (sub,)


async def test_usdc_gets_usd_data_and_loopback() -> None:
    market = MarketSimulator(["BTC-USD"], seed=2, rate=50.0)
    sim = SimulatedCoinbase(market)
    adapter = CoinbaseAdapter()
    async with sim.serve(), ws_client(sim, "/") as ws:
        assert sim.url.startswith("ws://127.0.0.1:")
        for frame in adapter.subscribe([adapter.subscription("ticker", "BTC-USDC")]):
            await send(ws, frame)
        msg = await recv_until(ws, channel("ticker"))
        assert msg["events"][0]["tickers"][0]["product_id"] == "BTC-USD"
        out: list[Any] = []
        adapter.parse(await ws.get_message(), 0.0, out)
        adapter.parse(await ws.get_message(), 0.0, out)
        assert {r.symbol for r in out if isinstance(r, Ticker)} <= {"BTC-USDC"}
