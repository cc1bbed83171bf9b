"""Status logic (pure): conditions, readiness of the rendered children, rollout history."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from modelship_operator import constants as c

# Ready reasons.
AVAILABLE = "Available"
ROLLOUT_IN_PROGRESS = "RolloutInProgress"
ROLLOUT_FAILED = "RolloutFailed"
SCALED_TO_ZERO = "ScaledToZero"
INVALID_SPEC = "InvalidSpec"
REGISTRY_UNREACHABLE = "RegistryUnreachable"
MODEL_NOT_FOUND = "ModelNotFound"
REGISTRY_NOT_FOUND = "RegistryNotFound"
RESOLVED_REASON = "Resolved"

# History results.
PROGRESSING = "Progressing"
SUCCEEDED = "Succeeded"
FAILED = "Failed"
REPLACED = "Replaced"


def now_iso(now: datetime | None = None) -> str:
    """RFC 3339 timestamp in UTC with second precision (what Kubernetes uses)."""
    return (now or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Readiness:
    """Whether the children serve the wanted version, and why (not)."""

    ready: bool
    reason: str
    message: str
    failed: bool = False

    @property
    def status(self) -> str:
        return "True" if self.ready else "False"


def get_condition(conditions: list[dict[str, Any]] | None, type_: str) -> dict[str, Any] | None:
    for cond in conditions or []:
        if cond.get("type") == type_:
            return cond
    return None


def set_condition(
    conditions: list[dict[str, Any]] | None,
    type_: str,
    status: str,
    reason: str,
    message: str,
    *,
    now: str,
    generation: int | None = None,
) -> list[dict[str, Any]]:
    """A new conditions list with ``type_`` upserted; lastTransitionTime only moves when the status changes."""
    out = [copy.deepcopy(x) for x in conditions or [] if x.get("type") != type_]
    old = get_condition(conditions, type_)
    cond: dict[str, Any] = {
        "type": type_,
        "status": status,
        "reason": reason,
        "message": message,
        "lastTransitionTime": old["lastTransitionTime"]
        if old and old.get("status") == status and old.get("lastTransitionTime")
        else now,
    }
    if generation is not None:
        cond["observedGeneration"] = generation
    out.append(cond)
    order = {c.READY: 0, c.RESOLVED: 1, c.SYNCED: 2}
    return sorted(out, key=lambda x: (order.get(x.get("type", ""), 9), x.get("type", "")))


def conditions_equal(a: list[dict[str, Any]] | None, b: list[dict[str, Any]] | None) -> bool:
    """Equal ignoring nothing but order."""
    key = lambda x: x.get("type", "")  # noqa: E731
    return sorted(a or [], key=key) == sorted(b or [], key=key)


def _deployment_condition(deployment: dict[str, Any], type_: str) -> dict[str, Any] | None:
    return get_condition((deployment.get("status") or {}).get("conditions"), type_)


def deployment_readiness(deployment: dict[str, Any] | None, version: str | None = None) -> Readiness:
    """Ready when the Deployment controller has rolled the current generation out to every replica.

    ``version`` (optional) is the model version the InferenceService wants; a Deployment still labelled
    with another version is not ready for it.
    """
    if not deployment:
        return Readiness(False, ROLLOUT_IN_PROGRESS, "the model server Deployment does not exist yet")
    meta = deployment.get("metadata") or {}
    spec = deployment.get("spec") or {}
    status = deployment.get("status") or {}
    have = (meta.get("labels") or {}).get(c.LABEL_MODEL_VERSION)
    if version is not None and have != version:
        return Readiness(False, ROLLOUT_IN_PROGRESS, f"the Deployment still runs version {have}, want {version}")
    wanted = spec.get("replicas", 1)
    generation = meta.get("generation", 0)
    if status.get("observedGeneration", 0) < generation:
        return Readiness(False, ROLLOUT_IN_PROGRESS, "the Deployment controller has not seen the new spec yet")
    progressing = _deployment_condition(deployment, "Progressing")
    if progressing and progressing.get("reason") == "ProgressDeadlineExceeded":
        return Readiness(
            False, ROLLOUT_FAILED, f"rollout of version {have} failed: {progressing.get('message', '')}", failed=True
        )
    if wanted == 0:
        return Readiness(False, SCALED_TO_ZERO, "spec.replicas is 0")
    updated = status.get("updatedReplicas", 0)
    total = status.get("replicas", 0)
    available = status.get("availableReplicas", 0)
    if updated < wanted:
        return Readiness(False, ROLLOUT_IN_PROGRESS, f"{updated} of {wanted} pods run version {have}")
    if total > updated:
        return Readiness(False, ROLLOUT_IN_PROGRESS, f"{total - updated} old pods are still terminating")
    if available < wanted:
        return Readiness(False, ROLLOUT_IN_PROGRESS, f"{available} of {wanted} pods of version {have} are ready")
    avail = _deployment_condition(deployment, "Available")
    if avail is not None and avail.get("status") != "True":
        return Readiness(False, ROLLOUT_IN_PROGRESS, avail.get("message") or "the Deployment is not available")
    return Readiness(True, AVAILABLE, f"{available} of {wanted} pods serve version {have}")


def kserve_readiness(isvc: dict[str, Any] | None, version: str | None = None) -> Readiness:
    """Ready when KServe reports Ready for the current generation of its InferenceService."""
    if not isvc:
        return Readiness(False, ROLLOUT_IN_PROGRESS, "the KServe InferenceService does not exist yet")
    meta = isvc.get("metadata") or {}
    status = isvc.get("status") or {}
    have = (meta.get("labels") or {}).get(c.LABEL_MODEL_VERSION)
    if version is not None and have != version:
        return Readiness(False, ROLLOUT_IN_PROGRESS, f"the KServe InferenceService still runs version {have}")
    if status.get("observedGeneration", 0) < meta.get("generation", 0):
        return Readiness(False, ROLLOUT_IN_PROGRESS, "KServe has not reconciled the new spec yet")
    ready = get_condition(status.get("conditions"), "Ready")
    if ready and ready.get("status") == "True":
        return Readiness(True, AVAILABLE, f"KServe reports version {have} ready")
    if ready and ready.get("status") == "False" and ready.get("severity", "Error") == "Error" and ready.get("reason"):
        failed = ready.get("reason") in ("PredictorConfigurationReady", "RevisionFailed", "ProgressDeadlineExceeded")
        return Readiness(False, ROLLOUT_FAILED if failed else ROLLOUT_IN_PROGRESS, ready.get("message", ""), failed)
    return Readiness(False, ROLLOUT_IN_PROGRESS, (ready or {}).get("message") or "waiting for KServe")


def is_decision(entry: dict[str, Any]) -> bool:
    """Whether a history entry records a Shadow/Canary decision (it has an ``action``) rather than a version rollout."""
    return "action" in entry


def last_rollout_entry(history: list[dict[str, Any]] | None) -> dict[str, Any] | None:
    """The newest entry that records a version rollout (decision entries skipped)."""
    for entry in reversed(history or []):
        if not is_decision(entry):
            return entry
    return None


def trim_history(history: list[dict[str, Any]], limit: int) -> list[dict[str, Any]]:
    """The newest ``limit`` entries, always keeping the newest version-rollout entry (what the reconciler reads)."""
    if len(history) <= limit:
        return history
    kept = history[-limit:]
    current = last_rollout_entry(history)
    if current is not None and not any(entry is current for entry in kept):
        kept = [current, *kept[-(limit - 1) :]] if limit > 1 else [current]
    return kept


def start_rollout(history: list[dict[str, Any]] | None, version: str, *, now: str, limit: int) -> list[dict[str, Any]]:
    """History with a new Progressing entry for ``version``; the previous current entry becomes Replaced."""
    out = [copy.deepcopy(h) for h in history or []]
    for entry in out:
        if not is_decision(entry) and entry.get("result") in (PROGRESSING, SUCCEEDED):
            entry["result"] = REPLACED
            entry.setdefault("finishedAt", now)
    out.append({"version": version, "at": now, "result": PROGRESSING})
    return trim_history(out, limit)


def finish_rollout(
    history: list[dict[str, Any]] | None, version: str, result: str, *, now: str, message: str | None = None
) -> tuple[list[dict[str, Any]], bool]:
    """Mark the Progressing entry of ``version`` Succeeded/Failed. Returns (history, whether it changed)."""
    out = [copy.deepcopy(h) for h in history or []]
    entry = last_rollout_entry(out)
    if entry is not None and entry.get("version") == version and entry.get("result") == PROGRESSING:
        entry["result"] = result
        entry["finishedAt"] = now
        if message:
            entry["message"] = message
        return out, True
    return out, False


def append_decision(history: list[dict[str, Any]] | None, entry: dict[str, Any], *, limit: int) -> list[dict[str, Any]]:
    """History with a decision entry appended (once: an entry of the same rollout and decision is not repeated)."""
    out = [copy.deepcopy(h) for h in history or []]
    key = (entry.get("rolloutId"), entry.get("decisionId"))
    if any(is_decision(h) and (h.get("rolloutId"), h.get("decisionId")) == key for h in out):
        return out
    out.append(copy.deepcopy(entry))
    return trim_history(out, limit)


def current_rollout_started(history: list[dict[str, Any]] | None, version: str) -> str | None:
    """When the rollout of ``version`` started (its newest history entry), if recorded."""
    for entry in reversed(history or []):
        if not is_decision(entry) and entry.get("version") == version:
            return entry.get("at")
    return None


def parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
