"""``python -m asyncsim``: the command line, also where the package is not installed."""

import sys

from .cli import main

sys.exit(main())
