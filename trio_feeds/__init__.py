"""trio_feeds: real-time market data from crypto exchanges for Trio.

Public names are re-exported here; the modules they live in are private.
"""

from trio_feeds.core.convert import converter as converter
from trio_feeds.core.convert import dumps as dumps
from trio_feeds.core.convert import loads as loads
from trio_feeds.core.convert import make_converter as make_converter
from trio_feeds.core.convert import structure as structure
from trio_feeds.core.convert import unstructure as unstructure
from trio_feeds.core.errors import ConfigError as ConfigError
from trio_feeds.core.errors import FeedError as FeedError
from trio_feeds.core.errors import HandshakeRejected as HandshakeRejected
from trio_feeds.core.errors import ProtocolError as ProtocolError
from trio_feeds.core.errors import ReconnectLimitError as ReconnectLimitError
from trio_feeds.core.errors import SubscriptionError as SubscriptionError
from trio_feeds.core.errors import SymbolError as SymbolError
from trio_feeds.core.errors import TLSCertificateError as TLSCertificateError
from trio_feeds.core.errors import TLSError as TLSError
from trio_feeds.core.errors import TrioFeedsError as TrioFeedsError
from trio_feeds.core.instruments import Instrument as Instrument
from trio_feeds.core.records import Book as Book
from trio_feeds.core.records import BookDelta as BookDelta
from trio_feeds.core.records import Candle as Candle
from trio_feeds.core.records import Dropped as Dropped
from trio_feeds.core.records import Event as Event
from trio_feeds.core.records import FailoverFailed as FailoverFailed
from trio_feeds.core.records import Funding as Funding
from trio_feeds.core.records import Gap as Gap
from trio_feeds.core.records import GapFilled as GapFilled
from trio_feeds.core.records import Item as Item
from trio_feeds.core.records import Liquidation as Liquidation
from trio_feeds.core.records import MarkPrice as MarkPrice
from trio_feeds.core.records import OpenInterest as OpenInterest
from trio_feeds.core.records import Quote as Quote
from trio_feeds.core.records import Record as Record
from trio_feeds.core.records import SourceEvent as SourceEvent
from trio_feeds.core.records import SourceSwitch as SourceSwitch
from trio_feeds.core.records import SubscriptionChange as SubscriptionChange
from trio_feeds.core.records import SubscriptionRejected as SubscriptionRejected
from trio_feeds.core.records import Ticker as Ticker
from trio_feeds.core.records import Trade as Trade
from trio_feeds.core.symbols import canonical as canonical

__version__ = "0.1.0"
from trio_feeds.engine.instruments import fetch_instruments as fetch_instruments
from trio_feeds.engine.stats import Health as Health
from trio_feeds.engine.stats import SourceStatus as SourceStatus
from trio_feeds.feed.feed import Feed as Feed
from trio_feeds.feed.feed import open_feed as open_feed

# isort: split
from trio_feeds.ops.config import FeedConfig as FeedConfig
from trio_feeds.ops.recording import Recorder as Recorder
from trio_feeds.ops.recording import Replay as Replay
from trio_feeds.ops.recording import ReplayFeed as ReplayFeed
from trio_feeds.ops.recording import open_recorder as open_recorder
from trio_feeds.ops.recording import open_replay as open_replay
from trio_feeds.ops.recording import record as record
from trio_feeds.ops.recording import replay as replay

__all__ = [
    "Book",
    "BookDelta",
    "Candle",
    "ConfigError",
    "Dropped",
    "Event",
    "FailoverFailed",
    "Feed",
    "FeedConfig",
    "FeedError",
    "Funding",
    "Gap",
    "GapFilled",
    "HandshakeRejected",
    "Health",
    "Instrument",
    "Item",
    "Liquidation",
    "MarkPrice",
    "OpenInterest",
    "ProtocolError",
    "Quote",
    "ReconnectLimitError",
    "Record",
    "Recorder",
    "Replay",
    "ReplayFeed",
    "SourceEvent",
    "SourceStatus",
    "SourceSwitch",
    "SubscriptionChange",
    "SubscriptionError",
    "SubscriptionRejected",
    "SymbolError",
    "TLSCertificateError",
    "TLSError",
    "Ticker",
    "Trade",
    "TrioFeedsError",
    "canonical",
    "converter",
    "dumps",
    "fetch_instruments",
    "loads",
    "make_converter",
    "open_feed",
    "open_recorder",
    "open_replay",
    "record",
    "replay",
    "structure",
    "unstructure",
]
