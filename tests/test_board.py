"""The live table of ``demo`` / ``stream --output table``: one row per (source, symbol), so
prices of different symbols are never mixed, within 80 columns."""

from __future__ import annotations

import io
from types import SimpleNamespace
from typing import Any

from rich.console import Console

from trio_feeds import Quote, Trade
from trio_feeds.ops.cli._board import _Board


def status(state: str) -> Any:
    return SimpleNamespace(state=state, latency=0.0012, errors=1, reconnects=2, gaps=3)


class FakeFeed:
    def health(self) -> Any:
        return SimpleNamespace(
            healthy=True,
            active_source="okx",
            sources={"binance": status("streaming"), "okx": status("streaming")},
        )


def render(board: _Board) -> list[str]:
    out = io.StringIO()
    Console(file=out, width=80, color_system=None).print(board.table(FakeFeed(), "trio_feeds"))  # type: ignore[arg-type]
    return out.getvalue().splitlines()


def test_one_row_per_source_and_symbol_with_that_symbols_price() -> None:
    board = _Board(["binance", "okx"])
    board.add(Trade("binance", "BTC-USDT", 1, 1.0, 60000.5, 1.0, "buy", "1"))
    board.add(Trade("binance", "ETH-USDT", 1, 1.0, 3000.25, 1.0, "buy", "2"))
    board.add(Quote("okx", "ETH-USDT", 1, 1.0, 3000.0, 1.0, 3001.0, 1.0))
    lines = render(board)
    assert all(len(line) <= 80 for line in lines), lines
    btc = next(line for line in lines if "BTC-USDT" in line)
    eth_binance = next(line for line in lines if "ETH-USDT" in line and "3,000.25" in line)
    assert "60,000.50" in btc and "3,000" not in btc
    assert "60,000" not in eth_binance
    okx_line = next(line for line in lines if line.split()[:1] == ["okx"])
    assert "●" in okx_line and "ETH-USDT" in okx_line and "3,000.50" in okx_line
    assert "1/2/3" in btc  # the source's errors/reconnects/gaps, on its first row


def test_the_event_lines_say_when_a_gap_was_filled_or_not() -> None:
    from trio_feeds import GapFilled, SourceEvent

    board = _Board(["binance", "okx"])
    board.add(GapFilled("binance", "BTC-USDT", "trade", 12, 5, "100", "111"))
    board.add(SourceEvent("okx", "gap_not_filled", "history ends before the hole", 6, "too_old"))
    assert list(board.events) == [
        "filled binance BTC-USDT trade: 12 trades over REST",
        "not filled okx: too_old: history ends before the hole",
    ]
