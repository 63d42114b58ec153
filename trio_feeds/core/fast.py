"""Record constructors for the hot paths (internal).

attrs' frozen ``__init__`` sets each field through ``object.__setattr__``; the
parsers and the book keepers build one record per update, so they use the
constructors here, which build the very same objects directly.
"""

from __future__ import annotations

from collections.abc import Callable
from types import MemberDescriptorType
from typing import Any, TypeVar, cast

import attrs

from trio_feeds.core.accel import speedups
from trio_feeds.core.records import Book, BookDelta, Candle, Quote, Ticker, Trade

_R = TypeVar("_R")


def fast_constructor(cls: type[_R], *, native: bool = True) -> Callable[..., _R]:
    """A drop-in for ``cls(...)`` that fills a frozen slotted attrs instance's slots directly.

    attrs' frozen ``__init__`` goes through ``object.__setattr__`` per field.
    With the C extension (and ``native``) the slots are filled at their offsets
    by ``_speedups.RecordBuilder`` (~8x faster than ``cls(...)``); without it,
    a generated function sets the member descriptors (~1.8x faster).  Same
    signature as ``cls``.  Falls back to ``cls`` itself when the class has
    anything the shortcut would skip (validators, converters, factories,
    ``__attrs_*_init__``) or when a trial build differs from the real
    constructor's.
    """
    fields = attrs.fields(cast(Any, cls))
    if (
        hasattr(cls, "__attrs_post_init__")
        or hasattr(cls, "__attrs_pre_init__")
        or any(
            not isinstance(cls.__dict__.get(f.name), MemberDescriptorType)
            or f.validator is not None
            or f.converter is not None
            or isinstance(f.default, attrs.Factory)  # type: ignore[arg-type]
            or f.alias != f.name
            for f in fields
        )
    ):
        return cls
    build: Callable[..., _R] | None = None
    if native and speedups is not None:
        build = _native_builder(cls, fields)
    if build is None:
        build = _python_builder(cls, fields)
    # Trial: the same arguments must give the same slots as the real constructor.
    args = [object() for f in fields if f.init and not f.kw_only and f.default is attrs.NOTHING]
    extra = {f.name: object() for f in fields if f.init and f.kw_only}
    try:
        ref, got = cls(*args, **extra), build(*args, **extra)
        same = type(got) is cls and all(
            getattr(ref, f.name) is getattr(got, f.name) for f in fields
        )
    except Exception:  # pragma: no cover - a record shape this shortcut does not know
        same = False
    return build if same else cls


def _native_builder(cls: type[_R], fields: Any) -> Callable[..., _R] | None:
    assert speedups is not None
    missing = object()
    positional = [i for i, f in enumerate(fields) if f.init and not f.kw_only]
    keyword = [i for i, f in enumerate(fields) if f.init and f.kw_only]
    try:
        return cast(
            Callable[..., _R],
            speedups.RecordBuilder(
                cls,
                tuple(f.name for f in fields),
                tuple(positional + keyword),
                len(positional),
                tuple(missing if f.default is attrs.NOTHING else f.default for f in fields),
                missing,
            ),
        )
    except (TypeError, ValueError):  # pragma: no cover - not a plain slotted class
        return None


def _python_builder(cls: type[_R], fields: Any) -> Callable[..., _R]:
    ns: dict[str, Any] = {"_new": object.__new__, "_cls": cls, "__name__": __name__}
    positional: list[str] = []
    keyword: list[str] = []
    body: list[str] = []
    for f in fields:
        ns[f"_set_{f.name}"] = cls.__dict__[f.name].__set__
        if f.default is not attrs.NOTHING:
            ns[f"_d_{f.name}"] = f.default
        if not f.init:
            body.append(f"    _set_{f.name}(o, _d_{f.name})")
            continue
        param = f.name if f.default is attrs.NOTHING else f"{f.name}=_d_{f.name}"
        (keyword if f.kw_only else positional).append(param)
        body.append(f"    _set_{f.name}(o, {f.name})")
    params = ", ".join(positional + (["*", *keyword] if keyword else []))
    src = f"def build({params}):\n    o = _new(_cls)\n" + "\n".join(body) + "\n    return o\n"
    exec(src, ns)  # the technique attrs itself uses to generate __init__
    return cast(Callable[..., _R], ns["build"])


new_trade = fast_constructor(Trade)
new_quote = fast_constructor(Quote)
new_ticker = fast_constructor(Ticker)
new_book = fast_constructor(Book)
new_delta = fast_constructor(BookDelta)
new_candle = fast_constructor(Candle)

__all__ = [
    "fast_constructor",
    "new_book",
    "new_candle",
    "new_delta",
    "new_quote",
    "new_ticker",
    "new_trade",
]
