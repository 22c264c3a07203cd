"""``python -m ensembles sensitivity ...``: the subcommand before it is wired into the CLI."""

import sys

from ensembles.command import main

sys.exit(main())
