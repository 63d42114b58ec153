"""Bad data as a fault: what both simulators share for :meth:`corrupt`.

Real exchanges send NaN and negative numbers, ids of the wrong type, broken JSON and
sequence gaps, sometimes in the very first batch of a connection.  ``corrupt`` arms such a
fault on open connections (the next matching frame) or on connections still to come (the
first matching frame of each: their first batch), so the engine's property tests can put
bad input anywhere, first batches included.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import attrs
import orjson

from trio_feeds.simulator.server import SimConnection

__all__ = ["DATA_FAULTS", "DataFaults"]

#: faults every simulator knows; OKX adds "bad_checksum" and "snapshot_and_break"
DATA_FAULTS = ("malformed", "nan", "negative", "bad_trade_id", "gap")


@attrs.define
class _Fault:
    kind: str
    symbol: str | None
    #: armed on a connection not yet opened: "gap" then spares the first book update(s)
    fresh: bool = False
    #: progress of a fresh Binance "gap" (0: before the REST snapshot, 1: after, 2: synced)
    stage: int = 0


class DataFaults:
    """Mixin for a :class:`~trio_feeds.testing.SimulatedExchange`: :meth:`corrupt`."""

    _FAULT_KINDS: tuple[str, ...] = DATA_FAULTS

    def _init_faults(self) -> None:
        self._armed: dict[SimConnection, list[_Fault]] = {}
        self._upcoming: list[list[Any]] = []  # [kind, symbol, connections left]

    def corrupt(
        self,
        fault: str,
        symbol: str | None = None,
        *,
        connection: SimConnection | None = None,
        new_connections: int = 0,
    ) -> None:
        """Corrupt the next matching data frame of ``symbol`` (any symbol if None).

        On every open connection (or only ``connection``); with ``new_connections=n``
        instead, on each of the next ``n`` connections to be opened, whose first matching
        frame then comes in their first batch.  Such a connection that closes before it
        sent a matching frame passes the fault on to the next connection opened.

        ``fault``:

        ``"malformed"``
            the frame is cut in half (invalid JSON).
        ``"nan"`` / ``"negative"``
            a price becomes ``"NaN"`` / a size ``"-5"``.
        ``"bad_trade_id"``
            a trade's id becomes a JSON object ``{"id": 1}``.
        ``"gap"``
            a book update is lost (Binance ``U``/``u``, OKX ``prevSeqId`` break).  On a
            new connection it is the first update after the initial book, so the client
            finds the gap on its first live update.
        ``"bad_checksum"`` (OKX)
            the next ``books`` snapshot carries a wrong non-zero checksum.
        ``"snapshot_and_break"`` (OKX)
            the next ``books`` snapshot is followed at once by an update whose
            ``prevSeqId`` does not chain.
        """
        if fault not in self._FAULT_KINDS:
            raise ValueError(f"unknown fault {fault!r}; choose from {', '.join(self._FAULT_KINDS)}")
        if new_connections:
            self._upcoming.append([fault, symbol, new_connections])
            return
        targets = [connection] if connection is not None else list(self._open_connections())
        for conn in targets:
            self._arm(conn, _Fault(fault, symbol))

    def _open_connections(self) -> Iterable[SimConnection]:
        raise NotImplementedError  # pragma: no cover

    def _arm(self, conn: SimConnection, fault: _Fault) -> None:
        self._armed.setdefault(conn, []).append(fault)

    def _arm_new(self, conn: SimConnection) -> None:
        """A connection opened: arm the faults waiting for new connections."""
        for entry in self._upcoming:
            kind, symbol, left = entry
            if left > 0:
                entry[2] = left - 1
                self._arm(conn, _Fault(kind, symbol, fresh=True))
        self._upcoming = [e for e in self._upcoming if e[2] > 0]

    def _disarm(self, conn: SimConnection) -> None:
        """A connection closed.  Faults armed for it as a *new* connection that never
        found a matching frame (it closed before sending one: a drop right after the
        reconnect, a shard without that channel) go to the next connection opened, so
        ``corrupt(..., new_connections=n)`` always puts its bad data in front of the
        client; faults armed on already-open connections end with them."""
        faults = self._armed.pop(conn, None)
        left = [[f.kind, f.symbol, 1] for f in faults or () if f.fresh]
        if left:
            self._upcoming[:0] = left

    def _peek(self, conn: SimConnection, kinds: Iterable[str], symbol: str) -> _Fault | None:
        """The first fault armed on ``conn`` of one of ``kinds`` for ``symbol``.

        None while ``conn`` is silenced or closing: the frames it would damage are never
        sent, and a fault spent on one would never reach the client."""
        if conn.silenced or not conn.is_open:
            return None
        for f in self._armed.get(conn, ()):
            if f.kind in kinds and (f.symbol is None or f.symbol == symbol):
                return f
        return None

    def _take(self, conn: SimConnection, kinds: Iterable[str], symbol: str) -> _Fault | None:
        """The first fault armed on ``conn`` of one of ``kinds`` for ``symbol``; removed."""
        f = self._peek(conn, kinds, symbol)
        if f is not None:
            faults = self._armed[conn]
            faults.remove(f)
            if not faults:
                del self._armed[conn]
        return f


def cut(text: str) -> str:
    """Invalid JSON: the first half of a frame."""
    return text[: max(1, len(text) // 2)]


def set_first(container: Any, keys: Iterable[str | int], value: Any, level_index: int) -> bool:
    """Set the first of ``keys`` present in ``container``; for book levels
    (``[[price, size, ...], ...]``) element ``level_index`` of the first level."""
    for key in keys:
        try:
            current = container[key]
        except (KeyError, IndexError, TypeError):
            continue
        if isinstance(current, list):
            if current and isinstance(current[0], list):
                current[0][level_index] = value
                return True
            continue
        container[key] = value
        return True
    return False


def damage(kind: str, container: Any, price: tuple[Any, ...], size: tuple[Any, ...]) -> bool:
    """Apply a "nan" or "negative" fault to a decoded payload; False if it has no place."""
    if kind == "nan":
        return set_first(container, price, "NaN", 0)
    return set_first(container, size, "-5", 1)


def dumps(msg: Any) -> str:
    return orjson.dumps(msg).decode()
