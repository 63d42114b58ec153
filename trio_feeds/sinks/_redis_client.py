"""Redis connections for the sinks: URL checks, a coredis client, and what its errors mean.

Needs the ``redis`` extra (coredis, which runs on anyio and so natively under Trio).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

import trio

from trio_feeds.core.errors import ConfigError
from trio_feeds.core.redact import redact

if TYPE_CHECKING:
    import coredis

__all__ = ["open_redis", "parse_redis_url"]


def _coredis() -> Any:
    try:
        import coredis
    except ImportError:  # pragma: no cover - depends on the install
        raise ConfigError("Redis support needs coredis: pip install 'trio-feeds[redis]'") from None
    return coredis


def _errors() -> tuple[type[BaseException], ...]:
    """What a lost or unusable connection raises."""
    import coredis.exceptions as ce

    return (ce.ConnectionError, ce.RedisError, OSError, TimeoutError, trio.TooSlowError)


def _connection_errors() -> tuple[type[BaseException], ...]:
    """What a lost connection raises (the outcome of a write is then unknown)."""
    import coredis.exceptions as ce

    return (ce.ConnectionError, OSError, TimeoutError, trio.TooSlowError)


def _response_error() -> type[BaseException]:
    import coredis.exceptions as ce

    return ce.ResponseError


def _positive_int(name: str, value: Any, *, allow_zero: bool = False) -> int:
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < (0 if allow_zero else 1):
        what = "an int >= 0" if allow_zero else "a positive int"
        raise ConfigError(f"{name} must be {what}, got {value!r}")
    return value


def parse_redis_url(url: str) -> tuple[str, dict[str, str]]:
    """Check ``redis://host:port[/db][?option=value…]``; return the connection URL and options.

    ``rediss://`` (TLS) is accepted too.  The query options are sink settings
    (``maxlen``, ``buffer_size``, …), not coredis ones.
    """
    if not isinstance(url, str):
        raise ConfigError(f"Redis URL must be a string, got {redact(repr(url))}")
    parts = urlsplit(url)
    if parts.scheme not in ("redis", "rediss"):
        raise ConfigError(f"Redis URL {redact(repr(url))}: expected redis://host:port[/db]")
    try:
        port = parts.port
    except ValueError:
        raise ConfigError(f"Redis URL {redact(repr(url))}: bad port") from None
    if not parts.hostname:
        raise ConfigError(
            f"Redis URL {redact(repr(url))}: no host (expected redis://host:port[/db])"
        )
    db = parts.path.strip("/")
    if db and not db.isdigit():
        raise ConfigError(
            f"Redis URL {redact(repr(url))}: the path must be a database number, got {db!r}"
        )
    netloc = parts.netloc
    if port is None:
        netloc += ":6379"
    base = f"{parts.scheme}://{netloc}/{db or 0}"
    return base, dict(parse_qsl(parts.query, keep_blank_values=True))


@asynccontextmanager
async def open_redis(
    url: str,
    *,
    connect_timeout: float = 5.0,
    stream_timeout: float | None = None,
    retry: bool = False,
) -> AsyncIterator[coredis.Redis[bytes]]:
    """A coredis client for ``redis://host:port[/db]`` (bytes responses).

    ``retry=False`` (the default here) turns off coredis' own command retries:
    the sink and the readers decide themselves what may be repeated.
    """
    cd = _coredis()
    base, _ = parse_redis_url(url)
    from coredis.retry import NoRetryPolicy

    kwargs: dict[str, Any] = {"connect_timeout": connect_timeout, "stream_timeout": stream_timeout}
    if not retry:
        kwargs["retry_policy"] = NoRetryPolicy()
    client: coredis.Redis[bytes] = cd.Redis.from_url(base, decode_responses=False, **kwargs)
    async with client:
        yield client
