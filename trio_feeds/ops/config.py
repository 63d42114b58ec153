"""``FeedConfig``: open_feed's settings from the environment, a TOML file, or code.

Precedence (lowest first): the defaults, a TOML file, the environment, explicit overrides
(``config.open_feed(**overrides)`` or :meth:`FeedConfig.evolve`).

Environment variables (the names deployments already use)::

    ENABLE_WEBSOCKET_FEEDS   bool    false: config.open_feed refuses to start a feed
    PRIMARY_EXCHANGE         str     binance | okx (must be one of the exchanges)
    ENABLE_FAILOVER          bool
    MAX_SOURCE_LATENCY       float   MILLISECONDS (converted to seconds)
    CONFLICT_RESOLUTION      str     primary | latest | average
    TRIO_FEEDS_EXCHANGES     list    comma separated, e.g. "binance,okx"
    TRIO_FEEDS_SYMBOLS       list    "BTC-USDT,ETH-USDT"
    TRIO_FEEDS_CHANNELS      list    "trade,quote"
    TRIO_FEEDS_TRANSPORT     str     default | trio-websocket

Booleans accept true/false, 1/0, yes/no, on/off (any case).
"""

from __future__ import annotations

import math
import os
import tomllib
from collections.abc import AsyncIterator, Iterable, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import attrs

from trio_feeds.core.errors import ConfigError
from trio_feeds.engine.transport import TRANSPORTS
from trio_feeds.exchanges import ADAPTERS
from trio_feeds.feed.aggregate import CONFLICT_MODES
from trio_feeds.feed.feed import Feed, open_feed
from trio_feeds.protocol import normalize_channel

__all__ = ["ENV_VARS", "FeedConfig", "parse_bool"]

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

#: open_feed arguments a TOML file may set besides the FeedConfig fields (kept in ``options``)
_OPTION_KEYS = frozenset(
    {
        "urls", "rest_urls", "connect_timeout", "heartbeat_interval", "pong_timeout",
        "stale_after", "reconnect_delay", "max_reconnect_delay", "max_reconnect_attempts",
        "health_check_interval", "failback_after", "standby", "events_in_stream", "buffer_size",
        "keep_raw", "book_depth", "book_mode", "book_deltas", "seed",
    }
)  # fmt: skip


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
    return tuple(value)


def _check(v: Mapping[str, Any], names: Mapping[str, str]) -> None:
    """Raise :class:`ConfigError` for a bad setting.  ``names`` maps fields to the names the
    user gave them (an environment variable, a TOML key), for the message."""
    n = {f: names.get(f, f) for f in v}
    known = sorted(ADAPTERS)
    exchanges, symbols, channels = v["exchanges"], v["symbols"], v["channels"]
    if not exchanges:
        raise ConfigError(f"{n['exchanges']} is empty; accepted values: {', '.join(known)}")
    for ex in exchanges:
        if ex not in ADAPTERS:
            raise ConfigError(
                f"{n['exchanges']}: unknown exchange {ex!r}; accepted values: {', '.join(known)}"
            )
    if len(set(exchanges)) != len(exchanges):
        raise ConfigError(f"{n['exchanges']} lists an exchange twice: {list(exchanges)}")
    if not symbols:
        raise ConfigError(f"{n['symbols']} is empty")
    if not channels:
        raise ConfigError(f"{n['channels']} is empty")
    for ch in channels:
        try:
            normalize_channel(ch)
        except ConfigError as exc:
            raise ConfigError(f"{n['channels']}: {exc}") from None
    for key in ("enabled", "failover"):
        if not isinstance(v[key], bool):
            raise ConfigError(f"{n[key]}={v[key]!r} is not a boolean; accepted values: true, false")
    primary = v["primary"]
    if primary is not None and primary not in exchanges:
        raise ConfigError(
            f"{n['primary']}={primary!r} is not one of the exchanges; accepted values: "
            f"{', '.join(exchanges)}"
        )
    if v["conflict"] not in CONFLICT_MODES:
        raise ConfigError(
            f"{n['conflict']}={v['conflict']!r} is invalid; accepted values: "
            f"{', '.join(CONFLICT_MODES)}"
        )
    lat = v["max_source_latency"]
    if (
        isinstance(lat, bool)
        or not isinstance(lat, (int, float))
        or not math.isfinite(lat)
        or lat <= 0
    ):
        raise ConfigError(
            f"{n['max_source_latency']}={lat!r} is invalid; accepted values: a positive number"
        )
    if v["transport"] not in TRANSPORTS:
        raise ConfigError(
            f"{n['transport']}={v['transport']!r} is invalid; accepted values: "
            f"{', '.join(TRANSPORTS)}"
        )
    unknown = set(v["options"]) - _OPTION_KEYS
    if unknown:
        raise ConfigError(
            f"unknown setting(s) {', '.join(sorted(unknown))}; accepted: "
            f"{', '.join(sorted(_OPTION_KEYS))}"
        )


@attrs.frozen(kw_only=True)
class FeedConfig:
    """The settings of a feed.  Durations are seconds.

    ``options`` holds any other :func:`~trio_feeds.open_feed` keyword arguments
    (``stale_after``, ``urls``, …).
    """

    enabled: bool = True
    exchanges: tuple[str, ...] = attrs.field(default=("binance",), converter=_tuple)
    symbols: tuple[str, ...] = attrs.field(default=("BTC-USDT",), converter=_tuple)
    channels: tuple[str, ...] = attrs.field(default=("trade",), converter=_tuple)
    primary: str | None = None
    failover: bool = True
    conflict: str = "primary"
    max_source_latency: float = 5.0
    #: how connections run: ``"default"`` or ``"trio-websocket"`` (see ``open_feed``)
    transport: str = "default"
    options: Mapping[str, Any] = attrs.field(factory=dict, converter=dict)

    def __attrs_post_init__(self) -> None:
        _check(attrs.asdict(self, recurse=False), {})

    # -- sources ---------------------------------------------------------------------------
    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, *, base: FeedConfig | None = None
    ) -> FeedConfig:
        """``base`` (default: the defaults) with every variable of :data:`ENV_VARS` that is
        set in ``environ`` (default ``os.environ``) applied.  Empty values are ignored."""
        env = os.environ if environ is None else environ
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
                try:
                    ms = float(raw)
                except ValueError:
                    raise ConfigError(
                        f"{var}={raw!r} is not a number; accepted values: a positive number of "
                        "milliseconds, e.g. 500"
                    ) from None
                if not math.isfinite(ms) or ms <= 0:
                    raise ConfigError(
                        f"{var}={raw!r}: accepted values: a positive number of milliseconds"
                    )
                value = ms / 1000.0
            elif field in ("exchanges", "symbols", "channels"):
                value = _split(var, raw)
            elif field == "conflict":
                value = raw.strip().lower()
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
        (seconds for durations, e.g. ``max_source_latency = 0.5``)."""
        p = Path(path)
        try:
            data = tomllib.loads(p.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigError(f"cannot read config file {str(p)!r}: {exc}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {str(p)!r} is not valid TOML: {exc}") from None
        table = data.get("trio_feeds", data)
        if not isinstance(table, dict):
            raise ConfigError(f"{p}: [trio_feeds] must be a table")
        return cls.from_mapping(table, base=base, where=str(p))

    @classmethod
    def from_mapping(
        cls, data: Mapping[str, Any], *, base: FeedConfig | None = None, where: str = "config"
    ) -> FeedConfig:
        """Settings from a dict of FeedConfig fields and open_feed argument names."""
        fields = set(attrs.fields_dict(cls)) - {"options"}
        changes: dict[str, Any] = {}
        options = dict((base or cls()).options)
        for key, value in data.items():
            if key in fields:
                changes[key] = value
            elif key in _OPTION_KEYS:
                options[key] = value
            else:
                raise ConfigError(
                    f"{where}: unknown setting {key!r}; accepted: "
                    f"{', '.join(sorted(fields | _OPTION_KEYS))}"
                )
        changes["options"] = options
        return (base or cls())._evolve(changes, {k: f"{where}: {k}" for k in changes})

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
        values.update(changes)
        for key in ("exchanges", "symbols", "channels"):
            values[key] = _tuple(values[key])
        _check(values, names)  # first, to name the variable or key the user set
        return FeedConfig(**values)

    def evolve(self, **changes: Any) -> FeedConfig:
        """A copy with some settings changed (validated)."""
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
