"""How a simulated exchange stamps its events: a clock offset and lag episodes."""

from __future__ import annotations

import attrs
import trio

__all__ = ["ExchangeClock", "LagEpisode"]


@attrs.frozen
class LagEpisode:
    """A spell in which an exchange's event time runs behind (its publisher is backlogged
    under load): from trio time ``start`` the lag grows linearly to ``peak`` seconds over
    ``rise`` s, stays there ``hold`` s, and falls back to 0 over ``fall`` s."""

    start: float
    peak: float
    rise: float = 1.0
    hold: float = 0.0
    fall: float = 1.0

    @property
    def end(self) -> float:
        """When the lag is back to 0 (trio time)."""
        return self.start + self.rise + self.hold + self.fall

    def at(self, t: float) -> float:
        """The lag (s) at trio time ``t``."""
        x = t - self.start
        if x <= 0:
            return 0.0
        if x < self.rise:
            return self.peak * x / self.rise
        x -= self.rise
        if x <= self.hold:
            return self.peak
        x -= self.hold
        if x < self.fall:
            return self.peak * (1.0 - x / self.fall)
        return 0.0

    def above(self, level: float) -> tuple[float, float] | None:
        """The trio-time interval during which the lag exceeds ``level`` (None: never)."""
        if self.peak <= level:
            return None
        up = self.start + self.rise * level / self.peak
        down = self.start + self.rise + self.hold + self.fall * (1.0 - level / self.peak)
        return (up, down)


class ExchangeClock:
    """How a simulated exchange stamps its events (every exchange simulator has one, as
    ``sim.clock``): what real exchanges do and a clean simulator would not.

    * ``offset``: seconds the exchange's clock runs ahead of the market's time, which is
      what ``sims.clock()`` (the feed's clock in tests) returns; negative: behind.  A
      machine whose clock is 8 s fast is, to the feed, every exchange at ``offset=-8``.
    * :meth:`lag_episode`: spells in which its event time falls behind and recovers.

    Only event times move (Binance ``E``/``T``, OKX ``ts``); candle open times stay on the
    minute, and what is published (prices, ids) and when does not change.

    >>> clock = ExchangeClock(offset=-8.0)
    >>> clock.stamp(1_700_000_000_000, t=0.0)
    1699999992000
    """

    def __init__(self, offset: float = 0.0) -> None:
        self.offset = offset
        self.episodes: list[LagEpisode] = []

    def lag_episode(
        self,
        peak: float,
        rise: float = 1.0,
        hold: float = 0.0,
        fall: float = 1.0,
        start: float | None = None,
    ) -> LagEpisode:
        """Make the event time fall behind by up to ``peak`` s, starting now (or at trio time
        ``start``); see :class:`LagEpisode`.  Overlapping episodes: the largest lag counts."""
        episode = LagEpisode(
            trio.current_time() if start is None else start, peak, rise, hold, fall
        )
        self.episodes.append(episode)
        return episode

    def lag(self, t: float | None = None) -> float:
        """The event-time lag (s) at trio time ``t`` (default: now)."""
        if not self.episodes:
            return 0.0
        if t is None:
            t = trio.current_time()
        self.episodes = [e for e in self.episodes if e.end > t or e.start > t]
        return max((e.at(t) for e in self.episodes), default=0.0)

    def stamp(self, ts: int, t: float | None = None) -> int:
        """The exchange's time stamp (Unix ms) for an event at market time ``ts`` (ms)."""
        if not self.offset and not self.episodes:
            return ts
        return ts + round((self.offset - self.lag(t)) * 1000)
