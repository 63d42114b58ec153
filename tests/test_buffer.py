"""The consumer hand-over: bounded, never blocking the producer, explicit about losses."""

from __future__ import annotations

import pytest
import trio

from trio_feeds import Dropped, Gap, Quote, Trade
from trio_feeds.feed.buffer import RecordBuffer


def trade(i: int, symbol: str = "BTC-USDT") -> Trade:
    return Trade("binance", symbol, i, 0.0, 100.0 + i, 1.0, "buy", str(i))


def quote(i: int, symbol: str = "BTC-USDT") -> Quote:
    return Quote("binance", symbol, i, 0.0, 100.0 + i, 1.0, 101.0 + i, 1.0, sequence=i)


def drain(buf: RecordBuffer) -> list[object]:
    out = []
    while True:
        try:
            out.append(buf.get_nowait())
        except trio.WouldBlock:
            return out


def test_in_order_when_the_consumer_keeps_up() -> None:
    buf = RecordBuffer(100)
    items = [trade(i) for i in range(50)]
    buf.put_many(items)
    assert drain(buf) == items


def test_quotes_are_conflated_to_the_newest_per_symbol_on_overflow() -> None:
    buf = RecordBuffer(10)
    buf.put_many([quote(i) for i in range(10)])  # fills the buffer
    buf.put_many([quote(i) for i in range(10, 1000)])  # overflow
    buf.put_many([quote(i, "ETH-USDT") for i in range(5)])
    out = drain(buf)
    assert out[:10] == [quote(i) for i in range(10)]
    rest = out[10:]
    assert quote(999) in rest and quote(4, "ETH-USDT") in rest
    assert len(rest) == 2
    assert buf.conflated == 990 - 1 + 4
    assert buf.dropped == 0


def test_trades_are_never_dropped_silently() -> None:
    buf = RecordBuffer(10)
    buf.put_many([trade(i) for i in range(25)])
    out = drain(buf)
    kept = [x for x in out if isinstance(x, Trade)]
    dropped = [x for x in out if isinstance(x, Dropped)]
    assert kept == [trade(i) for i in range(10)]
    assert len(dropped) == 1
    assert dropped[0].count == 15 and dropped[0].total == 15
    assert (dropped[0].exchange, dropped[0].symbol, dropped[0].channel) == (
        "binance",
        "BTC-USDT",
        "trade",
    )
    assert buf.dropped == 15


def test_events_are_never_dropped() -> None:
    buf = RecordBuffer(2)
    gap = Gap("okx", "BTC-USDT", "trade", 1, 2, "reconnect")
    buf.put_many([trade(0), trade(1), gap, trade(2)])
    out = drain(buf)
    assert gap in out


async def test_get_waits_then_ends_with_the_close_error() -> None:
    buf = RecordBuffer(10)
    got: list[object] = []

    async def consumer() -> None:
        try:
            while True:
                got.append(await buf.get())
        except RuntimeError as exc:
            got.append(str(exc))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(consumer)
        await trio.sleep(0.01)
        buf.put(trade(1))
        await trio.sleep(0.01)
        buf.close(RuntimeError("gave up"))
    assert got == [trade(1), "gave up"]


async def test_end_of_channel_after_plain_close() -> None:
    buf = RecordBuffer(10)
    buf.put(trade(1))
    buf.close()
    assert await buf.get() == trade(1)
    with pytest.raises(trio.EndOfChannel):
        await buf.get()


def test_gaps_held_during_an_overflow_merge_per_subscription_and_reason() -> None:
    """A storm of bad frames leaves one Gap per frame; while the consumer is behind they
    merge into one Gap per (exchange, symbol, channel, reason) spanning them all: memory
    stays bounded and no missing interval is lost."""
    buf = RecordBuffer(10)
    buf.put_many([trade(i) for i in range(10)])
    storm = [Gap("binance", "BTC-USDT", "trade", 1000 + i, 1005 + i, "malformed frame")
             for i in range(5000)]  # fmt: skip
    other = Gap("binance", "ETH-USDT", "trade", 7, 9, "malformed frame")
    reconnect = Gap("binance", "BTC-USDT", "trade", 50, 60, "reconnect")
    buf.put_many([storm[0], other, *storm[1:], reconnect])
    assert len(buf) < 20
    gaps = [x for x in drain(buf) if isinstance(x, Gap)]
    assert gaps == [
        Gap("binance", "BTC-USDT", "trade", 1000, 1005 + 4999, "malformed frame"),
        other,
        reconnect,
    ]
