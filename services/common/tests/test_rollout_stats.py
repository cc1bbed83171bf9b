"""The analysis query and the decision loop against real rows, in SQLite and a REAL PostgreSQL."""

from __future__ import annotations

import datetime as dt
import random

import pytest

from modelship_common import db
from modelship_common.predictions import insert_predictions
from modelship_common.rollout import tables as ro
from modelship_common.rollout.controller import decide, evaluate, tick
from modelship_common.rollout.spec import parse_rollout_spec
from modelship_common.rollout.stats import gather_stats

T0 = dt.datetime(2026, 11, 29, 12, 0, tzinfo=dt.UTC)
CLASSES = ("Adelie", "Chinstrap", "Gentoo")


def _row(rid: str, version: str, at: dt.datetime, *, cls: str | None = "Adelie", conf=0.9, ms=10.0, error=None):
    return {
        "request_id": rid,
        "model_name": "penguins",
        "model_version": version,
        "created_at": at,
        "source": "api",
        "n_instances": 1,
        "predicted_class": None if error else cls,
        "confidence": None if error else conf,
        "latency_ms": ms,
        "input": {},
        "output": None if error else {"predictions": [{"class_name": cls}]},
        "error": error,
    }


def _store(engine, rows) -> None:
    with engine.begin() as conn:
        assert insert_predictions(conn, rows) == len(rows)


def test_gather_stats_counts_errors_p95_confidence_and_agreement(engine) -> None:
    rows = []
    for i in range(20):
        at = T0 + dt.timedelta(seconds=i)
        rows.append(_row(f"r{i}", "3", at, cls=CLASSES[i % 3], conf=0.8, ms=float(i + 1)))  # champion: 1..20 ms
        if i < 10:  # candidate scored r0..r9: r0..r7 agree, r8 disagrees, r9 failed
            if i == 9:
                rows.append(_row(f"r{i}", "4", at, error="HTTP 500", ms=3.0))
            else:
                cls = CLASSES[i % 3] if i < 8 else "Gentoo" if CLASSES[i % 3] != "Gentoo" else "Adelie"
                rows.append(_row(f"r{i}", "4", at, cls=cls, conf=0.6, ms=100.0 + i))
    rows.append(_row("old", "4", T0 - dt.timedelta(seconds=1), ms=9999.0))  # before the window
    rows.append(_row("late", "4", T0 + dt.timedelta(seconds=60), ms=9999.0))  # at the (exclusive) end
    rows.append(_row("r0", "5", T0, ms=1.0))  # another version: not counted
    other = _row("r1", "4", T0)
    other["model_name"] = "digits"  # another model: not counted
    rows.append(other)
    _store(engine, rows)

    with engine.connect() as conn:
        stats = gather_stats(
            conn,
            model_name="penguins",
            champion_version="3",
            candidate_version="4",
            start=T0,
            end=T0 + dt.timedelta(seconds=60),
        )
    champ, cand = stats.champion, stats.candidate
    assert (champ.requests, champ.errors, champ.scored) == (20, 0, 20)
    assert champ.p95_latency_ms == 19.0  # nearest rank: ceil(0.95 * 20) = the 19th of 1..20
    assert champ.mean_confidence == pytest.approx(0.8)
    assert (cand.requests, cand.errors, cand.answers, cand.error_rate) == (10, 1, 9, 0.1)
    assert cand.p95_latency_ms == 108.0  # answers 100..108 ms, the failed one left out
    assert cand.mean_confidence == pytest.approx(0.6)
    assert (stats.paired, stats.agreed, stats.agreement) == (9, 8, pytest.approx(8 / 9))
    assert stats.to_dict()["candidate"]["error_rate"] == 0.1


def test_gather_stats_of_an_empty_window(engine) -> None:
    with engine.connect() as conn:
        stats = gather_stats(conn, model_name="penguins", champion_version="3", candidate_version="4", start=T0, end=T0)
    assert stats.candidate.requests == 0 and stats.candidate.p95_latency_ms is None
    assert stats.champion.mean_confidence is None and stats.agreement is None


def _versions(rollout, i: int) -> tuple[str, ...]:
    """Who scores request ``i``, as the gateway's router splits (modelship_scoring.rollout.traffic, not imported
    here: common depends on nothing else): Shadowing, the champion and every copy to the candidate; Canary, the
    candidate answers ``candidate_weight`` of 100 requests with a copy to the champion, else the champion alone."""
    if rollout.phase == "Shadowing" or (rollout.phase == "Canary" and i % 100 < rollout.candidate_weight):
        return (rollout.champion_version, rollout.candidate_version)
    return (rollout.champion_version,)


def _traffic(engine, rollout, start: dt.datetime, n: int, *, bad: bool, rng: random.Random) -> dt.datetime:
    """``n`` requests routed as the gateway would; both answers stored. Returns the time after the last one."""
    rows = []
    at = start
    for i in range(n):
        at = start + dt.timedelta(milliseconds=200 * i)
        rid = f"{rollout.id}-{start.timestamp()}-{i}"
        truth = CLASSES[rng.randrange(3)]
        for version in _versions(rollout, i):
            if version == rollout.candidate_version and bad:
                if rng.random() < 0.1:
                    rows.append(_row(rid, version, at, error="HTTP 503"))
                else:  # trained on shuffled labels
                    rows.append(_row(rid, version, at, cls=CLASSES[rng.randrange(3)], conf=0.4))
            else:
                rows.append(_row(rid, version, at, cls=truth, conf=0.9, ms=8.0 + rng.random()))
    _store(engine, rows)
    return at + dt.timedelta(milliseconds=200)


SPEC = parse_rollout_spec(
    {
        "strategy": "Canary",
        "canary": {"steps": [{"weight": 10}, {"weight": 50}, {"weight": 100}], "minRequests": 30, "minDuration": "10s"},
        "analysis": {"minSamples": 30},
    }
)


def test_a_good_candidate_is_promoted_after_all_steps_and_a_restart_resumes(url, engine) -> None:
    rng = random.Random(1)
    rollout = ro.start_rollout(
        engine, model_name="penguins", champion_version="3", candidate_version="4", spec=SPEC, pending=True, now=T0
    )
    (outcome,) = tick(engine, T0, pending_ready=frozenset())
    assert outcome.action.kind == "hold" and outcome.decision is None
    assert tick(engine, T0, models=("digits",)) == []  # another model's pass leaves this rollout alone
    (outcome,) = tick(engine, T0, pending_ready=frozenset({"penguins"}))
    assert outcome.action.kind == "step" and outcome.rollout.phase == "Canary"
    rollout, now = outcome.rollout, T0
    seen = []
    for _ in range(20):
        now = _traffic(engine, rollout, now, 600 if rollout.candidate_weight == 10 else 150, bad=False, rng=rng)
        # Each pass by a fresh engine, as a restarted controller would: the state is all in the table.
        fresh = db.make_engine(url)
        try:
            (outcome,) = tick(fresh, now) or [None]
        finally:
            fresh.dispose()
        seen.append(outcome.action.kind)
        if outcome.action.kind == "promote":
            break
        rollout = outcome.rollout
    assert outcome.rollout.phase == "Promoted", seen
    assert seen.count("step") == 2 and "rollback" not in seen
    timeline = ro.list_decisions(engine, outcome.rollout.id)
    assert [(d.action, d.candidate_weight) for d in timeline] == [
        ("step", 10),
        ("step", 50),
        ("step", 100),
        ("promote", 100),
    ]
    last = timeline[-1].evidence
    assert last["stats"]["candidate"]["requests"] >= 30 and last["verdict"]["status"] == "pass"
    assert last["stats"]["agreement"] == 1.0
    assert ro.active_rollouts(engine) == []


def test_a_bad_candidate_is_rolled_back_naming_the_gate(engine) -> None:
    rng = random.Random(2)
    rollout = ro.start_rollout(
        engine, model_name="penguins", champion_version="3", candidate_version="4", spec=SPEC, now=T0
    )
    now = _traffic(engine, rollout, T0, 100, bad=True, rng=rng)  # ~10 candidate requests: too few to judge
    action, verdict = evaluate(engine, rollout, now)
    assert action.kind == "hold" and verdict is not None and verdict.status == "wait"
    now = _traffic(engine, rollout, now, 600, bad=True, rng=rng)
    outcome = decide(engine, rollout, now)
    assert outcome.action.kind == "rollback" and outcome.rollout.phase == "RolledBack"
    assert "gate error_rate failed" in outcome.action.reason and "gate agreement failed" in outcome.action.reason
    (decision,) = ro.list_decisions(engine, rollout.id)
    assert decision.action == "rollback" and decision.reason == outcome.action.reason
    gates = {g["name"]: g for g in decision.evidence["verdict"]["gates"]}
    assert gates["agreement"]["passed"] is False and gates["agreement"]["value"] < 0.9
    assert decision.evidence["thresholds"]["minAgreement"] == 0.9
    # A second controller holding the old state writes nothing.
    again = decide(engine, rollout, now)
    assert again.conflict and again.decision is None
    assert len(ro.list_decisions(engine, rollout.id)) == 1
