"""``trio-feeds replay``: a recording through the feed pipeline again."""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from typing import Any

import trio_feeds.core.convert as _convert
from trio_feeds.ops.cli._output import _stdout


async def _replay(args: argparse.Namespace) -> int:
    from trio_feeds.ops.recording import replay

    kinds: Counter[tuple[str, str]] = Counter()
    skipped = 0
    async with _stdout() as out, replay(args.file, args.speed) as feed:
        try:
            async for item in feed:
                kinds[getattr(item, "exchange", "") or "", item.kind] += 1
                if args.output == "json":
                    await out.write(_convert.dumps(item) + b"\n")
                elif args.output == "text":
                    await out.write(_line(item).encode() + b"\n")
        finally:  # also when the reader of stdout went away (``… | head``)
            skipped = feed.replay.skipped
    summary = ", ".join(f"{n} {ex} {k}".replace("  ", " ") for (ex, k), n in sorted(kinds.items()))
    print(f"replayed {args.file}: {summary or 'nothing'}"
          + (f" ({skipped} recorded deliveries skipped)" if skipped else ""),
          file=sys.stderr)  # fmt: skip
    return 0


def _line(item: Any) -> str:
    data = _convert.unstructure(item)
    kind = data.pop("kind")
    exchange = data.pop("exchange", "")
    symbol = data.pop("symbol", "")
    rest = " ".join(f"{k}={v}" for k, v in data.items() if v is not None)
    return f"{kind:<8} {exchange:<8} {symbol:<10} {rest}"
