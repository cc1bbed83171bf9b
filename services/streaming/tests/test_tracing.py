"""One upload, one trace: with OTEL_EXPORTER_OTLP_ENDPOINT pointing at an OTLP/HTTP receiver, the REAL gateway,
Kafka, worker and three model servers report spans that share one trace id, linked parent to child:

    gateway  SERVER   POST /api/images
    gateway  PRODUCER send images.uploaded...          (traceparent in the Kafka message headers)
    worker   CONSUMER process images.uploaded...       (parent: the producer span)
    worker   CLIENT   POST                              (httpx, traceparent to the model server)
    serving  SERVER   POST /v2/models/<name>/infer     (parent: a worker CLIENT span), one per model server
    worker   PRODUCER send predictions...              (parent: the consumer span; traceparent in the message)

and an unreadable message sent with a traceparent of its own goes to the dead-letter topic in that trace
(worker CONSUMER -> PRODUCER ``send <dlq>``, whose context the dead letter's headers carry).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sklearn.datasets import load_digits
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from devtools import servers
from devtools.procs import Proc, ProcGroup
from modelship_common import db
from modelship_common.schemas import digits
from services.streaming.tests import infra
from services.streaming.tests.otlp_receiver import ReceivedSpan, Receiver, otlp_receiver

pytestmark = pytest.mark.integration

GATEWAY, WORKER, SERVING = "modelship-gateway", "modelship-streaming", "modelship-serving"


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    with otlp_receiver() as r:
        yield r


@pytest.fixture(scope="module")
def otel_env(receiver: Receiver) -> dict[str, str]:
    """What turns tracing on in a process: the standard variables only (export every 200 ms)."""
    return {"OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url, "OTEL_BSP_SCHEDULE_DELAY": "200"}


@pytest.fixture(scope="module")
def traced_servers(
    mlflow_server: Proc, digits_versions: dict[str, str], stream_logs: Path, otel_env: dict[str, str]
) -> Iterator[dict[str, Proc]]:
    """Model servers of their own (the session's run without tracing), exporting to the receiver."""
    procs = infra.start_model_servers(str(mlflow_server.url), digits_versions, stream_logs, env=otel_env)
    yield procs
    for proc in procs.values():
        proc.stop()


def rows(database_url: str) -> int:
    engine = db.make_engine(database_url)
    try:
        with Session(engine) as session:
            return int(session.scalar(select(func.count()).select_from(db.Prediction)) or 0)
    finally:
        engine.dispose()


def traceparent(message: Any) -> tuple[str, str]:
    """(trace id, parent span id) of a consumed Kafka message's ``traceparent`` header."""
    values = [v for k, v in message.headers() or [] if k == "traceparent"]
    assert len(values) == 1, f"headers of {message.topic()}: {message.headers()}"
    _version, trace_id, span_id, _flags = values[0].decode().split("-")
    return trace_id, span_id


def wait_span(receiver: Receiver, span_id: str, what: str) -> ReceivedSpan:
    deadline = time.monotonic() + 30
    while not (found := receiver.spans(lambda s: s.span_id == span_id)):
        assert time.monotonic() < deadline, f"no span {span_id} ({what}) received after 30s"
        time.sleep(0.2)
    return found[0]


def ancestors(span: ReceivedSpan, by_id: dict[str, ReceivedSpan]) -> list[ReceivedSpan]:
    """``span``'s parent, its parent, ... as far as the received spans go."""
    out = []
    while span.parent_id in by_id:
        span = by_id[span.parent_id]
        out.append(span)
    return out


def test_one_upload_is_one_trace_through_gateway_kafka_worker_and_every_model_server(
    kafka: dict[str, Proc],
    minio: Proc,
    postgres: Proc,
    mlflow_server: Proc,
    traced_servers: dict[str, Proc],
    receiver: Receiver,
    otel_env: dict[str, str],
    procs: ProcGroup,
    stream_logs: Path,
) -> None:
    database_url = servers.create_database(postgres, f"s_{uuid.uuid4().hex[:12]}")
    stream = infra.pipeline(
        bootstrap=kafka["proc"].meta["bootstrap"],
        minio=minio,
        database_url=database_url,
        tracking_uri=str(mlflow_server.url),
        model_servers=traced_servers,
    )
    env = {**stream.env, **otel_env}
    gateway = procs.add(infra.start_gateway(env, env["MLFLOW_TRACKING_URI"], database_url, stream_logs))
    worker = procs.add(infra.start_worker(env, stream_logs))
    png = digits.encode_png(digits.upsample_8x8(load_digits().data[:1])[0])
    response = httpx.post(f"{gateway.url}/api/images", files={"file": ("0.png", png, "image/png")}, timeout=60)
    assert response.status_code == 202, response.text
    image_id = str(response.json()["id"])

    deadline = time.monotonic() + 120
    while rows(database_url) < len(infra.DIGITS_MODELS):
        assert worker.running(), f"the worker died: {worker.exit_message()}"
        assert time.monotonic() < deadline, f"{rows(database_url)} prediction rows after 120s"
        time.sleep(0.25)

    def upload_server_span() -> list[ReceivedSpan]:
        return receiver.spans(lambda s: s.service == GATEWAY and s.kind == "SERVER" and s.name == "POST /api/images")

    # Spans are exported in batches every 200 ms: wait until the upload's trace has every process in it.
    deadline = time.monotonic() + 30
    while True:
        roots = upload_server_span()
        wanted = roots[0].trace_id if roots else None
        trace = [s for s in receiver.spans() if s.trace_id == wanted]
        served = {s.resource.get("modelship.model.name") for s in trace if s.service == SERVING and s.kind == "SERVER"}
        if roots and served >= set(infra.DIGITS_MODELS) and any(s.kind == "CONSUMER" for s in trace):
            break
        assert time.monotonic() < deadline, "the upload's trace is incomplete after 30s:\n" + "\n".join(
            s.trace_id + " " + s.line() for s in receiver.spans()
        )
        time.sleep(0.2)
    time.sleep(0.5)  # the last batches (the worker's client spans end after the servers')
    assert len(roots) == 1
    trace_id = roots[0].trace_id
    trace = receiver.spans(lambda s: s.trace_id == trace_id)
    by_id = {s.span_id: s for s in trace}
    listing = "\n".join(s.line() for s in trace)

    # gateway: the route's SERVER span, and inside it the PRODUCER span whose context went into the message.
    upload = roots[0]
    assert upload.parent_id == "", listing
    producers = [s for s in trace if s.service == GATEWAY and s.kind == "PRODUCER"]
    assert [p.name for p in producers] == [f"send {stream.images_topic}"], listing
    producer = producers[0]
    assert upload in ancestors(producer, by_id), listing
    assert producer.attributes["messaging.system"] == "kafka"
    assert producer.attributes["messaging.kafka.message.key"] == image_id

    # worker: one CONSUMER span for the message, the producer span its parent.
    consumers = [s for s in trace if s.service == WORKER and s.kind == "CONSUMER"]
    assert [c.name for c in consumers] == [f"process {stream.images_topic}"], listing
    consumer = consumers[0]
    assert consumer.parent_id == producer.span_id, listing
    assert consumer.attributes["messaging.kafka.message.key"] == image_id
    assert consumer.attributes["messaging.consumer.group.name"] == stream.group

    # each model server: a SERVER span for its infer route, child of a worker CLIENT span under the consumer span.
    for name in infra.DIGITS_MODELS:
        inferred = [
            s
            for s in trace
            if s.service == SERVING
            and s.kind == "SERVER"
            and s.resource.get("modelship.model.name") == name
            and s.name == f"POST /v2/models/{name}/infer"
        ]
        assert len(inferred) == 1, f"{name}:\n{listing}"
        client = by_id.get(inferred[0].parent_id)
        assert client is not None and client.service == WORKER and client.kind == "CLIENT", f"{name}:\n{listing}"
        url = client.attributes.get("url.full") or client.attributes.get("http.url") or ""
        assert url.endswith(f"/v2/models/{name}/infer"), client.attributes
        assert consumer in ancestors(client, by_id), f"{name}:\n{listing}"

    # One SERVER span per request a model server got (no second one from a framework inside it); readiness
    # probes get none (the servers leave them out, as they leave out the kubelet's).
    for client in (s for s in trace if s.service == WORKER and s.kind == "CLIENT"):
        children = [s for s in trace if s.parent_id == client.span_id]
        url = str(client.attributes.get("url.full") or client.attributes.get("http.url") or "")
        if url.endswith("/ready"):
            assert children == [], f"{client}\n{listing}"
            continue
        assert [c.kind for c in children] == ["SERVER"] and children[0].service == SERVING, f"{client}\n{listing}"
        assert not [s for s in trace if s.parent_id == children[0].span_id], f"{children[0]}\n{listing}"

    services = {(s.service, s.resource.get("modelship.model.name")) for s in trace}
    assert services >= {(GATEWAY, None), (WORKER, None)} | {(SERVING, n) for n in infra.DIGITS_MODELS}

    # the predictions message: in the upload's trace, its traceparent the worker's PRODUCER span under the consumer.
    published = infra.consume_all(stream.bootstrap, stream.predictions_topic, expect=1)
    (prediction,) = [m for m in published if m.key() == image_id.encode()]
    message_trace, message_parent = traceparent(prediction)
    assert message_trace == trace_id
    send = wait_span(receiver, message_parent, "the worker's send predictions span")
    assert (send.service, send.kind, send.name) == (WORKER, "PRODUCER", f"send {stream.predictions_topic}"), send
    assert send.parent_id == consumer.span_id and send.attributes["messaging.kafka.message.key"] == image_id
    if send not in trace:  # exported after the snapshot above
        listing += "\n" + send.line()
    print(f"trace {trace_id}:\n{listing}")

    # a dead letter stays in the trace of the message it copies (here one another producer started).
    from confluent_kafka import Producer

    sender_trace, sender_span = uuid.uuid4().hex, uuid.uuid4().hex[:16]
    producer_client = Producer({"bootstrap.servers": stream.bootstrap})
    header = f"00-{sender_trace}-{sender_span}-01".encode()
    producer_client.produce(stream.images_topic, key=b"junk", value=b"{not json", headers=[("traceparent", header)])
    assert producer_client.flush(30) == 0
    (letter,) = infra.consume_all(stream.bootstrap, stream.dlq_topic, expect=1)
    assert dict(letter.headers())["modelship.error"].startswith(b"unreadable message")
    letter_trace, letter_parent = traceparent(letter)
    assert letter_trace == sender_trace
    dead = wait_span(receiver, letter_parent, "the worker's send <dlq> span")
    assert (dead.service, dead.kind, dead.name) == (WORKER, "PRODUCER", f"send {stream.dlq_topic}"), dead
    received = wait_span(receiver, dead.parent_id, "the worker's consumer span of the unreadable message")
    assert received.kind == "CONSUMER" and received.parent_id == sender_span, received
