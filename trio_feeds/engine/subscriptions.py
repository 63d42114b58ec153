"""Subscriptions that change while a source runs: which connection carries a new stream,
the frames that add or drop it there, and the connections opened or closed for it.

The plan follows the exchange's rules (``SPEC.limits``): a new subscription goes to a
connection of its endpoint with room (``streams_per_connection``,
``book_streams_per_connection``), else to a new connection (a new shard, opened within
the per-IP connect budget); frames are paced by the connection's and the IP's budgets as
at connect.  Each shard's live session is registered here (:func:`attach`), so a change
reaches the right connection; a session still subscribing catches up when it attaches.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import trio

from trio_feeds.engine.books import BookKeeper, RestClient
from trio_feeds.engine.connect import _BasicAuth, _split_userinfo
from trio_feeds.engine.dedupe import _TradeIdGaps
from trio_feeds.protocol import Subscription

if TYPE_CHECKING:
    from trio_feeds.engine.session import _Session
    from trio_feeds.engine.source import Source

__all__ = ["UNSUBSCRIBE_GRACE", "add", "attach", "detach", "make_rest", "remove", "start_shard"]

#: frames of a stream still in flight this long after its unsubscribe are dropped quietly
#: (not reported as frames of unsubscribed streams)
UNSUBSCRIBE_GRACE = 5.0


def make_rest(source: Source) -> RestClient:
    """The source's REST client (book snapshots, adapter setup), made on first need."""
    if source.rest is None:
        base, auth = _split_userinfo(source.rest_url)
        transport = source.settings.http_transport
        if auth is not None:
            # credentials go in a header, not in the URL that httpx logs
            transport = _BasicAuth(transport, *auth)
        source.rest = RestClient(source.spec, base, transport)
    return source.rest


def start_shard(source: Source, nursery: trio.Nursery, shard: list[Subscription]) -> None:
    """Keep ``shard`` connected in ``nursery``, in a scope :func:`remove` cancels once the
    shard is empty."""
    scope = trio.CancelScope()
    source.shard_scopes[id(shard)] = scope
    nursery.start_soon(_run_shard, source, shard, scope)


async def _run_shard(source: Source, shard: list[Subscription], scope: trio.CancelScope) -> None:
    try:
        with scope:
            await source._keep_shard(shard)
    finally:  # also when the whole source is stopped (a cold standby)
        if source.shard_scopes.get(id(shard)) is scope:
            del source.shard_scopes[id(shard)]
    if scope.cancelled_caught:  # emptied by remove() (a shard that gave up counted itself)
        source.active_shards -= 1


async def attach(
    source: Source, shard: list[Subscription], session: _Session, sent: set[Subscription]
) -> None:
    """``session`` is live on ``shard`` (it subscribed ``sent``): register it, and catch up
    with what changed in the shard while it was subscribing."""
    source.sessions[id(shard)] = session
    _cover(session, shard)
    added = [x for x in shard if x not in sent and x not in source.rejected]
    gone = set(shard)
    dropped = [x for x in sent if x not in gone]
    if dropped:
        await _unsubscribe(session, dropped)
    if added:
        await _subscribe(session, added)


def detach(source: Source, shard: list[Subscription], session: _Session) -> None:
    """``session`` ended: changes go to the shard's next session."""
    if source.sessions.get(id(shard)) is session:
        del source.sessions[id(shard)]


def _cover(session: _Session, subs: Sequence[Subscription]) -> None:
    """The session's per-symbol state (trade-id checks, local books) for ``subs``."""
    source = session.source
    spec = source.spec
    contiguous = spec.contiguous_trade_ids
    ids = {x.symbol for x in subs if x.channel == "trade" and x.stream in contiguous}
    if ids:
        if session.id_gaps is None:
            session.id_gaps = _TradeIdGaps(source.exchange, ids)
        elif not ids <= session.id_gaps.symbols:
            session.id_gaps.symbols = session.id_gaps.symbols | ids
    books = [x.symbol for x in subs if x.channel == "book" and x.symbol in source.full_books]
    if not books:
        return
    keeper = session.books
    if keeper is None:
        st = source.settings
        rest = make_rest(source) if spec.books.snapshot is not None else None
        session.books = BookKeeper(
            spec, books, depth=st.book_depth, deltas=st.book_deltas, rest=rest,
            clock=st.clock, spawn=session._spawn, resubscribe=session._resubscribe_book,
            emit=source._emit, on_error=session._book_error,
        )  # fmt: skip
        return
    make = spec.books.sync
    if make is None:  # pragma: no cover - full_books are only kept with a sync
        return
    if keeper.rest is None and spec.books.snapshot is not None:
        keeper.rest = make_rest(source)
    for symbol in books:
        if symbol not in keeper.syncs:
            keeper.syncs[symbol] = make(symbol)


async def _subscribe(session: _Session, subs: list[Subscription]) -> None:
    """``SUBSCRIBE`` frames for ``subs`` on ``session``, after the REST answer the adapter
    needs for them (``SPEC.adapter_setup``: OKX swaps' contract sizes), if any."""
    source = session.source
    setup = source.spec.adapter_setup
    if setup is not None and setup.needed(subs):
        make_rest(source)
        await source._setup_adapter(session.adapter, subs)
    await _send(session, session.adapter.subscribe(subs))


async def _send(session: _Session, frames: list[str]) -> None:
    for frame in frames:
        await session.budget.request()
        await session.source.budget.request()
        await session._send_text(frame)


async def _unsubscribe(session: _Session, subs: list[Subscription]) -> None:
    keeper = session.books
    if keeper is not None:
        for sub in subs:
            if sub.channel == "book":
                keeper.syncs.pop(sub.symbol, None)
    # frames already on their way are dropped by the adapter from now on: not news
    session.unsolicited_report_at = trio.current_time()
    await _send(session, session.adapter.unsubscribe(subs))
    if session.nursery is not None:
        session.nursery.start_soon(_absorb, session)


async def _absorb(session: _Session) -> None:
    await trio.sleep(UNSUBSCRIBE_GRACE)
    session.unsolicited_reported = session.adapter.unsolicited
    session.unsolicited_report_at = None


def _room(
    source: Source, sub: Subscription, endpoint: str, fresh: set[int]
) -> list[Subscription] | None:
    cap = source.spec.streams_per_connection
    book_cap = source.spec.limits.book_streams_per_connection
    running = source._nursery is not None
    for shard in source.shards:
        if not shard or len(shard) >= cap or source._probe.endpoint(shard[0]) != endpoint:
            continue
        if running and id(shard) not in source.shard_scopes and id(shard) not in fresh:
            continue  # stopped (every subscription rejected): not reconnected
        if (
            book_cap
            and sub.channel == "book"
            and sum(1 for x in shard if x.channel == "book") >= book_cap
        ):
            continue
        return shard
    return None


async def add(source: Source, subs: Sequence[Subscription]) -> list[Subscription]:
    """Subscribe ``subs`` (those not subscribed yet) on the connections with room, opening
    new ones as needed; returns what was added."""
    new: list[Subscription] = []
    for sub in subs:
        key = (sub.channel, sub.symbol)
        if source.spec.rest_poll(sub.channel) is not None:
            continue  # polled over REST, never on a connection (fixed at open_feed)
        if key not in source._by_topic:
            source._by_topic[key] = sub
            new.append(sub)
    if not new:
        return []
    # placed synchronously (no checkpoint): a session attaching later sees the whole change
    per_session: dict[int, tuple[_Session, list[Subscription]]] = {}
    fresh: list[list[Subscription]] = []
    for sub in new:
        source.subscriptions.append(sub)
        source.rejected.discard(sub)
        if sub.channel == "book" and sub.stream in source.spec.books.full_streams:
            source.full_books.add(sub.symbol)
        shard = _room(source, sub, source._probe.endpoint(sub), {id(x) for x in fresh})
        if shard is None:
            shard = []
            source.shards.append(shard)
            fresh.append(shard)
        shard.append(sub)
        session = source.sessions.get(id(shard))
        if session is not None:
            per_session.setdefault(id(shard), (session, []))[1].append(sub)
    for shard in fresh:
        if source._nursery is not None:
            source.active_shards += 1
            start_shard(source, source._nursery, shard)
    if source._nursery is None:  # not running (a cold standby): counted when it starts
        source.active_shards = len(source.shards)
    for session, batch in per_session.values():
        _cover(session, batch)
    async with trio.open_nursery() as nursery:  # each connection at its own pace
        for session, batch in per_session.values():
            nursery.start_soon(_subscribe, session, batch)
    return new


async def remove(source: Source, subs: Sequence[Subscription]) -> list[Subscription]:
    """Unsubscribe ``subs`` (those subscribed) on their connections; a connection left
    with nothing is closed.  Returns what was removed."""
    gone: list[Subscription] = []
    for sub in subs:
        old = source._by_topic.pop((sub.channel, sub.symbol), None)
        if old is not None:
            gone.append(old)
    if not gone:
        return []
    drop = set(gone)
    source.subscriptions = [x for x in source.subscriptions if x not in drop]
    for sub in gone:
        source.last_data.pop(sub, None)
        source.last_ts.pop(sub, None)
        source.rejected.discard(sub)
    books = {x.symbol for x in source.subscriptions if x.channel == "book"}
    source.full_books &= books
    per_session: list[tuple[_Session, list[Subscription]]] = []
    for shard in list(source.shards):
        mine = [x for x in shard if x in drop]
        if not mine:
            continue
        shard[:] = [x for x in shard if x not in drop]
        session = source.sessions.get(id(shard))
        if not shard:
            source.shards.remove(shard)
            scope = source.shard_scopes.get(id(shard))
            if scope is not None:
                scope.cancel()  # its connection closes: nothing to unsubscribe
            if source._nursery is None:  # not running: counted when it starts
                source.active_shards = len(source.shards)
        elif session is not None:
            per_session.append((session, mine))
    async with trio.open_nursery() as nursery:
        for session, batch in per_session:
            nursery.start_soon(_unsubscribe, session, batch)
    return gone
