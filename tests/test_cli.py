"""The command line: the offline demo shows a failover and ends cleanly."""

from __future__ import annotations

import subprocess
import sys


def test_demo_runs_offline_and_shows_a_failover_drill() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "trio_feeds", "demo", "--duration", "8"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    from trio_feeds.exchanges import DEMO_EXCHANGES

    primary, standby = DEMO_EXCHANGES  # what the README promises: Binance, then OKX
    assert primary in out and standby in out
    assert "demo finished" in out
    # the drill: the primary drops, the standby takes over, the primary returns
    assert f"{primary}->{standby}" in out
    assert f"{standby}->{primary}" in out


def test_cli_rejects_a_bad_choice_with_a_clear_message() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "trio_feeds", "stream", "--conflict", "median"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode != 0
    assert "median" in proc.stderr and "conflict" in proc.stderr


# -- the operations subcommands: serve-sim, stream, record, replay, health ------------------
import json  # noqa: E402
import os  # noqa: E402
import signal  # noqa: E402
from collections.abc import Iterator  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import pytest  # noqa: E402
import trio  # noqa: E402

import trio_feeds  # noqa: E402
from trio_feeds.ops.monitoring import serve_monitoring  # noqa: E402
from trio_feeds.testing import open_simulated_exchanges  # noqa: E402

CLI = [sys.executable, "-m", "trio_feeds"]


def _run(*args: str, timeout: float = 30, env: dict[str, str] | None = None) -> Any:
    return subprocess.run(
        [*CLI, *args], capture_output=True, text=True, timeout=timeout,
        env={**os.environ, **(env or {})},
    )  # fmt: skip


@pytest.fixture(scope="module")
def sim() -> Iterator[dict[str, Any]]:
    """``trio-feeds serve-sim`` on ephemeral loopback ports."""
    proc = subprocess.Popen(
        [*CLI, "serve-sim", "--rate", "40"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stdout is not None
    info = json.loads(proc.stdout.readline())
    info["proc"] = proc
    info["flags"] = [
        arg
        for ex in ("binance", "okx")
        for arg in (
            "--urls", f"{ex}={info['urls'][ex]}", "--rest-urls", f"{ex}={info['rest_urls'][ex]}",
        )
    ]  # fmt: skip
    yield info
    if proc.poll() is None:  # pragma: no cover - the last test stops it
        proc.kill()
        proc.wait()


def test_serve_sim_prints_its_urls(sim: dict[str, Any]) -> None:
    for ex in ("binance", "okx"):
        assert sim["urls"][ex].startswith("ws://127.0.0.1:")
        assert sim["rest_urls"][ex].startswith("http://127.0.0.1:")


def test_stream_json_with_monitor_against_serve_sim(sim: dict[str, Any]) -> None:
    proc = _run(
        "stream", "--exchange", "binance", "--exchange", "okx", "--symbol", "BTC-USDT",
        "--channel", "trade", "--channel", "quote", "--conflict", "latest", "--primary", "okx",
        "--output", "json", "--duration", "2", "--monitor-port", "0", *sim["flags"],
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    items = [trio_feeds.loads(line) for line in proc.stdout.splitlines()]
    kinds = {(getattr(x, "exchange", None), x.kind) for x in items}
    assert ("binance", "trade") in kinds and ("okx", "quote") in kinds
    assert "monitor: http://127.0.0.1:" in proc.stderr


def test_stream_table_output(sim: dict[str, Any]) -> None:
    proc = _run(
        "stream", "--exchange", "okx", "--output", "table", "--duration", "1.5", *sim["flags"][4:],
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "okx" in proc.stdout and "streaming" in proc.stdout


def test_stream_to_a_sink(sim: dict[str, Any], tmp_path: Path) -> None:
    out = tmp_path / "records.jsonl"
    proc = _run(
        "stream", "--exchange", "binance", "--channel", "trade", "--sink", str(out),
        "--duration", "1.5", *sim["flags"][:4],
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    lines = out.read_text().splitlines()
    assert any(json.loads(line).get("kind") == "trade" for line in lines)


def test_stream_config_file_and_environment(sim: dict[str, Any], tmp_path: Path) -> None:
    config = tmp_path / "feeds.toml"
    config.write_text('exchanges = ["okx"]\nchannels = ["quote"]\nsymbols = ["ETH-USDT"]\n')
    proc = _run("stream", "--config", str(config), "--duration", "1.5", *sim["flags"][4:])
    assert proc.returncode == 0, proc.stderr
    items = [trio_feeds.loads(line) for line in proc.stdout.splitlines()]
    quotes = [x for x in items if x.kind == "quote"]
    assert quotes and {(q.exchange, q.symbol) for q in quotes} == {("okx", "ETH-USDT")}
    bad = _run("stream", "--config", str(config), env={"CONFLICT_RESOLUTION": "median"})
    assert bad.returncode == 2
    assert "CONFLICT_RESOLUTION" in bad.stderr and "primary, latest, average" in bad.stderr


def test_record_then_replay(sim: dict[str, Any], tmp_path: Path) -> None:
    out = tmp_path / "cli.tfrec.gz"
    proc = _run(
        "record", "--out", str(out), "--exchange", "binance", "--exchange", "okx",
        "--symbol", "BTC-USDT", "--channel", "trade", "--conflict", "latest",
        "--duration", "1.5", *sim["flags"],
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "recorded to" in proc.stderr and out.exists()
    replayed = _run("replay", str(out), "--json")
    assert replayed.returncode == 0, replayed.stderr
    items = [trio_feeds.loads(line) for line in replayed.stdout.splitlines()]
    trades = [x for x in items if x.kind == "trade"]
    assert {t.exchange for t in trades} == {"binance", "okx"}
    assert "replayed" in replayed.stderr
    # deterministic: a second replay, at double speed, gives the same records
    again = _run("replay", str(out), "--json", "--speed", "2")
    assert [trio_feeds.loads(x) for x in again.stdout.splitlines() if '"trade"' in x] == trades
    human = _run("replay", str(out))
    assert human.returncode == 0 and "trade" in human.stdout and "BTC-USDT" in human.stdout
    assert _run("replay", str(tmp_path / "missing.gz")).returncode == 2


def test_stream_into_a_reader_that_never_reads_keeps_running_and_ends(
    sim: dict[str, Any],
) -> None:
    """Standard output is a pipe nobody reads.  Once the pipe is full, the process must still
    serve its monitor, and --duration must still end it (exit 0, a note on stderr)."""
    import fcntl
    import termios
    import time

    import httpx

    r, w = os.pipe()
    proc = subprocess.Popen(
        [*CLI, "stream", "--exchange", "binance", "--exchange", "okx", "--symbol", "BTC-USDT",
         "--symbol", "ETH-USDT", "--channel", "trade", "--channel", "quote", "--channel", "book",
         "--conflict", "latest", "--duration", "8", "--monitor-port", "0", *sim["flags"]],
        stdout=w, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    os.close(w)
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()
        url = line.split()[1].rsplit("/api/", 1)[0]
        capacity = fcntl.fcntl(r, 1032)  # F_GETPIPE_SZ
        queued = bytearray(4)
        history: list[int] = []
        deadline = time.monotonic() + 6
        while time.monotonic() < deadline:
            fcntl.ioctl(r, termios.FIONREAD, queued)
            history.append(int.from_bytes(queued, "little"))
            # full: more than half the pipe, and nothing more gets in for a second
            if history[-1] > capacity // 2 and len(set(history[-6:])) == 1 and len(history) > 6:
                break
            time.sleep(0.2)
        else:
            pytest.fail(f"the pipe never filled up: {history}")
        # the writer is stuck on the full pipe; the event loop is not
        answer = httpx.get(url + "/api/websocket/health", timeout=5)
        assert answer.status_code in (200, 503) and "sources" in answer.json()
        _out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(r)
    assert proc.returncode == 0, err
    assert "standard output was not being read" in err
    assert "Traceback" not in err


def test_no_password_in_cli_output_or_recordings(sim: dict[str, Any], tmp_path: Path) -> None:
    secret, redis_secret = "Ws-S3cret-pw", "Redis-S3cret-pw"
    flags = [
        f.replace("://", f"://alice:{secret}@") if "=" in f and "://" in f else f
        for f in sim["flags"]
    ]
    sink = f"redis://:{redis_secret}@127.0.0.1:1/0"  # nothing listens: the sink retries
    streamed = _run(
        "stream", "--exchange", "binance", "--channel", "trade", "--duration", "2",
        "--monitor-port", "0", "--sink", sink, *flags[:4],
    )  # fmt: skip
    bad_sink = _run("stream", "--sink", f"redis://:{redis_secret}@127.0.0.1:6379/nodb", *flags)
    bad_url = _run("stream", "--urls", f"binance=ws://alice:{secret}@h:1/path", "--duration", "1")
    out = tmp_path / "secret.tfrec.gz"
    recorded = _run(
        "record", "--out", str(out), "--exchange", "binance", "--channel", "trade",
        "--duration", "1.5", *flags[:4],
    )  # fmt: skip
    printed = _run("stream", "--exchange", "binance", "--duration", "1.5", *flags[:4])
    # nothing reached the sink: said on stderr (redacted), and exit code 1 (issue 18)
    assert streamed.returncode == 1, streamed.stderr
    assert "nothing reached the sink" in streamed.stderr and "redis://***@" in streamed.stderr
    assert bad_sink.returncode == 2 and "database number" in bad_sink.stderr
    assert bad_url.returncode == 2 and "alice:***@" in bad_url.stderr
    assert recorded.returncode == 0, recorded.stderr
    assert '"connected"' in printed.stdout and "alice:***@" in printed.stdout
    import gzip

    texts = [out.read_bytes() and gzip.decompress(out.read_bytes()).decode()]
    for proc in (streamed, bad_sink, bad_url, recorded, printed):
        texts += [proc.stdout, proc.stderr]
    for text in texts:
        assert secret not in text and redis_secret not in text


def test_stream_ends_cleanly_on_ctrl_c(sim: dict[str, Any]) -> None:
    proc = subprocess.Popen(
        [*CLI, "stream", "--exchange", "binance", *sim["flags"][:4]],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stdout is not None
    assert proc.stdout.readline()  # streaming
    proc.send_signal(signal.SIGINT)
    _out, err = proc.communicate(timeout=15)
    assert proc.returncode == 0, err
    assert "Traceback" not in err


def test_serve_sim_ends_cleanly_on_ctrl_c(sim: dict[str, Any]) -> None:
    proc = sim["proc"]
    proc.send_signal(signal.SIGINT)
    _out, err = proc.communicate(timeout=15)
    assert proc.returncode == 0, err
    assert "Traceback" not in err


async def test_health_command() -> None:
    async def health(*args: str) -> Any:
        return await trio.run_process(
            [*CLI, "health", *args], capture_stdout=True, capture_stderr=True, check=False
        )

    async with (
        open_simulated_exchanges(["BTC-USDT"], memory=True, rate=40) as sims,
        trio_feeds.open_feed(
            ["binance"], ["BTC-USDT"], urls={"binance": sims.urls["binance"]},
            connector=sims.connector, clock=sims.clock, stale_after=1.0,
        ) as feed,
        trio.open_nursery() as nursery,
    ):  # fmt: skip
        nursery.start_soon(_consume, feed)
        url = await nursery.start(serve_monitoring, feed)
        with trio.fail_after(5):
            while not feed.health().healthy:  # noqa: ASYNC110
                await trio.sleep(0.02)
        ok = await health("--url", url, "--json")
        assert ok.returncode == 0, ok.stderr
        assert json.loads(ok.stdout)["healthy"] is True
        table = await health("--url", url)
        assert table.returncode == 0 and b"binance" in table.stdout
        sims.binance.refuse_connections(100)
        sims.binance.drop()
        with trio.fail_after(5):
            while feed.health().healthy:  # noqa: ASYNC110
                await trio.sleep(0.02)
        bad = await health("--url", url)
        assert bad.returncode == 1
        assert b"healthy: False" in bad.stdout
        nursery.cancel_scope.cancel()
    gone = await health("--url", url, "--timeout", "2")
    assert gone.returncode == 2 and b"cannot read" in gone.stderr


async def _consume(feed: trio_feeds.Feed) -> None:
    async for _ in feed:
        pass
