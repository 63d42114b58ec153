"""One package per exchange, and the registry that maps exchange names to their specs.

Each ``trio_feeds.exchanges.<name>`` package holds everything about one venue (protocol
adapter, symbol mapping, book rules, simulator) and exposes ``SPEC``, an
:class:`~trio_feeds.exchanges.spec.ExchangeSpec`.  The engine and the tools look exchanges
up here and name none themselves.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import TYPE_CHECKING

from trio_feeds.exchanges.spec import ExchangeSpec as ExchangeSpec

if TYPE_CHECKING:
    from trio_feeds.protocol._base import Adapter

__all__ = ["ADAPTERS", "ExchangeSpec", "get", "get_adapter", "names", "register", "unregister"]

# Built-in exchanges, imported on first use.
_BUILTIN = ("binance", "okx")
_REGISTRY: dict[str, ExchangeSpec] = {}
_loaded = False


def _load_builtin() -> None:
    global _loaded
    if _loaded:
        return
    for name in _BUILTIN:
        spec = importlib.import_module(f"trio_feeds.exchanges.{name}").SPEC
        _REGISTRY.setdefault(spec.name, spec)
    _loaded = True


def register(spec: ExchangeSpec, *, replace: bool = False) -> None:
    """Make an exchange known to :func:`trio_feeds.open_feed`, the CLI and the sinks."""
    _load_builtin()
    if spec.name in _REGISTRY and not replace:
        raise ValueError(f"exchange {spec.name!r} is already registered")
    _REGISTRY[spec.name] = spec


def unregister(name: str) -> None:
    """Forget an exchange registered with :func:`register`."""
    _REGISTRY.pop(name, None)


def names() -> list[str]:
    """The registered exchange names, sorted."""
    _load_builtin()
    return sorted(_REGISTRY)


def get(name: str) -> ExchangeSpec:
    """The spec for an exchange name; :class:`~trio_feeds.ConfigError` for an unknown one."""
    from trio_feeds.core.errors import ConfigError

    _load_builtin()
    try:
        return _REGISTRY[name]
    except (KeyError, TypeError):
        raise ConfigError(
            f"exchange {name!r} is not supported; choose from {', '.join(names())}"
        ) from None


def get_adapter(name: str) -> type[Adapter]:
    """The adapter class for an exchange name; a clear error for an unknown one."""
    return get(name).adapter


class _Adapters(Mapping[str, "type[Adapter]"]):
    """A live, read-only view name → adapter class over the registry."""

    def __getitem__(self, name: str) -> type[Adapter]:
        _load_builtin()
        return _REGISTRY[name].adapter

    def __iter__(self):  # type: ignore[no-untyped-def]
        _load_builtin()
        return iter(sorted(_REGISTRY))

    def __len__(self) -> int:
        _load_builtin()
        return len(_REGISTRY)


#: a live, read-only view of the registry: exchange name -> its adapter class
ADAPTERS: Mapping[str, type[Adapter]] = _Adapters()
