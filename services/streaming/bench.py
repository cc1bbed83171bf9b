"""Streaming benchmark: images/s from upload to all three predictions stored, and end-to-end latency p50/p99.

    python -m services.streaming.bench [--images 1000] [--concurrency 32] [--workers 1] [--native] [--check]

Starts REAL servers like the streaming tests (Kafka, MinIO, PostgreSQL, MLflow with the three digits CNNs users
run, digits-fast, digits-balanced and digits-accurate, trained by the training job's own code and served from
their verified ONNX exports, three model servers, the gateway and the worker), uploads ``--images``
PNGs through ``POST /api/images`` with ``--concurrency`` clients, and waits until every image has its three
prediction rows. Latency of one image = time its last prediction row was written - time its upload was accepted
(both stamped on this machine). Prints a table with PASS/FAIL against the target.

``--epochs`` (default 1) only shortens training: the cost of a prediction is the architecture's, not the number of
epochs. ``--tiny`` registers the serving tests' one small CNN under the three names instead (faster to set up;
a lighter load than the models users run).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from devtools import servers
from devtools.procs import ProcGroup
from modelship_common import db
from modelship_common.schemas import digits
from services.streaming.tests import infra

#: The issue's target on this 2-core machine.
TARGET_IMAGES_PER_S = 200


def register_trained_digits_models(tracking_uri: str, epochs: int) -> dict[str, str]:
    """Train and register digits-fast, -balanced and -accurate as the training job does (ONNX export verified and
    tagged); returns name -> version."""
    from modelship_training.jobs import train_digits
    from modelship_training.settings import TrainingSettings

    settings = TrainingSettings(mlflow_tracking_uri=tracking_uri, digits_epochs=epochs)
    report = train_digits(settings)
    missing = [r.model_name for r in report.results if not r.onnx_uri]
    if missing:
        raise SystemExit(f"no verified ONNX export for {', '.join(missing)}: the bench measures the ONNX path")
    return {r.model_name: r.version for r in report.results}


def sample_pngs(n: int) -> list[bytes]:
    from sklearn.datasets import load_digits

    x = load_digits().data
    rng = np.random.default_rng(0)
    images = digits.upsample_8x8(x[rng.integers(0, len(x), size=n)])
    noise = rng.uniform(0, 0.05, size=images.shape).astype(np.float32)  # distinct bytes per upload
    return [digits.encode_png(np.clip(img + e, 0, 1)) for img, e in zip(images, noise, strict=True)]


BOUNDARY = "modelship-bench-7f3c"


def upload_request(host: str, index: int, png: bytes) -> bytes:
    """One complete ``POST /api/images?source=bench`` HTTP/1.1 request with a multipart body, built up front."""
    body = b"".join(
        [
            f"--{BOUNDARY}\r\n".encode(),
            f'Content-Disposition: form-data; name="file"; filename="{index}.png"\r\n'.encode(),
            b"Content-Type: image/png\r\n\r\n",
            png,
            f"\r\n--{BOUNDARY}--\r\n".encode(),
        ]
    )
    head = (
        f"POST /api/images?source=bench HTTP/1.1\r\nHost: {host}\r\n"
        f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers = {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:] if ":" in line)}
    length = headers.get("content-length")
    if length is None:
        raise RuntimeError(f"upload answer without Content-Length: {lines[0]}")
    return status, await reader.readexactly(int(length))


async def upload_all(url: str, pngs: list[bytes], concurrency: int) -> list[str]:
    """Upload every PNG with ``concurrency`` keep-alive connections; returns the image ids in order.

    The requests are built before the clock starts and sent over plain asyncio streams: the load generator runs
    on the same two cores as the platform, and an HTTP client library's multipart encoding cost ~7 ms of CPU per
    upload here, more than the gateway itself.
    """
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    requests = [upload_request(f"{host}:{port}", i, png) for i, png in enumerate(pngs)]
    ids: list[str] = [""] * len(pngs)
    next_index = iter(range(len(pngs)))

    async def client() -> None:
        reader, writer = await asyncio.open_connection(host, port)
        try:
            for i in next_index:
                writer.write(requests[i])
                status, body = await _read_response(reader)
                if status != 202:
                    raise RuntimeError(f"upload {i}: HTTP {status}: {body[:200]!r}")
                ids[i] = json.loads(body)["id"]
        finally:
            writer.close()

    await asyncio.gather(*(client() for _ in range(min(concurrency, len(pngs)))))
    return ids


def prestore(store: Any, engine: Engine, pngs: list[bytes]) -> list[str]:
    """``--direct``: put the images in MinIO and their rows in the database (not timed)."""
    ids = [str(uuid.uuid4()) for _ in pngs]
    with Session(engine) as session:
        for image_id, data in zip(ids, pngs, strict=True):
            store.put(f"direct/{image_id}.png", data, "image/png")
            session.add(
                db.Image(
                    id=image_id,
                    content_type="image/png",
                    size_bytes=len(data),
                    sha256="",
                    storage_key=f"direct/{image_id}.png",
                    source="bench",
                )
            )
        session.commit()
    return ids


def publish(bootstrap: str, topic: str, ids: list[str]) -> None:
    """``--direct``: announce the stored images on ``images.uploaded`` as fast as Kafka takes them."""
    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
    for image_id in ids:
        value = {"image_id": image_id, "storage_key": f"direct/{image_id}.png", "content_type": "image/png"}
        producer.produce(topic, key=image_id, value=json.dumps(value))
    producer.flush(30)


def count(engine: Engine) -> int:
    with Session(engine) as session:
        return int(session.scalar(select(func.count()).select_from(db.Prediction)) or 0)


def run_once(
    url: str, engine: Engine, n: int, concurrency: int, n_models: int, direct: tuple[Any, infra.Pipeline] | None
) -> dict[str, float]:
    pngs = sample_pngs(n)
    base = count(engine)
    if direct is not None:
        store, stream = direct
        ids = prestore(store, engine, pngs)
        started = time.time()
        publish(stream.bootstrap, stream.images_topic, ids)
    else:
        started = time.time()
        ids = asyncio.run(upload_all(url, pngs, concurrency))
    uploaded = time.time()
    deadline = time.monotonic() + 600
    while count(engine) < base + n * n_models:
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out: {count(engine) - base} of {n * n_models} rows")
        time.sleep(0.05)
    with Session(engine) as session:
        rows: list[Any] = [
            tuple(r)
            for r in session.execute(
                select(db.Image.created_at, func.max(db.Prediction.created_at))
                .join(db.Prediction, db.Prediction.request_id == db.Image.id)
                .where(db.Image.id.in_(ids))
                .group_by(db.Image.id, db.Image.created_at)
            )
        ]
    # With --direct the rows were written before the burst: latency counts from the burst's start instead.
    latencies = np.array([(done.timestamp() - max(up.timestamp(), started)) for up, done in rows]) * 1000
    finished = max(done for _, done in rows).timestamp()
    return {
        "images": n,
        "upload_rate": n / (uploaded - started),
        "images_per_s": n / (finished - started),
        "p50_ms": float(np.percentile(latencies, 50)),
        "p99_ms": float(np.percentile(latencies, 99)),
    }


def _settings(env: dict[str, str]) -> dict[str, Any]:
    return {k.removeprefix("MODELSHIP_").lower(): v for k, v in env.items() if k.startswith("MODELSHIP_S3_")} | {
        "object_store": "s3"
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m services.streaming.bench", description=__doc__)
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--workers", type=int, default=1, help="streaming worker processes")
    parser.add_argument("--keep", action="store_true", help="keep the state directory")
    parser.add_argument(
        "--direct", action="store_true", help="publish to Kafka directly instead of uploading (the worker alone)"
    )
    parser.add_argument(
        "--native",
        action="store_true",
        help="serve the digits models with TensorFlow instead of their verified ONNX export (as the tests do)",
    )
    parser.add_argument(
        "--tiny", action="store_true", help="one small CNN under the three names instead of the three trained models"
    )
    parser.add_argument("--epochs", type=int, default=1, help="training epochs of each trained model (default 1)")
    parser.add_argument("--check", action="store_true", help="exit 1 when the throughput target is missed")
    args = parser.parse_args(argv)
    if args.native and not args.tiny:
        parser.error("--native needs --tiny (the trained models are served from their ONNX export)")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    root = Path(tempfile.mkdtemp(prefix="modelship-bench-streaming-"))
    logs = root / "logs"
    logs.mkdir()
    group = ProcGroup()
    t0 = time.monotonic()
    pg = None
    try:
        kafka = group.add(infra.start_kafka(root / "kafka"))
        minio = group.add(infra.start_minio(root / "minio"))
        pg = servers.start_postgres()  # its own directory under /tmp (the server runs unprivileged)
        mlflow = group.add(servers.start_mlflow(root / "mlflow"))
        if args.tiny:
            versions = infra.register_digits_models(str(mlflow.url), onnx=not args.native)
        else:
            versions = register_trained_digits_models(str(mlflow.url), args.epochs)
        for proc in infra.start_model_servers(str(mlflow.url), versions, logs).values():
            group.add(proc)
        database_url = servers.create_database(pg, f"bench_{uuid.uuid4().hex[:8]}")
        stream = infra.pipeline(
            bootstrap=kafka.meta["bootstrap"],
            minio=minio,
            database_url=database_url,
            tracking_uri=str(mlflow.url),
            model_servers={name: p for name, p in zip(versions, group.procs[-len(versions) :], strict=True)},
            MODELSHIP_LOG_LEVEL="WARNING",
        )
        gateway = group.add(infra.start_gateway(stream.env, str(mlflow.url), database_url, logs))
        for i in range(args.workers):
            group.add(infra.start_worker(stream.env, logs, name=f"bench-{i}"))
        print(f"servers up in {time.monotonic() - t0:.0f}s (state {root})", file=sys.stderr)
        engine = db.make_engine(database_url)
        direct = None
        if args.direct:
            from modelship_common.storage import S3ObjectStore
            from modelship_streaming.settings import StreamingSettings

            direct = (S3ObjectStore.from_settings(StreamingSettings(**_settings(stream.env))), stream)
        warm = min(100, args.images)
        run_once(str(gateway.url), engine, warm, args.concurrency, len(versions), direct)
        result = run_once(str(gateway.url), engine, args.images, args.concurrency, len(versions), direct)
        result["mode"] = "direct" if args.direct else "gateway"  # type: ignore[assignment]
        engine.dispose()
    finally:
        group.stop_all()
        if pg is not None:
            servers.stop_postgres(pg)
        if not args.keep:
            import shutil

            shutil.rmtree(root, ignore_errors=True)
    print(json.dumps(result), file=sys.stderr)
    ok = result["images_per_s"] >= TARGET_IMAGES_PER_S
    serving = "TensorFlow" if args.native else "their verified ONNX export"
    models = "one small CNN under the three digits names" if args.tiny else "the three trained digits models"
    print(
        "\n".join(
            [
                f"### streaming ({result['mode']}): {result['images']} images, concurrency {args.concurrency}, "
                f"{args.workers} worker(s); {models} served from {serving}",
                "",
                "| check | measured | target | result |",
                "|---|---:|---:|---|",
                f"| images/s, upload -> 3 predictions stored | {result['images_per_s']:.0f} "
                f"| >= {TARGET_IMAGES_PER_S} | {'PASS' if ok else 'FAIL'} |",
                f"| uploads accepted/s | {result['upload_rate']:.0f} | | |",
                f"| end-to-end latency p50 | {result['p50_ms']:.0f} ms | | |",
                f"| end-to-end latency p99 | {result['p99_ms']:.0f} ms | | |",
            ]
        ),
        flush=True,
    )
    if args.check and not ok:
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
