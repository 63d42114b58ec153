"""Recordings survive a crash: a ``trio-feeds record`` process killed with SIGKILL leaves a
file that replays up to its last flush, and replay says where the file breaks."""

from __future__ import annotations

import gzip
import json
import signal
import subprocess
import sys
import time
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import trio

import trio_feeds
from trio_feeds import ConfigError
from trio_feeds.ops.recording import read_recording

pytestmark = pytest.mark.timeout(120)

CLI = [sys.executable, "-m", "trio_feeds"]


@pytest.fixture(scope="module")
def sim() -> Iterator[list[str]]:
    """``trio-feeds serve-sim`` on ephemeral loopback ports; yields the --urls flags."""
    proc = subprocess.Popen(
        [*CLI, "serve-sim", "--rate", "40"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        info = json.loads(proc.stdout.readline())
        yield [
            "--urls", f"binance={info['urls']['binance']}",
            "--rest-urls", f"binance={info['rest_urls']['binance']}",
        ]  # fmt: skip
    finally:
        proc.kill()
        proc.wait()


def _wait_for(predicate: Any, what: str, limit: float = 60.0) -> None:
    deadline = time.monotonic() + limit
    while not predicate():
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.05)


def test_sigkilled_recording_replays_up_to_its_last_flush(sim: list[str], tmp_path: Path) -> None:
    path = tmp_path / "killed.tfrec.gz"
    proc = subprocess.Popen(
        [*CLI, "record", "--out", str(path), "--exchange", "binance", "--symbol", "BTC-USDT",
         "--channel", "trade", "--channel", "quote", *sim],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        # the file grows while the recorder runs (sync flushes), not only when it closes
        _wait_for(lambda: path.exists() and path.stat().st_size > 0, "the first flush")
        first = path.stat().st_size
        _wait_for(lambda: path.stat().st_size > first + 2000, "more flushes")
        flushed = read_recording(path)  # what is on disk now, read while it is being written
        assert flushed.truncation is not None
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    finally:
        if proc.poll() is None:  # pragma: no cover
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL
    size = path.stat().st_size

    got = read_recording(path)
    t = got.truncation
    assert t is not None  # no end-of-stream marker: the process never closed the file
    assert t.size == size and t.entries == len(got.entries)
    # everything flushed before the kill is there, and more
    assert len(got.entries) >= len(flushed.entries) > 10
    assert got.entries[: len(flushed.entries)] == flushed.entries
    assert {e["type"] for e in got.entries} >= {"header", "open", "chunk"}
    # the file decodes up to (nearly) its last byte: at most a write cut by the kill is lost
    assert t.offset >= size - 64 * 1024
    # the standard library agrees this is a cut gzip stream (what replay used to fail on)
    with pytest.raises(EOFError), gzip.open(path, "rb") as f:
        f.read()

    # replay reads it up to the break, says where, and exits 0
    done = subprocess.run(
        [*CLI, "replay", str(path), "--json"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert "Compressed file ended" not in done.stderr
    assert f"breaks at byte {t.offset} of {size}" in done.stderr
    assert f"after entry {t.entries}" in done.stderr
    items = [trio_feeds.loads(line) for line in done.stdout.splitlines()]
    chunks = sum(e["type"] == "chunk" for e in got.entries)
    assert chunks > 0 and [x for x in items if x.kind in ("trade", "quote")]


def _entries() -> list[bytes]:
    header = {"type": "header", "version": 1, "created": 1.0, "feed": {}}
    lines = [orjson.dumps(header)]
    lines += [
        orjson.dumps({"type": "open", "conn": i, "url": "ws://x/ws", "t": 1.0 + i})
        for i in range(200)
    ]
    return [line + b"\n" for line in lines]


def test_truncated_file_reads_up_to_the_break(tmp_path: Path) -> None:
    lines = _entries()
    # written as the recorder does: a sync flush after each group of lines
    c = zlib.compressobj(6, zlib.DEFLATED, 31)
    data = b""
    boundaries = []
    for start in range(0, len(lines), 50):
        data += c.compress(b"".join(lines[start : start + 50]))
        data += c.flush(zlib.Z_SYNC_FLUSH)
        boundaries.append((len(data), min(start + 50, len(lines))))
    whole = data + c.flush()
    path = tmp_path / "r.gz"
    path.write_bytes(whole)
    complete = read_recording(path)
    assert complete.truncation is None and len(complete.entries) == 201

    for size, n in boundaries:  # cut right after a flush: every flushed line is there
        path.write_bytes(whole[:size])
        got = read_recording(path)
        assert got.truncation is not None and got.truncation.offset == size
        assert len(got.entries) == n == got.truncation.entries
    cut = boundaries[1][0] + 37  # cut inside the next flush: no partial line
    path.write_bytes(whole[:cut])
    got = read_recording(path)
    assert got.truncation is not None
    assert got.entries == [orjson.loads(x) for x in lines[: len(got.entries)]]
    assert len(got.entries) >= boundaries[1][1]

    # garbage after the break: the entries before it, the break's byte range named
    path.write_bytes(whole[: boundaries[0][0]] + b"\xff" * 100)
    got = read_recording(path)
    assert got.truncation is not None and "corrupt" in got.truncation.reason
    assert len(got.entries) == boundaries[0][1]


def test_old_recordings_and_empty_files(tmp_path: Path) -> None:
    lines = _entries()
    old = tmp_path / "old.gz"
    with gzip.open(old, "wb") as f:  # no sync flushes, as recordings were written before
        f.write(b"".join(lines))
    got = read_recording(old)
    assert got.truncation is None and len(got.entries) == 201
    empty = tmp_path / "empty.gz"
    empty.write_bytes(b"")
    with pytest.raises(ConfigError, match="empty"):
        read_recording(empty)
    cut = tmp_path / "cut.gz"
    cut.write_bytes(old.read_bytes()[:5])  # not even the header survived
    with pytest.raises(ConfigError, match="no header"):
        read_recording(cut)


async def test_replay_api_reports_the_truncation(tmp_path: Path) -> None:
    from trio_feeds.testing import open_simulated_exchanges

    path = tmp_path / "api.tfrec.gz"
    async with open_simulated_exchanges(["BTC-USDT"], memory=True, rate=40) as sims:
        async with trio_feeds.record(
            path, ["binance"], ["BTC-USDT"], ["trade"],
            urls=sims.urls, rest_urls=sims.rest_urls, connector=sims.connector,
            http_transport=sims.http_transport, clock=sims.clock,
        ) as feed:  # fmt: skip
            with trio.move_on_after(1.5):
                async for _ in feed:
                    pass
    async with trio_feeds.replay(path) as rf:
        complete = await rf.collect()
        assert rf.replay.truncation is None
    # the same recording written the old way (one gzip stream, no sync flushes) replays alike
    old = tmp_path / "old.tfrec.gz"
    old.write_bytes(gzip.compress(gzip.decompress(path.read_bytes())))
    async with trio_feeds.replay(old) as rf:
        assert await rf.collect() == complete
        assert rf.replay.truncation is None
    whole = path.read_bytes()
    path.write_bytes(whole[: len(whole) * 2 // 3])
    async with trio_feeds.replay(path) as rf:
        items = await rf.collect()
        truncation = rf.replay.truncation
    assert truncation is not None and truncation.offset <= len(whole) * 2 // 3
    trades = [x for x in items if x.kind == "trade"]
    assert trades and trades == [x for x in complete if x.kind == "trade"][: len(trades)]
