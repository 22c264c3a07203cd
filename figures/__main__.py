"""``python -m figures``: the ``clusterdyn figures`` subcommand on its own."""

import sys

from figures.command import main

sys.exit(main())
