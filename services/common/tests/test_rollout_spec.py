"""The rollout spec: defaults, parsing, round trip and the errors for bad values (pure)."""

from __future__ import annotations

import pytest

from modelship_common.rollout.spec import (
    InvalidRolloutSpec,
    RolloutSpec,
    Step,
    Thresholds,
    parse_duration,
    parse_rollout_spec,
)


def test_defaults() -> None:
    spec = parse_rollout_spec(None)
    assert spec == parse_rollout_spec({}) == parse_rollout_spec({"strategy": "Rolling"}) == RolloutSpec()
    assert spec.strategy == "Rolling" and not spec.analysed and spec.steps == ()
    canary = parse_rollout_spec({"strategy": "Canary"})
    assert canary.analysed
    assert canary.steps == (Step(10, 200, 60.0), Step(50, 200, 60.0), Step(100, 200, 60.0))
    shadow = parse_rollout_spec({"strategy": "Shadow"})
    assert shadow.shadow_share == 1.0 and shadow.steps == (Step(0, 200, 60.0),)
    assert shadow.analysis == Thresholds(
        min_samples=100,
        min_agreement=0.9,
        max_error_rate=0.02,
        max_latency_ratio=1.5,
        latency_grace_ms=5.0,
        max_p95_latency_ms=None,
        max_confidence_shift=0.1,
    )
    assert shadow.warm_duration_s == 600.0


def test_full_spec_and_round_trip() -> None:
    raw = {
        "strategy": "Canary",
        "shadow": {"share": 0.25, "minRequests": 50, "minDuration": "30s"},
        "canary": {
            "minRequests": 300,
            "minDuration": "2m",
            "steps": [{"weight": 5}, {"weight": 25, "minRequests": 1000, "minDuration": "1h30m"}, {"weight": 100}],
        },
        "analysis": {
            "minSamples": 40,
            "minAgreement": 0.95,
            "maxErrorRate": 0.0,
            "maxLatencyRatio": None,
            "latencyGraceMs": 0,
            "maxP95LatencyMs": 250,
            "maxConfidenceShift": 0.05,
        },
        "warmDuration": "15m",
    }
    spec = parse_rollout_spec(raw)
    assert spec.canary_steps == (Step(5, 300, 120.0), Step(25, 1000, 5400.0), Step(100, 300, 120.0))
    assert spec.shadow_share == 0.25 and spec.shadow_step == Step(0, 50, 30.0)
    assert spec.analysis.max_latency_ratio is None and spec.analysis.max_p95_latency_ms == 250.0
    assert spec.analysis.max_error_rate == 0.0 and spec.analysis.min_samples == 40
    assert spec.warm_duration_s == 900.0
    assert parse_rollout_spec(spec.to_dict()) == spec
    assert parse_rollout_spec(RolloutSpec().to_dict()) == RolloutSpec()


@pytest.mark.parametrize(
    ("raw", "expected"),
    [(60, 60.0), (1.5, 1.5), ("60s", 60.0), ("500ms", 0.5), ("10m", 600.0), ("1h30m", 5400.0), ("0s", 0.0)],
)
def test_durations(raw, expected) -> None:
    assert parse_duration(raw, "x") == expected


@pytest.mark.parametrize("raw", ["", "ten", "10", "10 s", "5d", "-1s", -1, True, None, [1]])
def test_bad_durations(raw) -> None:
    with pytest.raises(InvalidRolloutSpec, match=r"^x "):
        parse_duration(raw, "x")


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("Canary", "spec.rollout must be an object"),
        ({"strategy": "BlueGreen"}, "spec.rollout.strategy 'BlueGreen' must be one of Rolling, Shadow, Canary"),
        ({"strategy": "Canary", "steps": [10]}, "spec.rollout has unknown keys ['steps']"),
        ({"shadow": {"share": 0}}, "spec.rollout.shadow.share 0 must be > 0 and <= 1"),
        ({"shadow": {"share": 1.5}}, "spec.rollout.shadow.share 1.5 must be > 0 and <= 1"),
        ({"shadow": {"share": "all"}}, "spec.rollout.shadow.share must be a number"),
        ({"shadow": {"percent": 5}}, "spec.rollout.shadow has unknown keys ['percent']"),
        ({"shadow": []}, "spec.rollout.shadow must be an object"),
        ({"canary": {"steps": []}}, "spec.rollout.canary.steps must be a non-empty list"),
        ({"canary": {"steps": [10, 50]}}, "spec.rollout.canary.steps[0] must be an object with a weight"),
        ({"canary": {"steps": [{"weight": 0}]}}, "steps[0].weight 0 must be an integer from 1 to 100"),
        ({"canary": {"steps": [{"weight": 101}]}}, "steps[0].weight 101 must be an integer from 1 to 100"),
        ({"canary": {"steps": [{"weight": 50}, {"weight": 50}]}}, "steps[1].weight 50 must be greater than"),
        ({"canary": {"steps": [{"weight": 10, "pause": 1}]}}, "steps[0] has unknown keys ['pause']"),
        ({"canary": {"minRequests": -1}}, "spec.rollout.canary.minRequests -1 must be an integer"),
        ({"canary": {"minDuration": "soon"}}, "spec.rollout.canary.minDuration 'soon' is not a duration"),
        ({"canary": {"steps": [{"weight": 10, "minDuration": "x"}]}}, "steps[0].minDuration 'x' is not"),
        ({"analysis": {"minSamples": 0}}, "spec.rollout.analysis.minSamples 0 must be an integer from 1"),
        ({"analysis": {"minAgreement": 1.2}}, "spec.rollout.analysis.minAgreement 1.2 must be >= 0 and <= 1"),
        ({"analysis": {"maxErrorRate": -0.1}}, "spec.rollout.analysis.maxErrorRate -0.1 must be >= 0"),
        ({"analysis": {"maxLatencyRatio": 0}}, "spec.rollout.analysis.maxLatencyRatio 0 must be > 0"),
        ({"analysis": {"maxP95LatencyMs": True}}, "spec.rollout.analysis.maxP95LatencyMs must be a number"),
        ({"analysis": {"maxConfidenceShift": float("nan")}}, "maxConfidenceShift must be a number"),
        ({"analysis": {"agreement": 0.9}}, "spec.rollout.analysis has unknown keys ['agreement']"),
        ({"warmDuration": "forever"}, "spec.rollout.warmDuration 'forever' is not a duration"),
    ],
)
def test_bad_values_say_what_is_wrong(raw, message) -> None:
    with pytest.raises(InvalidRolloutSpec) as caught:
        parse_rollout_spec(raw)
    assert message in str(caught.value)


def test_where_prefixes_the_messages() -> None:
    with pytest.raises(InvalidRolloutSpec, match=r"^rollouts\[3\]\.spec\.strategy"):
        parse_rollout_spec({"strategy": "x"}, where="rollouts[3].spec")
