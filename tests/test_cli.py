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
    assert "binance" in out and "okx" in out
    assert "demo finished" in out
    # the drill: the primary drops, the standby takes over, the primary returns
    assert "binance->okx" in out
    assert "okx->binance" in out


def test_cli_rejects_a_bad_choice_with_a_clear_message() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "trio_feeds", "stream", "--conflict", "median"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode != 0
    assert "median" in proc.stderr and "conflict" in proc.stderr
