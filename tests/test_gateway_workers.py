"""The gateway with several worker processes (MODELSHIP_WORKERS=2): both serve the one port, every prediction is
stored once, and any worker answering a scrape reports the requests of all of them."""

from __future__ import annotations

import re
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from modelship_common import db

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROW = ["Dream", 39.5, 17.4, 186, 3800, "female"]
REQUESTS = 60
PREDICT = 'modelship_gateway_requests_total{method="POST",route="/api/models/{name}/predict",status="200"}'


def predict_count(metrics: str) -> float:
    match = re.search(re.escape(PREDICT) + r" ([0-9.e+]+)", metrics)
    return float(match.group(1)) if match else 0.0


def test_two_workers_share_the_port_the_store_and_the_metrics(model_servers, start_gateway, tmp_path: Path):
    samples = tmp_path / "metrics"
    samples.mkdir()
    gw = start_gateway(
        model_servers={"penguins": str(model_servers["penguins"].url)},
        MODELSHIP_WORKERS="2",
        PROMETHEUS_MULTIPROC_DIR=str(samples),
    )
    ids = [f"w-{uuid.uuid4().hex[:12]}" for _ in range(REQUESTS)]

    def predict(request_id: str) -> None:
        # A new connection each time, from 8 threads at once: both workers get some.
        resp = httpx.post(
            f"{gw.url}/api/models/penguins/predict",
            json={"instances": [ROW]},
            headers={"X-Request-ID": request_id},
            timeout=30,
        )
        assert resp.status_code == 200, resp.text
        assert resp.json()["request_id"] == request_id

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(predict, ids))
    workers = {path.stem.rsplit("_", 1)[-1] for path in samples.glob("counter_*.db")}
    assert len(workers) == 2, f"two worker processes write samples: {sorted(p.name for p in samples.iterdir())}"
    for _ in range(20):  # new connections: scrapes answered by either worker
        text = httpx.get(f"{gw.url}/metrics", timeout=10).text
        assert predict_count(text) == REQUESTS, f"a scrape must count all {REQUESTS} predictions:\n{text[:2000]}"

    engine = db.make_engine(gw.meta["database_url"])
    try:
        with engine.connect() as conn:
            stored = conn.execute(
                select(func.count()).select_from(db.Prediction).where(db.Prediction.request_id.in_(ids))
            ).scalar_one()
    finally:
        engine.dispose()
    assert stored == REQUESTS
