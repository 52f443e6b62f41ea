"""``python -m ditgrade``: the ``ditgrade`` command."""

import sys

from .cli import main

sys.exit(main())
