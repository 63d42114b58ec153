"""The exchanges' REST trade history pieces (sans-I/O) and the engine's hold-and-fill logic.

Parsers: a history page gives the same ``Trade`` records, field for field, as the live
stream for the same trades.  :class:`~trio_feeds.engine.backfill.Backfill`: which trades
open a hole, which wait, which are repeats, what goes out when a fill ends.
"""

from __future__ import annotations

from typing import Any

import attrs
import orjson
import pytest
import trio
import trio.testing
from hypothesis import given, settings
from hypothesis import strategies as st
from sim_clients import collect, send, ws_client

from trio_feeds.core.errors import ProtocolError
from trio_feeds.core.records import Gap, GapFilled, SourceEvent, Trade
from trio_feeds.engine.backfill import Backfill, BackfillSettings
from trio_feeds.engine.dedupe import _Dedupe
from trio_feeds.exchanges import get
from trio_feeds.exchanges.binance import BinanceAdapter
from trio_feeds.exchanges.okx import OkxAdapter
from trio_feeds.protocol import Subscription
from trio_feeds.testing import open_simulated_exchanges

# -- parsers ---------------------------------------------------------------------------


def _live(adapter: Any, frame: dict[str, Any]) -> list[Any]:
    out: list[Any] = []
    adapter.parse(orjson.dumps(frame).decode(), 1.5, out)
    return out


def test_binance_historical_trades_equal_the_trade_stream() -> None:
    h = get("binance").trade_history["trade"]
    assert h.path("BTC-USDT", 4012345678, 1000) == (
        "/api/v3/historicalTrades?symbol=BTCUSDT&fromId=4012345678&limit=1000"
    )
    assert (h.backward, h.page_size, h.weight) == (False, 1000, 25)
    rows = [  # two trades in one millisecond, the second a sell
        (4012345678, "97001.01000000", "0.00052000", 1733450000123, False),
        (4012345679, "97001.00000000", "1.20000000", 1733450000123, True),
    ]
    body = orjson.dumps(
        [
            {"id": i, "price": p, "qty": q, "quoteQty": "1", "time": t, "isBuyerMaker": m,
             "isBestMatch": True}
            for i, p, q, t, m in rows
        ]
    )  # fmt: skip
    live = []
    for i, p, q, t, m in rows:
        data = {"e": "trade", "E": t + 2, "s": "BTCUSDT", "t": i, "p": p, "q": q, "T": t,
                "m": m, "M": True}  # fmt: skip
        live += _live(BinanceAdapter(), {"stream": "btcusdt@trade", "data": data})
    assert h.parse(body, "BTC-USDT", 1.5) == live
    assert [t.side for t in live] == ["buy", "sell"]


def test_binance_agg_trades_equal_the_agg_trade_stream() -> None:
    h = get("binance").trade_history["aggTrade"]
    assert (
        h.path("ETH-BTC", 26129, 1000) == "/api/v3/aggTrades?symbol=ETHBTC&fromId=26129&limit=1000"
    )
    item = {"a": 26129, "p": "0.01633102", "q": "4.70443515", "f": 27781, "l": 27783,
            "T": 1498793709153, "m": True, "M": True}  # fmt: skip
    live = _live(
        BinanceAdapter(), {"stream": "ethbtc@aggTrade", "data": {"e": "aggTrade", "E": 1, **item}}
    )
    assert h.parse(orjson.dumps([item]), "ETH-BTC", 1.5) == live
    usdm = get("binance-usdm").trade_history
    assert set(usdm) == {"aggTrade"}  # historicalTrades needs a key there
    assert usdm["aggTrade"].path("BTC-USDT-PERP", 7, 1000).startswith("/fapi/v1/aggTrades?")


def test_okx_history_trades_equal_the_trades_channel() -> None:
    h = get("okx").trade_history["trades"]
    assert h.path("btc-usdt", 130639474, 100) == (
        "/api/v5/market/history-trades?instId=BTC-USDT&type=1&after=130639474&limit=100"
    )
    assert h.backward and h.page_size == 100
    assert h.covers is not None and h.covers("BTC-USDT") and not h.covers("BTC-USDT-SWAP")
    items = [  # newest first, as OKX answers
        {"instId": "BTC-USDT", "side": "sell", "sz": "0.5", "px": "42219.8", "source": "0",
         "tradeId": "130639473", "ts": "1630048897897"},
        {"instId": "BTC-USDT", "side": "buy", "sz": "0.12060306", "px": "42219.9",
         "source": "0", "tradeId": "130639470", "ts": "1630048897897"},
    ]  # fmt: skip
    body = orjson.dumps({"code": "0", "msg": "", "data": items})
    live = _live(OkxAdapter(), {"arg": {"channel": "trades", "instId": "BTC-USDT"}, "data": items})
    assert h.parse(body, "BTC-USDT", 1.5) == live


@pytest.mark.parametrize(
    ("exchange", "stream", "body", "match"),
    [
        ("binance", "trade", b'{"code":-1121,"msg":"Invalid symbol."}', "-1121"),
        ("binance", "trade", b"[{", "invalid JSON"),
        (
            "binance",
            "trade",
            b'[{"id": 1, "price": "-1", "qty": "1", "time": 5, "isBuyerMaker": true}]',
            "unusable trade",
        ),
        ("binance", "aggTrade", b'[{"a": 1}]', "unusable trade"),
        (
            "okx",
            "trades",
            b'{"code":"51001","msg":"Instrument ID doesn\'t exist.","data":[]}',
            "51001",
        ),
        (
            "okx",
            "trades",
            b'{"code":"0","data":[{"instId":"ETH-USDT","tradeId":"1","px":"1",'
            b'"sz":"1","side":"buy","ts":"1"}]}',
            "unusable trade",
        ),
    ],
)
def test_bad_history_pages_are_refused_naming_the_problem(
    exchange: str, stream: str, body: bytes, match: str
) -> None:
    with pytest.raises(ProtocolError, match=match):
        get(exchange).trade_history[stream].parse(body, "BTC-USDT", 1.0)


# -- the engine's hold and fill ----------------------------------------------------------


class _Source:
    """What a Backfill needs of its source: the spec, a REST client, where items go."""

    def __init__(self, exchange: str, pages: dict[str, bytes] | None = None) -> None:
        self.exchange = exchange
        self.spec = get(exchange)
        self.pages = pages or {}
        self.rest: Any = self
        self.emitted: list[Any] = []
        self.asked: list[str] = []

    async def get(self, path: str, cost: float = 1.0) -> bytes:
        self.asked.append(path)
        await trio.sleep(0.1)
        for key, body in self.pages.items():
            if key in path:
                return body
        raise ProtocolError(f"HTTP 500 for {path}")

    def _emit(self, items: list[Any]) -> None:
        self.emitted.extend(items)


def _t(tid: int, symbol: str = "BTC-USDT", exchange: str = "binance") -> Trade:
    return Trade(exchange, symbol, 1000 + tid, 1.0, 100.0 + tid, 1.0, "buy", str(tid))


def _page(ids: range) -> bytes:
    return orjson.dumps(
        [{"id": i, "price": f"{100 + i}.0", "qty": "1.0", "time": 1000 + i,
          "isBuyerMaker": False} for i in ids]
    )  # fmt: skip


def _backfill(source: _Source, **settings: Any) -> Backfill:
    subs = [
        Subscription(source.exchange, "trade", s, "trade", f"{s}@trade")
        for s in ("BTC-USDT", "ETH-USDT")
    ]
    return Backfill(source, subs, BackfillSettings(**settings), trio.current_time)


def _run(test: Any) -> None:
    trio.run(test, clock=trio.testing.MockClock(autojump_threshold=0))


def test_a_hole_holds_that_symbol_only_then_fills_in_order() -> None:
    async def main() -> None:
        src = _Source("binance", {"fromId=13": _page(range(13, 16))})
        bf = _backfill(src)
        async with trio.open_nursery() as nursery:
            await nursery.start(bf.run)
            assert bf.filter([_t(10), _t(11), _t(12)], 1) == [_t(10), _t(11), _t(12)]
            # a new connection starts at 16: 13-15 are missing
            out = bf.filter([_t(16), _t(5, "ETH-USDT"), _t(17)], 2)
            assert out == [_t(5, "ETH-USDT")]  # the other symbol flows
            assert bf.filter([_t(15), _t(18)], 2) == []  # held (15 arrives late, too)
            await trio.sleep(1)
            trades = [x for x in src.emitted if x.kind == "trade"]
            assert [int(t.trade_id) for t in trades] == [13, 14, 15, 16, 17, 18]
            # the page's fields, as the stream gives them (received when the page came)
            assert attrs.evolve(trades[0], received_at=1.0) == _t(13)
            (event,) = [x for x in src.emitted if x.kind == "gap_filled"]
            assert src.emitted.index(event) == 3
            assert event == GapFilled(
                "binance", "BTC-USDT", "trade", 3, event.timestamp, "13", "15"
            )
            assert src.asked == ["/api/v3/historicalTrades?symbol=BTCUSDT&fromId=13&limit=1000"]
            # the old connection catching up: its trades were filled already
            assert bf.filter([_t(14), _t(19)], 1) == [_t(19)]
            assert bf.repeats == 2  # 15 (held and filled) and 14
            nursery.cancel_scope.cancel()

    _run(main)


def test_a_hole_the_history_cannot_cover_stays_and_says_why() -> None:
    async def main() -> None:
        # the history starts at 30: 21-29 are gone
        src = _Source("binance", {"fromId=21": _page(range(30, 35))})
        bf = _backfill(src)
        async with trio.open_nursery() as nursery:
            await nursery.start(bf.run)
            bf.filter([_t(20)], 1)
            assert bf.filter([_t(35)], 1) == []
            await trio.sleep(1)
            ids = [int(x.trade_id) for x in src.emitted if x.kind == "trade"]
            assert ids == [30, 31, 32, 33, 34, 35]  # what could be fetched is delivered
            (event,) = [x for x in src.emitted if x.kind == "source"]
            assert isinstance(event, SourceEvent)
            assert (event.state, event.reason) == ("gap_not_filled", "too_old")
            assert "21-29" in event.detail
            # REST refused: the held trade goes out, nothing else
            src.emitted.clear()
            assert bf.filter([_t(50)], 1) == []
            await trio.sleep(1)
            assert [x.kind for x in src.emitted] == ["source", "trade"]
            assert src.emitted[0].reason == "rest_refused" and "HTTP 500" in src.emitted[0].detail
            nursery.cancel_scope.cancel()

    _run(main)


def test_a_gap_before_any_trade_stands_and_says_there_is_no_id_to_fill_from() -> None:
    async def main() -> None:
        src = _Source("binance", {})
        bf = _backfill(src)
        async with trio.open_nursery() as nursery:
            await nursery.start(bf.run)
            # the connection dropped before its first BTC-USDT trade: nothing to count from
            gap = Gap("binance", "BTC-USDT", "trade", 5, 6, "reconnect")
            out = bf.filter([gap], 1)
            assert out[0] == gap
            (event,) = out[1:]
            assert isinstance(event, SourceEvent)
            assert (event.state, event.reason) == ("gap_not_filled", "no_trade_yet")
            assert "BTC-USDT" in event.detail and "the Gap stands" in event.detail
            # once a trade was delivered, a later gap is filled as usual (no such event)
            bf.filter([_t(10)], 2)
            assert bf.filter([Gap("binance", "BTC-USDT", "trade", 7, 8, "reconnect")], 2) == [
                Gap("binance", "BTC-USDT", "trade", 7, 8, "reconnect")
            ]
            # the other symbol, which never traded, is named too when the gap covers all
            out = bf.filter([Gap("binance", "*", "trade", 9, 10, "reconnect")], 2)
            assert [x.reason for x in out[1:]] == ["no_trade_yet"]
            assert "ETH-USDT" in out[1].detail
            assert src.asked == []
            nursery.cancel_scope.cancel()

    _run(main)


def test_too_many_or_over_budget_is_not_fetched_and_a_full_buffer_gives_up() -> None:
    async def main() -> None:
        src = _Source("binance", {"fromId": _page(range(101, 111))})
        bf = _backfill(src, max_trades=1000, buffer=3)
        async with trio.open_nursery() as nursery:
            await nursery.start(bf.run)
            bf.filter([_t(100)], 1)
            assert bf.filter([_t(5000)], 1) == [x for x in src.emitted if False] + [
                SourceEventMatcher("too_many"),
                _t(5000),
            ]
            assert not src.asked
            bf.settings.max_trades = 10**9
            out = bf.filter([_t(5000 + 10**6)], 1)  # 1000 pages of weight 25: minutes
            assert out[0] == SourceEventMatcher("over_budget") and out[1:] == [_t(5000 + 10**6)]
            # a hole whose live trades overflow the buffer: given up, all released in order
            last = 5000 + 10**6
            assert bf.filter([_t(last + 5), _t(last + 6), _t(last + 7)], 1) == []
            out = bf.filter([_t(last + 8), _t(last + 9)], 1)
            assert out[0] == SourceEventMatcher("buffer_full")
            assert [int(x.trade_id) for x in out[1:]] == [last + i for i in range(5, 10)]
            await trio.sleep(1)  # the cancelled fetch adds nothing
            assert not [x for x in src.emitted if x.kind == "trade"]
            nursery.cancel_scope.cancel()

    _run(main)


class SourceEventMatcher:
    def __init__(self, reason: str) -> None:
        self.reason = reason

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, SourceEvent)
            and other.state == "gap_not_filled"
            and other.reason == self.reason
        )

    def __repr__(self) -> str:
        return f"<gap_not_filled {self.reason}>"


def test_skipping_ids_are_checked_on_a_new_connection_only() -> None:
    """OKX trade ids skip: a jump on one connection is no hole, the first trade of a new
    connection after the newest delivered is asked about (backward pages)."""

    async def main() -> None:
        page = {"code": "0", "data": [
            {"instId": "BTC-USDT", "tradeId": str(i), "px": "1", "sz": "1", "side": "buy",
             "ts": "5"} for i in (95, 90, 84, 80)
        ]}  # fmt: skip
        src = _Source(
            "okx", {"after=100": orjson.dumps(page), "after=140": b'{"code":"0","data":[]}'}
        )
        subs = [Subscription("okx", "trade", "BTC-USDT", "trades", "trades:BTC-USDT")]
        bf = Backfill(src, subs, BackfillSettings(), trio.current_time)
        async with trio.open_nursery() as nursery:
            await nursery.start(bf.run)
            t = [_t(i, exchange="okx") for i in (70, 80, 100, 130)]
            assert bf.filter(t[:2], 1) == t[:2]  # 70 -> 80 on one connection: no question
            assert bf.filter(t[2:], 2) == []
            await trio.sleep(1)
            ids = [int(x.trade_id) for x in src.emitted if x.kind == "trade"]
            assert ids == [84, 90, 95, 100, 130]
            assert [x.count for x in src.emitted if x.kind == "gap_filled"] == [3]
            # a refused frame on a live connection (its Gap): the next trade is asked about
            src.emitted.clear()
            gap = Gap("okx", "BTC-USDT", "trade", 5, 6, "malformed frame")
            assert bf.filter([gap, _t(140, exchange="okx")], 2) == [gap]
            await trio.sleep(1)
            assert src.asked[-1].endswith("after=140&limit=100")
            nursery.cancel_scope.cancel()

    _run(main)


# -- the simulators serve their trade history --------------------------------------------


@pytest.mark.parametrize(
    ("stream", "path", "id_key"),
    [
        ("trade", "/api/v3/historicalTrades", "t"),
        ("aggTrade", "/api/v3/aggTrades", "a"),
    ],
)
def test_simulated_binance_history_pages_match_its_streams(
    stream: str, path: str, id_key: str
) -> None:
    """Every trade the stream sent is in the history, with the same fields; pages are
    ``limit`` long, from ``fromId``, and a bad request gets Binance's error."""

    async def main() -> None:
        async with open_simulated_exchanges(["BTC-USDT"], memory=True, rate=50) as sims:
            async with ws_client(sims.binance, f"/ws/btcusdt@{stream}") as ws:
                live = await collect(ws, 3.0)
            assert len(live) > 40
            first = live[0][id_key]
            parse = get("binance").trade_history[stream].parse
            status, _, body = sims.binance.rest_request(
                "GET", f"{path}?symbol=BTCUSDT&fromId={first}&limit=20"
            )
            assert status == 200
            page = parse(body, "BTC-USDT", 1.5)
            assert [int(t.trade_id) for t in page] == list(range(first, first + 20))
            expected: list[Any] = []
            for msg in live[:20]:
                expected += _live(BinanceAdapter(), {"stream": f"btcusdt@{stream}", "data": msg})
            assert page == expected
            assert sims.binance.rest_request("GET", f"{path}?symbol=NOPE")[0] == 400
            assert sims.binance.rest_request("GET", f"{path}?symbol=BTCUSDT&limit=5000")[0] == 400

    _run(main)


def test_simulated_okx_history_pages_match_its_trades_channel() -> None:
    async def main() -> None:
        async with open_simulated_exchanges(["BTC-USDT"], memory=True, rate=50) as sims:
            async with ws_client(sims.okx, "/ws/v5/public") as ws:
                await send(ws, {"op": "subscribe", "args": [
                    {"channel": "trades", "instId": "BTC-USDT"}]})  # fmt: skip
                msgs = await collect(ws, 3.0)
            live = [d for m in msgs if m.get("arg", {}).get("channel") == "trades"
                    for d in m.get("data", [])]  # fmt: skip
            assert len(live) > 30
            newest = int(live[-1]["tradeId"])
            parse = get("okx").trade_history["trades"].parse
            oldest = int(live[0]["tradeId"])
            got: list[Any] = []
            cursor = newest + 1
            while cursor > oldest:  # pages of 10, back in time, to the stream's first
                status, _, body = sims.okx.rest_request(
                    "GET",
                    f"/api/v5/market/history-trades?instId=BTC-USDT&type=1&after={cursor}&limit=10",
                )
                page = parse(body, "BTC-USDT", 1.5)
                assert status == 200 and page
                got += page
                if len(page) < 10:  # the start of the history
                    break
                cursor = int(page[-1].trade_id)
            got = sorted(
                (t for t in got if int(t.trade_id) >= oldest), key=lambda t: int(t.trade_id)
            )
            expected = _live(
                OkxAdapter(), {"arg": {"channel": "trades", "instId": "BTC-USDT"}, "data": live}
            )
            assert got == expected

    _run(main)


# -- the engine's dedupe and backfill together, random connections -----------------------


@st.composite
def _deliveries(draw: st.DrawFn) -> list[tuple[int, list[int], float]]:
    """(connection, trade ids it delivers in one batch, pause after) in arrival order:
    connections that start ahead of the newest delivered (reconnects), old connections
    still catching up (handoffs), frames lost on a live connection (stalls)."""
    out: list[tuple[int, list[int], float]] = []
    positions = {1: 1}
    top = 1
    for _ in range(draw(st.integers(1, 25))):
        action = draw(st.sampled_from(["next", "next", "next", "stall", "reconnect", "overlap"]))
        # a shard has two connections at most at once: the old one and its replacement
        conn = draw(st.sampled_from(sorted(positions)[-2:]))
        if action == "reconnect":
            conn = max(positions) + 1
            positions[conn] = top + draw(st.integers(0, 300))
        elif action == "overlap":  # a new connection starts behind the newest id
            conn = max(positions) + 1
            positions[conn] = max(1, top - draw(st.integers(0, 20)))
        elif action == "stall":
            positions[conn] += draw(st.integers(1, 50))
        n = draw(st.integers(1, 30))
        ids = list(range(positions[conn], positions[conn] + n))
        positions[conn] += n
        top = max(top, positions[conn])
        out.append((conn, ids, draw(st.sampled_from([0.0, 0.0, 0.05, 0.5]))))
    return out


class _History(_Source):
    """Binance's history of every id, 1000 a page, each answer 0.1 s late."""

    async def get(self, path: str, cost: float = 1.0) -> bytes:
        await trio.sleep(0.1)
        query = dict(x.split("=") for x in path.split("?")[1].split("&"))
        start = int(query["fromId"])
        return _page(range(start, start + int(query["limit"])))


@settings(max_examples=200, deadline=None)
@given(_deliveries())
def test_every_trade_once_and_in_order_whatever_the_connections_do(
    deliveries: list[tuple[int, list[int], float]],
) -> None:
    """With a complete history, the consumer gets every id from the first to the newest
    received exactly once, in increasing order, whatever the connections deliver."""

    async def main() -> None:
        src = _History("binance")
        bf = _backfill(src)
        dedupe = _Dedupe()
        async with trio.open_nursery() as nursery:
            await nursery.start(bf.run)
            for conn, ids, pause in deliveries:
                records = dedupe.filter([_t(i) for i in ids], conn)
                src._emit(bf.filter(records, conn))
                await trio.sleep(pause)
            await trio.sleep(30)
            nursery.cancel_scope.cancel()
        got = [int(x.trade_id) for x in src.emitted if x.kind == "trade"]
        newest = max(i for _, ids, _ in deliveries for i in ids)
        first = deliveries[0][1][0]
        # ids older than the first delivered may come late (an overlapping connection that
        # started behind): delivered once, announced by the dedupe, as without backfill
        late = [i for i in got if i < first]
        assert len(late) == len(set(late))
        main_run = [i for i in got if i >= first]
        assert main_run == list(range(first, newest + 1))
        assert not [x for x in src.emitted if x.kind == "source" and x.state == "gap_not_filled"]

    _run(main)
