"""What the engine, feed, CLI and sinks know about an exchange: one :class:`ExchangeSpec`.

An exchange package (``trio_feeds.exchanges.<name>``) exposes ``SPEC``; the registry in
:mod:`trio_feeds.exchanges` maps names to specs.  Nothing here imports trio: the spec and
the adapter it names are sans-I/O; the simulator is named by a dotted path and imported
only when a test or the demo asks for it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

import attrs

if TYPE_CHECKING:
    from trio_feeds.protocol._base import Adapter

__all__ = ["ExchangeSpec"]


@attrs.frozen
class ExchangeSpec:
    """One exchange as the rest of trio_feeds sees it.

    ``name`` is the key users pass to :func:`trio_feeds.open_feed`; ``label`` is how the CLI
    and docs spell it; ``adapter`` is the sans-I/O protocol class; ``simulator`` is the
    dotted path (``"package.module:Class"``) of its simulated server, or ``None``.
    """

    name: str
    label: str
    adapter: type[Adapter]
    simulator: str | None = None

    @property
    def default_url(self) -> str:
        return self.adapter.default_url

    @property
    def default_rest_url(self) -> str:
        return self.adapter.default_rest_url

    def simulator_class(self) -> Any:
        """The simulated-server class (imports trio); ``None`` when the exchange has none."""
        if self.simulator is None:
            return None
        module, _, attr = self.simulator.partition(":")
        return getattr(importlib.import_module(module), attr)
