"""Full local order books inside a session: the trio side of :mod:`trio_feeds.books`.

The pure state machines (an exchange's ``SPEC.books.sync``) decide; this module does what
they ask — REST snapshots through a rate-limited httpx client, resubscriptions, resyncs
after a connection lost messages — without ever making the socket reader wait: snapshot
fetches run as tasks beside the reader, and the diffs that arrive meanwhile are buffered
by the state machine.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import trio

from trio_feeds.books.outputs import BookGap, BookUpdated, ResubscribeRequest, SnapshotRequest
from trio_feeds.books.sync import BookSyncBase
from trio_feeds.core.errors import ProtocolError
from trio_feeds.core.records import BookDelta, Gap
from trio_feeds.engine.limits import TokenBucket
from trio_feeds.exchanges.spec import ExchangeSpec

__all__ = ["BookKeeper", "RestClient"]


class RestClient:
    """REST snapshots for one exchange, inside its published request limits.

    The budget is the spec's ``limits.rest_rate`` / ``rest_capacity`` (units: a request, or
    the exchange's request weight); a 429/418 answer is honoured with its ``Retry-After``.
    """

    def __init__(
        self,
        spec: ExchangeSpec,
        base_url: str,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: float = 10.0,
    ) -> None:
        self.spec = spec
        self.exchange = spec.name
        self.base_url = base_url.rstrip("/")
        self._client = httpx.AsyncClient(transport=transport, timeout=timeout)
        limits = spec.limits
        self.budget = TokenBucket(
            rate=limits.rest_rate,
            capacity=limits.rest_capacity,
            name=f"{spec.name} REST {limits.rest_unit}",
        )
        self.requests = 0
        self.failures = 0
        self._blocked_until = 0.0

    async def aclose(self) -> None:
        await self._client.aclose()

    async def snapshot(self, symbol: str, clock: Callable[[], float]) -> BookDelta:
        rules = self.spec.books.snapshot
        if rules is None:
            raise ProtocolError(f"{self.exchange} has no REST book snapshot")
        body = await self.get(rules.path(symbol, rules.depth), rules.cost())
        return rules.parse(body, symbol, clock())

    async def get(self, path: str, cost: float = 1.0) -> bytes:
        """``GET path`` within the budget; the body, or :class:`~trio_feeds.ProtocolError`."""
        now = trio.current_time()
        if now < self._blocked_until:
            await trio.sleep_until(self._blocked_until)
        await self.budget.acquire(cost)
        self.requests += 1
        try:
            response = await self._client.get(self.base_url + path)
        except httpx.HTTPError as exc:
            self.failures += 1
            raise ProtocolError(
                f"{self.exchange} REST {path}: {type(exc).__name__}: {exc}"
            ) from None
        if response.status_code in (418, 429):
            retry = float(response.headers.get("Retry-After", "5") or 5)
            self._blocked_until = trio.current_time() + retry
            self.failures += 1
            raise ProtocolError(
                f"{self.exchange} REST {path}: HTTP {response.status_code}, retry after {retry:g} s"
            )
        if response.status_code != 200:
            self.failures += 1
            raise ProtocolError(f"{self.exchange} REST {path}: HTTP {response.status_code}")
        return response.content


class BookKeeper:
    """The local books of one connection's ``book`` subscriptions."""

    def __init__(
        self,
        spec: ExchangeSpec,
        symbols: list[str],
        *,
        depth: int,
        deltas: bool,
        rest: RestClient | None,
        clock: Callable[[], float],
        spawn: Callable[[Callable[[str], Awaitable[None]], str], None],
        resubscribe: Callable[[str], Awaitable[None]],
        emit: Callable[[list[Any]], None],
        on_error: Callable[[str], None],
    ) -> None:
        self.exchange = spec.name
        self.depth = depth
        self.deltas = deltas
        self.rest = rest
        self.clock = clock
        self._spawn = spawn
        self._resubscribe = resubscribe
        self._on_error = on_error
        self._emit = emit
        make = spec.books.sync
        if make is None:
            raise ValueError(f"{spec.name} keeps no local books (its SPEC.books.sync is None)")
        #: REST snapshots carry an exchange time (else a seeded Book has exchange_time=False)
        self._snapshot_time = spec.books.snapshot_exchange_time
        self.syncs: dict[str, BookSyncBase] = {s: make(s) for s in symbols}
        self._fetching: set[str] = set()
        self._resubscribing: set[str] = set()
        self.resyncs = 0
        self.gaps = 0

    def process(self, records: list[Any]) -> list[Any]:
        """Replace the ``BookDelta`` records of a batch by whole ``Book`` records.

        Only the newest book per symbol in a batch is emitted (it is a whole,
        consistent book: never a torn one).  With ``deltas`` the validated
        deltas are passed on instead.
        """
        out: list[Any] = []
        latest: dict[str, tuple[int, Any, BookUpdated]] = {}
        for r in records:
            if r.kind != "book_delta":
                out.append(r)
                continue
            sync = self.syncs.get(r.symbol)
            if sync is None:
                out.append(r)
                continue
            try:
                outputs = sync.on_delta(r)
            except ValueError as exc:  # pragma: no cover - the adapters validate every level
                # never a half-applied book: drop it and resync
                self._on_error(f"{self.exchange} {r.symbol} book: {exc}")
                outputs = _invalidate(sync, f"unusable update: {exc}", r.timestamp)
            for o in outputs:
                self._handle(sync, o, r, out, latest)
        return self._materialize(out, latest)

    def on_lost(self, symbol: str, problem: str, received_at: float) -> list[Any]:
        """A frame of ``symbol``'s book was refused (malformed): the book missed an update.

        A synced book is dropped at once and resynced (a ``Gap`` record is returned);
        one still waiting for its snapshot finds the hole by itself.
        """
        sync = self.syncs.get(symbol)
        if sync is None:
            return []
        outputs = _invalidate(sync, f"malformed update: {problem}", int(received_at * 1000))
        return self._outputs(sync, outputs)

    def on_connection_gap(self, symbols: tuple[str, ...], timestamp: int) -> list[Any]:
        """The connection lost whole messages (a ``ConnectionGap``): the books of
        ``symbols`` missed updates; each is dropped and resynced (its ``Gap`` returned)."""
        out: list[Any] = []
        for symbol in symbols:
            sync = self.syncs.get(symbol)
            if sync is None:
                continue
            gap = getattr(sync, "on_connection_gap", None)
            if gap is not None:
                outputs = gap(timestamp)
            else:
                outputs = _invalidate(sync, "messages lost on the connection", timestamp)
            out.extend(self._outputs(sync, outputs))
        return out

    def _materialize(
        self, out: list[Any], latest: dict[str, tuple[int, Any, BookUpdated]]
    ) -> list[Any]:
        """Build the ``Book`` record of each symbol once per batch, at its newest place."""
        if not latest:
            return [r for r in out if r is not None] if None in out else out
        depth = self.depth
        for index, sync, o in latest.values():
            out[index] = sync.to_record(
                o.timestamp, o.received_at, depth,
                exchange_time=self._snapshot_time or not o.snapshot,
            )  # fmt: skip
        return [r for r in out if r is not None]

    def _handle(
        self,
        sync: BookSyncBase,
        o: Any,
        delta: BookDelta | None,
        out: list[Any],
        latest: dict[str, tuple[int, Any, BookUpdated]],
    ) -> None:
        if isinstance(o, BookUpdated):
            if self.deltas:
                if o.snapshot or delta is None or delta.snapshot:
                    bids, asks = sync.book.top()
                    out.append(
                        BookDelta(
                            self.exchange,
                            o.symbol,
                            o.timestamp,
                            o.received_at,
                            bids,
                            asks,
                            True,
                            o.sequence,
                        )
                    )
                else:
                    out.append(delta)
            else:
                # a placeholder: the record is built once, for the newest state of the batch
                previous = latest.get(o.symbol)
                if previous is not None:
                    out[previous[0]] = None
                latest[o.symbol] = (len(out), sync, o)
                out.append(None)
        elif isinstance(o, BookGap):
            self.gaps += 1
            # the book was dropped: an update pending from earlier in this batch is void
            void = latest.pop(o.symbol, None)
            if void is not None:
                out[void[0]] = None
            start = o.last_timestamp if o.last_timestamp is not None else o.timestamp
            out.append(Gap(self.exchange, o.symbol, "book", start, o.timestamp, o.reason))
        elif isinstance(o, SnapshotRequest):
            if o.symbol not in self._fetching:
                self._fetching.add(o.symbol)
                self._spawn(self._fetch, o.symbol)
        elif isinstance(o, ResubscribeRequest) and o.symbol not in self._resubscribing:
            self._resubscribing.add(o.symbol)
            self.resyncs += 1
            self._spawn(self._resub, o.symbol)

    def on_subscribed(self, symbol: str) -> list[Any]:
        """The book channel of ``symbol`` was (re)subscribed: tell a sync that cares."""
        sync = self.syncs.get(symbol)
        if sync is None:
            return []
        on_subscribed = getattr(sync, "on_subscribed", None)
        if on_subscribed is None:
            return []
        self._resubscribing.discard(symbol)
        return self._outputs(sync, on_subscribed())

    def _outputs(self, sync: BookSyncBase, outputs: list[Any]) -> list[Any]:
        out: list[Any] = []
        latest: dict[str, tuple[int, Any, BookUpdated]] = {}
        for o in outputs:
            self._handle(sync, o, None, out, latest)
        return self._materialize(out, latest)

    async def _resub(self, symbol: str) -> None:
        try:
            await self._resubscribe(symbol)
        finally:
            self._resubscribing.discard(symbol)

    async def _fetch(self, symbol: str) -> None:
        """Fetch snapshots until the book is in sync (bounded backoff between tries)."""
        sync = self.syncs[symbol]
        delay = 0.25
        rest = self.rest
        if rest is None:
            self._fetching.discard(symbol)
            self._on_error(f"{self.exchange} {symbol} book: no REST snapshot to ask for")
            return
        try:
            while sync.needs_snapshot:
                try:
                    snap = await rest.snapshot(symbol, self.clock)
                except ProtocolError as exc:
                    self._on_error(str(exc))
                    await trio.sleep(delay)
                    delay = min(delay * 2, 30.0)
                    continue
                self.resyncs += 1
                outputs = sync.on_snapshot(snap)  # type: ignore[attr-defined]
                items = self._outputs(
                    sync, [o for o in outputs if not isinstance(o, SnapshotRequest)]
                )
                if items:
                    self._emit(items)
                if sync.needs_snapshot:
                    # too old for the buffered diffs: give the stream a moment, then again
                    await trio.sleep(delay)
                    delay = min(delay * 2, 30.0)
        finally:
            self._fetching.discard(symbol)


def _invalidate(sync: BookSyncBase, reason: str, timestamp: int) -> list[Any]:
    """Drop a book that missed an update and resync it (a sync without ``invalidate``
    finds the hole by itself on the next update)."""
    invalidate = getattr(sync, "invalidate", None)
    if invalidate is None:
        return []
    return invalidate(reason, timestamp)  # type: ignore[no-any-return]
