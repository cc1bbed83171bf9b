"""The import direction is part of the design (ARCHITECTURE.md): gateway -> scoring -> common, streaming -> scoring
-> common, and nothing imports the gateway. ``lint-imports`` checks the contracts of ``[tool.importlinter]`` in the
root pyproject.toml (indirect imports included); no server is needed."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def test_the_import_contracts_are_kept() -> None:
    assert LINT_IMPORTS.exists(), f"{LINT_IMPORTS} is missing; run `make sync` (import-linter is a dev dependency)"
    done = subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"], cwd=REPO, capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, f"lint-imports found a broken contract:\n{done.stdout}\n{done.stderr}"
    assert "0 broken" in done.stdout, done.stdout


def test_the_contracts_cover_every_workspace_package() -> None:
    """A new workspace member is either named in the contracts or this test says which one is missing."""
    config = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    members = config["tool"]["uv"]["workspace"]["members"]
    packages = set()
    for member in members:
        src = REPO / member / "src"
        packages |= {p.name for p in src.iterdir() if (p / "__init__.py").exists()}
    assert packages == set(config["tool"]["importlinter"]["root_packages"])
    contracts = {c["name"] for c in config["tool"]["importlinter"]["contracts"]}
    assert len(contracts) >= 4, contracts
