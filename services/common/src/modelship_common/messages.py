"""The image pipeline's messages (``docs/contracts.md``): what ``images.uploaded`` carries, and the outcome of
scoring one image, which ``predictions`` carries. Plain data, no Kafka client: the gateway, the scoring core and
the streaming worker all build and read them (published by :class:`modelship_common.kafka.KafkaPublisher`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from modelship_common.errors import InvalidInput


@dataclass(frozen=True)
class UploadedImage:
    """What ``images.uploaded`` carries (and the in-process queue): enough to find the image."""

    image_id: str
    storage_key: str
    content_type: str
    uploaded_at: str

    def to_message(self) -> dict[str, str]:
        return {
            "image_id": self.image_id,
            "storage_key": self.storage_key,
            "content_type": self.content_type,
            "uploaded_at": self.uploaded_at,
        }

    @classmethod
    def from_message(cls, value: Any) -> UploadedImage:
        """Parse a decoded ``images.uploaded`` JSON value; :class:`InvalidInput` saying what is wrong."""
        if not isinstance(value, dict):
            raise InvalidInput("message value must be a JSON object")
        fields = {}
        for name in ("image_id", "storage_key"):
            item = value.get(name)
            if not isinstance(item, str) or not item or len(item) > 255:
                raise InvalidInput(f"message field {name} must be a non-empty string")
            fields[name] = item
        if len(fields["image_id"]) > 36:
            raise InvalidInput("message field image_id is longer than 36 characters")
        return cls(
            image_id=fields["image_id"],
            storage_key=fields["storage_key"],
            content_type=str(value.get("content_type") or "application/octet-stream"),
            uploaded_at=str(value.get("uploaded_at") or ""),
        )


@dataclass
class ModelScore:
    """One model's answer for one image."""

    model: str
    version: str
    class_id: int
    class_name: str
    confidence: float
    probabilities: dict[str, float]
    latency_ms: float


@dataclass
class ImageOutcome:
    """What happened to one image of a batch."""

    image: UploadedImage
    status: str  # processed | failed
    error: str | None = None
    #: The image cannot ever be scored (missing, undecodable, rejected by a model): dead-letter it.
    dead_letter: bool = False
    scores: list[ModelScore] = field(default_factory=list)

    def to_message(self) -> dict[str, Any]:
        return {
            "image_id": self.image.image_id,
            "status": self.status,
            "error": self.error,
            "predictions": [
                {
                    "model": s.model,
                    "version": s.version,
                    "class_id": s.class_id,
                    "class_name": s.class_name,
                    "confidence": s.confidence,
                    "latency_ms": s.latency_ms,
                }
                for s in self.scores
            ],
        }
