"""The image fan-out core on its own: a batch of uploaded images through :class:`ImageFanout`, against the real
KServe stand-in model server, in both inference protocols; stored once, corrupt and missing images dead-lettered."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from modelship_common import db
from modelship_common.messages import UploadedImage
from modelship_common.storage import LocalObjectStore
from modelship_scoring.discovery import StaticDiscovery
from modelship_scoring.fanout import ImageFanout, ImageModels
from modelship_scoring.inventory import ModelInventory
from modelship_scoring.model_servers import V1Client, V2Client
from modelship_scoring.registry_cache import RegistryCache, mlflow_client_factory
from services.gateway.tests.test_images import expected_class
from services.gateway.tests.test_predict import digit_png


@pytest.mark.integration
@pytest.mark.parametrize("protocol", ["v2", "v1"])
def test_fanout_core_stores_once_and_dead_letters_corrupt_images(
    protocol: str, standin_url: str, dead_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
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

    # MLflow (unreachable here) fails fast instead of retrying for minutes in a thread that asyncio.run then waits
    # for, as open_scoring makes it (limit_mlflow_http); in the gateway's test directory a live gateway started by
    # an earlier test had set this for the whole process.
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")

    async def run() -> tuple[list[Any], list[Any]]:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http:
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
