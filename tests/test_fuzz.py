"""Fuzz: arbitrary JSON values in every field of every channel's frame, both exchanges.

Through the adapters (sans-I/O) and through the whole engine (``open_feed`` on a scripted
in-memory WebSocket server under ``MockClock``).  Whatever comes in:

* nothing raises, and the feed keeps running;
* every record is finite and well typed (``frames.check_record``);
* every refused frame yields exactly one error event, and no record beside it.

The default profile runs in a few seconds; ``-m slow`` runs a bigger search.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
import trio
from frames import TEMPLATES, Template, check_record, encode
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scripted_ws import ScriptedServer
from test_first_batch import run
from test_rules import values

from trio_feeds.protocol import BinanceAdapter, OkxAdapter, ParseError

_DELETE: Any = object()


def _paths(t: Template) -> list[tuple[Any, ...]]:
    """Every field the adapter reads, the envelope's parts, and whole items/levels."""
    envelope: list[tuple[Any, ...]] = (
        [("stream",), ("data",)]
        if t.exchange == "binance"
        else [("arg",), ("arg", "channel"), ("arg", "instId"), ("data",), ("data", 0), ("action",)]
    )
    return [path for path, _ in t.fields] + envelope


@st.composite
def mutated(draw: Any, t: Template) -> dict[str, Any]:
    """``t``'s frame with 1 to 3 fields replaced by arbitrary JSON values, or deleted."""
    frame = copy.deepcopy(t.frame)
    paths = _paths(t)
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(paths))
        value = draw(st.just(_DELETE) | values)
        node: Any = frame
        try:
            for key in path[:-1]:
                node = node[key]
            if value is _DELETE:
                del node[path[-1]]
            else:
                node[path[-1]] = copy.deepcopy(value)  # drawn values may be shared objects
        except (KeyError, IndexError, TypeError):
            pass  # an earlier mutation changed the shape: this path is gone
    return frame


def check_output(out: list[Any], frame: Any) -> list[Any]:
    """At most one ParseError per frame (per ``data`` item of an OKX push, each judged on
    its own), never beside a record of the same item; every record well formed."""
    items = frame.get("data") if isinstance(frame, dict) and "arg" in frame else None
    units = len(items) if isinstance(items, list) and len(items) > 1 else 1
    errors = [x for x in out if isinstance(x, ParseError)]
    assert len(errors) <= units, out
    assert all(e.problem for e in errors)
    if errors and units == 1:
        assert len(out) == 1, out
    for item in out:
        if hasattr(item, "kind"):
            check_record(item)
    return errors


FUZZ = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(st.sampled_from(TEMPLATES).flatmap(lambda t: st.tuples(st.just(t), mutated(t))))
def test_adapters_never_raise_and_refuse_whole_frames(case: tuple[Template, Any]) -> None:
    t, frame_dict = case
    frame = encode(frame_dict)
    for as_bytes, keep_raw in ((True, False), (False, False), (True, True)):
        out = t.adapter(keep_raw=keep_raw).parse_one(frame if as_bytes else frame.decode(), 2.5)
        check_output(out, frame_dict)


def test_adapters_survive_a_stream_of_fuzzed_frames() -> None:
    """One adapter (its caches and per-stream state) through many bad frames, good ones
    still parse in between."""

    frames = st.sampled_from(TEMPLATES).flatmap(
        lambda t: st.tuples(st.just(t), st.just(t.frame) | mutated(t))
    )

    @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(st.lists(frames, min_size=5, max_size=30))
    def inner(cases: list[tuple[Template, Any]]) -> None:
        for exchange, cls in (("binance", BinanceAdapter), ("okx", OkxAdapter)):
            adapter = cls(only_subscribed=True)
            mine = [t for t in TEMPLATES if t.exchange == exchange]
            adapter.subscribe([adapter.subscription(t.channel, "BTC-USDT", t.stream) for t in mine])
            for t, frame in cases:
                if t.exchange != exchange:
                    continue
                out = adapter.parse_one(encode(frame), 1.0)
                check_output(out, frame)
                if frame is t.frame:  # a good frame between bad ones: still records
                    assert out and not isinstance(out[0], ParseError), out

    inner()


# --------------------------------------------------------------------------- the engine


ENGINE_CHANNELS = ["trade", "ticker", "quote", "book", "candle"]
#: Binance: the partial book stream (no REST); OKX: full books ("books")
ENGINE_OPTIONS: dict[str, dict[str, Any]] = {"binance": {"book_mode": "partial"}, "okx": {}}


def _references(exchange: str) -> dict[str, Any]:
    """Per endpoint, an adapter subscribed as the engine's connection there is: it says
    which frames that connection refuses."""
    cls = BinanceAdapter if exchange == "binance" else OkxAdapter
    probe = cls()
    out: dict[str, Any] = {}
    for channel in ENGINE_CHANNELS:
        stream = "depth20@100ms" if channel == "book" and exchange == "binance" else None
        sub = probe.subscription(channel, "BTC-USDT", stream)
        path = probe.endpoint(sub)
        if path not in out:
            out[path] = cls(only_subscribed=True)
        out[path].subscribe([sub])
    return out


def engine_run(exchange: str, batches: list[list[bytes]]) -> int:
    """Feed ``batches`` to every connection of a feed; check it; return how many frames
    were refused (and so how many errors its events counted)."""
    references = _references(exchange)
    refused = sum(
        isinstance(x, ParseError)
        for adapter in references.values()
        for batch in batches
        for frame in batch
        for x in adapter.parse_one(frame, 1.0)
    )

    async def script(server: ScriptedServer, items: list[Any]) -> None:
        # OKX: candles on /business, the rest on /public; every frame goes to both
        conns = [await server.connection(i) for i in range(len(references))]
        assert sorted(c.path.partition("?")[0] for c in conns) == sorted(references)
        for batch in batches:
            for conn in conns:
                await conn.send(batch)
            await trio.sleep(0.05)
        await trio.sleep(1.5)  # the coalescing window ends: the counted repeats come out

    items = run(exchange, ENGINE_CHANNELS, script, **ENGINE_OPTIONS[exchange])
    for item in items:
        if item.kind in ("trade", "ticker", "quote", "book", "candle"):
            check_record(item)
    malformed = [x for x in items if x.kind == "source" and x.reason == "malformed_frame"]
    # repeats within a second are coalesced into one event with a count (docs/engine.md)
    assert sum(x.count for x in malformed) == refused, (malformed, refused)
    return refused


@pytest.mark.parametrize("exchange", ["binance", "okx"])
def test_the_engine_gives_one_error_event_per_refused_frame(exchange: str) -> None:
    """The counting the fuzz runs rely on, on frames known to be bad: two NaN prices and
    a trade id that is an object, among good frames, in the very first batch."""
    trade, *_ = (t for t in TEMPLATES if t.exchange == exchange and t.channel == "trade")
    ticker = next(t for t in TEMPLATES if t.exchange == exchange and t.channel == "ticker")
    price, tid = ("p", "t") if exchange == "binance" else ("px", "tradeId")
    base = ("data",) if exchange == "binance" else ("data", 0)
    bad = [
        trade.with_value((*base, price), "NaN"),
        trade.with_value((*base, tid), {"id": 1}),
        ticker.with_value((*base, "c" if exchange == "binance" else "last"), "NaN"),
    ]
    good = [trade.frame, ticker.frame]
    assert engine_run(exchange, [[encode(f) for f in [*bad, *good]], [encode(good[0])]]) == 3


def _batches(exchange: str) -> st.SearchStrategy[list[list[bytes]]]:
    mine = [t for t in TEMPLATES if t.exchange == exchange]
    frame = st.sampled_from(mine).flatmap(lambda t: st.just(t.frame) | mutated(t))
    return st.lists(st.lists(frame.map(encode), min_size=1, max_size=6), min_size=1, max_size=8)


@pytest.mark.parametrize("exchange", ["binance", "okx"])
def test_the_engine_never_dies_of_fuzzed_frames(exchange: str) -> None:
    @settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(_batches(exchange))
    def inner(batches: list[list[bytes]]) -> None:
        engine_run(exchange, batches)

    inner()


@pytest.mark.slow
@pytest.mark.parametrize("exchange", ["binance", "okx"])
def test_the_engine_never_dies_of_fuzzed_frames_long(exchange: str) -> None:
    @settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(_batches(exchange))
    def inner(batches: list[list[bytes]]) -> None:
        engine_run(exchange, batches)

    inner()
