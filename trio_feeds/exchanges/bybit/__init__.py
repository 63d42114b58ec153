"""Bybit v5 public market data: spot (``BTC-USDT``) and USDT perpetuals (``BTC-USDT-PERP``).

>>> from trio_feeds.exchanges.bybit import BybitAdapter
>>> BybitAdapter().subscription("trade", "BTC-USDT").topic
'publicTrade.BTCUSDT'
"""

from trio_feeds.exchanges.bybit import facts as facts
from trio_feeds.exchanges.bybit.adapter import STREAMS as STREAMS
from trio_feeds.exchanges.bybit.adapter import BybitAdapter as BybitAdapter
from trio_feeds.exchanges.bybit.adapter import split_symbol as split_symbol
from trio_feeds.exchanges.bybit.book import BybitBookSync as BybitBookSync
