"""A simulated Coinbase Advanced Trade market-data server: :class:`SimulatedCoinbase`."""

from trio_feeds.exchanges.coinbase.simulator.server import SimulatedCoinbase as SimulatedCoinbase
from trio_feeds.exchanges.coinbase.simulator.state import rfc3339 as rfc3339

__all__ = ["SimulatedCoinbase", "rfc3339"]
