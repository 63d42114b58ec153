"""Binance: protocol adapter, simulator and the facts the engine needs (``SPEC``)."""

from trio_feeds.exchanges.binance.adapter import BinanceAdapter as BinanceAdapter
from trio_feeds.exchanges.spec import ExchangeSpec

SPEC = ExchangeSpec(
    name="binance",
    label="Binance",
    adapter=BinanceAdapter,
    simulator="trio_feeds.exchanges.binance.simulator:SimulatedBinance",
)

__all__ = ["SPEC", "BinanceAdapter"]
