"""The public feed: aggregation across sources, failover, the consumer buffer."""

#: a layer, not an API: import from its modules (public names: ``trio_feeds``)
__all__: list[str] = []
