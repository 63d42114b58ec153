"""Plain WebSocket clients for the simulator tests (no trio_feeds client code)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import orjson
import trio
from trio_websocket import WebSocketConnection, wrap_client_stream

from trio_feeds.simulator.server import SimulatedExchange


@asynccontextmanager
async def ws_client(sim: SimulatedExchange, path: str) -> AsyncIterator[WebSocketConnection]:
    """A trio-websocket client on a stream from ``sim.connect``."""
    stream = await sim.connect(sim.url)
    async with trio.open_nursery() as nursery:
        ws = await wrap_client_stream(
            nursery,
            stream,  # type: ignore[arg-type]
            sim.memory_host,
            path,
            message_queue_size=100_000,
        )
        try:
            yield ws
        finally:
            # no close handshake: trio-websocket's reader may crash answering a server ping
            # that crosses its close frame
            nursery.cancel_scope.cancel()
            # shielded: a Cancelled from the cancelled nursery here would replace (and the
            # nursery would then swallow) an exception raised by the body, such as a failed
            # assertion
            with trio.CancelScope(shield=True):
                await trio.aclose_forcefully(stream)


async def send(ws: WebSocketConnection, msg: Any) -> None:
    await ws.send_message(msg if isinstance(msg, str) else orjson.dumps(msg).decode())


async def recv(ws: WebSocketConnection) -> Any:
    return orjson.loads(await ws.get_message())


async def recv_until(ws: WebSocketConnection, pred: Any) -> Any:
    with trio.fail_after(10):
        while True:
            msg = await recv(ws)
            if pred(msg):
                return msg


async def collect(ws: WebSocketConnection, seconds: float) -> list[Any]:
    out: list[Any] = []
    with trio.move_on_after(seconds):
        while True:
            out.append(await recv(ws))
    return out


async def collect_raw(ws: WebSocketConnection, seconds: float) -> list[str]:
    out: list[str] = []
    with trio.move_on_after(seconds):
        while True:
            msg = await ws.get_message()
            out.append(msg if isinstance(msg, str) else msg.decode())
    return out


def apply_diff(book: dict[str, dict[str, str]], ev: dict[str, Any]) -> None:
    """Apply a Binance depth diff (``b``/``a`` levels, size ``0`` removes) to ``book``."""
    for side in ("b", "a"):
        for px, qty in ev[side]:
            if float(qty) == 0:
                book[side].pop(px, None)
            else:
                book[side][px] = qty
