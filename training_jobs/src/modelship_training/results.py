"""What a training run produced: the registered version, its scores and the alias it got."""

from __future__ import annotations

from dataclasses import dataclass, field

from modelship_training.promotion import PromotionDecision


@dataclass(frozen=True)
class TrainResult:
    """One trained, registered model version."""

    model_name: str
    version: str
    run_id: str
    estimator: str
    metrics: dict[str, float]
    alias: str
    decision: PromotionDecision
    onnx_check: str
    onnx_uri: str | None = None
    seconds: float = 0.0
    params: dict[str, str] = field(default_factory=dict)

    @property
    def test_accuracy(self) -> float:
        return self.metrics["test_accuracy"]

    def summary(self) -> str:
        onnx = "onnx ok" if self.onnx_uri else f"onnx failed ({self.onnx_check})"
        return (
            f"{self.model_name} v{self.version} {self.estimator}: test_accuracy={self.test_accuracy:.4f} "
            f"test_f1={self.metrics['test_f1']:.4f} -> {self.alias}; {onnx}; {self.seconds:.1f}s"
        )
