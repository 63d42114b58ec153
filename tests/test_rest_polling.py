"""Channels served over REST only, polled by the engine (``ExchangeSpec.rest_polls``):
Binance USD-M ``open_interest`` from ``GET /fapi/v1/openInterest``.

Under virtual time (``MockClock``) against an in-memory HTTP server (httpx's
``MockTransport``) and a scripted WebSocket: the interval between two polls of a symbol,
the REST budget shared with book snapshots, failures as ``error`` events with backoff while
the other channels keep streaming, clean cancellation.  One test polls a real loopback
HTTP server over TCP.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import attrs
import httpx
import orjson
import pytest
import trio
import trio.testing
from scripted_ws import ScriptedServer

import trio_feeds
from trio_feeds import exchanges
from trio_feeds.core.errors import ConfigError
from trio_feeds.exchanges.spec import Limits

EPOCH = 1_700_000_000.0
T0 = int(EPOCH * 1000)
SYMBOL = "BTC-USDT-PERP"
URLS = {"binance-usdm": "ws://usdm.scripted.test"}
REST_URLS = {"binance-usdm": "http://fapi.scripted.test"}
OI_PATH = "/fapi/v1/openInterest?symbol=BTCUSDT"


def clock() -> float:
    return EPOCH + trio.current_time()


def oi_body(amount: str = "10659.509") -> bytes:
    # "time" is the exchange's clock: here the virtual one, plus an odd 7 ms offset
    t = int(clock() * 1000) + 7
    return orjson.dumps({"openInterest": amount, "symbol": "BTCUSDT", "time": t})


def trade(tid: int) -> bytes:
    return orjson.dumps({"stream": "btcusdt@trade", "data": {
        "e": "trade", "E": T0 + tid, "T": T0 + tid, "s": "BTCUSDT", "t": tid,
        "p": "69700.1", "q": "0.010", "X": "MARKET", "m": False,
    }})  # fmt: skip


class Rest:
    """An in-memory REST server: logs ``(virtual time, path)`` and answers from ``answer``."""

    def __init__(self, answer: Callable[[str, int], Awaitable[tuple[int, bytes]]]) -> None:
        self.answer = answer
        self.log: list[tuple[float, str]] = []

    def of(self, prefix: str) -> list[float]:
        return [t for t, path in self.log if path.startswith(prefix)]

    @property
    def transport(self) -> httpx.AsyncBaseTransport:
        async def handler(request: httpx.Request) -> httpx.Response:
            path = request.url.raw_path.decode()
            self.log.append((trio.current_time(), path))
            status, body = await self.answer(path, len(self.log))
            return httpx.Response(status, content=body)

        return httpx.MockTransport(handler)


async def ok(path: str, n: int) -> tuple[int, bytes]:
    return 200, oi_body()


async def run_feed(
    rest: Rest,
    channels: list[str],
    script: Callable[[Any, Any], Awaitable[None]],
    **options: Any,
) -> list[Any]:
    """Run a binance-usdm feed; ``script(server, items)`` drives it; returns what came out."""
    items: list[Any] = []
    async with trio.open_nursery() as servers:
        server = ScriptedServer(servers)
        async with trio_feeds.open_feed(
            ["binance-usdm"], [SYMBOL], channels, urls=URLS, rest_urls=REST_URLS,
            connector=server.connector, http_transport=rest.transport, clock=clock,
            stale_after=600, **options,
        ) as feed:  # fmt: skip
            async with trio.open_nursery() as nursery:

                async def collect() -> None:
                    async for item in feed:
                        items.append(item)  # noqa: PERF401

                nursery.start_soon(collect)
                await script(server, items)
                nursery.cancel_scope.cancel()
        servers.cancel_scope.cancel()
    return items


def virtual(fn: Callable[[], Awaitable[Any]]) -> Any:
    return trio.run(fn, clock=trio.testing.MockClock(autojump_threshold=0))


def test_open_interest_is_polled_at_the_interval_beside_the_streams() -> None:
    rest = Rest(ok)

    async def script(server: ScriptedServer, items: list[Any]) -> None:
        conn = await server.connection()
        # open_interest is never asked for on the WebSocket
        assert [r["params"] for r in conn.requests()] == [["btcusdt@trade"]]
        for tid in range(1, 11):
            await conn.send([trade(tid)])
            await trio.sleep(2.0)

    items = virtual(lambda: run_feed(rest, ["trade", "open_interest"], script,
                                     open_interest_interval=3.0))  # fmt: skip
    times = rest.of("/fapi/v1/openInterest")
    assert rest.of("/fapi/v1/") == times and len(times) >= 6
    assert all(p == OI_PATH for _, p in rest.log)
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert min(gaps) >= 3.0 - 1e-9 and max(gaps) < 3.0 + 0.5, gaps
    ois = [i for i in items if i.kind == "open_interest"]
    assert len(ois) == len(times)
    first = ois[0]
    assert (first.exchange, first.symbol, first.amount) == ("binance-usdm", SYMBOL, 10659.509)
    # the exchange's time from the body, not the receive time
    assert first.timestamp == int(EPOCH * 1000 + times[0] * 1000) + 7
    assert [i.trade_id for i in items if i.kind == "trade"] == [str(t) for t in range(1, 11)]


def test_an_answer_no_newer_than_the_last_is_not_delivered_twice() -> None:
    # frozen: every poll answers the same "time"
    body = orjson.dumps({"openInterest": "1.5", "symbol": "BTCUSDT", "time": T0})

    async def same(path: str, n: int) -> tuple[int, bytes]:
        return 200, body

    rest = Rest(same)

    async def script(server: ScriptedServer, items: list[Any]) -> None:
        await trio.sleep(20)

    items = virtual(lambda: run_feed(rest, ["open_interest"], script))
    assert len(rest.log) >= 4
    assert len([i for i in items if i.kind == "open_interest"]) == 1


def test_failures_are_events_naming_the_symbol_with_backoff_and_streams_go_on() -> None:
    async def flaky(path: str, n: int) -> tuple[int, bytes]:
        if n <= 3:
            return 503, b'{"code":-1001,"msg":"Internal error"}'
        if n == 4:
            return 200, b'{"openInterest":"NaN?","time":1}'  # an unusable body
        return 200, oi_body("12.5")

    rest = Rest(flaky)

    async def script(server: ScriptedServer, items: list[Any]) -> None:
        conn = await server.connection()
        for tid in range(1, 41):
            await conn.send([trade(tid)])
            await trio.sleep(2.0)

    items = virtual(lambda: run_feed(rest, ["trade", "open_interest"], script,
                                     open_interest_interval=2.0))  # fmt: skip
    times = rest.of("/fapi/v1/openInterest")
    # backoff after 1, 2, 3 failed requests and the unusable body (a 4th failure in a
    # row): 2 * 2, 2 * 4, 2 * 8, 2 * 16 s; answered, the polls go back to every 2 s
    steps = [b - a for a, b in itertools.pairwise(times)]
    assert steps[:4] == pytest.approx([4.0, 8.0, 16.0, 32.0], abs=0.01), steps
    assert steps[4:] and all(abs(s - 2.0) < 0.01 for s in steps[4:]), steps
    errors = [i for i in items if i.kind == "source" and i.reason == "rest_poll"]
    assert sum(e.count for e in errors) == 4
    assert all("BTC-USDT-PERP open_interest" in e.detail for e in errors)
    assert "HTTP 503" in errors[0].detail
    assert any("unusable body" in e.detail for e in errors)
    ois = [i for i in items if i.kind == "open_interest"]
    assert ois and all(o.amount == 12.5 for o in ois)
    # every trade arrived, in order, while the polls failed
    assert [i.trade_id for i in items if i.kind == "trade"] == [str(t) for t in range(1, 41)]


@pytest.fixture
def tight_usdm_budget() -> Iterator[None]:
    """binance-usdm with a REST budget of 1 unit per second, one at a time."""
    spec = exchanges.get("binance-usdm")
    limits = Limits(**{**attrs.asdict(spec.limits), "rest_rate": 1.0, "rest_capacity": 1})
    exchanges.register(attrs.evolve(spec, limits=limits), replace=True)
    try:
        yield
    finally:
        exchanges.register(spec, replace=True)


SNAPSHOT = orjson.dumps({
    "lastUpdateId": 105, "E": T0, "T": T0,
    "bids": [["69000.0", "3.000"]], "asks": [["70000.0", "2.000"]],
})  # fmt: skip


@pytest.mark.usefixtures("tight_usdm_budget")
def test_polls_and_book_snapshots_share_one_rest_budget() -> None:
    async def answer(path: str, n: int) -> tuple[int, bytes]:
        return 200, SNAPSHOT if path.startswith("/fapi/v1/depth") else oi_body()

    rest = Rest(answer)

    async def script(server: ScriptedServer, items: list[Any]) -> None:
        conn = await server.connection()
        # a diff newer than every snapshot: the book keeps asking for snapshots
        await conn.send([orjson.dumps({"stream": "btcusdt@depth@100ms", "data": {
            "e": "depthUpdate", "E": T0, "T": T0, "s": "BTCUSDT", "U": 200, "u": 210,
            "pu": 199, "b": [["69500.0", "1.000"]], "a": [],
        }})])  # fmt: skip
        await trio.sleep(12)

    virtual(lambda: run_feed(rest, ["book", "open_interest"], script,
                             open_interest_interval=2.0))  # fmt: skip
    snaps, polls = rest.of("/fapi/v1/depth"), rest.of("/fapi/v1/openInterest")
    assert snaps and polls
    # one bucket of 1 unit/s for both kinds: no two requests within a second of each other
    times = sorted(t for t, _ in rest.log)
    assert all(b - a >= 1.0 - 1e-9 for a, b in itertools.pairwise(times)), rest.log


def test_leaving_the_feed_while_a_poll_hangs_is_clean() -> None:
    started = trio.Event()

    async def hang(path: str, n: int) -> tuple[int, bytes]:
        started.set()
        await trio.sleep_forever()
        raise AssertionError("unreachable")

    rest = Rest(hang)

    async def main() -> list[Any]:
        async def script(server: ScriptedServer, items: list[Any]) -> None:
            await started.wait()
            await trio.sleep(0.5)

        with trio.fail_after(60):
            return await run_feed(rest, ["open_interest"], script)

    items = virtual(main)
    assert [i for i in items if i.kind == "open_interest"] == []
    assert len(rest.log) == 1


def test_a_feed_of_polled_channels_only_opens_no_connection_and_is_healthy() -> None:
    rest = Rest(ok)
    health: list[Any] = []

    async def script(server: ScriptedServer, items: list[Any]) -> None:
        await trio.sleep(7)
        assert server.connections == []

    async def main() -> list[Any]:
        items: list[Any] = []
        async with trio_feeds.open_feed(
            ["binance-usdm"], [SYMBOL], ["open_interest"], rest_urls=REST_URLS,
            http_transport=rest.transport, clock=clock,
        ) as feed:  # fmt: skip
            with trio.move_on_after(7):
                async for item in feed:
                    items.append(item)  # noqa: PERF401
            health.append(feed.health())
        return items

    items = virtual(main)
    assert len([i for i in items if i.kind == "open_interest"]) == 2  # at 0 s and 5 s
    assert health[0].sources["binance-usdm"].connected


@pytest.mark.parametrize("bad", [0, -1.0, float("nan"), "5", True])
def test_open_interest_interval_is_validated(bad: Any) -> None:
    async def main() -> None:
        async with trio_feeds.open_feed(
            ["binance-usdm"], [SYMBOL], ["open_interest"], open_interest_interval=bad
        ):
            raise AssertionError("must not start")

    with pytest.raises(ConfigError, match="open_interest_interval"):
        trio.run(main)


def test_an_interval_that_would_eat_the_rest_budget_is_refused() -> None:
    async def main() -> None:
        symbols = [f"C{i}-USDT-PERP" for i in range(100)]
        async with trio_feeds.open_feed(
            ["binance-usdm"], symbols, ["open_interest"], open_interest_interval=1.0
        ):
            raise AssertionError("must not start")

    # 100 polls/s of weight 1 against 32/s (half of it for polls)
    with pytest.raises(ConfigError, match=r"at least 6\.25 s"):
        trio.run(main)


def test_open_interest_over_a_loopback_http_server() -> None:
    """A real HTTP/1.1 server on 127.0.0.1 (no MockTransport): the feed's own httpx client."""
    served: list[str] = []

    async def handle(stream: trio.SocketStream) -> None:
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = await stream.receive_some(4096)
            if not chunk:
                return
            data += chunk
        served.append(data.split(b" ")[1].decode())
        body = orjson.dumps({"openInterest": "7.25", "symbol": "BTCUSDT", "time": len(served)})
        head = f"HTTP/1.1 200 OK\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        await stream.send_all(head.encode() + body)
        await stream.aclose()

    async def main() -> list[Any]:
        items: list[Any] = []
        async with trio.open_nursery() as nursery:
            listeners = await nursery.start(
                functools.partial(trio.serve_tcp, handle, 0, host="127.0.0.1")
            )
            port = listeners[0].socket.getsockname()[1]
            async with trio_feeds.open_feed(
                ["binance-usdm"], [SYMBOL], ["open_interest"],
                rest_urls={"binance-usdm": f"http://127.0.0.1:{port}"},
                open_interest_interval=0.1,
            ) as feed:  # fmt: skip
                with trio.fail_after(30):
                    async for item in feed:
                        items.append(item)
                        if len([i for i in items if i.kind == "open_interest"]) == 3:
                            break
            nursery.cancel_scope.cancel()
        return items

    items = trio.run(main)
    ois = [i for i in items if i.kind == "open_interest"]
    assert [(o.amount, o.timestamp) for o in ois] == [(7.25, 1), (7.25, 2), (7.25, 3)]
    assert served[:3] == [OI_PATH] * 3


OKX_INSTRUMENTS = orjson.dumps({"code": "0", "msg": "", "data": [
    {"instId": "BTC-USDT-SWAP", "instType": "SWAP", "ctVal": "0.01", "ctValCcy": "BTC"},
]})  # fmt: skip


def okx_oi(ts: int) -> bytes:
    return orjson.dumps({
        "arg": {"channel": "open-interest", "instId": "BTC-USDT-SWAP"},
        "data": [{"instId": "BTC-USDT-SWAP", "instType": "SWAP", "oi": "2200000",
                  "oiCcy": "22000.5", "oiUsd": "1400000000", "ts": str(ts)}],
    })  # fmt: skip


def test_failing_polls_fail_over_to_a_venue_that_streams_it() -> None:
    """binance-usdm polled (the primary, no connection at all) and OKX streaming
    ``open-interest``: when the polls fail the feed switches to OKX, and back once they
    answer again."""

    async def answer(path: str, n: int) -> tuple[int, bytes]:
        if path.startswith("/api/v5/public/instruments"):
            return 200, OKX_INSTRUMENTS
        failing = 20.0 <= trio.current_time() < 60.0
        return (500, b"{}") if failing else (200, oi_body())

    rest = Rest(answer)
    items: list[Any] = []

    async def main() -> None:
        async with trio.open_nursery() as servers:
            server = ScriptedServer(servers)
            async with trio_feeds.open_feed(
                ["binance-usdm", "okx"], [SYMBOL], ["open_interest"],
                urls={"okx": "ws://okx.scripted.test"},
                rest_urls={**REST_URLS, "okx": "http://okx.rest"},
                connector=server.connector, http_transport=rest.transport, clock=clock,
                stale_after=30, failback_after=10,
            ) as feed:  # fmt: skip
                async with trio.open_nursery() as nursery:

                    async def collect() -> None:
                        async for item in feed:
                            items.append(item)  # noqa: PERF401

                    nursery.start_soon(collect)
                    conn = await server.connection()
                    assert len(server.connections) == 1  # OKX only: nothing to stream on USD-M
                    for _ in range(50):
                        await conn.send([okx_oi(int(clock() * 1000))])
                        await trio.sleep(2.0)
                    nursery.cancel_scope.cancel()
            servers.cancel_scope.cancel()

    virtual(main)
    switches = [(i.from_source, i.to_source) for i in items if i.kind == "source_switch"]
    assert switches[:2] == [("binance-usdm", "okx"), ("okx", "binance-usdm")], switches
    ois = [(i.exchange, i.timestamp) for i in items if i.kind == "open_interest"]
    venues = [ex for ex, _ in ois]
    # binance-usdm's polls first, then OKX's pushes while the polls fail, then polls again
    first_okx = venues.index("okx")
    assert set(venues[:first_okx]) == {"binance-usdm"}
    back = venues.index("binance-usdm", first_okx)
    assert set(venues[first_okx:back]) == {"okx"}
    # the polls fail from 20 s; backed off (10, 20, 40 s) the one at 90 s answers, and the
    # feed fails back failback_after (10 s) later
    assert all(20_000 <= ts - T0 <= 100_000 for ex, ts in ois if ex == "okx"), ois
    assert ("binance-usdm", T0 + 100_007) in ois
    okx = [i for i in items if i.kind == "open_interest" and i.exchange == "okx"]
    assert okx[0].amount == 22000.5  # oiCcy: base currency


def test_a_polled_channel_is_stale_only_after_two_of_its_intervals() -> None:
    answering = [True]

    async def maybe(path: str, n: int) -> tuple[int, bytes]:
        return (200, oi_body()) if answering[0] else (500, b"{}")

    rest = Rest(maybe)
    seen: list[tuple[float, tuple[str, ...]]] = []

    async def main() -> None:
        async with trio_feeds.open_feed(
            ["binance-usdm"], [SYMBOL], ["open_interest"], rest_urls=REST_URLS,
            http_transport=rest.transport, clock=clock, stale_after=10,
            open_interest_interval=30,
        ) as feed:  # fmt: skip
            for _ in range(20):
                await trio.sleep(5)
                if trio.current_time() >= 95:
                    answering[0] = False  # the polls at 120 s and later fail
                st = feed.health().sources["binance-usdm"]
                seen.append((trio.current_time(), st.stale_subscriptions))

    virtual(main)
    assert [t for t, _ in rest.log][:4] == [0.0, 30.0, 60.0, 90.0]
    # 30 s between polls with stale_after=10: not stale while they answer (limit 60 s) ...
    assert all(not stale for t, stale in seen if t < 150), seen
    # ... and stale once 60 s passed without an answer (the last at 90 s)
    assert all(stale == ("btcusdt@openInterest",) for t, stale in seen if t > 150), seen
