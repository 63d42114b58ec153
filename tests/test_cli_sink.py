"""The command line around sinks and recordings: ``stream --sink`` says what reached the
sink and fails when nothing did; ``record`` shows progress on a terminal only."""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from redis_server import RedisServer, redis_server_path

pytestmark = pytest.mark.timeout(120)

CLI = [sys.executable, "-m", "trio_feeds"]
SECRET = "s3cret-sink-pw"


@pytest.fixture(scope="module")
def sim() -> Iterator[list[str]]:
    """``trio-feeds serve-sim`` on ephemeral loopback ports; yields the flags for binance."""
    proc = subprocess.Popen(
        [*CLI, "serve-sim", "--rate", "40"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        info = json.loads(proc.stdout.readline())
        yield [
            "--exchange", "binance", "--symbol", "BTC-USDT", "--channel", "trade",
            "--urls", f"binance={info['urls']['binance']}",
            "--rest-urls", f"binance={info['rest_urls']['binance']}",
        ]  # fmt: skip
    finally:
        proc.kill()
        proc.wait()


def _stream(sink: str, flags: list[str], duration: str = "2") -> Any:
    return subprocess.run(
        [*CLI, "stream", "--duration", duration, "--sink", sink, *flags],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def test_unreachable_redis_sink_warns_summarizes_and_fails(sim: list[str], tmp_path: Path) -> None:
    port = RedisServer(tmp_path / "none").port  # a free port nothing listens on
    sink = f"redis://:{SECRET}@127.0.0.1:{port}/0?close_timeout=0.2&reconnect_delay=0.05"
    proc = _stream(sink, sim)
    assert proc.returncode == 1, proc.stderr
    err = proc.stderr
    assert SECRET not in err and "Traceback" not in err
    assert f"sink redis://***@127.0.0.1:{port}/0 is down" in err
    assert f"sink redis://***@127.0.0.1:{port}/0: sent 0, dropped " in err
    assert "nothing reached the sink" in err


def test_password_protected_redis(sim: list[str], tmp_path: Path) -> None:
    exe = redis_server_path()
    if exe is None:
        pytest.skip("redis-server is not installed")
    port = RedisServer(tmp_path / "pw").port
    server = subprocess.Popen(
        [exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--requirepass", SECRET, "--dir", str(tmp_path)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while subprocess.run(
            ["redis-cli", "-p", str(port), "-a", SECRET, "--no-auth-warning", "ping"],
            capture_output=True, text=True,
        ).stdout.strip() != "PONG":  # fmt: skip
            assert time.monotonic() < deadline, "redis-server did not start"
            time.sleep(0.05)
        refused = _stream(f"redis://127.0.0.1:{port}/0?close_timeout=0.2", sim)
        assert refused.returncode == 1, refused.stderr
        assert "is down" in refused.stderr and "Authentication" in refused.stderr
        assert "sent 0, dropped" in refused.stderr
        ok = _stream(f"redis://:{SECRET}@127.0.0.1:{port}/0", sim)
        assert ok.returncode == 0, ok.stderr
        assert ", dropped 0, errors 0" in ok.stderr and SECRET not in ok.stderr
        assert "is down" not in ok.stderr
    finally:
        server.kill()
        server.wait()


def test_file_sink_summary(sim: list[str], tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    proc = _stream(str(out), sim, duration="1.5")
    assert proc.returncode == 0, proc.stderr
    lines = out.read_bytes().splitlines()
    assert f"trio-feeds: sink {out}: sent {len(lines)}, dropped 0, errors 0" in proc.stderr


def _read_pty(fd: int, proc: subprocess.Popen[bytes]) -> bytes:
    out = b""
    while True:
        ready, _, _ = select.select([fd], [], [], 0.1)
        if ready:
            try:
                chunk = os.read(fd, 4096)
            except OSError:  # EIO: the other side closed
                break
            if not chunk:
                break
            out += chunk
        elif proc.poll() is not None:
            break
    return out


def test_record_progress_on_a_terminal_only(sim: list[str], tmp_path: Path) -> None:
    path = tmp_path / "p.tfrec.gz"
    args = [*CLI, "record", "--out", str(path), "--duration", "2.5", *sim]
    main, other = pty.openpty()
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=other)
    os.close(other)
    try:
        shown = _read_pty(main, proc)
    finally:
        os.close(main)
    assert proc.wait(timeout=60) == 0, shown
    text = shown.decode()
    assert f"\r\x1b[Krecording {path}: " in text
    assert " records, " in text and " raw), 0:00:0" in text
    assert f"recorded to {path}: " in text
    quiet = subprocess.run(args, capture_output=True, text=True, timeout=60)
    assert quiet.returncode == 0, quiet.stderr
    assert "\r" not in quiet.stderr and " raw)" not in quiet.stderr
    assert f"recorded to {path}: " in quiet.stderr


def test_stream_exports_sink_metrics(sim: list[str], tmp_path: Path) -> None:
    import httpx

    out = tmp_path / "m.jsonl"
    proc = subprocess.Popen(
        [*CLI, "stream", "--duration", "30", "--monitor-port", "0", "--sink", str(out), *sim],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()
        assert line.startswith("monitor: "), line
        metrics_url = line.split()[-1]
        deadline = time.monotonic() + 30
        while True:
            text = httpx.get(metrics_url, timeout=5).text
            sent = [x for x in text.splitlines() if x.startswith("trio_feeds_sink_sent_total")]
            if sent and float(sent[0].split()[-1]) > 0:
                break
            assert time.monotonic() < deadline, text
            time.sleep(0.2)
        assert f'trio_feeds_sink_up{{sink="{out}"}} 1.0' in text
        assert f'trio_feeds_sink_dropped_total{{sink="{out}"}} 0.0' in text
    finally:
        proc.kill()
        proc.wait()
