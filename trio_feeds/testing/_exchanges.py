"""``open_simulated_exchanges``: Binance + OKX simulators on one market."""

from __future__ import annotations

import contextlib
import ssl
from collections.abc import AsyncIterator, Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

import httpx
import trio

from trio_feeds.exchanges.binance.simulator import SimulatedBinance
from trio_feeds.exchanges.okx.simulator import SimulatedOkx
from trio_feeds.simulator.market import MarketSimulator, SymbolSpec
from trio_feeds.simulator.server import SimulatedExchange
from trio_feeds.simulator.tls import TestPKI

__all__ = ["SimulatedExchanges", "open_simulated_exchanges"]

_DEFAULT_PORTS = {"ws": 80, "http": 80, "wss": 443, "https": 443}


def _host_port(url: str) -> tuple[str, int]:
    split = urlsplit(url)
    host = split.hostname or ""
    port = split.port or _DEFAULT_PORTS.get(split.scheme, 80)
    return host, port


class SimulatedExchanges:
    """What :func:`open_simulated_exchanges` yields: both simulators and ways to reach them.

    Attributes:
        market: the shared :class:`MarketSimulator` (both exchanges show the same prices).
        binance: the :class:`SimulatedBinance`.
        okx: the :class:`SimulatedOkx`.
        memory: True in memory mode.
        pki: the test certificate authority when serving TLS (``tls=True``), else None.
    """

    def __init__(
        self,
        market: MarketSimulator,
        binance: SimulatedBinance,
        okx: SimulatedOkx,
        memory: bool,
        pki: TestPKI | None = None,
    ) -> None:
        self.market = market
        self.binance = binance
        self.okx = okx
        self.memory = memory
        self.pki = pki

    @property
    def ssl_context(self) -> ssl.SSLContext | None:
        """With ``tls=True``: a client ``ssl.SSLContext`` that trusts the simulators' test CA
        (and nothing else), for ``open_feed(ssl_context=...)``.  None without TLS."""
        return self.pki.client_context if self.pki is not None else None

    @property
    def sims(self) -> dict[str, SimulatedExchange]:
        """``{"binance": …, "okx": …}``."""
        return {"binance": self.binance, "okx": self.okx}

    @property
    def urls(self) -> dict[str, str]:
        """WebSocket base URLs (scheme, host, port; no path) by exchange name."""
        return {name: sim.url for name, sim in self.sims.items()}

    @property
    def rest_urls(self) -> dict[str, str]:
        """REST base URLs by exchange name."""
        return {name: sim.rest_url for name, sim in self.sims.items()}

    def clock(self) -> float:
        """Unix seconds as the simulators see them (works under ``MockClock``)."""
        return self.market.clock()

    def _route(self, url: str, rest: bool) -> SimulatedExchange:
        key = _host_port(url)
        for sim in self.sims.values():
            if _host_port(sim.rest_url if rest else sim.url) == key:
                return sim
        raise OSError(f"no simulated exchange at {url!r}")

    async def connector(self, url: str) -> trio.abc.Stream:
        """``async connector(url) -> trio.abc.Stream`` to the simulator at ``url``'s host:port.

        In memory mode the stream is one half of an in-memory pair; in TCP mode a TCP stream.
        With ``tls=True`` the TLS handshake is done on it (with the test CA's trust).
        The caller does the WebSocket handshake (with whatever path and query it wants).
        """
        return await self._route(url, rest=False).connect(url)

    @property
    def http_transport(self) -> httpx.AsyncBaseTransport:
        """An ``httpx`` transport answering REST requests in-process, routed by host."""

        async def handler(request: httpx.Request) -> httpx.Response:
            sim = self._route(str(request.url), rest=True)
            return await sim._httpx_handler(request)

        return httpx.MockTransport(handler)


@contextlib.asynccontextmanager
async def open_simulated_exchanges(
    symbols: Iterable[str | SymbolSpec] = ("BTC-USDT", "ETH-USDT"),
    *,
    seed: int = 1,
    memory: bool = False,
    rate: float = 50.0,
    bursts: float = 0.0,
    market: MarketSimulator | None = None,
    binance_options: Mapping[str, Any] | None = None,
    okx_options: Mapping[str, Any] | None = None,
    tls: bool = False,
) -> AsyncIterator[SimulatedExchanges]:
    """Run a simulated Binance and a simulated OKX on one shared market.

    Args:
        symbols: canonical symbols to simulate (ignored if ``market`` is given).
        seed: market seed.
        memory: serve over in-memory streams (for ``MockClock``) instead of loopback TCP.
        rate: market ticks per second.
        bursts: chance per tick of a burst of 1-4 more steps in the same millisecond (see
            :class:`MarketSimulator`).
        market: use this market instead of building one.
        binance_options, okx_options: keyword arguments for :class:`SimulatedBinance` /
            :class:`SimulatedOkx` (e.g. ``{"unknown_symbol": "accept"}``, ``{"checksum": True}``,
            ``{"clock_offset": -8.0}``: that exchange stamps its events 8 s in the past).
        tls: serve ``wss://`` and ``https://`` with certificates from a test CA made for this
            run (needs ``trustme``); ``sims.ssl_context`` trusts it.  Handshake faults:
            ``sims.binance.fail_tls("reset" | "certificate" | "plain_http" | "slow" | …)``.

    Example::

        async with open_simulated_exchanges(["BTC-USDT"], memory=True) as sims:
            stream = await sims.connector(sims.urls["binance"])
    """
    if market is None:
        market = MarketSimulator(symbols, seed=seed, rate=rate, bursts=bursts)
    b_opts, o_opts = dict(binance_options or {}), dict(okx_options or {})
    pki: TestPKI | None = None
    if tls:
        hosts = [str(o["host"]) for o in (b_opts, o_opts) if "host" in o]
        pki = TestPKI(hosts)
        b_opts.setdefault("tls", pki)
        o_opts.setdefault("tls", pki)
    binance = SimulatedBinance(market, **b_opts)
    okx = SimulatedOkx(market, **o_opts)
    async with trio.open_nursery() as nursery:
        await nursery.start(market.run)
        async with binance.serve(memory=memory), okx.serve(memory=memory):
            yield SimulatedExchanges(market, binance, okx, memory, pki)
        nursery.cancel_scope.cancel()
