"""``open_feed(transport=...)``: the argument, the config key, and what the trio-websocket
transport adds beside the engine tests that run over both (conftest ``transport``)."""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any

import pytest
import trio
import trio.testing

import trio_feeds
from trio_feeds.engine.transport import (
    DEFAULT_TRANSPORT,
    Connection,
    DefaultTransport,
    Transport,
    get_transport,
)
from trio_feeds.engine.tws import TrioWebsocketTransport
from trio_feeds.engine.ws import Connector, ConnectProgress
from trio_feeds.testing import open_simulated_exchanges


def test_transport_names() -> None:
    assert get_transport("default") is DEFAULT_TRANSPORT
    assert isinstance(DEFAULT_TRANSPORT, DefaultTransport)
    assert isinstance(get_transport("trio-websocket"), TrioWebsocketTransport)
    custom = TrioWebsocketTransport(message_queue_size=8)
    assert get_transport(custom) is custom


@pytest.mark.parametrize("bad", ["websockets", "", "Trio-Websocket", 3, None, object()])
async def test_open_feed_refuses_an_unknown_transport(bad: Any) -> None:
    with pytest.raises(trio_feeds.ConfigError, match="transport must be one of 'default'"):
        async with trio_feeds.open_feed(transport=bad):
            pass


def test_the_config_key_and_variable(tmp_path: Path) -> None:
    assert trio_feeds.FeedConfig().feed_kwargs()["transport"] == "default"
    config = trio_feeds.FeedConfig.from_env({"TRIO_FEEDS_TRANSPORT": "trio-websocket"})
    assert config.transport == "trio-websocket"
    assert config.feed_kwargs()["transport"] == "trio-websocket"
    path = tmp_path / "feed.toml"
    path.write_text('[trio_feeds]\ntransport = "trio-websocket"\n')
    assert trio_feeds.FeedConfig.from_toml(path).transport == "trio-websocket"
    with pytest.raises(trio_feeds.ConfigError, match=r"TRIO_FEEDS_TRANSPORT='ws'.*trio-websocket"):
        trio_feeds.FeedConfig.from_env({"TRIO_FEEDS_TRANSPORT": "ws"})
    path.write_text('transport = "fast"\n')
    with pytest.raises(trio_feeds.ConfigError, match="transport='fast' is invalid"):
        trio_feeds.FeedConfig.from_toml(path)


class CountingTransport:
    """A third party's transport: wraps another, counts connections."""

    name = "counting"

    def __init__(self, inner: Transport) -> None:
        self.inner = inner
        self.urls: list[str] = []

    async def connect(
        self,
        url: str,
        connector: Connector | None,
        *,
        ssl_context: ssl.SSLContext | None,
        progress: ConnectProgress,
        nursery: trio.Nursery,
    ) -> Connection:
        self.urls.append(url)
        return await self.inner.connect(
            url, connector, ssl_context=ssl_context, progress=progress, nursery=nursery
        )


@pytest.mark.parametrize("inner", ["default", "trio-websocket"])
async def test_a_transport_object_is_used_for_every_connection(
    autojump_clock: Any, inner: str
) -> None:
    transport = CountingTransport(get_transport(inner))
    async with (
        open_simulated_exchanges(["BTC-USDT"], seed=3, memory=True, rate=20) as sims,
        trio_feeds.open_feed(
            ["binance", "okx"], ["BTC-USDT"], ["trade"], urls=sims.urls,
            connector=sims.connector, clock=sims.clock, transport=transport,
        ) as feed,
    ):  # fmt: skip
        with trio.fail_after(60):
            async for item in feed:
                if item.kind == "trade":
                    break
        await trio.sleep(5)
        assert all(s.connected for s in feed.health().sources.values())
        assert sorted(u.split("//")[1].split(".")[1] for u in transport.urls) == [
            "binance",
            "okx",
        ]


async def test_trio_websocket_reports_a_connection_lost_in_the_handshake_at_once(
    autojump_clock: Any,
) -> None:
    """trio-websocket alone waits for its handshake until connect_timeout when the server
    hangs up; the transport reports the close at once (a ``closed`` 1006 event)."""

    async def hang_up(url: str) -> trio.abc.Stream:
        client, server = trio.testing.memory_stream_pair()
        await server.aclose()
        return client

    start = trio.current_time()
    events: list[Any] = []
    with pytest.raises(trio_feeds.ReconnectLimitError):
        async with trio_feeds.open_feed(
            ["binance"], ["BTC-USDT"], ["trade"], urls={"binance": "ws://nowhere.test:1"},
            connector=hang_up, connect_timeout=30, reconnect_delay=0.1,
            max_reconnect_attempts=1, transport="trio-websocket",
        ) as feed:  # fmt: skip
            async for x in feed:
                events.append(x)  # noqa: PERF401 - keep what came before the error
    assert trio.current_time() - start < 5
    down = [e for e in events if e.kind == "source" and e.state == "disconnected"]
    assert down and all(e.reason == "closed" for e in down), down
    assert down[0].detail.startswith("closed: 1006") and "handshake" in down[0].detail


@pytest.mark.parametrize("transport", ["default", "trio-websocket"])
async def test_the_close_code_is_passed_on(autojump_clock: Any, transport: str) -> None:
    async with (
        open_simulated_exchanges(["BTC-USDT"], seed=3, memory=True, rate=20) as sims,
        trio_feeds.open_feed(
            ["binance"], ["BTC-USDT"], ["trade"], urls=sims.urls, connector=sims.connector,
            clock=sims.clock, transport=transport,
        ) as feed,
    ):  # fmt: skip
        with trio.fail_after(60):
            async for item in feed:
                if item.kind == "trade":
                    break
        sims.binance.close(1008, "Pong timeout")
        with trio.fail_after(60):
            async for item in feed:
                if item.kind == "source" and item.state == "disconnected":
                    break
        assert item.reason == "closed"
        assert item.detail == "closed: 1008 Pong timeout"
