"""A PostgreSQL restart in the middle of a load loses nothing: each request gets a 200 whose row is committed, or a
clear 5xx. Real servers: a trained penguins model server, the gateway on its own PostgreSQL (durable, restarted
by the test), eight concurrent clients."""

from __future__ import annotations

import shutil
import tempfile
import threading
import time
import uuid
from collections import Counter
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from devtools import servers
from devtools.procs import free_port
from modelship_common import db

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CLIENTS = 8
ROW = ["Dream", 39.5, 17.4, 186, 3800, "female"]
#: Requests each client sends before the restart starts, and the most any client sends in all.
BEFORE_RESTART = 25
MAX_PER_CLIENT = 400


def test_a_postgresql_restart_mid_load_loses_no_answered_prediction(model_servers, start_gateway):
    port = free_port()
    # Under /tmp itself, as PostgreSQL runs as nobody here and cannot enter pytest's tmp_path (mode 700).
    data_dir = Path(tempfile.mkdtemp(prefix="modelship-pg-restart-"))
    pg = servers.start_postgres(data_dir, port=port, durable=True)
    try:
        database_url = servers.create_database(pg, "durability")
        gw = start_gateway(model_servers={"penguins": str(model_servers["penguins"].url)}, database_url=database_url)
        url = f"{gw.url}/api/models/penguins/predict"
        answers: list[tuple[str, int, str]] = []  # (request id, status, body)
        lock = threading.Lock()
        restarted = threading.Event()
        sent_before = threading.Barrier(CLIENTS + 1)

        def client() -> None:
            mine: list[int] = []
            with httpx.Client(timeout=30) as http:
                for i in range(MAX_PER_CLIENT):
                    if i == BEFORE_RESTART:
                        sent_before.wait(60)
                    request_id = f"dur-{uuid.uuid4().hex[:16]}"
                    try:
                        resp = http.post(url, json={"instances": [ROW]}, headers={"X-Request-ID": request_id})
                        status, text = resp.status_code, resp.text
                    except httpx.HTTPError as exc:  # the gateway itself must stay up: a transport error is a failure
                        status, text = -1, repr(exc)
                    with lock:
                        answers.append((request_id, status, text))
                    mine.append(status)
                    if status != 200:
                        time.sleep(0.05)  # the database is down: do not spin
                    # After the restart, keep going until 20 of this client's answers in a row succeeded again.
                    if restarted.is_set() and len(mine) >= 20 and all(s == 200 for s in mine[-20:]):
                        return

        threads = [threading.Thread(target=client, daemon=True) for _ in range(CLIENTS)]
        for t in threads:
            t.start()
        sent_before.wait(120)  # every client is mid-run: restart now, under load
        pg.stop()
        time.sleep(1.0)  # requests arriving while the database is down
        pg = servers.start_postgres(data_dir, port=port, durable=True)
        restarted.set()
        for t in threads:
            t.join(180)
        assert not any(t.is_alive() for t in threads), "clients did not finish within 180 s"

        statuses = Counter(status for _, status, _ in answers)
        assert set(statuses) <= {200, 503}, f"only 200 or 503 are acceptable answers: {statuses}"
        assert statuses[503] > 0, f"the restart was not seen by any request: {statuses}"
        assert statuses[200] > CLIENTS * BEFORE_RESTART, statuses
        for _, status, text in answers:
            if status == 503:
                assert "prediction could not be stored" in text or "database" in text.lower(), text

        engine = db.make_engine(database_url)
        try:
            with engine.connect() as conn:
                stored = set(conn.scalars(select(db.Prediction.request_id)))
        finally:
            engine.dispose()
        answered = {request_id for request_id, status, _ in answers if status == 200}
        missing = answered - stored
        assert not missing, f"{len(missing)} of {len(answered)} answered requests have no row: {sorted(missing)[:3]}"
    finally:
        pg.stop()
        shutil.rmtree(data_dir, ignore_errors=True)
