"""`python -m l2zoo`: the command line."""

import sys

from l2zoo.cli import main

sys.exit(main())
