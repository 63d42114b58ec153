"""Argument checks shared by the public entry points; errors name the argument."""

from __future__ import annotations

import math
from typing import Any

from trio_feeds.core.errors import ConfigError


def seconds(name: str, value: Any, *, allow_zero: bool = False, parse_str: bool = False) -> float:
    """A finite, positive (or, with ``allow_zero``, non-negative) number of seconds.

    ``parse_str`` also accepts a numeric string (URL query options, environment).
    """
    if parse_str and isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            pass
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"{name} must be a number of seconds, got {value!r}")
    v = float(value)
    if not math.isfinite(v) or v < 0 or (v == 0 and not allow_zero):
        raise ConfigError(f"{name} must be a positive number of seconds, got {value!r}")
    return v


__all__ = [
    "seconds",
]
