"""The rollout spec: how a new model version replaces the running one (pure dataclasses + parsing).

It is ``InferenceService.spec.rollout`` (k8s/crds/inferenceservices.modelship.io.yaml) with the defaults applied,
and the ``spec`` JSON column of a ``rollouts`` row (:mod:`modelship_common.rollout.tables`), so the operator, the
gateway's scoring core and the demo controller read one definition.

The wire shape (camelCase, as in the CRD)::

    strategy: Canary                      # Rolling (default) | Shadow | Canary
    shadow: {share: 1.0, minRequests: 200, minDuration: 60s}
    canary:
      minRequests: 200                    # default for every step
      minDuration: 60s
      steps: [{weight: 10}, {weight: 50, minRequests: 500}, {weight: 100}]
    analysis: {minSamples: 100, minAgreement: 0.9, maxErrorRate: 0.02, maxLatencyRatio: 1.5,
               latencyGraceMs: 5, maxP95LatencyMs: 250, maxConfidenceShift: 0.1}
    warmDuration: 10m

:func:`parse_rollout_spec` validates it and raises :class:`InvalidRolloutSpec` naming the field;
:meth:`RolloutSpec.to_dict` writes it back in the same shape (``parse_rollout_spec(s.to_dict()) == s``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

STRATEGIES: tuple[str, ...] = ("Rolling", "Shadow", "Canary")
#: Strategies that put a candidate next to the champion and judge it (Rolling replaces the version directly).
ANALYSED_STRATEGIES: tuple[str, ...] = ("Shadow", "Canary")

DEFAULT_CANARY_WEIGHTS: tuple[int, ...] = (10, 50, 100)
DEFAULT_MIN_REQUESTS = 200
DEFAULT_MIN_DURATION_S = 60.0
DEFAULT_WARM_DURATION_S = 600.0

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")
_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


class InvalidRolloutSpec(ValueError):
    """The rollout spec cannot be used as written; the message names the field and says what to fix."""


@dataclass(frozen=True)
class Step:
    """One stage of a rollout: the candidate's traffic weight and how long it is held before the next one.

    ``weight`` is the percentage of callers the candidate answers (0 for the single Shadow stage, where it only
    receives copies). The stage ends when the candidate has scored ``min_requests`` requests in it AND
    ``min_duration_s`` seconds have passed, and the analysis passes.
    """

    weight: int
    min_requests: int = DEFAULT_MIN_REQUESTS
    min_duration_s: float = DEFAULT_MIN_DURATION_S


@dataclass(frozen=True)
class Thresholds:
    """The gates a candidate must pass against the live champion, judged over the same window.

    ``None`` switches a gate off.
    """

    #: No gate is judged before the candidate scored this many requests in the window (and, for the gates that
    #: compare, the champion as many, and both as many of the same requests for the agreement).
    min_samples: int = 100
    #: Share of requests scored by both on which the candidate predicts the champion's class.
    min_agreement: float | None = 0.9
    #: Share of the candidate's requests that failed (an error instead of an answer).
    max_error_rate: float | None = 0.02
    #: Candidate p95 latency / champion p95 latency ...
    max_latency_ratio: float | None = 1.5
    #: ... with this much slack in milliseconds, so sub-millisecond noise does not fail the ratio.
    latency_grace_ms: float = 5.0
    #: Absolute ceiling for the candidate's p95 latency in milliseconds.
    max_p95_latency_ms: float | None = None
    #: |candidate mean confidence - champion mean confidence|.
    max_confidence_shift: float | None = 0.1


def _default_steps() -> tuple[Step, ...]:
    return tuple(Step(weight=w) for w in DEFAULT_CANARY_WEIGHTS)


@dataclass(frozen=True)
class RolloutSpec:
    """A validated rollout spec with the defaults applied (see the module docstring for the wire shape)."""

    strategy: str = "Rolling"
    #: Shadow: share of requests (0 < share <= 1) the candidate receives a copy of; the caller gets the champion.
    shadow_share: float = 1.0
    #: Shadow: the one analysis stage (weight 0).
    shadow_step: Step = field(default_factory=lambda: Step(weight=0))
    #: Canary: the traffic steps, weights strictly increasing from 1 to 100.
    canary_steps: tuple[Step, ...] = field(default_factory=_default_steps)
    analysis: Thresholds = field(default_factory=Thresholds)
    #: After a promotion the old champion's model server stays up this long, so a rollback is instant.
    warm_duration_s: float = DEFAULT_WARM_DURATION_S

    @property
    def analysed(self) -> bool:
        """Whether a new version goes through a judged rollout (Shadow or Canary) rather than a rolling update."""
        return self.strategy in ANALYSED_STRATEGIES

    @property
    def steps(self) -> tuple[Step, ...]:
        """The stages the state machine walks: the canary steps, or the one shadow stage; none for Rolling."""
        if self.strategy == "Canary":
            return self.canary_steps
        if self.strategy == "Shadow":
            return (self.shadow_step,)
        return ()

    def to_dict(self) -> dict[str, Any]:
        """The spec in its wire shape (camelCase, durations in seconds): what the ``rollouts.spec`` column holds."""
        a = self.analysis
        return {
            "strategy": self.strategy,
            "shadow": {
                "share": self.shadow_share,
                "minRequests": self.shadow_step.min_requests,
                "minDuration": self.shadow_step.min_duration_s,
            },
            "canary": {
                "steps": [
                    {"weight": s.weight, "minRequests": s.min_requests, "minDuration": s.min_duration_s}
                    for s in self.canary_steps
                ]
            },
            "analysis": {
                "minSamples": a.min_samples,
                "minAgreement": a.min_agreement,
                "maxErrorRate": a.max_error_rate,
                "maxLatencyRatio": a.max_latency_ratio,
                "latencyGraceMs": a.latency_grace_ms,
                "maxP95LatencyMs": a.max_p95_latency_ms,
                "maxConfidenceShift": a.max_confidence_shift,
            },
            "warmDuration": self.warm_duration_s,
        }


def parse_duration(value: Any, where: str) -> float:
    """Seconds from ``60``, ``1.5``, ``"60s"``, ``"500ms"``, ``"10m"``, ``"1h30m"``; :class:`InvalidRolloutSpec`."""
    if isinstance(value, bool):
        raise InvalidRolloutSpec(f"{where} must be a duration such as 60s, 10m or 1h30m, not {value!r}")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str) and value.strip():
        text = value.strip()
        parts = _DURATION_PART.findall(text)
        if not parts or "".join(n + u for n, u in parts) != text:
            raise InvalidRolloutSpec(f"{where} {value!r} is not a duration (examples: 60s, 500ms, 10m, 1h30m)")
        seconds = sum(float(n) * _DURATION_UNITS[u] for n, u in parts)
    else:
        raise InvalidRolloutSpec(f"{where} must be a duration such as 60s, 10m or 1h30m, not {value!r}")
    if not math.isfinite(seconds) or seconds < 0:
        raise InvalidRolloutSpec(f"{where} must not be negative")
    return seconds


def _section(raw: Mapping[str, Any], key: str, where: str, allowed: set[str]) -> Mapping[str, Any]:
    value = raw.get(key)
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise InvalidRolloutSpec(f"{where}.{key} must be an object")
    unknown = set(value) - allowed
    if unknown:
        raise InvalidRolloutSpec(
            f"{where}.{key} has unknown keys {sorted(unknown)} (known: {', '.join(sorted(allowed))})"
        )
    return value


def _number(
    raw: Mapping[str, Any],
    key: str,
    where: str,
    default: float | None,
    *,
    low: float,
    high: float | None = None,
    low_open: bool = False,
) -> float | None:
    value = raw.get(key, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidRolloutSpec(f"{where}.{key} must be a number, not {value!r}")
    too_low = value <= low if low_open else value < low
    if too_low or (high is not None and value > high):
        bounds = f"{'>' if low_open else '>='} {low:g}" + (f" and <= {high:g}" if high is not None else "")
        raise InvalidRolloutSpec(f"{where}.{key} {value!r} must be {bounds}")
    return float(value)


def _integer(raw: Mapping[str, Any], key: str, where: str, default: int, *, low: int, high: int) -> int:
    value = raw.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidRolloutSpec(f"{where}.{key} {value!r} must be an integer from {low} to {high}")
    return value


def _step_limits(raw: Mapping[str, Any], where: str, requests: int, duration: float) -> tuple[int, float]:
    min_requests = _integer(raw, "minRequests", where, requests, low=0, high=10_000_000)
    min_duration = parse_duration(raw["minDuration"], f"{where}.minDuration") if "minDuration" in raw else duration
    return min_requests, min_duration


def _thresholds(raw: Mapping[str, Any], where: str) -> Thresholds:
    d = Thresholds()
    return Thresholds(
        min_samples=_integer(raw, "minSamples", where, d.min_samples, low=1, high=10_000_000),
        min_agreement=_number(raw, "minAgreement", where, d.min_agreement, low=0, high=1),
        max_error_rate=_number(raw, "maxErrorRate", where, d.max_error_rate, low=0, high=1),
        max_latency_ratio=_number(raw, "maxLatencyRatio", where, d.max_latency_ratio, low=0, low_open=True),
        latency_grace_ms=_number(raw, "latencyGraceMs", where, d.latency_grace_ms, low=0) or 0.0,
        max_p95_latency_ms=_number(raw, "maxP95LatencyMs", where, d.max_p95_latency_ms, low=0, low_open=True),
        max_confidence_shift=_number(raw, "maxConfidenceShift", where, d.max_confidence_shift, low=0, high=1),
    )


def parse_rollout_spec(raw: Mapping[str, Any] | None, where: str = "spec.rollout") -> RolloutSpec:
    """Validate a rollout spec (wire shape) and apply the defaults. Raises :class:`InvalidRolloutSpec`.

    ``None`` or ``{}`` is the default (Rolling). ``where`` prefixes the field names in error messages.
    """
    if raw is None:
        return RolloutSpec()
    if not isinstance(raw, Mapping):
        raise InvalidRolloutSpec(f"{where} must be an object")
    known = {"strategy", "shadow", "canary", "analysis", "warmDuration"}
    unknown = set(raw) - known
    if unknown:
        raise InvalidRolloutSpec(f"{where} has unknown keys {sorted(unknown)} (known: {', '.join(sorted(known))})")
    strategy = raw.get("strategy", "Rolling")
    if strategy not in STRATEGIES:
        raise InvalidRolloutSpec(f"{where}.strategy {strategy!r} must be one of {', '.join(STRATEGIES)}")

    shadow = _section(raw, "shadow", where, {"share", "minRequests", "minDuration"})
    share = _number(shadow, "share", f"{where}.shadow", 1.0, low=0, high=1, low_open=True)
    assert share is not None
    requests, duration = _step_limits(shadow, f"{where}.shadow", DEFAULT_MIN_REQUESTS, DEFAULT_MIN_DURATION_S)
    shadow_step = Step(weight=0, min_requests=requests, min_duration_s=duration)

    canary = _section(raw, "canary", where, {"steps", "minRequests", "minDuration"})
    requests, duration = _step_limits(canary, f"{where}.canary", DEFAULT_MIN_REQUESTS, DEFAULT_MIN_DURATION_S)
    raw_steps = canary.get("steps")
    if raw_steps is None:
        raw_steps = [{"weight": w} for w in DEFAULT_CANARY_WEIGHTS]
    if not isinstance(raw_steps, list) or not raw_steps:
        raise InvalidRolloutSpec(
            f"{where}.canary.steps must be a non-empty list of {{weight, minRequests?, minDuration?}}"
        )
    steps: list[Step] = []
    for i, item in enumerate(raw_steps):
        at = f"{where}.canary.steps[{i}]"
        if not isinstance(item, Mapping) or "weight" not in item:
            raise InvalidRolloutSpec(f"{at} must be an object with a weight (percent of traffic, 1 to 100)")
        unknown = set(item) - {"weight", "minRequests", "minDuration"}
        if unknown:
            raise InvalidRolloutSpec(
                f"{at} has unknown keys {sorted(unknown)} (known: minDuration, minRequests, weight)"
            )
        weight = _integer(item, "weight", at, 0, low=1, high=100)
        if steps and weight <= steps[-1].weight:
            raise InvalidRolloutSpec(f"{at}.weight {weight} must be greater than the step before ({steps[-1].weight})")
        step_requests, step_duration = _step_limits(item, at, requests, duration)
        steps.append(Step(weight=weight, min_requests=step_requests, min_duration_s=step_duration))

    analysis = _section(
        raw,
        "analysis",
        where,
        {
            "minSamples",
            "minAgreement",
            "maxErrorRate",
            "maxLatencyRatio",
            "latencyGraceMs",
            "maxP95LatencyMs",
            "maxConfidenceShift",
        },
    )
    warm = parse_duration(raw.get("warmDuration", DEFAULT_WARM_DURATION_S), f"{where}.warmDuration")
    return RolloutSpec(
        strategy=strategy,
        shadow_share=share,
        shadow_step=shadow_step,
        canary_steps=tuple(steps),
        analysis=_thresholds(analysis, f"{where}.analysis"),
        warm_duration_s=warm,
    )
