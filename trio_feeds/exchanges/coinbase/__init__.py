"""Coinbase Advanced Trade public market data (``BTC-USD``, ``BTC-USDT``, …).

Protocol adapter, book sync, simulator and the facts the engine needs (``SPEC``).

>>> from trio_feeds.exchanges.coinbase import CoinbaseAdapter
>>> CoinbaseAdapter().subscription("book", "BTC-USD").topic
'level2:BTC-USD'
"""

from trio_feeds.exchanges.coinbase import facts as facts
from trio_feeds.exchanges.coinbase.adapter import STREAMS as STREAMS
from trio_feeds.exchanges.coinbase.adapter import CoinbaseAdapter as CoinbaseAdapter
from trio_feeds.exchanges.coinbase.book import CoinbaseBookSync as CoinbaseBookSync
from trio_feeds.exchanges.spec import ExchangeSpec

SPEC = ExchangeSpec(
    name="coinbase",
    label="Coinbase",
    adapter=CoinbaseAdapter,
    simulator="trio_feeds.exchanges.coinbase.simulator:SimulatedCoinbase",
)

__all__ = ["SPEC", "STREAMS", "CoinbaseAdapter", "CoinbaseBookSync", "facts"]
