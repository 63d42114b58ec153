"""Bybit USDT perpetuals: ``funding``, ``mark`` and ``open_interest`` from the linear
``tickers`` push (a snapshot, then deltas of the changed fields only), by the adapter on
frames written here and through ``open_feed`` against the simulated Bybit."""

from __future__ import annotations

import math
from typing import Any

import orjson
import pytest
import trio
import trio.testing

import trio_feeds
from trio_feeds import ConfigError, Funding, MarkPrice, OpenInterest, Ticker
from trio_feeds.exchanges.bybit import BybitAdapter
from trio_feeds.exchanges.bybit.simulator import SimulatedBybit
from trio_feeds.protocol import ParseError, Subscribed
from trio_feeds.testing import MarketSimulator

T0 = 1_673_272_861_686
PERP = "BTC-USDT-PERP"
#: a linear snapshot as Bybit sends it (key order is not the spot one; numbers are strings)
SNAPSHOT = {
    "symbol": "BTCUSDT", "tickDirection": "PlusTick", "price24hPcnt": "0.017103",
    "lastPrice": "17216.00", "prevPrice24h": "16926.50", "highPrice24h": "17281.50",
    "lowPrice24h": "16915.00", "prevPrice1h": "17238.00", "markPrice": "17217.33",
    "indexPrice": "17227.36", "openInterest": "68744.761", "openInterestValue": "1183601235.91",
    "turnover24h": "1570383121.943499", "volume24h": "91705.276",
    "nextFundingTime": "1673280000000", "fundingRate": "-0.000212", "bid1Price": "17215.50",
    "bid1Size": "84.489", "ask1Price": "17216.00", "ask1Size": "83.020",
}  # fmt: skip


def push(data: dict[str, Any], kind: str = "snapshot", ts: int = T0, cs: int = 1) -> bytes:
    return orjson.dumps(
        {"topic": "tickers.BTCUSDT", "type": kind, "data": data, "cs": cs, "ts": ts}
    )


def adapter(*channels: str, keep_raw: bool = False) -> BybitAdapter:
    a = BybitAdapter(keep_raw=keep_raw, only_subscribed=True)
    subs = [a.subscription(c, "btc-usdt-perp") for c in channels]
    (frame,) = a.subscribe(subs)
    # one topic for all of them, asked for once
    assert orjson.loads(frame)["args"] == ["tickers.BTCUSDT"]
    (ack,) = a.parse_one(
        b'{"success":true,"ret_msg":"","conn_id":"c","req_id":"1","op":"subscribe"}'
    )
    assert isinstance(ack, Subscribed) and set(ack.subscriptions) == set(subs)
    return a


def test_a_snapshot_gives_each_subscribed_channel_its_record() -> None:
    a = adapter("ticker", "funding", "mark", "open_interest")
    out = a.parse_one(push(SNAPSHOT), 5.0)
    assert [r.kind for r in out] == ["ticker", "funding", "mark", "open_interest"]
    _, funding, mark, oi = out
    assert funding == Funding("bybit", PERP, T0, 5.0, -0.000212, 1673280000000)
    assert mark == MarkPrice("bybit", PERP, T0, 5.0, 17217.33, 17227.36)
    # openInterest counts contracts of one BTC: base currency (not openInterestValue, USDT)
    assert oi == OpenInterest("bybit", PERP, T0, 5.0, 68744.761)


def test_deltas_are_merged_and_only_the_channels_they_touch_get_a_record() -> None:
    a = adapter("ticker", "funding", "mark", "open_interest")
    a.parse_one(push(SNAPSHOT))
    # last price only: a ticker, no repeated funding / mark / open interest
    out = a.parse_one(push({"symbol": "BTCUSDT", "lastPrice": "17220.50"}, "delta", T0 + 100, 2))
    assert [type(r) for r in out] == [Ticker]
    # the mark price moved, the index did not: the mark keeps the last index price
    out = a.parse_one(push({"symbol": "BTCUSDT", "markPrice": "17218.00"}, "delta", T0 + 200, 3))
    assert [r.kind for r in out] == ["ticker", "mark"]
    assert (out[1].mark_price, out[1].index_price, out[1].timestamp) == (
        17218.0,
        17227.36,
        T0 + 200,
    )
    # a funding settlement: the next time moves, the rate stays
    delta = {"symbol": "BTCUSDT", "nextFundingTime": "1673308800000", "openInterest": "68000"}
    out = a.parse_one(push(delta, "delta", T0 + 300, 4))
    assert [r.kind for r in out] == ["ticker", "funding", "open_interest"]
    assert (out[1].rate, out[1].next_funding_time) == (-0.000212, 1673308800000)
    assert out[2].amount == 68000.0
    assert a.ticker_state(PERP)["markPrice"] == "17218.00"


def test_funding_alone_needs_no_ticker_fields() -> None:
    a = adapter("funding")
    funding_only = {k: SNAPSHOT[k] for k in ("symbol", "fundingRate", "nextFundingTime")}
    (f,) = a.parse_one(push(funding_only))
    assert isinstance(f, Funding) and f.rate == -0.000212
    assert a.parse_one(push({"symbol": "BTCUSDT", "lastPrice": "1"}, "delta", T0 + 1)) == []
    (f2,) = a.parse_one(push({"symbol": "BTCUSDT", "fundingRate": "0.0001"}, "delta", T0 + 2))
    assert (f2.rate, f2.next_funding_time, f2.timestamp) == (0.0001, 1673280000000, T0 + 2)


@pytest.mark.parametrize(
    ("field", "value", "says"),
    [
        ("fundingRate", "1.5", "fundingRate"),
        ("fundingRate", "NaN", "fundingRate"),
        ("markPrice", "-1", "markPrice"),
        ("openInterest", "inf", "openInterest"),
        ("nextFundingTime", "soon", "nextFundingTime"),
    ],
)
def test_a_bad_value_is_one_error_and_the_state_is_kept(field: str, value: str, says: str) -> None:
    a = adapter("ticker", "funding", "mark", "open_interest")
    a.parse_one(push(SNAPSHOT))
    (e,) = a.parse_one(push({"symbol": "BTCUSDT", field: value}, "delta", T0 + 1))
    assert isinstance(e, ParseError) and says in e.problem
    assert a.ticker_state(PERP)[field] == SNAPSHOT[field]  # the bad delta was not merged
    out = a.parse_one(push({"symbol": "BTCUSDT", "openInterest": "1.25"}, "delta", T0 + 2))
    assert [r.kind for r in out] == ["ticker", "open_interest"] and out[1].amount == 1.25


def test_keep_raw_gives_every_record_its_message() -> None:
    a = adapter("funding", "open_interest", keep_raw=True)
    out = a.parse_one(push(SNAPSHOT))
    assert [r.raw["data"]["fundingRate"] for r in out] == ["-0.000212", "-0.000212"]


@pytest.mark.parametrize("channel", ["funding", "mark", "open_interest"])
def test_perp_channels_refuse_spot_symbols(channel: str) -> None:
    with pytest.raises(ConfigError, match="perpetuals only"):
        BybitAdapter().subscription(channel, "BTC-USDT")


def test_funding_mark_and_open_interest_through_open_feed_on_the_simulated_bybit() -> None:
    items: list[Any] = []

    async def main() -> None:
        market = MarketSimulator(["BTC-USDT"], seed=3, rate=40.0)
        bybit = SimulatedBybit(market)
        async with trio.open_nursery() as nursery:
            await nursery.start(market.run)
            async with (
                bybit.serve(memory=True),
                trio_feeds.open_feed(
                    ["bybit"], [PERP], ["ticker", "funding", "mark", "open_interest"],
                    urls={"bybit": bybit.url}, connector=bybit.connect, clock=market.clock,
                ) as feed,
            ):  # fmt: skip
                with trio.move_on_after(30):
                    async for item in feed:
                        items.append(item)  # noqa: PERF401
            nursery.cancel_scope.cancel()

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    by_kind: dict[str, list[Any]] = {}
    for item in items:
        by_kind.setdefault(item.kind, []).append(item)
    tickers = {t.timestamp: t for t in by_kind["ticker"]}
    assert len(tickers) > 20
    assert all(r.symbol == PERP and r.exchange == "bybit" for r in items if hasattr(r, "symbol"))
    # funding: the simulator's rate, settled on its 8-hour grid after the push
    for f in by_kind["funding"]:
        assert f.rate == 0.0001 and f.next_funding_time > f.timestamp
    # mark and index price are the simulated mid: between the ticker's best bid and ask
    marks = by_kind["mark"]
    assert len(marks) > 5
    for m in marks:
        t = tickers[m.timestamp]
        assert t.bid <= m.mark_price <= t.ask and m.index_price == m.mark_price
    # open interest: 50,000 BTC plus a tenth of the 24 h volume (base currency, merged)
    ois = by_kind["open_interest"]
    assert len(ois) > 5
    for oi in ois:
        volume = tickers[oi.timestamp].volume
        assert math.isclose(oi.amount, 50_000 + volume / 10, abs_tol=1e-3), (oi, volume)
