"""trio_feeds: real-time market data from crypto exchanges for Trio.

Public names are re-exported here; the modules they live in are private.
"""

from ._convert import converter as converter
from ._convert import dumps as dumps
from ._convert import loads as loads
from ._convert import make_converter as make_converter
from ._convert import structure as structure
from ._convert import unstructure as unstructure
from ._errors import ConfigError as ConfigError
from ._errors import FeedError as FeedError
from ._errors import HandshakeRejected as HandshakeRejected
from ._errors import ProtocolError as ProtocolError
from ._errors import ReconnectLimitError as ReconnectLimitError
from ._errors import SubscriptionError as SubscriptionError
from ._errors import SymbolError as SymbolError
from ._errors import TLSCertificateError as TLSCertificateError
from ._errors import TLSError as TLSError
from ._errors import TrioFeedsError as TrioFeedsError
from ._records import Book as Book
from ._records import BookDelta as BookDelta
from ._records import Candle as Candle
from ._records import Dropped as Dropped
from ._records import Event as Event
from ._records import FailoverFailed as FailoverFailed
from ._records import Gap as Gap
from ._records import Item as Item
from ._records import Quote as Quote
from ._records import Record as Record
from ._records import SourceEvent as SourceEvent
from ._records import SourceSwitch as SourceSwitch
from ._records import SubscriptionRejected as SubscriptionRejected
from ._records import Ticker as Ticker
from ._records import Trade as Trade
from ._symbols import canonical as canonical

__version__ = "0.1.0"
from ._feed import Feed as Feed
from ._feed import open_feed as open_feed
from ._stats import Health as Health
from ._stats import SourceStatus as SourceStatus

# isort: split
from ._config import FeedConfig as FeedConfig
from ._recording import Recorder as Recorder
from ._recording import Replay as Replay
from ._recording import ReplayFeed as ReplayFeed
from ._recording import open_recorder as open_recorder
from ._recording import open_replay as open_replay
from ._recording import record as record
from ._recording import replay as replay
