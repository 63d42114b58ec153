"""Coinbase Advanced Trade public market data (``BTC-USD``, ``BTC-USDT``, …).

>>> from trio_feeds.exchanges.coinbase import CoinbaseAdapter
>>> CoinbaseAdapter().subscription("book", "BTC-USD").topic
'level2:BTC-USD'
"""

from trio_feeds.exchanges.coinbase import facts as facts
from trio_feeds.exchanges.coinbase.adapter import STREAMS as STREAMS
from trio_feeds.exchanges.coinbase.adapter import CoinbaseAdapter as CoinbaseAdapter
from trio_feeds.exchanges.coinbase.book import CoinbaseBookSync as CoinbaseBookSync
