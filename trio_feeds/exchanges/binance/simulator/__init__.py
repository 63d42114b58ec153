"""A simulated Binance Spot public market-data server: :class:`SimulatedBinance`."""

from trio_feeds.exchanges.binance.simulator.server import SimulatedBinance as SimulatedBinance

__all__ = ["SimulatedBinance"]
