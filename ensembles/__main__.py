"""``python -m clusterdyn.ensembles sensitivity ...``: the subcommand before it is wired into
the CLI."""

import sys

from clusterdyn.ensembles.command import main

sys.exit(main())
