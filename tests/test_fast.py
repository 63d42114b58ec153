"""The hot-path record constructors (trio_feeds/_fast.py) and the C ``pairs``
helper: they must build exactly what the real constructors build, and refuse
exactly what they refuse, on the C extension and without it."""

from __future__ import annotations

import os
from typing import Any

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import trio_feeds.core.records as _records
import trio_feeds.exchanges.okx.frames as okx
from trio_feeds.books.orderbook import BookUpdated
from trio_feeds.core.accel import speedups
from trio_feeds.core.fast import fast_constructor

RECORD_CLASSES = [
    getattr(_records, name)
    for name in dir(_records)
    if attrs.has(getattr(_records, name)) and isinstance(getattr(_records, name), type)
] + [BookUpdated]

_value = st.one_of(
    st.none(),
    st.integers(),
    st.floats(allow_nan=False),
    st.text(max_size=5),
    st.tuples(st.tuples(st.floats(), st.floats())),
)


def _builders(cls: type) -> list[Any]:
    builders: list[Any] = [fast_constructor(cls, native=False)]
    if speedups is not None:
        builders.append(fast_constructor(cls))
    return builders


def _same(a: object, b: object) -> bool:
    return type(a) is type(b) and all(
        getattr(a, f.name) is getattr(b, f.name)
        for f in attrs.fields(type(a))  # type: ignore[arg-type]
    )


def test_every_record_class_gets_a_fast_constructor() -> None:
    assert len(RECORD_CLASSES) >= 12
    for cls in RECORD_CLASSES:
        for build in _builders(cls):
            assert build is not cls, f"{cls.__name__}: the shortcut fell back to the class"


@settings(max_examples=300, deadline=None)
@given(cls=st.sampled_from(RECORD_CLASSES), data=st.data())
def test_fast_constructors_build_what_the_class_builds(cls: type, data: st.DataObject) -> None:
    fields = [f for f in attrs.fields(cls) if f.init]
    positional = [f for f in fields if not f.kw_only]
    required = [f for f in positional if f.default is attrs.NOTHING]
    n = data.draw(st.integers(len(required), len(positional)), label="positional")
    args = [data.draw(_value) for _ in range(n)]
    as_keywords = data.draw(st.booleans(), label="as keywords")
    kwargs = {f.name: data.draw(_value) for f in fields if f.kw_only and data.draw(st.booleans())}
    if as_keywords:
        kwargs.update({f.name: a for f, a in zip(positional, args, strict=False)})
        args = []
    ref = cls(*args, **kwargs)
    for build in _builders(cls):
        got = build(*args, **kwargs)
        assert _same(got, ref) and got == ref and repr(got) == repr(ref)
        assert hash(got) == hash(ref) if _hashable(ref) else True


def _hashable(x: object) -> bool:
    try:
        hash(x)
    except TypeError:
        return False
    return True


@pytest.mark.parametrize("cls", RECORD_CLASSES, ids=lambda c: c.__name__)
def test_fast_constructors_refuse_what_the_class_refuses(cls: type) -> None:
    fields = [f for f in attrs.fields(cls) if f.init]
    positional = [f for f in fields if not f.kw_only]
    required = [f for f in positional if f.default is attrs.NOTHING]
    full = [object() for _ in positional]
    calls: list[tuple[list[object], dict[str, object]]] = [
        (full[: len(required) - 1], {}),  # a required argument missing
        ([*full, object()], {}),  # one positional argument too many
        (full, {"no_such_field": 1}),
        (full, {positional[0].name: 1}),  # twice
    ]
    for args, kwargs in calls:
        with pytest.raises(TypeError):
            cls(*args, **kwargs)
        for build in _builders(cls):
            with pytest.raises(TypeError):
                build(*args, **kwargs)


def test_records_built_in_c_are_garbage_collected_and_frozen() -> None:
    import gc
    import weakref

    for build in _builders(_records.Book):
        book = build("okx", "BTC-USDT", 1, 1.0, ((1.0, 2.0),), (), 7)
        ref = weakref.ref(book)
        with pytest.raises(attrs.exceptions.FrozenInstanceError):
            book.symbol = "ETH-USDT"
        cycle: list[object] = [book]
        cycle.append(cycle)
        del book, cycle
        gc.collect()
        assert ref() is None


_level = st.tuples(st.floats(allow_nan=False), st.floats(allow_nan=False))


@settings(max_examples=200, deadline=None)
@given(st.lists(_level, max_size=30))
def test_c_pairs_equals_the_python_pairs(levels: list[tuple[float, float]]) -> None:
    structs = [okx._Level(p, s) for p, s in levels]
    expected = okx._py_pairs(structs)
    assert expected == tuple(levels)
    assert repr(okx._pairs(structs)) == repr(expected)


def test_c_pairs_refuses_what_is_not_a_level() -> None:
    if speedups is None:
        pytest.skip("the C extension trio_feeds._speedups is not built or is off")
    price, size = okx._Level.price, okx._Level.size
    with pytest.raises(TypeError, match="list"):
        speedups.pairs(price, size, (okx._Level(1.0, 2.0),))
    with pytest.raises(TypeError):
        speedups.pairs(price, size, [okx._Level(1.0, 2.0), (1.0, 2.0)])
    with pytest.raises(TypeError, match="descriptor"):
        speedups.pairs("price", size, [])
    with pytest.raises(TypeError):
        speedups.pairs(price, size)


def test_the_c_helpers_are_in_use_when_required() -> None:
    """CI sets TRIO_FEEDS_REQUIRE_SPEEDUPS=1: a C extension that failed to build fails here."""
    if not os.environ.get("TRIO_FEEDS_REQUIRE_SPEEDUPS"):
        pytest.skip("TRIO_FEEDS_REQUIRE_SPEEDUPS is not set")
    from trio_feeds.core.fast import new_book, new_delta, new_trade

    assert speedups is not None
    for build in (new_book, new_delta, new_trade):
        assert isinstance(build, speedups.RecordBuilder)
    assert okx._pairs is not okx._py_pairs


def test_no_reference_is_leaked_or_lost() -> None:
    """Each field value gains one reference per record and gets it back when the
    record goes; the same for the levels read by ``pairs``."""
    import sys

    price, size, marker = 123456.5, 7.25, object()
    before = [sys.getrefcount(price), sys.getrefcount(size), sys.getrefcount(marker)]
    for build in _builders(_records.Book):
        books = [build("okx", "BTC-USDT", 1, 1.0, (), (), marker) for _ in range(100)]
        assert sys.getrefcount(marker) == before[2] + 100
        del books
    levels = [okx._Level(price, size) for _ in range(50)]
    pairs = [okx._pairs(levels) for _ in range(10)]
    assert sys.getrefcount(price) == before[0] + 50 * 11
    del pairs, levels
    assert [sys.getrefcount(price), sys.getrefcount(size), sys.getrefcount(marker)] == before
