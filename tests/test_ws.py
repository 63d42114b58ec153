"""The WebSocket receive path: fast data-frame path + websockets for the rest, checked
against websockets' own parser on random frame sequences cut into random reads."""

from __future__ import annotations

import itertools
from typing import Any

import trio
from hypothesis import given, settings
from hypothesis import strategies as st
from websockets.client import ClientProtocol
from websockets.frames import Frame, Opcode
from websockets.protocol import State
from websockets.uri import parse_uri

from trio_feeds.engine.ws import ConnectionClosed, WebSocket

URI = parse_uri("ws://example.test/stream")


class ChunkStream(trio.abc.Stream):
    """Returns the given chunks from receive_some, then EOF; records what is sent."""

    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks = list(chunks)
        self.sent = b""

    async def receive_some(self, max_bytes: int | None = None) -> bytes:
        await trio.lowlevel.checkpoint()
        return self.chunks.pop(0) if self.chunks else b""

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        await trio.lowlevel.checkpoint()
        self.sent += bytes(data)

    async def wait_send_all_might_not_block(self) -> None:
        await trio.lowlevel.checkpoint()

    async def aclose(self) -> None:
        await trio.lowlevel.checkpoint()


payloads = st.binary(min_size=0, max_size=300) | st.binary(min_size=60_000, max_size=70_000)
texty = st.text(max_size=200).map(str.encode)
frames = st.lists(
    st.one_of(
        st.tuples(st.just("text"), texty),
        st.tuples(st.just("binary"), payloads),
        st.tuples(st.just("ping"), st.binary(max_size=20)),
        st.tuples(st.just("pong"), st.binary(max_size=20)),
        st.tuples(st.just("frag"), st.lists(texty, min_size=2, max_size=4)),
    ),
    max_size=30,
)


def wire(items: list[tuple[str, Any]]) -> tuple[bytes, list[bytes], list[bytes]]:
    """Server-side bytes for ``items``; the messages and the ping payloads they hold."""
    out = b""
    messages: list[bytes] = []
    pings: list[bytes] = []
    for kind, data in items:
        if kind == "text":
            out += Frame(Opcode.TEXT, data).serialize(mask=False, extensions=[])
            messages.append(data)
        elif kind == "binary":
            out += Frame(Opcode.BINARY, data).serialize(mask=False, extensions=[])
            messages.append(data)
        elif kind == "ping":
            out += Frame(Opcode.PING, data).serialize(mask=False, extensions=[])
            pings.append(data)
        elif kind == "pong":
            out += Frame(Opcode.PONG, data).serialize(mask=False, extensions=[])
        else:
            parts = data
            out += Frame(Opcode.TEXT, parts[0], fin=False).serialize(mask=False, extensions=[])
            for i, part in enumerate(parts[1:], 1):
                last = i == len(parts) - 1
                out += Frame(Opcode.CONT, part, fin=last).serialize(mask=False, extensions=[])
            messages.append(b"".join(parts))
    return out, messages, pings


def cut(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
    return [data[a:b] for a, b in itertools.pairwise(points) if b > a]


async def read_all(chunks: list[bytes]) -> tuple[list[bytes], ChunkStream, int | None]:
    stream = ChunkStream(chunks)
    ws = WebSocket(stream, ClientProtocol(URI, state=State.OPEN, max_size=2**24), "ws://x")
    got: list[bytes] = []
    code = None
    try:
        while True:
            got.extend(bytes(m) for m in await ws.receive_batch())
    except ConnectionClosed as exc:
        code = exc.code
    return got, stream, code


@settings(max_examples=200, deadline=None)
@given(frames, st.lists(st.integers(0, 10**6), max_size=12))
def test_messages_match_the_frames_sent_whatever_the_reads(
    items: list[tuple[str, Any]], cuts: list[int]
) -> None:
    data, messages, pings = wire(items)
    close = Frame(Opcode.CLOSE, b"\x03\xe8bye").serialize(mask=False, extensions=[])
    got, stream, code = trio.run(read_all, cut(data + close, cuts))
    assert got == messages
    assert code == 1000
    # every ping was answered with a pong carrying its payload, in order
    from websockets.server import ServerProtocol

    server = ServerProtocol(state=State.OPEN)
    server.receive_data(stream.sent)
    pongs = [f.data for f in server.events_received() if f.opcode is Opcode.PONG]
    assert [bytes(p) for p in pongs] == pings


def test_a_masked_server_frame_fails_the_connection() -> None:
    good = Frame(Opcode.TEXT, b'{"a":1}').serialize(mask=False, extensions=[])
    masked = Frame(Opcode.TEXT, b'{"b":2}').serialize(mask=True, extensions=[])
    got, _, code = trio.run(read_all, [good + masked])
    assert got == [b'{"a":1}']
    assert code == 1002


def test_eof_without_close_frame_is_1006() -> None:
    good = Frame(Opcode.TEXT, b"x").serialize(mask=False, extensions=[])
    got, _, code = trio.run(read_all, [good])
    assert got == [b"x"] and code == 1006
