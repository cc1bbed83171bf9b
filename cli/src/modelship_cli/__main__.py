"""``modelship`` / ``python -m modelship_cli``: parse, run, exit."""

from __future__ import annotations

import sys

from modelship_cli.app import main

if __name__ == "__main__":
    sys.exit(main())
