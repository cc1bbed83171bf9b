"""``registry.served_models`` against the session's real MLflow server: the registry filters on the serve tag."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from modelship_common import registry

pytestmark = pytest.mark.integration


@pytest.fixture
def models(mlflow_client: Any) -> Iterator[dict[str, dict[str, str]]]:
    """Registered models (no versions) with the serve tag set, unset or set to something else; deleted after the
    test, since other tests on the shared server serve every served model they find."""
    prefix = f"served-{uuid.uuid4().hex[:8]}"
    specs = {
        f"{prefix}-a": {registry.SERVE_TAG: "true", registry.TASK_TAG: "tabular"},
        f"{prefix}-b": {registry.SERVE_TAG: "true"},
        f"{prefix}-c": {registry.SERVE_TAG: "true", "modelship.io/team": "it's ours"},
        f"{prefix}-off": {registry.SERVE_TAG: "false"},
        f"{prefix}-upper": {registry.SERVE_TAG: "TRUE"},
        f"{prefix}-untagged": {},
        f"{prefix}-other-tag": {"modelship.io/served": "true", "serve": "true"},
    }
    try:
        for name, tags in specs.items():
            mlflow_client.create_registered_model(name, tags=tags)
        yield specs
    finally:
        for name in specs:
            mlflow_client.delete_registered_model(name)


def _scan_every_model(client: Any, tag: str, value: str) -> list[str]:
    """What the registry filter must equal: every registered model, fetched unfiltered and checked here."""
    names, token = [], None
    while True:
        page = client.search_registered_models(max_results=100, page_token=token)
        names += [rm.name for rm in page if (rm.tags or {}).get(tag) == value]
        token = page.token
        if not token:
            return sorted(names)


def test_only_models_tagged_serve_true_are_listed(mlflow_client: Any, models: dict[str, dict[str, str]]) -> None:
    served = registry.served_models(mlflow_client)
    ours = {name for name in served if name in models}
    assert ours == {name for name, tags in models.items() if tags.get(registry.SERVE_TAG) == "true"}
    assert served == _scan_every_model(mlflow_client, registry.SERVE_TAG, "true")
    # one model a page: the filter holds across page tokens
    assert registry.served_models(mlflow_client, page_size=1) == served


def test_any_tag_and_value_can_be_filtered(mlflow_client: Any, models: dict[str, dict[str, str]]) -> None:
    (team,) = [name for name, tags in models.items() if "modelship.io/team" in tags]
    assert registry.served_models(mlflow_client, tag="modelship.io/team", value="it's ours") == [team]
    off = [name for name in registry.served_models(mlflow_client, value="false") if name in models]
    assert off == [name for name, tags in models.items() if tags.get(registry.SERVE_TAG) == "false"]
