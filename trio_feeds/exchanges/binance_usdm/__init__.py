"""Binance USD-M futures (USDT-margined perpetuals): adapter, book rules, ``SPEC``.

Exchange name ``"binance-usdm"``; symbols ``BTC-USDT-PERP``.
"""

from trio_feeds.exchanges.binance_usdm.adapter import BinanceUsdmAdapter as BinanceUsdmAdapter
from trio_feeds.exchanges.binance_usdm.book import UsdmBookSync as UsdmBookSync
from trio_feeds.exchanges.spec import ExchangeSpec

SPEC = ExchangeSpec(name="binance-usdm", label="Binance USD-M", adapter=BinanceUsdmAdapter)

__all__ = ["SPEC", "BinanceUsdmAdapter", "UsdmBookSync"]
