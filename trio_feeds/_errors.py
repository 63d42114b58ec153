"""Exceptions raised by trio_feeds.

::

    TrioFeedsError
    ├── ConfigError (also ValueError)          a wrong argument or setting; names it
    │   └── SymbolError                        an unknown or malformed symbol; names it
    ├── ProtocolError                          the exchange sent something we cannot use
    ├── SubscriptionError                      the exchange refused a subscription
    └── FeedError                              a feed stopped for good
        └── ReconnectLimitError                max_reconnect_attempts was reached

Parsers never raise on bad input: a bad frame becomes a ``ParseError`` event
(``trio_feeds.protocol``) and the frames after it are parsed normally.
"""

from __future__ import annotations


class TrioFeedsError(Exception):
    """Base class of every trio_feeds error."""


class ConfigError(TrioFeedsError, ValueError):
    """An invalid argument or setting.  The message names it and what is accepted."""


class SymbolError(ConfigError):
    """An unknown or malformed symbol."""

    def __init__(self, symbol: object, reason: str, exchange: str | None = None) -> None:
        where = f" for {exchange}" if exchange else ""
        super().__init__(f"symbol {symbol!r}{where}: {reason}")
        self.symbol = symbol
        self.exchange = exchange
        self.reason = reason


class ProtocolError(TrioFeedsError):
    """The remote side broke the protocol."""


class SubscriptionError(TrioFeedsError):
    """The exchange refused a subscription."""

    def __init__(self, exchange: str, symbol: str, channel: str, code: str, message: str) -> None:
        super().__init__(
            f"{exchange} rejected the {channel!r} subscription for {symbol}: [{code}] {message}"
        )
        self.exchange = exchange
        self.symbol = symbol
        self.channel = channel
        self.code = code
        self.message = message


class FeedError(TrioFeedsError):
    """A feed (or one of its sources) stopped for good."""


class ReconnectLimitError(FeedError):
    """A source reached ``max_reconnect_attempts`` and gave up."""
