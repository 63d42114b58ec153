"""``FeedConfig``: open_feed's settings from the environment, a TOML file, or code.

Precedence (lowest first): the defaults, a TOML file, the environment, explicit overrides
(``config.open_feed(**overrides)`` or :meth:`FeedConfig.evolve`).

Environment variables (the names deployments already use)::

    ENABLE_WEBSOCKET_FEEDS   bool    false: config.open_feed refuses to start a feed
    PRIMARY_EXCHANGE         str     one of the exchanges (a name of trio_feeds.exchanges)
    ENABLE_FAILOVER          bool
    MAX_SOURCE_LATENCY       float   MILLISECONDS (converted to seconds; 1 ms - 1 h)
    CONFLICT_RESOLUTION      str     primary | latest | average
    TRIO_FEEDS_EXCHANGES     list    comma separated registered names (trio_feeds.exchanges)
    TRIO_FEEDS_SYMBOLS       list    "BTC-USDT,ETH/USDT" (any accepted symbol form)
    TRIO_FEEDS_CHANNELS      list    "trade,quote"
    TRIO_FEEDS_TRANSPORT     str     default | trio-websocket

Booleans accept true/false, 1/0, yes/no, on/off (any case).  Exchange names are
case-insensitive; symbols are normalized with :func:`trio_feeds.canonical`.  Other
``TRIO_FEEDS_*`` names are warned about (:class:`ConfigWarning`): a misspelt variable is
otherwise silently ignored.  In a TOML file and in code ``max_source_latency`` is in
**seconds**; implausible values are refused or warned about, and every message says the unit.
"""

from __future__ import annotations

import inspect
import os
import tomllib
from collections.abc import AsyncIterator, Iterable, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import attrs

from trio_feeds.core.errors import ConfigError, SymbolError
from trio_feeds.core.symbols import canonical
from trio_feeds.engine.transport import TRANSPORTS
from trio_feeds.feed.feed import Feed, open_feed
from trio_feeds.ops._config_check import OPTION_KEYS as _OPTION_KEYS
from trio_feeds.ops._config_check import ConfigWarning as ConfigWarning
from trio_feeds.ops._config_check import check as _check
from trio_feeds.ops._config_check import check_latency_ms, suggest

__all__ = ["ENV_VARS", "OTHER_ENV_VARS", "ConfigWarning", "FeedConfig", "parse_bool"]

_TRUE = frozenset({"true", "1", "yes", "on"})
_FALSE = frozenset({"false", "0", "no", "off"})
_BOOL_VALUES = "true/false, 1/0, yes/no, on/off"

#: environment variable -> FeedConfig field
ENV_VARS: dict[str, str] = {
    "ENABLE_WEBSOCKET_FEEDS": "enabled",
    "PRIMARY_EXCHANGE": "primary",
    "ENABLE_FAILOVER": "failover",
    "MAX_SOURCE_LATENCY": "max_source_latency",
    "CONFLICT_RESOLUTION": "conflict",
    "TRIO_FEEDS_EXCHANGES": "exchanges",
    "TRIO_FEEDS_SYMBOLS": "symbols",
    "TRIO_FEEDS_CHANNELS": "channels",
    "TRIO_FEEDS_TRANSPORT": "transport",
}

#: other ``TRIO_FEEDS_*`` variables trio_feeds reads (not settings of a feed)
OTHER_ENV_VARS = frozenset(
    {"TRIO_FEEDS_PURE_PYTHON", "TRIO_FEEDS_REQUIRE_SPEEDUPS", "TRIO_FEEDS_CAPTURES"}
)


#: open_feed's own defaults (the defaults of a FeedConfig are the same)
_FEED_DEFAULTS: dict[str, Any] = {
    name: p.default
    for name, p in inspect.signature(open_feed).parameters.items()
    if p.default is not inspect.Parameter.empty
}


def parse_bool(name: str, value: str) -> bool:
    """``"true"``/``"1"``/``"yes"``/``"on"`` → True, the opposites → False, else ConfigError."""
    v = value.strip().lower()
    if v in _TRUE:
        return True
    if v in _FALSE:
        return False
    raise ConfigError(f"{name}={value!r} is not a boolean; accepted values: {_BOOL_VALUES}")


def _split(name: str, value: str) -> tuple[str, ...]:
    items = tuple(x.strip() for x in value.split(",") if x.strip())
    if not items:
        raise ConfigError(f"{name}={value!r} is empty; give a comma-separated list")
    return items


def _tuple(value: Iterable[str] | str) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    try:
        return tuple(value)
    except TypeError:  # refused by the checks, which name the setting
        return value  # type: ignore[return-value]


def _exchange_names(value: Any) -> Any:
    names: Any = _tuple(value)
    if isinstance(names, tuple):
        return tuple(x.strip().lower() if isinstance(x, str) else x for x in names)
    return names


def _symbols(value: Any) -> Any:
    def one(s: Any) -> Any:
        try:
            return canonical(s)
        except SymbolError:  # refused by the checks, which name the setting
            return s

    names: Any = _tuple(value)
    return tuple(one(s) for s in names) if isinstance(names, tuple) else names


def _transport(name: str, value: Any) -> Any:
    """``value`` when it names a transport, else a :class:`ConfigError` naming ``name``."""
    if value not in TRANSPORTS:
        raise ConfigError(f"{name}={value!r} is invalid; accepted values: {', '.join(TRANSPORTS)}")
    return value


def _lower(value: Any) -> Any:
    return value.strip().lower() if isinstance(value, str) else value


@attrs.frozen(kw_only=True)
class FeedConfig:
    """The settings of a feed.  Durations are seconds.

    ``options`` holds any other :func:`~trio_feeds.open_feed` keyword arguments
    (``stale_after``, ``urls``, …).  Exchange names are stored lower-case and symbols in
    canonical form (``"btc/usdt"`` → ``"BTC-USDT"``).  Every way of making one validates it
    and raises :class:`~trio_feeds.ConfigError` naming the setting as the user gave it.
    """

    enabled: bool = True
    exchanges: tuple[str, ...] = attrs.field(
        factory=lambda: _tuple(_FEED_DEFAULTS["exchanges"]), converter=_exchange_names
    )
    symbols: tuple[str, ...] = attrs.field(
        factory=lambda: _tuple(_FEED_DEFAULTS["symbols"]), converter=_symbols
    )
    channels: tuple[str, ...] = attrs.field(
        factory=lambda: _tuple(_FEED_DEFAULTS["channels"]), converter=_tuple
    )
    primary: str | None = attrs.field(default=None, converter=_lower)
    failover: bool = True
    conflict: str = "primary"
    max_source_latency: float = _FEED_DEFAULTS["max_source_latency"]
    #: how connections run: ``"default"`` or ``"trio-websocket"`` (see ``open_feed``)
    transport: str = "default"
    options: Mapping[str, Any] = attrs.field(factory=dict)

    def __attrs_post_init__(self) -> None:
        if not isinstance(self.options, Mapping):
            raise ConfigError(f"options must be a mapping, got {self.options!r:.60}")
        object.__setattr__(self, "options", dict(self.options))
        _transport("transport", self.transport)
        _check(attrs.asdict(self, recurse=False), {})

    # -- sources ---------------------------------------------------------------------------
    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, *, base: FeedConfig | None = None
    ) -> FeedConfig:
        """``base`` (default: the defaults) with every variable of :data:`ENV_VARS` that is
        set in ``environ`` (default ``os.environ``) applied.  Empty values are ignored; other
        ``TRIO_FEEDS_*`` names give a :class:`ConfigWarning` (a typo would be ignored)."""
        env = os.environ if environ is None else environ
        _warn_unknown_env(env)
        changes: dict[str, Any] = {}
        names: dict[str, str] = {}
        for var, field in ENV_VARS.items():
            raw = env.get(var)
            if raw is None or not raw.strip():
                continue
            names[field] = var
            value: Any
            if field in ("enabled", "failover"):
                value = parse_bool(var, raw)
            elif field == "max_source_latency":
                value = check_latency_ms(var, raw)  # milliseconds -> seconds
            elif field in ("exchanges", "symbols", "channels"):
                value = _split(var, raw)
            elif field == "conflict":
                value = raw.strip().lower()
            elif field == "transport":
                value = _transport(var, raw.strip())
            else:
                value = raw.strip()
            changes[field] = value
        return (base or cls())._evolve(changes, names)

    @classmethod
    def from_toml(
        cls, path: str | os.PathLike[str], *, base: FeedConfig | None = None
    ) -> FeedConfig:
        """Settings from a TOML file: top-level keys, or a ``[trio_feeds]`` table.

        Keys are :class:`FeedConfig` fields and :func:`~trio_feeds.open_feed` argument names
        (seconds for durations, e.g. ``max_source_latency = 0.5``).  Errors name the file
        and the key."""
        p = Path(path)
        try:
            data = tomllib.loads(p.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"cannot read config file {str(p)!r}: {exc}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {str(p)!r} is not valid TOML: {exc}") from None
        table = data.get("trio_feeds", data)
        if not isinstance(table, dict):
            raise ConfigError(f"{p}: trio_feeds must be a table ([trio_feeds])")
        return cls.from_mapping(table, base=base, where=str(p))

    @classmethod
    def from_mapping(
        cls, data: Mapping[str, Any], *, base: FeedConfig | None = None, where: str = "config"
    ) -> FeedConfig:
        """Settings from a dict of FeedConfig fields and open_feed argument names."""
        fields = set(attrs.fields_dict(cls)) - {"options"}
        changes: dict[str, Any] = {}
        options = dict((base or cls()).options)
        names: dict[str, str] = {}
        for key, value in data.items():
            names[key] = f"{where}: {key}"
            if key in fields:
                changes[key] = value
            elif key in _OPTION_KEYS:
                options[key] = value
            else:
                accepted = fields | _OPTION_KEYS
                raise ConfigError(
                    f"{where}: unknown setting {key!r}{suggest(str(key), accepted)}; accepted: "
                    f"{', '.join(sorted(accepted))}"
                )
        changes["options"] = options
        return (base or cls())._evolve(changes, names)

    @classmethod
    def load(
        cls,
        path: str | os.PathLike[str] | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> FeedConfig:
        """Defaults, then the TOML file ``path`` (if given), then the environment."""
        base = cls.from_toml(path) if path is not None else cls()
        return cls.from_env(environ, base=base)

    def _evolve(self, changes: Mapping[str, Any], names: Mapping[str, str]) -> FeedConfig:
        if not changes:
            return self
        values = attrs.asdict(self, recurse=False)
        fields = set(values) - {"options"}
        options = dict(values["options"])
        for key, value in changes.items():
            if key == "options":
                if not isinstance(value, Mapping):
                    raise ConfigError(f"options must be a mapping, got {value!r:.60}")
                options = dict(value)
            elif key in fields:
                values[key] = value
            elif key in _OPTION_KEYS:
                options[key] = value  # evolve(stale_after=3.0) like open_feed(stale_after=3.0)
            else:
                accepted = fields | _OPTION_KEYS | {"options"}
                raise ConfigError(
                    f"unknown setting {key!r}{suggest(str(key), accepted)}; accepted: "
                    f"{', '.join(sorted(accepted))}"
                )
        values["options"] = options
        values["exchanges"] = _exchange_names(values["exchanges"])
        values["symbols"] = _symbols(values["symbols"])
        values["channels"] = _tuple(values["channels"])
        values["primary"] = _lower(values["primary"])
        changed = set(changes) | set(changes.get("options", ()))
        _check(values, names, changed)  # first, to name the variable or key the user set
        return FeedConfig(**values)

    def evolve(self, **changes: Any) -> FeedConfig:
        """A copy with some settings changed, validated: :class:`~trio_feeds.ConfigError`
        for a bad value or an unknown name.  ``open_feed`` argument names (``stale_after``)
        go to :attr:`options`."""
        return self._evolve(changes, {})

    # -- use -------------------------------------------------------------------------------
    def feed_kwargs(self, **overrides: Any) -> dict[str, Any]:
        """The keyword arguments for :func:`~trio_feeds.open_feed` (``overrides`` win)."""
        kwargs: dict[str, Any] = {
            "exchanges": list(self.exchanges),
            "symbols": list(self.symbols),
            "channels": list(self.channels),
            "primary": self.primary,
            "failover": self.failover,
            "conflict": self.conflict,
            "max_source_latency": self.max_source_latency,
            "transport": self.transport,
            **self.options,
        }
        kwargs.update(overrides)
        return kwargs

    @asynccontextmanager
    async def open_feed(self, **overrides: Any) -> AsyncIterator[Feed]:
        """:func:`~trio_feeds.open_feed` with these settings (``overrides`` win).

        Raises :class:`ConfigError` when the feeds are disabled (``enabled=False``,
        ``ENABLE_WEBSOCKET_FEEDS=false``)."""
        if not self.enabled:
            raise ConfigError(
                "WebSocket feeds are disabled (ENABLE_WEBSOCKET_FEEDS=false / enabled=false)"
            )
        async with open_feed(**self.feed_kwargs(**overrides)) as feed:
            yield feed


def _warn_unknown_env(env: Mapping[str, str]) -> None:
    import warnings

    settings = {v for v in ENV_VARS if v.startswith("TRIO_FEEDS_")}
    for var in sorted(env):
        if var.startswith("TRIO_FEEDS_") and var not in settings | OTHER_ENV_VARS:
            warnings.warn(
                f"unknown environment variable {var} ignored{suggest(var, settings)}; "
                f"the settings are {', '.join(sorted(ENV_VARS))}",
                ConfigWarning,
                stacklevel=3,
            )
