"""Integration tests of the connection engine against the simulated exchanges.

Everything runs in memory under ``trio.testing.MockClock(autojump_threshold=0)`` (the
``autojump_clock`` fixture), except the one loopback TCP test.  Each test names the behaviour
a user relies on.
"""

from __future__ import annotations

import itertools
from typing import Any

import attrs
import pytest
import trio
import trio.testing
from conftest import SYMBOLS, active_transport, check_trades, drain, ms, simulated_feed

import trio_feeds
import trio_feeds.engine.source as _source
from trio_feeds import ReconnectLimitError
from trio_feeds.engine.source import Source
from trio_feeds.exchanges.binance.adapter import BinanceAdapter
from trio_feeds.testing import open_simulated_exchanges

#: run over every transport (see conftest.TRANSPORTS)
pytestmark = pytest.mark.usefixtures("transport")

ALL_CHANNELS = ["trade", "ticker", "quote", "book", "candle"]


def _floats(levels: list[tuple[int, int]], pd: int, sd: int) -> list[tuple[float, float]]:
    return [(p / 10**pd, s / 10**sd) for p, s in levels]


# --------------------------------------------------------------------------- 1. channels


async def test_every_channel_arrives_normalized_on_the_real_paths(autojump_clock: Any) -> None:
    async with simulated_feed(channels=ALL_CHANNELS, rate=10.0) as h:
        await trio.sleep(20)
        for ex in ("binance", "okx"):
            for sym in SYMBOLS:
                for kind in ALL_CHANNELS:
                    got = h.col.of(kind, ex, symbol=sym)
                    assert got, f"no {kind} for {ex} {sym}"
                    r = got[-1]
                    assert r.exchange == ex
                    assert r.symbol == sym
                    assert isinstance(r.timestamp, int)
                    # a plausible Unix-ms time next to the simulated clock
                    assert abs(r.timestamp - ms(h.sims)) < 120_000
            assert not h.col.of("subscription_rejected", ex)
        books = h.col.of("book")
        assert all(b.bids and b.asks and not b.crossed for b in books)
        trade = h.col.of("trade", "binance")[-1]
        assert trade.side in ("buy", "sell") and trade.price > 0 and trade.amount > 0
        candle = h.col.of("candle", "okx")[-1]
        assert candle.interval == "1m", "OKX candles should match Binance's kline_1m"

        ws_paths = {c.path for c in h.binance.all_connections}
        assert ws_paths == {"/stream"}
        assert {c.path for c in h.okx.all_connections} == {"/ws/v5/public", "/ws/v5/business"}
        assert {r.path for r in h.binance.rest_log} == {"/api/v3/depth"}
        assert {r.path for r in h.okx.rest_log} <= {"/api/v5/market/books"}
        assert {r.query["symbol"] for r in h.binance.rest_log} == {"BTCUSDT", "ETHUSDT"}


async def test_binance_stream_names_are_the_real_ones(autojump_clock: Any) -> None:
    async with simulated_feed(["binance"], channels=ALL_CHANNELS) as h:
        await trio.sleep(3)
        (conn,) = h.binance.connections
        assert set(conn.subscriptions) == {
            f"{s}@{n}"
            for s in ("btcusdt", "ethusdt")
            for n in ("trade", "ticker", "bookTicker", "depth@100ms", "kline_1m")
        }


# --------------------------------------------------------------------------- 2. real sockets


async def test_loopback_tcp_end_to_end() -> None:
    """Real sockets, real clock: both exchanges over loopback TCP, REST snapshots over HTTP."""
    async with open_simulated_exchanges(SYMBOLS[:1], seed=3, memory=False, rate=20.0) as sims:
        assert sims.urls["binance"].startswith("ws://127.0.0.1:")
        for ex in ("binance", "okx"):
            async with trio_feeds.open_feed(
                [ex],
                SYMBOLS[:1],
                ["trade", "book"],
                urls={ex: sims.urls[ex]},
                rest_urls={ex: sims.rest_urls[ex]},
                transport=active_transport(),
            ) as feed:
                kinds: set[str] = set()
                with trio.fail_after(10):
                    async for r in feed:
                        kinds.add(r.kind)
                        if {"trade", "book"} <= kinds:
                            break
                assert feed.health().sources[ex].connected
        assert [c.remote for c in sims.binance.all_connections] == ["127.0.0.1"]
        assert sims.binance.rest_log and sims.okx.all_connections


# --------------------------------------------------------------------------- 3. slow consumer


async def test_pings_answered_while_consumer_does_not_read(autojump_clock: Any) -> None:
    async with simulated_feed(
        ["binance"], channels=["trade", "quote"], collect=False, buffer_size=50
    ) as h:
        await trio.sleep(5 * 60)
        # the single connection survived 5 minutes of server pings (20 s, 60 s pong deadline)
        assert len(h.binance.all_connections) == 1
        (conn,) = h.binance.connections
        assert conn.pings_sent >= 14
        assert conn.pongs_received >= conn.pings_sent - 1
        assert not h.binance.violations
        src = h.source("binance")
        assert src.reconnects == 0

        items = drain(h.feed)
        trades = [x for x in items if x.kind == "trade"]
        quotes = [x for x in items if x.kind == "quote"]
        dropped = [x for x in items if x.kind == "dropped"]
        assert len(items) < 50 + 10
        assert dropped, "trades were dropped without a Dropped event"
        assert {(d.exchange, d.channel) for d in dropped} == {("binance", "trade")}
        assert sum(d.count for d in dropped) == h.feed.dropped
        # every trade the source delivered is either in the buffer or counted as dropped
        published = sum(
            len([t for t in h.trades.trades["binance", s] if t.timestamp <= ms(h.sims)])
            for s in SYMBOLS
        )
        assert len(trades) + h.feed.dropped == published
        # quotes are conflated: after the overflow only the newest per symbol is kept
        late = quotes[-2:]
        assert {q.symbol for q in late} == set(SYMBOLS)
        for q in late:
            bid, _, ask, _ = h.sims.market.bbo(q.symbol)
            assert (q.bid, q.ask) == (bid / 100, ask / 100)


# --------------------------------------------------------------------------- 4. connect timeout


async def test_connect_timeout_retries_then_gives_up(autojump_clock: Any) -> None:
    attempts: list[float] = []

    async def never(url: str) -> trio.abc.Stream:
        attempts.append(trio.current_time())
        await trio.sleep_forever()
        raise AssertionError("unreachable")

    items: list[Any] = []
    start = trio.current_time()
    with pytest.raises(ReconnectLimitError, match="gave up after 3"):
        async with trio_feeds.open_feed(
            ["binance"],
            ["BTC-USDT"],
            ["trade"],
            urls={"binance": "ws://nowhere.test:1"},
            connector=never,
            connect_timeout=5,
            reconnect_delay=1,
            max_reconnect_attempts=3,
            seed=7,
            transport=active_transport(),
        ) as feed:
            with trio.fail_after(600):
                async for item in feed:
                    items.append(item)  # noqa: PERF401 - keep what came before the error
    # 1 attempt + 3 reconnects, each cut by the connect timeout
    assert len(attempts) == 4
    assert trio.current_time() - start >= 4 * 5
    for a, b in itertools.pairwise(attempts):
        assert b - a >= 5
    states = [x.state for x in items if x.kind == "source"]
    assert states.count("reconnecting") == 3
    assert states[-1] == "gave_up"
    disconnected = [x.detail for x in items if x.kind == "source" and x.state == "disconnected"]
    assert len(disconnected) == 4
    assert all(d.startswith("connect_timeout") for d in disconnected)
    assert "connect_timeout" in items[-1].detail


async def test_connect_timeout_then_recovery(autojump_clock: Any) -> None:
    """Hanging connects are retried; once the exchange answers the feed streams."""
    async with open_simulated_exchanges(SYMBOLS[:1], seed=2, memory=True, rate=10) as sims:
        hangs = [2]

        async def flaky(url: str) -> trio.abc.Stream:
            if hangs[0]:
                hangs[0] -= 1
                await trio.sleep_forever()
            return await sims.connector(url)

        async with trio_feeds.open_feed(
            ["binance"],
            SYMBOLS[:1],
            ["trade"],
            urls={"binance": sims.urls["binance"]},
            connector=flaky,
            connect_timeout=3,
            clock=sims.clock,
            seed=1,
            transport=active_transport(),
        ) as feed:
            with trio.fail_after(120):
                async for item in feed:
                    if item.kind == "trade":
                        break
            src = feed.sources["binance"]
            assert src.reconnects == 2
            assert src.last_error is not None and "connect_timeout" in src.last_error


# --------------------------------------------------------------------------- 5. heartbeat


async def test_binance_missing_pongs_replace_the_session(autojump_clock: Any) -> None:
    async with simulated_feed(["binance"], heartbeat_interval=20, pong_timeout=10) as h:
        await trio.sleep(5)
        h.binance.stop_pongs()
        t0 = trio.current_time()
        await trio.sleep(40)
        (first, _second) = h.binance.all_connections
        assert first.closed_at is not None and first.closed_at - t0 <= 31
        assert first.ended_by == "client"
        ev = h.col.events("binance", "disconnected")
        assert ev and ev[0].detail.startswith("heartbeat_timeout")
        gaps = h.col.gaps("binance", "trade")
        assert {g.symbol for g in gaps} == set(SYMBOLS)
        assert all(g.start <= g.end and g.reason == "reconnect" for g in gaps)
        n = len(h.col.items)
        await trio.sleep(5)
        assert h.col.since(n).of("trade", "binance")
        check_trades(h.trades, h.col.items, ["binance"], SYMBOLS)


async def test_okx_missing_pongs_replace_the_session(autojump_clock: Any) -> None:
    # OKX is pinged only when the line is quiet: silence data and stop pongs together
    async with simulated_feed(
        ["okx"], heartbeat_interval=20, pong_timeout=10, stale_after=300
    ) as h:
        await trio.sleep(5)
        (conn,) = h.okx.connections
        h.okx.stop_pongs()
        h.okx.silence()
        await trio.sleep(40)
        assert conn.pings_received == 1 and conn.pongs_sent == 0
        assert conn.closed_at is not None and conn.ended_by == "client"
        assert len(h.okx.all_connections) == 2
        ev = h.col.events("okx", "disconnected")
        assert ev and ev[0].detail.startswith("heartbeat_timeout")
        assert {g.symbol for g in h.col.gaps("okx", "trade")} == set(SYMBOLS)
        n = len(h.col.items)
        await trio.sleep(5)
        assert h.col.since(n).of("trade", "okx")
        check_trades(h.trades, h.col.items, ["okx"], SYMBOLS)


async def test_okx_pings_only_when_quiet_and_pongs_keep_it(autojump_clock: Any) -> None:
    """A quiet OKX line is kept alive by text pings (the server closes at 30 s idle)."""
    async with simulated_feed(["okx"], ["BTC-USDT"], heartbeat_interval=20, stale_after=600) as h:
        await trio.sleep(5)
        (conn,) = h.okx.connections
        assert conn.pings_received == 0  # data flowing: no ping needed
        h.okx.silence()  # no data, pongs still answered
        await trio.sleep(200)
        assert h.okx.connections == [conn]
        assert conn.pings_received >= 8
        assert h.source("okx").rtt.percentiles() is not None


# --------------------------------------------------------------------------- 6. stale


@pytest.mark.parametrize("exchange", ["binance", "okx"])
async def test_silence_while_pings_answered_is_detected(autojump_clock: Any, exchange: str) -> None:
    async with simulated_feed([exchange], stale_after=10) as h:
        await trio.sleep(5)
        sim = h.sims.sims[exchange]
        (conn,) = sim.connections
        sim.silence(answer_pings=True)
        t0 = trio.current_time()
        await trio.sleep(30)
        assert conn.closed_at is not None and conn.closed_at - t0 <= 11
        assert len(sim.all_connections) == 2
        ev = h.col.events(exchange, "disconnected")
        assert ev and ev[0].detail.startswith("stale")
        gaps = h.col.gaps(exchange, "trade")
        assert {g.symbol for g in gaps} == set(SYMBOLS)
        n = len(h.col.items)
        await trio.sleep(5)
        assert h.col.since(n).of("trade", exchange)
        check_trades(h.trades, h.col.items, [exchange], SYMBOLS)


async def test_quiet_candle_channel_does_not_reconnect(autojump_clock: Any) -> None:
    async with simulated_feed(["binance", "okx"], channels=["candle"], stale_after=10) as h:
        await trio.sleep(5)
        h.sims.market.freeze()  # no trades at all: candles still come (unchanged)
        await trio.sleep(3600)
        assert len(h.binance.all_connections) == 1
        assert len(h.okx.all_connections) == 1
        assert not h.col.gaps()


async def test_quiet_market_does_not_cause_a_reconnect_loop(autojump_clock: Any) -> None:
    """Trades only, and the market stops trading for an hour: the watchdog backs off."""
    async with simulated_feed(["binance", "okx"], channels=["trade"], stale_after=10) as h:
        await trio.sleep(5)
        h.sims.market.freeze()
        await trio.sleep(3600)
        first_hour = {}
        for ex in ("binance", "okx"):
            first_hour[ex] = reconnects = h.source(ex).reconnects
            assert reconnects <= 9, f"{ex}: {reconnects} reconnects in a quiet hour"
        await trio.sleep(3600)
        for ex in ("binance", "okx"):
            more = h.source(ex).reconnects - first_hour[ex]
            assert more <= 2, f"{ex}: {more} reconnects in the second quiet hour"
        # and when trading resumes the data is there
        h.sims.market.thaw()
        n = len(h.col.items)
        await trio.sleep(10)
        for ex in ("binance", "okx"):
            assert h.col.since(n).of("trade", ex)


# --------------------------------------------------------------------------- 7. drop / close


@pytest.mark.parametrize("exchange", ["binance", "okx"])
@pytest.mark.parametrize("fault", ["drop", "close"])
async def test_disconnect_reconnects_resubscribes_and_marks_the_gap(
    autojump_clock: Any, exchange: str, fault: str
) -> None:
    other = "okx" if exchange == "binance" else "binance"
    async with simulated_feed(channels=["trade", "quote"]) as h:
        await trio.sleep(5)
        sim = h.sims.sims[exchange]
        (old,) = sim.connections
        subscribed = sorted(old.subscriptions)
        t0 = trio.current_time()
        if fault == "drop":
            sim.drop()
        else:
            sim.close(4000, "test close")
        await trio.sleep(0.001)
        n = len(h.col.items)
        await trio.sleep(20)
        src = h.source(exchange)
        assert src.reconnects == 1
        (delay,) = src.reconnect_delays
        assert 0 <= delay <= 2 * 1.0  # first retry: full jitter under base * 2
        new = sim.all_connections[-1]
        assert new is not old and new.opened_at >= t0 + delay - 1e-6
        assert sorted(new.subscriptions) == subscribed
        ev = h.col.events(exchange, "disconnected")
        assert len(ev) == 1
        if fault == "close":
            assert "4000" in ev[0].detail
        gaps = h.col.gaps(exchange)
        assert {(g.symbol, g.channel) for g in gaps} == {
            (s, c) for s in SYMBOLS for c in ("trade", "quote")
        }
        for g in gaps:
            assert g.start <= g.end and g.reason == "reconnect"
            assert g.end - g.start >= delay * 1000 - 1
        # the other exchange kept streaming while this one was down
        during = [x for x in h.col.items[n:] if x.kind == "trade" and x.exchange == other]
        assert any(x.timestamp < gaps[0].end for x in during)
        assert not h.col.gaps(other)
        # and data resumed after the gap
        assert [
            x
            for x in h.col.items
            if x.kind == "trade" and x.exchange == exchange and x.timestamp > gaps[0].end
        ]
        check_trades(h.trades, h.col.items, [exchange, other], SYMBOLS)


# --------------------------------------------------------------------------- 8. malformed


@pytest.mark.parametrize("exchange", ["binance", "okx"])
async def test_malformed_frames_are_reported_and_skipped(
    autojump_clock: Any, exchange: str
) -> None:
    async with simulated_feed([exchange], channels=["trade", "quote"]) as h:
        await trio.sleep(3)
        sim = h.sims.sims[exchange]
        sim.malformed(4)
        n = len(h.col.items)
        await trio.sleep(10)
        errors = h.col.since(n).events(exchange, "error")
        # the first at once, the repeats coalesced with a count (docs/engine.md, "Errors")
        assert errors[0].count == 1 and sum(e.count for e in errors) == 4
        assert all(e.reason == "malformed_frame" for e in errors)
        assert all("malformed frame" in e.detail for e in errors)
        assert len(sim.all_connections) == 1
        assert h.col.since(n).of("trade", exchange) and h.col.since(n).of("quote", exchange)
        assert h.source(exchange).errors == 4
        # what they held is missing: each leaves a Gap, for its subscription when the
        # cut frame's start still names it, else for the whole connection ("*")
        gaps = h.col.gaps()
        assert len(gaps) == 4 and all(g.reason == "malformed frame" for g in gaps)
        assert {g.symbol for g in gaps if g.symbol != "*"} <= set(SYMBOLS)
        check_trades(h.trades, h.col.items, [exchange], SYMBOLS)


# --------------------------------------------------------------------------- 9. rejections


@pytest.mark.parametrize("exchange", ["binance", "okx"])
async def test_rejected_subscription_is_reported_and_others_stream(
    autojump_clock: Any, exchange: str
) -> None:
    async with open_simulated_exchanges(SYMBOLS, seed=1, memory=True, rate=10) as sims:
        sim = sims.sims[exchange]
        sim.reject("ETH-USDT", "trade" if exchange == "binance" else "trades")
        async with trio_feeds.open_feed(
            [exchange],
            [*SYMBOLS, "DOGE-USDT"],
            ["trade", "quote"],
            urls={exchange: sims.urls[exchange]},
            connector=sims.connector,
            clock=sims.clock,
            transport=active_transport(),
        ) as feed:
            items: list[Any] = []
            with trio.move_on_after(30):
                async for x in feed:
                    items.append(x)  # noqa: PERF401
            rejected = {(x.symbol, x.channel) for x in items if x.kind == "subscription_rejected"}
            assert rejected == {
                ("ETH-USDT", "trade"),
                ("DOGE-USDT", "trade"),
                ("DOGE-USDT", "quote"),
            }
            for x in items:
                if x.kind == "subscription_rejected":
                    assert x.exchange == exchange and x.code and x.message
            got = {(x.symbol, x.kind) for x in items if x.kind in ("trade", "quote")}
            assert got == {("BTC-USDT", "trade"), ("BTC-USDT", "quote"), ("ETH-USDT", "quote")}
            assert len(sim.all_connections) == 1
            assert not [x for x in items if x.kind == "gap"]


# --------------------------------------------------------------------------- 10. handoff


@pytest.mark.parametrize("exchange", ["binance", "okx"])
async def test_make_before_break_on_shutdown_notice(autojump_clock: Any, exchange: str) -> None:
    async with simulated_feed([exchange], channels=["trade", "quote"], rate=20) as h:
        await trio.sleep(5)
        sim = h.sims.sims[exchange]
        (old,) = sim.connections
        sim.shutdown_notice(lead=5.0 if exchange == "binance" else 60.0)
        await trio.sleep(90)
        assert len(sim.all_connections) == 2
        new = sim.all_connections[1]
        # the old connection was closed by us, after the new one was open
        assert old.ended_by == "client"
        assert new.opened_at <= old.closed_at
        events = [x.state for x in h.col.events(exchange)]
        assert "handoff" in events and "disconnected" not in events
        assert not h.col.gaps()
        missing = check_trades(h.trades, h.col.items, [exchange], SYMBOLS)
        assert not any(missing.values())
        if exchange == "binance":
            for sym in SYMBOLS:
                ids = [int(x.trade_id) for x in h.col.of("trade", exchange, symbol=sym)]
                assert ids == list(range(ids[0], ids[-1] + 1))
        src = h.source(exchange)
        assert src.reconnects == 0 and src.live_sessions == 1


async def test_connection_age_handoff(autojump_clock: Any, monkeypatch: Any) -> None:
    from trio_feeds import exchanges

    spec = exchanges.get("binance")  # the exchange's own rule, shortened for the test
    monkeypatch.setitem(
        exchanges._REGISTRY, "binance", attrs.evolve(spec, max_connection_age=600.0)
    )
    async with simulated_feed(["binance"], rate=5) as h:
        await trio.sleep(1300)
        conns = h.binance.all_connections
        assert len(conns) == 3
        for a, b in itertools.pairwise(conns):
            assert a.ended_by == "client" and b.opened_at <= a.closed_at
        assert not h.col.gaps()
        check_trades(h.trades, h.col.items, ["binance"], SYMBOLS)


# --------------------------------------------------------------------------- 11. rate limits

MANY = [f"{b}-USDT" for b in ("BTC", "ETH", "SOL", "BNB", "XRP", "DOGE", "ADA", "LTC")]


async def test_reconnect_storm_and_many_subscriptions_respect_limits(autojump_clock: Any) -> None:
    async with simulated_feed(symbols=MANY, channels=ALL_CHANNELS, rate=5) as h:
        await trio.sleep(10)
        for _ in range(30):  # a drop every 2 s for a minute, on both exchanges
            h.binance.drop()
            h.okx.drop()
            await trio.sleep(2)
        await trio.sleep(120)
        assert h.binance.violations == []
        assert h.okx.violations == []
        assert h.source("binance").reconnects >= 5
        # and everything came back
        n = len(h.col.items)
        await trio.sleep(10)
        got = {(x.exchange, x.symbol, x.kind) for x in h.col.items[n:]}
        for ex in ("binance", "okx"):
            for sym in MANY:
                assert (ex, sym, "quote") in got


def test_binance_shards_above_the_stream_cap(monkeypatch: Any) -> None:
    monkeypatch.setattr(BinanceAdapter, "max_streams_per_connection", 3)
    probe = BinanceAdapter()
    subs = [
        probe.subscription(c, s) for s in SYMBOLS for c in ("trade", "quote", "ticker", "candle")
    ]
    src = Source(BinanceAdapter, subs, _source.Settings(), "ws://x.test", None)  # type: ignore[arg-type]
    assert [len(s) for s in src.shards] == [3, 3, 2]
    assert sorted(x for s in src.shards for x in s) == sorted(subs)


async def test_feed_over_the_stream_cap_uses_several_connections(
    autojump_clock: Any, monkeypatch: Any
) -> None:
    monkeypatch.setattr(BinanceAdapter, "max_streams_per_connection", 3)
    async with simulated_feed(
        ["binance"], channels=["trade", "quote", "ticker"], binance_options={"max_streams": 3}
    ) as h:
        await trio.sleep(10)
        assert len(h.binance.connections) == 2
        assert all(len(c.subscriptions) == 3 for c in h.binance.connections)
        assert not h.binance.violations
        got = {(x.symbol, x.kind) for x in h.col.items if x.kind in ("trade", "quote", "ticker")}
        assert got == {(s, k) for s in SYMBOLS for k in ("trade", "quote", "ticker")}


# --------------------------------------------------------------------------- 12. health


async def test_latency_and_health(autojump_clock: Any) -> None:
    async with simulated_feed(combined=True, channels=["trade", "ticker"], collect=True) as h:
        await trio.sleep(30)
        hl = h.feed.health()
        assert hl.healthy and hl.active_source == "binance"
        assert hl.connected_sources == 2 and hl.total_sources == 2
        for ex in ("binance", "okx"):
            st = hl.sources[ex]
            assert st.connected and st.state == "streaming"
            assert st.messages_received > 50
            assert st.errors == 0 and st.reconnects == 0 and st.gaps == 0
            assert st.last_update is not None and h.sims.clock() - st.last_update < 2
            assert st.latency is not None and abs(st.latency) < 0.01
        assert hl.sources["binance"].rtt is not None  # measured by our pings
        h.binance.latency(0.25)
        h.okx.latency(0.5)
        await trio.sleep(200)
        hl = h.feed.health()
        assert hl.sources["binance"].lag.p50 == pytest.approx(0.25, abs=0.01)
        assert hl.sources["okx"].lag.p50 == pytest.approx(0.5, abs=0.01)
        assert hl.sources["binance"].latency == pytest.approx(0.25, abs=0.01)
        # OKX answers our text pings through the delayed path: its rtt shows the latency
        assert hl.sources["okx"].rtt is not None
        assert hl.sources["okx"].rtt.max == pytest.approx(0.5, abs=0.01)
        h.binance.drop()
        await trio.sleep(10)
        st = h.feed.health().sources["binance"]
        assert st.reconnects == 1 and st.gaps == 4 and st.errors == 1 and st.connected


async def test_health_when_the_active_source_is_down(autojump_clock: Any) -> None:
    async with simulated_feed(["binance"], channels=["trade"], connect_timeout=2) as h:
        await trio.sleep(5)
        h.binance.refuse_connections(1000)
        h.binance.drop()
        await trio.sleep(30)
        hl = h.feed.health()
        st = hl.sources["binance"]
        assert not hl.healthy and hl.connected_sources == 0
        assert not st.connected and st.state in ("backoff", "connecting")
        assert st.reconnects >= 3 and st.last_error


# --------------------------------------------------------------------------- 13. books


@pytest.mark.parametrize("exchange", ["binance", "okx"])
async def test_full_book_equals_the_exchange_book(autojump_clock: Any, exchange: str) -> None:
    async with simulated_feed([exchange], channels=["book", "trade"], book_depth=20) as h:
        await trio.sleep(20)
        market = h.sims.market

        def assert_books_match() -> None:
            for sym in SYMBOLS:
                book = h.col.of("book", exchange, symbol=sym)[-1]
                spec = market.spec(sym)
                bids, asks = market.book(sym, 20)
                assert list(book.bids) == _floats(bids, spec.price_decimals, spec.size_decimals)
                assert list(book.asks) == _floats(asks, spec.price_decimals, spec.size_decimals)
                assert len(book.bids) == 20

        market.freeze()
        await trio.sleep(3)
        assert_books_match()
        market.thaw()
        await trio.sleep(5)
        # a lost book message: a Gap on the book channel and a resync; trades untouched
        h.sims.sims[exchange].sequence_gap("BTC-USDT")
        n = len(h.col.items)
        await trio.sleep(10)
        later = h.col.since(n)
        gaps = later.gaps(exchange)
        assert [(g.symbol, g.channel) for g in gaps] == [("BTC-USDT", "book")]
        assert gaps[0].start <= gaps[0].end
        assert later.of("book", exchange, symbol="BTC-USDT")[-1].timestamp > gaps[0].end
        assert len(h.sims.sims[exchange].all_connections) == 1
        market.freeze()
        await trio.sleep(3)
        assert_books_match()
        check_trades(h.trades, h.col.items, [exchange], SYMBOLS)
        assert not h.col.gaps(exchange, "trade")


# --------------------------------------------------------------------------- 14. no leaks


async def test_no_task_left_running_after_the_feed_exits(autojump_clock: Any) -> None:
    async with open_simulated_exchanges(SYMBOLS, seed=1, memory=True, rate=10) as sims:
        await trio.sleep(1)
        before = trio.lowlevel.current_statistics().tasks_living
        async with trio_feeds.open_feed(
            ["binance", "okx"],
            SYMBOLS,
            ALL_CHANNELS,
            urls=sims.urls,
            rest_urls=sims.rest_urls,
            connector=sims.connector,
            http_transport=sims.http_transport,
            clock=sims.clock,
            transport=active_transport(),
        ) as feed:
            await trio.sleep(10)
            sims.binance.shutdown_notice(lead=5)
            sims.okx.drop()
            await trio.sleep(10)
            assert trio.lowlevel.current_statistics().tasks_living > before + 5
            assert drain(feed)
        # the simulators notice the closed connections a moment later
        await trio.sleep(5)
        assert trio.lowlevel.current_statistics().tasks_living == before
        assert not sims.binance.connections and not sims.okx.connections
