"""``python -m player.cli``: the console script's ``main``."""

import sys

from player.cli import main

sys.exit(main())
