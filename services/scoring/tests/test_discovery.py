"""Discovery sources: real files re-read on every call, InferenceService objects, the settings choosing them.

The Kubernetes source against a real API server is tested in test_discovery_k8s.py."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from modelship_scoring.discovery import DirectoryDiscovery, Endpoint, build_discovery
from modelship_scoring.discovery_settings import DiscoverySettings
from modelship_scoring.kube_discovery import endpoint_of


def test_directory_discovery_rereads_and_skips_bad_files(tmp_path: Path) -> None:
    discovery = DirectoryDiscovery(tmp_path / "endpoints")
    assert asyncio.run(discovery.endpoints()) == []  # missing directory: nothing served yet
    (tmp_path / "endpoints").mkdir()
    (tmp_path / "endpoints" / "a.json").write_text(json.dumps({"name": "a", "url": "http://a:8080/"}))
    (tmp_path / "endpoints" / "b.json").write_text(json.dumps({"url": "http://b:8080"}))  # name from the file
    (tmp_path / "endpoints" / "bad.json").write_text("{not json")
    (tmp_path / "endpoints" / "nourl.json").write_text(json.dumps({"name": "x"}))
    (tmp_path / "endpoints" / "notes.txt").write_text("ignored")
    assert asyncio.run(discovery.endpoints()) == [Endpoint("a", "http://a:8080"), Endpoint("b", "http://b:8080")]


def test_files_override_the_static_map(tmp_path: Path) -> None:
    (tmp_path / "a.json").write_text(json.dumps({"name": "a", "url": "http://new-a:8080"}))
    discovery = build_discovery({"a": "http://old-a:8080", "z": "http://z:8080"}, tmp_path)
    assert asyncio.run(discovery.endpoints()) == [Endpoint("a", "http://new-a:8080"), Endpoint("z", "http://z:8080")]


def isvc(name: str, *, model: str | None = None, url: str | None = "", ready: str | None = None, **extra) -> dict:
    status: dict = {}
    if url is not None:
        status["url"] = url or f"http://{name}-predictor.ns.svc:8080"
    if ready is not None:
        status["conditions"] = [
            {"type": "Resolved", "status": "True"},
            {"type": "Ready", "status": ready, "reason": "RolloutInProgress", "message": "1 of 2 pods run version 4"},
        ]
    return {
        "metadata": {"name": name, "namespace": "ns", **extra},
        "spec": {"model": {"name": model or name, "alias": "champion"}},
        "status": status,
    }


def test_an_inferenceservice_is_served_under_its_model_name_at_its_status_url() -> None:
    assert endpoint_of(isvc("penguins-canary", model="penguins", url="http://x.ns.svc:8080/")) == Endpoint(
        "penguins", "http://x.ns.svc:8080"
    )
    assert endpoint_of(isvc("digits", url=None)) is None  # the operator has not written status.url yet
    assert endpoint_of({"metadata": {"name": "bare"}, "status": {"url": "http://bare:8080"}}) == Endpoint(
        "bare", "http://bare:8080"
    )


def test_the_ready_condition_is_carried_with_its_reason() -> None:
    assert endpoint_of(isvc("penguins", ready="True")) == Endpoint(
        "penguins", "http://penguins-predictor.ns.svc:8080", True
    )
    assert endpoint_of(isvc("penguins", ready="Unknown")) == Endpoint(
        "penguins", "http://penguins-predictor.ns.svc:8080"
    )
    not_ready = endpoint_of(isvc("penguins", ready="False"))
    assert not_ready is not None and not_ready.ready is False
    assert (
        not_ready.message == "InferenceService ns/penguins is not Ready (RolloutInProgress): 1 of 2 pods run version 4"
    )


def test_discovery_settings_choose_the_sources(tmp_path: Path) -> None:
    assert DiscoverySettings().discovery_source() == "static"
    assert DiscoverySettings(discovery_dir=tmp_path).discovery_source() == "files"
    assert DiscoverySettings(discovery="kubernetes", discovery_dir=tmp_path).discovery_source() == "kubernetes"
    with pytest.raises(ValidationError, match="discovery=files needs MODELSHIP_DISCOVERY_DIR"):
        DiscoverySettings(discovery="files")
    for name, field in DiscoverySettings.model_fields.items():
        assert field.description, name
