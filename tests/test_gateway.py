"""The gateway end to end against real model servers: model list, predictions stored, live discovery, PostgreSQL."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import numpy as np
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from devtools import servers
from devtools.procs import poll_until
from modelship_common import db, registry
from modelship_common.schemas import digits, penguins
from services.serving.tests.test_serving_http import ROW  # a Dream Adelie

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def sample_png(index: int = 0) -> bytes:
    from sklearn.datasets import load_digits

    return digits.encode_png(digits.upsample_8x8(load_digits().data[index : index + 1])[0])


def stored(database_url: str, request_id: str) -> list[db.Prediction]:
    engine = db.make_engine(database_url)
    try:
        with Session(engine) as session:
            return list(session.scalars(select(db.Prediction).where(db.Prediction.request_id == request_id)))
    finally:
        engine.dispose()


def test_models_list_predict_store_and_discover(trained, model_servers, start_gateway, tmp_path, log_dir):
    discovery = tmp_path / "discovery"
    discovery.mkdir()
    for name in ("digits-fast", "digits-balanced", "digits-accurate"):
        servers.write_discovery(discovery, name, str(model_servers[name].url))
    # Retry registry lookups quickly: the first one may time out while the gateway imports mlflow.
    gw = start_gateway(
        model_servers={"penguins": str(model_servers["penguins"].url)},
        discovery_dir=discovery,
        MODELSHIP_REGISTRY_RETRY_S="1",
    )
    client = trained.client

    # /api/models: every served model with its version, task, classes and registry metrics. The metadata comes
    # from MLflow and is optional (empty while MLflow is slow), so wait for it with a deadline.
    def listed() -> dict[str, Any] | None:
        entries = {m["name"]: m for m in httpx.get(f"{gw.url}/api/models", timeout=30).json()}
        return entries if all(m["classes"] and m["metrics"] for m in entries.values()) else None

    models = poll_until(listed, timeout=90, what="gateway model metadata from the registry")
    assert set(models) == {"penguins", "digits-fast", "digits-balanced", "digits-accurate"}
    for name, entry in models.items():
        champion = registry.resolve_alias(client, name, registry.CHAMPION)
        assert entry["version"] == champion.version
        assert entry["ready"] is True
        assert entry["url"] == str(model_servers[name].url)
        assert entry["task"] == ("tabular" if name == "penguins" else "image")
        assert entry["classes"] == list(penguins.CLASSES if name == "penguins" else digits.CLASSES)
        assert entry["metrics"]["test_accuracy"] == pytest.approx(champion.metrics["test_accuracy"])
        assert entry["metrics"]["test_f1"] == pytest.approx(champion.metrics["test_f1"])

    # Rows: same answer as the model server itself, one stored row.
    resp = httpx.post(f"{gw.url}/api/models/penguins/predict", json={"instances": [ROW]}, timeout=30)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    direct = httpx.post(
        f"{model_servers['penguins'].url}/v1/models/penguins:predict", json={"instances": [ROW]}, timeout=30
    ).json()
    assert body["model"] == "penguins" and body["version"] == models["penguins"]["version"]
    assert body["latency_ms"] > 0
    assert body["predictions"][0]["class_name"] == direct["predictions"][0]["class_name"]
    for cls, p in direct["predictions"][0]["probabilities"].items():
        assert body["predictions"][0]["probabilities"][cls] == pytest.approx(p, abs=1e-6)
    rows = stored(gw.meta["database_url"], body["request_id"])
    assert len(rows) == 1
    assert (rows[0].model_name, rows[0].model_version) == ("penguins", body["version"])
    assert rows[0].predicted_class == body["predictions"][0]["class_name"]
    assert rows[0].n_instances == 1 and rows[0].input == {"instances": [ROW]}

    # An image upload, stored too; /api/predictions lists both, newest first.
    resp = httpx.post(
        f"{gw.url}/api/models/digits-balanced/predict-image",
        files={"file": ("digit.png", sample_png(), "image/png")},
        timeout=30,
    )
    assert resp.status_code == 200, resp.text
    image = resp.json()
    assert image["model"] == "digits-balanced"
    assert image["predictions"][0]["class_name"] == "0"  # scikit-learn's first digit is a 0
    assert len(stored(gw.meta["database_url"], image["request_id"])) == 1
    listed = httpx.get(f"{gw.url}/api/predictions", params={"limit": 10}, timeout=30).json()
    assert [p["request_id"] for p in listed[:2]] == [image["request_id"], body["request_id"]]
    only = httpx.get(f"{gw.url}/api/predictions", params={"model": "penguins"}, timeout=30).json()
    assert [p["request_id"] for p in only] == [body["request_id"]]

    # A model server started now appears without restarting the gateway (penguins v1 served as penguins-v1).
    extra = servers.start_model_server(
        "models:/penguins/1", tracking_uri=trained.tracking_uri, log_dir=log_dir, model_name="penguins-v1"
    )
    try:
        names = {m["name"] for m in httpx.get(f"{gw.url}/api/models", timeout=30).json()}
        assert "penguins-v1" not in names
        servers.write_discovery(discovery, "penguins-v1", str(extra.url))
        found = poll_until(
            lambda: next(
                (m for m in httpx.get(f"{gw.url}/api/models", timeout=30).json() if m["name"] == "penguins-v1"), None
            ),
            timeout=30,
            what="gateway discovering penguins-v1",
        )
        assert found["version"] == "1" and found["ready"] is True
        resp = httpx.post(f"{gw.url}/api/models/penguins-v1/predict", json={"instances": [ROW]}, timeout=30)
        assert resp.status_code == 200, resp.text
        assert resp.json()["version"] == "1"
        assert stored(gw.meta["database_url"], resp.json()["request_id"])[0].model_name == "penguins-v1"
    finally:
        extra.stop()
    assert gw.running(), "the gateway was restarted or died"


def test_gateway_stores_predictions_in_postgresql(model_servers, start_gateway, pg_database):
    gw = start_gateway(
        model_servers={
            "penguins": str(model_servers["penguins"].url),
            "digits-fast": str(model_servers["digits-fast"].url),
        },
        database_url=pg_database,
    )
    request_id = f"pg-{uuid.uuid4().hex[:8]}"
    resp = httpx.post(
        f"{gw.url}/api/models/penguins/predict",
        json={"instances": [ROW, ROW]},
        headers={"X-Request-ID": request_id},
        timeout=30,
    )
    assert resp.status_code == 200, resp.text
    body = resp.json()
    image = httpx.post(
        f"{gw.url}/api/models/digits-fast/predict-image",
        files={"file": ("d.png", sample_png(3), "image/png")},
        timeout=30,
    )
    assert image.status_code == 200, image.text

    engine = db.make_engine(pg_database)
    try:
        assert engine.dialect.name == "postgresql"
        with Session(engine) as session:
            rows: list[db.Prediction] = list(session.scalars(select(db.Prediction).order_by(db.Prediction.id)))
    finally:
        engine.dispose()
    assert [(r.request_id, r.model_name) for r in rows] == [
        (body["request_id"], "penguins"),
        (image.json()["request_id"], "digits-fast"),
    ]
    assert rows[0].n_instances == 2 and rows[0].predicted_class is None  # several rows: no single class
    probs = np.asarray([[p["probabilities"][c] for c in penguins.CLASSES] for p in rows[0].output["predictions"]])
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    assert rows[1].predicted_class == image.json()["predictions"][0]["class_name"]
    listed = httpx.get(f"{gw.url}/api/predictions", timeout=30).json()
    assert {p["request_id"] for p in listed} == {r.request_id for r in rows}
