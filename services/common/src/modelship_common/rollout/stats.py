"""What the analysis judges: one model's champion and candidate over a time window, read from ``predictions``.

One query per side plus one for the agreement and one for each p95, all plain SQL that SQLite and PostgreSQL
both run (the p95 is the nearest-rank value, found with ORDER BY ... OFFSET, since SQLite has no percentile).
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import Connection, Engine, and_, case, func, select
from sqlalchemy.orm import aliased

from modelship_common.db import Prediction
from modelship_common.rollout.tables import RolloutRecord


@dataclass(frozen=True)
class ArmStats:
    """One version's rows in the window."""

    version: str
    #: Rows: answers and errors.
    requests: int = 0
    #: Rows with an error instead of an answer.
    errors: int = 0
    #: Rows with a confidence (single-instance answers).
    scored: int = 0
    #: Nearest-rank p95 of the answers' latency; None without answers.
    p95_latency_ms: float | None = None
    #: Mean confidence of the answers that have one; None without.
    mean_confidence: float | None = None

    @property
    def answers(self) -> int:
        return self.requests - self.errors

    @property
    def error_rate(self) -> float | None:
        return self.errors / self.requests if self.requests else None


@dataclass(frozen=True)
class WindowStats:
    """Champion against candidate over [window_start, window_end)."""

    model_name: str
    window_start: dt.datetime
    window_end: dt.datetime
    champion: ArmStats
    candidate: ArmStats
    #: Requests both answered with a single class (same request id).
    paired: int = 0
    #: Of those, the ones where the candidate's class is the champion's.
    agreed: int = 0

    @property
    def agreement(self) -> float | None:
        return self.agreed / self.paired if self.paired else None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, the evidence's measurements."""
        arms = {}
        for side in ("champion", "candidate"):
            arm: ArmStats = getattr(self, side)
            arms[side] = {**asdict(arm), "answers": arm.answers, "error_rate": arm.error_rate}
        return {
            "model": self.model_name,
            "window": {"start": self.window_start.isoformat(), "end": self.window_end.isoformat()},
            **arms,
            "paired": self.paired,
            "agreed": self.agreed,
            "agreement": self.agreement,
        }


def _p95(conn: Connection, where: Any, answers: int) -> float | None:
    if answers <= 0:
        return None
    offset = math.ceil(0.95 * answers) - 1
    query = select(Prediction.latency_ms).where(where).order_by(Prediction.latency_ms).limit(1).offset(offset)
    value = conn.execute(query).scalar()
    return float(value) if value is not None else None


def gather_stats(
    conn: Connection,
    *,
    model_name: str,
    champion_version: str,
    candidate_version: str,
    start: dt.datetime,
    end: dt.datetime,
) -> WindowStats:
    """Both versions' counts, errors, p95 latency, mean confidence and agreement over [start, end)."""
    in_window = and_(
        Prediction.model_name == model_name,
        Prediction.created_at >= start,
        Prediction.created_at < end,
    )
    rows = conn.execute(
        select(
            Prediction.model_version,
            func.count(),
            func.count(Prediction.error),
            func.count(Prediction.confidence),
            func.avg(Prediction.confidence),
        )
        .where(in_window, Prediction.model_version.in_([champion_version, candidate_version]))
        .group_by(Prediction.model_version)
    ).all()
    by_version = {row[0]: row for row in rows}
    arms: dict[str, ArmStats] = {}
    for version in (champion_version, candidate_version):
        row = by_version.get(version)
        if row is None:
            arms[version] = ArmStats(version=version)
            continue
        requests, errors, scored, mean = int(row[1]), int(row[2]), int(row[3]), row[4]
        answered = and_(in_window, Prediction.model_version == version, Prediction.error.is_(None))
        arms[version] = ArmStats(
            version=version,
            requests=requests,
            errors=errors,
            scored=scored,
            p95_latency_ms=_p95(conn, answered, requests - errors),
            mean_confidence=float(mean) if mean is not None else None,
        )

    cand, champ = aliased(Prediction), aliased(Prediction)
    pairs = conn.execute(
        select(
            func.count(),
            func.coalesce(func.sum(case((cand.predicted_class == champ.predicted_class, 1), else_=0)), 0),
        )
        .select_from(cand)
        .join(
            champ,
            and_(
                champ.request_id == cand.request_id,
                champ.model_name == cand.model_name,
                champ.model_version == champion_version,
            ),
        )
        .where(
            cand.model_name == model_name,
            cand.model_version == candidate_version,
            cand.created_at >= start,
            cand.created_at < end,
            cand.error.is_(None),
            champ.error.is_(None),
            cand.predicted_class.is_not(None),
            champ.predicted_class.is_not(None),
        )
    ).one()
    return WindowStats(
        model_name=model_name,
        window_start=start,
        window_end=end,
        champion=arms[champion_version],
        candidate=arms[candidate_version],
        paired=int(pairs[0]),
        agreed=int(pairs[1]),
    )


def rollout_stats(engine: Engine, rollout: RolloutRecord, now: dt.datetime) -> WindowStats:
    """:func:`gather_stats` for the rollout's current step: from ``step_started_at`` to ``now``."""
    with engine.connect() as conn:
        return gather_stats(
            conn,
            model_name=rollout.model_name,
            champion_version=rollout.champion_version,
            candidate_version=rollout.candidate_version,
            start=rollout.step_started_at,
            end=now,
        )
