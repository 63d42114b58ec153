"""Faults every simulated exchange can play: the methods of :class:`ConnectionFaults`.

Instant faults (``drop``, ``close``, ``silence`` …) act at once on open connections.  Timed
faults (:meth:`~ConnectionFaults.outage`, :meth:`~ConnectionFaults.stall`,
:meth:`~ConnectionFaults.lag`) last ``duration`` seconds of trio time (virtual under
``MockClock``) and return a :class:`FaultHandle` that can end them early; so does
:meth:`~ConnectionFaults.refuse_connections`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, ClassVar

import trio

from trio_feeds.simulator.market import ExchangeClock, LagEpisode
from trio_feeds.simulator.tls import TLS_FAULTS, TestPKI

if TYPE_CHECKING:
    from trio_feeds.simulator.connection import SimConnection

__all__ = ["ConnectionFaults", "FaultHandle"]


class FaultHandle:
    """A fault in progress, as returned by the timed faults and ``refuse_connections``.

    Attributes:
        kind: ``"outage"``, ``"stall"``, ``"lag"``, ``"latency"`` or ``"refuse"``.
        exchange: the simulator's name.
        started: trio time the fault began.
        ends: trio time it ends by itself (``math.inf``: when its count is used up).
    """

    def __init__(
        self,
        kind: str,
        exchange: str,
        duration: float = math.inf,
        undo: Callable[[], None] | None = None,
        status: int | None = None,
    ) -> None:
        self.kind = kind
        #: an outage's HTTP status for refused handshakes (None: the socket is closed)
        self.status = status
        #: a lag's :class:`~trio_feeds.simulator.market.LagEpisode`
        self.episode: LagEpisode | None = None
        #: a latency spike's delay (s)
        self.extra = 0.0
        #: the connections a stall silenced (none: nothing was connected)
        self.connections: list[SimConnection] = []
        self.exchange = exchange
        self.started = trio.current_time()
        self.ends = self.started + duration
        self._undo = undo
        self._cancelled = False

    def __repr__(self) -> str:
        return (
            f"<FaultHandle {self.kind} on {self.exchange} {self.started:.3f}..{self.ends:.3f}"
            f"{' cancelled' if self._cancelled else ''}>"
        )

    @property
    def active(self) -> bool:
        """True until the fault has ended (its time is over, or :meth:`cancel`)."""
        return not self._cancelled and trio.current_time() < self.ends

    def cancel(self) -> None:
        """End the fault now (idempotent): an outage accepts connections again, a stall's
        connections send again, a lag is over, remaining refusals are forgotten."""
        if self._cancelled:
            return
        self._cancelled = True
        self.ends = min(self.ends, trio.current_time())
        if self._undo is not None:
            self._undo()


class _Refusal:
    def __init__(self, n: int, status: int | None) -> None:
        self.left = n
        self.status = status


class ConnectionFaults:
    """Mixin of :class:`~trio_feeds.simulator.server.SimulatedExchange`: its fault methods.

    Without ``connection=`` they act on every open connection (:attr:`connections`).
    """

    name: ClassVar[str]
    connections: list[SimConnection]
    clock: ExchangeClock
    pki: TestPKI | None
    _nursery: trio.Nursery | None
    _latency: float
    _tls_faults: list[tuple[str, float]]
    _rest_throttle: int
    _rest_retry_after: int

    def _init_controls(self) -> None:
        self._refusals: list[_Refusal] = []
        self._outages: list[FaultHandle] = []
        self._stalls: list[tuple[FaultHandle, list[SimConnection]]] = []
        self._spikes: list[FaultHandle] = []
        if not hasattr(self, "clock"):  # subclasses usually make their own (clock_offset=)
            self.clock = ExchangeClock()

    def _targets(self, connection: SimConnection | None) -> list[SimConnection]:
        return [connection] if connection is not None else list(self.connections)

    def drop(self, connection: SimConnection | None = None) -> None:
        """Cut connections abruptly: no close frame (a TCP reset; EOF in memory mode)."""
        for c in self._targets(connection):
            c.drop()

    def close(
        self, code: int = 1000, reason: str = "", connection: SimConnection | None = None
    ) -> None:
        """Close connections cleanly with a close frame ``code``/``reason``."""
        for c in self._targets(connection):
            c.close(code, reason)

    def silence(self, answer_pings: bool = True, connection: SimConnection | None = None) -> None:
        """Stop sending anything but keepalive on open connections (new ones are normal).

        With ``answer_pings=False`` the connection goes fully quiet: no data, no replies,
        no pongs and (Binance) no server pings.
        """
        for c in self._targets(connection):
            c.silenced = True
            c.answer_pings = answer_pings

    def resume(self, connection: SimConnection | None = None) -> None:
        """Undo :meth:`silence` (data frames generated meanwhile are lost)."""
        for c in self._targets(connection):
            c.silenced = False
            c.answer_pings = True

    def stop_pongs(self, connection: SimConnection | None = None) -> None:
        """Stop answering the client's pings on open connections."""
        for c in self._targets(connection):
            c.pongs_stopped = True

    def resume_pongs(self, connection: SimConnection | None = None) -> None:
        """Undo :meth:`stop_pongs`."""
        for c in self._targets(connection):
            c.pongs_stopped = False

    def malformed(self, n: int = 1, connection: SimConnection | None = None) -> None:
        """Replace the next ``n`` data frames of each connection by truncated JSON or garbage."""
        for c in self._targets(connection):
            c.malformed_pending += n

    def latency(self, seconds: float, connection: SimConnection | None = None) -> None:
        """Delay every frame by ``seconds`` (timestamps inside stay at generation time).

        Without ``connection`` this is the default for current *and* future connections.
        """
        if connection is None:
            self._latency = seconds
            for c in self.connections:
                c.latency = None
        else:
            connection.latency = seconds

    def fail_tls(self, fault: str = "reset", n: int = 1, *, delay: float = 60.0) -> None:
        """Break the TLS handshake of the next ``n`` connection attempts (needs ``tls=True``).

        ``fault``: ``"reset"`` (the server reads the ClientHello, then resets the TCP
        connection; in memory mode it closes), ``"close"`` (closes cleanly instead),
        ``"certificate"`` (serves a certificate from a CA the client does not trust),
        ``"hostname"`` (a trusted certificate for another host name), ``"plain_http"``
        (answers the ClientHello with a plain-text HTTP 400) or ``"slow"`` (waits ``delay``
        seconds before answering: the client's connect timeout fires).
        """
        if self.pki is None:
            raise RuntimeError(f"{self.name} simulator does not serve TLS (tls=True)")
        if fault not in TLS_FAULTS:
            raise ValueError(f"fault must be one of {', '.join(TLS_FAULTS)}, got {fault!r}")
        self._tls_faults.extend([(fault, delay)] * n)

    def throttle_rest(self, n: int = 1, retry_after: int = 1) -> None:
        """Answer the next ``n`` REST requests with HTTP 429 and ``Retry-After: retry_after``."""
        self._rest_throttle += n
        self._rest_retry_after = retry_after

    def sequence_gap(self, symbol: str, connection: SimConnection | None = None) -> None:
        """Lose the next incremental book message for ``symbol`` (canonical) on each connection,
        so the client sees a break in ``U``/``u`` (Binance) or ``prevSeqId`` (OKX)."""
        for c in self._targets(connection):
            c.gaps[symbol] = c.gaps.get(symbol, 0) + 1

    def refuse_connections(self, n: int = 1, status: int | None = None) -> FaultHandle:
        """Refuse the next ``n`` connection attempts: close the socket before the handshake,
        or, with ``status``, answer the handshake with that HTTP status (e.g. 429, 503).

        Returns a :class:`FaultHandle`; ``handle.cancel()`` forgets the refusals not used
        yet (see also :meth:`accept_connections`).
        """
        refusal = _Refusal(n, status)
        self._refusals.append(refusal)

        def undo() -> None:
            refusal.left = 0

        return FaultHandle("refuse", self.name, undo=undo)

    def accept_connections(self) -> None:
        """Accept connections again: end every outage and forget pending refusals."""
        for refusal in self._refusals:
            refusal.left = 0
        for outage in list(self._outages):
            outage.cancel()

    def outage(self, duration: float, *, status: int | None = None) -> FaultHandle:
        """Go down for ``duration`` seconds: cut every open connection (no close frame) and
        refuse every connection attempt until then (with ``status``: answer the handshake
        with that HTTP status instead of closing the socket), then accept again.

        ``handle.cancel()`` (or :meth:`accept_connections`) ends it early.
        """

        def undo() -> None:
            if handle in self._outages:
                self._outages.remove(handle)

        handle = FaultHandle("outage", self.name, duration, undo, status)
        self._outages.append(handle)
        self.drop()
        return handle

    def _take_refusal(self) -> tuple[bool, int | None]:
        """For a connection attempt now: (refuse it?, HTTP status or None to close)."""
        for outage in list(self._outages):
            if outage.active:
                return True, outage.status
            self._outages.remove(outage)
        while self._refusals:
            refusal = self._refusals[0]
            if refusal.left <= 0:
                self._refusals.pop(0)
                continue
            refusal.left -= 1
            return True, refusal.status
        return False, None

    @property
    def down(self) -> bool:
        """True during an :meth:`outage`."""
        return any(o.active for o in self._outages)

    def stall(self, duration: float, connection: SimConnection | None = None) -> FaultHandle:
        """Open connections stay connected but go silent for ``duration`` seconds: no data,
        no replies; pings are still answered (like :meth:`silence`, undone by itself).

        A client that gives up on the silent connection and reconnects gets a normal one,
        as from a real exchange whose one connection got stuck.
        """
        stalled = self._targets(connection)
        for c in stalled:
            c.silenced = True
            c.answer_pings = True

        def undo() -> None:
            self._stalls[:] = [(h, cs) for h, cs in self._stalls if h is not handle]
            still = {id(c) for h, cs in self._stalls if h.active for c in cs}
            for c in stalled:
                if id(c) not in still:  # overlapping stalls: the last one to end resumes
                    c.silenced = False
                    c.answer_pings = True

        handle = FaultHandle("stall", self.name, duration, undo)
        handle.connections = list(stalled)
        self._stalls.append((handle, stalled))
        self._later(duration, handle.cancel)
        return handle

    def latency_spike(self, duration: float, extra: float) -> FaultHandle:
        """Every frame (of current and new connections) is delayed ``extra`` seconds for
        ``duration`` seconds; time stamps inside stay at generation time (see
        :meth:`latency`).  Overlapping spikes: the largest delay counts; at the end the
        latency goes back to 0."""

        def undo() -> None:
            if handle in self._spikes:
                self._spikes.remove(handle)
            self.latency(max((h.extra for h in self._spikes if h.active), default=0.0))

        handle = FaultHandle("latency", self.name, duration, undo)
        handle.extra = extra
        self._spikes.append(handle)
        self.latency(max(h.extra for h in self._spikes))
        self._later(duration, handle.cancel)
        return handle

    def lag(self, duration: float, extra: float, *, ramp: float | None = None) -> FaultHandle:
        """Event times fall ``extra`` seconds behind for ``duration`` seconds (a backlogged
        publisher): data keeps flowing on time, its exchange time stamps lag.

        The lag ramps up over ``ramp`` s, holds, and ramps down over ``ramp`` s, all within
        ``duration`` (default ramp: ``min(0.5, duration / 4)``).  See
        :meth:`ExchangeClock.lag_episode` for other shapes.
        """
        r = min(0.5, duration / 4) if ramp is None else min(ramp, duration / 2)
        episode = self.clock.lag_episode(peak=extra, rise=r, hold=duration - 2 * r, fall=r)

        def undo() -> None:
            if episode in self.clock.episodes:
                self.clock.episodes.remove(episode)

        handle = FaultHandle("lag", self.name, duration, undo)
        handle.episode = episode
        return handle

    def shutdown_notice(self, lead: float = 5.0, connection: SimConnection | None = None) -> None:
        """Announce a restart and close every targeted connection (code 1001) after ``lead``
        seconds.  This default sends no notice frame; simulators of exchanges that announce
        restarts override it to send theirs."""
        for c in self._targets(connection):

            def later(c: SimConnection = c) -> None:
                c.close(1001, "server shutdown")

            self._later(lead, later)

    # --- helpers for subclasses ---------------------------------------------------------

    def _take_gap(self, conn: SimConnection, symbol: str) -> bool:
        n = conn.gaps.get(symbol, 0)
        if n <= 0:
            return False
        if n == 1:
            del conn.gaps[symbol]
        else:
            conn.gaps[symbol] = n - 1
        return True

    def _later(self, delay: float, fn: Callable[[], None]) -> trio.CancelScope:
        """Call ``fn()`` after ``delay`` seconds (in the server's nursery; before it serves,
        in a trio system task).  Returns the cancel scope that calls it off."""
        scope = trio.CancelScope()

        async def run() -> None:
            with scope:
                await trio.sleep(delay)
                fn()

        if self._nursery is not None:
            self._nursery.start_soon(run)
        else:
            trio.lowlevel.spawn_system_task(run)
        return scope
