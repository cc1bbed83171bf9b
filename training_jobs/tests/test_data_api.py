"""The sample data API over real HTTP: uvicorn in a thread with a settable clock, and ``python -m`` as a process."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from modelship_training import data_api
from modelship_training.tables import RAW_DATASET_COLUMNS

STARTED = 1_700_000_000.0


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: float = STARTED) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.status == 200
        return json.load(response)


def sample_id(row: dict[str, Any]) -> tuple[str, int, str]:
    """palmerpenguins' own row identity."""
    return row["studyName"], row["Sample Number"], row["Species"]


def test_batches_split_the_whole_dataset_once() -> None:
    batches = data_api.make_batches(10, seed=3)
    ids = [sample_id(row) for batch in batches for row in batch]
    assert [len(b) for b in batches] == [35] * 4 + [34] * 6
    assert len(ids) == len(set(ids)) == 344
    assert data_api.make_batches(10, seed=3) == batches
    assert data_api.make_batches(10, seed=4) != batches
    assert set(batches[0][0]) == set(RAW_DATASET_COLUMNS)
    with pytest.raises(ValueError, match="batches must be between 1 and 344"):
        data_api.make_batches(0)


def test_schedule_rotates_every_period() -> None:
    schedule = data_api.BatchSchedule(batches=[[{}]] * 3, batch_seconds=10.0, started_at=100.0)
    assert schedule.current(100.0) == (0, 110.0)
    assert schedule.current(109.9) == (0, 110.0)
    assert schedule.current(110.0) == (1, 120.0)
    assert schedule.current(130.0) == (0, 140.0)  # wraps around
    assert schedule.current(50.0) == (0, 110.0)  # a clock behind the start serves the first batch


@pytest.mark.integration  # uvicorn in a thread on a loopback port (uvloop: the listen guard cannot see it)
def test_batch_endpoint_follows_the_clock() -> None:
    clock = Clock()
    app = data_api.create_app(batches=10, batch_seconds=300, seed=1, clock=clock)
    expected = data_api.make_batches(10, seed=1)
    with data_api.serve_in_background(app) as url:
        assert get_json(f"{url}/healthz") == {"status": "ok"}
        first = get_json(f"{url}/batch")
        assert first["batch"] == 0
        assert first["batches"] == 10
        assert dt.datetime.fromisoformat(first["next_rotation_at"]).timestamp() == STARTED + 300
        assert first["rows"] == expected[0]

        clock.now += 299
        assert get_json(f"{url}/batch")["batch"] == 0
        clock.now += 1
        second = get_json(f"{url}/batch")
        assert second["batch"] == 1
        assert second["rows"] == expected[1]
        assert not {sample_id(r) for r in first["rows"]} & {sample_id(r) for r in second["rows"]}

        clock.now += 9 * 300
        assert get_json(f"{url}/batch")["batch"] == 0


@pytest.mark.integration  # uvicorn in a thread on a loopback port (the marker guard's uvicorn check caught it)
def test_every_served_batch_passes_the_collectors_validation() -> None:
    """The collector validates with the model the API answers with (data_api.Batch): each batch the API can
    serve is one the collector accepts, row for row."""
    from modelship_training.collector import parse_batch

    app = data_api.create_app(batches=10, batch_seconds=300, seed=2, clock=Clock())
    with data_api.serve_in_background(app) as url:
        payload = get_json(f"{url}/batch")
    batch = parse_batch(payload, url)
    assert (batch.batch, batch.rows) == (0, data_api.make_batches(10, seed=2)[0])
    for rows in data_api.make_batches(10, seed=2):
        assert data_api.Batch.model_validate({"rows": rows}).rows == rows


def test_the_response_schema_is_documented_once() -> None:
    schema = data_api.create_app(batches=1).openapi()["components"]["schemas"]["BatchResponse"]
    assert schema["required"] == ["batch", "rows", "batches", "next_rotation_at"]
    assert schema["properties"]["batch"]["description"] == "Index of the current batch, 0 .. batches - 1."
    assert schema["properties"]["rows"]["description"].startswith("Raw penguins rows with the dataset's original")


def test_missing_values_are_null() -> None:
    rows = [row for batch in data_api.make_batches(1) for row in batch]
    assert any(row["Sex"] is None for row in rows)
    json.dumps(rows, allow_nan=False)  # no NaN reaches the JSON


@pytest.mark.integration
def test_module_runs_and_rotates_on_wall_clock(unused_port: int, tmp_path: Path) -> None:
    argv = [sys.executable, "-m", "modelship_training.data_api", "--port", str(unused_port), "--batch-seconds", "1"]
    log = (tmp_path / "data_api.log").open("wb")
    env = {**os.environ, "MODELSHIP_LOG_FORMAT": "json"}  # what the image (and global.logFormat) sets
    proc = subprocess.Popen([*argv, "--seed", "5"], stdout=log, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{unused_port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                get_json(f"{url}/healthz")
                break
            except OSError:
                assert proc.poll() is None, (tmp_path / "data_api.log").read_text()
                assert time.monotonic() < deadline, "data API did not start within 60 s"
                time.sleep(0.2)
        seen = {get_json(f"{url}/batch")["batch"]}
        deadline = time.monotonic() + 10
        while len(seen) < 2:
            assert time.monotonic() < deadline, f"no rotation within 10 s (saw batches {seen})"
            time.sleep(0.2)
            seen.add(get_json(f"{url}/batch")["batch"])
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        log.close()
    # uvicorn's lines (startup, access log) come out as modelship's JSON lines, one object each
    lines = [json.loads(line) for line in (tmp_path / "data_api.log").read_text().splitlines() if line.strip()]
    assert any(r["logger"].startswith("uvicorn") and r["level"] == "INFO" for r in lines), lines[:5]


def test_module_rejects_bad_arguments() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "modelship_training.data_api", "--batches", "0"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1].endswith("error: batches must be between 1 and 344, got 0")
