"""Fixtures for the training tests. MLflow is the session's one server (``tracking_uri``, ``mlflow_client`` from
the platform plugin, ``devtools/pytest_platform.py``): SQLite backend store and proxied artifacts, the same shape
as the platform's MLflow (trainers upload artifacts over HTTP).

Registered-model names are global on that server, which other suites read (``trained`` registers ``penguins``
and the ``digits-*`` models; the demo test serves every model tagged served): every model these tests register is
named ``training-tests-...`` (``mlflow_names.PREFIX``) and deleted when its test or module is done
(``mlflow_names.forget_models``), since the training code tags each one served.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devtools.procs import free_port
from training_jobs.tests.mlflow_names import PREFIX, forget_models


@pytest.fixture
def unused_port() -> int:
    """A 127.0.0.1 port nothing listens on (bound and released just now)."""
    return free_port()


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    """A fresh SQLite training-data database for one test."""
    return f"sqlite:///{tmp_path / 'training.db'}"


@pytest.fixture
def unique_name(request: pytest.FixtureRequest) -> Iterator[str]:
    """A registered-model / experiment name no other test uses; in a test on the session's MLflow, the model of
    that name is deleted afterwards."""
    name = f"{PREFIX}{uuid.uuid4().hex[:10]}"
    yield name
    if "tracking_uri" in request.fixturenames:
        tracking_uri: Any = request.getfixturevalue("tracking_uri")
        forget_models(tracking_uri, name)
