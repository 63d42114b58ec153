"""Backfill from a REST window of recent trades (no cursor): Bybit spot and Coinbase.

Their histories serve only the newest trades (Bybit spot 60, Coinbase 1000 asked for), so
a short outage is filled like Binance's and OKX's, and a longer one is not: the reconnect's
``Gap`` stays and ``gap_not_filled`` says ``too_old``.  The pages are parsed into records
equal field for field to the live stream's; the simulators serve the endpoints with the
exchanges' limits.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import attrs
import orjson
import pytest
import trio
import trio.testing
from conftest import SYMBOLS, Collector, TradeLog
from test_backfill import _options, _same

import trio_feeds
from trio_feeds import ProtocolError
from trio_feeds.exchanges.bybit import BybitAdapter
from trio_feeds.exchanges.bybit.history import parse_recent_trades, recent_trades_path
from trio_feeds.exchanges.coinbase import CoinbaseAdapter
from trio_feeds.exchanges.coinbase.history import market_trades_path, parse_market_trades
from trio_feeds.testing import open_simulated_exchanges

# -- parsing: a page's trades equal the live stream's ------------------------------------


def _live(adapter: Any, sub_args: tuple[str, str], frame: dict[str, Any]) -> list[Any]:
    sub = adapter.subscription(*sub_args)
    adapter.subscribe([sub])
    out: list[Any] = []
    adapter.parse(orjson.dumps(frame).decode(), 5.0, out)
    return [r for r in out if r.kind == "trade"]


def test_bybit_recent_trade_page_gives_the_push_records() -> None:
    push = {
        "topic": "publicTrade.BTCUSDT", "ts": 1_700_000_000_120, "type": "snapshot",
        "data": [
            {"T": 1_700_000_000_100, "s": "BTCUSDT", "S": "Buy", "v": "0.0123", "p": "37000.10",
             "i": "2290000000061666327", "BT": False, "RPI": False, "seq": 77},
            {"T": 1_700_000_000_100, "s": "BTCUSDT", "S": "Sell", "v": "1", "p": "36999.9",
             "i": "2290000000061666330", "BT": False, "RPI": False, "seq": 77},
        ],
    }  # fmt: skip
    live = _live(BybitAdapter(), ("trade", "BTC-USDT"), push)
    page = {
        "retCode": 0, "retMsg": "OK", "retExtInfo": {}, "time": 1_700_000_001_000,
        "result": {"category": "spot", "list": [
            {"execId": "2290000000061666330", "symbol": "BTCUSDT", "price": "36999.9",
             "size": "1", "side": "Sell", "time": "1700000000100", "isBlockTrade": False},
            {"execId": "2290000000061666327", "symbol": "BTCUSDT", "price": "37000.10",
             "size": "0.0123", "side": "Buy", "time": "1700000000100", "isBlockTrade": False},
        ]},
    }  # fmt: skip
    got = parse_recent_trades(orjson.dumps(page), "BTC-USDT", 5.0)
    assert got == live[::-1]  # newest first, as Bybit answers
    assert recent_trades_path("BTC-USDT", 123) == (
        "/v5/market/recent-trade?category=spot&symbol=BTCUSDT&limit=60"
    )
    error = {"retCode": 10001, "retMsg": "params error: symbol invalid", "result": {}}
    with pytest.raises(ProtocolError, match="10001"):
        parse_recent_trades(orjson.dumps(error), "BTC-USDT", 5.0)
    page["result"]["list"][0]["symbol"] = "ETHUSDT"  # type: ignore[index]
    with pytest.raises(ProtocolError, match="unusable trade"):
        parse_recent_trades(orjson.dumps(page), "BTC-USDT", 5.0)


def test_coinbase_market_trades_page_gives_the_push_records() -> None:
    trades = [
        {"trade_id": "734958399", "product_id": "BTC-USD", "price": "37000.01", "size": "0.5",
         "side": "BUY", "time": "2023-11-14T22:13:20.123456Z"},
        {"trade_id": "734958398", "product_id": "BTC-USD", "price": "37000.02",
         "size": "0.00012", "side": "SELL", "time": "2023-11-14T22:13:20.1Z"},
    ]  # fmt: skip
    frame = {
        "channel": "market_trades", "client_id": "", "timestamp": "2023-11-14T22:13:20.2Z",
        "sequence_num": 3, "events": [{"type": "update", "trades": trades}],
    }  # fmt: skip
    live = _live(CoinbaseAdapter(), ("trade", "BTC-USD"), frame)
    assert [t.side for t in live] == ["buy", "sell"]  # the taker's: opposite the maker's
    page = {
        "trades": [{**t, "exchange": "COINBASE"} for t in trades],
        "best_bid": "37000.01",
        "best_ask": "37000.02",
    }
    got = parse_market_trades(orjson.dumps(page), "BTC-USD", 5.0)
    assert sorted(got, key=lambda t: t.trade_id) == live
    assert market_trades_path("BTC-USD", 0) == (
        "/api/v3/brokerage/market/products/BTC-USD/ticker?limit=1000"
    )
    page["trades"][0]["trade_id"] = "34b080bf-fcfd-445a-832b-46b5ddc65601"  # type: ignore[index]
    with pytest.raises(ProtocolError, match="unusable trade"):  # no order to fill by
        parse_market_trades(orjson.dumps(page), "BTC-USD", 5.0)
    with pytest.raises(ProtocolError, match="ProductID is invalid"):
        parse_market_trades(
            b'{"error":"NOT_FOUND","message":"ProductID is invalid"}', "BTC-USD", 5.0
        )


# -- the simulators serve the windows ---------------------------------------------------


def test_simulators_serve_the_newest_trades_within_the_limits() -> None:
    async def main() -> None:
        async with open_simulated_exchanges(
            SYMBOLS, seed=3, memory=True, rate=50, exchanges=["bybit", "coinbase"]
        ) as sims:
            log = TradeLog()
            sims.market.add_listener(log)
            await trio.sleep(30.0)
            ids = [t.trade_id for t in log.trades["binance", "BTC-USDT"]]
            assert len(ids) > 1000
            bybit, coinbase = sims.sims["bybit"], sims.sims["coinbase"]
            st, _, body = bybit.rest_request(
                "GET", "/v5/market/recent-trade?category=spot&symbol=BTCUSDT&limit=500"
            )
            spot = parse_recent_trades(body, "BTC-USDT", 0.0)
            assert st == 200 and [int(t.trade_id) for t in spot] == ids[::-1][:60]
            _, _, body = bybit.rest_request(
                "GET", "/v5/market/recent-trade?category=linear&symbol=BTCUSDT&limit=5000"
            )
            assert len(orjson.loads(body)["result"]["list"]) == 1000
            _, _, body = bybit.rest_request("GET", "/v5/market/recent-trade?category=spot")
            assert orjson.loads(body)["retCode"] == 10001
            st, _, body = coinbase.rest_request(
                "GET", "/api/v3/brokerage/market/products/BTC-USDT/ticker?limit=5000"
            )
            cb = parse_market_trades(body, "BTC-USDT", 0.0)
            assert st == 200 and [int(t.trade_id) for t in cb] == ids[::-1][:1000]
            st, _, _ = coinbase.rest_request(
                "GET", "/api/v3/brokerage/market/products/NOPE-USD/ticker?limit=5"
            )
            assert st == 404

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))


# -- end to end: a short outage is filled, a long one is not --------------------------------


@attrs.define
class Run:
    sim: Any
    feed: Collector
    reference: Collector
    log: TradeLog

    def trades(self, col: Collector, symbol: str) -> list[Any]:
        return [x for x in col.items if x.kind == "trade" and x.symbol == symbol]


@asynccontextmanager
async def two_feeds(exchange: str, seed: int, rate: float) -> AsyncIterator[Run]:
    """The feed under test (backfill on) and a reference feed opened second (backfill
    off), whose connection stays up."""
    async with open_simulated_exchanges(
        SYMBOLS, seed=seed, memory=True, rate=rate, exchanges=[exchange]
    ) as sims:
        log = TradeLog()
        sims.market.add_listener(log)
        options = _options(sims, exchange, seed)
        a, b = Collector(), Collector()
        async with (
            trio_feeds.open_feed([exchange], SYMBOLS, ["trade"], **options) as fa,
            trio.open_nursery() as nursery,
        ):
            nursery.start_soon(a.run, fa)
            await trio.sleep(1.0)
            async with trio_feeds.open_feed(
                [exchange], SYMBOLS, ["trade"], backfill=False, **options
            ) as fb:
                nursery.start_soon(b.run, fb)
                await trio.sleep(1.0)
                yield Run(sims.sims[exchange], a, b, log)
            nursery.cancel_scope.cancel()


async def _outage(run: Run, seconds: float) -> None:
    """Drop the feed under test's connection and refuse its reconnects for ``seconds``."""
    first = sorted(run.sim.connections, key=lambda c: c.id)[0]
    handle = run.sim.refuse_connections(1000)
    run.sim.drop(first)
    await trio.sleep(seconds)
    handle.cancel()


# one trade per fill, ids = fill ids, on both (the log's "binance" list is that sequence);
# the market trades about 40 times a second per symbol: 1 s misses fewer than Bybit's 60,
# 2 s more than the 50-trade snapshot Coinbase sends on subscribing (so REST is needed)
@pytest.mark.parametrize(("exchange", "down"), [("bybit", 1.0), ("coinbase", 2.0)])
def test_a_short_outage_is_filled_from_the_recent_window(exchange: str, down: float) -> None:
    async def main() -> None:
        async with two_feeds(exchange, seed=5, rate=50) as run:
            await trio.sleep(2.0)
            await _outage(run, down)
            await trio.sleep(10.0)
            assert len(run.feed.of("source", state="connected")) == 2
            assert len(run.feed.gaps(exchange, "trade")) == len(SYMBOLS)
            assert not run.feed.of("source", state="gap_not_filled")
            filled = run.feed.of("gap_filled")
            assert sorted(x.symbol for x in filled) == sorted(SYMBOLS), filled
            for symbol in SYMBOLS:
                got = run.trades(run.feed, symbol)
                ids = [int(t.trade_id) for t in got]
                market = [t.trade_id for t in run.log.trades["binance", symbol]]
                assert ids == [i for i in market if ids[0] <= i <= ids[-1]], symbol
                ref = {int(t.trade_id): t for t in run.trades(run.reference, symbol)}
                common = [t for t in got if int(t.trade_id) in ref]
                assert len(common) > 100
                assert all(_same(t, ref[int(t.trade_id)]) for t in common)
                (event,) = [x for x in filled if x.symbol == symbol]
                i, j = ids.index(int(event.first_id)), ids.index(int(event.last_id))
                assert event.count == j - i + 1 > 10
                # the fetched trades went out right before their event
                items = run.feed.items
                assert items[items.index(got[j]) + 1] is event
            assert any("recent-trade" in r.path or "/ticker" in r.path for r in run.sim.rest_log)

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))


@pytest.mark.parametrize(
    ("exchange", "down", "window"), [("bybit", 4.0, 60), ("coinbase", 30.0, 1000)]
)
def test_an_outage_longer_than_the_window_leaves_the_gap(
    exchange: str, down: float, window: int
) -> None:
    async def main() -> None:
        async with two_feeds(exchange, seed=6, rate=50) as run:
            await trio.sleep(2.0)
            await _outage(run, down)
            await trio.sleep(60.0)  # the reconnect backoff has grown
            assert len(run.feed.of("source", state="connected")) == 2
            assert not run.feed.of("gap_filled")
            events = run.feed.of("source", state="gap_not_filled")
            assert sorted(e.reason for e in events) == ["too_old"] * len(SYMBOLS)
            assert all(f"newest {window} trades" in e.detail for e in events)
            assert len(run.feed.gaps(exchange, "trade")) == len(SYMBOLS)
            for symbol in SYMBOLS:
                ids = [int(t.trade_id) for t in run.trades(run.feed, symbol)]
                assert ids == sorted(set(ids))  # once each, in order
                holes = [(a, b) for a, b in itertools.pairwise(ids) if b != a + 1]
                assert len(holes) == 1  # the outage's, which stays a hole
                # what the window held was delivered: the hole ends at most a window
                # (plus the trades held meanwhile) before the newest id
                assert holes[0][1] - holes[0][0] > window

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
