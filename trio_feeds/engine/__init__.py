"""The trio engine: connections, sessions, heartbeats, reconnects, limits, book keeping.

It knows no exchange by name: what differs per venue comes from the exchange's spec.
"""
