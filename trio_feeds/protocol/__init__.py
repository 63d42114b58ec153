"""Sans-I/O exchange protocols: no trio, no sockets.

>>> from trio_feeds.protocol import BinanceAdapter
>>> a = BinanceAdapter()
>>> sub = a.subscription("trade", "BTC-USDT")
>>> a.endpoint(sub)
'/stream'
"""

from trio_feeds.protocol._base import CHANNEL_ALIASES as CHANNEL_ALIASES
from trio_feeds.protocol._base import Adapter as Adapter
from trio_feeds.protocol._base import normalize_channel as normalize_channel
from trio_feeds.protocol._events import ControlEvent as ControlEvent
from trio_feeds.protocol._events import ExchangeError as ExchangeError
from trio_feeds.protocol._events import ParseError as ParseError
from trio_feeds.protocol._events import Pong as Pong
from trio_feeds.protocol._events import Rejected as Rejected
from trio_feeds.protocol._events import ServerShutdown as ServerShutdown
from trio_feeds.protocol._events import Subscribed as Subscribed
from trio_feeds.protocol._events import Unsubscribed as Unsubscribed
from trio_feeds.protocol._subscription import Subscription as Subscription

__all__ = [
    "CHANNEL_ALIASES",
    "Adapter",
    "ControlEvent",
    "ExchangeError",
    "ParseError",
    "Pong",
    "Rejected",
    "ServerShutdown",
    "Subscribed",
    "Subscription",
    "Unsubscribed",
    "normalize_channel",
]

TYPE_CHECKING = False
if TYPE_CHECKING:
    from trio_feeds.exchanges.binance.adapter import BinanceAdapter as BinanceAdapter
    from trio_feeds.exchanges.okx.adapter import OkxAdapter as OkxAdapter


_LAZY = {
    "BinanceAdapter": "trio_feeds.exchanges.binance.adapter",
    "OkxAdapter": "trio_feeds.exchanges.okx.adapter",
}


def __getattr__(name: str) -> object:
    """The exchange adapters live in :mod:`trio_feeds.exchanges`; kept importable here."""
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    if name in ("ADAPTERS", "get_adapter"):
        import trio_feeds.exchanges as exchanges

        return getattr(exchanges, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
