"""Sans-I/O exchange protocols: no trio, no sockets.

>>> from trio_feeds.protocol import BinanceAdapter
>>> a = BinanceAdapter()
>>> sub = a.subscription("trade", "BTC-USDT")
>>> a.endpoint(sub)
'/stream'
"""

from ._base import CHANNEL_ALIASES as CHANNEL_ALIASES
from ._base import Adapter as Adapter
from ._base import normalize_channel as normalize_channel
from ._events import ControlEvent as ControlEvent
from ._events import ExchangeError as ExchangeError
from ._events import ParseError as ParseError
from ._events import Pong as Pong
from ._events import Rejected as Rejected
from ._events import ServerShutdown as ServerShutdown
from ._events import Subscribed as Subscribed
from ._events import Unsubscribed as Unsubscribed
from ._subscription import Subscription as Subscription
from .binance import BinanceAdapter as BinanceAdapter
from .okx import OkxAdapter as OkxAdapter

ADAPTERS: dict[str, type[Adapter]] = {"binance": BinanceAdapter, "okx": OkxAdapter}


def get_adapter(exchange: str) -> type[Adapter]:
    """The adapter class for an exchange name; a clear error for an unknown one."""
    from .._errors import ConfigError

    try:
        return ADAPTERS[exchange]
    except (KeyError, TypeError):
        raise ConfigError(
            f"exchange {exchange!r} is not supported; choose from {', '.join(sorted(ADAPTERS))}"
        ) from None
