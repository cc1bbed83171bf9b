"""Request and response bodies of the REST API (the wire contract in docs/contracts.md)."""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema

from modelship_common.schemas import penguins

#: The largest ``offset`` of a listing: the databases' 64-bit OFFSET overflowed on larger ones (a 500), and no
#: table here comes near it.
MAX_OFFSET = 2**31 - 1


class ErrorBody(BaseModel):
    """The body of every error answer (4xx and 5xx, request validation included)."""

    detail: str = Field(description="What went wrong, safe to show to the caller.")


def as_utc(value: dt.datetime) -> dt.datetime:
    """The same instant as an aware UTC datetime. Stored times are UTC: SQLite hands them back naive, PostgreSQL
    aware (in the session's time zone)."""
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


#: A stored time, serialized in UTC with its offset (``2026-01-02T03:04:05.678901Z``).
UtcDateTime = Annotated[dt.datetime, AfterValidator(as_utc)]


def _iso_day(value: Any) -> Any:
    if isinstance(value, str) and not _ISO_DAY.fullmatch(value):
        raise ValueError("expected a day as YYYY-MM-DD")
    return value


_ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
#: A day written YYYY-MM-DD, as ``format: date`` says (pydantic alone also takes "0", a Unix time).
IsoDate = Annotated[dt.date, BeforeValidator(_iso_day)]


def _measurement(name: str) -> dict[str, Any]:
    low, high = penguins.NUMERIC_RANGES[name]
    return {"type": "number", "minimum": low, "maximum": high, "title": name}


def _category(name: str) -> dict[str, Any]:
    return {"type": "string", "enum": list(penguins.CATEGORICAL_FEATURES[name]), "title": name}


def _raw_column(name: str) -> dict[str, Any]:
    return _category(name) if name in penguins.CATEGORICAL_FEATURES else _measurement(name)


def _encoded_row(island: str, sex: str) -> dict[str, Any]:
    one_hot = [{"const": int(v == island)} for v in penguins.ISLANDS] + [
        {"const": int(v == sex)} for v in penguins.SEXES
    ]
    return {
        "type": "array",
        "prefixItems": [_measurement(n) for n in penguins.NUMERIC_FEATURES] + one_hot,
        "minItems": penguins.N_FEATURES,
        "maxItems": penguins.N_FEATURES,
    }


#: What :func:`modelship_common.schemas.penguins.encode_rows` accepts as one row, as JSON Schema: the API
#: documents it, the handler checks it (and says which row and value is wrong). Island and sex are also matched
#: without regard to case or surrounding spaces; the document names the canonical spellings.
PENGUINS_ROW_SCHEMA: dict[str, Any] = {
    "oneOf": [
        {
            "title": "Raw row (object)",
            "type": "object",
            "properties": {name: _raw_column(name) for name in penguins.RAW_FEATURES},
            "required": list(penguins.RAW_FEATURES),
            "additionalProperties": False,
        },
        {
            "title": "Raw row (list, island first)",
            "type": "array",
            "prefixItems": [_raw_column(name) for name in penguins.RAW_FEATURES],
            "minItems": len(penguins.RAW_FEATURES),
            "maxItems": len(penguins.RAW_FEATURES),
        },
        {
            "title": f"Encoded row ({', '.join(penguins.FEATURE_NAMES)})",
            "anyOf": [_encoded_row(island, sex) for island in penguins.ISLANDS for sex in penguins.SEXES],
        },
    ]
}

#: One row; the route validates it (``encode_rows``), the schema only documents it.
PenguinsRow = Annotated[Any, WithJsonSchema(PENGUINS_ROW_SCHEMA)]


def _some_rows(rows: list[Any]) -> list[Any]:
    if not rows:
        raise ValueError("no rows: send at least one instance")
    return rows


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

    # minItems by hand: pydantic's min_length would answer with its own words instead of the "no rows" message.
    instances: Annotated[list[PenguinsRow], AfterValidator(_some_rows)] = Field(
        json_schema_extra={"minItems": 1},
        description="Penguins rows: objects with the dataset's columns, raw lists (island first) or 9 encoded values.",
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
    created_at: UtcDateTime
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


# --------------------------------------------------------------------------------------------------- rollouts

RolloutPhase = Literal["Pending", "Shadowing", "Canary", "Promoted", "RolledBack", "Aborted"]
RolloutAction = Literal["step", "promote", "rollback", "abort"]


class GateOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    name: str = Field(description="error_rate, agreement, latency_p95, latency_p95_ms or confidence_shift.")
    value: float | None = Field(description="The measured value; null while the gate waits for samples.")
    threshold: float | None = Field(
        description="What the value is held against (latency_p95: the limit in ms the ratio and grace give)."
    )
    passed: bool | None = Field(description="true passed, false failed, null: too few samples to judge yet.")
    result: Literal["pass", "fail", "waiting"] = Field(description="passed, as a word.")
    detail: str = Field(description="For people, e.g. '0.31 > 0.02 (31 of 100 failed)' or '40 of 100 samples'.")


class AnalysisOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    source: Literal["live", "decision", "none"] = Field(
        description="live: judged now (an active rollout); decision: the evidence of the last decision (a finished "
        "one); none: not judged (Pending, or the last decision was taken without a verdict)."
    )
    status: Literal["wait", "pass", "fail"] | None = Field(description="The verdict; null without one.")
    reason: str | None = Field(description="The verdict in one line: the failing gates, what is awaited, or all pass.")
    gates: list[GateOut]
    window_start: UtcDateTime | None = Field(description="Start of the analysis window (the step's start).")
    window_end: UtcDateTime | None = Field(description="End of the analysis window.")
    samples: dict[str, int] = Field(
        description="Requests in the window: champion, candidate, and paired (the same requests scored by both)."
    )
    next_action: Literal["hold", "step", "promote", "rollback"] | None = Field(
        description="live only: what the controller does on its next pass if nothing changes."
    )
    next_reason: str | None = Field(description="live only: why.")
    decision_id: int | None = Field(description="decision only: the decision whose evidence this is.")
    decided_at: UtcDateTime | None = Field(description="decision only: when it was taken.")
    error: str | None = Field(description="Why judging live failed (the last decision's evidence is shown instead).")


class DecisionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    decided_at: UtcDateTime
    action: RolloutAction
    phase: RolloutPhase = Field(description="The rollout's phase after the decision.")
    step_index: int = Field(description="The step after the decision (0-based).")
    candidate_weight: int = Field(description="Percent of callers the candidate answers after the decision.")
    reason: str = Field(description="What triggered it, e.g. 'step 1/3 at 10 %: gate error_rate failed: ...'.")
    evidence: dict[str, Any] = Field(
        description="Window, step, sample counts, metric values, the verdict with its gates, and the thresholds."
    )


class RolloutOut(BaseModel):
    id: int
    model: str = Field(description="The registered model name.")
    strategy: Literal["Shadow", "Canary"]
    champion_version: str = Field(description="The version serving callers when the rollout started.")
    candidate_version: str = Field(description="The version under analysis.")
    phase: RolloutPhase
    active: bool = Field(description="Not finished (Pending, Shadowing or Canary).")
    step_index: int = Field(description="The step in progress (0-based).")
    steps: int = Field(description="How many steps the rollout has (1 for Shadow).")
    candidate_weight: int = Field(description="Percent of callers the candidate answers now.")
    champion_weight: int = Field(description="Percent of callers the champion answers now (100 - candidate_weight).")
    shadow_share: float = Field(description="Share of requests (0..1) mirrored to the candidate now.")
    started_at: UtcDateTime
    step_started_at: UtcDateTime = Field(description="When the step in progress began (its window starts here).")
    finished_at: UtcDateTime | None = Field(description="When it reached Promoted, RolledBack or Aborted.")
    warm_until: UtcDateTime | None = Field(description="Promoted: until when the old champion stays up.")
    candidate_url: str | None = Field(description="Where the candidate's model server answers, once it is ready.")
    spec: dict[str, Any] = Field(description="The rollout spec it runs with (camelCase, durations in seconds).")
    last_decision: DecisionOut | None = Field(description="The newest decision, if any.")
    analysis: AnalysisOut = Field(description="The gates: judged now if active, else from the last decision.")


class RolloutDetail(RolloutOut):
    decisions: list[DecisionOut] = Field(description="Every decision, oldest first (the timeline).")
