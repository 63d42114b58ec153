"""A third exchange added from outside the package: adapter + tiny simulator + spec.

It is registered with ``trio_feeds.exchanges.register`` (and, separately, found through
the ``trio_feeds.exchanges`` entry-point group), streams trades through ``open_feed`` and
fails over to and from Binance.  Nothing here is special to the built-in exchanges: this
is the recipe of ``docs/adding-an-exchange.md``.
"""

from __future__ import annotations

import warnings
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, ClassVar

import orjson
import pytest
import trio
import trio.testing

import trio_feeds
from trio_feeds import exchanges
from trio_feeds.core.errors import ConfigError
from trio_feeds.core.records import Gap, Trade
from trio_feeds.core.symbols import canonical
from trio_feeds.exchanges.spec import ExchangeSpec, Heartbeat, Limits
from trio_feeds.protocol import (
    Adapter,
    ConnectionGap,
    ParseError,
    Subscribed,
    Subscription,
    normalize_channel,
)
from trio_feeds.simulator.market import MarketTick, format_fixed
from trio_feeds.simulator.server import SimConnection, SimulatedExchange
from trio_feeds.testing import open_simulated_exchanges

TOY = "toyx"


# --------------------------------------------------------------------------- the adapter


class ToyAdapter(Adapter):
    """Sans-I/O protocol of the toy exchange: ``{"op": "sub", "args": [symbols]}`` is
    acknowledged by ``{"ack": [symbols]}``; trades come as
    ``{"ch": "trades", "seq", "sym", "id", "px", "sz", "side", "ts"}``, ``seq`` numbering
    the data messages of the connection (a hole is a ``ConnectionGap``)."""

    name: ClassVar[str] = TOY
    default_url: ClassVar[str] = "wss://ws.toy.invalid"
    default_rest_url: ClassVar[str] = "https://api.toy.invalid"
    max_streams_per_connection: ClassVar[int] = 50

    def __init__(self, *, keep_raw: bool = False, only_subscribed: bool = False) -> None:
        super().__init__(keep_raw=keep_raw, only_subscribed=only_subscribed)
        self._subs: dict[str, Subscription] = {}
        self._seq: int | None = None
        self._last_ts: int | None = None

    def subscription(self, channel: str, symbol: str, stream: str | None = None) -> Subscription:
        kind = normalize_channel(channel)
        if kind != "trade" or stream not in (None, "trades"):
            raise ConfigError(f"{TOY} streams trades only, not {channel!r}")
        sym = canonical(symbol)
        return Subscription(TOY, kind, sym, "trades", f"trades:{sym}")

    def endpoint(self, subscription: Subscription) -> str:
        return "/ws"

    def subscribe(self, subscriptions: Sequence[Subscription]) -> list[str]:
        for s in subscriptions:
            self._subs[s.symbol] = s
        return [orjson.dumps({"op": "sub", "args": [s.symbol for s in subscriptions]}).decode()]

    def unsubscribe(self, subscriptions: Sequence[Subscription]) -> list[str]:
        for s in subscriptions:
            self._subs.pop(s.symbol, None)
        return [orjson.dumps({"op": "unsub", "args": [s.symbol for s in subscriptions]}).decode()]

    def parse(self, frame: bytes | str, received_at: float, out: list[Any]) -> None:
        try:
            msg = orjson.loads(frame)
            if "ack" in msg:
                subs = tuple(self._subs[s] for s in msg["ack"] if s in self._subs)
                out.append(Subscribed(subs))
                return
            sym = msg["sym"]
            seq, ts = int(msg["seq"]), int(msg["ts"])
            if self._seq is not None and seq != self._seq + 1:
                start = self._last_ts if self._last_ts is not None else ts
                gaps = tuple(
                    Gap(TOY, s.symbol, s.channel, start, ts, "messages lost")
                    for s in self._subs.values()
                )
                out.append(ConnectionGap(TOY, self._seq + 1, seq, gaps, (), received_at))
            self._seq, self._last_ts = seq, ts
            if sym not in self._subs and self.only_subscribed:
                self._drop_unsolicited(f"trades:{sym}")
                return
            out.append(
                Trade(
                    TOY,
                    sym,
                    ts,
                    received_at,
                    float(msg["px"]),
                    float(msg["sz"]),
                    msg["side"],
                    str(msg["id"]),
                )
            )
        except (ValueError, KeyError, TypeError) as exc:
            text = frame.decode() if isinstance(frame, bytes) else frame
            out.append(ParseError(f"{type(exc).__name__}: {exc}", text[:200]))


TOY_SPEC = ExchangeSpec(
    name=TOY,
    label="Toy",
    adapter=ToyAdapter,
    limits=Limits(connect_rate=5.0, connect_capacity=5),
    heartbeat=Heartbeat(style="websocket"),
)


# --------------------------------------------------------------------------- the simulator


class SimulatedToy(SimulatedExchange):
    """The toy exchange's server: every fill of the shared market is one trade."""

    name: ClassVar[str] = TOY
    memory_host: ClassVar[str] = "ws.toy.invalid"
    memory_rest_host: ClassVar[str] = "api.toy.invalid"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.subscribed: dict[SimConnection, set[str]] = {}
        self.seq: dict[SimConnection, int] = {}
        #: data messages still to be "lost" (numbered, not sent)
        self.lose = 0

    def _on_text(self, conn: SimConnection, text: str) -> None:
        msg = orjson.loads(text)
        symbols = self.subscribed.setdefault(conn, set())
        if msg["op"] == "sub":
            symbols.update(msg["args"])
            conn.send_reply(orjson.dumps({"ack": msg["args"]}).decode())
        else:
            symbols.difference_update(msg["args"])

    def _on_close(self, conn: SimConnection) -> None:
        self.subscribed.pop(conn, None)
        self.seq.pop(conn, None)

    def _on_tick(self, tick: MarketTick) -> None:
        for sym, up in tick.updates.items():
            spec = self.market.spec(sym)
            for order in up.orders:
                for f in order.fills:
                    fields = {
                        "ch": "trades",
                        "sym": sym,
                        "id": f.trade_id,
                        "px": format_fixed(f.price, spec.price_decimals),
                        "sz": format_fixed(f.size, spec.size_decimals),
                        "side": "buy" if order.is_buy else "sell",
                        "ts": up.ts,
                    }
                    for conn, symbols in list(self.subscribed.items()):
                        if sym in symbols:
                            seq = self.seq[conn] = self.seq.get(conn, 0) + 1
                            if self.lose:
                                self.lose -= 1
                                continue
                            conn.send_data(orjson.dumps({**fields, "seq": seq}).decode())


# --------------------------------------------------------------------------- fixtures


@pytest.fixture
def toy_registered() -> Iterator[None]:
    exchanges.register(TOY_SPEC)
    try:
        yield
    finally:
        exchanges.unregister(TOY)


@asynccontextmanager
async def toy_and_binance(rate: float = 20.0) -> AsyncIterator[tuple[Any, SimulatedToy]]:
    async with open_simulated_exchanges(["BTC-USDT"], memory=True, rate=rate) as sims:
        toy = SimulatedToy(sims.market)
        async with toy.serve(memory=True):
            yield sims, toy


def feed_options(sims: Any, toy: SimulatedToy, **kw: Any) -> dict[str, Any]:
    async def connector(url: str) -> trio.abc.Stream:
        if url.startswith(toy.url):
            return await toy.connect(url)
        return await sims.connector(url)

    opts: dict[str, Any] = dict(
        urls={TOY: toy.url, "binance": sims.urls["binance"]},
        rest_urls={"binance": sims.rest_urls["binance"]},
        connector=connector,
        http_transport=sims.http_transport,
        clock=sims.clock,
        stale_after=2.0,
        failback_after=5.0,
        reconnect_delay=0.5,
        max_reconnect_delay=2.0,
        seed=7,
    )
    opts.update(kw)
    return opts


async def collect(feed: trio_feeds.Feed, seconds: float) -> list[Any]:
    out: list[Any] = []
    with trio.move_on_after(seconds):
        async for item in feed:
            out.append(item)  # noqa: PERF401 - a cancelled comprehension would lose them all
    return out


# --------------------------------------------------------------------------- tests


def test_registered_exchange_is_known_everywhere(toy_registered: None) -> None:
    assert TOY in exchanges.names()
    assert exchanges.get(TOY) is TOY_SPEC
    assert exchanges.ADAPTERS[TOY] is ToyAdapter
    assert exchanges.get_adapter(TOY) is ToyAdapter
    with pytest.raises(ValueError, match="already registered"):
        exchanges.register(TOY_SPEC)


def test_unregistered_exchange_is_refused_clearly() -> None:
    assert TOY not in exchanges.names()
    with pytest.raises(ConfigError, match="not supported"):
        exchanges.get(TOY)


async def test_toy_exchange_streams_trades_through_open_feed(
    autojump_clock: trio.testing.MockClock, toy_registered: None
) -> None:
    async with toy_and_binance() as (sims, toy):
        opts = feed_options(sims, toy)
        async with trio_feeds.open_feed([TOY], ["BTC-USDT"], ["trade"], **opts) as feed:
            items = await collect(feed, 5)
            trades = [i for i in items if i.kind == "trade"]
            assert trades and {t.exchange for t in trades} == {TOY}
            ids = [int(t.trade_id) for t in trades]
            assert ids == sorted(ids) and len(set(ids)) == len(ids)
            assert feed.health().healthy
            # messages lost on the connection (the adapter's ConnectionGap): Gap events
            toy.lose = 2
            items = await collect(feed, 3)
            gaps = [i for i in items if i.kind == "gap"]
            assert [(g.exchange, g.symbol, g.channel, g.reason) for g in gaps] == [
                (TOY, "BTC-USDT", "trade", "messages lost")
            ]
            assert gaps[0].start < gaps[0].end
            assert feed.health().sources[TOY].gaps == 1
        assert len(toy.all_connections) == 1


async def test_toy_exchange_fails_over_to_binance_and_back(
    autojump_clock: trio.testing.MockClock, toy_registered: None
) -> None:
    async with toy_and_binance() as (sims, toy):
        opts = feed_options(sims, toy)
        async with trio_feeds.open_feed([TOY, "binance"], ["BTC-USDT"], ["trade"], **opts) as feed:
            before = await collect(feed, 3)
            assert feed.active_source == TOY
            assert {i.exchange for i in before if i.kind == "trade"} == {TOY}
            # the toy exchange goes away: the feed switches to Binance
            toy.refuse_connections(4)
            toy.drop()
            during = await collect(feed, 4)
            switches = [i for i in during if i.kind == "source_switch"]
            assert switches and switches[0].to_source == "binance"
            assert feed.active_source == "binance"
            after_switch = during[during.index(switches[0]) :]
            assert any(i.kind == "trade" and i.exchange == "binance" for i in after_switch)
            # it comes back; after the hold-down the feed returns to it
            later = await collect(feed, 15)
            back = [i for i in later if i.kind == "source_switch"]
            assert back and back[-1].to_source == TOY
            assert feed.active_source == TOY


# --------------------------------------------------------------------------- entry points

#: what the entry point in the test distribution points at
PLUGIN_SPEC = ExchangeSpec(name="toyplugin", label="Toy plugin", adapter=ToyAdapter)


def _install_distribution(root: Path, entry_points: str) -> None:
    dist = root / "toy_trio_feeds_plugin-1.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: toy-trio-feeds-plugin\nVersion: 1.0\n"
    )
    (dist / "entry_points.txt").write_text(entry_points)


@pytest.fixture
def plugin_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.syspath_prepend(str(tmp_path))
    exchanges.refresh_plugins()
    try:
        yield tmp_path
    finally:
        for name in ("toyplugin", "broken", "misnamed"):
            exchanges.unregister(name)
        monkeypatch.undo()
        exchanges.refresh_plugins()


def test_entry_point_plugins_load_lazily_and_a_broken_one_is_not_fatal(
    plugin_path: Path,
) -> None:
    _install_distribution(
        plugin_path,
        "[trio_feeds.exchanges]\n"
        f"toyplugin = {__name__}:PLUGIN_SPEC\n"
        "broken = trio_feeds_no_such_module_:SPEC\n"
        f"misnamed = {__name__}:TOY_SPEC\n",
    )
    exchanges.refresh_plugins()
    # listed before anything is imported
    assert {"toyplugin", "broken", "misnamed"} <= set(exchanges.names())
    assert exchanges.get("toyplugin") is PLUGIN_SPEC
    assert exchanges.ADAPTERS["toyplugin"] is ToyAdapter
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(ConfigError, match=r"broken.*failed to load.*ModuleNotFoundError"):
            exchanges.get("broken")
        with pytest.raises(ConfigError, match=r"misnamed.*named 'toyx'"):
            exchanges.get("misnamed")
    assert any("broken" in str(w.message) for w in caught)
    errors = exchanges.plugin_errors()
    assert set(errors) == {"broken", "misnamed"}
    # the others still work, and the broken ones are no longer offered
    assert "broken" not in exchanges.names() and "toyplugin" in exchanges.names()
    assert exchanges.get("binance").name == "binance"
