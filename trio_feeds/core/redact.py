"""One place that keeps credentials out of everything trio_feeds shows or stores.

URLs may carry secrets: a password (or a token used as the user name) in their userinfo
(``wss://user:secret@proxy:443``, ``redis://:secret@host:6379/0``) and tokens in their
query (``?token=…``, ``&apikey=…``, ``&signature=…``).  Every event detail, error message,
log line, metric, sink message and recording goes through :func:`redact` (free text) or
:func:`redact_url` (one URL) before it leaves the engine.  The connections themselves keep
the real URL.

Rules:

* userinfo ``user:password@`` becomes ``user:***@``; a lone ``token@`` becomes ``***@``;
* the value of a query parameter (or a ``name=value`` pair in free text) whose name contains
  one of :data:`SECRET_NAMES` becomes ``***``.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["MASK", "SECRET_NAMES", "redact", "redact_url"]

MASK = "***"

#: a query parameter or ``name=value`` pair is secret if its name contains one of these
SECRET_NAMES = (
    "password", "passwd", "pwd", "pass", "secret", "token", "apikey", "api_key", "api-key",
    "key", "signature", "sig", "auth", "credential", "session",
)  # fmt: skip

# scheme://userinfo@  (userinfo: anything up to the last @ before the host, no / ? # or space)
_USERINFO = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.\-]*://)(?P<userinfo>[^/?#\s'\"]*@)")
_SECRET_PAIR = re.compile(
    r"(?P<name>[A-Za-z0-9_.\-]*(?:"
    + "|".join(re.escape(n) for n in SECRET_NAMES)
    + r")[A-Za-z0-9_.\-]*)(?P<sep>=|%3[Dd])(?P<value>[^&\s'\",;)}\]]+)",
    re.IGNORECASE,
)


def _userinfo(match: re.Match[str]) -> str:
    info = match.group("userinfo")[:-1]
    user, sep, _password = info.partition(":")
    masked = f"{user}:{MASK}" if sep and user else MASK
    return f"{match.group('scheme')}{masked}@"


def _pair(match: re.Match[str]) -> str:
    return f"{match.group('name')}{match.group('sep')}{MASK}"


def redact(text: Any) -> str:
    """``text`` (anything; ``str()`` is applied) with every credential replaced by ``***``."""
    s = text if isinstance(text, str) else str(text)
    if "@" in s:
        s = _USERINFO.sub(_userinfo, s)
    if "=" in s or "%3" in s:
        s = _SECRET_PAIR.sub(_pair, s)
    return s


def redact_url(url: str) -> str:
    """One URL with its credentials replaced by ``***`` (see the module's rules)."""
    return redact(url)
