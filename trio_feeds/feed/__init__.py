"""The public feed: aggregation across sources, failover, the consumer buffer."""
