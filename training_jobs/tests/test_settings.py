"""Training settings: defaults, environment and overrides."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from pydantic import ValidationError

from modelship_training.settings import TrainingSettings, get_settings, git_revision


def test_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("DATABASE_URL", "PROMOTION_MARGIN", "TEST_SIZE", "GIT_REVISION"):
        monkeypatch.delenv(f"MODELSHIP_{name}", raising=False)
    settings = get_settings()
    assert settings.database_url.startswith("sqlite:///")
    assert settings.database_url.endswith("/.cache/modelship/demo/training.db")
    assert settings.promotion_margin == 0.0
    assert settings.test_size == 0.2
    assert settings.penguins_model_name == "penguins"
    assert settings.git_revision == git_revision()


def test_environment_and_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODELSHIP_DATABASE_URL", "postgresql+psycopg://u:p@db:5432/modelship")
    monkeypatch.setenv("MODELSHIP_PROMOTION_MARGIN", "0.01")
    monkeypatch.setenv("MODELSHIP_GIT_REVISION", "abc123")
    settings = get_settings(random_seed=7)
    assert settings.database_url == "postgresql+psycopg://u:p@db:5432/modelship"
    assert settings.promotion_margin == 0.01
    assert settings.git_revision == "abc123"
    assert settings.random_seed == 7


def test_invalid_values_are_rejected() -> None:
    with pytest.raises(ValidationError):
        get_settings(test_size=1.5)
    with pytest.raises(ValidationError):
        get_settings(promotion_margin=-1)


def test_every_field_is_described() -> None:
    for name, field in TrainingSettings.model_fields.items():
        assert field.description, name


def test_git_revision_of_this_checkout_and_outside_one(tmp_path: Path) -> None:
    head = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=False)
    if head.returncode == 0:
        assert git_revision() == head.stdout.strip()
    assert git_revision(cwd=tmp_path) == "unknown"
