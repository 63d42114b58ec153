"""One package per exchange, and the registry that maps exchange names to their specs.

Each ``trio_feeds.exchanges.<name>`` package holds everything about one venue (protocol
adapter, symbol mapping, book rules, simulator) and exposes ``SPEC``, an
:class:`~trio_feeds.exchanges.spec.ExchangeSpec`.  The engine and the tools look exchanges
up here and name none themselves.

Third-party exchanges join in one of two ways (see ``docs/adding-an-exchange.md``):

* at run time: ``trio_feeds.exchanges.register(MY_SPEC)``;
* by installing a package that declares an entry point in the group
  ``trio_feeds.exchanges`` (:data:`ENTRY_POINT_GROUP`), named after the exchange and
  pointing at its ``ExchangeSpec`` (or at a module with ``SPEC``, or at a function
  returning one).  Entry points are read when an exchange name is first looked up and
  each is loaded only when its exchange is asked for; one that fails to load is reported
  (a ``RuntimeWarning``, and :func:`plugin_errors`) and leaves the others working.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import types
import warnings
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from trio_feeds.exchanges.spec import ExchangeSpec as ExchangeSpec

if TYPE_CHECKING:
    from trio_feeds.protocol._base import Adapter

__all__ = [
    "ADAPTERS",
    "DEFAULT_EXCHANGES",
    "DEMO_EXCHANGES",
    "ENTRY_POINT_GROUP",
    "ExchangeSpec",
    "get",
    "get_adapter",
    "names",
    "plugin_errors",
    "refresh_plugins",
    "register",
    "unregister",
]

#: the entry-point group third-party packages declare their exchanges in
ENTRY_POINT_GROUP = "trio_feeds.exchanges"

# Built-in exchanges, imported on first use.
_BUILTIN = ("binance", "okx", "bybit", "coinbase", "binance_usdm")
#: what :func:`trio_feeds.open_feed` streams from when no exchange is named
DEFAULT_EXCHANGES: tuple[str, ...] = ("binance",)
#: the exchanges the offline demo (``python -m trio_feeds demo``) runs by default
DEMO_EXCHANGES: tuple[str, ...] = ("binance", "okx")
_REGISTRY: dict[str, ExchangeSpec] = {}
_loaded = False
#: entry points found and not loaded yet (None: not looked for yet)
_plugins: dict[str, importlib.metadata.EntryPoint] | None = None
_plugin_errors: dict[str, str] = {}


def _load_builtin() -> None:
    global _loaded
    if _loaded:
        return
    for name in _BUILTIN:
        spec = importlib.import_module(f"trio_feeds.exchanges.{name}").SPEC
        _REGISTRY.setdefault(spec.name, spec)
    _loaded = True


def _discover() -> dict[str, importlib.metadata.EntryPoint]:
    """The entry points of :data:`ENTRY_POINT_GROUP` not loaded yet (read once)."""
    global _plugins
    if _plugins is None:
        found: dict[str, importlib.metadata.EntryPoint] = {}
        try:
            entry_points = list(importlib.metadata.entry_points(group=ENTRY_POINT_GROUP))
        except Exception as exc:  # a broken installed distribution must not break us
            _report("*", f"reading the {ENTRY_POINT_GROUP!r} entry points failed: {exc!r}")
            entry_points = []
        for ep in entry_points:
            if ep.name in found and found[ep.name].value != ep.value:
                _report(
                    ep.name,
                    f"exchange plugin {ep.name!r} is declared twice "
                    f"({found[ep.name].value} and {ep.value}); using the first",
                )
                continue
            found.setdefault(ep.name, ep)
        _plugins = found
    return _plugins


def _report(name: str, message: str) -> None:
    _plugin_errors[name] = message
    warnings.warn(message, RuntimeWarning, stacklevel=4)


def _as_spec(obj: Any) -> ExchangeSpec:
    if isinstance(obj, types.ModuleType):
        obj = getattr(obj, "SPEC", None)
    elif callable(obj) and not isinstance(obj, ExchangeSpec):
        obj = obj()
    if not isinstance(obj, ExchangeSpec):
        raise TypeError(f"expected an ExchangeSpec, got {type(obj).__name__}")
    return obj


def _load_plugin(name: str) -> ExchangeSpec | None:
    """Load the entry point of exchange ``name``, if one is declared and not loaded yet."""
    ep = _discover().pop(name, None)
    if ep is None:
        return None
    try:
        spec = _as_spec(ep.load())
        if spec.name != name:
            raise ValueError(f"its spec is named {spec.name!r}, not {name!r}")
    except Exception as exc:
        _report(
            name,
            f"exchange plugin {name!r} ({ep.value}) failed to load: {type(exc).__name__}: {exc}",
        )
        return None
    if name in _REGISTRY:  # registered meanwhile (built-in names never reach here)
        return _REGISTRY[name]
    _REGISTRY[name] = spec
    return spec


def refresh_plugins() -> None:
    """Read the entry points again (after installing a plugin in a running process).

    Exchanges already registered stay as they are; earlier load errors are forgotten.
    """
    global _plugins
    _plugins = None
    _plugin_errors.clear()


def plugin_errors() -> dict[str, str]:
    """Exchange plugins that could not be loaded: name → what went wrong."""
    return dict(_plugin_errors)


def register(spec: ExchangeSpec, *, replace: bool = False) -> None:
    """Make an exchange known to :func:`trio_feeds.open_feed`, the CLI and the sinks."""
    if not isinstance(spec, ExchangeSpec):
        raise TypeError(f"register() takes an ExchangeSpec, got {type(spec).__name__}")
    _load_builtin()
    if spec.name in _REGISTRY and not replace:
        raise ValueError(f"exchange {spec.name!r} is already registered")
    _REGISTRY[spec.name] = spec
    # a plugin of the same name is shadowed by an explicit registration
    _discover().pop(spec.name, None)


def unregister(name: str) -> None:
    """Forget an exchange registered with :func:`register` (or loaded from a plugin)."""
    _REGISTRY.pop(name, None)


def names() -> list[str]:
    """The registered exchange names, and those of plugins not loaded yet, sorted."""
    _load_builtin()
    pending = [n for n in _discover() if n not in _plugin_errors]
    return sorted({*_REGISTRY, *pending})


def get(name: str) -> ExchangeSpec:
    """The spec for an exchange name; :class:`~trio_feeds.ConfigError` for an unknown one."""
    from trio_feeds.core.errors import ConfigError

    _load_builtin()
    try:
        return _REGISTRY[name]
    except (KeyError, TypeError):
        pass
    spec = _load_plugin(name) if isinstance(name, str) else None
    if spec is not None:
        return spec
    if isinstance(name, str) and name in _plugin_errors:
        raise ConfigError(_plugin_errors[name]) from None
    raise ConfigError(
        f"exchange {name!r} is not supported; choose from {', '.join(names())}"
    ) from None


def get_adapter(name: str) -> type[Adapter]:
    """The adapter class for an exchange name; a clear error for an unknown one."""
    return get(name).adapter


class _Adapters(Mapping[str, "type[Adapter]"]):
    """A live, read-only view name → adapter class over the registry."""

    def __getitem__(self, name: str) -> type[Adapter]:
        from trio_feeds.core.errors import ConfigError

        try:
            return get(name).adapter
        except ConfigError:
            raise KeyError(name) from None

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        _load_builtin()
        return name in _REGISTRY or (name in _discover() and name not in _plugin_errors)

    def __iter__(self) -> Iterator[str]:
        return iter(names())

    def __len__(self) -> int:
        return len(names())


#: a live, read-only view of the registry: exchange name -> its adapter class
ADAPTERS: Mapping[str, type[Adapter]] = _Adapters()
