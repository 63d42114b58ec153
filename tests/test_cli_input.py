"""``trio-feeds health`` and ``replay`` on input nobody should send: unexpected JSON from a
"monitor", crafted or damaged recordings.  Exit code 2 and one line on stderr, never a
traceback."""

from __future__ import annotations

import base64
import gzip
import http.server
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import trio
import trio.testing
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import trio_feeds
import trio_feeds.ops.cli as cli
from trio_feeds.testing import open_simulated_exchanges

SCALARS = st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.floats()
JSON = st.recursive(
    SCALARS | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner,
                                                                 max_size=4),
    max_leaves=12,
)  # fmt: skip


def _one_line_error(code: int, err: str) -> None:
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("trio-feeds: "), err
    assert "Traceback" not in err


class _Answer:
    status_code = 200

    def __init__(self, data: Any) -> None:
        self._data = data

    def json(self) -> Any:
        return self._data


def _health_with(
    data: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *flags: str
) -> tuple[int, str, str]:
    monkeypatch.setattr(httpx, "get", lambda url, timeout: _Answer(data))
    code = cli.main(["health", "--url", "http://127.0.0.1:9", *flags])
    out, err = capsys.readouterr()
    return code, out, err


@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture],
          deadline=None)  # fmt: skip
@given(
    data=JSON
    | st.fixed_dictionaries({"healthy": st.booleans(), "sources": JSON})
    | st.fixed_dictionaries(
        {"healthy": st.booleans(),
         "sources": st.dictionaries(st.text(max_size=8), JSON | st.dictionaries(
             st.sampled_from(["latency", "state", "errors", "last_error"]), JSON), max_size=3)}
    ),
    as_json=st.booleans(),
)  # fmt: skip
def test_health_on_any_json_answers_with_an_exit_code(
    data: Any, as_json: bool, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _out, err = _health_with(data, monkeypatch, capsys, *(["--json"] if as_json else []))
    if code == 2:
        _one_line_error(code, err)
        assert "did not answer a trio_feeds health report" in err
    else:
        assert code == (0 if data["healthy"] else 1)
        assert not err


def test_health_of_a_real_health_report_still_works(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    report = {"healthy": True, "active_source": "binance", "sources": {
        "binance": {"state": "streaming", "connected": True, "latency": 0.012,
                    "messages_received": 5, "errors": 0, "reconnects": 0, "gaps": 0,
                    "last_error": "[bold]x[/bold]"}}}  # fmt: skip
    code, out, _err = _health_with(report, monkeypatch, capsys)
    assert code == 0 and "12.00" in out and "[bold]x[/bold]" in out


@pytest.fixture
def odd_monitor() -> Iterator[str]:
    """An HTTP server that answers every GET with a JSON list."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = b"[1, 2, 3]"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_health_command_against_a_server_answering_odd_json(odd_monitor: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "trio_feeds", "health", "--url", odd_monitor],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    _one_line_error(proc.returncode, proc.stderr)
    assert "expected a JSON object, got list" in proc.stderr


# -- replay -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def recording(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    """The entries of a small real recording: two exchanges, WebSocket chunks and REST."""
    path = tmp_path_factory.mktemp("rec") / "small.tfrec.gz"

    async def record() -> None:
        async with (
            open_simulated_exchanges(["BTC-USDT"], memory=True, rate=10) as sims,
            trio_feeds.record(
                path, ["binance", "okx"], ["BTC-USDT"], ["trade", "book"], conflict="latest",
                urls=sims.urls, rest_urls=sims.rest_urls, connector=sims.connector,
                http_transport=sims.http_transport, clock=sims.clock,
            ) as feed,
        ):  # fmt: skip
            with trio.move_on_after(1.5):
                async for _ in feed:
                    pass

    trio.run(record, clock=trio.testing.MockClock(autojump_threshold=0))
    return [orjson.loads(line) for line in gzip.decompress(path.read_bytes()).splitlines()]


def _replay(path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = cli.main(["replay", str(path), "--quiet"],
                    clock=trio.testing.MockClock(autojump_threshold=0))  # fmt: skip
    return code, capsys.readouterr().err


def test_the_untouched_recording_replays(
    recording: list[dict[str, Any]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert {e["type"] for e in recording} >= {"header", "open", "chunk", "rest", "send"}
    path = tmp_path / "same.tfrec.gz"
    path.write_bytes(gzip.compress(b"\n".join(orjson.dumps(e) for e in recording)))
    code, err = _replay(path, capsys)
    assert code == 0 and "replayed" in err and "trade" in err


@settings(max_examples=100, suppress_health_check=[HealthCheck.function_scoped_fixture],
          deadline=None)  # fmt: skip
@given(data=st.data())
def test_a_crafted_recording_gives_exit_2_and_one_line(
    data: st.DataObject,
    recording: list[dict[str, Any]],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    entries = [dict(e) for e in recording]
    how = data.draw(st.sampled_from(["set", "delete", "replace", "feed", "bytes", "valid"]))
    i = data.draw(st.integers(0, len(entries) - 1))
    if how == "valid":  # well-typed but wrong values: these reach the engine
        entry = entries[data.draw(st.integers(1, len(entries) - 1))]
        field = data.draw(st.sampled_from(["t", "conn", "data", "status", "body"]))
        if field == "t":
            entry["t"] = data.draw(st.floats(-1e12, 1e12))
        elif field == "conn" and "conn" in entry:
            entry["conn"] = data.draw(st.integers(0, 4))
        elif field in ("data", "body") and field in entry:
            entry[field] = base64.b64encode(data.draw(st.binary(max_size=64))).decode()
        elif field == "status" and "status" in entry:
            entry["status"] = data.draw(st.integers(100, 599))
    elif how == "set":
        key = data.draw(st.sampled_from([*sorted(entries[i]), "type", "t", "conn"]))
        entries[i][key] = data.draw(JSON)
    elif how == "delete" and entries[i]:
        del entries[i][data.draw(st.sampled_from(sorted(entries[i])))]
    elif how == "replace":
        entries[i] = data.draw(JSON)
    elif how == "feed":
        key = data.draw(st.sampled_from(["exchanges", "symbols", "channels", "urls", "seed",
                                         "conflict", "primary", "book_depth", "stale_after",
                                         "rest_urls", "standby", "nonsense"]))  # fmt: skip
        entries[0]["feed"] = {**entries[0].get("feed", {}), key: data.draw(JSON)}
    raw = gzip.compress(b"\n".join(orjson.dumps(e)
                                   for e in entries))  # fmt: skip
    if how == "bytes":
        cut = data.draw(st.integers(0, len(raw)))
        raw = raw[:cut] + data.draw(st.binary(max_size=20))
    path = tmp_path / "crafted.tfrec.gz"
    path.write_bytes(raw)
    code, err = _replay(path, capsys)
    event(f"{how}: exit {code}")
    if code != 0:
        _one_line_error(code, err)
