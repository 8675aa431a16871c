"""``python -m polyplatypus``: the command line, as the ``polyplatypus`` console script runs it."""

import sys

from polyplatypus.cli import main

sys.exit(main())
