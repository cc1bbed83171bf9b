"""The judge and the rollout state machine (pure): bad candidates are rolled back naming the failing gate, good
ones promoted after every step, and nothing is decided on too few samples or before a step's minimum."""

from __future__ import annotations

import datetime as dt

import pytest

from modelship_common.rollout.analysis import Verdict, advance, evidence, judge
from modelship_common.rollout.spec import Thresholds, parse_rollout_spec

from .rollout_helpers import CANARY, SHADOW, T0, record, window

TH = CANARY.analysis
LATER = T0 + dt.timedelta(seconds=90)


def _gates(verdict: Verdict) -> dict[str, bool | None]:
    return {g.name: g.passed for g in verdict.gates}


def test_a_good_candidate_passes_every_gate() -> None:
    verdict = judge(window(), TH)
    assert verdict.status == "pass", verdict.reason
    assert _gates(verdict) == {"error_rate": True, "agreement": True, "latency_p95": True, "confidence_shift": True}
    assert verdict.failed == ()
    assert verdict.reason.startswith("all gates passed: error_rate 0 <= 0.02")


@pytest.mark.parametrize(
    ("stats", "gate", "detail"),
    [
        (window(errors=30), "error_rate", "0.1 > 0.02 (30 of 300 failed)"),
        (window(agree=0.4), "agreement", "0.4 < 0.9 (120 of 300 agree)"),
        (window(cand_p95=40.0), "latency_p95", "40 ms > 15 ms (champion p95 10 ms x 1.5, or + 5 ms)"),
        (window(cand_conf=0.6), "confidence_shift", "0.32 > 0.1 (mean confidence 0.6 vs champion 0.92)"),
    ],
)
def test_a_bad_candidate_fails_naming_the_gate_and_its_values(stats, gate, detail) -> None:
    verdict = judge(stats, TH)
    assert verdict.status == "fail"
    assert [g.name for g in verdict.failed] == [gate]
    assert verdict.reason == f"gate {gate} failed: {detail}"
    (failed,) = verdict.failed
    assert failed.value is not None and failed.threshold is not None


def test_the_latency_grace_covers_sub_millisecond_noise_and_the_absolute_ceiling() -> None:
    assert judge(window(cand_p95=1.9, champ_p95=0.4), TH).status == "pass"  # 4.75x, but within +5 ms
    strict = Thresholds(min_samples=100, max_p95_latency_ms=11.0)
    verdict = judge(window(cand_p95=12.0), strict)
    assert verdict.status == "fail" and verdict.reason == "gate latency_p95_ms failed: 12 ms > 11 ms"


def test_every_failing_gate_is_named() -> None:
    verdict = judge(window(errors=100, agree=0.1), TH)
    assert [g.name for g in verdict.failed] == ["error_rate", "agreement"]
    assert "gate error_rate failed: 0.3333 > 0.02" in verdict.reason and "gate agreement failed" in verdict.reason


def test_not_enough_samples_waits() -> None:
    verdict = judge(window(n=40, errors=40), TH)  # even an all-failing candidate: not judged below minSamples
    assert verdict.status == "wait"
    assert verdict.reason == "waiting for samples: 40 of 100 candidate requests"
    assert set(_gates(verdict).values()) == {None}
    # Enough candidate requests, but too few scored by both (the champion's rows are missing): wait.
    verdict = judge(window(champ_n=30), TH)
    assert verdict.status == "wait"
    assert "agreement 30 of 100 requests scored by both" in verdict.reason
    assert _gates(verdict)["error_rate"] is True


def test_a_failing_gate_fails_at_once_while_others_wait() -> None:
    verdict = judge(window(errors=150, champ_n=30), TH)
    assert verdict.status == "fail" and [g.name for g in verdict.failed] == ["error_rate"]


def test_gates_that_are_off_are_left_out() -> None:
    off = parse_rollout_spec(
        {
            "strategy": "Canary",
            "analysis": {"minAgreement": None, "maxLatencyRatio": None, "maxConfidenceShift": None},
        }
    ).analysis
    verdict = judge(window(agree=0.0, cand_p95=1000.0, cand_conf=0.1), off)
    assert verdict.status == "pass" and _gates(verdict) == {"error_rate": True}


# ------------------------------------------------------------------------------------------------ the machine


def test_bad_candidate_is_rolled_back_with_the_failing_gate_named() -> None:
    rollout = record(CANARY)
    action = advance(rollout, judge(window(errors=60), TH), T0 + dt.timedelta(seconds=5))
    assert action.kind == "rollback"
    assert action.reason == "step 1/3 at 10 %: gate error_rate failed: 0.2 > 0.02 (60 of 300 failed)"


def test_good_candidate_walks_every_step_then_is_promoted() -> None:
    rollout = record(CANARY)
    good = judge(window(n=250), TH)
    kinds = []
    for index in range(3):
        rollout = record(CANARY, step_index=index)
        action = advance(rollout, good, LATER)
        kinds.append((action.kind, action.step_index))
    assert kinds == [("step", 1), ("step", 2), ("promote", None)]
    assert advance(record(CANARY, step_index=0), good, LATER).reason.startswith(
        "step 1/3 at 10 % passed; to step 2/3 (50 %): all gates passed"
    )
    assert advance(record(CANARY, step_index=2), good, LATER).reason.startswith(
        "step 3/3 at 100 % passed, the last: promote 4"
    )


def test_a_step_holds_for_its_minimum_requests_and_duration() -> None:
    rollout = record(CANARY)
    early = advance(rollout, judge(window(n=250), TH), T0 + dt.timedelta(seconds=30))
    assert (early.kind, early.reason) == (
        "hold",
        "step 1/3 at 10 % holds: 250/200 requests, 30/60 s (gates pass so far)",
    )
    few = advance(rollout, judge(window(n=150), TH), LATER)
    assert (few.kind, few.reason) == ("hold", "step 1/3 at 10 % holds: 150/200 requests, 90/60 s (gates pass so far)")


def test_not_enough_samples_holds() -> None:
    action = advance(record(CANARY), judge(window(n=20), TH), LATER)
    assert (action.kind, action.reason) == (
        "hold",
        "step 1/3 at 10 %: waiting for samples: 20 of 100 candidate requests",
    )
    assert advance(record(CANARY), None, LATER).kind == "hold"


def test_shadow_has_one_stage_then_promotes() -> None:
    action = advance(record(SHADOW), judge(window(n=250), TH), LATER)
    assert action.kind == "promote" and action.reason.startswith("step 1/1 passed, the last: promote 4")


def test_pending_starts_and_finished_holds() -> None:
    assert (advance(record(CANARY, phase="Pending"), None, T0).kind, 0) == ("step", 0)
    assert advance(record(CANARY, phase="Pending"), None, T0).step_index == 0
    done = record(CANARY, phase="Promoted", finished_at=T0)
    assert advance(done, judge(window(errors=300), TH), LATER).kind == "hold"


def test_evidence_holds_window_counts_values_and_thresholds() -> None:
    rollout = record(CANARY)
    verdict = judge(window(errors=60), TH)
    ev = evidence(rollout, verdict, LATER)
    assert ev["stats"]["window"] == {"start": T0.isoformat(), "end": (T0 + dt.timedelta(minutes=2)).isoformat()}
    assert ev["stats"]["candidate"]["requests"] == 300 and ev["stats"]["candidate"]["errors"] == 60
    assert ev["stats"]["candidate"]["error_rate"] == 0.2 and ev["stats"]["agreement"] is not None
    assert ev["thresholds"]["maxErrorRate"] == 0.02 and ev["thresholds"]["minSamples"] == 100
    assert ev["step"] == {"index": 0, "weight": 10, "minRequests": 200, "minDuration": 60.0, "elapsed": 90.0}
    error_gate = next(g for g in ev["verdict"]["gates"] if g["name"] == "error_rate")
    assert error_gate == {
        "name": "error_rate",
        "value": 0.2,
        "threshold": 0.02,
        "passed": False,
        "detail": "0.2 > 0.02 (60 of 300 failed)",
    }
