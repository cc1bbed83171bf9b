"""Request and response bodies of the REST API (the wire contract in docs/contracts.md)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from modelship_common.schemas import penguins


class ErrorBody(BaseModel):
    detail: str = Field(description="What went wrong, safe to show to the caller.")


class ModelOut(BaseModel):
    name: str = Field(description="Served model name (the registered model name).")
    version: str | None = Field(description="Registered model version the server runs; null if it did not say.")
    task: str | None = Field(description="tabular or image.")
    url: str = Field(description="Base URL of the model server.")
    ready: bool = Field(
        description="Whether the model is ready: its model server reports it ready and, with Kubernetes discovery, "
        "its InferenceService's Ready condition is not False."
    )
    classes: list[str] = Field(description="Class names; class id i is position i (empty when MLflow is down).")
    metrics: dict[str, float] = Field(description="Test/train metrics from the registry (empty when MLflow is down).")


class PredictRequest(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "instances": [
                        penguins.EXAMPLE_ROW,
                        ["Dream", 39.5, 17.4, 186, 3800, "female"],
                    ]
                }
            ]
        }
    )

    instances: list[Any] = Field(
        description="Penguins rows: objects with the dataset's columns, raw lists (island first) or 9 encoded values."
    )


class ClassPrediction(BaseModel):
    class_id: int = Field(description="Index of the predicted class.")
    class_name: str = Field(description="Name of the predicted class.")
    probabilities: dict[str, float] = Field(description="Probability of every class, by name.")


class PredictResponse(BaseModel):
    request_id: str = Field(description="Id of this request; the stored prediction carries it.")
    model: str = Field(description="Model that answered.")
    version: str = Field(description="Model version that answered.")
    latency_ms: float = Field(description="Round trip to the model server in milliseconds.")
    predictions: list[ClassPrediction] = Field(description="One entry per instance, in request order.")


class PredictionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    created_at: dt.datetime
    request_id: str
    source: str = Field(description="Who asked: api, stream, cli...")
    model_name: str
    model_version: str
    n_instances: int
    predicted_class: str | None = Field(description="Predicted class of a single-instance request, else null.")
    confidence: float | None = Field(description="Its probability, else null.")
    latency_ms: float
    input: Any
    output: Any


class Health(BaseModel):
    status: str = Field(description="ok")
