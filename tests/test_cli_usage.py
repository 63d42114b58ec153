"""The command line as a new user meets it: bad values are one line and exit 2 before anything
connects, ``… | head`` ends quietly, ``health`` takes the URL ``stream`` prints, the common
``open_feed`` options have flags, symbols and exchange names are read the way users type
them.  Exchanges come from the registry: nothing here depends on which are built in."""

from __future__ import annotations

import http.server
import json
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import trio_feeds
from trio_feeds import exchanges
from trio_feeds.ops.cli import build_parser, main
from trio_feeds.ops.cli._health import health_url
from trio_feeds.ops.cli._options import feed_config
from trio_feeds.ops.cli._sim import simulated_exchanges

CLI = [sys.executable, "-m", "trio_feeds"]
SIMULATED = simulated_exchanges()
FIRST = SIMULATED[0]
#: the simulated exchanges that list spot pairs (binance-usdm lists only perpetuals)
SPOT = [n for n in SIMULATED if not getattr(exchanges.get(n).adapter, "perpetual", False)]


def _run(*args: str, timeout: float = 30, env: dict[str, str] | None = None) -> Any:
    return subprocess.run(
        [*CLI, *args], capture_output=True, text=True, timeout=timeout,
        env={**os.environ, **(env or {})},
    )  # fmt: skip


def _one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("trio-feeds: "), err
    assert "Traceback" not in err
    return lines[0]


@pytest.fixture
def busy_port() -> Iterator[int]:
    """A loopback port something already listens on."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    yield sock.getsockname()[1]
    sock.close()


def _in_process(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse
        code = int(exc.code or 0)
    return code, capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["stream", "--duration", "-5"], ["--duration", "'-5'", ">= 0"]),
        (["record", "--out", "x", "--duration", "nan"], ["--duration", "finite"]),
        (["demo", "--duration", "0"], ["--duration", "> 0"]),
        (["serve-sim", "--rate", "0"], ["--rate", "> 0"]),
        (["stream", "--exchange", "kraken"], ["kraken", "accepted values"]),
        (["stream", "--exchange", "okk"], ["'okk'"]),
        (["serve-sim", "--exchange", "kraken"], ["kraken"]),
        (["stream", "--symbol", "BTC USDT"], ["'BTC USDT'", "BASE-QUOTE"]),
        (["stream", "--symbol", "BTC/USDT:USDT"], ["BTC-USDT-PERP", "lists spot pairs"]),
        (["stream", "--symbol", "XYZABC"], ["'XYZABC'", "quote asset"]),
        (["stream", "--symbol", ","], ["--symbol", "empty"]),
        (["stream", "--channel", "news"], ["'news'"]),
        (["stream", "--primary", "kraken"], ["--primary", "'kraken'"]),
        (["stream", "--stale-after", "0"], ["--stale-after", "> 0"]),
        (["stream", "--book-depth", "0"], ["--book-depth", ">= 1"]),
        (["stream", "--max-reconnect-attempts", "-1"], ["--max-reconnect-attempts"]),
        (["stream", "--standby", "warm"], ["--standby", "'warm'"]),
        (["stream", "--urls", "nothing"], ["--urls", "EXCHANGE=URL"]),
        (["stream", "--urls", "kraken=ws://127.0.0.1:1"], ["kraken"]),
        (["stream", "--monitor-port", "70000"], ["--monitor-port", "0-65535"]),
        (["stream", "--config", "/nonexistent/feeds.toml"], ["cannot read", "feeds.toml"]),
        (["health", "--url", "http://127.0.0.1:9", "--timeout", "0"], ["--timeout"]),
        (["replay", "x.gz", "--speed", "0"], ["--speed", "> 0"]),
        (["replay", "/nonexistent/x.gz"], ["x.gz"]),
        (["stream", "--output", "xml"], ["--output", "'xml'"]),
        (["bogus"], ["'bogus'"]),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    argv: list[str], words: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    code, err = _in_process(argv, capsys)
    assert code == 2
    line = _one_line(err)
    for word in words:
        assert word in line


def test_a_port_in_use_is_one_line_and_exit_2(busy_port: int) -> None:
    streamed = _run("stream", "--monitor-port", str(busy_port), "--duration", "1",
                    "--urls", f"{FIRST}=ws://127.0.0.1:9")  # fmt: skip
    assert streamed.returncode == 2
    assert f"--monitor-port {busy_port}" in _one_line(streamed.stderr)
    served = _run("serve-sim", f"--{FIRST}-rest-port", str(busy_port))
    assert served.returncode == 2
    assert f"--{FIRST}-rest-port {busy_port}" in _one_line(served.stderr)
    assert "in use" in served.stderr
    host = _run("serve-sim", "--host", "192.0.2.1")  # TEST-NET-1: not an address of ours
    assert host.returncode == 2 and "--host" in _one_line(host.stderr)


def test_warnings_are_one_line_too(capsys: pytest.CaptureFixture[str],
                                   monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    monkeypatch.setenv("MAX_SOURCE_LATENCY", "20")
    monkeypatch.setenv("TRIO_FEEDS_SYMBOL", "ETH-USDT")
    code, err = _in_process(["stream", "--exchange", "kraken"], capsys)
    assert code == 2 and "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 3 and all(line.startswith("trio-feeds: ") for line in lines)
    assert "warning: MAX_SOURCE_LATENCY='20' is 20 milliseconds" in err
    assert "warning: unknown environment variable TRIO_FEEDS_SYMBOL" in err


def test_help_shows_every_flag_and_version_is_there() -> None:
    stream = build_parser().parse_args
    help_text = _run("stream", "--help").stdout
    for flag in ("--urls", "--rest-urls", "--stale-after", "--no-failover", "--standby",
                 "--book-depth", "--max-reconnect-attempts", "--output", "--sink",
                 "--monitor-port", "--config", "--duration"):  # fmt: skip
        assert flag in help_text
    assert "--output" in _run("replay", "--help").stdout
    for name in SIMULATED:
        assert f"--{name}-port" in _run("serve-sim", "--help").stdout
    version = _run("--version")
    assert version.returncode == 0 and trio_feeds.__version__ in version.stdout
    assert stream(["replay", "f", "--json"]).output == "json"
    assert stream(["replay", "f", "--quiet"]).output == "none"


def test_flags_reach_the_feed_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in list(os.environ):
        if var.startswith("TRIO_FEEDS_") or var in ("PRIMARY_EXCHANGE", "MAX_SOURCE_LATENCY"):
            monkeypatch.delenv(var)
    names = exchanges.names()[:2]
    args = build_parser().parse_args(
        ["stream", "--exchange", ",".join(n.upper() for n in names), "--symbol", "btc/usdt",
         "--symbol", "ETHBTC,sol-usdc", "--channel", "trade,quote", "--primary", names[-1].upper(),
         "--no-failover", "--standby", "cold", "--stale-after", "3", "--book-depth", "5",
         "--max-reconnect-attempts", "0", "--urls", f"{names[0]}=ws://127.0.0.1:1"]
    )  # fmt: skip
    config = feed_config(args)
    assert config.exchanges == tuple(names) and config.primary == names[-1]
    assert config.symbols == ("BTC-USDT", "ETH-BTC", "SOL-USDC")
    assert config.channels == ("trade", "quote") and config.failover is False
    assert config.options == {
        "standby": "cold", "stale_after": 3.0, "book_depth": 5, "max_reconnect_attempts": 0,
        "urls": {names[0]: "ws://127.0.0.1:1"},
    }  # fmt: skip


@pytest.mark.parametrize(
    "given",
    ["http://127.0.0.1:8000", "http://127.0.0.1:8000/", "127.0.0.1:8000",
     "http://127.0.0.1:8000/api/websocket/health", "http://127.0.0.1:8000/metrics",
     "http://127.0.0.1:8000/api/websocket/sources/"],
)  # fmt: skip
def test_health_url_accepts_the_base_or_an_endpoint(given: str) -> None:
    assert health_url(given) == "http://127.0.0.1:8000/api/websocket/health"


@pytest.fixture
def answering() -> Iterator[str]:
    """An HTTP server answering 404 with a JSON body, like a monitor that is not there."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = json.dumps({"healthy": True}).encode()
            self.send_response(404)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_health_on_a_non_monitor_answer_is_exit_2_with_the_status(answering: str) -> None:
    proc = _run("health", "--url", answering)
    assert proc.returncode == 2
    assert "HTTP 404" in _one_line(proc.stderr)


# -- against serve-sim --------------------------------------------------------------------


@pytest.fixture(scope="module")
def sim() -> Iterator[dict[str, Any]]:
    proc = subprocess.Popen(
        [*CLI, "serve-sim", "--rate", "40", "--symbol", "BTC-USDT,ETH-USDT"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stdout is not None
    info = json.loads(proc.stdout.readline())
    info["flags"] = [
        f"--{kind.replace('_', '-')}={name}={url}"
        for kind in ("urls", "rest_urls")
        for name, url in info[kind].items()
    ]
    yield info
    proc.terminate()
    proc.communicate(timeout=15)


def test_serve_sim_serves_every_simulated_exchange(sim: dict[str, Any]) -> None:
    assert sorted(sim["urls"]) == sorted(SIMULATED) == sorted(sim["rest_urls"])


def test_stream_reads_symbols_and_exchange_names_as_typed(sim: dict[str, Any]) -> None:
    names = SPOT[:2]
    proc = _run(
        "stream", "--exchange", ",".join(n.upper() for n in names), "--symbol", "btcusdt",
        "--symbol", "ETH/USDT", "--channel", "trade", "--conflict", "latest", "--duration", "2",
        *sim["flags"],
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    trades = [x for x in map(trio_feeds.loads, proc.stdout.splitlines()) if x.kind == "trade"]
    assert {t.symbol for t in trades} == {"BTC-USDT", "ETH-USDT"}
    assert {t.exchange for t in trades} == set(names)


def test_stream_into_head_ends_quietly(sim: dict[str, Any]) -> None:
    for output in ("json", "text"):
        stream = subprocess.Popen(
            [*CLI, "stream", "--exchange", FIRST, "--channel", "trade,quote", "--output", output,
             *sim["flags"]],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )  # fmt: skip
        head = subprocess.run(["head", "-n", "3"], stdin=stream.stdout, capture_output=True,
                              timeout=30)  # fmt: skip
        assert stream.stdout is not None
        stream.stdout.close()  # only head reads it: when head exits, the pipe is broken
        _out, err = stream.communicate(timeout=30)
        assert len(head.stdout.splitlines()) == 3
        assert stream.returncode == 0, err
        assert err == b"", err


def test_stream_prints_a_monitor_url_health_accepts(sim: dict[str, Any]) -> None:
    stream = subprocess.Popen(
        [*CLI, "stream", "--exchange", FIRST, "--monitor-port", "0", "--duration", "20",
         *sim["flags"]],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert stream.stderr is not None
        endpoint = stream.stderr.readline().split()[1]  # "monitor: <health URL>  <metrics>"
        assert endpoint.endswith("/api/websocket/health")
        for url in (endpoint, endpoint.rsplit("/api/", 1)[0]):
            proc = _run("health", "--url", url, "--json")
            assert proc.returncode in (0, 1), proc.stderr
            assert FIRST in json.loads(proc.stdout)["sources"]
    finally:
        stream.terminate()
        stream.communicate(timeout=15)


def test_record_then_replay_into_head(sim: dict[str, Any], tmp_path: Path) -> None:
    out = tmp_path / "head.tfrec.gz"
    rec = _run("record", "--out", str(out), "--exchange", FIRST, "--symbol", "BTC/USDT",
               "--channel", "trade", "--duration", "1.5", *sim["flags"])  # fmt: skip
    assert rec.returncode == 0, rec.stderr
    replay = subprocess.Popen([*CLI, "replay", str(out), "--output", "json"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
    head = subprocess.run(["head", "-c", "10"], stdin=replay.stdout, capture_output=True,
                          timeout=30)  # fmt: skip
    assert replay.stdout is not None
    replay.stdout.close()
    _out, err = replay.communicate(timeout=30)
    assert len(head.stdout) == 10
    assert replay.returncode == 0 and b"Traceback" not in err


def test_demo_into_head_ends_quietly() -> None:
    demo = subprocess.Popen([*CLI, "demo", "--duration", "6"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)  # fmt: skip
    head = subprocess.run(["head", "-n", "2"], stdin=demo.stdout, capture_output=True,
                          timeout=60)  # fmt: skip
    assert demo.stdout is not None
    demo.stdout.close()
    _out, err = demo.communicate(timeout=60)
    assert len(head.stdout.splitlines()) == 2
    assert demo.returncode == 0 and b"Traceback" not in err, err
