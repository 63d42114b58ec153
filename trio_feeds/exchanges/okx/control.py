"""OKX control frames: subscription acks, errors and the pending-request bookkeeping (cold path).

:class:`ControlFrames` is mixed into :class:`~trio_feeds.exchanges.okx.adapter.OkxAdapter`.
"""

from __future__ import annotations

from typing import Any

from trio_feeds.exchanges.okx.frames import (
    _EXCHANGE,
    _NAMED_ARG,
    STREAMS,
    _Key,
)
from trio_feeds.exchanges.okx.perps import BY_INST_TYPE
from trio_feeds.protocol._events import (
    ExchangeError,
    ParseError,
    Rejected,
    ServerShutdown,
    Subscribed,
    Unsubscribed,
    excerpt,
)
from trio_feeds.protocol._subscription import Subscription

__all__ = ["ControlFrames"]


class _Request:
    """An unanswered subscribe/unsubscribe request."""

    __slots__ = ("args", "id", "op", "subscriptions", "unanswered")

    def __init__(
        self, request_id: str, op: str, args: dict[_Key, tuple[Subscription, ...]]
    ) -> None:
        self.id = request_id
        self.op = op
        self.args = args
        self.subscriptions = tuple(s for subs in args.values() for s in subs)
        self.unanswered = set(args)


class ControlFrames:
    """Answers to subscribe/unsubscribe requests and error frames, matched to what was asked."""

    _pending: dict[str, _Request]
    _wanted: dict[_Key, tuple[Subscription, ...]]

    def _unwant(self, sub: Subscription) -> None:
        raise NotImplementedError

    def _on_event(
        self, msg: dict[str, Any], frame: bytes | str, received_at: float, out: list[Any]
    ) -> None:
        event = msg["event"]
        raw_id = msg.get("id")
        request_id = None if raw_id is None or raw_id == "" else str(raw_id)
        if event == "subscribe" or event == "unsubscribe":
            arg = msg.get("arg")
            channel = arg.get("channel") if isinstance(arg, dict) else None
            inst = arg.get("instId") if isinstance(arg, dict) else None
            if inst is None and channel in BY_INST_TYPE:
                self._on_type_ack(event, channel, request_id, out)
                return
            if not isinstance(channel, str) or not isinstance(inst, str):
                problem = f"okx: {event} ack without an 'arg' naming channel and instId"
                out.append(ParseError(problem, excerpt(frame), control=True))
                return
            key = (channel, inst)
            req = self._pending.get(request_id) if request_id is not None else None
            if req is None or req.op != event or key not in req.args:
                req = self._find_pending(key, event)
            if req is not None:
                subs = req.args[key]
                self._answered(req, key)
                request_id = request_id or req.id
            else:
                subs = self._wanted.get(key) or (self._subscription_for(key),)
            cls = Subscribed if event == "subscribe" else Unsubscribed
            out.append(cls(subs, request_id))
        elif event == "error":
            code = str(msg.get("code", ""))
            text = str(msg.get("msg", ""))
            self._on_error(code, text, request_id, out)
        elif event == "notice":
            code = str(msg.get("code", ""))
            text = str(msg.get("msg", ""))
            if code == "64008":
                out.append(ServerShutdown(code, text, received_at))
            else:
                out.append(ExchangeError(code, text, request_id))
        elif event in ("channel-conn-count", "login"):
            pass  # informational
        else:
            out.append(ParseError(f"okx: unknown event {event!r}", excerpt(frame), control=True))

    def _on_type_ack(
        self, event: str, channel: str, request_id: str | None, out: list[Any]
    ) -> None:
        """The ack of an ``instType`` arg (``liquidation-orders``): it answers every
        instrument of that channel the request (or the oldest waiting one) asked for."""

        def asks(r: _Request | None) -> bool:
            return r is not None and r.op == event and any(k[0] == channel for k in r.unanswered)

        req = self._pending.get(request_id) if request_id is not None else None
        if not asks(req):
            req = next((r for r in self._pending.values() if asks(r)), None)
        if req is not None:
            keys = [k for k in req.args if k in req.unanswered and k[0] == channel]
            subs = tuple(s for k in keys for s in req.args[k])
            for k in keys:
                self._answered(req, k)
            request_id = request_id or req.id
        else:
            subs = tuple(s for k, v in self._wanted.items() if k[0] == channel for s in v)
        if subs:
            out.append((Subscribed if event == "subscribe" else Unsubscribed)(subs, request_id))

    def _on_error(self, code: str, text: str, request_id: str | None, out: list[Any]) -> None:
        match = _NAMED_ARG.search(text)
        named: _Key | None = (match[1], match[2]) if match else None
        req = self._pending.get(request_id) if request_id is not None else None
        subs: tuple[Subscription, ...] | None = None
        op = "subscribe"
        if req is not None:
            if named is not None and named in req.args:
                subs = req.args[named]
                self._answered(req, named)
            else:  # the whole request failed
                subs = req.subscriptions
                del self._pending[req.id]
            op = req.op
        elif named is not None:
            found = self._find_pending(named, None)
            if found is not None:
                subs = found.args[named]
                self._answered(found, named)
                op = found.op
                request_id = request_id or found.id
            elif named in self._wanted:
                subs = self._wanted[named]
        if subs is None:
            out.append(ExchangeError(code, text, request_id))
            return
        if op == "subscribe":
            for sub in subs:
                self._unwant(sub)
        out.append(Rejected(subs, code, text, request_id))

    def _find_pending(self, key: _Key, op: str | None) -> _Request | None:
        """The oldest request (of ``op``, if given) still waiting for an answer on ``key``."""
        for req in self._pending.values():
            if key in req.unanswered and (op is None or req.op == op):
                return req
        return None

    def _answered(self, req: _Request, key: _Key) -> None:
        req.unanswered.discard(key)
        if not req.unanswered:
            self._pending.pop(req.id, None)

    @staticmethod
    def _subscription_for(key: _Key) -> Subscription:
        """A Subscription for an arg nobody asked this adapter for."""
        stream, inst = key
        kind = next((k for k, streams in STREAMS.items() if stream in streams), stream)
        symbol = inst[:-5] + "-PERP" if inst.endswith("-SWAP") else inst
        return Subscription(_EXCHANGE, kind, symbol, stream, f"{stream}:{inst}")
