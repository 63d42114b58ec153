"""``open_simulated_exchanges``: Binance + OKX simulators (or any of Binance, OKX, Bybit,
Coinbase and Binance USD-M) on one market; and
:func:`simulated_exchanges`, the same started lazily in whatever trio run uses it (what the
pytest fixture hands out)."""

from __future__ import annotations

import contextlib
import ssl
from collections.abc import AsyncIterator, Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

import attrs
import httpx
import trio

from trio_feeds.exchanges.binance.simulator import SimulatedBinance
from trio_feeds.exchanges.binance_usdm.simulator import SimulatedBinanceUsdm
from trio_feeds.exchanges.bybit.simulator import SimulatedBybit
from trio_feeds.exchanges.coinbase.simulator import SimulatedCoinbase
from trio_feeds.exchanges.okx.simulator import SimulatedOkx
from trio_feeds.simulator.market import MarketSimulator, SymbolSpec
from trio_feeds.simulator.server import SimulatedExchange
from trio_feeds.simulator.tls import TestPKI
from trio_feeds.testing._simulators import (
    _DEFAULT_EXCHANGES,
    _SIMULATORS,
    _names,
    _options,
    _serving,
)
from trio_feeds.testing.scripts import Fault, FaultScript, PlayedFault, play_script

__all__ = ["SimulatedExchanges", "open_simulated_exchanges", "simulated_exchanges"]

_DEFAULT_PORTS = {"ws": 80, "http": 80, "wss": 443, "https": 443}


def _host_port(url: str) -> tuple[str, int]:
    split = urlsplit(url)
    host = split.hostname or ""
    port = split.port or _DEFAULT_PORTS.get(split.scheme, 80)
    return host, port


@attrs.define
class _Running:
    market: MarketSimulator
    sims: dict[str, SimulatedExchange]
    pki: TestPKI | None = None
    root: Any = None
    error: BaseException | None = None


@attrs.frozen
class _LazyOptions:
    symbols: tuple[str | SymbolSpec, ...]
    seed: int
    rate: float
    bursts: float
    exchanges: tuple[str, ...]
    options: Mapping[str, Mapping[str, Any]]


class SimulatedExchanges:
    """The simulators and ways to reach them: what :func:`open_simulated_exchanges` yields,
    and what the ``simulated_exchanges`` pytest fixture (see :func:`simulated_exchanges`)
    hands out.

    Attributes:
        market: the shared :class:`MarketSimulator` (every exchange shows the same prices).
        binance: the :class:`SimulatedBinance`.
        okx: the :class:`SimulatedOkx`.
        bybit, coinbase, binance_usdm: the :class:`SimulatedBybit` /
            :class:`SimulatedCoinbase` / :class:`SimulatedBinanceUsdm`, when started
            (``exchanges=[..., "bybit", "coinbase", "binance-usdm"]``).  An exchange that was not
            started has no attribute (``AttributeError``).
        memory: True in memory mode.
        pki: the test certificate authority when serving TLS (``tls=True``), else None.

    A *lazy* instance (from :func:`simulated_exchanges`) has no simulators of its own: the
    first use inside a trio run (any attribute above, :meth:`feed_kwargs`, the connector…)
    starts fresh ones in that run, in a trio system task, and every later use in the same
    run gets the same ones.  A new run (the next test, the next hypothesis example) gets
    new ones again, with the same options.  Outside a run it shows the last run's
    simulators (to inspect their logs after ``trio.run``).
    """

    def __init__(
        self,
        market: MarketSimulator,
        binance: SimulatedBinance | None,
        okx: SimulatedOkx | None,
        memory: bool,
        pki: TestPKI | None = None,
        *,
        others: Mapping[str, SimulatedExchange] | None = None,
    ) -> None:
        sims: dict[str, SimulatedExchange] = {}
        if binance is not None:
            sims["binance"] = binance
        if okx is not None:
            sims["okx"] = okx
        sims.update(others or {})
        self._running: _Running | None = _Running(market, sims, pki)
        self._lazy: _LazyOptions | None = None
        self.memory = memory

    @classmethod
    def lazy(
        cls,
        symbols: Iterable[str | SymbolSpec] = ("BTC-USDT", "ETH-USDT"),
        *,
        seed: int = 1,
        rate: float = 50.0,
        bursts: float = 0.0,
        binance_options: Mapping[str, Any] | None = None,
        okx_options: Mapping[str, Any] | None = None,
        exchanges: Iterable[str] = _DEFAULT_EXCHANGES,
        bybit_options: Mapping[str, Any] | None = None,
        coinbase_options: Mapping[str, Any] | None = None,
        options: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> SimulatedExchanges:
        """Simulators (in memory mode) started on first use in each trio run; see above."""
        self = cls.__new__(cls)
        self._running = None
        options = _options(binance_options, okx_options, bybit_options, coinbase_options, options)
        self._lazy = _LazyOptions(tuple(symbols), seed, rate, bursts, _names(exchanges), options)
        self.memory = True
        return self

    def _current(self) -> _Running:
        if self._lazy is None:
            assert self._running is not None
            return self._running
        try:
            root = trio.lowlevel.current_root_task()
        except RuntimeError:
            root = None
        if root is None:
            if self._running is not None:
                return self._running
            raise RuntimeError(
                "these simulated exchanges start in the trio run that uses them: "
                "use them inside async code (an async test)"
            )
        running = self._running
        if running is None or running.root is not root:
            running = self._running = self._start(root)
        if running.error is not None:
            raise RuntimeError("the simulated exchanges failed") from running.error
        return running

    def _start(self, root: Any) -> _Running:
        o = self._lazy
        assert o is not None
        market = MarketSimulator(o.symbols, seed=o.seed, rate=o.rate, bursts=o.bursts)
        sims = {n: _SIMULATORS[n](market, **o.options.get(n, {})) for n in o.exchanges}
        running = _Running(market, sims, root=root)
        ready = trio.Event()
        for sim in sims.values():
            sim._memory = True
            sim._starting = ready

        async def serve() -> None:
            try:
                async with trio.open_nursery() as nursery:
                    await nursery.start(market.run)
                    async with _serving(sims.values(), memory=True):
                        ready.set()
                        await trio.sleep_forever()
            except Exception as exc:  # a system task must not raise: keep it for the next use
                running.error = exc
                ready.set()

        trio.lowlevel.spawn_system_task(serve, name="trio_feeds simulated exchanges")
        return running

    @property
    def market(self) -> MarketSimulator:
        """The shared market."""
        return self._current().market

    def _sim(self, name: str) -> Any:
        sims = self._current().sims
        if name not in sims:
            raise AttributeError(
                f"no simulated {name} here: start it with exchanges=[..., {name!r}]"
            )
        return sims[name]

    @property
    def binance(self) -> SimulatedBinance:
        """The simulated Binance."""
        return self._sim("binance")  # type: ignore[no-any-return]

    @property
    def okx(self) -> SimulatedOkx:
        """The simulated OKX."""
        return self._sim("okx")  # type: ignore[no-any-return]

    @property
    def bybit(self) -> SimulatedBybit:
        """The simulated Bybit (``exchanges=[..., "bybit"]``)."""
        return self._sim("bybit")  # type: ignore[no-any-return]

    @property
    def coinbase(self) -> SimulatedCoinbase:
        """The simulated Coinbase (``exchanges=[..., "coinbase"]``)."""
        return self._sim("coinbase")  # type: ignore[no-any-return]

    @property
    def binance_usdm(self) -> SimulatedBinanceUsdm:
        """The simulated Binance USD-M futures (``exchanges=[..., "binance-usdm"]``)."""
        return self._sim("binance-usdm")  # type: ignore[no-any-return]

    @property
    def pki(self) -> TestPKI | None:
        """The test certificate authority (``tls=True``), else None."""
        return self._current().pki

    def feed_kwargs(self) -> dict[str, Any]:
        """What to pass as ``open_feed(..., **sims.feed_kwargs())`` to stream from these
        simulators: ``urls``, ``rest_urls``, ``connector``, ``http_transport`` and
        ``clock``."""
        return {
            "urls": self.urls,
            "rest_urls": self.rest_urls,
            "connector": self.connector,
            "http_transport": self.http_transport,
            "clock": self.clock,
        }

    async def run_script(self, script: FaultScript | Iterable[Fault]) -> list[PlayedFault]:
        """Play a :class:`~trio_feeds.testing.FaultScript` against these simulators, starting
        now, in trio time; returns when its last fault is over.  See
        :func:`~trio_feeds.testing.play_script`."""
        return await play_script(self.sims, script)

    @property
    def ssl_context(self) -> ssl.SSLContext | None:
        """With ``tls=True``: a client ``ssl.SSLContext`` that trusts the simulators' test CA
        (and nothing else), for ``open_feed(ssl_context=...)``.  None without TLS."""
        return self.pki.client_context if self.pki is not None else None

    @property
    def sims(self) -> dict[str, SimulatedExchange]:
        """The started simulators by exchange name: ``{"binance": …, "okx": …}`` by default."""
        return dict(self._current().sims)

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
    exchanges: Iterable[str] = _DEFAULT_EXCHANGES,
    bybit_options: Mapping[str, Any] | None = None,
    coinbase_options: Mapping[str, Any] | None = None,
    options: Mapping[str, Mapping[str, Any]] | None = None,
) -> AsyncIterator[SimulatedExchanges]:
    """Run a simulated Binance and a simulated OKX (or the ``exchanges`` named) on one
    shared market.

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
        exchanges: the simulators to start, any of ``"binance"``, ``"okx"``, ``"bybit"``
            (:class:`SimulatedBybit`), ``"coinbase"`` (:class:`SimulatedCoinbase`) and
            ``"binance-usdm"`` (:class:`SimulatedBinanceUsdm`, serving the ``-PERP``
            symbols); ``sims.feed_kwargs()`` covers the ones started.
        bybit_options, coinbase_options: keyword arguments for :class:`SimulatedBybit` /
            :class:`SimulatedCoinbase`.
        options: keyword arguments by exchange name, for any simulator
            (``{"binance-usdm": {"liquidation_rate": 0.5}}``); the ``<name>_options``
            arguments win over them.

    Example::

        async with open_simulated_exchanges(["BTC-USDT"], memory=True) as sims:
            stream = await sims.connector(sims.urls["binance"])
    """
    if market is None:
        market = MarketSimulator(symbols, seed=seed, rate=rate, bursts=bursts)
    names = _names(exchanges)
    options = _options(binance_options, okx_options, bybit_options, coinbase_options, options)
    pki: TestPKI | None = None
    if tls:
        hosts = [str(options[n]["host"]) for n in names if "host" in options[n]]
        pki = TestPKI([*hosts, *(h for n in names for h in _SIMULATORS[n].memory_hosts())])
        for n in names:
            options[n].setdefault("tls", pki)
    sims = {n: _SIMULATORS[n](market, **options[n]) for n in names}
    async with trio.open_nursery() as nursery:
        await nursery.start(market.run)
        async with _serving(sims.values(), memory=memory):
            yield SimulatedExchanges(market, None, None, memory, pki, others=sims)
        nursery.cancel_scope.cancel()


def simulated_exchanges(
    symbols: Iterable[str | SymbolSpec] = ("BTC-USDT", "ETH-USDT"),
    *,
    seed: int = 1,
    rate: float = 50.0,
    bursts: float = 0.0,
    binance_options: Mapping[str, Any] | None = None,
    okx_options: Mapping[str, Any] | None = None,
    exchanges: Iterable[str] = _DEFAULT_EXCHANGES,
    bybit_options: Mapping[str, Any] | None = None,
    coinbase_options: Mapping[str, Any] | None = None,
    options: Mapping[str, Mapping[str, Any]] | None = None,
) -> SimulatedExchanges:
    """Lazy simulators: a :class:`SimulatedExchanges` that starts fresh in-memory Binance and
    OKX simulators (or the ``exchanges`` named) in each trio run that uses it (no ``async
    with`` needed; they stop when the run ends).

    This is what the ``simulated_exchanges`` pytest fixture returns, and why it works in a
    hypothesis ``@given`` test: pytest-trio hands one fixture value to all the examples of a
    test, each example is its own trio run, so each gets new simulators.  Arguments as for
    :func:`open_simulated_exchanges` (memory mode only, no TLS).
    """
    return SimulatedExchanges.lazy(
        symbols,
        seed=seed,
        rate=rate,
        bursts=bursts,
        binance_options=binance_options,
        okx_options=okx_options,
        exchanges=exchanges,
        bybit_options=bybit_options,
        coinbase_options=coinbase_options,
        options=options,
    )
