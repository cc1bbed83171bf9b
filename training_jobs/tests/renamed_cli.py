"""``python -m modelship_training`` with the digits variants registered under other names.

``python renamed_cli.py PREFIX ARGS...`` renames every variant ``PREFIX<variant>`` (the same CNN and epochs) and runs
the CLI's own ``main`` with ``ARGS``: a test on the session's MLflow then adds no version to the ``digits-*`` models
that ``trained`` registered there and other suites serve (the CLI has no option to rename them).
"""

from __future__ import annotations

import dataclasses
import sys

from modelship_training import cli, digits_models
from modelship_training.__main__ import main


def rename_variants(prefix: str) -> None:
    digits_models.VARIANTS = {
        f"{prefix}{name}": dataclasses.replace(variant, name=f"{prefix}{name}")
        for name, variant in digits_models.VARIANTS.items()
    }
    cli.DIGITS_VARIANTS = tuple(digits_models.VARIANTS)


if __name__ == "__main__":
    rename_variants(sys.argv[1])
    sys.exit(main(sys.argv[2:]))
