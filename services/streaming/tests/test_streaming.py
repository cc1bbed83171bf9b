"""The image pipeline end to end with REAL servers: gateway -> MinIO + Kafka -> worker -> three model servers
-> PostgreSQL. Exactly one prediction row per (image, model) through a worker crash and a broker restart; corrupt
images in the dead-letter topic with their reason."""

from __future__ import annotations

import json
import signal
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from devtools import servers
from devtools.procs import Proc, ProcGroup, free_port
from modelship_common import db
from modelship_common.rollout.spec import parse_rollout_spec
from modelship_common.rollout.tables import record_decision, set_candidate_url, start_rollout
from modelship_common.schemas import digits
from services.streaming.tests import infra

pytestmark = pytest.mark.integration

N_MODELS = len(infra.DIGITS_MODELS)


@pytest.fixture(scope="module")
def pngs() -> list[bytes]:
    from sklearn.datasets import load_digits

    images = digits.upsample_8x8(load_digits().data[:200])
    return [digits.encode_png(image) for image in images]


@pytest.fixture
def engine(stream: infra.Pipeline) -> Iterator[object]:
    db.migrate(stream.database_url)
    engine = db.make_engine(stream.database_url)
    yield engine
    engine.dispose()


def upload(gateway: Proc, pngs: list[bytes]) -> list[str]:
    """POST every image to /api/images (8 at a time); the image ids, in order."""
    with httpx.Client(base_url=str(gateway.url), timeout=60) as http:

        def one(item: tuple[int, bytes]) -> str:
            i, data = item
            response = http.post("/api/images", files={"file": (f"{i}.png", data, "image/png")})
            assert response.status_code == 202, response.text
            return str(response.json()["id"])

        with ThreadPoolExecutor(8) as pool:
            return list(pool.map(one, enumerate(pngs)))


def count_rows(engine: object, model: type = db.Prediction) -> int:
    with Session(engine) as session:  # type: ignore[call-overload]
        return int(session.scalar(select(func.count()).select_from(model)))


def wait_rows(engine: object, expect: int, *, timeout: float = 240.0, workers: list[Proc] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while (n := count_rows(engine)) < expect:
        for w in workers or []:
            assert w.running(), f"{w.name} died: {w.exit_message()}"
        assert time.monotonic() < deadline, f"{n} of {expect} prediction rows after {timeout:.0f}s"
        time.sleep(0.25)


def assert_exactly_once(engine: object, ids: list[str]) -> None:
    """One row per (image, model); every image processed."""
    with Session(engine) as session:  # type: ignore[call-overload]
        rows = session.execute(select(db.Prediction.request_id, db.Prediction.model_name)).all()
        assert len(rows) == len(ids) * N_MODELS
        assert sorted(rows) == sorted((i, m) for i in ids for m in infra.DIGITS_MODELS)
        statuses = dict(session.execute(select(db.Image.status, func.count()).group_by(db.Image.status)).all())
        assert statuses == {"processed": len(ids)}


def test_200_uploads_give_exactly_600_rows_and_predictions_messages(
    stream: infra.Pipeline, engine: object, pngs: list[bytes], procs: ProcGroup, stream_logs: Path
) -> None:
    log_topic = f"inference.log.{uuid.uuid4().hex[:8]}"
    env = {**stream.env, "MODELSHIP_INFERENCE_LOG": "true", "MODELSHIP_KAFKA_INFERENCE_LOG_TOPIC": log_topic}
    gateway = procs.add(infra.start_gateway(env, env["MLFLOW_TRACKING_URI"], stream.database_url, stream_logs))
    worker = procs.add(infra.start_worker(env, stream_logs))
    ids = upload(gateway, pngs)
    wait_rows(engine, 200 * N_MODELS, workers=[worker])
    assert_exactly_once(engine, ids)
    with Session(engine) as session:  # type: ignore[call-overload]
        row = session.scalars(select(db.Prediction).where(db.Prediction.request_id == ids[0])).first()
        assert row is not None and row.source == "stream" and row.latency_ms > 0 and 0 < (row.confidence or 0) <= 1
        assert row.predicted_class in digits.CLASSES and row.model_version == "1"
    body = httpx.get(f"{gateway.url}/api/images/{ids[0]}").json()
    assert body["status"] == "processed" and sorted(p["model_name"] for p in body["predictions"]) == sorted(
        infra.DIGITS_MODELS
    )
    content = httpx.get(f"{gateway.url}/api/images/{ids[0]}/content")
    assert content.content == pngs[0] and content.headers["content-type"] == "image/png"
    messages = infra.consume_all(stream.bootstrap, stream.predictions_topic, expect=200)
    assert len(messages) >= 200 and {m.key().decode() for m in messages} == set(ids)
    value = json.loads(messages[0].value())
    assert value["status"] == "processed" and len(value["predictions"]) == N_MODELS
    # inference.log: every streamed prediction, and a synchronous one through the gateway.
    sync = httpx.post(
        f"{gateway.url}/api/models/digits-fast/predict-image", files={"file": ("x.png", pngs[0], "image/png")}
    )
    assert sync.status_code == 200, sync.text
    logged = infra.consume_all(stream.bootstrap, log_topic, expect=200 * N_MODELS + 1)
    sources = [json.loads(m.value())["source"] for m in logged]
    assert sources.count("stream") >= 200 * N_MODELS and sources.count("api") == 1
    text = httpx.get(f"{worker.url}/metrics").text
    assert infra.metric(text, "modelship_streaming_consumed_total") >= 200
    assert infra.metric(text, "modelship_streaming_processed_total") >= 200
    assert infra.metric(text, "modelship_streaming_model_latency_seconds_count", {"model": "digits-fast"}) >= 1
    assert infra.metric(text, "modelship_streaming_messages_total", {"outcome": "processed"}) >= 200
    assert infra.metric(text, "modelship_streaming_messages_total", {"outcome": "failed"}) == 0
    # The lag gauge: one sample per partition of this test's images topic, 0 once the worker has read it all.
    parts = infra.partitions(stream.bootstrap, stream.images_topic)
    want = {(("partition", str(p)), ("topic", stream.images_topic)): 0.0 for p in parts}
    deadline = time.monotonic() + 30
    while (lag := infra.samples(httpx.get(f"{worker.url}/metrics").text, "modelship_streaming_consumer_lag")) != want:
        assert time.monotonic() < deadline, f"consumer lag {lag}, expected 0 for each of {stream.images_topic} {parts}"
        time.sleep(0.5)
    assert httpx.get(f"{worker.url}/healthz").status_code == 200


def test_worker_killed_mid_stream_loses_and_duplicates_nothing(
    stream: infra.Pipeline, engine: object, pngs: list[bytes], procs: ProcGroup, stream_logs: Path
) -> None:
    env = {**stream.env, "MODELSHIP_BATCH_SIZE": "10", "MODELSHIP_MODEL_BATCH_SIZE": "5"}
    gateway = procs.add(infra.start_gateway(env, env["MLFLOW_TRACKING_URI"], stream.database_url, stream_logs))
    ids = upload(gateway, pngs)  # all queued before any worker runs
    worker = procs.add(infra.start_worker(env, stream_logs, name="first"))
    deadline = time.monotonic() + 180
    while count_rows(engine) < 60:
        assert time.monotonic() < deadline and worker.running(), worker.exit_message()
        time.sleep(0.05)
    worker.stop_signal = signal.SIGKILL
    worker.stop()
    killed_at = count_rows(engine)
    assert 0 < killed_at < 200 * N_MODELS, f"the worker was not killed mid-stream ({killed_at} rows)"
    second = procs.add(infra.start_worker(env, stream_logs, name="second"))
    wait_rows(engine, 200 * N_MODELS, workers=[second])
    # No late duplicate can come: the group committed the end of every partition, so nothing is redelivered.
    ends = infra.wait_committed_to_end(stream.bootstrap, stream.group, stream.images_topic)
    assert sum(ends.values()) == 200, ends
    assert_exactly_once(engine, ids)


def test_corrupt_images_and_bad_messages_go_to_the_dlq_with_their_reason(
    stream: infra.Pipeline, engine: object, pngs: list[bytes], procs: ProcGroup, stream_logs: Path
) -> None:
    from confluent_kafka import Producer

    from modelship_common.kafka import TopicSpec, ensure_topics
    from modelship_common.storage import S3ObjectStore, StorageSettings

    s3 = {k[len("MODELSHIP_") :].lower(): v for k, v in stream.env.items() if k.startswith("MODELSHIP_S3_")}
    settings = StorageSettings(object_store="s3", **s3)
    store = S3ObjectStore.from_settings(settings)
    store.ensure_bucket()
    good_id, bad_id = str(uuid.uuid4()), str(uuid.uuid4())
    corrupt = pngs[0][:30] + b"\x00" * 40  # a PNG header with garbage behind it
    with Session(engine) as session:  # type: ignore[call-overload]
        for image_id, data in ((good_id, pngs[1]), (bad_id, corrupt)):
            store.put(f"t/{image_id}.png", data, "image/png")
            session.add(
                db.Image(
                    id=image_id,
                    content_type="image/png",
                    size_bytes=len(data),
                    sha256="0" * 64,
                    storage_key=f"t/{image_id}.png",
                )
            )
        session.commit()
    producer = Producer({"bootstrap.servers": stream.bootstrap})
    ensure_topics({"bootstrap.servers": stream.bootstrap}, [TopicSpec(stream.images_topic, 3)])
    for image_id in (good_id, bad_id):
        value = {"image_id": image_id, "storage_key": f"t/{image_id}.png", "content_type": "image/png"}
        producer.produce(stream.images_topic, key=image_id, value=json.dumps(value))
    producer.produce(stream.images_topic, key=b"junk", value=b"{not json")
    assert producer.flush(10) == 0
    worker = procs.add(infra.start_worker(stream.env, stream_logs))
    wait_rows(engine, N_MODELS, workers=[worker])
    letters = infra.consume_all(stream.bootstrap, stream.dlq_topic, expect=2)
    assert len(letters) == 2
    by_key = {m.key(): dict(m.headers() or []) for m in letters}
    assert b"cannot decode" in by_key[bad_id.encode()]["modelship.error"]
    assert b"unreadable message" in by_key[b"junk"]["modelship.error"]
    assert by_key[b"junk"]["modelship.source.topic"] == stream.images_topic.encode()
    with Session(engine) as session:  # type: ignore[call-overload]
        bad = session.get(db.Image, bad_id)
        assert bad is not None and bad.status == "failed" and "cannot decode" in (bad.error or "")
        good = session.get(db.Image, good_id)
        assert good is not None and good.status == "processed"
        kinds = session.scalars(select(db.Event.kind).where(db.Event.kind == "dlq")).all()
        assert kinds == ["dlq"]
    text = httpx.get(f"{worker.url}/metrics").text
    assert infra.metric(text, "modelship_streaming_dlq_total") == 2
    assert infra.metric(text, "modelship_streaming_failed_total") == 2
    assert infra.metric(text, "modelship_streaming_messages_total", {"outcome": "processed"}) == 1
    assert infra.metric(text, "modelship_streaming_messages_total", {"outcome": "failed"}) == 1
    assert infra.metric(text, "modelship_streaming_messages_total", {"outcome": "unreadable"}) == 1


def test_worker_recovers_from_a_broker_restart(
    stream: infra.Pipeline,
    engine: object,
    pngs: list[bytes],
    procs: ProcGroup,
    stream_logs: Path,
    kafka: dict[str, Proc],
) -> None:
    env = {**stream.env, "MODELSHIP_BATCH_SIZE": "20"}
    gateway = procs.add(infra.start_gateway(env, env["MLFLOW_TRACKING_URI"], stream.database_url, stream_logs))
    worker = procs.add(infra.start_worker(env, stream_logs))
    first = upload(gateway, pngs[:100])
    wait_rows(engine, 30, workers=[worker])
    kafka["proc"] = infra.restart_kafka(kafka["proc"])  # clean stop, a few seconds down, same data
    second = upload(gateway, pngs[100:])
    wait_rows(engine, 200 * N_MODELS, workers=[worker], timeout=300)
    ends = infra.wait_committed_to_end(stream.bootstrap, stream.group, stream.images_topic, timeout=120)
    assert sum(ends.values()) >= 200, ends  # a producer retry across the restart may have written one twice
    assert_exactly_once(engine, first + second)
    assert worker.running()


@pytest.fixture(scope="module")
def digits_candidate(
    mlflow_server: Proc, digits_versions: dict[str, str], stream_logs: Path
) -> Iterator[tuple[str, str]]:
    """A second registered version of digits-fast (the champion's artifacts) and its own model server: (version,
    URL)."""
    from mlflow import MlflowClient

    uri = str(mlflow_server.url)
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    champion = client.get_model_version("digits-fast", digits_versions["digits-fast"])
    model_id = getattr(champion, "model_id", None) or champion.source.rsplit("/", 1)[-1]
    version = client.create_model_version(
        "digits-fast", champion.source, run_id=champion.run_id, tags=champion.tags, model_id=model_id
    )
    proc = servers.start_model_server(
        f"models:/digits-fast/{version.version}", tracking_uri=uri, log_dir=stream_logs, model_name="digits-fast"
    )
    try:
        yield str(version.version), str(proc.url)
    finally:
        proc.stop()


@pytest.mark.parametrize("healthy", [True, False], ids=["candidate", "dead-candidate"])
def test_the_worker_has_a_shadow_candidate_score_every_image_too(
    stream: infra.Pipeline,
    engine: object,
    pngs: list[bytes],
    procs: ProcGroup,
    stream_logs: Path,
    digits_versions: dict[str, str],
    digits_candidate: tuple[str, str],
    healthy: bool,
) -> None:
    """Uploads read from Kafka by the worker: every image is scored by the three champions and, in a Shadow rollout
    of digits-fast, by its candidate too (a ``mirror`` row under the image's id). A dead candidate fails no image:
    each copy is an error row and the image is processed."""
    champion = digits_versions["digits-fast"]
    candidate_version, url = digits_candidate
    if not healthy:
        url = f"http://127.0.0.1:{free_port()}"  # nothing listens: every call to the candidate fails
    rollout = start_rollout(
        engine,
        model_name="digits-fast",
        champion_version=champion,
        candidate_version=candidate_version,
        spec=parse_rollout_spec({"strategy": "Shadow", "shadow": {"share": 1.0}}),
    )
    set_candidate_url(engine, rollout.id, url)
    gateway = procs.add(
        infra.start_gateway(stream.env, stream.env["MLFLOW_TRACKING_URI"], stream.database_url, stream_logs)
    )
    worker = procs.add(infra.start_worker(stream.env, stream_logs))
    ids = upload(gateway, pngs[:20])
    wait_rows(engine, 20 * N_MODELS + 20, workers=[worker])
    record_decision(engine, rollout, "rollback", reason="test over")
    with Session(engine) as session:  # type: ignore[call-overload]
        rows = list(session.scalars(select(db.Prediction)))
        statuses = dict(session.execute(select(db.Image.status, func.count()).group_by(db.Image.status)).all())
    assert statuses == {"processed": 20}
    streamed = sorted((r.request_id, r.model_name) for r in rows if r.source == "stream")
    assert streamed == sorted((i, m) for i in ids for m in infra.DIGITS_MODELS)
    copies = [r for r in rows if r.source == "mirror"]
    assert sorted(r.request_id for r in copies) == sorted(ids)
    assert all(r.model_name == "digits-fast" and r.model_version == candidate_version for r in copies)
    if healthy:
        by_id = {
            r.request_id: r.predicted_class for r in rows if r.source == "stream" and r.model_name == "digits-fast"
        }
        assert all(r.error is None and r.predicted_class == by_id[r.request_id] for r in copies)  # same artifacts
    else:
        assert all(r.error and r.predicted_class is None for r in copies)
