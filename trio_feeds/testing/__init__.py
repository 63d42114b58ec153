"""Simulated Binance, Binance USD-M, OKX, Bybit and Coinbase servers for testing market-data
clients.

Like :mod:`trio.testing`, this package is not imported by ``import trio_feeds``.  The
simulators speak the exchanges' real public WebSocket protocols and REST book endpoints,
push data from a deterministic :class:`MarketSimulator`, and can inject faults (drops,
silence, malformed frames, sequence gaps, shutdown notices, latency, refused connections,
HTTP 429, TLS handshake faults).  They run over loopback TCP or over in-memory streams, so
whole reconnect scenarios run under ``trio.testing.MockClock`` in milliseconds.  With
``tls=True`` they serve ``wss://`` with certificates from a test CA made for the run.

Entry points: :func:`open_simulated_exchanges` (``async with``), or the ``simulated_exchanges``
pytest fixture (the ``trio_feeds`` plugin, :mod:`trio_feeds.testing.pytest_plugin`).

For property tests: timed faults (``sim.outage(duration)``, ``stall``, ``lag``,
``latency_spike``, ``malformed``, ``shutdown_notice``), :class:`FaultScript` s of them played
with ``await sims.run_script(script)``, hypothesis strategies in
:mod:`trio_feeds.testing.strategies`, and :class:`FeedRecorder` for the assertions.
"""

from trio_feeds.exchanges.binance.simulator import SimulatedBinance as SimulatedBinance
from trio_feeds.exchanges.binance_usdm.simulator import (
    SimulatedBinanceUsdm as SimulatedBinanceUsdm,
)
from trio_feeds.exchanges.bybit.simulator import SimulatedBybit as SimulatedBybit
from trio_feeds.exchanges.coinbase.simulator import SimulatedCoinbase as SimulatedCoinbase
from trio_feeds.exchanges.okx.simulator import SimulatedOkx as SimulatedOkx
from trio_feeds.exchanges.okx.simulator import okx_checksum as okx_checksum
from trio_feeds.simulator.controls import FaultHandle as FaultHandle
from trio_feeds.simulator.market import BookChange as BookChange
from trio_feeds.simulator.market import Candle as Candle
from trio_feeds.simulator.market import ExchangeClock as ExchangeClock
from trio_feeds.simulator.market import Fill as Fill
from trio_feeds.simulator.market import LagEpisode as LagEpisode
from trio_feeds.simulator.market import MarketSimulator as MarketSimulator
from trio_feeds.simulator.market import MarketTick as MarketTick
from trio_feeds.simulator.market import Stats24h as Stats24h
from trio_feeds.simulator.market import SymbolSpec as SymbolSpec
from trio_feeds.simulator.market import SymbolUpdate as SymbolUpdate
from trio_feeds.simulator.market import TakerOrder as TakerOrder
from trio_feeds.simulator.perp import PerpMarket as PerpMarket
from trio_feeds.simulator.perp import SimLiquidation as SimLiquidation
from trio_feeds.simulator.server import ConnectionAttempt as ConnectionAttempt
from trio_feeds.simulator.server import RestRequest as RestRequest
from trio_feeds.simulator.server import SimConnection as SimConnection
from trio_feeds.simulator.server import SimulatedExchange as SimulatedExchange
from trio_feeds.simulator.server import Violation as Violation
from trio_feeds.simulator.tls import TLS_FAULTS as TLS_FAULTS
from trio_feeds.simulator.tls import TestPKI as TestPKI
from trio_feeds.testing._exchanges import SimulatedExchanges as SimulatedExchanges
from trio_feeds.testing._exchanges import open_simulated_exchanges as open_simulated_exchanges
from trio_feeds.testing._exchanges import simulated_exchanges as simulated_exchanges
from trio_feeds.testing.recorder import FeedRecorder as FeedRecorder
from trio_feeds.testing.recorder import LostTrades as LostTrades
from trio_feeds.testing.scripts import FAULT_KINDS as FAULT_KINDS
from trio_feeds.testing.scripts import Fault as Fault
from trio_feeds.testing.scripts import FaultScript as FaultScript
from trio_feeds.testing.scripts import PlayedFault as PlayedFault
from trio_feeds.testing.scripts import play_script as play_script

__all__ = [
    "FAULT_KINDS",
    "TLS_FAULTS",
    "BookChange",
    "Candle",
    "ConnectionAttempt",
    "ExchangeClock",
    "Fault",
    "FaultHandle",
    "FaultScript",
    "FeedRecorder",
    "Fill",
    "LagEpisode",
    "LostTrades",
    "MarketSimulator",
    "MarketTick",
    "PerpMarket",
    "PlayedFault",
    "RestRequest",
    "SimConnection",
    "SimLiquidation",
    "SimulatedBinance",
    "SimulatedBinanceUsdm",
    "SimulatedBybit",
    "SimulatedCoinbase",
    "SimulatedExchange",
    "SimulatedExchanges",
    "SimulatedOkx",
    "Stats24h",
    "SymbolSpec",
    "SymbolUpdate",
    "TakerOrder",
    "TestPKI",
    "Violation",
    "okx_checksum",
    "open_simulated_exchanges",
    "play_script",
    "simulated_exchanges",
]
