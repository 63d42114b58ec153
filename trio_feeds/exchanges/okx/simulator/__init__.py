"""A simulated OKX v5 public market-data server: :class:`SimulatedOkx`."""

from trio_feeds.exchanges.okx.simulator.server import SimulatedOkx as SimulatedOkx
from trio_feeds.exchanges.okx.simulator.state import okx_checksum as okx_checksum

__all__ = ["SimulatedOkx", "okx_checksum"]
