"""``python -m anyboard``: the same as the ``anyboard`` command."""

import sys

from anyboard.cli import main

sys.exit(main())
