"""TLS for the simulated exchanges: a throwaway certificate authority made with ``trustme``.

``trustme`` (by the Trio authors) is a test dependency (``pip install 'trio-feeds[test]'``).
Nothing here is secret or long-lived: every :class:`TestPKI` makes a new CA in memory.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterable
from typing import Any

__all__ = ["TLS_FAULTS", "TestPKI"]

#: handshake faults a simulator can inject (see ``SimulatedExchange.fail_tls``)
TLS_FAULTS = ("reset", "close", "certificate", "hostname", "plain_http", "slow")

#: the simulators' default in-memory host names, always in the test certificate (each
#: exchange's simulator adds its own: ``SimulatedExchange.memory_hosts()``)
MEMORY_HOSTS = ("exchange.invalid", "api.exchange.invalid")


def _trustme() -> Any:
    try:
        import trustme
    except ImportError:  # pragma: no cover - depends on the install
        raise ImportError(
            "TLS on the simulated exchanges needs trustme: pip install trustme "
            "(or pip install 'trio-feeds[test]')"
        ) from None
    return trustme


class TestPKI:
    """A test certificate authority and the certificates the simulators serve.

    * :attr:`client_context`: an ``ssl.SSLContext`` that trusts only this CA (give it to
      ``open_feed(ssl_context=...)`` or any TLS client);
    * :meth:`server_context`: what the simulators serve: ``"good"`` (issued by this CA for
      loopback and the simulators' hosts), ``"untrusted"`` (the same hosts, issued by
      another CA nobody trusts) or ``"wrong_host"`` (this CA, for ``wrong-host.test``).
    """

    __test__ = False  # not a pytest class

    def __init__(self, hosts: Iterable[str] = ()) -> None:
        trustme = _trustme()
        names = list(dict.fromkeys(["127.0.0.1", "localhost", "::1", *MEMORY_HOSTS, *hosts]))
        self.hosts = tuple(names)
        self.ca = trustme.CA()
        self._rogue = trustme.CA()
        self._certs = {
            "good": self.ca.issue_cert(*names),
            "untrusted": self._rogue.issue_cert(*names),
            "wrong_host": self.ca.issue_cert("wrong-host.test"),
        }
        self._contexts: dict[str, ssl.SSLContext] = {}
        # verification on (certificate and host name), trusting this CA only
        self.client_context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        self.ca.configure_trust(self.client_context)

    def server_context(self, which: str = "good") -> ssl.SSLContext:
        ctx = self._contexts.get(which)
        if ctx is None:
            ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            self._certs[which].configure_cert(ctx)
            self._contexts[which] = ctx
        return ctx
