"""Traffic routing during a rollout (pure): the split, the mirrors, and that a retry lands on the same side."""

from __future__ import annotations

import uuid
from dataclasses import replace

import pytest

from modelship_scoring.rollout import ActiveRollouts, route, route_request
from modelship_scoring.rollout.traffic import bucket, by_model
from services.common.tests.rollout_helpers import CANARY, SHADOW, record

IDS = [f"req-{i}" for i in range(2000)]


@pytest.mark.parametrize("weight", [10, 50])
@pytest.mark.parametrize("ids", ["sequential", "uuid4"])
def test_canary_split_holds_within_5_percent_over_2000_requests(weight: int, ids: str) -> None:
    rollout = record(CANARY, candidate_weight=weight)
    request_ids = IDS if ids == "sequential" else [str(uuid.uuid4()) for _ in range(2000)]
    routes = [route(rollout, rid) for rid in request_ids]
    share = sum(r.arm == "candidate" for r in routes) / len(routes)
    assert abs(share - weight / 100) <= 0.05, share
    for r in routes:  # the candidate's answers are compared with the champion's on the same request
        assert (r.answer, r.mirror) == (("4", "3") if r.arm == "candidate" else ("3", None))


def test_a_retry_goes_to_the_same_side_and_raising_the_weight_keeps_the_canary_requests() -> None:
    at10, at50 = record(CANARY, candidate_weight=10), record(CANARY, candidate_weight=50)
    assert [route(at10, rid) for rid in IDS] == [route(at10, rid) for rid in IDS]
    on10 = {rid for rid in IDS if route(at10, rid).arm == "candidate"}
    on50 = {rid for rid in IDS if route(at50, rid).arm == "candidate"}
    assert on10 < on50
    # Another rollout of the same model splits differently (its own hash key).
    other = {rid for rid in IDS if route(replace(at10, id=8), rid).arm == "candidate"}
    assert other != on10


def test_shadow_always_answers_with_the_champion_and_mirrors_its_share() -> None:
    rollout = record(SHADOW)
    routes = [route(rollout, rid) for rid in IDS]
    assert {(r.answer, r.arm) for r in routes} == {("3", "champion")}
    mirrored = sum(r.mirror == "4" for r in routes) / len(routes)
    assert abs(mirrored - 0.5) <= 0.05
    full = record(SHADOW, shadow_share=1.0)
    assert all(route(full, rid).mirror == "4" for rid in IDS)


@pytest.mark.parametrize(
    ("phase", "answer"), [("Pending", "3"), ("RolledBack", "3"), ("Aborted", "3"), ("Promoted", "4")]
)
def test_outside_the_analysis_one_version_answers_alone(phase: str, answer: str) -> None:
    rollout = record(CANARY, phase=phase, candidate_weight=50)
    assert {(route(rollout, rid).answer, route(rollout, rid).mirror) for rid in IDS[:200]} == {(answer, None)}


def test_route_request_without_a_rollout_is_todays_path() -> None:
    rollouts = by_model([record(CANARY, candidate_weight=100), record(SHADOW, model_name="digits", id=9)])
    assert route_request(rollouts, "iris", "r1", "2").answer == "2"
    assert route_request(rollouts, "penguins", "r1", "3").answer == "4"
    assert route_request(rollouts, "digits", "r1", "3").answer == "3"
    assert 0.0 <= bucket("k", "r") < 1.0


def test_active_rollouts_cache_reads_at_most_every_ttl_and_keeps_the_last_table(monkeypatch) -> None:
    from modelship_scoring.rollout import cache

    now = [0.0]
    reads: list[int] = []
    rows = [record(CANARY)]

    def fake_active(engine):
        reads.append(1)
        if engine == "down":
            raise RuntimeError("database down")
        return rows

    monkeypatch.setattr(cache, "routing_rollouts", fake_active)
    table = ActiveRollouts("engine", ttl_s=2.0, clock=lambda: now[0])  # type: ignore[arg-type]
    assert table.current == {}
    assert table.get() == {"penguins": rows[0]} and len(reads) == 1
    now[0] = 1.0
    table.get()
    assert len(reads) == 1
    now[0] = 3.0
    table.engine = "down"  # type: ignore[assignment]
    assert table.get() == {"penguins": rows[0]} and len(reads) == 2  # last good table on an error
    cold = ActiveRollouts("down", clock=lambda: now[0])  # type: ignore[arg-type]
    with pytest.raises(RuntimeError, match="database down"):
        cold.get()
