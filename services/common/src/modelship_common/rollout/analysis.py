"""Judge a candidate against the champion, and decide what a rollout does next (pure).

:func:`judge` turns one window's :class:`~modelship_common.rollout.stats.WindowStats` and the spec's
:class:`~modelship_common.rollout.spec.Thresholds` into a :class:`Verdict`:

- ``wait``: some gate has too few samples yet (nothing is judged before ``min_samples`` candidate requests);
- ``fail``: at least one gate with enough samples failed (a failing gate fails at once, even while others wait);
- ``pass``: every gate that is switched on passed.

:func:`advance` turns the rollout, the verdict and the time into an :class:`Action`: ``hold``, ``step`` (to the
next traffic step), ``promote`` or ``rollback``, honouring each step's minRequests and minDuration.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass
from typing import Any

from modelship_common.rollout.spec import Thresholds
from modelship_common.rollout.stats import WindowStats
from modelship_common.rollout.tables import RolloutRecord

WAIT, PASS, FAIL = "wait", "pass", "fail"
HOLD, STEP, PROMOTE, ROLLBACK = "hold", "step", "promote", "rollback"


@dataclass(frozen=True)
class Gate:
    """One check of the candidate. ``passed`` is None while it has too few samples to be judged."""

    name: str
    value: float | None
    threshold: float
    passed: bool | None
    #: For people: ``0.31 > 0.02``, ``40 of 100 samples``...
    detail: str


@dataclass(frozen=True)
class Verdict:
    status: str
    #: One line: which gate failed with its values, what is awaited, or that all passed.
    reason: str
    gates: tuple[Gate, ...]
    stats: WindowStats

    @property
    def failed(self) -> tuple[Gate, ...]:
        return tuple(g for g in self.gates if g.passed is False)

    def to_dict(self) -> dict[str, Any]:
        return {"status": self.status, "reason": self.reason, "gates": [asdict(g) for g in self.gates]}


@dataclass(frozen=True)
class Action:
    """What the rollout does next; ``step_index`` is the step to move to for ``step``."""

    kind: str
    reason: str
    step_index: int | None = None


def _fmt(value: float) -> str:
    return f"{value:.4g}"


def _awaiting(name: str, have: int, need: int, threshold: float, what: str) -> Gate:
    return Gate(name, None, threshold, None, f"{have} of {need} {what}")


def judge(stats: WindowStats, thresholds: Thresholds) -> Verdict:
    """The verdict on ``stats`` under ``thresholds`` (see the module docstring). Gates that are off are left out."""
    t = thresholds
    need = t.min_samples
    cand, champ = stats.candidate, stats.champion
    gates: list[Gate] = []
    enough = cand.requests >= need

    if t.max_error_rate is not None:
        if not enough:
            gates.append(_awaiting("error_rate", cand.requests, need, t.max_error_rate, "candidate requests"))
        else:
            rate = cand.error_rate or 0.0
            ok = rate <= t.max_error_rate
            op = "<=" if ok else ">"
            detail = f"{_fmt(rate)} {op} {_fmt(t.max_error_rate)} ({cand.errors} of {cand.requests} failed)"
            gates.append(Gate("error_rate", rate, t.max_error_rate, ok, detail))

    if t.min_agreement is not None:
        if not enough or stats.paired < need:
            gates.append(_awaiting("agreement", stats.paired, need, t.min_agreement, "requests scored by both"))
        else:
            agreement = stats.agreement or 0.0
            ok = agreement >= t.min_agreement
            op = ">=" if ok else "<"
            detail = f"{_fmt(agreement)} {op} {_fmt(t.min_agreement)} ({stats.agreed} of {stats.paired} agree)"
            gates.append(Gate("agreement", agreement, t.min_agreement, ok, detail))

    latency_ready = enough and cand.answers >= need and cand.p95_latency_ms is not None
    if t.max_latency_ratio is not None:
        if not latency_ready or champ.answers < need or champ.p95_latency_ms is None:
            have = min(cand.answers, champ.answers)
            gates.append(_awaiting("latency_p95", have, need, t.max_latency_ratio, "answers from each side"))
        else:
            assert cand.p95_latency_ms is not None and champ.p95_latency_ms is not None
            limit = max(champ.p95_latency_ms * t.max_latency_ratio, champ.p95_latency_ms + t.latency_grace_ms)
            ok = cand.p95_latency_ms <= limit
            op = "<=" if ok else ">"
            detail = (
                f"{_fmt(cand.p95_latency_ms)} ms {op} {_fmt(limit)} ms (champion p95 {_fmt(champ.p95_latency_ms)} ms "
                f"x {_fmt(t.max_latency_ratio)}, or + {_fmt(t.latency_grace_ms)} ms)"
            )
            gates.append(Gate("latency_p95", cand.p95_latency_ms, limit, ok, detail))

    if t.max_p95_latency_ms is not None:
        if not latency_ready:
            gates.append(_awaiting("latency_p95_ms", cand.answers, need, t.max_p95_latency_ms, "candidate answers"))
        else:
            assert cand.p95_latency_ms is not None
            ok = cand.p95_latency_ms <= t.max_p95_latency_ms
            op = "<=" if ok else ">"
            detail = f"{_fmt(cand.p95_latency_ms)} ms {op} {_fmt(t.max_p95_latency_ms)} ms"
            gates.append(Gate("latency_p95_ms", cand.p95_latency_ms, t.max_p95_latency_ms, ok, detail))

    if t.max_confidence_shift is not None:
        measured = cand.mean_confidence is not None and champ.mean_confidence is not None
        if not enough or cand.scored < need or champ.scored < need or not measured:
            have = min(cand.scored, champ.scored)
            gates.append(
                _awaiting("confidence_shift", have, need, t.max_confidence_shift, "confidences from each side")
            )
        else:
            assert cand.mean_confidence is not None and champ.mean_confidence is not None
            shift = abs(cand.mean_confidence - champ.mean_confidence)
            ok = shift <= t.max_confidence_shift
            op = "<=" if ok else ">"
            detail = (
                f"{_fmt(shift)} {op} {_fmt(t.max_confidence_shift)} (mean confidence "
                f"{_fmt(cand.mean_confidence)} vs champion {_fmt(champ.mean_confidence)})"
            )
            gates.append(Gate("confidence_shift", shift, t.max_confidence_shift, ok, detail))

    failed = [g for g in gates if g.passed is False]
    waiting = [g for g in gates if g.passed is None]
    if failed:
        reason = "; ".join(f"gate {g.name} failed: {g.detail}" for g in failed)
        return Verdict(FAIL, reason, tuple(gates), stats)
    if not enough:
        return Verdict(WAIT, f"waiting for samples: {cand.requests} of {need} candidate requests", tuple(gates), stats)
    if waiting:
        reason = "waiting for samples: " + "; ".join(f"{g.name} {g.detail}" for g in waiting)
        return Verdict(WAIT, reason, tuple(gates), stats)
    return Verdict(PASS, "all gates passed: " + "; ".join(f"{g.name} {g.detail}" for g in gates), tuple(gates), stats)


def _elapsed(rollout: RolloutRecord, now: dt.datetime) -> float:
    return max(0.0, (now - rollout.step_started_at).total_seconds())


def advance(rollout: RolloutRecord, verdict: Verdict | None, now: dt.datetime) -> Action:
    """The next action for ``rollout`` given ``verdict`` on its current step's window, at ``now``.

    - finished rollout: hold;
    - Pending: step to 0 (call it once the candidate's model server is ready; the verdict is not used);
    - verdict fail: rollback, the reason naming the failing gates and their values;
    - verdict wait (or None): hold;
    - verdict pass: hold until the step's minRequests candidate requests AND minDuration have passed, then the
      next step, or promote after the last one.
    """
    if not rollout.active:
        return Action(HOLD, f"rollout is finished ({rollout.phase})")
    steps = rollout.rollout_spec.steps
    if rollout.phase == "Pending":
        return Action(STEP, f"candidate {rollout.candidate_version} ready: step 1 of {len(steps)}", step_index=0)
    index = rollout.step_index
    step = steps[index]
    where = f"step {index + 1}/{len(steps)}" + (f" at {step.weight} %" if rollout.strategy == "Canary" else "")
    if verdict is None:
        return Action(HOLD, f"{where}: no analysis yet")
    if verdict.status == FAIL:
        return Action(ROLLBACK, f"{where}: {verdict.reason}")
    if verdict.status != PASS:
        return Action(HOLD, f"{where}: {verdict.reason}")
    requests = verdict.stats.candidate.requests
    elapsed = _elapsed(rollout, now)
    if requests < step.min_requests or elapsed < step.min_duration_s:
        return Action(
            HOLD,
            f"{where} holds: {requests}/{step.min_requests} requests, "
            f"{elapsed:.0f}/{step.min_duration_s:.0f} s (gates pass so far)",
        )
    if index + 1 < len(steps):
        nxt = steps[index + 1]
        target = f" ({nxt.weight} %)" if rollout.strategy == "Canary" else ""
        return Action(STEP, f"{where} passed; to step {index + 2}/{len(steps)}{target}: {verdict.reason}", index + 1)
    return Action(PROMOTE, f"{where} passed, the last: promote {rollout.candidate_version}: {verdict.reason}")


def evidence(rollout: RolloutRecord, verdict: Verdict | None, now: dt.datetime) -> dict[str, Any]:
    """What a decision records: window, step, sample counts, metric values, gates and thresholds (JSON-ready)."""
    spec = rollout.rollout_spec
    out: dict[str, Any] = {
        "phase": rollout.phase,
        "champion_version": rollout.champion_version,
        "candidate_version": rollout.candidate_version,
        "thresholds": spec.to_dict()["analysis"],
    }
    if rollout.phase != "Pending" and spec.steps:
        step = spec.steps[rollout.step_index]
        out["step"] = {
            "index": rollout.step_index,
            "weight": rollout.candidate_weight,
            "minRequests": step.min_requests,
            "minDuration": step.min_duration_s,
            "elapsed": _elapsed(rollout, now),
        }
    if verdict is not None:
        out["stats"] = verdict.stats.to_dict()
        out["verdict"] = verdict.to_dict()
    return out
