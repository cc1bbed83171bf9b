"""Rollout records and window stats for the rollout tests, built without a database; and the predictions rows a
rollout's traffic leaves, fed into one."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import replace
from typing import Any

from modelship_common.predictions import insert_predictions
from modelship_common.rollout.spec import RolloutSpec, parse_rollout_spec
from modelship_common.rollout.stats import ArmStats, WindowStats
from modelship_common.rollout.tables import RolloutRecord

T0 = dt.datetime(2026, 11, 29, 12, 0, tzinfo=dt.UTC)
CANARY = parse_rollout_spec(
    {"strategy": "Canary", "canary": {"minRequests": 200, "minDuration": "60s"}, "analysis": {"minSamples": 100}}
)
SHADOW = parse_rollout_spec({"strategy": "Shadow", "shadow": {"share": 0.5, "minRequests": 200, "minDuration": 60}})


def record(spec: RolloutSpec = CANARY, **kw) -> RolloutRecord:
    steps = spec.steps
    base = dict(
        id=7,
        model_name="penguins",
        champion_version="3",
        candidate_version="4",
        strategy=spec.strategy,
        phase="Canary" if spec.strategy == "Canary" else "Shadowing",
        step_index=0,
        candidate_weight=steps[0].weight,
        shadow_share=spec.shadow_share if spec.strategy == "Shadow" else 0.0,
        started_at=T0,
        step_started_at=T0,
        finished_at=None,
        spec=spec.to_dict(),
    )
    rec = RolloutRecord(**(base | kw))
    if "step_index" in kw and "candidate_weight" not in kw and spec.strategy == "Canary":
        rec = replace(rec, candidate_weight=steps[kw["step_index"]].weight)
    return rec


def window(
    *,
    n: int = 300,
    errors: int = 0,
    agree: float = 0.98,
    cand_p95: float = 12.0,
    champ_p95: float = 10.0,
    cand_conf: float = 0.9,
    champ_conf: float = 0.92,
    champ_n: int | None = None,
) -> WindowStats:
    champ_n = n if champ_n is None else champ_n
    answers = n - errors
    paired = min(answers, champ_n)
    return WindowStats(
        model_name="penguins",
        window_start=T0,
        window_end=T0 + dt.timedelta(minutes=2),
        champion=ArmStats(
            "3", requests=champ_n, errors=0, scored=champ_n, p95_latency_ms=champ_p95, mean_confidence=champ_conf
        ),
        candidate=ArmStats(
            "4",
            requests=n,
            errors=errors,
            scored=answers,
            p95_latency_ms=cand_p95 if answers else None,
            mean_confidence=cand_conf if answers else None,
        ),
        paired=paired,
        agreed=round(paired * agree),
    )


PENGUINS = ("Adelie", "Chinstrap", "Gentoo")


def feed(engine: Any, rollout: RolloutRecord, n: int, *, bad: bool = False) -> None:
    """``n`` requests scored by both of ``rollout``'s versions in its current step, as the gateway stores them (the
    candidate answers, with a copy to the champion); a bad candidate fails a third of them and disagrees on the rest."""
    rows = []
    for i in range(n):
        rid = f"r-{uuid.uuid4().hex}"
        truth = PENGUINS[i % 3]
        for version in (rollout.champion_version, rollout.candidate_version):
            wrong = bad and version == rollout.candidate_version
            error = "HTTP 503" if wrong and i % 3 == 0 else None
            cls = PENGUINS[(i + 1) % 3] if wrong else truth
            rows.append(
                {
                    "request_id": rid,
                    "model_name": rollout.model_name,
                    "model_version": version,
                    "created_at": rollout.step_started_at + dt.timedelta(milliseconds=1 + i),
                    "source": "api",
                    "n_instances": 1,
                    "predicted_class": None if error else cls,
                    "confidence": None if error else (0.5 if wrong else 0.9),
                    "latency_ms": 5.0,
                    "input": {},
                    "output": None if error else {"predictions": [{"class_name": cls}]},
                    "error": error,
                }
            )
    with engine.begin() as conn:
        insert_predictions(conn, rows)
