"""The trio engine: connections, sessions, heartbeats, reconnects, limits, book keeping.

It knows no exchange by name: what differs per venue comes from the exchange's spec.
"""

#: a layer, not an API: import from its modules (public names: ``trio_feeds``)
__all__: list[str] = []
