"""A simulated Binance USD-M futures market-data server (WebSocket streams + ``/fapi/v1`` REST).

:class:`SimulatedBinanceUsdm` is :class:`~trio_feeds.testing.SimulatedBinance` (same paths,
requests, replies, keepalive and faults) serving the market's perpetuals (``BTC-USDT-PERP``
as ``btcusdt``) with USD-M's streams and payloads (:mod:`.payloads`) and REST (:mod:`.rest`).
"""

from __future__ import annotations

import re
from typing import Any

import trio

from trio_feeds.core.symbols import PERP_SUFFIX, canonical
from trio_feeds.exchanges.binance.simulator import SimulatedBinance
from trio_feeds.exchanges.binance_usdm.simulator import payloads, rest
from trio_feeds.simulator.market import MarketSimulator, MarketTick
from trio_feeds.simulator.perp import LiquidationControl, PerpMarket, SimLiquidation

__all__ = ["SimulatedBinanceUsdm"]

_STREAM = re.compile(
    r"^([a-z0-9]+)@(trade|aggTrade|ticker|miniTicker|bookTicker|kline_1m|markPrice(?:@1s)?"
    r"|forceOrder|depth(?:@0ms|@100ms|@250ms|@500ms)?|depth(?:5|10|20)(?:@100ms|@250ms|@500ms)?)$"
)
_SPEEDS = {"": 0.25, "0ms": 0.0, "100ms": 0.1, "250ms": 0.25, "500ms": 0.5}
#: cadences this class flushes itself (0.1 and the 1 s tickers are spot's)
_OWN = (0.25, 0.5, 1.0, 3.0)


class SimulatedBinanceUsdm(LiquidationControl, SimulatedBinance):
    """A Binance USD-M futures market-data server driven by a :class:`MarketSimulator`.

    It serves the market's ``-PERP`` symbols (``BTC-USDT-PERP`` is ``btcusdt`` /
    ``BTCUSDT``).  WebSocket: ``/ws``, ``/ws/<streams>``, ``/stream[?streams=…]`` and the
    requests, replies, keepalive rules and faults of :class:`SimulatedBinance`.

    Streams: ``@trade`` (ids contiguous, ``X: "MARKET"``), ``@aggTrade``, ``@bookTicker``
    (with event time ``E`` and transaction time ``T``), ``@ticker``, ``@miniTicker``,
    ``@kline_1m``; ``@depth[@0ms|@100ms|@250ms|@500ms]`` (diffs; ``@depth`` is 250 ms,
    ``@0ms`` every market step) whose ``pu`` is the stream's previous ``u``, consistent with
    ``GET /fapi/v1/depth``; ``@depth5|10|20[@100ms|@250ms|@500ms]`` (partial, the diff's
    shape); ``@markPrice`` (every 3 s) and ``@markPrice@1s`` (every second): mark ``p``,
    index ``i``, funding rate ``r`` and its settlement time ``T`` (see
    :mod:`trio_feeds.simulator.perp`); ``@forceOrder``: liquidation orders, made by
    :meth:`liquidate` (``o.q`` in the base currency) or at random (``liquidation_rate``;
    at most one per symbol per second, as Binance's snapshot stream).

    REST: ``/fapi/v1/depth`` (limits 5…1000, weights 2…20, with ``E``/``T``),
    ``/fapi/v1/openInterest`` (``{"symbol","openInterest","time"}``, weight 1),
    ``/fapi/v1/exchangeInfo``, ``/fapi/v1/ping``, ``/fapi/v1/time``.

    Faults: those of :class:`SimulatedBinance`; ``sequence_gap(symbol)`` (or
    ``corrupt("gap", symbol)``) loses the next diff, so the following one's ``pu`` does not
    chain: the client must see a gap and sync again.

    Args:
        market: the market; only its ``-PERP`` symbols are served.
        liquidation_rate: mean random liquidations per second per symbol (0: on demand only).
        ping_interval, pong_timeout: keepalive (USD-M: a ping every 3 min, a pong within 10).
        max_messages_per_second: incoming frame budget (USD-M: 10).
        **kwargs: see :class:`SimulatedBinance`.
    """

    name = "binance-usdm"
    memory_host = "fstream.binance.test"
    memory_port = 443
    memory_rest_host = "fapi.binance.test"
    _CADENCES = (0.0, 0.1, 0.25, 0.5)

    def __init__(
        self,
        market: MarketSimulator,
        *,
        liquidation_rate: float = 0.0,
        ping_interval: float | None = 180.0,
        pong_timeout: float = 600.0,
        max_messages_per_second: int | None = 10,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            market,
            ping_interval=ping_interval,
            pong_timeout=pong_timeout,
            max_messages_per_second=max_messages_per_second,
            **kwargs,
        )
        #: the perpetuals' mark, index, funding, open interest and liquidations
        self.perp = PerpMarket(market, self.name, liquidation_rate)
        self._pnext: dict[float, float] = {}
        self._partial_u: dict[tuple[str, int], int] = {}

    @staticmethod
    def _serves(symbol: str) -> bool:
        return symbol.endswith(PERP_SUFFIX)

    @staticmethod
    def _native(symbol: str) -> str:
        return canonical(symbol)[: -len(PERP_SUFFIX)].replace("-", "").lower()

    def _perp_market(self) -> PerpMarket:
        return self.perp

    def _push_liquidation(self, liq: SimLiquidation) -> None:
        for name, s in list(self._names.get(liq.symbol, {}).items()):
            if s.kind == "forceOrder":
                self._publish(name, payloads.liquidation_builder(self, liq))

    def _now(self) -> float:
        return trio.current_time()

    _STREAM_RE = _STREAM

    @staticmethod
    def _cadence(base: str, speed: str) -> float:
        if base == "markPrice":
            return 1.0 if speed else 3.0
        return _SPEEDS[speed]

    def _on_tick(self, tick: MarketTick) -> None:
        super()._on_tick(tick)  # trades, tickers, klines, the 100 ms books
        t = tick.time
        if not self._pnext:
            self._pnext = {c: t + c for c in _OWN}
        self._flush_perp(0.0, tick.ts)
        for cadence in _OWN:
            if t + 1e-9 >= self._pnext[cadence]:
                self._pnext[cadence] = max(self._pnext[cadence] + cadence, t)
                self._flush_perp(cadence, tick.ts)

    def _flush_perp(self, cadence: float, ts: int) -> None:
        for sym, ss in self._sym.items():
            names = self._names.get(sym)
            buf = ss.bufs.get(cadence)
            for name, s in list(names.items()) if names else ():
                if s.cadence != cadence:
                    continue
                if s.kind == "depth" and buf is not None and buf.first is not None:
                    self._publish(name, self._diff_builder(sym, ts, buf), gap_symbol=sym)
                elif s.kind == "partial":
                    self._publish(name, self._partial_builder(sym, s.levels))
                elif s.kind == "markPrice":
                    self._publish(name, payloads.mark_builder(self, sym, ts))
            if buf is not None:
                buf.reset()
            if cadence == 1.0:
                liq = self.perp.random_liquidation(sym, ts, 1.0)
                if liq is not None:
                    self._push_liquidation(liq)

    _trade_shape = staticmethod(payloads.trade_shape)
    _ticker_shape = staticmethod(payloads.ticker_shape)
    _diff_builder = payloads.diff_builder
    _partial_builder = payloads.partial_builder
    _rest = rest.rest
