"""The application shell: health probes, OpenAPI docs, the entrypoint, settings."""

from __future__ import annotations

import json
import subprocess
import sys

import httpx
import pytest

from modelship_gateway.settings import GatewaySettings, get_settings
from services.gateway.tests.testkit import LiveGateway, Process, free_port, http_ok, python_env, wait_until


@pytest.mark.integration
def test_health_probes(gateway: LiveGateway) -> None:
    assert gateway.http.get("/healthz").json() == {"status": "ok"}
    assert gateway.http.get("/readyz").json() == {"status": "ok"}


@pytest.mark.integration
def test_openapi_and_docs(gateway: LiveGateway) -> None:
    docs = gateway.http.get("/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()
    spec = gateway.http.get("/openapi.json").json()
    expected = {
        ("/api/models", "get"),
        ("/api/models/{name}/predict", "post"),
        ("/api/models/{name}/predict-image", "post"),
        ("/api/predictions", "get"),
        ("/healthz", "get"),
        ("/readyz", "get"),
        ("/api/images", "get"),
        ("/api/images/{image_id}", "get"),
    }
    # The image pipeline's upload (202) and raw-content routes are checked in test_images.py.
    images = {("/api/images", "post"), ("/api/images/{image_id}/content", "get")}
    export = ("/api/predictions.csv", "get")
    rollouts = {("/api/rollouts", "get"), ("/api/rollouts/{rollout_id}", "get")}  # checked in test_rollouts.py
    found = {(path, method) for path, ops in spec["paths"].items() for method in ops}
    assert found == expected | images | {export} | rollouts
    assert set(spec["paths"][export[0]]["get"]["responses"]["200"]["content"]) == {"text/csv"}
    for path, method in expected:
        ok = spec["paths"][path][method]["responses"]["200"]["content"]["application/json"]["schema"]
        assert ok, (path, method)
    image = spec["paths"]["/api/models/{name}/predict-image"]["post"]
    assert "multipart/form-data" in image["requestBody"]["content"]
    assert {"400", "404", "413", "502"} <= set(image["responses"])


@pytest.mark.integration
def test_python_m_modelship_gateway_serves(tmp_path) -> None:
    port = free_port()
    env = python_env() | {
        "MODELSHIP_PORT": str(port),
        "MODELSHIP_HOST": "127.0.0.1",
        "MODELSHIP_DATABASE_URL": f"sqlite:///{tmp_path / 'p.db'}",
        "MODELSHIP_MODEL_SERVERS": "{}",
        "MODELSHIP_LOG_FORMAT": "json",
    }
    log = tmp_path / "gw.log"
    proc = Process([sys.executable, "-m", "modelship_gateway"], log=log, env=env)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until(lambda: http_ok(f"{url}/readyz"), deadline_s=60, what="gateway", alive=proc.alive, log=log)
        assert httpx.get(f"{url}/api/models", headers={"X-Request-ID": "log-1"}).json() == []
        made_up = httpx.get(f"{url}/docs")
        assert made_up.status_code == 200
        assert (tmp_path / "p.db").exists()
    finally:
        proc.stop()
    # One JSON object per line, uvicorn's own lines included; each access line names its request's id.
    records = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    assert {"time", "level", "logger", "message"} <= set(records[0])
    access = {r["message"].split('"')[1]: r for r in records if r["logger"] == "uvicorn.access"}
    assert access["GET /api/models HTTP/1.1"]["request_id"] == "log-1"
    assert access["GET /docs HTTP/1.1"]["request_id"] == made_up.headers["X-Request-ID"]
    assert len(made_up.headers["X-Request-ID"]) == 32


def test_settings_from_environment(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.setenv("MODELSHIP_MODEL_SERVERS", '{"penguins": "http://penguins:8080"}')
    monkeypatch.setenv("MODELSHIP_DISCOVERY_DIR", str(tmp_path))
    monkeypatch.setenv("MODELSHIP_MAX_UPLOAD_BYTES", "1234")
    monkeypatch.setenv("MODELSHIP_CACHE", str(tmp_path / "cache"))
    settings = get_settings()
    assert settings.model_servers == {"penguins": "http://penguins:8080"}
    assert settings.discovery_dir == tmp_path
    assert settings.max_upload_bytes == 1234
    assert settings.protocol == "v2" and settings.port == 8000 and settings.host == "0.0.0.0"
    assert settings.database_url == f"sqlite:///{tmp_path / 'cache' / 'demo' / 'predictions.db'}"
    for name, field in GatewaySettings.model_fields.items():
        assert field.description, name


def test_import_does_no_work(tmp_path) -> None:
    code = "import modelship_gateway.app, modelship_gateway.__main__, modelship_gateway.api.models"
    env = python_env() | {"MODELSHIP_CACHE": str(tmp_path / "cache")}
    subprocess.run([sys.executable, "-c", code], check=True, env=env, timeout=120)
    assert not (tmp_path / "cache").exists()
