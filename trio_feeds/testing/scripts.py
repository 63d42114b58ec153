"""Fault scripts: timed faults on simulated exchanges, written down, printed, played.

A :class:`FaultScript` is an ordered sequence of :class:`Fault` steps (``kind``, ``exchange``,
``at``, ``duration`` …).  :func:`play_script` (or ``await sims.run_script(script)``) plays
one against running simulators in trio time, so under ``trio.testing.MockClock`` a minute
of outages takes milliseconds.  :mod:`trio_feeds.testing.strategies` draws them with
hypothesis (and shrinks them: fewer faults, earlier, shorter).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

import attrs
import trio

from trio_feeds.simulator.controls import FaultHandle

if TYPE_CHECKING:
    from trio_feeds.simulator.server import SimulatedExchange

__all__ = ["FAULT_KINDS", "Fault", "FaultScript", "PlayedFault", "play_script"]

#: every kind of fault a script step can be
FAULT_KINDS = ("outage", "stall", "lag", "latency", "malformed", "shutdown_notice")


def _check_kind(instance: Any, attribute: Any, value: str) -> None:
    if value not in FAULT_KINDS:
        raise ValueError(f"unknown fault kind {value!r}; choose from {', '.join(FAULT_KINDS)}")


def _non_negative(instance: Any, attribute: Any, value: float) -> None:
    if not value >= 0:
        raise ValueError(f"{attribute.name} must be >= 0, got {value!r}")


@attrs.frozen(repr=False)
class Fault:
    """One timed fault on one exchange: a step of a :class:`FaultScript`.

    Attributes:
        kind: what happens (``sim`` is the exchange's simulator):

            ``"outage"``
                ``sim.outage(duration)``: connections cut, new ones refused for ``duration``.
            ``"stall"``
                ``sim.stall(duration)``: connected, silent (pings still answered).
            ``"lag"``
                ``sim.lag(duration, extra)``: event times fall ``extra`` s behind.
            ``"latency"``
                ``sim.latency_spike(duration, extra)``: every frame arrives ``extra`` s late.
            ``"malformed"``
                ``sim.malformed(count)``: the next ``count`` data frames are broken
                (``duration`` 0).
            ``"shutdown_notice"``
                ``sim.shutdown_notice(lead=duration)``: the exchange announces a restart
                and closes its connections ``duration`` s later.
        exchange: the simulator's name (``"binance"``, ``"okx"``).
        at: seconds after the script starts.
        duration: seconds the fault lasts (0 where it has none).
        extra: ``"lag"``: how far behind (s); ``"latency"``: the delay (s); else 0.
        count: ``"malformed"``: how many frames; else 0.
    """

    kind: str = attrs.field(validator=_check_kind)
    exchange: str
    at: float = attrs.field(default=0.0, validator=_non_negative)
    duration: float = attrs.field(default=0.0, validator=_non_negative)
    extra: float = attrs.field(default=0.0, validator=_non_negative)
    count: int = attrs.field(default=0, validator=_non_negative)

    @property
    def end(self) -> float:
        """``at + duration``: when the fault is over (seconds after the script starts)."""
        return self.at + self.duration

    def __repr__(self) -> str:
        args = [repr(self.kind), repr(self.exchange), f"at={self.at!r}"]
        args += [
            f"{k}={getattr(self, k)!r}" for k in ("duration", "extra", "count") if getattr(self, k)
        ]
        return f"Fault({', '.join(args)})"

    def __str__(self) -> str:
        what = {
            "lag": f" {self.extra:g} s behind",
            "latency": f" +{self.extra:g} s",
            "malformed": f" x{self.count}",
        }.get(self.kind, "")
        span = f" for {self.duration:g} s" if self.duration else ""
        return f"{self.at:8.3f} s  {self.exchange} {self.kind}{what}{span}"

    def apply(self, sim: SimulatedExchange) -> FaultHandle | None:
        """Start this fault on ``sim`` now; the handle ends it early (None: instant)."""
        if self.kind == "outage":
            return sim.outage(self.duration)
        if self.kind == "stall":
            return sim.stall(self.duration)
        if self.kind == "lag":
            return sim.lag(self.duration, self.extra)
        if self.kind == "latency":
            return sim.latency_spike(self.duration, self.extra)
        if self.kind == "malformed":
            sim.malformed(self.count or 1)
            return None
        sim.shutdown_notice(self.duration)
        return None


def _sorted(faults: Iterable[Fault]) -> tuple[Fault, ...]:
    return tuple(sorted(faults, key=lambda f: f.at))


@attrs.frozen(repr=False)
class FaultScript:
    """An ordered (by :attr:`Fault.at`) sequence of faults; iterable, printable.

    ``repr`` is valid Python (paste a failing example back into a test); ``str`` is a
    table, one fault a line.

    >>> script = FaultScript([Fault("outage", "okx", at=3.0, duration=5.0)])
    >>> script.end
    8.0
    """

    faults: tuple[Fault, ...] = attrs.field(converter=_sorted, default=())

    def __iter__(self) -> Iterator[Fault]:
        return iter(self.faults)

    def __len__(self) -> int:
        return len(self.faults)

    def __getitem__(self, index: int) -> Fault:
        return self.faults[index]

    def __repr__(self) -> str:
        return f"FaultScript({list(self.faults)!r})"

    def __str__(self) -> str:
        if not self.faults:
            return "FaultScript: no faults"
        return "FaultScript:\n" + "\n".join(str(f) for f in self.faults)

    @property
    def end(self) -> float:
        """When the last fault is over (seconds after the start; 0 for no faults)."""
        return max((f.end for f in self.faults), default=0.0)

    @property
    def exchanges(self) -> list[str]:
        """The exchanges the script touches, sorted."""
        return sorted({f.exchange for f in self.faults})

    def of(self, exchange: str | None = None, kind: str | None = None) -> list[Fault]:
        """The faults on ``exchange`` and/or of ``kind`` (None: any)."""
        return [
            f
            for f in self.faults
            if (exchange is None or f.exchange == exchange) and (kind is None or f.kind == kind)
        ]


@attrs.frozen
class PlayedFault:
    """A fault as :func:`play_script` played it: ``start`` and ``end`` in trio time
    (``end`` = ``start + duration``; for ``"malformed"``, ``start``), and the
    :class:`~trio_feeds.simulator.controls.FaultHandle` of a timed fault."""

    fault: Fault
    start: float
    end: float
    handle: FaultHandle | None = attrs.field(default=None, eq=False, repr=False)


async def play_script(
    sims: Mapping[str, SimulatedExchange], script: FaultScript | Iterable[Fault]
) -> list[PlayedFault]:
    """Play ``script`` against the simulators ``sims`` (by exchange name) in trio time.

    Starts now: each fault at ``now + fault.at``; returns once the last fault is over
    (``now + script.end``), with what was played.  Cancel it to stop early (faults already
    started run to their end).
    """
    if not isinstance(script, FaultScript):
        script = FaultScript(script)
    unknown = set(script.exchanges) - set(sims)
    if unknown:
        raise ValueError(f"script names exchanges not simulated: {sorted(unknown)}")
    t0 = trio.current_time()
    played: list[PlayedFault] = []
    for fault in script:
        await trio.sleep_until(t0 + fault.at)
        now = trio.current_time()
        handle = fault.apply(sims[fault.exchange])
        played.append(PlayedFault(fault, now, now + fault.duration, handle))
    end = t0 + script.end
    if math.isfinite(end):
        await trio.sleep_until(end)
    return played
