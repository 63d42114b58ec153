"""Exceptions raised by trio_feeds.

::

    TrioFeedsError
    ├── ConfigError (also ValueError)          a wrong argument or setting; names it
    │   ├── SymbolError                        an unknown or malformed symbol; names it
    │   └── TLSCertificateError (also TLSError) the server's certificate was not accepted
    ├── TLSError                               a TLS handshake failed (``reason``: tls_reset,
    │                                          tls_protocol, tls_certificate); ``__cause__``
    │                                          is the ssl / socket error behind it
    ├── ProtocolError                          the exchange sent something we cannot use
    │   └── HandshakeRejected                  the WebSocket handshake got an HTTP error
    ├── SubscriptionError                      the exchange refused a subscription
    └── FeedError                              a feed stopped for good
        └── ReconnectLimitError                max_reconnect_attempts was reached

Connection failures (``TLSError``, ``HandshakeRejected``, timeouts, resets) do not end a
feed: they become ``SourceEvent`` s naming the reason and the connection is retried with
backoff (``certificate_errors="fatal"`` makes ``TLSCertificateError`` end it instead).

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


class HandshakeRejected(ProtocolError):
    """The server answered the WebSocket handshake with an HTTP error (429, 503, …)."""

    def __init__(self, url: str, status: int, phrase: str = "", body: str = "") -> None:
        text = f"HTTP {status} {phrase}".strip()
        super().__init__(
            f"WebSocket handshake with {url} refused: {text}" + (f": {body}" if body else "")
        )
        self.url = url
        self.status = status
        self.phrase = phrase
        self.body = body


class TLSError(TrioFeedsError):
    """The TLS handshake with a server failed.

    ``reason`` is ``"tls_reset"`` (the connection was reset or closed during the handshake),
    ``"tls_protocol"`` (the server does not speak TLS there, e.g. plain HTTP on a TLS port,
    or broke the protocol) or ``"tls_certificate"`` (see :class:`TLSCertificateError`);
    ``detail`` says what happened.  ``__cause__`` is the ``ssl`` or socket error behind it.
    """

    def __init__(self, reason: str, detail: str, url: str = "") -> None:
        where = f" with {url}" if url else ""
        super().__init__(f"TLS handshake{where} failed ({reason}): {detail}")
        self.reason = reason
        self.detail = detail
        self.url = url


class TLSCertificateError(TLSError, ConfigError):
    """The server's certificate was not accepted (untrusted issuer, wrong host name, expired).

    Retried like any connection failure, unless the feed was opened with
    ``certificate_errors="fatal"``: then it ends the feed (it is a :class:`ConfigError`:
    a certificate that is not trusted is usually a setting to fix, or an attack).
    """

    def __init__(self, detail: str, url: str = "") -> None:
        super().__init__("tls_certificate", detail, url)


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


__all__ = [
    "ConfigError",
    "FeedError",
    "HandshakeRejected",
    "ProtocolError",
    "ReconnectLimitError",
    "SubscriptionError",
    "SymbolError",
    "TLSCertificateError",
    "TLSError",
    "TrioFeedsError",
]
