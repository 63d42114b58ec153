"""Instrument lists (``fetch_instruments``, the exchanges' parsers), ``symbols="*"``
refreshes, and runtime subscriptions with several sources and with books."""

from __future__ import annotations

from typing import Any

import attrs
import orjson
import pytest
import trio

import trio_feeds
from trio_feeds import ConfigError, ProtocolError, exchanges
from trio_feeds.exchanges.binance.instruments import parse_exchange_info, parse_usdm_exchange_info
from trio_feeds.exchanges.bybit.instruments import parse_instruments as parse_bybit
from trio_feeds.exchanges.coinbase.instruments import parse_products
from trio_feeds.exchanges.okx.instruments import parse_instruments
from trio_feeds.simulator.market import MarketSimulator
from trio_feeds.testing import open_simulated_exchanges

# shaped like the real answers (trimmed): odd steps, a halted pair, a quarterly future
SPOT_INFO = {
    "timezone": "UTC",
    "serverTime": 1754646600000,
    "symbols": [
        {"symbol": "BTCUSDT", "status": "TRADING", "baseAsset": "BTC", "quoteAsset": "USDT",
         "filters": [{"filterType": "PRICE_FILTER", "minPrice": "0.01000000",
                      "maxPrice": "1000000.00000000", "tickSize": "0.01000000"},
                     {"filterType": "LOT_SIZE", "minQty": "0.00001000",
                      "maxQty": "9000.00000000", "stepSize": "0.00001000"}]},
        {"symbol": "1000SATSFDUSD", "status": "BREAK", "baseAsset": "1000SATS",
         "quoteAsset": "FDUSD",
         "filters": [{"filterType": "PRICE_FILTER", "tickSize": "0.00000001"},
                     {"filterType": "LOT_SIZE", "stepSize": "1.00000000"}]},
        {"symbol": "BROKEN", "status": "TRADING"},
    ],
}  # fmt: skip
USDM_INFO = {
    "symbols": [
        {"symbol": "BTCUSDT", "contractType": "PERPETUAL", "status": "TRADING",
         "baseAsset": "BTC", "quoteAsset": "USDT", "marginAsset": "USDT",
         "filters": [{"filterType": "PRICE_FILTER", "tickSize": "0.10"},
                     {"filterType": "LOT_SIZE", "stepSize": "0.001"}]},
        {"symbol": "BTCUSDT_250926", "contractType": "CURRENT_QUARTER", "status": "TRADING",
         "baseAsset": "BTC", "quoteAsset": "USDT", "filters": []},
        {"symbol": "XEMUSDT", "contractType": "PERPETUAL", "status": "SETTLING",
         "baseAsset": "XEM", "quoteAsset": "USDT", "filters": []},
    ]
}  # fmt: skip
OKX_SPOT = {"code": "0", "msg": "", "data": [
    {"instType": "SPOT", "instId": "BTC-USDT", "baseCcy": "BTC", "quoteCcy": "USDT",
     "tickSz": "0.1", "lotSz": "0.00000001", "state": "live"},
    {"instType": "SPOT", "instId": "LUNA-USDT", "baseCcy": "LUNA", "quoteCcy": "USDT",
     "tickSz": "0.0001", "lotSz": "0.000001", "state": "suspend"},
]}  # fmt: skip
OKX_SWAP = {"code": "0", "msg": "", "data": [
    {"instType": "SWAP", "instId": "ETH-USDT-SWAP", "ctVal": "0.1", "ctValCcy": "ETH",
     "ctType": "linear", "settleCcy": "USDT", "tickSz": "0.01", "lotSz": "0.01",
     "state": "live"},
    {"instType": "SWAP", "instId": "BTC-USD-SWAP", "ctVal": "100", "ctValCcy": "USD",
     "ctType": "inverse", "settleCcy": "BTC", "tickSz": "0.1", "lotSz": "1", "state": "live"},
]}  # fmt: skip


def test_binance_exchange_info_becomes_canonical_instruments() -> None:
    items = parse_exchange_info(orjson.dumps(SPOT_INFO))
    assert [i.symbol for i in items] == ["BTC-USDT", "1000SATS-FDUSD"]  # BROKEN skipped
    btc, sats = items
    assert (btc.kind, btc.tick_size, btc.lot_size, btc.status, btc.native) == (
        "spot",
        0.01,
        0.00001,
        "trading",
        "BTCUSDT",
    )
    assert sats.status == "halted" and not sats.trading and sats.tick_size == 1e-8


def test_usdm_lists_perpetuals_only() -> None:
    items = parse_usdm_exchange_info(orjson.dumps(USDM_INFO))
    assert [(i.symbol, i.status) for i in items] == [
        ("BTC-USDT-PERP", "trading"),
        ("XEM-USDT-PERP", "halted"),
    ]
    assert items[0].kind == "perpetual" and items[0].lot_size == 0.001


def test_okx_swaps_carry_their_contract_size_and_lots_in_the_base_currency() -> None:
    spot = parse_instruments(orjson.dumps(OKX_SPOT))
    swaps = parse_instruments(orjson.dumps(OKX_SWAP))
    assert [(i.symbol, i.status) for i in spot] == [
        ("BTC-USDT", "trading"), ("LUNA-USDT", "halted"),
    ]  # fmt: skip
    assert [i.symbol for i in swaps] == ["ETH-USDT-PERP"]  # coin-margined: left out
    eth = swaps[0]
    assert eth.contract_size == 0.1 and eth.lot_size == pytest.approx(0.001)
    assert eth.native == "ETH-USDT-SWAP"


BYBIT_SPOT = {"retCode": 0, "retMsg": "OK", "result": {"category": "spot", "list": [
    {"symbol": "BTCUSDT", "baseCoin": "BTC", "quoteCoin": "USDT", "status": "Trading",
     "lotSizeFilter": {"basePrecision": "0.000001", "quotePrecision": "0.00000001"},
     "priceFilter": {"tickSize": "0.01"}},
]}}  # fmt: skip
BYBIT_LINEAR = {"retCode": 0, "retMsg": "OK", "result": {"category": "linear", "list": [
    {"symbol": "ETHUSDT", "contractType": "LinearPerpetual", "status": "Trading",
     "baseCoin": "ETH", "quoteCoin": "USDT", "settleCoin": "USDT",
     "priceFilter": {"tickSize": "0.01"}, "lotSizeFilter": {"qtyStep": "0.01"}},
    {"symbol": "ETH-26SEP25", "contractType": "LinearFutures", "status": "Trading",
     "baseCoin": "ETH", "quoteCoin": "USDC", "priceFilter": {}, "lotSizeFilter": {}},
    {"symbol": "NEWUSDT", "contractType": "LinearPerpetual", "status": "PreLaunch",
     "baseCoin": "NEW", "quoteCoin": "USDT", "priceFilter": {"tickSize": "0.0001"},
     "lotSizeFilter": {"qtyStep": "1"}},
], "nextPageCursor": ""}}  # fmt: skip
COINBASE = {"products": [
    {"product_id": "BTC-USD", "base_currency_id": "BTC", "quote_currency_id": "USD",
     "quote_increment": "0.01", "base_increment": "0.00000001", "status": "online",
     "trading_disabled": False, "cancel_only": False, "is_disabled": False,
     "product_type": "SPOT"},
    {"product_id": "RNDR-USD", "base_currency_id": "RNDR", "quote_currency_id": "USD",
     "quote_increment": "0.001", "base_increment": "0.01", "status": "delisted",
     "trading_disabled": True, "is_disabled": False, "product_type": "SPOT"},
    {"product_id": "BIT-31OCT25-CDE", "product_type": "FUTURE"},
], "num_products": 3}  # fmt: skip


def test_bybit_and_coinbase_lists() -> None:
    spot = parse_bybit(orjson.dumps(BYBIT_SPOT))
    linear = parse_bybit(orjson.dumps(BYBIT_LINEAR))
    assert [(i.symbol, i.lot_size, i.status) for i in spot] == [("BTC-USDT", 1e-6, "trading")]
    assert [(i.symbol, i.status) for i in linear] == [
        ("ETH-USDT-PERP", "trading"), ("NEW-USDT-PERP", "preopen"),
    ]  # fmt: skip
    products = parse_products(orjson.dumps(COINBASE))
    assert [(i.symbol, i.tick_size, i.status) for i in products] == [
        ("BTC-USD", 0.01, "trading"), ("RNDR-USD", 0.001, "delisted"),
    ]  # fmt: skip


@pytest.mark.parametrize(
    "body", [b"<html>busy</html>", b'{"code":"50011","msg":"Too Many Requests","data":[]}']
)
def test_an_unreadable_list_is_a_protocol_error(body: bytes) -> None:
    with pytest.raises(ProtocolError, match="instruments"):
        parse_instruments(body)


async def test_fetch_instruments_is_cached_and_refetched_on_request(autojump_clock: Any) -> None:
    market = MarketSimulator(["BTC-USDT", "ETH-BTC", "SOL-USDT"], seed=2, epoch=1.75e9)
    async with open_simulated_exchanges(market=market, memory=True, exchanges=["binance"]) as sims:
        where = {"rest_url": sims.rest_urls["binance"], "http_transport": sims.http_transport}
        sims.binance.set_listing("SOL-USDT", "BREAK")
        first = await trio_feeds.fetch_instruments("binance", **where)
        again = await trio_feeds.fetch_instruments("binance", **where)
        assert first == again and sims.binance.instrument_requests == 1
        by = {i.symbol: i for i in first}
        assert set(by) == {"BTC-USDT", "ETH-BTC", "SOL-USDT"}
        assert by["SOL-USDT"].status == "halted" and by["ETH-BTC"].quote == "BTC"
        assert by["BTC-USDT"].tick_size == 0.01
        await trio_feeds.fetch_instruments("binance", max_age=0, **where)
        assert sims.binance.instrument_requests == 2
    bare = attrs.evolve(exchanges.get("binance"), name="listless", instruments=None)
    exchanges.register(bare)
    try:
        with pytest.raises(ConfigError, match="listless has no instrument list"):
            await trio_feeds.fetch_instruments("listless")
    finally:
        exchanges.unregister("listless")


async def test_star_perp_on_a_spot_exchange_is_refused_by_name(autojump_clock: Any) -> None:
    async with open_simulated_exchanges(["BTC-USDT"], memory=True, exchanges=["binance"]) as sims:
        with pytest.raises(ConfigError, match="binance lists no trading perpetual"):
            async with trio_feeds.open_feed(["binance"], "*-PERP", "trade", **sims.feed_kwargs()):
                pass


async def test_refresh_subscribes_new_listings_and_drops_delisted_ones(
    autojump_clock: Any,
) -> None:
    symbols = [f"C{i:02d}-USDT" for i in range(30)]
    market = MarketSimulator(symbols, seed=4, rate=20.0)
    async with open_simulated_exchanges(market=market, memory=True, exchanges=["binance"]) as sims:
        sim = sims.binance
        sim.set_listing("C29-USDT", None)  # not listed yet
        async with trio_feeds.open_feed(
            ["binance"], "*", ["trade"], instrument_refresh=60.0, **sims.feed_kwargs()
        ) as feed:
            await trio.sleep(10)
            streams = {s for c in sim.connections for s in c.subscriptions}
            assert "c29usdt@trade" not in streams and "c03usdt@trade" in streams
            sim.set_listing("C29-USDT", "TRADING")
            sim.set_listing("C03-USDT", None)  # delisted
            sim.set_listing("C04-USDT", "BREAK")  # halted
            events = []
            with trio.fail_after(120):
                async for item in feed:
                    if item.kind == "subscription_change":
                        events.append((item.action, item.symbols, item.channels))
                        if len(events) == 2:
                            break
            assert events == [
                ("instrument_added", ("C29-USDT",), ("trade",)),
                ("instrument_removed", ("C03-USDT", "C04-USDT"), ("trade",)),
            ]
            await trio.sleep(5)
            streams = {s for c in sim.connections for s in c.subscriptions}
            assert "c29usdt@trade" in streams
            assert not {"c03usdt@trade", "c04usdt@trade"} & streams
            assert len(streams) == 28 and sim.violations == []


async def test_subscribe_reaches_the_hot_standby_and_books_sync(autojump_clock: Any) -> None:
    async with open_simulated_exchanges(["BTC-USDT", "ETH-USDT"], memory=True, seed=3) as sims:
        async with trio_feeds.open_feed(
            ["binance", "okx"], ["BTC-USDT"], ["trade"], **sims.feed_kwargs()
        ) as feed:
            await trio.sleep(5)
            await feed.subscribe("ETH-USDT", ["trade", "book"])
            await trio.sleep(5)
            binance = {s for c in sims.binance.connections for s in c.subscriptions}
            okx = {s for c in sims.okx.connections for s in c.subscriptions}
            assert {"ethusdt@trade", "ethusdt@depth@100ms"} <= binance
            assert any("ETH-USDT" in s and "books" in s for s in okx)
            books = set()
            with trio.fail_after(60):
                async for item in feed:
                    if item.kind == "book" and item.symbol == "ETH-USDT":
                        books.add(item.exchange)
                        assert item.bids and item.asks
                        break
            await feed.unsubscribe("BTC-USDT", "trade", exchanges="okx")
            await trio.sleep(2)
            okx = {s for c in sims.okx.connections for s in c.subscriptions}
            binance = {s for c in sims.binance.connections for s in c.subscriptions}
            assert not any("BTC-USDT" in s for s in okx) and "btcusdt@trade" in binance


async def test_a_cold_standby_starts_with_the_changed_subscriptions(autojump_clock: Any) -> None:
    async with open_simulated_exchanges(["BTC-USDT", "ETH-USDT"], memory=True, rate=20) as sims:
        async with trio_feeds.open_feed(
            ["binance", "okx"], ["BTC-USDT"], ["trade"], standby="cold", **sims.feed_kwargs()
        ) as feed:
            await trio.sleep(3)
            await feed.subscribe("ETH-USDT", "trade")
            await feed.unsubscribe("BTC-USDT", "trade")
            assert sims.okx.connection_log == []  # still stopped
            sims.binance.refuse_connections(50)
            sims.binance.drop()
            with trio.fail_after(60):
                async for item in feed:
                    if item.kind == "trade" and item.exchange == "okx":
                        assert item.symbol == "ETH-USDT"
                        break
            okx = {s for c in sims.okx.connections for s in c.subscriptions}
            assert any("ETH-USDT" in s for s in okx) and not any("BTC-USDT" in s for s in okx)


def test_a_config_may_ask_for_every_instrument() -> None:
    config = trio_feeds.FeedConfig(exchanges=["binance"], symbols=["*", "eth/btc"])
    assert config.symbols == ("*", "ETH-BTC")
    with pytest.raises(ConfigError, match="symbols"):
        trio_feeds.FeedConfig(exchanges=["binance"], symbols=["*-SPOT"])


async def test_star_on_the_simulated_okx(autojump_clock: Any) -> None:
    symbols = [f"C{i:03d}-USDT" for i in range(250)]  # 2 connections of <= 240 streams
    market = MarketSimulator(symbols, seed=6, rate=20.0, symbols_per_tick=50)
    async with open_simulated_exchanges(market=market, memory=True, exchanges=["okx"]) as sims:
        async with trio_feeds.open_feed(["okx"], "*", ["trade"], **sims.feed_kwargs()) as feed:
            await trio.sleep(10)
            subs = [set(c.subscriptions) for c in sims.okx.connections]
            assert len(subs) == 2 and all(len(s) <= 240 for s in subs)
            assert len(set().union(*subs)) == 250 and sims.okx.violations == []
            with trio.fail_after(30):
                async for item in feed:
                    if item.kind == "trade":
                        break
