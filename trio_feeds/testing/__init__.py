"""Simulated Binance and OKX servers for testing market-data clients.

Like :mod:`trio.testing`, this package is not imported by ``import trio_feeds``.  The
simulators speak the exchanges' real public WebSocket protocols and REST book endpoints,
push data from a deterministic :class:`MarketSimulator`, and can inject faults (drops,
silence, malformed frames, sequence gaps, shutdown notices, latency, refused connections,
HTTP 429, TLS handshake faults).  They run over loopback TCP or over in-memory streams, so
whole reconnect scenarios run under ``trio.testing.MockClock`` in milliseconds.  With
``tls=True`` they serve ``wss://`` with certificates from a test CA made for the run.

Entry point: :func:`open_simulated_exchanges`.
"""

from ._binance import SimulatedBinance as SimulatedBinance
from ._exchanges import SimulatedExchanges as SimulatedExchanges
from ._exchanges import open_simulated_exchanges as open_simulated_exchanges
from ._market import BookChange as BookChange
from ._market import Candle as Candle
from ._market import ExchangeClock as ExchangeClock
from ._market import Fill as Fill
from ._market import LagEpisode as LagEpisode
from ._market import MarketSimulator as MarketSimulator
from ._market import MarketTick as MarketTick
from ._market import Stats24h as Stats24h
from ._market import SymbolSpec as SymbolSpec
from ._market import SymbolUpdate as SymbolUpdate
from ._market import TakerOrder as TakerOrder
from ._okx import SimulatedOkx as SimulatedOkx
from ._okx import okx_checksum as okx_checksum
from ._server import ConnectionAttempt as ConnectionAttempt
from ._server import RestRequest as RestRequest
from ._server import SimConnection as SimConnection
from ._server import SimulatedExchange as SimulatedExchange
from ._server import Violation as Violation
from ._tls import TLS_FAULTS as TLS_FAULTS
from ._tls import TestPKI as TestPKI

__all__ = [
    "TLS_FAULTS",
    "BookChange",
    "Candle",
    "ConnectionAttempt",
    "ExchangeClock",
    "Fill",
    "LagEpisode",
    "MarketSimulator",
    "MarketTick",
    "RestRequest",
    "SimConnection",
    "SimulatedBinance",
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
]
