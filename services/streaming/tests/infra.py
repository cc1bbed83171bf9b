"""Real servers for the streaming tests and the benchmark: a Kafka broker and MinIO (started through
``scripts/services/*.sh run``), PostgreSQL, MLflow and model servers (``devtools.servers``), the gateway and
the worker. Every start returns a ready :class:`devtools.procs.Proc` or raises :class:`ServerError` with the log
tail; a tool that is not installed raises :class:`ServerError` naming ``make services``.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from devtools import servers
from devtools.procs import LOCALHOST, Proc, ServerError, free_port, start
from modelship_common.schemas import digits

REPO_ROOT = servers.REPO_ROOT
SCRIPTS = REPO_ROOT / "scripts" / "services"
KAFKA_VERSION = "3.9.1"
DIGITS_MODELS = ("digits-fast", "digits-balanced", "digits-accurate")
INSTALL = "run `make services` (scripts/services/kafka.sh install, scripts/services/minio.sh install)"


def kafka_installed() -> bool:
    return (servers.cache_dir() / "kafka" / KAFKA_VERSION / ".complete").exists()


def minio_binary() -> Path:
    return servers.cache_dir() / "bin" / "minio"


# ----------------------------------------------------------------------------------------------------- Kafka


def start_kafka(state_dir: Path, *, port: int | None = None, controller_port: int | None = None) -> Proc:
    """A single-node KRaft broker on 127.0.0.1 (``kafka.sh run``); ``proc.meta["bootstrap"]`` is its address.

    Starting again with the same ``state_dir`` and ports brings back the same broker and data (a restart).
    """
    if not kafka_installed():
        raise ServerError(f"the Kafka broker is not installed in {servers.cache_dir() / 'kafka'}; {INSTALL}")
    port = port or free_port()
    controller_port = controller_port or free_port()
    env = servers.server_env(
        {
            "MODELSHIP_KAFKA_DIR": str(state_dir),
            "MODELSHIP_KAFKA_PORT": str(port),
            "MODELSHIP_KAFKA_CONTROLLER_PORT": str(controller_port),
        }
    )
    proc = start("kafka", [str(SCRIPTS / "kafka.sh"), "run"], log_path=state_dir / "kafka.log", env=env, port=port)
    bootstrap = f"{LOCALHOST}:{port}"
    proc.meta.update(bootstrap=bootstrap, state_dir=state_dir, controller_port=controller_port)

    def ready() -> bool:
        from confluent_kafka.admin import AdminClient

        admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": 0})
        metadata = admin.list_topics(timeout=2)
        return bool(metadata.brokers)

    return proc.wait_ready(ready, timeout=180)


def restart_kafka(proc: Proc) -> Proc:
    """Stop the broker (SIGTERM: a clean shutdown) and start it again on the same ports and data."""
    proc.stop(timeout=60)
    return start_kafka(proc.meta["state_dir"], port=proc.port, controller_port=proc.meta["controller_port"])


# ----------------------------------------------------------------------------------------------------- MinIO


def start_minio(state_dir: Path, *, port: int | None = None) -> Proc:
    """MinIO on 127.0.0.1 (``minio.sh run``) with generated root credentials in ``proc.meta``."""
    if not minio_binary().exists():
        raise ServerError(f"MinIO is not installed ({minio_binary()} is missing); {INSTALL}")
    port = port or free_port()
    env = servers.server_env(
        {
            "MODELSHIP_MINIO_DIR": str(state_dir),
            "MODELSHIP_MINIO_PORT": str(port),
            "MODELSHIP_MINIO_CONSOLE_PORT": str(free_port()),
        }
    )
    url = f"http://{LOCALHOST}:{port}"
    proc = start(
        "minio", [str(SCRIPTS / "minio.sh"), "run"], log_path=state_dir / "minio.log", env=env, url=url, port=port
    )
    proc.wait_http("/minio/health/ready", timeout=60)
    creds = dict(line.split("=", 1) for line in (state_dir / "credentials").read_text().split())
    proc.meta.update(access_key=creds["MINIO_ROOT_USER"], secret_key=creds["MINIO_ROOT_PASSWORD"])
    return proc


# ---------------------------------------------------------------------------------------------------- models


def register_digits_models(
    tracking_uri: str, names: Sequence[str] = DIGITS_MODELS, *, onnx: bool = False
) -> dict[str, str]:
    """Train the serving tests' tiny Keras digits CNN once and register it under every name in ``names``
    (tagged as served image models); returns name -> version.

    ``onnx``: also export it with the trainers' own export step (converted, verified against Keras, logged to the
    run) and tag every version with it, so the model servers serve it with onnxruntime, as they serve the
    trained digits models. The tests leave it off: they exercise the native TensorFlow path.
    """
    import mlflow
    from mlflow import MlflowClient

    from services.serving.tests.conftest import _log_digits, _register_tags

    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    mlflow.set_experiment("streaming-tests")
    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    first = _log_digits(client, name="digits-fast")
    source = client.get_model_version("digits-fast", first)
    versions = {"digits-fast": first}
    for name in names:
        if name in versions:
            continue
        mv = mlflow.register_model(source.source, name)  # the same logged model, another registered name
        _register_tags(client, name, "image", digits.CLASSES, None)
        versions[name] = str(mv.version)
    if onnx:
        assert source.run_id, f"digits-fast v{first} has no run"
        tags = _export_onnx(source.run_id, f"models:/digits-fast/{first}")
        for name, version in versions.items():
            for key, value in tags.items():
                client.set_model_version_tag(name, version, key, value)
    return {name: versions[name] for name in names}


def _export_onnx(run_id: str, model_uri: str) -> dict[str, str]:
    import mlflow
    import mlflow.tensorflow
    from sklearn.datasets import load_digits

    from modelship_training import onnx_export, publish

    model = mlflow.tensorflow.load_model(model_uri)
    x = digits.upsample_8x8(load_digits().data[:128])
    with mlflow.start_run(run_id=run_id):
        outcome = publish.export_onnx(
            lambda: onnx_export.keras_to_onnx(model, digits.INPUT_SHAPE), x, np.asarray(model(x, training=False))
        )
    if outcome.uri is None:
        raise RuntimeError(f"ONNX export of {model_uri} failed: {outcome.check}")
    return outcome.tags()


def start_model_servers(
    tracking_uri: str, versions: Mapping[str, str], log_dir: Path, *, env: Mapping[str, str] | None = None
) -> dict[str, Proc]:
    """One ``python -m modelship_serving`` per model (started together, then awaited); ``env`` added to theirs."""
    procs: dict[str, Proc] = {}
    try:
        for name, version in versions.items():
            procs[name] = servers.start_model_server(
                f"models:/{name}/{version}",
                tracking_uri=tracking_uri,
                log_dir=log_dir,
                model_name=name,
                wait=False,
                env=env,
            )
        for name, proc in procs.items():
            proc.wait_http(f"/v2/models/{name}/ready", timeout=300)
    except BaseException:
        for proc in procs.values():
            proc.stop()
        raise
    return procs


# -------------------------------------------------------------------------------------------------- pipeline


@dataclass(frozen=True)
class Pipeline:
    """One test's slice of the shared servers: its own topics, consumer group, bucket and database."""

    env: dict[str, str]
    database_url: str
    bootstrap: str
    images_topic: str
    predictions_topic: str
    dlq_topic: str
    group: str
    bucket: str


def pipeline(
    *,
    bootstrap: str,
    minio: Proc,
    database_url: str,
    tracking_uri: str,
    model_servers: Mapping[str, Proc],
    suffix: str | None = None,
    **extra: str,
) -> Pipeline:
    """Settings (``MODELSHIP_*``) shared by a test's gateway and workers, with unique names."""
    suffix = suffix or uuid.uuid4().hex[:8]
    images, predictions, dlq = f"images.uploaded.{suffix}", f"predictions.{suffix}", f"images.uploaded.dlq.{suffix}"
    env = {
        "MODELSHIP_DATABASE_URL": database_url,
        "MODELSHIP_MLFLOW_TRACKING_URI": tracking_uri,
        "MLFLOW_TRACKING_URI": tracking_uri,
        "MODELSHIP_MODEL_SERVERS": json.dumps({name: str(p.url) for name, p in model_servers.items()}),
        "MODELSHIP_KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "MODELSHIP_KAFKA_IMAGES_TOPIC": images,
        "MODELSHIP_KAFKA_PREDICTIONS_TOPIC": predictions,
        "MODELSHIP_KAFKA_DLQ_TOPIC": dlq,
        "MODELSHIP_CONSUMER_GROUP": f"streaming-{suffix}",
        "MODELSHIP_OBJECT_STORE": "s3",
        "MODELSHIP_S3_ENDPOINT_URL": str(minio.url),
        "MODELSHIP_S3_BUCKET": f"images-{suffix}",
        "MODELSHIP_S3_ACCESS_KEY_ID": minio.meta["access_key"],
        "MODELSHIP_S3_SECRET_ACCESS_KEY": minio.meta["secret_key"],
        "MODELSHIP_LOG_LEVEL": "INFO",
        **extra,
    }
    return Pipeline(
        env=env,
        database_url=database_url,
        bootstrap=bootstrap,
        images_topic=images,
        predictions_topic=predictions,
        dlq_topic=dlq,
        group=f"streaming-{suffix}",
        bucket=f"images-{suffix}",
    )


def start_worker(env: Mapping[str, str], log_dir: Path, *, name: str = "worker", timeout: float = 120.0) -> Proc:
    """``python -m modelship_streaming`` with ``env``; ready when /readyz says it has partitions assigned."""
    port = free_port()
    proc = start(
        f"streaming {name}",
        [servers.PYTHON, "-m", "modelship_streaming"],
        log_path=Path(log_dir) / f"streaming-{name}-{port}.log",
        env=servers.server_env({**env, "MODELSHIP_METRICS_HOST": LOCALHOST, "MODELSHIP_METRICS_PORT": str(port)}),
        url=f"http://{LOCALHOST}:{port}",
        port=port,
        cwd=REPO_ROOT,
    )
    return proc.wait_http("/readyz", timeout=timeout)


def start_gateway(env: Mapping[str, str], tracking_uri: str, database_url: str, log_dir: Path) -> Proc:
    """The real gateway (``python -m modelship_gateway``) publishing uploads to Kafka."""
    return servers.start_gateway(tracking_uri=tracking_uri, database_url=database_url, log_dir=log_dir, env=env)


def metric(text: str, name: str, labels: Mapping[str, str] | None = None) -> float:
    """Sum of the samples of ``name`` (with ``labels``) in a Prometheus text exposition.

    Raises ``LookupError`` when no sample matches: a missing series is not a 0 (a check like ``== 0`` would pass
    for a metric the worker stopped exporting).
    """
    from prometheus_client.parser import text_string_to_metric_families

    matched = [
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name and all(sample.labels.get(k) == v for k, v in (labels or {}).items())
    ]
    if not matched:
        raise LookupError(f"no sample of {name} with labels {dict(labels or {})} in the exposition")
    return sum(matched)


def samples(text: str, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    """Every sample of ``name`` in a Prometheus text exposition: sorted label items -> value (empty if absent)."""
    from prometheus_client.parser import text_string_to_metric_families

    return {
        tuple(sorted(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name
    }


def partitions(bootstrap: str, topic: str) -> list[int]:
    """The partition ids of ``topic`` (from the broker's metadata)."""
    from confluent_kafka.admin import AdminClient

    metadata = AdminClient({"bootstrap.servers": bootstrap}).list_topics(topic, timeout=10)
    return sorted(metadata.topics[topic].partitions)


def committed_vs_end(bootstrap: str, group: str, topic: str) -> dict[int, tuple[int, int]]:
    """partition -> (offset the consumer group committed, end of the partition); -1 when nothing is committed.

    Reads the group's offsets without joining the group (no subscribe, so no rebalance of the real consumers).
    """
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
    try:
        ids = partitions(bootstrap, topic)
        committed = consumer.committed([TopicPartition(topic, p) for p in ids], timeout=10)
        out = {}
        for tp in committed:
            _low, high = consumer.get_watermark_offsets(TopicPartition(topic, tp.partition), timeout=10)
            out[tp.partition] = (tp.offset if tp.offset >= 0 else -1, high)
        return out
    finally:
        consumer.close()


def wait_committed_to_end(bootstrap: str, group: str, topic: str, *, timeout: float = 60.0) -> dict[int, int]:
    """Wait until the group's committed offset is the end of every partition of ``topic``: every message was
    handled and its rows stored (the worker commits only after that), so nothing is delivered again and no late
    row can come. Returns partition -> end offset; raises AssertionError with the offsets after ``timeout``."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        state = committed_vs_end(bootstrap, group, topic)
        if state and all(committed == end for committed, end in state.values()):
            return {p: end for p, (_c, end) in state.items()}
        if time.monotonic() > deadline:
            raise AssertionError(f"group {group} did not commit to the end of {topic} in {timeout:.0f}s: {state}")
        time.sleep(0.25)


def consume_all(bootstrap: str, topic: str, *, expect: int, timeout: float = 60.0) -> list[Any]:
    """Read ``topic`` from the beginning until ``expect`` messages arrived (or the deadline)."""
    import time

    from confluent_kafka import Consumer

    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"reader-{uuid.uuid4().hex[:8]}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([topic])
    out: list[Any] = []
    deadline = time.monotonic() + timeout
    try:
        while len(out) < expect and time.monotonic() < deadline:
            for m in consumer.consume(num_messages=500, timeout=0.5):
                if m.error() is None:
                    out.append(m)
    finally:
        consumer.close()
    return out


os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
