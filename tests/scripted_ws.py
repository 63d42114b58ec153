"""A WebSocket server on in-memory streams that sends exactly the frames a test gives it.

The simulators in ``trio_feeds.testing`` speak the exchanges' protocols from a market;
this one speaks nothing: it accepts the handshake, records what the client sends, answers
pings (WS control pings, and OKX's text ``ping`` with ``pong``) and writes each *batch* of
frames it is handed in one ``send_all``, so the client reads a batch in one socket read:
"a snapshot and a chain-breaking update in one read" is a batch of two.  Use it with
``open_feed(connector=server.connector, http_transport=server.http_transport, ...)`` under
``trio.testing.MockClock``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import httpx
import orjson
import trio
import trio.testing
from wsproto import ConnectionType, WSConnection
from wsproto.events import (
    AcceptConnection,
    CloseConnection,
    Message,
    Ping,
    Request,
    TextMessage,
)

Rest = Callable[[str], tuple[int, bytes]]
"""``rest(path_and_query) -> (status, body)``."""


class ScriptedConnection:
    def __init__(self, stream: trio.abc.Stream) -> None:
        self.stream = stream
        self.ws = WSConnection(ConnectionType.SERVER)
        self.path = ""
        self.received: list[str] = []
        self.changed = trio.Event()
        self.closed = False

    async def run(self) -> None:
        try:
            while True:
                data = await self.stream.receive_some(65536)
                if not data:
                    break
                self.ws.receive_data(bytes(data))
                for event in self.ws.events():
                    if isinstance(event, Request):
                        self.path = event.target
                        await self.stream.send_all(self.ws.send(AcceptConnection()))
                    elif isinstance(event, TextMessage):
                        if event.data == "ping":
                            await self.send(["pong"])
                        self.received.append(event.data)
                    elif isinstance(event, Ping):
                        await self.stream.send_all(self.ws.send(event.response()))
                    elif isinstance(event, CloseConnection):
                        return
                self.changed.set()
                self.changed = trio.Event()
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass
        finally:
            self.closed = True
            self.changed.set()

    async def send(self, frames: Iterable[str | bytes]) -> None:
        """Write ``frames`` (text messages) in one ``send_all``: one read for the client."""
        data = b"".join(
            self.ws.send(Message(data=f if isinstance(f, str) else f.decode())) for f in frames
        )
        await self.stream.send_all(data)

    async def wait_for(self, predicate: Callable[[list[str]], bool]) -> None:
        while not predicate(self.received):
            if self.closed:
                raise AssertionError(f"connection closed; received {self.received}")
            await self.changed.wait()

    def requests(self) -> list[dict[str, Any]]:
        """The JSON requests received (subscribe, unsubscribe)."""
        out = []
        for text in self.received:
            try:
                msg = orjson.loads(text)
            except orjson.JSONDecodeError:
                continue
            if isinstance(msg, dict):
                out.append(msg)
        return out


class ScriptedServer:
    """Hands out in-memory connections served by :class:`ScriptedConnection`.

    ``rest`` answers REST requests (Binance depth snapshots, OKX books) for
    :attr:`http_transport`.
    """

    def __init__(self, nursery: trio.Nursery, rest: Rest | None = None) -> None:
        self.nursery = nursery
        self.connections: list[ScriptedConnection] = []
        self.rest = rest
        self.rest_log: list[str] = []
        self._new = trio.Event()

    async def connector(self, url: str) -> trio.abc.Stream:
        client, server = trio.testing.memory_stream_pair()
        conn = ScriptedConnection(server)
        self.connections.append(conn)
        self.nursery.start_soon(conn.run)
        self._new.set()
        self._new = trio.Event()
        return client

    async def connection(self, index: int = 0) -> ScriptedConnection:
        """The ``index``-th connection, once it has sent a subscription."""
        while len(self.connections) <= index:
            await self._new.wait()
        conn = self.connections[index]
        await conn.wait_for(lambda received: any('"subscribe"' in r.lower() for r in received))
        return conn

    @property
    def http_transport(self) -> httpx.AsyncBaseTransport:
        def handler(request: httpx.Request) -> httpx.Response:
            target = request.url.raw_path.decode()
            self.rest_log.append(target)
            if self.rest is None:
                return httpx.Response(404, content=b"{}")
            status, body = self.rest(target)
            return httpx.Response(status, content=body)

        return httpx.MockTransport(handler)


URLS = {"binance": "ws://scripted.test:9443", "okx": "ws://scripted.test:8443"}
REST_URLS = {"binance": "http://rest.scripted.test", "okx": "http://rest.scripted.test"}
