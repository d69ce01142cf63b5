"""``python -m worker.cli``: the ``bookwire`` command."""

import sys

from worker.cli import main

sys.exit(main())
