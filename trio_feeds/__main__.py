"""``python -m trio_feeds …`` is the ``trio-feeds`` command."""

import sys

from .cli import main

sys.exit(main())
