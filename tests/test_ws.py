"""The WebSocket receive path: fast data-frame path + websockets for the rest, checked
against websockets' own parser on random frame sequences cut into random reads."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
import trio
from hypothesis import given, settings
from hypothesis import strategies as st
from websockets.client import ClientProtocol
from websockets.frames import Frame, Opcode
from websockets.protocol import State
from websockets.uri import parse_uri

from trio_feeds.core.accel import speedups
from trio_feeds.engine import ws as ws_module
from trio_feeds.engine.frames import _py_cut_frames
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


@pytest.mark.parametrize("cutter", ["python", "c"])
@settings(max_examples=40, deadline=None)
@given(items=frames, cuts=st.lists(st.integers(0, 10**6), max_size=12))
def test_both_frame_cutters_read_the_same_messages(
    cutter: str, items: list[tuple[str, Any]], cuts: list[int]
) -> None:
    """The pure-Python cutter (what ``TRIO_FEEDS_PURE_PYTHON=1`` runs) and the C one."""
    if cutter == "c" and speedups is None:
        pytest.skip("the C extension is not built")
    impl = _py_cut_frames if cutter == "python" else speedups.cut_frames  # type: ignore[union-attr]
    data, messages, _ = wire(items)
    close = Frame(Opcode.CLOSE, b"\x03\xe8bye").serialize(mask=False, extensions=[])
    saved = ws_module._cut_frames
    ws_module._cut_frames = impl
    try:
        got, _, code = trio.run(read_all, cut(data + close, cuts))
    finally:
        ws_module._cut_frames = saved
    assert got == messages and code == 1000


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from([0x81, 0x82, 0x01, 0x80, 0x89, 0x8A, 0x88, 0xC1, 0x00]),
            st.booleans(),
            st.binary(max_size=300) | st.integers(65_536, 65_600).map(b"\x7b".__mul__),
        ),
        max_size=8,
    ),
    st.integers(0, 400),
    st.integers(0, 70_000),
)
def test_the_c_cutter_is_the_python_one(
    raw: list[tuple[int, bool, bytes]], start: int, max_message: int
) -> None:
    """Same payloads and stop position on any frame sequence: control frames, fragments,
    masked and too-big frames, every header length, buffers cut anywhere."""
    if speedups is None:
        pytest.skip("the C extension is not built")
    buf = b""
    for b0, masked, payload in raw:
        n = len(payload)
        mask = 0x80 if masked else 0
        if n < 126:
            head = bytes([b0, mask | n])
        elif n < 65_536:
            head = bytes([b0, mask | 126]) + n.to_bytes(2, "big")
        else:
            head = bytes([b0, mask | 127]) + n.to_bytes(8, "big")
        buf += head + payload
    for end in {len(buf), len(buf) // 2, max(0, len(buf) - 1)}:
        chunk = buf[:end]
        a: list[Any] = []
        b: list[Any] = []
        pos_py = _py_cut_frames(chunk, min(start, len(chunk)), a, max_message)
        pos_c = speedups.cut_frames(chunk, min(start, len(chunk)), b, max_message)
        assert (pos_c, b) == (pos_py, a)
        assert all(type(x) is bytes for x in b)


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
