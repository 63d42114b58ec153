"""Full local order books inside a session: the trio side of :mod:`trio_feeds.books.orderbook`.

The pure state machines (``BinanceBookSync``, ``OkxBookSync``) decide; this
module does what they ask — REST snapshots through a rate-limited httpx
client, OKX resubscriptions — without ever making the socket reader wait:
snapshot fetches run as tasks beside the reader, and the diffs that arrive
meanwhile are buffered by the state machine.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import trio

from trio_feeds.books.orderbook import (
    BinanceBookSync,
    BookGap,
    BookUpdated,
    OkxBookSync,
    ResubscribeRequest,
    SnapshotRequest,
)
from trio_feeds.core.errors import ProtocolError
from trio_feeds.core.records import BookDelta, Gap
from trio_feeds.engine.limits import TokenBucket
from trio_feeds.exchanges.binance.adapter import (
    depth_snapshot_path,
    depth_snapshot_weight,
    parse_depth_snapshot,
)
from trio_feeds.exchanges.okx.adapter import parse_rest_books, rest_books_path

#: REST snapshot depth per exchange
SNAPSHOT_DEPTH = {"binance": 1000, "okx": 400}


class RestClient:
    """REST snapshots for one exchange, inside its published request limits.

    Binance: request *weight* 6000/min per IP (we budget 4800; a 1000-level
    snapshot weighs 50); a 429/418 answer is honoured with its ``Retry-After``.
    OKX: 40 requests / 2 s per IP (we budget 15/s).
    """

    def __init__(
        self,
        exchange: str,
        base_url: str,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: float = 10.0,
    ) -> None:
        self.exchange = exchange
        self.base_url = base_url.rstrip("/")
        self._client = httpx.AsyncClient(transport=transport, timeout=timeout)
        if exchange == "binance":
            self.budget = TokenBucket(rate=80.0, capacity=1200, name="binance REST weight")
        else:
            self.budget = TokenBucket(rate=15.0, capacity=20, name="okx REST requests")
        self.requests = 0
        self.failures = 0
        self._blocked_until = 0.0

    async def aclose(self) -> None:
        await self._client.aclose()

    async def snapshot(self, symbol: str, clock: Callable[[], float]) -> BookDelta:
        if self.exchange == "binance":
            limit = SNAPSHOT_DEPTH["binance"]
            path = depth_snapshot_path(symbol, limit)
            cost = float(depth_snapshot_weight(limit))
        else:
            path = rest_books_path(symbol, SNAPSHOT_DEPTH["okx"])
            cost = 1.0
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
        received_at = clock()
        if self.exchange == "binance":
            return parse_depth_snapshot(response.content, symbol, received_at)
        return parse_rest_books(response.content, symbol, received_at)


class BookKeeper:
    """The local books of one connection's ``book`` subscriptions."""

    def __init__(
        self,
        exchange: str,
        symbols: list[str],
        *,
        depth: int,
        deltas: bool,
        rest: RestClient,
        clock: Callable[[], float],
        spawn: Callable[[Callable[[str], Awaitable[None]], str], None],
        resubscribe: Callable[[str], Awaitable[None]],
        emit: Callable[[list[Any]], None],
        on_error: Callable[[str], None],
    ) -> None:
        self.exchange = exchange
        self.depth = depth
        self.deltas = deltas
        self.rest = rest
        self.clock = clock
        self._spawn = spawn
        self._resubscribe = resubscribe
        self._on_error = on_error
        self._emit = emit
        sync_cls = BinanceBookSync if exchange == "binance" else OkxBookSync
        self.syncs: dict[str, BinanceBookSync | OkxBookSync] = {s: sync_cls(s) for s in symbols}
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
                outputs = sync.invalidate(f"unusable update: {exc}", r.timestamp)
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
        outputs = sync.invalidate(f"malformed update: {problem}", int(received_at * 1000))
        return self._outputs(sync, outputs)

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
                exchange_time=self.exchange != "binance" or not o.snapshot,
            )  # fmt: skip
        return [r for r in out if r is not None]

    def _handle(
        self,
        sync: BinanceBookSync | OkxBookSync,
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
        sync = self.syncs.get(symbol)
        if isinstance(sync, OkxBookSync):
            self._resubscribing.discard(symbol)
            return self._outputs(sync, sync.on_subscribed())
        return []

    def _outputs(self, sync: BinanceBookSync | OkxBookSync, outputs: list[Any]) -> list[Any]:
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
        try:
            while sync.needs_snapshot:
                try:
                    snap = await self.rest.snapshot(symbol, self.clock)
                except ProtocolError as exc:
                    self._on_error(str(exc))
                    await trio.sleep(delay)
                    delay = min(delay * 2, 30.0)
                    continue
                self.resyncs += 1
                outputs = sync.on_snapshot(snap)
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
