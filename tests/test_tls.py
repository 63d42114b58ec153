"""TLS: a failed handshake is an event with its reason and is retried; it never ends the feed.

The simulated exchanges serve ``wss://`` with certificates from a test CA made per run
(``tls=True``, trustme), and break handshakes on demand: a reset or a clean close during the
handshake, a certificate from an untrusted CA or for another host name, plain HTTP on the TLS
port, a handshake too slow for ``connect_timeout``.  Each fault is tried on the first
connection, on a reconnect after a healthy connection dropped, and on the make-before-break
replacement after a ``serverShutdown``; the other exchange keeps streaming meanwhile.
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest
import trio
from conftest import Collector, active_transport

import trio_feeds
from trio_feeds.testing import SimulatedExchanges, open_simulated_exchanges

#: run over every transport (see conftest.TRANSPORTS)
pytestmark = pytest.mark.usefixtures("transport")

FAULT_REASONS = {
    "reset": "tls_reset",
    "close": "tls_reset",
    "certificate": "tls_certificate",
    "hostname": "tls_certificate",
    "plain_http": "tls_protocol",
    "slow": "connect_timeout",
}
FAILURES = 3  # consecutive broken handshakes per scenario


async def _until(cond: Callable[[], bool], limit: float = 120.0) -> None:
    with trio.fail_after(limit):
        while not cond():  # noqa: ASYNC110
            await trio.sleep(0.05)


@asynccontextmanager
async def tls_feed(
    *, memory: bool = True, **options: Any
) -> AsyncIterator[tuple[SimulatedExchanges, trio_feeds.Feed, Collector]]:
    """Binance + OKX over TLS, one feed that delivers both (conflict="latest")."""
    async with open_simulated_exchanges(
        ["BTC-USDT"],
        seed=4,
        memory=memory,
        rate=20.0,
        tls=True,
        binance_options={"max_messages_per_second": None},
    ) as sims:
        kwargs: dict[str, Any] = {
            "urls": sims.urls,
            "rest_urls": sims.rest_urls,
            "clock": sims.clock,
            "conflict": "latest",
            "seed": 2,
            "reconnect_delay": 0.5,
            "max_reconnect_delay": 2.0,
            "connect_timeout": 2.0,
        }
        if memory:
            kwargs.update(connector=sims.connector, http_transport=sims.http_transport)
        else:
            kwargs.update(ssl_context=sims.ssl_context)
        kwargs.update(options)
        async with trio_feeds.open_feed(
            ["binance", "okx"], ["BTC-USDT"], ["trade"], **kwargs, transport=active_transport()
        ) as (feed):
            col = Collector()
            async with trio.open_nursery() as nursery:
                nursery.start_soon(col.run, feed)
                yield sims, feed, col
                nursery.cancel_scope.cancel()


def _index(col: Collector, pred: Callable[[Any], bool], start: int = 0) -> int:
    for i in range(start, len(col.items)):
        if pred(col.items[i]):
            return i
    return -1


def _connected(col: Collector, exchange: str, after: int = 0) -> bool:
    return _index(col, lambda x: x.kind == "source" and x.exchange == exchange
                  and x.state == "connected", after) >= 0  # fmt: skip


@pytest.mark.parametrize("when", ["first", "reconnect", "replacement"])
@pytest.mark.parametrize("fault", list(FAULT_REASONS))
async def test_a_broken_tls_handshake_is_an_event_and_is_retried(
    fault: str, when: str, autojump_clock: Any
) -> None:
    reason = FAULT_REASONS[fault]
    async with tls_feed() as (sims, _feed, col):
        if when == "first":
            sims.binance.fail_tls(fault, FAILURES)
        else:
            await _until(lambda: _connected(col, "binance") and _connected(col, "okx"))
            await trio.sleep(2)
            start = len(col.items)
            sims.binance.fail_tls(fault, FAILURES)
            if when == "reconnect":
                sims.binance.drop()
            else:
                sims.binance.shutdown_notice(lead=60.0)
        mark = 0 if when == "first" else start

        def failed(x: Any) -> bool:
            return x.kind == "source" and x.exchange == "binance" and x.reason == reason

        await _until(lambda: len([x for x in col.items[mark:] if failed(x)]) >= FAILURES)
        first = _index(col, failed, mark)
        # ... then recovery: connected again (or, for the replacement, the handoff)
        done_state = "handoff" if when == "replacement" else "connected"
        await _until(lambda: _index(col, lambda x: x.kind == "source" and x.exchange == "binance"
                                    and x.state == done_state, first) >= 0)  # fmt: skip
        recovered = _index(col, lambda x: x.kind == "source" and x.exchange == "binance"
                           and x.state == done_state, first)  # fmt: skip
        await trio.sleep(3)
        assert col.error is None, f"the feed died: {col.error!r}"

        failures = [x for x in col.items[first:recovered] if failed(x)]
        assert len(failures) == FAILURES
        expected_state = "error" if when == "replacement" else "disconnected"
        assert {x.state for x in failures} == {expected_state}
        for x in failures:
            assert x.detail, "the event says what happened"
        if reason == "connect_timeout":
            assert "TLS handshake" in failures[0].detail
        # retried with backoff: a "reconnecting" event (with its delay) after each failure
        retries = [
            x for x in col.items[first:recovered]
            if x.kind == "source" and x.exchange == "binance" and x.state == "reconnecting"
        ]  # fmt: skip
        assert len(retries) >= FAILURES
        assert sum(1 for c in sims.binance.connection_log if c.outcome == "tls_failed") >= (
            FAILURES
        )
        # binance streams again afterwards
        assert [x for x in col.items[recovered:] if x.kind == "trade" and x.exchange == "binance"]
        # the other exchange kept streaming through it
        if when != "replacement":
            okx = [x for x in col.items[first:recovered] if x.kind == "trade"]
            assert okx and {x.exchange for x in okx} == {"okx"}
        else:  # the old binance connection delivered meanwhile too
            assert {x.exchange for x in col.items[first:recovered] if x.kind == "trade"} == {
                "binance",
                "okx",
            }


async def test_loopback_wss_with_the_default_connector_and_https_snapshots() -> None:
    """Real sockets: trio_feeds' own TCP + TLS connector, verified against the test CA;
    REST book snapshots over https with the same ssl_context."""
    async with (
        open_simulated_exchanges(["BTC-USDT"], seed=5, rate=20.0, tls=True) as sims,
        trio_feeds.open_feed(
            ["binance"],
            ["BTC-USDT"],
            ["book", "trade"],
            urls=sims.urls,
            rest_urls=sims.rest_urls,
            ssl_context=sims.ssl_context,
            clock=sims.clock,
            transport=active_transport(),
        ) as feed,  # fmt: skip
    ):
        assert sims.urls["binance"].startswith("wss://127.0.0.1:")
        assert sims.rest_urls["binance"].startswith("https://127.0.0.1:")
        kinds: set[str] = set()
        with trio.fail_after(30):
            async for item in feed:
                kinds.add(item.kind)
                if {"book", "trade"} <= kinds:
                    break
        assert sims.binance.rest_log, "the snapshot came over https"


async def test_loopback_tls_faults_on_real_sockets_are_retried() -> None:
    """A TCP reset, an untrusted certificate and plain HTTP, on real sockets, in a row."""
    async with tls_feed(memory=False, reconnect_delay=0.05, max_reconnect_delay=0.2) as (
        sims,
        _feed,
        col,
    ):
        for fault in ("reset", "certificate", "plain_http"):
            sims.binance.fail_tls(fault)
        await _until(lambda: _connected(col, "binance"), 30)
        reasons = [x.reason for x in col.events("binance", "disconnected")]
        assert reasons[:3] == ["tls_reset", "tls_certificate", "tls_protocol"]
        certificate = col.events("binance", "disconnected")[1]
        assert "certificate" in certificate.detail
        assert "plain HTTP" in col.events("binance", "disconnected")[2].detail
        assert col.error is None


async def test_the_system_trust_store_refuses_a_certificate_it_does_not_know() -> None:
    """Without ssl_context the default is the system trust store with verification on:
    the simulators' test CA is not in it."""
    async with tls_feed(memory=False, ssl_context=None, max_reconnect_attempts=1) as (
        _sims,
        _feed,
        col,
    ):
        await _until(lambda: col.done.is_set(), 30)
        reasons = {x.reason for x in col.events("binance", "disconnected")}
        assert reasons == {"tls_certificate"}


@pytest.mark.parametrize("when", ["first", "reconnect", "replacement"])
async def test_certificate_errors_fatal_ends_the_feed_with_the_cause(
    when: str, autojump_clock: Any
) -> None:
    col = Collector()
    async with open_simulated_exchanges(["BTC-USDT"], seed=4, memory=True, tls=True) as sims:
        with pytest.raises(trio_feeds.TLSCertificateError) as info:
            async with (
                trio_feeds.open_feed(
                    ["binance", "okx"],
                    ["BTC-USDT"],
                    ["trade"],
                    urls=sims.urls,
                    connector=sims.connector,
                    clock=sims.clock,
                    certificate_errors="fatal",
                    transport=active_transport(),
                ) as feed,  # fmt: skip
                trio.open_nursery() as nursery,
            ):
                nursery.start_soon(col.run, feed)
                if when == "first":
                    sims.binance.fail_tls("certificate")
                else:
                    await _until(lambda: _connected(col, "binance"))
                    sims.binance.fail_tls("certificate")
                    if when == "reconnect":
                        sims.binance.drop()
                    else:
                        sims.binance.shutdown_notice(lead=60.0)
                await trio.sleep(600)
    err = info.value
    assert isinstance(err, trio_feeds.ConfigError)
    assert err.reason == "tls_certificate"
    # the ssl error behind it is kept
    assert isinstance(err.__cause__, ssl.SSLCertVerificationError)
    # and the consumer saw the event first
    assert "tls_certificate" in [x.reason for x in col.events("binance")]


async def test_a_refused_handshake_keeps_its_http_status(autojump_clock: Any) -> None:
    async with tls_feed() as (sims, _feed, col):
        sims.binance.refuse_connections(2, status=429)
        await _until(lambda: len([x for x in col.events("binance", "disconnected")]) >= 2)
        events = col.events("binance", "disconnected")[:2]
        assert [x.reason for x in events] == ["handshake_rejected"] * 2
        assert "HTTP 429" in events[0].detail
        assert "rejected by simulator" in events[0].detail  # the body the server sent
        await _until(lambda: _connected(col, "binance"))


async def test_open_feed_checks_the_tls_arguments() -> None:
    with pytest.raises(trio_feeds.ConfigError, match="ssl_context"):
        async with trio_feeds.open_feed(ssl_context="yes", transport=active_transport()):  # type: ignore[arg-type]
            pass
    with pytest.raises(trio_feeds.ConfigError, match="certificate_errors"):
        async with trio_feeds.open_feed(certificate_errors="ignore", transport=active_transport()):
            pass
