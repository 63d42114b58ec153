"""OKX: protocol adapter, simulator and the facts the engine needs (``SPEC``)."""

from trio_feeds.exchanges.okx.adapter import OkxAdapter as OkxAdapter
from trio_feeds.exchanges.spec import ExchangeSpec

SPEC = ExchangeSpec(
    name="okx",
    label="OKX",
    adapter=OkxAdapter,
    simulator="trio_feeds.exchanges.okx.simulator:SimulatedOkx",
)

__all__ = ["SPEC", "OkxAdapter"]
