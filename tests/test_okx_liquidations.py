"""OKX ``liquidation-orders`` in the adapter: subscribed by ``instType`` (one arg for every
swap), acked without an instrument, pushed for every swap: only the subscribed ones become
``Liquidation`` records, with ``bkPx`` as the price and contracts converted to base."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from trio_feeds import ConfigError
from trio_feeds.core.records import Liquidation
from trio_feeds.exchanges.okx import OkxAdapter
from trio_feeds.protocol import ParseError, Subscribed, Unsubscribed

INSTRUMENTS = orjson.dumps({"code": "0", "msg": "", "data": [
    {"instId": "BTC-USDT-SWAP", "instType": "SWAP", "ctVal": "0.01", "ctValCcy": "BTC"},
    {"instId": "ETH-USDT-SWAP", "instType": "SWAP", "ctVal": "0.1", "ctValCcy": "ETH"},
    {"instId": "DOGE-USDT-SWAP", "instType": "SWAP", "ctVal": "1000", "ctValCcy": "DOGE"},
]})  # fmt: skip
ARG = {"channel": "liquidation-orders", "instType": "SWAP"}


def detail(side: str, px: str, sz: str, ts: str, **extra: str) -> dict[str, str]:
    return {"bkLoss": "0", "bkPx": px, "ccy": "", "posSide": "long" if side == "sell" else "short",
            "side": side, "sz": sz, "ts": ts, **extra}  # fmt: skip


def item(inst: str, *details: dict[str, str]) -> dict[str, Any]:
    family = inst.rsplit("-", 1)[0]
    return {"details": list(details), "instFamily": family, "instId": inst,
            "instType": "SWAP", "uly": family}  # fmt: skip


def push(*items: dict[str, Any]) -> bytes:
    return orjson.dumps({"arg": ARG, "data": list(items)})


def subscribed(*symbols: str) -> OkxAdapter:
    a = OkxAdapter()
    a.load_instruments(INSTRUMENTS)
    a.subscribe([a.subscription("liquidation", s) for s in symbols])
    return a


def test_one_inst_type_arg_serves_every_subscribed_swap() -> None:
    a = OkxAdapter()
    subs = [a.subscription("liquidation", s) for s in ("BTC-USDT-PERP", "ETH-USDT-PERP")]
    assert subs[0].topic == "liquidation-orders:BTC-USDT-SWAP"
    trades = a.subscription("trade", "BTC-USDT-PERP")
    (frame,) = a.subscribe([*subs, trades])
    assert orjson.loads(frame)["args"] == [ARG, {"channel": "trades", "instId": "BTC-USDT-SWAP"}]
    with pytest.raises(ConfigError, match="'liquidation' exists for perpetual swaps only"):
        a.subscription("liquidation", "BTC-USDT")


def test_the_ack_names_no_instrument_and_answers_all_of_them() -> None:
    a = OkxAdapter()
    subs = [a.subscription("liquidation", s) for s in ("BTC-USDT-PERP", "ETH-USDT-PERP")]
    a.subscribe(subs)
    ack = {"id": "1", "event": "subscribe", "arg": ARG, "connId": "a4d3ae55"}
    assert a.parse_one(orjson.dumps(ack), 1.0) == [Subscribed(tuple(subs), "1")]
    # answered: a second ack (OKX acks a repeated subscribe) finds the wanted ones
    again = a.parse_one(orjson.dumps({**ack, "id": ""}), 2.0)
    assert again == [Subscribed(tuple(subs), None)]


def test_only_the_subscribed_swaps_become_records_in_base_currency() -> None:
    a = subscribed("BTC-USDT-PERP", "DOGE-USDT-PERP")
    out = a.parse_one(push(
        item("BTC-USDT-SWAP", detail("sell", "60123.4", "25", "1723161256322"),
             detail("buy", "60500", "3", "1723161256399")),
        item("IOST-USDT-SWAP", detail("buy", "0.007831", "13", "1723161256000")),
        item("ETH-USDT-SWAP", detail("sell", "2500.1", "4", "1723161256100")),  # not wanted
        item("DOGE-USDT-SWAP", detail("buy", "0.1234", "2", "1723161256200")),
    ), 5.0)  # fmt: skip
    assert out == [
        Liquidation("okx", "BTC-USDT-PERP", 1723161256322, 5.0, "sell", 60123.4, 0.25),
        Liquidation("okx", "BTC-USDT-PERP", 1723161256399, 5.0, "buy", 60500.0, 0.03),
        Liquidation("okx", "DOGE-USDT-PERP", 1723161256200, 5.0, "buy", 0.1234, 2000.0),
    ]


def test_a_bad_item_is_an_error_naming_it_and_the_others_still_count() -> None:
    a = subscribed("BTC-USDT-PERP", "ETH-USDT-PERP")
    out = a.parse_one(push(
        item("ETH-USDT-SWAP", detail("sell", "NaN", "4", "1723161256100")),
        item("BTC-USDT-SWAP", detail("short", "60000", "1", "1723161256322")),
        item("BTC-USDT-SWAP", detail("sell", "60000", "1", "1723161256323")),
    ), 5.0)  # fmt: skip
    assert [type(r) for r in out] == [ParseError, ParseError, Liquidation]
    assert "liquidation-orders ETH-USDT-SWAP: data[0]" in out[0].problem and "NaN" in out[0].problem
    assert out[0].symbol == "ETH-USDT-PERP"
    assert "data[1]" in out[1].problem and "'short'" in out[1].problem
    assert out[2].amount == pytest.approx(0.01)


def test_unsubscribing_one_swap_keeps_the_shared_arg_for_the_others() -> None:
    a = OkxAdapter()
    btc, eth = (a.subscription("liquidation", s) for s in ("BTC-USDT-PERP", "ETH-USDT-PERP"))
    a.subscribe([btc, eth])
    assert a.unsubscribe([btc]) == []  # ETH still wants the arg
    (frame,) = a.unsubscribe([eth])
    assert orjson.loads(frame)["args"] == [ARG]
    ack = {"id": orjson.loads(frame)["id"], "event": "unsubscribe", "arg": ARG}
    assert a.parse_one(orjson.dumps(ack), 1.0) == [Unsubscribed((eth,), ack["id"])]
    a.load_instruments(INSTRUMENTS)
    # nothing wanted any more: pushes make no records
    assert a.parse_one(push(item("BTC-USDT-SWAP", detail("sell", "1", "1", "1"))), 2.0) == []
