"""What the engine, feed, CLI and sinks know about an exchange: one :class:`ExchangeSpec`.

An exchange package (``trio_feeds.exchanges.<name>``) exposes ``SPEC``; the registry in
:mod:`trio_feeds.exchanges` maps names to specs.  Nothing here imports trio: the spec and
the adapter it names are sans-I/O; the simulator is named by a dotted path and imported
only when a test or the demo asks for it.

A spec is plain data plus a few pure functions, in small frozen classes:

:class:`Limits`
    published connection / message / subscription limits and the REST budget.
:class:`Heartbeat`
    how liveness is checked: WebSocket control pings, or a text/JSON ping frame the
    adapter builds (:meth:`~trio_feeds.protocol.Adapter.ping`), and the server's idle rule.
:class:`BookRules`
    which streams are kept as full local books, the sync state machine that keeps them,
    and the REST snapshot (:class:`RestSnapshot`) it may ask for.
:class:`SymbolMap`
    canonical ``BTC-USDT`` to and from the exchange's spelling.
:class:`RestPoll`
    a channel the exchange serves over REST only, which the engine polls.

Every field past the first four has a default, so a third-party exchange needs only
``ExchangeSpec(name=..., label=..., adapter=...)`` to stream trades, tickers and quotes
(see ``docs/adding-an-exchange.md``).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

import attrs

if TYPE_CHECKING:
    from trio_feeds.books.sync import BookSyncBase
    from trio_feeds.core.instruments import Instrument
    from trio_feeds.core.records import BookDelta, Trade
    from trio_feeds.protocol._base import Adapter
    from trio_feeds.protocol._subscription import Subscription

__all__ = [
    "AdapterSetup",
    "BookRules",
    "ExchangeSpec",
    "Heartbeat",
    "HeartbeatStyle",
    "InstrumentList",
    "Limits",
    "RestPoll",
    "RestSnapshot",
    "SymbolMap",
    "TradeHistory",
]


@attrs.frozen
class Limits:
    """One exchange's published limits, and the margins we keep below them.

    Connection attempts and subscribe requests draw from a per-process (per-IP) bucket of
    ``connect_rate`` per second, ``connect_capacity`` at once.  ``messages_per_second`` /
    ``messages_burst`` bound what the client sends on one connection (pings included);
    ``requests_per_hour`` bounds subscribe/unsubscribe requests on one connection.  ``None``
    means the exchange has no such rule.
    """

    #: connection attempts per second (per IP), on average
    connect_rate: float = 1.0
    #: connection attempts allowed at once
    connect_capacity: float = 5
    #: messages the client may send per second on one connection (None: no such rule)
    messages_per_second: float | None = None
    messages_burst: float = 1
    #: subscribe/unsubscribe requests per hour on one connection (None: no such rule)
    requests_per_hour: float | None = None
    #: subscriptions one connection may carry (None: the adapter's
    #: ``max_streams_per_connection``); the engine shards above it
    streams_per_connection: int | None = None
    #: full or partial book subscriptions one connection may carry (None: no extra cap)
    book_streams_per_connection: int | None = None
    #: REST budget (per IP): ``rest_rate`` units per second, ``rest_capacity`` at once;
    #: a snapshot costs :attr:`RestSnapshot.cost` units (``rest_unit`` names them)
    rest_rate: float = 10.0
    rest_capacity: float = 20
    rest_unit: str = "requests"


#: ``"websocket"``: WebSocket control pings measure the round trip;
#: ``"text"``: a text frame (``"ping"``) when the line is quiet, answered by a text pong;
#: ``"json"``: an application JSON ping when the line is quiet, answered in JSON.
#: For ``"text"`` and ``"json"`` the frame is the adapter's ``ping()`` and the adapter turns
#: the answer into a :class:`~trio_feeds.protocol.Pong`.
HeartbeatStyle = Literal["websocket", "text", "json"]


@attrs.frozen
class Heartbeat:
    """How a connection's liveness is checked."""

    style: HeartbeatStyle = attrs.field(
        default="websocket", validator=attrs.validators.in_(("websocket", "text", "json"))
    )
    #: the longest the exchange lets a ping interval be (None: only the feed's
    #: ``heartbeat_interval``); the engine pings at least this often
    interval: float | None = None
    #: the longest to wait for a pong (None: the feed's ``pong_timeout``)
    timeout: float | None = None
    #: the server closes a connection whose *client* sends nothing for this long, however
    #: much data it receives (None: no such rule).  The feed refuses a
    #: ``heartbeat_interval`` that is not below it.
    client_idle_limit: float | None = None

    @property
    def app_level(self) -> bool:
        """True when pings are frames the adapter builds (not WebSocket control pings)."""
        return self.style != "websocket"


@attrs.frozen
class RestSnapshot:
    """The REST order-book snapshot a book sync asks for (a ``SnapshotRequest``)."""

    #: ``(symbol, depth) -> "/path?query"`` (added to the REST base URL)
    path: Callable[[str, int], str]
    #: ``(body, symbol, received_at) -> BookDelta(snapshot=True, ...)``
    parse: Callable[[bytes, str, float], BookDelta]
    #: levels asked for
    depth: int = 100
    #: budget units one request costs, from its depth (None: 1)
    weight: Callable[[int], float] | None = None

    def cost(self) -> float:
        """Budget units one snapshot request costs."""
        return 1.0 if self.weight is None else float(self.weight(self.depth))


@attrs.frozen
class TradeHistory:
    """An exchange's REST trade history for one trade stream: what the engine fetches to
    fill a hole in a symbol's trades (see ``docs/engine.md``, "Backfill").

    ``path(symbol, cursor, limit)`` builds the request: with ``backward=False`` the page
    holds the trades from id ``cursor`` on, oldest first (Binance ``fromId``); with
    ``backward=True`` the trades *older* than id ``cursor``, newest first (OKX
    ``after``).  ``parse(body, symbol, received_at)`` gives :class:`Trade` records equal
    field for field to the live stream's (``received_at`` is the answer's receive time),
    in any order; it raises :class:`~trio_feeds.ProtocolError` on a body it cannot use.
    """

    path: Callable[[str, int, int], str]
    parse: Callable[[bytes, str, float], list[Trade]]
    #: True: ``cursor`` is an exclusive upper bound and pages go back in time
    backward: bool = False
    #: trades one request returns at most (the ``limit`` asked for)
    page_size: int = 1000
    #: budget units (``Limits.rest_unit``) one request costs
    weight: float = 1.0
    #: the symbols this history serves (None: every symbol of the stream)
    covers: Callable[[str], bool] | None = None
    #: False: the endpoint has no cursor and only gives the newest ``page_size`` trades
    #: (``cursor`` is ignored; needs ``backward=True``): one request per hole, and a hole
    #: older than that window stays (``too_old``)
    paged: bool = True


@attrs.frozen
class BookRules:
    """Order books: which streams need a local book, and how it is kept in sync.

    ``full_streams`` are the exchange stream names (``Subscription.stream``) whose frames
    are deltas: the engine keeps one sync per symbol, made by ``sync(symbol)``, and acts on
    its outputs (``SnapshotRequest`` through :attr:`snapshot`, ``ResubscribeRequest`` by
    unsubscribing and subscribing that book channel on its connection, ``BookGap`` as a
    ``Gap`` event).  ``partial_stream`` is the stream of whole top-N books used for
    ``book_mode="partial"`` (None: the adapter's default book stream).
    """

    #: streams whose frames are deltas kept as a full local book
    full_streams: frozenset[str] = frozenset()
    #: the sync state machine for one symbol (``books.sync.BookSyncBase`` subclass)
    sync: Callable[[str], BookSyncBase] | None = None
    #: REST snapshot, for syncs that ask for one (None: they never do)
    snapshot: RestSnapshot | None = None
    #: False when REST snapshots carry no exchange time (the Book seeded from one is
    #: stamped with its receive time, ``exchange_time=False``)
    snapshot_exchange_time: bool = True
    #: stream for ``book_mode="partial"`` (None: the adapter's default book stream)
    partial_stream: str | None = None


def _always(subscriptions: Sequence[Subscription]) -> bool:
    return True


@attrs.frozen
class AdapterSetup:
    """A REST request made before a connection subscribes, whose answer the adapter needs
    (OKX: the swaps' contract sizes, to give amounts in the base currency).

    The engine fetches ``path`` (refreshed at every connect, within the REST budget:
    ``cost`` units) when ``needed(subscriptions)`` is true, and hands the body to
    ``apply(adapter, body)``.  A failed fetch falls back to the last good answer and is
    reported as an ``error`` event; the connection goes on either way.
    """

    path: str
    apply: Callable[[Any, bytes], object]
    needed: Callable[[Sequence[Subscription]], bool] = _always
    cost: float = 1.0


@attrs.frozen
class InstrumentList:
    """Where an exchange lists its instruments (REST) and how to read the answers.

    ``paths`` are fetched (each costs ``cost`` units of the REST budget) and every answer
    goes through ``parse(body) -> list[Instrument]``; the lists are joined.
    """

    paths: tuple[str, ...]
    parse: Callable[[bytes], list[Instrument]]
    cost: float = 1.0


@attrs.frozen
class RestPoll:
    """A channel the exchange serves over REST only (no WebSocket stream): the engine polls it.

    For every subscribed symbol of ``channel`` the engine requests ``path(symbol)`` (added
    to the REST base URL) at a fixed interval (``open_feed(open_interest_interval=...)`` for
    ``open_interest``; the engine's ``Settings.poll_intervals``), within the
    exchange's REST budget (``Limits.rest_rate``, shared with book snapshots; one request
    costs ``weight`` units), and delivers ``parse(body, symbol, received_at)`` (a record of
    kind ``channel``, stamped with the exchange's time) like any streamed record.  A failed
    request or an unusable body (``parse`` raises :class:`~trio_feeds.ProtocolError`) is an
    ``error`` event naming the symbol, and that symbol's polls back off.  The adapter's
    ``subscription(channel, symbol)`` validates the symbol as for any channel; the engine
    never sends such a subscription over the WebSocket.
    """

    channel: str
    path: Callable[[str], str]
    parse: Callable[[bytes, str, float], Any]
    weight: float = 1.0


@attrs.frozen
class SymbolMap:
    """Canonical symbols (``BTC-USDT``) to and from the exchange's own spelling."""

    to_native: Callable[[str], str]
    from_native: Callable[[str], str]


@attrs.frozen
class ExchangeSpec:
    """One exchange as the rest of trio_feeds sees it.

    ``name`` is the key users pass to :func:`trio_feeds.open_feed`; ``label`` is how the CLI
    and docs spell it; ``adapter`` is the sans-I/O protocol class; ``simulator`` is the
    dotted path (``"package.module:Class"``) of its simulated server, or ``None``.  The
    other fields (all optional) are what the engine needs to respect the venue's rules.
    """

    name: str
    label: str
    adapter: type[Adapter]
    simulator: str | None = None
    limits: Limits = Limits()
    heartbeat: Heartbeat = Heartbeat()
    #: the exchange closes a connection after this long: the engine hands over to a new
    #: one before (seconds; None: no limit)
    max_connection_age: float | None = None
    books: BookRules = BookRules()
    symbols: SymbolMap | None = None
    #: REST path listing the exchange's instruments (None: none used)
    rest_instruments: str | None = None
    #: the instrument lists and their parser (``fetch_instruments``, ``symbols="*"``;
    #: None: the exchange has none)
    instruments: InstrumentList | None = None
    #: trade streams (``Subscription.stream``) whose trade ids are consecutive integers
    #: per symbol: a jump in ids on one connection (id > last + 1) means trades were
    #: lost there, and the engine reports it as a ``Gap`` (see ``docs/engine.md``,
    #: "Trade id gaps").  Leave out streams whose ids skip (aggregated trades numbered
    #: from the fills, UUIDs, ids shared across instruments).
    contiguous_trade_ids: frozenset[str] = frozenset()
    #: a REST answer the adapter needs before subscribing (None: none)
    adapter_setup: AdapterSetup | None = None
    #: channels served by REST polling instead of the WebSocket (see :class:`RestPoll`)
    rest_polls: tuple[RestPoll, ...] = ()
    #: REST trade history per trade stream (``Subscription.stream``): trades missed
    #: across a reconnect or a hole are fetched there and delivered in order
    trade_history: Mapping[str, TradeHistory] = attrs.field(factory=dict)

    @property
    def default_url(self) -> str:
        return self.adapter.default_url

    @property
    def default_rest_url(self) -> str:
        return self.adapter.default_rest_url

    @property
    def streams_per_connection(self) -> int:
        """Subscriptions one connection may carry."""
        cap = self.limits.streams_per_connection
        return cap if cap is not None else self.adapter.max_streams_per_connection

    def rest_poll(self, channel: str) -> RestPoll | None:
        """How ``channel`` is polled over REST; None when it is streamed (or not served)."""
        for poll in self.rest_polls:
            if poll.channel == channel:
                return poll
        return None

    def simulator_class(self) -> Any:
        """The simulated-server class (imports trio); ``None`` when the exchange has none."""
        if self.simulator is None:
            return None
        module, _, attr = self.simulator.partition(":")
        return getattr(importlib.import_module(module), attr)
