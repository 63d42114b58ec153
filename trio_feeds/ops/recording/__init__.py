"""Record a feed's raw transport, and replay it through the same pipeline.

Recording wraps the transport, not the records: a :class:`Recorder` gives ``open_feed`` a
connector whose streams write every chunk ``receive_some`` returns, an httpx transport that
writes every REST response, and a clock.  :class:`Replay` gives the inverse: a connector
whose streams hand the recorded chunks back (whatever the client sends), a transport that
answers with the recorded responses, and a clock that returns the recorded times.  The
engine (handshakes, parsing, books, dedupe, aggregation) runs unchanged on top.

File format (version 1): gzip-compressed JSON lines, one object per line, in the order the
events happened.  The recorder sync-flushes the gzip stream at every write (each
``flush_interval``, 0.25 s by default), so a recorder killed with SIGKILL leaves a file that
decodes up to its last flush; :func:`replay` reads such a file up to the break and says where
it broke (:attr:`Replay.truncation`, a logged warning).  Older recordings (no sync flushes)
read the same way.  ``t`` is the feed clock (Unix seconds) when the event happened::

    {"type": "header", "version": 1, "created": t, "feed": {open_feed arguments}}
    {"type": "open", "conn": 1, "url": "wss://…/stream", "t": t}      connector returned
    {"type": "connect_error", "url": "…", "error": "…", "t": t}      connector raised
    {"type": "chunk", "conn": 1, "t": t, "data": "<base64>"}         one receive_some result
    {"type": "eof", "conn": 1, "t": t, "error": null | "…"}          peer closed / broke
    {"type": "close", "conn": 1, "t": t}                             the client closed it
    {"type": "rest", "id": 1, "t": t, "method": "GET", "url": "…", "status": 200,
     "headers": [[k, v], …], "body": "<base64>"} | {…, "error": "…"}
    {"type": "end", "t": t}                                          the recorded feed closed

Clock rule (the same while recording and replaying, which is what makes ``received_at``
replay exactly): inside the task step in which a stream returned a chunk (or a transport a
response), the clock returns that chunk's time ``t``; it keeps doing so after that task sends
on the same stream once (a pong flushed before the batch is stamped).  Elsewhere it returns
the wrapped clock (recording) or the newest time replayed so far (replay).

Modules: :mod:`~trio_feeds.ops.recording.recorder` (writing),
:mod:`~trio_feeds.ops.recording.fileformat` (reading files, truncated ones included),
:mod:`~trio_feeds.ops.recording.replayer` (the replaying transport) and
:mod:`~trio_feeds.ops.recording.replayfeed` (``replay()``).
"""

from trio_feeds.ops.recording._common import FORMAT_VERSION as FORMAT_VERSION
from trio_feeds.ops.recording.fileformat import RecordingFile as RecordingFile
from trio_feeds.ops.recording.fileformat import Truncation as Truncation
from trio_feeds.ops.recording.fileformat import load_recording as load_recording
from trio_feeds.ops.recording.fileformat import read_recording as read_recording
from trio_feeds.ops.recording.progress import progress_text as progress_text
from trio_feeds.ops.recording.progress import show_progress as show_progress
from trio_feeds.ops.recording.recorder import Recorder as Recorder
from trio_feeds.ops.recording.recorder import open_recorder as open_recorder
from trio_feeds.ops.recording.recorder import record as record
from trio_feeds.ops.recording.recorder import recorded_feed as recorded_feed
from trio_feeds.ops.recording.replayer import Replay as Replay
from trio_feeds.ops.recording.replayer import open_replay as open_replay
from trio_feeds.ops.recording.replayfeed import ReplayFeed as ReplayFeed
from trio_feeds.ops.recording.replayfeed import replay as replay

__all__ = [
    "FORMAT_VERSION",
    "Recorder",
    "RecordingFile",
    "Replay",
    "ReplayFeed",
    "Truncation",
    "load_recording",
    "open_recorder",
    "open_replay",
    "progress_text",
    "read_recording",
    "record",
    "recorded_feed",
    "replay",
    "show_progress",
]
