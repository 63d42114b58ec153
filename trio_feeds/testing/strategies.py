"""Hypothesis strategies for testing code against failing exchanges (needs ``hypothesis``).

* :func:`fault_scripts`: whole :class:`~trio_feeds.testing.FaultScript` s, for
  ``await sims.run_script(script)``;
* :func:`faults`: one :class:`~trio_feeds.testing.Fault`;
* :func:`clock_offsets`: how far an exchange's clock is off (for ``sim.clock.offset`` or
  ``clock_offset=`` in the simulator options);
* :func:`bursts`: how bursty the market is (``bursts=`` of the simulators: the chance per
  tick of several events in one millisecond).

Every strategy shrinks towards the plain case: fewer faults, earlier, shorter, milder; no
clock offset; no bursts.  Times are rounded to the millisecond so failing examples print
short.

Example::

    from hypothesis import given, settings
    from trio_feeds.testing.strategies import fault_scripts

    @settings(max_examples=20, deadline=None)
    @given(script=fault_scripts(max_faults=4, horizon=30))
    async def test_my_app(simulated_exchanges, script, autojump_clock):
        ...
"""

from __future__ import annotations

from collections.abc import Sequence

from hypothesis import strategies as st

from trio_feeds.testing.scripts import FAULT_KINDS, Fault, FaultScript

__all__ = ["bursts", "clock_offsets", "fault_scripts", "faults"]

Range = tuple[float, float]


def _ms(x: float) -> float:
    return round(x, 3)


def _seconds(lo: float, hi: float) -> st.SearchStrategy[float]:
    return st.floats(lo, hi, allow_nan=False, allow_infinity=False).map(_ms)


def faults(
    exchanges: Sequence[str] = ("binance", "okx"),
    *,
    kinds: Sequence[str] = FAULT_KINDS,
    horizon: float = 60.0,
    durations: Range = (0.5, 10.0),
    lags: Range = (0.5, 6.0),
    latencies: Range = (0.2, 2.0),
    malformed: tuple[int, int] = (1, 3),
) -> st.SearchStrategy[Fault]:
    """One :class:`~trio_feeds.testing.Fault` on one of ``exchanges``, starting in
    ``[0, horizon)`` and over by ``horizon`` (durations are cut to fit).

    Args:
        kinds: which of :data:`~trio_feeds.testing.FAULT_KINDS` to draw.
        durations: seconds an outage, stall, lag, latency spike or shutdown notice's lead
            lasts.
        lags: how far behind a ``"lag"`` puts event times (s).
        latencies: how late a ``"latency"`` spike delivers frames (s).
        malformed: how many frames a ``"malformed"`` breaks.
    """
    if not exchanges or not kinds:
        raise ValueError("need at least one exchange and one kind")
    unknown = set(kinds) - set(FAULT_KINDS)
    if unknown:
        raise ValueError(f"unknown fault kinds {sorted(unknown)}; choose from {FAULT_KINDS}")
    if horizon <= 0:
        raise ValueError("horizon must be > 0")

    @st.composite
    def draw_fault(draw: st.DrawFn) -> Fault:
        kind = draw(st.sampled_from(list(kinds)))
        exchange = draw(st.sampled_from(list(exchanges)))
        at = draw(_seconds(0.0, horizon))
        if kind == "malformed":
            return Fault(kind, exchange, at, count=draw(st.integers(*malformed)))
        duration = _ms(max(0.0, min(draw(_seconds(*durations)), horizon - at)))
        extra = 0.0
        if kind == "lag":
            extra = draw(_seconds(*lags))
        elif kind == "latency":
            extra = draw(_seconds(*latencies))
        return Fault(kind, exchange, at, duration, extra)

    return draw_fault()


def fault_scripts(
    exchanges: Sequence[str] = ("binance", "okx"),
    max_faults: int = 8,
    horizon: float = 60.0,
    *,
    min_faults: int = 0,
    kinds: Sequence[str] = FAULT_KINDS,
    durations: Range = (0.5, 10.0),
    lags: Range = (0.5, 6.0),
    latencies: Range = (0.2, 2.0),
) -> st.SearchStrategy[FaultScript]:
    """:class:`~trio_feeds.testing.FaultScript` s of ``min_faults`` to ``max_faults`` faults
    (see :func:`faults` for the rest of the arguments), all over within ``horizon``
    seconds of the script's start."""
    one = faults(
        exchanges,
        kinds=kinds,
        horizon=horizon,
        durations=durations,
        lags=lags,
        latencies=latencies,
    )
    return st.lists(one, min_size=min_faults, max_size=max_faults).map(FaultScript)


def clock_offsets(max_offset: float = 180.0) -> st.SearchStrategy[float]:
    """Seconds an exchange's clock is ahead of ours (negative: behind), up to
    ``max_offset`` either way; often exactly 0."""
    return st.one_of(st.just(0.0), _seconds(-max_offset, max_offset))


def bursts() -> st.SearchStrategy[float]:
    """A market's burstiness: the chance per tick that 1-4 more events follow in the same
    millisecond (0: none; real markets: often).  For ``bursts=`` of
    :func:`~trio_feeds.testing.open_simulated_exchanges` or the fixture's factory."""
    return st.sampled_from([0.0, 0.3, 0.7])
