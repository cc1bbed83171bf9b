"""The image pipeline without Kafka (``make demo``): uploads through a live gateway, scored in-process by the SAME
fan-out core the streaming worker runs (tested on its own in ``services/scoring/tests/test_fanout.py``), against
the real KServe stand-in model server."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from modelship_common import db
from modelship_common.schemas import digits
from modelship_common.storage import LocalObjectStore, ObjectNotFound, StorageSettings, image_key
from modelship_gateway.uploads.intake import sniff_content_type
from services.gateway.tests.standin_scoring import score_images
from services.gateway.tests.test_predict import digit_png
from services.gateway.tests.testkit import LiveGateway, wait_until


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
    # Image ids are UUIDs: another id is a bad request, an unknown UUID no such image.
    assert gateway.http.get("/api/images/nope").status_code == 422
    assert gateway.http.get("/api/images/nope/content").status_code == 422
    unknown = "00000000-0000-4000-8000-000000000000"
    assert gateway.http.get(f"/api/images/{unknown}").status_code == 404
    assert gateway.http.get(f"/api/images/{unknown}/content").status_code == 404
    assert gateway.http.get("/api/images").json() == []
