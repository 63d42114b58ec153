"""Bybit v5 public market data: spot (``BTC-USDT``) and USDT perpetuals (``BTC-USDT-PERP``).

Protocol adapter, book sync, simulator and the facts the engine needs (``SPEC``).

>>> from trio_feeds.exchanges.bybit import BybitAdapter
>>> BybitAdapter().subscription("trade", "BTC-USDT").topic
'publicTrade.BTCUSDT'
"""

from trio_feeds.exchanges.bybit import facts as facts
from trio_feeds.exchanges.bybit.adapter import STREAMS as STREAMS
from trio_feeds.exchanges.bybit.adapter import BybitAdapter as BybitAdapter
from trio_feeds.exchanges.bybit.adapter import split_symbol as split_symbol
from trio_feeds.exchanges.bybit.book import BybitBookSync as BybitBookSync
from trio_feeds.exchanges.spec import ExchangeSpec

SPEC = ExchangeSpec(
    name="bybit",
    label="Bybit",
    adapter=BybitAdapter,
    simulator="trio_feeds.exchanges.bybit.simulator:SimulatedBybit",
)

__all__ = ["SPEC", "STREAMS", "BybitAdapter", "BybitBookSync", "facts", "split_symbol"]
