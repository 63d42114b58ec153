"""The simulated OKX's perpetual swaps: the market's ``BTC-USDT-PERP`` is ``instId``
``BTC-USDT-SWAP``, its sizes are contracts of ``ctVal`` base units, it has the swap-only
channels ``funding-rate``, ``mark-price``, ``open-interest`` and ``liquidation-orders``, and
``/api/v5/public/instruments`` lists it.

Inside the simulator every instrument is named by its market symbol; the ``instId`` is used
only on the wire (:meth:`Swaps.wire`, :meth:`Swaps.market_symbol`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from trio_feeds.core.symbols import PERP_SUFFIX
from trio_feeds.simulator.market import MarketSimulator, format_plain
from trio_feeds.simulator.perp import PerpMarket, SimLiquidation

if TYPE_CHECKING:
    from trio_feeds.exchanges.okx.simulator.server import SimulatedOkx

__all__ = ["CONTRACT_VALUES", "LIQUIDATIONS", "SWAP_CHANNELS", "Swaps"]

#: ``ctVal`` by base asset, as OKX lists its USDT swaps (others: 1)
CONTRACT_VALUES = {
    "BTC": "0.01", "ETH": "0.1", "SOL": "1", "BNB": "0.01", "XRP": "100", "DOGE": "1000",
    "ADA": "100", "LTC": "1",
}  # fmt: skip
#: channels that exist for swaps only (subscribed by ``instId``)
SWAP_CHANNELS = frozenset({"funding-rate", "mark-price", "open-interest"})
#: the liquidation channel, subscribed by ``instType`` (``SWAP``)
LIQUIDATIONS = "liquidation-orders"
_SWAP = "-SWAP"


class Swaps:
    """The swaps of a simulated OKX: names, contract sizes, and the swap-only pushes' state.

    ``contract_values``: ``ctVal`` by canonical symbol (``{"BTC-USDT-PERP": "0.01"}``), a
    power of ten (so that every size is a whole number of contract steps); default
    :data:`CONTRACT_VALUES`.
    """

    def __init__(
        self,
        market: MarketSimulator,
        contract_values: Mapping[str, str] | None = None,
        liquidation_rate: float = 0.0,
        funding_interval: float = 30.0,
    ) -> None:
        self.perp = PerpMarket(market, "okx", liquidation_rate)
        self.funding_interval = funding_interval
        #: market symbol -> e, where ``ctVal`` is ``10**e``
        self.exponent: dict[str, int] = {}
        self._wire: dict[str, str] = {}
        self._market: dict[str, str] = {s: s for s in market.symbols if not s.endswith(PERP_SUFFIX)}
        for sym in self.perp.symbols():
            base, quote = sym.split("-")[:2]
            ct = (contract_values or {}).get(sym, CONTRACT_VALUES.get(base, "1"))
            exp = Decimal(ct).normalize().as_tuple()
            if exp.digits != (1,) or not isinstance(exp.exponent, int):
                raise ValueError(f"ctVal of {sym} must be a power of ten, got {ct!r}")
            self.exponent[sym] = exp.exponent
            inst = f"{base}-{quote}{_SWAP}"
            self._wire[sym] = inst
            self._market[inst] = sym
        #: per swap: trio time of the last mark-price push and its value
        self.mark_sent: dict[str, tuple[float, int]] = {}
        self.next_funding = 0.0
        self.next_oi = 0.0

    def wire(self, symbol: str) -> str:
        """The ``instId`` of a market symbol."""
        return self._wire.get(symbol, symbol)

    def market_symbol(self, inst: str) -> str | None:
        """The market symbol of an ``instId`` this OKX lists (None: not listed)."""
        return self._market.get(inst)

    def is_swap(self, symbol: str) -> bool:
        """True for a market symbol served as a swap."""
        return symbol in self._wire

    def ct_val(self, symbol: str) -> str:
        """``ctVal`` of a swap, as OKX writes it."""
        return (
            format_plain(1, -self.exponent[symbol])
            if self.exponent[symbol] < 0
            else (str(10 ** self.exponent[symbol]))
        )

    def contracts(self, symbol: str, size_decimals: int) -> Callable[[int], str]:
        """Lots of ``symbol`` → its size in contracts (exact: ``ctVal`` is a power of ten)."""
        shift = size_decimals + self.exponent[symbol]
        if shift >= 0:
            return lambda v: format_plain(v, shift)
        mul = 10**-shift
        return lambda v: str(v * mul)


def push_swaps(sim: SimulatedOkx, t: float, market_ts: int) -> None:
    """At a 100 ms book flush: ``mark-price`` (when it moved, at most every 200 ms; else every
    10 s), ``funding-rate`` (every ``funding_interval`` s) and ``open-interest`` (every 3 s),
    plus a fresh push to each new subscriber; random liquidations once a second."""
    sw = sim.swaps
    ts = sim.clock.stamp(market_ts)
    funding_due = t + 1e-9 >= sw.next_funding
    if funding_due:
        sw.next_funding = t + sw.funding_interval
    oi_due = t + 1e-9 >= sw.next_oi
    if oi_due:
        sw.next_oi = t + 3.0
    second = int(t + 1e-9) != int(t - 0.1 + 1e-9)
    for sym in sw.perp.symbols():
        if second:
            liq = sw.perp.random_liquidation(sym, market_ts, 1.0)
            if liq is not None:
                push_liquidation(sim, liq)
        chans = sim._chans.get(sym)
        if not chans:
            continue
        px = sim._fmt(sym)[0]
        base = {"instId": sw.wire(sym), "instType": "SWAP"}
        if "mark-price" in chans:
            mark = sw.perp.mark(sym)
            last_t, last = sw.mark_sent.get(sym, (-1e9, -1))
            pending = sim._take_pending("mark-price", sym)
            moved = mark != last and t - last_t >= 0.2 - 1e-9
            if moved or t - last_t >= 10.0 - 1e-9 or pending:
                item = {**base, "markPx": px(mark), "ts": str(ts)}
                whole = moved or t - last_t >= 10.0 - 1e-9
                sim._push("mark-price", sym, [item], None if whole else pending)
                if whole:
                    sw.mark_sent[sym] = (t, mark)
        if "funding-rate" in chans:
            pending = sim._take_pending("funding-rate", sym)
            if funding_due or pending:
                item = _funding(sim, sym, ts, base)
                sim._push("funding-rate", sym, [item], None if funding_due else pending)
        if "open-interest" in chans:
            pending = sim._take_pending("open-interest", sym)
            if oi_due or pending:
                item = _open_interest(sim, sym, ts, market_ts, base)
                sim._push("open-interest", sym, [item], None if oi_due else pending)


def _funding(sim: SimulatedOkx, sym: str, ts: int, base: dict[str, str]) -> dict[str, Any]:
    perp = sim.swaps.perp
    rate = format_plain(perp.funding_e8(sym, ts), 8)
    settle = perp.next_funding_time(ts)
    return {
        **base,
        "fundingRate": rate,
        "fundingTime": str(settle),
        "method": "current_period",
        "maxFundingRate": "0.0075",
        "minFundingRate": "-0.0075",
        "nextFundingRate": "",
        "nextFundingTime": str(settle + 8 * 3600 * 1000),
        "premium": format_plain(round(perp.premium(sym, ts) * 1e8), 8),
        "settFundingRate": rate,
        "settState": "settled",
        "ts": str(ts),
    }


def _open_interest(
    sim: SimulatedOkx, sym: str, ts: int, market_ts: int, base: dict[str, str]
) -> dict[str, Any]:
    spec = sim.market.spec(sym)
    lots = sim.swaps.perp.open_interest(sym, market_ts)
    usd = lots * sim.swaps.perp.mark(sym)
    return {
        **base,
        "oi": sim._fmt(sym)[1](lots),
        "oiCcy": format_plain(lots, spec.size_decimals),
        "oiUsd": format_plain(usd, spec.size_decimals + spec.price_decimals),
        "ts": str(ts),
    }


def push_liquidation(sim: SimulatedOkx, liq: SimLiquidation) -> None:
    """A ``liquidation-orders`` push (to every ``instType`` ``SWAP`` subscriber)."""
    px, sz = sim._fmt(liq.symbol)
    base, quote = liq.symbol.split("-")[:2]
    detail = {
        "bkLoss": "0",
        "bkPx": px(liq.price),
        "ccy": "",
        "posSide": "short" if liq.is_buy else "long",
        "side": "buy" if liq.is_buy else "sell",
        "sz": sz(liq.size),
        "ts": str(sim.clock.stamp(liq.ts)),
    }
    item = {
        "details": [detail],
        "instFamily": f"{base}-{quote}",
        "instId": sim.swaps.wire(liq.symbol),
        "instType": "SWAP",
        "uly": f"{base}-{quote}",
    }
    sim._push(LIQUIDATIONS, "SWAP", [item])


def instruments(sim: SimulatedOkx, inst_type: str) -> list[dict[str, Any]]:
    """``/api/v5/public/instruments`` items of ``inst_type`` (``SPOT`` or ``SWAP``)."""
    sw = sim.swaps
    out = []
    for sym in sim.market.symbols:
        swap = sw.is_swap(sym)
        if swap != (inst_type == "SWAP") or inst_type not in ("SPOT", "SWAP"):
            continue
        spec = sim.market.spec(sym)
        base, quote = sym.split("-")[:2]
        item: dict[str, Any] = {
            "instId": sw.wire(sym),
            "instType": inst_type,
            "baseCcy": "" if swap else base,
            "quoteCcy": "" if swap else quote,
            "tickSz": format_plain(1, spec.price_decimals),
            "lotSz": sw.contracts(sym, spec.size_decimals)(1)
            if swap
            else format_plain(1, spec.size_decimals),
            "state": "live",
        }
        if swap:
            item.update(
                ctVal=sw.ct_val(sym), ctValCcy=base, ctType="linear", ctMult="1",
                settleCcy=quote, instFamily=f"{base}-{quote}", uly=f"{base}-{quote}",
            )  # fmt: skip
        out.append(item)
    return out
