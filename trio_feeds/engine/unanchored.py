"""Trade gaps that no backfill can fill: they came before any trade of their symbol was
delivered, so there is no trade id to fetch the missed trades from (``"no_trade_yet"``)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from trio_feeds.core.records import SourceEvent

__all__ = ["unanchored"]


def unanchored(
    exchange: str, symbols: Mapping[str, Any], gaps: Iterable[Any], clock: Callable[[], float]
) -> list[SourceEvent]:
    """One ``gap_not_filled`` event per (trade gap, symbol) whose symbol has no trade
    delivered yet (``symbols[symbol].last is None``) and no fill under way; ``symbols`` is a
    :class:`~trio_feeds.engine.backfill.Backfill`'s, ``clock`` its clock (seconds)."""
    out = []
    now = int(clock() * 1000)
    for gap in gaps:
        if gap.kind != "gap" or gap.channel not in ("trade", "*"):
            continue
        for sym, st in symbols.items():
            if gap.symbol in (sym, "*") and st.last is None and st.fill is None:
                detail = (
                    f"{sym} trades of the gap ({gap.reason}) not backfilled: no trade of it "
                    "was delivered before, so there is no trade id to fetch from; the Gap "
                    "stands"
                )
                out.append(SourceEvent(exchange, "gap_not_filled", detail, now, "no_trade_yet"))
    return out
