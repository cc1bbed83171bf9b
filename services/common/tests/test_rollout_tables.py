"""The rollouts tables and helpers against SQLite and a REAL PostgreSQL (devtools' session server)."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import inspect
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from modelship_common import db
from modelship_common.rollout import tables as ro
from modelship_common.rollout.spec import parse_rollout_spec

T0 = dt.datetime(2026, 11, 29, 12, 0, tzinfo=dt.UTC)
CANARY = parse_rollout_spec({"strategy": "Canary", "canary": {"steps": [{"weight": 10}, {"weight": 50}]}})
SHADOW = parse_rollout_spec({"strategy": "Shadow", "shadow": {"share": 0.5}})


def test_migration_0003_matches_the_models(engine) -> None:
    insp = inspect(engine)
    for model in (ro.Rollout, ro.RolloutDecision, db.Prediction):
        columns = {c["name"] for c in insp.get_columns(model.__tablename__)}
        assert columns == set(model.__table__.columns.keys()), model.__tablename__
        indexes = {i["name"] for i in insp.get_indexes(model.__tablename__)}
        assert {i.name for i in model.__table__.indexes} <= indexes, model.__tablename__
    (active,) = [i for i in insp.get_indexes("rollouts") if i["name"] == "uq_rollouts_active_model"]
    assert active["unique"]


def _start(engine, spec=CANARY, model="penguins", **kw) -> ro.RolloutRecord:
    return ro.start_rollout(
        engine, model_name=model, champion_version="3", candidate_version="4", spec=spec, now=T0, **kw
    )


def test_start_canary_and_shadow(engine) -> None:
    canary = _start(engine)
    assert (canary.phase, canary.step_index, canary.candidate_weight, canary.shadow_share) == ("Canary", 0, 10, 0.0)
    assert canary.started_at == T0 and canary.step_started_at == T0 and canary.active
    assert canary.rollout_spec == CANARY
    shadow = _start(engine, SHADOW, model="digits")
    assert (shadow.phase, shadow.candidate_weight, shadow.shadow_share) == ("Shadowing", 0, 0.5)
    assert [r.model_name for r in ro.active_rollouts(engine)] == ["penguins", "digits"]
    got = ro.active_rollout(engine, "digits")
    assert got == shadow and got.started_at.tzinfo is not None
    assert ro.active_rollout(engine, "other") is None


def test_only_one_active_rollout_per_model(engine) -> None:
    first = _start(engine)
    with pytest.raises(ro.RolloutExists, match="already has an active rollout"):
        _start(engine)
    # The index itself refuses a second active row, whoever writes it.
    with Session(engine) as session, pytest.raises(IntegrityError):
        session.add(
            ro.Rollout(
                model_name="penguins",
                champion_version="3",
                candidate_version="5",
                strategy="Canary",
                phase="Canary",
                step_index=0,
                candidate_weight=10,
                shadow_share=0.0,
                started_at=T0,
                step_started_at=T0,
                spec={},
            )
        )
        session.commit()
    # Once the first is finished, a new one may start.
    ro.record_decision(engine, first, "rollback", reason="bad", now=T0 + dt.timedelta(minutes=1))
    second = _start(engine)
    assert second.id != first.id and [r.id for r in ro.active_rollouts(engine)] == [second.id]
    assert [r.id for r in ro.rollout_history(engine, "penguins")] == [second.id, first.id]


def test_start_refuses_rolling_and_same_version(engine) -> None:
    with pytest.raises(ValueError, match="Rolling spec"):
        _start(engine, parse_rollout_spec(None))
    with pytest.raises(ValueError, match="same version"):
        ro.start_rollout(engine, model_name="m", champion_version="3", candidate_version="3", spec=CANARY)
    with pytest.raises(ValueError, match="timezone-aware"):
        ro.start_rollout(
            engine,
            model_name="m",
            champion_version="3",
            candidate_version="4",
            spec=CANARY,
            now=dt.datetime(2026, 1, 1),
        )


def test_decisions_move_the_phase_and_survive_a_restart(url, engine) -> None:
    rollout = _start(engine, pending=True)
    assert (rollout.phase, rollout.candidate_weight) == ("Pending", 0)
    t1, t2, t3 = (T0 + dt.timedelta(minutes=m) for m in (1, 2, 3))
    rollout, d1 = ro.record_decision(engine, rollout, "step", step_index=0, reason="candidate ready", now=t1)
    assert (rollout.phase, rollout.step_index, rollout.candidate_weight, rollout.step_started_at) == (
        "Canary",
        0,
        10,
        t1,
    )
    evidence = {"window": {"start": t1.isoformat(), "end": t2.isoformat()}, "candidate": {"requests": 250}}
    rollout, d2 = ro.record_decision(
        engine, rollout, "step", step_index=1, reason="gates passed", evidence=evidence, now=t2
    )
    assert (rollout.phase, rollout.step_index, rollout.candidate_weight) == ("Canary", 1, 50)
    assert d2.evidence == evidence and d2.decided_at == t2 and d2.candidate_weight == 50

    # A "restarted controller": a new engine reads the same state back.
    engine.dispose()
    fresh = db.make_engine(url)
    try:
        resumed = ro.active_rollout(fresh, "penguins")
        assert resumed == rollout
        assert [d.action for d in ro.list_decisions(fresh, resumed.id)] == ["step", "step"]
        promoted, d3 = ro.record_decision(fresh, resumed, "promote", reason="all steps passed", now=t3)
        assert (promoted.phase, promoted.candidate_weight, promoted.finished_at) == ("Promoted", 100, t3)
        assert promoted.warm_until == t3 + dt.timedelta(seconds=CANARY.warm_duration_s)
        assert ro.active_rollouts(fresh) == []
        timeline = ro.list_decisions(fresh, promoted.id)
        assert [(d.action, d.phase, d.step_index) for d in timeline] == [
            ("step", "Canary", 0),
            ("step", "Canary", 1),
            ("promote", "Promoted", 1),
        ]
        assert timeline[-1].to_dict()["decided_at"] == t3.isoformat()
        assert promoted.to_dict()["finished_at"] == t3.isoformat()
        assert d1.id < d2.id < d3.id
    finally:
        fresh.dispose()


def test_a_stale_or_finished_rollout_is_not_decided_twice(engine) -> None:
    read = _start(engine)
    moved, _ = ro.record_decision(engine, read, "step", step_index=1, reason="passed", now=T0)
    # A second controller still holding the old state: nothing is written.
    with pytest.raises(ro.RolloutConflict, match="now Canary, step 1"):
        ro.record_decision(engine, read, "rollback", reason="stale", now=T0)
    done, _ = ro.record_decision(engine, moved, "abort", reason="manual: cancelled", now=T0)
    assert done.phase == "Aborted" and done.candidate_weight == 0
    with pytest.raises(ro.RolloutConflict):
        ro.record_decision(engine, done, "promote", reason="too late", now=T0)
    assert [d.action for d in ro.list_decisions(engine, read.id)] == ["step", "abort"]


def test_bad_decisions_are_refused(engine) -> None:
    rollout = _start(engine)
    with pytest.raises(ValueError, match="unknown rollout action"):
        ro.record_decision(engine, rollout, "jump", reason="?")
    with pytest.raises(ValueError, match="step_index"):
        ro.record_decision(engine, rollout, "step", reason="?")
    with pytest.raises(ValueError, match="step 2 does not exist"):
        ro.record_decision(engine, rollout, "step", step_index=2, reason="?")
    assert ro.list_decisions(engine, rollout.id) == []
    assert ro.get_rollout(engine, rollout.id) == rollout


def test_prediction_error_column(engine) -> None:
    with Session(engine) as session:
        session.add(
            db.Prediction(
                request_id="r1",
                model_name="penguins",
                model_version="4",
                latency_ms=30000.0,
                input={},
                output=None,
                error="timeout after 30 s",
            )
        )
        session.commit()
        (row,) = session.query(db.Prediction).all()
        assert row.error == "timeout after 30 s" and row.predicted_class is None
