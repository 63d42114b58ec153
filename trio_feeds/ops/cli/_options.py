"""Flags shared by the commands, their checks, and the :class:`FeedConfig` they build.

Every value is checked here, before anything connects: a bad one is one line on stderr and
exit code 2 (argparse types raise :class:`argparse.ArgumentTypeError`; settings raise
:class:`~trio_feeds.ConfigError`).
"""

from __future__ import annotations

import argparse
import math
import os
from collections.abc import Sequence
from typing import Any

from trio_feeds import exchanges
from trio_feeds.core.errors import ConfigError
from trio_feeds.core.redact import redact


def _number(value: str) -> float:
    try:
        v = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {value!r}") from None
    if not math.isfinite(v):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {value!r}")
    return v


def positive(value: str) -> float:
    """A number > 0 (seconds, a rate, a speed)."""
    v = _number(value)
    if not v > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {value!r}")
    return v


def non_negative(value: str) -> float:
    """A number >= 0 (``--duration``: 0 means no limit)."""
    v = _number(value)
    if v < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0 (0: no limit), got {value!r}")
    return v


def count(value: str) -> int:
    """An integer >= 1."""
    try:
        v = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {value!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value!r}")
    return v


def whole(value: str) -> int:
    """An integer >= 0."""
    try:
        v = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {value!r}") from None
    if v < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value!r}")
    return v


def port(value: str) -> int:
    """A TCP port, 0-65535 (0: any free port)."""
    try:
        v = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a port number, got {value!r}") from None
    if not 0 <= v <= 65535:
        raise argparse.ArgumentTypeError(f"a port is 0-65535 (0: any free port), got {value!r}")
    return v


def check_port_free(host: str, number: int, flag: str, host_flag: str = "--host") -> None:
    """ConfigError naming the flag when ``host:number`` cannot be listened on (port in use,
    no permission, not a local address, unknown host name).  Port 0: any free port."""
    import socket

    try:
        infos = socket.getaddrinfo(host, number, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except OSError as exc:
        reason = exc.strerror or exc
        raise ConfigError(f"{host_flag} {host!r}: cannot listen there: {reason}") from None
    family, kind, proto, _name, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
    except OSError as exc:
        reason = exc.strerror or exc
        if number == 0:
            raise ConfigError(f"{host_flag} {host!r}: cannot listen there: {reason}") from None
        raise ConfigError(f"{flag} {number}: cannot listen on {host}:{number}: {reason}") from None
    finally:
        sock.close()


def split_list(values: Sequence[str] | None) -> list[str]:
    """Repeated flags and comma lists alike: ``["a,b", "c"]`` → ``["a", "b", "c"]``."""
    return [part.strip() for value in values or () for part in value.split(",") if part.strip()]


def pairs(option: str, values: Sequence[str] | None) -> dict[str, str] | None:
    """``["NAME=ws://h:p", …]`` (or comma-joined) → ``{"NAME": "ws://h:p", …}``."""
    if not values:
        return None
    out: dict[str, str] = {}
    for value in values:
        for part in value.split(","):
            name, sep, url = part.partition("=")
            if not sep or not name.strip() or not url.strip():
                raise ConfigError(f"{option} expects EXCHANGE=URL, got {redact(repr(part))}")
            key = name.strip().lower()
            exchanges.get(key)  # an unknown exchange is named with the choices
            out[key] = url.strip()
    return out


def add_feed_options(p: argparse.ArgumentParser, *, policy: bool = True) -> None:
    """The flags of the commands that open a feed (``stream``, ``record``)."""
    known = ", ".join(exchanges.names())
    p.add_argument("--exchange", action="append", metavar="NAME",
                   help=f"{known} (repeatable, or comma separated; any case)")  # fmt: skip
    p.add_argument("--symbol", action="append", metavar="SYMBOL",
                   help="BTC-USDT, BTC/USDT or BTCUSDT (repeatable, or comma list)")  # fmt: skip
    p.add_argument("--channel", action="append", metavar="CHANNEL",
                   help="trade, quote, ticker, book, candle (repeatable, comma list)")  # fmt: skip
    if policy:
        p.add_argument("--primary", metavar="NAME",
                       help="the preferred exchange (failover order)")  # fmt: skip
        p.add_argument("--conflict", choices=["primary", "latest", "average"],
                       help="how records of several exchanges are combined")  # fmt: skip
        p.add_argument("--no-failover", dest="failover", action="store_false", default=None,
                       help="stay on the primary exchange (no switch when it fails)")  # fmt: skip
        p.add_argument("--standby", choices=["hot", "cold"],
                       help="hot: every exchange connected; cold: connect on failover")  # fmt: skip
    p.add_argument("--stale-after", type=positive, metavar="S",
                   help="seconds without data before a connection counts as stale")  # fmt: skip
    p.add_argument("--book-depth", type=count, metavar="N", help="levels kept per book side")
    p.add_argument("--max-reconnect-attempts", type=whole, metavar="N",
                   help="give up after N reconnect attempts in a row (default: never)")  # fmt: skip
    p.add_argument("--config", metavar="FILE", help="TOML settings (then env, then flags)")
    p.add_argument("--duration", type=non_negative, default=0.0, metavar="S",
                   help="stop after S seconds (default 0: never)")  # fmt: skip
    p.add_argument("--urls", action="append", metavar="NAME=URL",
                   help="WebSocket URL of an exchange, e.g. a simulator from serve-sim "
                        "(repeatable, or comma separated)")  # fmt: skip
    p.add_argument("--rest-urls", dest="rest_urls", action="append", metavar="NAME=URL",
                   help="REST URL of an exchange (book snapshots; repeatable)")  # fmt: skip


_FLAG_OPTIONS = (
    ("stale_after", "stale_after"),
    ("book_depth", "book_depth"),
    ("max_reconnect_attempts", "max_reconnect_attempts"),
    ("standby", "standby"),
)


def feed_config(args: argparse.Namespace) -> Any:
    """FeedConfig from --config (TOML), the environment, then the command-line flags."""
    from trio_feeds.ops.config import FeedConfig

    config = FeedConfig.load(args.config, os.environ)
    changes: dict[str, Any] = {}
    names: dict[str, str] = {}
    for key, flag in (("exchange", "exchanges"), ("symbol", "symbols"), ("channel", "channels")):
        values = split_list(getattr(args, key, None))
        if getattr(args, key, None) and not values:
            raise ConfigError(f"--{key} is empty")
        if values:
            changes[flag] = tuple(v.lower() for v in values) if key == "exchange" else tuple(values)
            names[flag] = f"--{key}"
    for key, flag in (("primary", "--primary"), ("conflict", "--conflict")):
        if getattr(args, key, None):
            changes[key] = args.primary.lower() if key == "primary" else args.conflict
            names[key] = flag
    if getattr(args, "failover", None) is False:
        changes["failover"] = False
        names["failover"] = "--no-failover"
    options = dict(config.options)
    for key, option in (("urls", "--urls"), ("rest_urls", "--rest-urls")):
        found = pairs(option, getattr(args, key, None))
        if found is not None:
            options[key] = found
    for attr, key in _FLAG_OPTIONS:
        value = getattr(args, attr, None)
        if value is not None:
            options[key] = value
    changes["options"] = options
    if "primary" not in changes and config.primary not in (
        changes.get("exchanges") or (config.primary,)
    ):
        changes["primary"] = None  # --exchange replaced the exchanges: default to the first
    return config._evolve(changes, names)
