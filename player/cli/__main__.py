"""``python -m player.cli``: the console script's ``main``."""

import sys

from player.cli import main

# Guarded: importing every module (the packaging test walks them) must not run the CLI.
if __name__ == "__main__":
    sys.exit(main())
