"""Bybit v5 public market data: spot (``BTC-USDT``) and USDT perpetuals (``BTC-USDT-PERP``).

>>> from trio_feeds.exchanges.bybit import BybitAdapter
>>> BybitAdapter().subscription("trade", "BTC-USDT").topic
'publicTrade.BTCUSDT'
"""

from . import facts as facts
from .adapter import STREAMS as STREAMS
from .adapter import BybitAdapter as BybitAdapter
from .adapter import split_symbol as split_symbol
from .book import BybitBookSync as BybitBookSync
