"""Coinbase Advanced Trade public market data (``BTC-USD``, ``BTC-USDT``, …).

>>> from trio_feeds.exchanges.coinbase import CoinbaseAdapter
>>> CoinbaseAdapter().subscription("book", "BTC-USD").topic
'level2:BTC-USD'
"""

from . import facts as facts
from .adapter import STREAMS as STREAMS
from .adapter import CoinbaseAdapter as CoinbaseAdapter
from .book import CoinbaseBookSync as CoinbaseBookSync
