"""Records ↔ JSON-compatible data, with cattrs and orjson.

The rules live here, not on the records (cattrs' "keep them separated"):

* every record becomes a dict with its ``kind`` — the key used to structure it back;
* book levels become ``[price, size]`` lists;
* ``raw`` (the original payload) is left out unless ``include_raw=True``.

>>> from trio_feeds import Trade, dumps, loads
>>> t = Trade("binance", "BTC-USDT", 1, 2.0, 3.0, 4.0, "buy", "7")
>>> loads(dumps(t)) == t
True
"""

from __future__ import annotations

from typing import Any

import attrs
import cattrs
import orjson
from cattrs.gen import make_dict_unstructure_fn, override

from trio_feeds.core.errors import ProtocolError
from trio_feeds.core.records import EVENT_TYPES, RECORD_TYPES, Item

ALL_TYPES: dict[str, type[Any]] = {**RECORD_TYPES, **EVENT_TYPES}


def make_converter(include_raw: bool = False) -> cattrs.Converter:
    """A converter for every record and event type.

    ``include_raw`` keeps the original exchange payload (``raw``) in the output.
    """
    conv = cattrs.Converter()
    for cls in ALL_TYPES.values():
        overrides: dict[str, Any] = {}
        if "raw" in {a.name for a in attrs.fields(cls)}:
            overrides["raw"] = override(omit=not include_raw)
        conv.register_unstructure_hook(
            cls,
            make_dict_unstructure_fn(
                cls,
                conv,
                _cattrs_omit_if_default=False,
                _cattrs_include_init_false=True,
                **overrides,
            ),
        )
    return conv


converter = make_converter()
"""The default converter (``raw`` omitted)."""


def unstructure(item: Item, conv: cattrs.Converter | None = None) -> dict[str, Any]:
    """A record or event as a JSON-compatible dict (with its ``kind``)."""
    data: dict[str, Any] = (conv or converter).unstructure(item)
    return data


def structure(data: dict[str, Any], conv: cattrs.Converter | None = None) -> Item:
    """The inverse of :func:`unstructure`; ``kind`` picks the type."""
    try:
        cls = ALL_TYPES[data["kind"]]
    except (KeyError, TypeError) as exc:
        raise ProtocolError(f"cannot structure {data!r}: missing or unknown 'kind'") from exc
    fields = {k: v for k, v in data.items() if k != "kind"}
    item: Item = (conv or converter).structure(fields, cls)
    return item


def dumps(item: Item, conv: cattrs.Converter | None = None) -> bytes:
    """A record or event as JSON bytes (orjson)."""
    return orjson.dumps(unstructure(item, conv))


def loads(data: bytes | str, conv: cattrs.Converter | None = None) -> Item:
    """The inverse of :func:`dumps`."""
    return structure(orjson.loads(data), conv)


__all__ = [
    "ALL_TYPES",
    "converter",
    "dumps",
    "loads",
    "make_converter",
    "structure",
    "unstructure",
]
