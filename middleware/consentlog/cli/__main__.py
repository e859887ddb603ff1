"""``python -m consentlog.cli``: the ``consentlog`` command."""

import sys

from consentlog.cli import main

sys.exit(main())
