"""The simulated-exchange framework (server, market, faults, TLS) the exchange simulators share.

Public names are re-exported by :mod:`trio_feeds.testing`.
"""

__all__: list[str] = []
