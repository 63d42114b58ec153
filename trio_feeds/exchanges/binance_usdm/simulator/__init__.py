"""A simulated Binance USD-M futures market-data server: :class:`SimulatedBinanceUsdm`."""

from trio_feeds.exchanges.binance_usdm.simulator.server import (
    SimulatedBinanceUsdm as SimulatedBinanceUsdm,
)

__all__ = ["SimulatedBinanceUsdm"]
