"""Rollouts and their decisions: the tables every party shares, and small sync helpers over them.

A rollout puts a candidate version next to the champion of one model (Shadow or Canary, see
:mod:`modelship_common.rollout.spec`) until it is promoted, rolled back or aborted. The gateway's scoring core
reads the active rollouts to route traffic; the operator (cluster) or the demo controller (``make demo``) judges
the candidate and moves the rollout on with :func:`record_decision`, which writes the decision with its evidence
and the new phase in ONE transaction, so a controller restarted mid-analysis resumes from the table.

Phases::

    Pending -> Shadowing | Canary (step 0) -> Canary (step n) ... -> Promoted | RolledBack | Aborted

At most one rollout per model is active (``finished_at IS NULL``), enforced by a partial unique index.
The helpers take an Engine, own their transaction and return frozen records, never live ORM objects.
Timestamps are timezone-aware UTC (SQLite hands back naive ones; the records re-attach UTC).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    JSON,
    DateTime,
    Engine,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    select,
    text,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from modelship_common.db import Base, utcnow
from modelship_common.rollout.spec import RolloutSpec, parse_rollout_spec

PHASES: tuple[str, ...] = ("Pending", "Shadowing", "Canary", "Promoted", "RolledBack", "Aborted")
ACTIVE_PHASES: tuple[str, ...] = ("Pending", "Shadowing", "Canary")
TERMINAL_PHASES: tuple[str, ...] = ("Promoted", "RolledBack", "Aborted")
#: What a decision does: ``step`` (to a step, also Pending -> the first one), ``promote``, ``rollback``, and
#: ``abort`` (stopped without a verdict, e.g. a newer candidate replaced it or a person cancelled it).
ACTIONS: tuple[str, ...] = ("step", "promote", "rollback", "abort")
_ACTIVE = text("finished_at IS NULL")


class Rollout(Base):
    """One rollout of ``candidate_version`` against ``champion_version`` of one model."""

    __tablename__ = "rollouts"
    __table_args__ = (
        # Only one active rollout per model: unique among the rows not finished (PostgreSQL and SQLite both
        # support partial indexes).
        Index("uq_rollouts_active_model", "model_name", unique=True, postgresql_where=_ACTIVE, sqlite_where=_ACTIVE),
        Index("ix_rollouts_model_name_started_at", "model_name", "started_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    model_name: Mapped[str] = mapped_column(String(128))
    champion_version: Mapped[str] = mapped_column(String(32))
    candidate_version: Mapped[str] = mapped_column(String(32))
    #: ``Shadow`` | ``Canary``.
    strategy: Mapped[str] = mapped_column(String(16))
    #: One of :data:`PHASES`.
    phase: Mapped[str] = mapped_column(String(16))
    #: Index into the spec's steps (:attr:`RolloutSpec.steps`) of the step in progress.
    step_index: Mapped[int] = mapped_column(Integer, default=0)
    #: Percent of callers the candidate answers now (0 while Pending or Shadowing, 100 once Promoted).
    candidate_weight: Mapped[int] = mapped_column(Integer, default=0)
    #: Share of requests (0..1) mirrored to the candidate now (Shadowing only).
    shadow_share: Mapped[float] = mapped_column(Float, default=0.0)
    started_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    #: When the step in progress began: the analysis window starts here.
    step_started_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    #: Set when the rollout reaches a terminal phase; NULL while it is active.
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    #: The rollout spec it runs with (:meth:`RolloutSpec.to_dict`), frozen at start.
    spec: Mapped[Any] = mapped_column(JSON)
    #: Where the candidate's model server answers (set once it is ready; the gateway routes to it).
    candidate_url: Mapped[str | None] = mapped_column(String(512), nullable=True, default=None)


class RolloutDecision(Base):
    """One decision taken on a rollout, with what triggered it and the evidence it was judged on."""

    __tablename__ = "rollout_decisions"
    __table_args__ = (Index("ix_rollout_decisions_rollout_id", "rollout_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    rollout_id: Mapped[int] = mapped_column(ForeignKey("rollouts.id", ondelete="CASCADE"))
    decided_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    #: One of :data:`ACTIONS`.
    action: Mapped[str] = mapped_column(String(16))
    #: The rollout's phase, step and candidate weight after the decision.
    phase: Mapped[str] = mapped_column(String(16))
    step_index: Mapped[int] = mapped_column(Integer)
    candidate_weight: Mapped[int] = mapped_column(Integer)
    #: Human-readable trigger, e.g. ``gate error_rate failed: 0.31 > 0.02`` or ``manual: modelship rollback``.
    reason: Mapped[str] = mapped_column(Text)
    #: Window start/end, sample counts, metric values, thresholds (JSON object).
    evidence: Mapped[Any] = mapped_column(JSON, default=dict)


class RolloutError(RuntimeError):
    """Base of the rollout helpers' errors."""


class RolloutExists(RolloutError):
    """The model already has an active rollout."""


class RolloutConflict(RolloutError):
    """The rollout is finished, or moved on since it was read; read it again and re-decide."""


def _utc(value: dt.datetime | None) -> dt.datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def _now(now: dt.datetime | None) -> dt.datetime:
    if now is None:
        return utcnow()
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware (UTC)")
    return now.astimezone(dt.UTC)


@dataclass(frozen=True)
class RolloutRecord:
    """A ``rollouts`` row as plain data (safe to keep, share between threads and pass to pure functions)."""

    id: int
    model_name: str
    champion_version: str
    candidate_version: str
    strategy: str
    phase: str
    step_index: int
    candidate_weight: int
    shadow_share: float
    started_at: dt.datetime
    step_started_at: dt.datetime
    finished_at: dt.datetime | None
    spec: dict[str, Any]
    candidate_url: str | None = None

    @classmethod
    def from_row(cls, row: Rollout) -> RolloutRecord:
        return cls(
            id=row.id,
            model_name=row.model_name,
            champion_version=row.champion_version,
            candidate_version=row.candidate_version,
            strategy=row.strategy,
            phase=row.phase,
            step_index=row.step_index,
            candidate_weight=row.candidate_weight,
            shadow_share=row.shadow_share,
            started_at=_utc(row.started_at),  # type: ignore[arg-type]
            step_started_at=_utc(row.step_started_at),  # type: ignore[arg-type]
            finished_at=_utc(row.finished_at),
            spec=dict(row.spec or {}),
            candidate_url=row.candidate_url,
        )

    @property
    def active(self) -> bool:
        return self.finished_at is None

    @property
    def rollout_spec(self) -> RolloutSpec:
        """The spec the rollout runs with, parsed."""
        return parse_rollout_spec(self.spec, where=f"rollouts[{self.id}].spec")

    @property
    def warm_until(self) -> dt.datetime | None:
        """Promoted: until when the old champion's model server stays up (then it may be removed)."""
        if self.phase != "Promoted" or self.finished_at is None:
            return None
        return self.finished_at + dt.timedelta(seconds=self.rollout_spec.warm_duration_s)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (ISO timestamps), for the API, the CLI's ``--json`` and Kubernetes status."""
        out = {k: getattr(self, k) for k in self.__dataclass_fields__}
        for key in ("started_at", "step_started_at", "finished_at"):
            out[key] = out[key].isoformat() if out[key] else None
        return out


@dataclass(frozen=True)
class DecisionRecord:
    """A ``rollout_decisions`` row as plain data."""

    id: int
    rollout_id: int
    decided_at: dt.datetime
    action: str
    phase: str
    step_index: int
    candidate_weight: int
    reason: str
    evidence: dict[str, Any]

    @classmethod
    def from_row(cls, row: RolloutDecision) -> DecisionRecord:
        return cls(
            id=row.id,
            rollout_id=row.rollout_id,
            decided_at=_utc(row.decided_at),  # type: ignore[arg-type]
            action=row.action,
            phase=row.phase,
            step_index=row.step_index,
            candidate_weight=row.candidate_weight,
            reason=row.reason,
            evidence=dict(row.evidence or {}),
        )

    def to_dict(self) -> dict[str, Any]:
        out = {k: getattr(self, k) for k in self.__dataclass_fields__}
        out["decided_at"] = self.decided_at.isoformat()
        return out


def _step_values(spec: RolloutSpec, step_index: int) -> dict[str, Any]:
    """Phase, weight and shadow share of step ``step_index`` of ``spec``."""
    steps = spec.steps
    if not 0 <= step_index < len(steps):
        raise ValueError(f"step {step_index} does not exist; the {spec.strategy} rollout has {len(steps)} step(s)")
    if spec.strategy == "Shadow":
        return {
            "phase": "Shadowing",
            "step_index": step_index,
            "candidate_weight": 0,
            "shadow_share": spec.shadow_share,
        }
    return {
        "phase": "Canary",
        "step_index": step_index,
        "candidate_weight": steps[step_index].weight,
        "shadow_share": 0.0,
    }


def start_rollout(
    engine: Engine,
    *,
    model_name: str,
    champion_version: str,
    candidate_version: str,
    spec: RolloutSpec,
    pending: bool = False,
    now: dt.datetime | None = None,
) -> RolloutRecord:
    """Start a rollout of ``candidate_version`` against ``champion_version``; the new row as a record.

    It starts in its first step (Shadowing, or Canary at the first weight), or ``Pending`` (no traffic) with
    ``pending=True`` while the candidate's model server is not ready yet; a ``step`` decision to step 0 starts it.
    Raises :class:`RolloutExists` if the model has an active rollout, ValueError for a Rolling spec.
    """
    if not spec.analysed:
        raise ValueError(f"a {spec.strategy} spec has no rollout to start (use Shadow or Canary)")
    if str(candidate_version) == str(champion_version):
        raise ValueError(f"candidate and champion are the same version ({candidate_version})")
    at = _now(now)
    values = (
        {"phase": "Pending", "step_index": 0, "candidate_weight": 0, "shadow_share": 0.0}
        if pending
        else _step_values(spec, 0)
    )
    row = Rollout(
        model_name=model_name,
        champion_version=str(champion_version),
        candidate_version=str(candidate_version),
        strategy=spec.strategy,
        started_at=at,
        step_started_at=at,
        finished_at=None,
        spec=spec.to_dict(),
        **values,
    )
    try:
        with Session(engine, expire_on_commit=False) as session, session.begin():
            session.add(row)
    except IntegrityError as exc:
        current = active_rollout(engine, model_name)
        if current is None:
            raise
        raise RolloutExists(
            f"{model_name} already has an active rollout (id {current.id}: version {current.candidate_version} "
            f"against {current.champion_version}, {current.phase})"
        ) from exc
    return RolloutRecord.from_row(row)


def active_rollouts(engine: Engine) -> list[RolloutRecord]:
    """Every active rollout (what the gateway routes by), oldest first."""
    with Session(engine) as session:
        rows = session.scalars(select(Rollout).where(Rollout.finished_at.is_(None)).order_by(Rollout.id)).all()
        return [RolloutRecord.from_row(r) for r in rows]


def routing_rollouts(engine: Engine, now: dt.datetime | None = None) -> list[RolloutRecord]:
    """What the gateway routes by: every active rollout, and every promoted one still in its warm window whose
    candidate has a URL (the main model server keeps the old champion until the window ends, so callers go to the
    candidate's), oldest first."""
    now = _now(now)
    with Session(engine) as session:
        rows = session.scalars(
            select(Rollout)
            .where(
                (Rollout.finished_at.is_(None)) | ((Rollout.phase == "Promoted") & Rollout.candidate_url.is_not(None))
            )
            .order_by(Rollout.id)
        ).all()
        records = [RolloutRecord.from_row(r) for r in rows]
    return [r for r in records if r.active or (r.warm_until is not None and r.warm_until > now)]


def set_candidate_url(engine: Engine, rollout_id: int, url: str | None) -> None:
    """Record where the rollout's candidate model server answers (None: it is gone)."""
    with engine.begin() as conn:
        conn.execute(update(Rollout).where(Rollout.id == rollout_id).values(candidate_url=url))


def active_rollout(engine: Engine, model_name: str) -> RolloutRecord | None:
    """The model's active rollout, if any."""
    with Session(engine) as session:
        row = session.scalars(
            select(Rollout).where(Rollout.model_name == model_name, Rollout.finished_at.is_(None))
        ).first()
        return RolloutRecord.from_row(row) if row else None


def get_rollout(engine: Engine, rollout_id: int) -> RolloutRecord | None:
    with Session(engine) as session:
        row = session.get(Rollout, rollout_id)
        return RolloutRecord.from_row(row) if row else None


def rollout_history(engine: Engine, model_name: str | None = None, limit: int = 50) -> list[RolloutRecord]:
    """Rollouts newest first, of one model or of all."""
    query = select(Rollout).order_by(Rollout.started_at.desc(), Rollout.id.desc()).limit(limit)
    if model_name is not None:
        query = query.where(Rollout.model_name == model_name)
    with Session(engine) as session:
        return [RolloutRecord.from_row(r) for r in session.scalars(query).all()]


def list_decisions(engine: Engine, rollout_id: int) -> list[DecisionRecord]:
    """The rollout's decisions, oldest first (its timeline)."""
    query = (
        select(RolloutDecision)
        .where(RolloutDecision.rollout_id == rollout_id)
        .order_by(RolloutDecision.decided_at, RolloutDecision.id)
    )
    with Session(engine) as session:
        return [DecisionRecord.from_row(r) for r in session.scalars(query).all()]


def record_decision(
    engine: Engine,
    rollout: RolloutRecord,
    action: str,
    *,
    reason: str,
    evidence: dict[str, Any] | None = None,
    step_index: int | None = None,
    now: dt.datetime | None = None,
) -> tuple[RolloutRecord, DecisionRecord]:
    """Apply ``action`` to ``rollout`` and record it, in one transaction; the updated rollout and the decision.

    - ``step``: to ``step_index`` (its weight and shadow share; the analysis window restarts now);
    - ``promote``: Promoted, weight 100, finished (the old champion stays warm for the spec's warmDuration);
    - ``rollback``: RolledBack, weight 0, finished; ``abort``: Aborted, weight 0, finished.

    ``rollout`` is the state the decision was judged on: if the row moved on since (another controller, a
    person with the CLI) or is finished, nothing is written and :class:`RolloutConflict` is raised.
    """
    if action not in ACTIONS:
        raise ValueError(f"unknown rollout action {action!r}; use one of {', '.join(ACTIONS)}")
    at = _now(now)
    if action == "step":
        if step_index is None:
            raise ValueError("a step decision needs the step_index to move to")
        values: dict[str, Any] = {**_step_values(rollout.rollout_spec, step_index), "step_started_at": at}
    elif action == "promote":
        values = {"phase": "Promoted", "candidate_weight": 100, "shadow_share": 0.0, "finished_at": at}
    else:
        phase = "RolledBack" if action == "rollback" else "Aborted"
        values = {"phase": phase, "candidate_weight": 0, "shadow_share": 0.0, "finished_at": at}
    with Session(engine, expire_on_commit=False) as session, session.begin():
        result = session.execute(
            update(Rollout)
            .where(
                Rollout.id == rollout.id,
                Rollout.phase == rollout.phase,
                Rollout.step_index == rollout.step_index,
                Rollout.finished_at.is_(None),
            )
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            current = session.get(Rollout, rollout.id)
            state = f"now {current.phase}, step {current.step_index}" if current else "it does not exist"
            raise RolloutConflict(
                f"rollout {rollout.id} of {rollout.model_name} is not {rollout.phase} at step {rollout.step_index} "
                f"any more ({state}); read it again"
            )
        row = session.get(Rollout, rollout.id, populate_existing=True)
        assert row is not None
        decision = RolloutDecision(
            rollout_id=rollout.id,
            decided_at=at,
            action=action,
            phase=row.phase,
            step_index=row.step_index,
            candidate_weight=row.candidate_weight,
            reason=reason,
            evidence=evidence or {},
        )
        session.add(decision)
    return RolloutRecord.from_row(row), DecisionRecord.from_row(decision)
