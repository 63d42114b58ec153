"""Spot ``bookTicker`` frames as bytes take a msgspec typed path (the end-to-end hot path);
it must give exactly what the ordinary ``orjson`` path gives, errors included."""

from __future__ import annotations

import json
from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from trio_feeds import Quote
from trio_feeds.exchanges.binance.adapter import BinanceAdapter
from trio_feeds.exchanges.binance_usdm.adapter import BinanceUsdmAdapter
from trio_feeds.protocol import ParseError

RX = 1723161255.5
_MISSING: Any = object()  # a field left out of the frame

FRAME = (
    b'{"stream":"btcusdt@bookTicker","data":{"u":50093239212,"s":"BTCUSDT",'
    b'"b":"61837.63000000","B":"3.78826000","a":"61837.64000000","A":"1.54698000"}}'
)

_price = st.decimals(min_value=0, max_value=10**7, places=8, allow_nan=False).map(
    lambda d: format(d.normalize(), "f")
)
_odd_value = st.one_of(
    # both read these, except that msgspec reads "-0" as 0.0 and float() as -0.0
    st.sampled_from(["-0", "-0.0", "-1.5", "0", "0.0", "1e5", "1E-3", "4.9e-324"]),
    # not a number, or not finite
    st.sampled_from(["", "abc", "NaN", "nan", "inf", "Infinity", "1e400", "0x10"]),
    # float() reads these (even the full-width 1), msgspec does not
    st.sampled_from(["007", "1.", ".5", " 1", "1_0", "\uff11", "1e5 ", "+1"]),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from(["true", "false", "null", "[]", "{}", _MISSING]).map(
        lambda v: v if v is _MISSING else orjson.loads(v)
    ),
)
_odd_id = st.one_of(
    st.sampled_from(["7", "1.0", "", None, _MISSING, True, False, -0.0, 2.0, 2.5]),
    st.sampled_from([-1, 0, 2**63 - 1, 2**63, 2**64 - 1, 2**64 + 1, -(2**63) - 3]),
    st.integers(-(2**70), 2**70),
)


def _usually(good: st.SearchStrategy[Any], odd: st.SearchStrategy[Any]) -> Any:
    return st.sampled_from([False] * 4 + [True]).flatmap(lambda o: odd if o else good)


@settings(max_examples=400, deadline=None)
@given(
    st.sampled_from(["btcusdt@bookTicker", "ethusdt@bookTicker", "btcusdt@trade", 5]),
    st.booleans(),
    _usually(st.integers(0, 2**62), _odd_id),
    st.lists(_usually(_price, _odd_value), min_size=4, max_size=4),
    st.sampled_from(["", "", "x" * 300, "\u00e9", "-"]),
    st.sampled_from(["data", "data", "data", "dat", None]),
)
def test_the_typed_quote_path_equals_the_string_path(
    stream: Any, subscribed: bool, u: Any, numbers: list[Any], pad: str, key: str | None
) -> None:
    payload: dict[str, Any] = {"u": u, "s": "BTCUSDT"}
    payload.update(zip("bBaA", numbers, strict=True))
    if pad:
        payload["pad"] = pad
    payload = {k: v for k, v in payload.items() if v is not _MISSING}
    msg: Any = {"stream": stream, key: payload} if key else [stream, payload]
    # json, not orjson: integers beyond 64 bits; ensure_ascii=False keeps the é
    frame = json.dumps(msg, separators=(",", ":"), ensure_ascii=False).encode()
    fast, slow = BinanceAdapter(), BinanceAdapter()
    if subscribed:
        for a in (fast, slow):
            a.subscribe([a.subscription("quote", "BTC-USDT")])
    want = slow.parse_many([frame.decode()], RX)  # a str frame: the ordinary path
    for _ in range(2):  # the first frame of an unsubscribed stream builds its handlers
        got = fast.parse_many([frame], RX)
        assert repr(got) == repr(want)  # -0.0 vs 0.0, int vs float and the problem text
        for x in got:
            if isinstance(x, Quote):
                assert all(type(v) is float for v in (x.bid, x.bid_size, x.ask, x.ask_size))
                assert type(x.sequence) is int


def test_real_frames_take_the_typed_path_and_agree() -> None:
    a, b = BinanceAdapter(), BinanceAdapter()
    for x in (a, b):
        x.subscribe([x.subscription("quote", "BTC-USDT")])
    frames = [FRAME, FRAME.replace(b'"3.78826000"', b'"3.9"'), FRAME.replace(b"212", b"213")]
    got = a.parse_many(frames, RX)
    assert repr(got) == repr(b.parse_many([f.decode() for f in frames], RX))
    assert a._quick and "btcusdt@bookTicker" in a._quick
    q = got[1]
    assert isinstance(q, Quote)
    assert (q.bid, q.bid_size, q.ask, q.ask_size, q.sequence) == (
        61837.63,
        3.9,
        61837.64,
        1.54698,
        50093239212,
    )
    assert q.timestamp == int(RX * 1000) and not q.exchange_time and q.raw is None


def test_bad_quotes_still_name_the_field() -> None:
    a = BinanceAdapter()
    a.subscribe([a.subscription("quote", "BTC-USDT")])
    (err,) = a.parse_many([FRAME.replace(b'"1.54698000"', b'"nan"')], RX)
    assert isinstance(err, ParseError) and "A" in err.problem
    assert err.symbol == "BTC-USDT"


def test_keep_raw_and_usdm_keep_the_string_path() -> None:
    raw = BinanceAdapter(keep_raw=True)
    raw.subscribe([raw.subscription("quote", "BTC-USDT")])
    (q,) = raw.parse_many([FRAME], RX)
    assert isinstance(q, Quote) and q.raw is not None and not raw._quick
    usdm = BinanceUsdmAdapter()
    usdm.subscribe([usdm.subscription("quote", "BTC-USDT-PERP")])
    assert not usdm._quick


def test_short_and_odd_frames_never_raise() -> None:
    a = BinanceAdapter()
    a.subscribe([a.subscription("quote", "BTC-USDT")])
    frames = [b"", b"{}", b'"}}', b'x"}}', FRAME[:70] + b'"}}', b'{"stream":"btcusdt@bookTicker"}']
    for frame in frames:
        (err,) = a.parse_many([frame], RX)
        assert isinstance(err, ParseError), frame
