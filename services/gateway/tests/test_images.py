"""The image pipeline without Kafka (``make demo``): uploads through a live gateway, scored in-process by the SAME
fan-out core the streaming worker runs, against the real KServe stand-in model server."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from modelship_common import db
from modelship_common.errors import InvalidInput
from modelship_common.schemas import digits
from modelship_common.storage import LocalObjectStore, ObjectNotFound, StorageSettings, image_key
from modelship_gateway.discovery import StaticDiscovery
from modelship_gateway.images import ImageFanout, ImageModels, UploadedImage, sniff_content_type
from modelship_gateway.inventory import ModelInventory
from modelship_gateway.model_servers import V1Client, V2Client
from modelship_gateway.registry_cache import RegistryCache, mlflow_client_factory
from services.gateway.tests.standin_scoring import score_images
from services.gateway.tests.test_predict import digit_png
from services.gateway.tests.testkit import LiveGateway, wait_until


@pytest.fixture
def image_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No Kafka, a local object store in tmp_path."""
    monkeypatch.delenv("MODELSHIP_KAFKA_BOOTSTRAP_SERVERS", raising=False)
    monkeypatch.delenv("MODELSHIP_S3_ENDPOINT_URL", raising=False)
    monkeypatch.setenv("MODELSHIP_OBJECT_STORE", "local")
    monkeypatch.setenv("MODELSHIP_IMAGE_DIR", str(tmp_path / "images"))
    return tmp_path / "images"


def expected_class(png: bytes) -> str:
    probs = score_images(digits.decode_image(png, 1 << 20)[None])
    return digits.CLASSES[int(probs[0].argmax())]


def wait_processed(gateway: LiveGateway, image_id: str) -> dict[str, Any]:
    seen: dict[str, Any] = {}

    def done() -> bool:
        seen.update(gateway.http.get(f"/api/images/{image_id}").json())
        return seen["status"] != "uploaded"

    wait_until(done, deadline_s=60, what=f"image {image_id} scored")
    return seen


# ---------------------------------------------------------------------------------------------- pure pieces


def test_sniff_content_type() -> None:
    png = digit_png()
    buf = io.BytesIO()
    from PIL import Image

    Image.open(io.BytesIO(png)).convert("L").save(buf, format="GIF")
    assert sniff_content_type(png) == "image/png"
    assert sniff_content_type(buf.getvalue()) == "image/gif"
    assert sniff_content_type(b"\xff\xd8\xff\xe0rest") == "image/jpeg"
    assert sniff_content_type(b"BM....") is None


def test_uploaded_image_message_round_trip_and_errors() -> None:
    image = UploadedImage("a" * 36, "ab/x.png", "image/png", "2026-11-22T00:00:00+00:00")
    assert UploadedImage.from_message(image.to_message()) == image
    for bad, why in [
        ([], "JSON object"),
        ({"storage_key": "k"}, "image_id"),
        ({"image_id": "x" * 37, "storage_key": "k"}, "longer"),
        ({"image_id": "x", "storage_key": ""}, "storage_key"),
    ]:
        with pytest.raises(InvalidInput, match=why):
            UploadedImage.from_message(bad)


def test_local_object_store(tmp_path: Path) -> None:
    store = LocalObjectStore(tmp_path / "objects")
    store.put("ab/c.png", b"123", "image/png")
    store.put("ab/c.png", b"456", "image/png")
    assert store.get("ab/c.png") == b"456"
    with pytest.raises(ObjectNotFound):
        store.get("ab/missing.png")
    for bad in ("../x", "/etc/passwd", "a//b", ""):
        with pytest.raises(ValueError, match="bad object key"):
            store.put(bad, b"", "image/png")
    store.ping()
    settings = StorageSettings(object_store="s3", s3_prefix="img/")
    assert image_key(settings, "0123", "image/jpeg") == "img/01/0123.jpg"
    assert image_key(StorageSettings(object_store="local"), "0123", "image/png") == "01/0123.png"


# ------------------------------------------------------------------------------------------ through the gateway


@pytest.mark.integration
def test_upload_is_scored_in_process_and_readable(
    image_env: Path, start_gateway: Callable[..., LiveGateway], tmp_path: Path
) -> None:
    gateway = start_gateway()
    pngs = [digit_png(seed) for seed in range(5)]
    ids = []
    for i, png in enumerate(pngs):
        response = gateway.http.post(
            "/api/images", files={"file": (f"d{i}.png", png, "image/png")}, params={"source": "test"}
        )
        assert response.status_code == 202, response.text
        body = response.json()
        assert body["status"] == "uploaded" and body["url"] == f"/api/images/{body['id']}"
        ids.append(body["id"])
    for image_id, png in zip(ids, pngs, strict=True):
        body = wait_processed(gateway, image_id)
        assert body["status"] == "processed", body
        assert body["error"] is None and body["source"] == "test" and body["size_bytes"] == len(png)
        assert [p["model_name"] for p in body["predictions"]] == ["digits-fast"]  # the only image model served
        prediction = body["predictions"][0]
        assert prediction["source"] == "stream" and prediction["model_version"] == "1"
        assert prediction["predicted_class"] == expected_class(png)
        assert 0 < prediction["confidence"] <= 1 and prediction["latency_ms"] > 0
        content = gateway.http.get(f"/api/images/{image_id}/content")
        assert content.status_code == 200
        assert content.content == png and content.headers["content-type"] == "image/png"
    assert (image_env / ids[0][:2] / f"{ids[0]}.png").read_bytes() == pngs[0]
    listed = gateway.http.get("/api/images", params={"status": "processed"}).json()
    assert {row["id"] for row in listed} == set(ids)
    engine = db.make_engine(gateway.settings.database_url)
    with Session(engine) as session:
        events = session.scalars(select(db.Event).where(db.Event.kind == "upload")).all()
        assert {e.details["image_id"] for e in events} == set(ids)
    engine.dispose()


@pytest.mark.integration
def test_upload_errors(image_env: Path, start_gateway: Callable[..., LiveGateway]) -> None:
    gateway = start_gateway(max_upload_bytes=2000)
    response = gateway.http.post("/api/images", files={"file": ("x.png", b"not an image", "image/png")})
    assert response.status_code == 400 and "PNG, JPEG or GIF" in response.json()["detail"]
    truncated = digit_png()[:40]
    response = gateway.http.post("/api/images", files={"file": ("x.png", truncated, "image/png")})
    assert response.status_code == 400 and "cannot decode" in response.json()["detail"]
    big = np.random.default_rng(0).integers(0, 255, size=(64, 64), dtype=np.uint8)
    buf = io.BytesIO()
    from PIL import Image

    Image.fromarray(big, mode="L").save(buf, format="PNG")
    response = gateway.http.post("/api/images", files={"file": ("big.png", buf.getvalue(), "image/png")})
    assert response.status_code == 413 and "limit" in response.json()["detail"]
    assert gateway.http.get("/api/images/nope").status_code == 404
    assert gateway.http.get("/api/images/nope/content").status_code == 404
    assert gateway.http.get("/api/images").json() == []


# ------------------------------------------------------------------------------------ the fan-out core itself


@pytest.mark.integration
@pytest.mark.parametrize("protocol", ["v2", "v1"])
def test_fanout_core_stores_once_and_dead_letters_corrupt_images(
    protocol: str, standin_url: str, dead_url: str, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'p.db'}"
    db.migrate(url)
    engine = db.make_engine(url)
    objects = LocalObjectStore(tmp_path / "objects")
    good = [digit_png(seed) for seed in range(7)]
    images = []
    for i, data in enumerate([*good, b"\x89PNG\r\n\x1a\ncorrupt"]):
        image = UploadedImage(f"img-{protocol}-{i}", f"k/{i}.png", "image/png", "2026-11-22T00:00:00+00:00")
        objects.put(image.storage_key, data, image.content_type)
        images.append(image)
    missing = UploadedImage("img-missing", "k/none.png", "image/png", "")
    with Session(engine) as session:
        for image in images:
            session.add(
                db.Image(id=image.image_id, content_type="image/png", size_bytes=1, sha256="0", storage_key="k")
            )
        session.commit()

    async def run() -> tuple[list[Any], list[Any]]:
        async with httpx.AsyncClient(timeout=30) as http:
            client = V2Client(http) if protocol == "v2" else V1Client(http)
            registry = RegistryCache(mlflow_client_factory(dead_url), timeout_s=2, ttl_s=60, retry_s=60)
            inventory = ModelInventory(
                StaticDiscovery({"digits-fast": standin_url}), client, registry, probe_timeout_s=5
            )
            fanout = ImageFanout(
                objects=objects,
                engine=engine,
                models=ImageModels(inventory, names=["digits-fast"]),
                client=client,
                registry=registry,
                max_image_bytes=1 << 20,
                model_batch_size=3,  # several calls per model, one of them for a single image
            )
            first = await fanout.process([*images, missing])
            again = await fanout.process(images)  # a replay stores nothing new
            return first, again

    first, again = asyncio.run(run())
    statuses = {o.image.image_id: (o.status, o.dead_letter) for o in first}
    assert statuses == {
        **{f"img-{protocol}-{i}": ("processed", False) for i in range(7)},
        f"img-{protocol}-7": ("failed", True),
        "img-missing": ("failed", True),
    }
    assert "cannot decode" in (first[7].error or "") and "not found" in (first[8].error or "")
    assert [o.status for o in again] == [o.status for o in first[:8]]
    with Session(engine) as session:
        rows = session.scalars(select(db.Prediction)).all()
        assert len(rows) == 7 and {r.request_id for r in rows} == {f"img-{protocol}-{i}" for i in range(7)}
        by_id = {r.request_id: r for r in rows}
        for i, png in enumerate(good):
            assert by_id[f"img-{protocol}-{i}"].predicted_class == expected_class(png)
        bad = session.get(db.Image, f"img-{protocol}-7")
        assert bad is not None and bad.status == "failed" and "cannot decode" in (bad.error or "")
        dlq_events = session.scalars(select(db.Event).where(db.Event.kind == "dlq")).all()
        # One per failed image, not repeated by the replay.
        assert sorted(e.details["image_id"] for e in dlq_events) == sorted([f"img-{protocol}-7", "img-missing"])
    engine.dispose()
