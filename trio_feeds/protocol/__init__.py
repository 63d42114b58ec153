"""Sans-I/O exchange protocols: no trio, no sockets.

>>> from trio_feeds.protocol import BinanceAdapter
>>> a = BinanceAdapter()
>>> sub = a.subscription("trade", "BTC-USDT")
>>> a.endpoint(sub)
'/stream'
"""

from typing import Any

from trio_feeds.protocol._base import CHANNEL_ALIASES as CHANNEL_ALIASES
from trio_feeds.protocol._base import Adapter as Adapter
from trio_feeds.protocol._base import normalize_channel as normalize_channel
from trio_feeds.protocol._events import ConnectionGap as ConnectionGap
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


def __getattr__(name: str) -> Any:
    """Each exchange's adapter lives in its package under :mod:`trio_feeds.exchanges`; the
    adapter classes of registered exchanges stay importable here by their class name."""
    if name not in ("ADAPTERS", "get_adapter") and (
        not name.endswith("Adapter") or name.startswith("_") or name == "Adapter"
    ):
        # e.g. a submodule being imported (``from trio_feeds.protocol import _rules``)
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    exchanges = importlib.import_module("trio_feeds.exchanges")
    if name in ("ADAPTERS", "get_adapter"):
        return getattr(exchanges, name)
    for exchange in exchanges.names():
        adapter = exchanges.get(exchange).adapter
        if adapter.__name__ == name:
            return adapter
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
