"""How a simulated exchange takes a connection: TLS (with injected faults), the WebSocket
handshake (refused, rejected or accepted) and the small HTTP/1.1 REST server.

Functions of the :class:`~trio_feeds.simulator.server.SimulatedExchange` they serve; the
class keeps the methods (``_handle_stream`` …) and delegates here.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import h11
import orjson
import trio
from wsproto import ConnectionType, WSConnection
from wsproto.events import AcceptConnection, RejectConnection, RejectData, Request
from wsproto.utilities import RemoteProtocolError

from trio_feeds.simulator.connection import SimConnection, linger_zero
from trio_feeds.simulator.records import ConnectionAttempt

if TYPE_CHECKING:
    from trio_feeds.simulator.server import SimulatedExchange

__all__ = ["handle_http", "handle_stream", "handle_tcp", "serve_tcp", "tls_handshake"]


async def handle_tcp(sim: SimulatedExchange, stream: trio.SocketStream) -> None:
    try:
        remote = str(stream.socket.getpeername()[0])
    except OSError:
        remote = "?"
    await handle_stream(sim, stream, remote)


async def handle_stream(sim: SimulatedExchange, stream: trio.abc.Stream, remote: str) -> None:
    now = trio.current_time()
    sim._check_connection_rate(remote, now)
    refused, status = sim._take_refusal()
    if refused and status is None:
        sim.connection_log.append(ConnectionAttempt(now, remote, "", "refused"))
        await trio.aclose_forcefully(stream)
        return
    if sim.pki is not None:
        secure = await tls_handshake(sim, stream, remote, now)
        if secure is None:
            return
        stream = secure
    ws = WSConnection(ConnectionType.SERVER)
    request: Request | None = None
    try:
        with trio.fail_after(sim.handshake_timeout):
            while request is None:
                data = await stream.receive_some(65536)
                if not data:
                    break
                ws.receive_data(bytes(data))
                for event in ws.events():
                    if isinstance(event, Request):
                        request = event
                        break
    except (
        trio.TooSlowError,
        trio.BrokenResourceError,
        trio.ClosedResourceError,
        RemoteProtocolError,
    ):
        request = None
    if request is None:
        sim.connection_log.append(ConnectionAttempt(now, remote, "", "failed"))
        await trio.aclose_forcefully(stream)
        return
    conn = SimConnection(sim, stream, ws, request.target, remote)
    if status is None:
        status = sim._handshake_status(conn)
    if status is not None:
        sim.connection_log.append(
            ConnectionAttempt(now, remote, request.target, "rejected", status)
        )
        body = orjson.dumps({"code": status, "msg": "rejected by simulator"})
        with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
            await stream.send_all(
                ws.send(
                    RejectConnection(
                        status_code=status,
                        headers=[
                            (b"content-type", b"application/json"),
                            (b"content-length", b"%d" % len(body)),
                        ],
                        has_body=True,
                    )
                )
                + ws.send(RejectData(data=body))
            )
        await trio.aclose_forcefully(stream)
        return
    sim.connection_log.append(ConnectionAttempt(now, remote, request.target, "accepted"))
    try:
        await stream.send_all(ws.send(AcceptConnection()))
    except (trio.BrokenResourceError, trio.ClosedResourceError):
        sim._on_close(conn)
        await trio.aclose_forcefully(stream)
        return
    sim.connections.append(conn)
    sim.all_connections.append(conn)
    try:
        await conn._run()
    finally:
        if conn in sim.connections:
            sim.connections.remove(conn)


async def tls_handshake(
    sim: SimulatedExchange, raw: trio.abc.Stream, remote: str, now: float
) -> trio.abc.Stream | None:
    """The server side of TLS, with the next injected fault if any; None: it failed."""
    assert sim.pki is not None
    fault, delay = sim._tls_faults.pop(0) if sim._tls_faults else ("", 0.0)
    if fault:
        sim.connection_log.append(ConnectionAttempt(now, remote, "", "tls_failed", None, fault))
    which = {"certificate": "untrusted", "hostname": "wrong_host"}.get(fault, "good")
    if fault in ("reset", "close", "plain_http"):
        with trio.move_on_after(sim.handshake_timeout):
            try:
                await raw.receive_some(65536)  # the ClientHello
                if fault == "plain_http":
                    body = b"This port speaks plain HTTP, not TLS.\n"
                    await raw.send_all(
                        b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\n"
                        b"Connection: close\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
                    )
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                pass
        if fault == "reset":
            linger_zero(raw)  # TCP: a reset, not a clean close
        await trio.aclose_forcefully(raw)
        return None
    if fault == "slow":
        await trio.sleep(delay)
    tls = trio.SSLStream(raw, sim.pki.server_context(which), server_side=True)
    try:
        with trio.fail_after(sim.handshake_timeout):
            await tls.do_handshake()
    except (trio.TooSlowError, trio.BrokenResourceError, trio.ClosedResourceError) as exc:
        if not fault:
            cause = exc.__cause__ or exc
            detail = f"handshake failed: {type(cause).__name__}: {cause}"
            sim.connection_log.append(
                ConnectionAttempt(now, remote, "", "tls_failed", None, detail)
            )
        await trio.aclose_forcefully(tls)
        return None
    return tls


async def handle_http(sim: SimulatedExchange, stream: trio.abc.Stream) -> None:
    if sim.pki is not None:
        tls = trio.SSLStream(stream, sim.pki.server_context(), server_side=True)
        try:
            with trio.fail_after(sim.handshake_timeout):
                await tls.do_handshake()
        except (trio.TooSlowError, trio.BrokenResourceError, trio.ClosedResourceError):
            await trio.aclose_forcefully(tls)
            return
        stream = tls
    conn = h11.Connection(h11.SERVER)
    try:
        while True:
            event = await _next_h11_event(stream, conn)
            if not isinstance(event, h11.Request):
                return
            while not isinstance(
                ev := await _next_h11_event(stream, conn),
                (h11.EndOfMessage, h11.ConnectionClosed),
            ):
                pass
            if isinstance(ev, h11.ConnectionClosed):
                return
            status, headers, body = sim.rest_request(event.method.decode(), event.target.decode())
            hdrs = [*headers, ("content-length", str(len(body)))]
            await stream.send_all(conn.send(h11.Response(status_code=status, headers=hdrs)))
            await stream.send_all(conn.send(h11.Data(data=body)))
            await stream.send_all(conn.send(h11.EndOfMessage()))
            if conn.our_state is h11.MUST_CLOSE or conn.their_state is h11.MUST_CLOSE:
                return
            conn.start_next_cycle()
    except (h11.ProtocolError, trio.BrokenResourceError, trio.ClosedResourceError):
        return
    finally:
        await trio.aclose_forcefully(stream)


async def _next_h11_event(stream: trio.abc.Stream, conn: h11.Connection) -> Any:
    while True:
        event = conn.next_event()
        if event is h11.NEED_DATA:
            conn.receive_data(bytes(await stream.receive_some(65536)))
            continue
        return event


async def serve_tcp(
    handler: Callable[[trio.SocketStream], Awaitable[None]],
    port: int,
    host: str,
    *,
    task_status: trio.TaskStatus[list[trio.SocketListener]] = trio.TASK_STATUS_IGNORED,
) -> None:
    """``trio.serve_tcp`` for ``nursery.start``: started with the listeners."""
    await trio.serve_tcp(handler, port, host=host, task_status=task_status)
