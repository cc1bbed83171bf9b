"""``python -m modelship_training``: parse, build settings, run (the parts live in :mod:`modelship_training.cli`)."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from modelship_training.cli import build_parser, run, settings_from_args


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    return run(args, settings_from_args(parser, args))


if __name__ == "__main__":
    sys.exit(main())
