"""Writing a batch to Redis Streams, and finding what an interrupted write already wrote.

Every stream entry has two fields:

``d``
    the item as :func:`trio_feeds.dumps` writes it (orjson bytes);
``s``
    ``b"<producer>:<seq>"``: the writing sink's id and a number that grows by one
    per entry it writes.  After a connection breaks in the middle of a write the
    sink looks for its newest ``s`` in each stream it was writing to and skips
    what is there already, so a retry never writes an entry twice.
"""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING, Any

from trio_feeds.core.redact import redact
from trio_feeds.sinks._base import SinkStats
from trio_feeds.sinks._redis_client import _connection_errors, _response_error

if TYPE_CHECKING:
    import coredis

__all__ = ["XADD_SCRIPT", "unwritten", "write_batch"]

#: one EVAL per stream key and batch: XADD every entry server-side
#: (KEYS[1] = stream, ARGV[1] = MAXLEN or 0, then d, s pairs)
XADD_SCRIPT = """
local n = ARGV[1]
for i = 2, #ARGV, 2 do
  if n == '0' then
    redis.call('XADD', KEYS[1], '*', 'd', ARGV[i], 's', ARGV[i + 1])
  else
    redis.call('XADD', KEYS[1], 'MAXLEN', '~', n, '*', 'd', ARGV[i], 's', ARGV[i + 1])
  end
end
return (#ARGV - 1) / 2
"""
_SCRIPT_CHUNK = 1000
_RECOVER_SCAN = 10_000


async def write_batch(
    client: coredis.Redis[bytes],
    batch: list[tuple[str, bytes, bytes]],
    *,
    method: str,
    maxlen: int,
    stats: SinkStats,
) -> int:
    """Write ``batch`` (``(key, payload, tag)`` entries) with one pipeline; return how many
    entries Redis refused (a wrong-type key, …).  A lost connection raises."""
    groups: dict[str, list[tuple[bytes, bytes]]] = defaultdict(list)
    for key, payload, tag in batch:
        groups[key].append((payload, tag))
    requests: list[tuple[int, Any]] = []
    async with client.pipeline(transaction=False, raise_on_error=False) as pipe:
        if method == "script":
            for key, entries in groups.items():
                for start in range(0, len(entries), _SCRIPT_CHUNK):
                    chunk = entries[start : start + _SCRIPT_CHUNK]
                    args: list[bytes | int] = [maxlen]
                    for payload, tag in chunk:
                        args.append(payload)
                        args.append(tag)
                    requests.append((len(chunk), pipe.eval(XADD_SCRIPT, [key], args)))
        else:
            from coredis import PureToken

            trim: dict[str, Any] = {}
            if maxlen:
                trim = {
                    "trim_strategy": PureToken.MAXLEN,
                    "threshold": maxlen,
                    "trim_operator": PureToken.APPROXIMATELY,
                }
            for key, entries in groups.items():
                for payload, tag in entries:
                    requests.append((1, pipe.xadd(key, {b"d": payload, b"s": tag}, **trim)))
    failed = 0
    response_error = _response_error()
    connection_errors = _connection_errors()
    for n, request in requests:
        result = await request
        if isinstance(result, connection_errors):
            raise result
        if isinstance(result, response_error):
            failed += n
            stats.errors += 1
            stats.last_error = redact(repr(result))
    return failed


async def unwritten(
    client: coredis.Redis[bytes], batch: list[tuple[str, bytes, bytes]], prefix: bytes
) -> list[tuple[str, bytes, bytes]]:
    """What of ``batch`` an interrupted write did not put in Redis: for each stream, the
    newest entry tagged by this producer (``prefix``) says how far it got."""
    keys = {key for key, _, _ in batch}
    last: dict[str, int] = {}
    for key in keys:
        seen = 0
        end: bytes = b"+"
        while seen < _RECOVER_SCAN:
            entries = await client.xrevrange(key, end, b"-", count=500)
            if not entries:
                break
            hit = None
            for entry in entries:
                tag = entry.field_values.get(b"s", b"")
                if isinstance(tag, bytes) and tag.startswith(prefix):
                    hit = int(tag[len(prefix) :])
                    break
            if hit is not None:
                last[key] = hit
                break
            seen += len(entries)
            ident = entries[-1].identifier
            end = b"(" + (ident if isinstance(ident, bytes) else ident.encode())
    return [b for b in batch if int(b[2][len(prefix) :]) > last.get(b[0], -1)]
