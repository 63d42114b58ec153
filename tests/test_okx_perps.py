"""OKX perpetual swaps on the ``okx`` exchange: BTC-USDT-PERP ↔ BTC-USDT-SWAP, amounts in the
base asset through ctVal, funding / mark price / open interest, and a book whose checksums
still hold after the conversion."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from trio_feeds import ConfigError, ProtocolError, SymbolError
from trio_feeds.books.outputs import BookGap, BookUpdated
from trio_feeds.core.records import BookDelta, Funding, MarkPrice, OpenInterest, Trade
from trio_feeds.exchanges.okx import OkxAdapter
from trio_feeds.exchanges.okx.book import OkxBookSync
from trio_feeds.exchanges.okx.snapshot import book_checksum
from trio_feeds.protocol import ParseError

INSTRUMENTS = orjson.dumps({"code": "0", "msg": "", "data": [
    {"instId": "BTC-USDT-SWAP", "instType": "SWAP", "ctVal": "0.01", "ctValCcy": "BTC",
     "settleCcy": "USDT", "ctType": "linear"},
    {"instId": "ETH-USDC-SWAP", "instType": "SWAP", "ctVal": "0.001", "ctValCcy": "ETH",
     "settleCcy": "USDC", "ctType": "linear"},
    {"instId": "BTC-USD-SWAP", "instType": "SWAP", "ctVal": "100", "ctValCcy": "USD",
     "settleCcy": "BTC", "ctType": "inverse"},
]})  # fmt: skip


def adapter(*channels: str) -> OkxAdapter:
    a = OkxAdapter()
    assert a.load_instruments(INSTRUMENTS) == {"BTC-USDT-SWAP": 0.01, "ETH-USDC-SWAP": 0.001}
    a.subscribe([a.subscription(c, "BTC-USDT-PERP") for c in channels])
    return a


def push(channel: str, inst: str, *items: dict[str, Any]) -> bytes:
    return orjson.dumps({"arg": {"channel": channel, "instId": inst}, "data": list(items)})


def test_perp_symbols_map_to_swap_inst_ids() -> None:
    a = OkxAdapter()
    sub = a.subscription("trade", "btc-usdt-perp")
    assert (sub.symbol, sub.topic) == ("BTC-USDT-PERP", "trades:BTC-USDT-SWAP")
    assert orjson.loads(a.subscribe([sub])[0])["args"] == [
        {"channel": "trades", "instId": "BTC-USDT-SWAP"}
    ]
    assert a.subscription("funding", "ETH-USDC-PERP").topic == "funding-rate:ETH-USDC-SWAP"


def test_coin_margined_and_spot_only_mistakes_are_refused_by_name() -> None:
    with pytest.raises(SymbolError, match="coin-margined swaps are not supported"):
        OkxAdapter().subscription("trade", "BTC-USD-PERP")
    with pytest.raises(ConfigError, match="'funding' exists for perpetual swaps only"):
        OkxAdapter().subscription("funding", "BTC-USDT")


def test_trade_amount_is_contracts_times_ct_val() -> None:
    (t,) = adapter("trade").parse_one(push("trades", "BTC-USDT-SWAP", {
        "instId": "BTC-USDT-SWAP", "tradeId": "1", "px": "61800.1", "sz": "25",
        "side": "sell", "ts": "1723161256322",
    }), 1.0)  # fmt: skip
    assert t == Trade("okx", "BTC-USDT-PERP", 1723161256322, 1.0, 61800.1, 0.25, "sell", "1")


def test_without_the_contract_value_a_swap_push_is_an_error_not_contracts() -> None:
    a = OkxAdapter()  # instruments never loaded
    (e,) = a.parse_one(push("trades", "BTC-USDT-SWAP", {
        "instId": "BTC-USDT-SWAP", "tradeId": "1", "px": "1", "sz": "25", "side": "buy",
        "ts": "1",
    }), 1.0)  # fmt: skip
    assert isinstance(e, ParseError) and e.symbol == "BTC-USDT-PERP"
    assert "contract value of BTC-USDT-SWAP unknown" in e.problem


def test_funding_mark_and_open_interest() -> None:
    a = adapter("funding", "mark", "open_interest")
    (f,) = a.parse_one(push("funding-rate", "BTC-USDT-SWAP", {
        "fundingRate": "-0.0001875", "fundingTime": "1700726400000", "instId": "BTC-USDT-SWAP",
        "instType": "SWAP", "method": "current_period", "nextFundingRate": "",
        "nextFundingTime": "1700755200000", "ts": "1700724675402",
    }), 1.0)  # fmt: skip
    assert f == Funding("okx", "BTC-USDT-PERP", 1700724675402, 1.0, -0.0001875, 1700726400000)
    (m,) = a.parse_one(push("mark-price", "BTC-USDT-SWAP", {
        "instType": "SWAP", "instId": "BTC-USDT-SWAP", "markPx": "42310.6", "ts": "1630049139746",
    }), 1.0)  # fmt: skip
    assert m == MarkPrice("okx", "BTC-USDT-PERP", 1630049139746, 1.0, 42310.6, None)
    (oi,) = a.parse_one(push("open-interest", "BTC-USDT-SWAP", {
        "instId": "BTC-USDT-SWAP", "instType": "SWAP", "oi": "5000", "oiCcy": "50",
        "oiUsd": "3090000", "ts": "1597026383085",
    }), 1.0)  # fmt: skip
    assert oi == OpenInterest("okx", "BTC-USDT-PERP", 1597026383085, 1.0, 50.0)  # oiCcy: base


def test_instruments_answer_errors_are_protocol_errors() -> None:
    with pytest.raises(ProtocolError, match="okx instruments"):
        OkxAdapter().load_instruments(b'{"code":"51001","msg":"Instrument ID does not exist"}')


def _book(action: str, seq: int, prev: int, bids: list[list[str]], asks: list[list[str]]) -> bytes:
    crc = book_checksum([b[:2] for b in bids], [a[:2] for a in asks])
    item = {"asks": asks, "bids": bids, "ts": "1", "checksum": crc, "seqId": seq, "prevSeqId": prev}
    return orjson.dumps({"arg": {"channel": "books", "instId": "BTC-USDT-SWAP"}, "action": action,
                         "data": [item]})  # fmt: skip


def test_swap_book_sizes_in_base_and_checksums_still_verified() -> None:
    a = adapter("book")
    sync = OkxBookSync("BTC-USDT-PERP")
    sync.on_subscribed()
    bids = [["61800.1", "12", "0", "3"], ["61800", "5", "0", "1"]]
    asks = [["61800.2", "7", "0", "2"]]
    (snap,) = a.parse_one(_book("snapshot", 10, -1, bids, asks), 1.0)
    assert isinstance(snap, BookDelta) and snap.symbol == "BTC-USDT-PERP"
    assert snap.bids == ((61800.1, 0.12), (61800.0, 0.05))
    out = sync.on_delta(snap)
    assert any(isinstance(o, BookUpdated) for o in out)
    # an update whose checksum covers the whole book after it: still verified (over the texts)
    update_bids = [["61800.1", "2", "0", "1"]]
    after = [update_bids[0], bids[1]]
    crc = book_checksum([b[:2] for b in after], [x[:2] for x in asks])
    frame = orjson.loads(_book("update", 11, 10, update_bids, []))
    frame["data"][0]["checksum"] = crc
    (upd,) = a.parse_one(orjson.dumps(frame), 1.0)
    out = sync.on_delta(upd)
    assert not any(isinstance(o, BookGap) for o in out), out
    assert dict(sync.book.bids) == pytest.approx({61800.1: 0.02, 61800.0: 0.05})
