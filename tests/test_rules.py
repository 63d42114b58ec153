"""The validation rule, one field at a time, against every path of both adapters.

``protocol/_rules.py`` states the rule once; the adapters apply it inline on their hot
paths, through msgspec's constrained types on the typed paths, and through the rule
functions in their diagnoses.  These tests hold all of them to the rule functions: put any
value in any field an adapter reads, of any channel of either exchange, and the frame
gives a record exactly when the rule accepts the value, and otherwise exactly one
``ParseError`` that names the field.  Bytes and str frames (typed and ordinary paths) and
``keep_raw`` must agree.
"""

from __future__ import annotations

import re
from typing import Any

import orjson
import pytest
from frames import FIELDS, TEMPLATES, Template, encode, verdict
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from trio_feeds.protocol import ParseError
from trio_feeds.protocol import _rules as rules

#: the values the issue listed, the usual suspects, and whatever hypothesis makes up
SUSPECTS = [
    "NaN", "nan", "inf", "-inf", "Infinity", "1e400", "-5", "-0", "0", "0.0", "", " ",
    "abc", "1e5", "1.", ".5", " 1", "1_0", "+1", "007", "0x10", "\uff11", "\u0661\u0662",
    "12345", "99999999999999999999", "9" * 400,
    0, 1, -1, -5, 2, 2001.5, 1.5, -0.0, 1e300, 2**53, 2**63 - 1, 2**63, 2**64 - 1, 2**64,
    2**70, 10**14, 10**14 - 1, -(2**31), 2**31,
    True, False, None, [], {}, {"id": 1}, ["1", "2"], [["1", "2"]], [["1"]],
    [["1", "2", "3"]], [["NaN", "1"]], [["1", "-1"]], "buy", "sell", "1m",
]  # fmt: skip

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8)
    | st.from_regex(r"-?[0-9]{1,6}(\.[0-9]{0,8})?([eE]-?[0-9]{1,3})?", fullmatch=True),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner),
    max_leaves=6,
)
values = st.sampled_from(SUSPECTS) | json_values

RULES = settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _rule_accepts(checker: Any, field: str, value: Any) -> bool:
    try:
        checker(field, value)
    except rules.BadValue:
        return False
    return True


def _parse(t: Template, frame: dict[str, Any], *, as_bytes: bool, keep_raw: bool) -> list[Any]:
    data = encode(frame)
    return t.adapter(keep_raw=keep_raw).parse_one(data if as_bytes else data.decode(), 1.5)


def test_every_template_parses() -> None:
    for t in TEMPLATES:
        for as_bytes in (True, False):
            out = _parse(t, t.frame, as_bytes=as_bytes, keep_raw=False)
            assert verdict(out), (t.name, out)


@pytest.mark.parametrize(("t", "path", "checker"), FIELDS, ids=lambda x: getattr(x, "name", x))
def test_the_suspects_in_every_field(t: Template, path: Any, checker: Any) -> None:
    for value in SUSPECTS:
        _check_field(t, path, checker, value)


@RULES
@example(TEMPLATES[0], 0, 2001.5)
@given(st.sampled_from(TEMPLATES), st.integers(0, 1000), values)
def test_any_value_in_any_field(t: Template, which: int, value: Any) -> None:
    path, checker = t.fields[which % len(t.fields)]
    _check_field(t, path, checker, value)


def _check_field(t: Template, path: Any, checker: Any, value: Any) -> None:
    frame = t.with_value(path, value)
    field = str(path[-1]) if isinstance(path[-1], str) else None
    want = _rule_accepts(checker, "x", value)
    outs = [
        _parse(t, frame, as_bytes=as_bytes, keep_raw=keep_raw)
        for as_bytes, keep_raw in ((True, False), (False, False), (True, True))
    ]
    got = [verdict(out) for out in outs]
    assert got == [want] * 3, (t.name, path, value, outs)
    # the typed and ordinary paths give the very same records, or the same error
    assert repr(outs[0]) == repr(outs[1]), (t.name, path, value)
    if not want:
        (error,) = outs[0]
        assert isinstance(error, ParseError)
        if field is not None:  # named (a level element is named by its place: 'b[0][1]')
            named = rf"field '(\w+\.)?{re.escape(field)}[\['(]"
            assert re.search(named, error.problem), error.problem
        assert (error.stream, error.symbol) == (t.stream, "BTC-USDT")


# --------------------------------------------------------------------------- the helpers


@RULES
@given(
    st.lists(
        st.lists(
            st.sampled_from(SUSPECTS[:27])
            | st.from_regex(r"[0-9]{1,6}(\.[0-9]{1,8})?", fullmatch=True),
            min_size=1,
            max_size=4,
        )
        | st.sampled_from(["12", None, 5]),
        max_size=5,
    ),
    st.booleans(),
)
def test_parse_levels_is_levels_faster(rows: list[Any], pairs: bool) -> None:
    """The one-orjson-call level parser gives what the careful one gives, errors included."""

    def run(fn: Any) -> Any:
        try:
            return repr(fn("bids", rows, pairs=pairs))
        except rules.BadValue as exc:
            return str(exc)

    assert run(rules.parse_levels) == run(rules.levels)
    half = len(rows) // 2
    try:
        sides = repr(rules.parse_sides(rows[:half], rows[half:], "bids", "asks", pairs=pairs))
    except rules.BadValue as exc:
        sides = str(exc)
    try:
        want = repr(
            (
                rules.levels("bids", rows[:half], pairs=pairs),
                rules.levels("asks", rows[half:], pairs=pairs),
            )
        )
    except rules.BadValue as exc:
        want = str(exc)
    assert sides == want


@RULES
@given(st.lists(st.sampled_from(SUSPECTS[:27]) | st.integers(-5, 5) | st.floats(), max_size=6))
def test_numbers_is_float_faster(items: list[Any]) -> None:
    def careful() -> Any:
        out = []
        for v in items:
            if v.__class__ is str and v == "":
                out.append(0.0)
                continue
            x = rules.number("x", v, "a number")
            if x != x or x in (float("inf"), float("-inf")):
                return "refused"
            out.append(x)
        return repr(out)

    try:
        got = repr(rules.numbers(items, empty=0.0))
    except (ValueError, rules.BadValue):
        got = "refused"
    try:
        want = careful()
    except rules.BadValue:
        want = "refused"
    assert got == want


def test_bad_values_name_field_value_and_rule() -> None:
    with pytest.raises(rules.BadValue) as info:
        rules.price("p", "NaN")
    assert str(info.value) == "field 'p' is \"NaN\", expected a price: a finite number > 0"
    assert info.value.field == "p"
    for bad in ("abc", None, 2001.5, 2**70, {"id": 1}, True, -1, 2**63):
        with pytest.raises(rules.BadValue, match="'t'"):
            rules.trade_id("t", bad, strings=False)
    assert rules.trade_id("t", 2**63 - 1, strings=False) == str(2**63 - 1)
    assert rules.trade_id("tradeId", "007", strings=True) == "007"
    for bad in ("", " 1", "1.0", "\u0661", "1" * 20):
        with pytest.raises(rules.BadValue):
            rules.trade_id("tradeId", bad, strings=True)
    assert orjson.loads(orjson.dumps(rules.show("x" * 100))) is not None
