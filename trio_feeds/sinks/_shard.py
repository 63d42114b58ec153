"""Stable assignment of symbols to shards (rendezvous hashing)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from trio_feeds.core.errors import ConfigError
from trio_feeds.core.symbols import canonical


def _check(shard_count: object, shard_index: object | None = None) -> None:
    if isinstance(shard_count, bool) or not isinstance(shard_count, int) or shard_count < 1:
        raise ConfigError(f"shard_count must be a positive int, got {shard_count!r}")
    if shard_index is not None and (
        isinstance(shard_index, bool)
        or not isinstance(shard_index, int)
        or not 0 <= shard_index < shard_count
    ):
        raise ConfigError(
            f"shard_index must be an int in 0..{shard_count - 1} (shard_count={shard_count}), "
            f"got {shard_index!r}"
        )


def _weight(symbol: str, shard: int) -> int:
    digest = hashlib.blake2b(f"{symbol}\x00{shard}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def shard_of(symbol: str, shard_count: int) -> int:
    """The shard (``0 .. shard_count-1``) that owns ``symbol``.

    Rendezvous (highest-random-weight) hashing on the canonical symbol with
    BLAKE2b: the same answer in every process, on every machine, in every
    Python version.  Going from N to N+1 shards moves only the symbols the new
    shard wins (about 1/(N+1) of them); none moves between the old shards.
    """
    _check(shard_count)
    sym = canonical(symbol)
    return max(range(shard_count), key=lambda i: _weight(sym, i))


def shard_symbols(symbols: Iterable[str], shard_index: int, shard_count: int) -> list[str]:
    """The symbols (in their given order) that shard ``shard_index`` of ``shard_count`` owns.

    Every symbol belongs to exactly one shard::

        >>> syms = ["BTC-USDT", "ETH-USDT", "SOL-USDT", "XRP-USDT"]
        >>> sorted(s for i in range(3) for s in shard_symbols(syms, i, 3)) == sorted(syms)
        True
    """
    _check(shard_count, shard_index)
    return [s for s in symbols if shard_of(s, shard_count) == shard_index]
