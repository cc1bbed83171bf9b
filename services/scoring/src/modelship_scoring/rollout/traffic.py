"""Traffic routing during a rollout (pure): who answers the caller, and who gets a copy.

- Shadow: the champion answers every caller; a hash-chosen ``shadow_share`` of the requests is mirrored to the
  candidate (its answer is stored, never returned, and its failure never reaches the caller).
- Canary: the candidate answers a hash-chosen ``candidate_weight`` percent of callers; each of those requests is
  mirrored to the champion, so the analysis can compare both answers on the same request.
- Pending, rolled back, aborted: the champion alone. Promoted: the candidate alone.

The choice is a hash of (model, rollout id, request id): a retry with the same request id goes to the same
side, and raising the weight from 10 to 50 % keeps the first 10 % on the candidate.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from modelship_common.rollout.tables import RolloutRecord

CHAMPION = "champion"
CANDIDATE = "candidate"


@dataclass(frozen=True)
class Route:
    """Where one request goes."""

    #: The version whose answer the caller gets.
    answer: str
    #: ``champion`` or ``candidate``: which side ``answer`` is.
    arm: str
    #: A version that scores a copy of the request (stored with the same request id, never returned); or None.
    mirror: str | None = None


def bucket(key: str, request_id: str) -> float:
    """A uniform number in [0, 1) fixed by ``key`` and ``request_id`` (first 8 bytes of SHA-256)."""
    digest = hashlib.sha256(f"{key}\x00{request_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def route(rollout: RolloutRecord, request_id: str) -> Route:
    """Route ``request_id`` for a model with ``rollout`` (see the module docstring)."""
    champion, candidate = rollout.champion_version, rollout.candidate_version
    if rollout.phase == "Promoted":
        return Route(answer=candidate, arm=CANDIDATE)
    if rollout.phase == "Shadowing":
        mirrored = bucket(f"{rollout.model_name}:{rollout.id}:shadow", request_id) < rollout.shadow_share
        return Route(answer=champion, arm=CHAMPION, mirror=candidate if mirrored else None)
    if rollout.phase == "Canary":
        if bucket(f"{rollout.model_name}:{rollout.id}:canary", request_id) * 100 < rollout.candidate_weight:
            return Route(answer=candidate, arm=CANDIDATE, mirror=champion)
        return Route(answer=champion, arm=CHAMPION)
    return Route(answer=champion, arm=CHAMPION)


def route_request(rollouts: dict[str, RolloutRecord], model_name: str, request_id: str, version: str) -> Route:
    """Route a request for ``model_name``, served now by ``version``, given the active rollouts by model name.

    Without a rollout for the model the request goes to ``version`` alone (today's path).
    """
    rollout = rollouts.get(model_name)
    if rollout is None:
        return Route(answer=version, arm=CHAMPION)
    return route(rollout, request_id)


def by_model(rollouts: list[RolloutRecord]) -> dict[str, RolloutRecord]:
    """``{model_name: rollout}`` of the active rollouts (what :func:`route_request` takes)."""
    return {r.model_name: r for r in rollouts if r.active}
