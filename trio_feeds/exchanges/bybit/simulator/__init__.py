"""A simulated Bybit v5 public market-data server: :class:`SimulatedBybit`."""

from trio_feeds.exchanges.bybit.simulator.server import SimulatedBybit as SimulatedBybit

__all__ = ["SimulatedBybit"]
