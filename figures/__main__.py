"""``python -m clusterdyn.figures``: the ``clusterdyn figures`` subcommand on its own."""

import sys

from clusterdyn.figures.command import main

sys.exit(main())
