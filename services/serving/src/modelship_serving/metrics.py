"""``modelship_*`` Prometheus metrics, registered next to kserve's ``request_*_seconds`` histograms.

kserve's ``/metrics`` serves prometheus_client's default registry, so the server registers these there;
tests pass their own :class:`~prometheus_client.CollectorRegistry`.
"""

from __future__ import annotations

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge

#: Reason label for a request naming a model this server does not serve.
REASON_MODEL_NOT_FOUND = "model_not_found"


class ServingMetrics:
    """Counters of one model server. Build it once per registry."""

    def __init__(self, registry: CollectorRegistry = REGISTRY) -> None:
        self.predictions = Counter(
            "modelship_predictions",
            "Successful prediction requests, by model, version and protocol.",
            ["model", "version", "protocol"],
            registry=registry,
        )
        self.instances = Counter(
            "modelship_instances",
            "Instances (rows or images) scored, by model and version.",
            ["model", "version"],
            registry=registry,
        )
        self.errors = Counter(
            "modelship_prediction_errors",
            "Rejected prediction requests, by model, version and reason "
            "(features, shape, datatype, request, image, image_size, model_not_found).",
            ["model", "version", "reason"],
            registry=registry,
        )
        self.model_info = Gauge(
            "modelship_model_info",
            "The model version this server has loaded (value 1), with its task and runtime.",
            ["model", "version", "task", "platform"],
            registry=registry,
        )
