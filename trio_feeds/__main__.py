"""``python -m trio_feeds …`` is the ``trio-feeds`` command."""

import sys

from trio_feeds.ops.cli import main

sys.exit(main())
