"""What the receive path can tell about a batch from the classes of its items (internal).

A socket read gives a batch of a thousand records or more, nearly always of one or two
classes.  ``set(map(type, batch))`` is one pass in C; when every class is one of the
package's record classes (:data:`RECORD_KINDS`), the session skips the per-item work that
only control events, trades or exchange-time stamps need (see ``docs/performance.md``).
"""

from __future__ import annotations

from collections.abc import Iterable
from operator import attrgetter
from typing import Any, Final

import attrs

from trio_feeds.core import perp, records

__all__: list[str] = []


def _record_kinds() -> dict[type, str]:
    kinds: dict[type, str] = {}
    for module in (records, perp):
        for obj in vars(module).values():
            if isinstance(obj, type) and attrs.has(obj):
                field = attrs.fields_dict(obj).get("kind")
                # ``kind`` is set by the class itself (init=False), never by the caller
                if field is not None and not field.init and isinstance(field.default, str):
                    kinds[obj] = field.default
    return kinds


#: record class -> the ``kind`` of every instance
RECORD_KINDS: Final[dict[type, str]] = _record_kinds()
#: the record classes (a batch of only these holds no control event)
RECORDS: Final = frozenset(RECORD_KINDS)
#: record classes whose instances may carry ``exchange_time=False``
TIMED: Final = frozenset(t for t in RECORDS if "exchange_time" in attrs.fields_dict(t))
#: record classes of kind ``"trade"`` or ``"gap"``: a batch with neither needs no trade-id
#: work (dedupe, backfill)
TRADES_OR_GAPS: Final = frozenset(t for t, k in RECORD_KINDS.items() if k in ("trade", "gap"))

_exchange_time: Final = attrgetter("exchange_time")


def types_of(items: Iterable[Any]) -> set[type]:
    """The classes of ``items``, in one pass."""
    return set(map(type, items))


def none_exchange_timed(types: set[type], items: list[Any]) -> bool:
    """True when, by ``types`` (the classes of ``items``), no item is stamped with an
    exchange time: they all have ``exchange_time`` and it is False for each."""
    return types <= TIMED and not any(map(_exchange_time, items))
