"""What the simulated exchanges log for tests: connection attempts, rule breaks, REST requests."""

from __future__ import annotations

import attrs

__all__ = ["ConnectionAttempt", "RestRequest", "RestResult", "Violation"]


@attrs.frozen
class ConnectionAttempt:
    """One incoming WebSocket connection attempt.

    ``outcome`` is ``"accepted"``, ``"refused"`` (fault: closed before the handshake),
    ``"rejected"`` (handshake answered with an HTTP error; ``status`` says which),
    ``"failed"`` (the client went away or sent garbage during the handshake) or
    ``"tls_failed"`` (a TLS fault was injected, ``detail`` names it; or the TLS handshake
    failed, ``detail`` says how).
    """

    time: float
    remote: str
    path: str
    outcome: str
    status: int | None = None
    detail: str = ""


@attrs.frozen
class Violation:
    """A broken exchange rule: ``kind`` is e.g. ``"message_rate"``, ``"connection_rate"``,
    ``"subscribe_rate"``, ``"pong_timeout"``, ``"too_many_streams"``.  ``connection`` is
    the :attr:`SimConnection.id` when it concerns one connection."""

    time: float
    kind: str
    connection: int | None
    detail: str = ""


@attrs.frozen
class RestRequest:
    """A REST request served: trio ``time``, ``method``, ``path``, decoded ``query``, ``status``."""

    time: float
    method: str
    path: str
    query: dict[str, str]
    status: int


#: ``(status, headers, body)`` of a simulated REST answer
RestResult = tuple[int, list[tuple[str, str]], bytes]
