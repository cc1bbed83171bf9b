"""Traces (OpenTelemetry), off unless an OTLP endpoint is configured by the standard ``OTEL_*`` variables.

``configure_tracing(service_name)`` turns tracing on when ``OTEL_EXPORTER_OTLP_ENDPOINT`` or
``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` is set and ``OTEL_SDK_DISABLED`` is not true: it installs an SDK
``TracerProvider`` (``service.name`` from ``OTEL_SERVICE_NAME``, else ``service_name``; ``OTEL_RESOURCE_ATTRIBUTES``
as usual) with a batch span processor (``OTEL_BSP_*``) and the OTLP/HTTP protobuf exporter, which reads the rest
of ``OTEL_EXPORTER_OTLP_*`` itself (headers, timeout, certificates). Every ``httpx`` client and ``aiohttp`` session
made afterwards sends W3C ``traceparent``/``tracestate`` headers (the default propagator) inside a CLIENT span.

The provider is handed to each instrumentation rather than made the global one (see :func:`configure_tracing`).
When it is off nothing is imported beyond the API, nothing is instrumented, and :func:`enabled` is False; the
callers check it first, so the hot paths pay one function call.

Kafka carries the context in message headers: :func:`kafka_producer_span` (the gateway's ``images.uploaded``
messages, the worker's dead letters), :func:`kafka_consumer_spans` (the worker's batches) and
:func:`kafka_producer_spans` (the worker's ``predictions`` messages, each continuing the trace of the upload it
scored, found through :func:`message_parents`). With tracing off the worker still passes each upload's
``traceparent`` on to the messages it writes about it (:func:`inject_headers` of the context its headers carry,
an API-only operation).
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.propagators.textmap import Getter

from modelship_common import logs

log = logging.getLogger(__name__)

#: A trace context (what the W3C headers carry), as the API defines it.
Context = otel_context.Context
#: Span kinds (SERVER, CLIENT, PRODUCER, CONSUMER, INTERNAL), for :func:`span`.
SpanKind = trace.SpanKind
#: Either of these (non-empty) turns tracing on.
ENDPOINT_VARS = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
TRACER_NAME = "modelship"

_provider: Any = None


def requested(environ: Mapping[str, str] | None = None) -> bool:
    """True when ``environ`` (default: the process environment) asks for traces: an OTLP endpoint is set and
    ``OTEL_SDK_DISABLED`` is not ``true``."""
    env = os.environ if environ is None else environ
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    return any(env.get(name, "").strip() for name in ENDPOINT_VARS)


def enabled() -> bool:
    """True once :func:`configure_tracing` installed a provider in this process."""
    return _provider is not None


def configure_tracing(service_name: str, *, attributes: Mapping[str, str | None] | None = None) -> bool:
    """Install the SDK provider and the httpx and aiohttp instrumentations when :func:`requested`; returns whether
    tracing is on.

    ``attributes``: extra resource attributes (e.g. the model a model server serves). A second call is a no-op.
    """
    global _provider
    if _provider is not None:
        return True
    if not requested():
        return False
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.instrumentation.aiohttp_client import AioHttpClientInstrumentor
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    name = os.environ.get("OTEL_SERVICE_NAME", "").strip() or service_name
    # Resource.create reads OTEL_RESOURCE_ATTRIBUTES; service.name here wins over it, OTEL_SERVICE_NAME over both.
    extra = {k: v for k, v in (attributes or {}).items() if v is not None}
    resource = Resource.create({**extra, SERVICE_NAME: name})
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    # Not made the global provider: FastAPI (0.165+) traces every app by itself once a global provider is set, which
    # would add a second SERVER span (and operation spans) inside kserve's app behind ours. Every instrumentation
    # here is handed this provider instead.
    HTTPXClientInstrumentor().instrument(tracer_provider=provider)
    AioHttpClientInstrumentor().instrument(tracer_provider=provider)  # the scoring core's calls to model servers
    _provider = provider
    logs.set_trace_id_source(current_trace_id)  # every log line inside a span carries its trace id
    log.info("tracing on: service %s, OTLP/HTTP exporter", name)
    return True


def shutdown_tracing(timeout_ms: int = 5_000) -> None:
    """Export what is buffered and stop the provider (a no-op when tracing is off)."""
    global _provider
    provider, _provider = _provider, None
    if provider is None:
        return
    logs.set_trace_id_source(None)
    try:
        provider.force_flush(timeout_ms)
    finally:
        provider.shutdown()


def provider() -> Any:
    """The SDK provider :func:`configure_tracing` installed (None when tracing is off); instrumentations get it
    explicitly, so they never depend on which provider is global."""
    return _provider


def tracer() -> trace.Tracer:
    """modelship's tracer, from the provider :func:`configure_tracing` installed (the API's no-op one when off)."""
    provider = _provider if _provider is not None else trace.get_tracer_provider()
    return provider.get_tracer(TRACER_NAME)


@contextlib.contextmanager
def span(
    name: str, *, kind: trace.SpanKind = trace.SpanKind.INTERNAL, attributes: Mapping[str, Any] | None = None
) -> Iterator[trace.Span | None]:
    """A span ``name`` around the block (failed if it raises), the current one inside it; with tracing off nothing
    at all (yields None). For work no instrumentation sees: the operator's reconciliations and MLflow calls."""
    if _provider is None:
        yield None
        return
    attrs = {k: v for k, v in (attributes or {}).items() if v is not None}
    with tracer().start_as_current_span(name, kind=kind, attributes=attrs) as current:
        yield current


def inject_http_headers(headers: dict[str, str]) -> None:
    """Add the current context's ``traceparent`` (and ``tracestate``) to HTTP request ``headers``, for clients no
    instrumentation covers (the operator's Kubernetes calls); nothing with tracing off or outside a span."""
    if _provider is not None:
        propagate.inject(headers)


def current_trace_id() -> str | None:
    """The 32-hex-digit trace id of the current span, or None (no span, or tracing off)."""
    if _provider is None:
        return None
    ctx = trace.get_current_span().get_span_context()
    return format(ctx.trace_id, "032x") if ctx.is_valid else None


# ------------------------------------------------------------------------------------------- Kafka headers

Headers = Sequence[tuple[str, bytes | str | None]]


class _KafkaHeaders(Getter[Headers]):
    """Reads a propagation field from Kafka headers (a list of ``(name, bytes)``, names case-insensitive)."""

    def get(self, carrier: Headers, key: str) -> list[str] | None:
        key = key.lower()
        found = [_text(v) for k, v in carrier if k.lower() == key and v is not None]
        return found or None

    def keys(self, carrier: Headers) -> list[str]:
        return [k for k, _ in carrier]


def _text(value: bytes | str | None) -> str:
    return value.decode("latin-1") if isinstance(value, bytes) else str(value)


_getter = _KafkaHeaders()


def inject_headers(
    headers: Mapping[str, bytes] | None = None, context: otel_context.Context | None = None
) -> dict[str, bytes]:
    """``headers`` plus ``context`` (default: the current one) as Kafka headers (``traceparent``, ``tracestate``
    when there is one; nothing when the context holds no valid span)."""
    fields: dict[str, str] = {}
    propagate.inject(fields, context=context)
    out = dict(headers or {})
    out.update({k: v.encode("latin-1") for k, v in fields.items()})
    return out


def extract_headers(headers: Headers | Mapping[str, bytes] | None) -> otel_context.Context:
    """The context carried by Kafka message headers (an empty one when they carry none)."""
    if headers is None:
        pairs: Headers = []
    elif isinstance(headers, Mapping):
        pairs = list(headers.items())
    else:
        pairs = headers
    return propagate.extract(pairs, getter=_getter)


#: ``key -> context`` of the messages being handled (see :func:`message_parents`).
_parents: contextvars.ContextVar[Mapping[str, otel_context.Context] | None] = contextvars.ContextVar(
    "modelship_kafka_parents", default=None
)


@contextlib.contextmanager
def message_parents(parents: Mapping[str, otel_context.Context]) -> Iterator[None]:
    """Inside the block, :func:`parent_context` of ``key`` is ``parents[key]``: the worker maps each image id to the
    context of the message that announced it, so what it publishes about the image continues that trace (tasks
    started inside the block see it too)."""
    token = _parents.set(parents)
    try:
        yield
    finally:
        _parents.reset(token)


def parent_context(key: str) -> otel_context.Context | None:
    """The context :func:`message_parents` gave ``key`` (None outside such a block, or for another key)."""
    parents = _parents.get()
    return parents.get(key) if parents is not None else None


def _messaging(operation: str, topic: str, **more: Any) -> dict[str, Any]:
    attributes = {
        "messaging.system": "kafka",
        "messaging.operation.type": operation,
        "messaging.operation.name": operation,
        "messaging.destination.name": topic,
    }
    attributes.update({k: v for k, v in more.items() if v is not None})
    return attributes


@contextlib.contextmanager
def kafka_producer_span(
    topic: str, key: str | None = None, *, context: otel_context.Context | None = None
) -> Iterator[dict[str, bytes]]:
    """A PRODUCER span ``send <topic>`` around publishing one message, a child of ``context`` (default: the current
    one); yields the headers that carry it."""
    attributes = _messaging("send", topic, **{"messaging.kafka.message.key": key})
    with tracer().start_as_current_span(
        f"send {topic}", context=context, kind=trace.SpanKind.PRODUCER, attributes=attributes
    ):
        yield inject_headers()


@contextlib.contextmanager
def kafka_producer_spans(topic: str, keys: Sequence[str]) -> Iterator[list[dict[str, bytes]]]:
    """One PRODUCER span ``send <topic>`` per message about to be published together (one per key, in order), each
    a child of :func:`parent_context` of its key (else of the current context); yields the headers carrying each.
    The spans end when the block does (marked failed if it raised)."""
    t = tracer()
    headers: list[dict[str, bytes]] = []
    with contextlib.ExitStack() as stack:
        for key in keys:
            attributes = _messaging("send", topic, **{"messaging.kafka.message.key": key})
            span = t.start_span(
                f"send {topic}", context=parent_context(key), kind=trace.SpanKind.PRODUCER, attributes=attributes
            )
            stack.enter_context(_ending(span))
            headers.append(inject_headers(context=trace.set_span_in_context(span)))
        yield headers


@contextlib.contextmanager
def kafka_consumer_spans(messages: Sequence[Any], *, group: str | None = None) -> Iterator[list[trace.Span]]:
    """One CONSUMER span ``process <topic>`` per consumed message, each a child of the context its headers carry
    (the producer's span). The first message's span is the current span inside the block, so what the batch does
    (the model-server calls) is in the first message's trace; the other messages' spans link to it.

    ``messages``: confluent-kafka messages (``topic()``, ``partition()``, ``offset()``, ``key()``, ``headers()``).
    """
    t = tracer()
    spans: list[trace.Span] = []
    with contextlib.ExitStack() as stack:
        for i, m in enumerate(messages):
            key = m.key()
            attributes = _messaging(
                "process",
                m.topic(),
                **{
                    "messaging.destination.partition.id": str(m.partition()),
                    "messaging.kafka.offset": m.offset(),
                    "messaging.kafka.message.key": _text(key) if key is not None else None,
                    "messaging.consumer.group.name": group,
                    "messaging.batch.message_count": len(messages) if len(messages) > 1 else None,
                },
            )
            links = [trace.Link(spans[0].get_span_context())] if i else None
            span = t.start_span(
                f"process {m.topic()}",
                context=extract_headers(m.headers()),
                kind=trace.SpanKind.CONSUMER,
                attributes=attributes,
                links=links,
            )
            spans.append(span)
            if i:
                stack.enter_context(_ending(span))
        if not spans:
            yield spans
            return
        with trace.use_span(spans[0], end_on_exit=True, record_exception=True, set_status_on_exception=True):
            yield spans


def consumed_contexts(messages: Sequence[Any], spans: Sequence[trace.Span] | None = None) -> list[otel_context.Context]:
    """The context each consumed message's work continues: its CONSUMER span's (``spans`` from
    :func:`kafka_consumer_spans`), or with tracing off the one its headers carry (nothing recorded, passed on)."""
    if spans is not None:
        return [trace.set_span_in_context(span) for span in spans]
    return [extract_headers(m.headers()) for m in messages]


@contextlib.contextmanager
def _ending(span: trace.Span) -> Iterator[None]:
    """End ``span`` on exit, marked as failed when the block raised."""
    try:
        yield
    except BaseException as exc:
        span.set_status(trace.Status(trace.StatusCode.ERROR, f"{type(exc).__name__}: {exc}"))
        raise
    finally:
        span.end()


def asgi_middleware(app: Any, *, excluded_urls: Iterable[str] = ()) -> Any:
    """``app`` inside OpenTelemetry's ASGI middleware: a SERVER span per HTTP request, continuing the caller's
    ``traceparent`` (no spans for the body's receive/send events)."""
    from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware

    return OpenTelemetryMiddleware(
        app, tracer_provider=_provider, excluded_urls=",".join(excluded_urls) or None, exclude_spans=["receive", "send"]
    )
