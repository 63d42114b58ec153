"""The checks behind :class:`~trio_feeds.FeedConfig`: every setting, named the way the user
gave it (an environment variable, ``file: key``, a flag), with its unit.

Kept apart from :mod:`trio_feeds.ops.config` so that module stays a readable size.
"""

from __future__ import annotations

import difflib
import math
import warnings
from collections.abc import Collection, Mapping
from typing import Any

from trio_feeds import exchanges
from trio_feeds.core.errors import ConfigError, SymbolError
from trio_feeds.core.symbols import canonical
from trio_feeds.feed.aggregate import CONFLICT_MODES
from trio_feeds.feed.wildcard import WILDCARDS
from trio_feeds.protocol import normalize_channel

__all__ = ["OPTION_KEYS", "ConfigWarning", "check", "check_latency_ms", "suggest"]


class ConfigWarning(UserWarning):
    """A setting that is allowed but probably not what was meant (e.g. a latency limit given
    in the wrong unit).  The CLI prints it as one line on stderr."""


#: open_feed arguments with seconds as their unit, and whether 0 is allowed
_SECONDS = {
    "connect_timeout": False, "heartbeat_interval": False, "pong_timeout": False,
    "stale_after": False, "reconnect_delay": True, "max_reconnect_delay": True,
    "health_check_interval": False, "failback_after": True,
}  # fmt: skip
#: open_feed arguments that are whole numbers: the smallest value allowed
_INTS = {"max_reconnect_attempts": 0, "book_depth": 1, "buffer_size": 1}
_BOOLS = ("events_in_stream", "keep_raw", "book_deltas")
_CHOICES = {"standby": ("hot", "cold"), "book_mode": ("full", "partial")}
_URLS = ("urls", "rest_urls")

#: open_feed arguments a FeedConfig may hold besides its fields (kept in ``options``)
OPTION_KEYS = frozenset({*_SECONDS, *_INTS, *_BOOLS, *_CHOICES, *_URLS, "seed"})

#: max_source_latency (seconds): refused outside [_LAT_MIN, _LAT_MAX], warned outside the
#: plausible range [_LAT_LOW, _LAT_HIGH]
_LAT_MIN, _LAT_LOW, _LAT_HIGH, _LAT_MAX = 0.001, 0.05, 60.0, 300.0


def suggest(word: str, choices: Collection[str]) -> str:
    """``" (did you mean 'x'?)"`` for a close match, else ``""``."""
    close = difflib.get_close_matches(word, sorted(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _warn(message: str) -> None:
    warnings.warn(message, ConfigWarning, stacklevel=4)


def check_latency_ms(name: str, raw: str) -> float:
    """``MAX_SOURCE_LATENCY`` from the environment: milliseconds text → seconds.  Refuses
    what no feed could meet or wait for, warns on what is probably a unit mistake."""
    unit = "accepted values: a number of milliseconds, e.g. 500 for half a second"
    try:
        ms = float(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a number; {unit}") from None
    if not math.isfinite(ms) or ms <= 0:
        raise ConfigError(f"{name}={raw!r} must be a positive number of milliseconds; {unit}")
    seconds = ms / 1000.0
    if seconds < _LAT_MIN:
        raise ConfigError(
            f"{name}={raw!r} is {ms:g} milliseconds, less than 1 ms: no exchange is that fast. "
            f"{name} is in milliseconds (500 = half a second), not seconds"
        )
    if seconds > _LAT_MAX:
        raise ConfigError(
            f"{name}={raw!r} is {ms:g} milliseconds ({seconds / 60:g} minutes), over the "
            f"5 minutes allowed; {unit}"
        )
    if seconds < _LAT_LOW:
        _warn(
            f"{name}={raw!r} is {ms:g} milliseconds: below a usual network delay, so every "
            f"source may count as too slow ({name} is in milliseconds)"
        )
    elif seconds > _LAT_HIGH:
        _warn(f"{name}={raw!r} is {ms:g} milliseconds ({seconds:g} s): a very lax limit")
    return seconds


def _check_latency_seconds(name: str, value: Any, *, warn: bool) -> None:
    unit = "accepted values: a positive number of seconds, e.g. 0.5"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"{name}={value!r} is not a number; {unit}")
    if not math.isfinite(value) or value <= 0:
        raise ConfigError(f"{name}={value!r} is invalid; {unit}")
    if value < _LAT_MIN:
        raise ConfigError(
            f"{name}={value!r} is {value * 1000:g} milliseconds: no exchange is that fast; {unit}"
        )
    if value > _LAT_MAX:
        raise ConfigError(
            f"{name}={value!r} seconds is over 5 minutes (milliseconds given as seconds?); {unit}"
        )
    if not warn:
        return
    if value < _LAT_LOW:
        _warn(f"{name}={value!r} seconds is {value * 1000:g} ms: below a usual network delay")
    elif value > _LAT_HIGH:
        _warn(
            f"{name}={value!r} seconds is {value / 60:g} minutes; this setting is in seconds "
            f"(0.5 for 500 ms)"
        )


def _check_option(key: str, value: Any, name: str) -> None:
    if key in _SECONDS:
        zero = _SECONDS[key]
        bad = (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or not math.isfinite(value)
            or value < 0
            or (value == 0 and not zero)
        )
        if bad:
            accepted = "a number of seconds >= 0" if zero else "a positive number of seconds"
            raise ConfigError(f"{name}={value!r} is invalid; accepted values: {accepted}")
    elif key in _INTS:
        low = _INTS[key]
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ConfigError(
                f"{name}={value!r} is invalid; accepted values: a whole number >= {low}"
            )
    elif key in _BOOLS:
        if not isinstance(value, bool):
            raise ConfigError(f"{name}={value!r} is not a boolean; accepted values: true, false")
    elif key in _CHOICES:
        if value not in _CHOICES[key]:
            raise ConfigError(
                f"{name}={value!r} is invalid; accepted values: {', '.join(_CHOICES[key])}"
            )
    elif key in _URLS:
        if not isinstance(value, Mapping):
            raise ConfigError(f"{name} must be a table of exchange = URL, got {value!r:.60}")
        for exchange, url in value.items():
            if exchange not in exchanges.names():
                raise ConfigError(
                    f"{name}.{exchange}: unknown exchange {exchange!r}; accepted values: "
                    f"{', '.join(exchanges.names())}"
                )
            if not isinstance(url, str) or "://" not in url:
                raise ConfigError(f"{name}.{exchange}={url!r:.60} is not a URL")
    elif (
        key == "seed"
        and value is not None
        and (isinstance(value, bool) or not isinstance(value, int))
    ):
        raise ConfigError(f"{name}={value!r} is invalid; accepted values: a whole number")


def _names_list(value: Any, what: str) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    try:
        items = tuple(value)
    except TypeError:
        raise ConfigError(f"{what}={value!r} is invalid; accepted values: a list") from None
    for item in items:
        if not isinstance(item, str):
            raise ConfigError(f"{what}: {item!r} is not a string")
    return items


def check(v: Mapping[str, Any], names: Mapping[str, str], changed: Collection[str] = ()) -> None:
    """Raise :class:`ConfigError` for a bad setting; warn (:class:`ConfigWarning`) on an odd
    one among ``changed``.  ``names`` maps fields and option keys to the names the user gave
    them (an environment variable, ``file: key``), for the message."""
    n = {f: names.get(f, f) for f in v}
    known = exchanges.names()
    exs, symbols, channels = (_names_list(v[k], n[k]) for k in ("exchanges", "symbols", "channels"))
    if not exs:
        raise ConfigError(f"{n['exchanges']} is empty; accepted values: {', '.join(known)}")
    for ex in exs:
        if ex not in known:
            raise ConfigError(
                f"{n['exchanges']}: unknown exchange {ex!r}{suggest(ex, known)}; accepted "
                f"values: {', '.join(known)}"
            )
    if len(set(exs)) != len(exs):
        raise ConfigError(f"{n['exchanges']} lists an exchange twice: {list(exs)}")
    if not symbols:
        raise ConfigError(f"{n['symbols']} is empty")
    for s in symbols:
        if isinstance(s, str) and s.strip().upper() in WILDCARDS:
            continue  # every listed instrument (open_feed(symbols="*"))
        try:
            canonical(s)
        except SymbolError as exc:
            raise ConfigError(f"{n['symbols']}: {exc}") from None
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
    if primary is not None and primary not in exs:
        raise ConfigError(
            f"{n['primary']}={primary!r} is not one of the exchanges; accepted values: "
            f"{', '.join(exs)}"
        )
    if v["conflict"] not in CONFLICT_MODES:
        raise ConfigError(
            f"{n['conflict']}={v['conflict']!r} is invalid; accepted values: "
            f"{', '.join(CONFLICT_MODES)}"
        )
    from_env = n["max_source_latency"] == "MAX_SOURCE_LATENCY"  # checked in milliseconds
    if not from_env:
        _check_latency_seconds(
            n["max_source_latency"], v["max_source_latency"],
            warn="max_source_latency" in changed,
        )  # fmt: skip
    options = v["options"]
    unknown = sorted(set(options) - OPTION_KEYS)
    if unknown:
        raise ConfigError(
            f"unknown setting {unknown[0]!r}{suggest(unknown[0], OPTION_KEYS)}; accepted: "
            f"{', '.join(sorted(OPTION_KEYS))}"
        )
    for key, value in options.items():
        _check_option(key, value, names.get(key, key))
