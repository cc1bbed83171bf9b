"""Manual promote and rollback requested through an InferenceService's annotations (``modelship promote``/
``rollback`` with ``--target cluster``, or ``kubectl annotate``), which the operator's rollout loop applies once.

The request::

    modelship.io/rollout-action: promote          # or rollback
    modelship.io/rollout-action-id: 20250101T120000Z-1a2b3c   # new for every request; a repeat is ignored
    modelship.io/rollout-action-version: "4"      # promote only, optional: the version expected / to promote
    modelship.io/rollout-action-by: alice         # optional: who asked, recorded in the decision's reason

The operator records it as a decision with reason :func:`manual_reason` (so MLflow tags, the Event and
``status.history`` are written as for an automatic one) and marks it handled in the InferenceService's status, in a
condition of type :data:`CONDITION` whose message starts with :func:`handled_prefix`. Shared by the operator and the
command, so both read one definition (pure; nothing here talks to a server).
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

ANN_ACTION = "modelship.io/rollout-action"
ANN_ACTION_ID = "modelship.io/rollout-action-id"
ANN_ACTION_VERSION = "modelship.io/rollout-action-version"
ANN_ACTION_BY = "modelship.io/rollout-action-by"
ANNOTATIONS: tuple[str, ...] = (ANN_ACTION, ANN_ACTION_ID, ANN_ACTION_VERSION, ANN_ACTION_BY)
MANUAL_ACTIONS: tuple[str, ...] = ("promote", "rollback")

#: ``status.conditions`` type recording the last request handled: status True (applied) or False (refused).
CONDITION = "RolloutAction"
#: Condition reasons.
APPLIED = {"promote": "Promoted", "rollback": "RolledBack"}
REFUSED = "Refused"

_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,62}$")


def new_request_id(now: dt.datetime | None = None) -> str:
    """A fresh request id: UTC time and a random suffix (``20250101T120000Z-1a2b3c``)."""
    at = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    return f"{at:%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


@dataclass(frozen=True)
class ManualRequest:
    """A request read from the annotations; ``problem`` says why it cannot be applied (None if it can)."""

    action: str
    request_id: str
    version: str | None = None
    by: str | None = None
    problem: str | None = None

    @property
    def key(self) -> str:
        return f"{self.action} request {self.request_id}"


def request_annotations(
    action: str, request_id: str, *, version: str | None = None, by: str | None = None
) -> dict[str, str | None]:
    """The annotations (a merge patch: None removes an old one) that ask for ``action``."""
    if action not in MANUAL_ACTIONS:
        raise ValueError(f"unknown manual action {action!r}; use {' or '.join(MANUAL_ACTIONS)}")
    return {ANN_ACTION: action, ANN_ACTION_ID: request_id, ANN_ACTION_VERSION: version, ANN_ACTION_BY: by}


def read_request(annotations: Mapping[str, Any] | None) -> ManualRequest | None:
    """The request the annotations hold, or None if there is none."""
    annotations = annotations or {}
    action = str(annotations.get(ANN_ACTION) or "").strip()
    if not action:
        return None
    request_id = str(annotations.get(ANN_ACTION_ID) or "").strip()
    version = str(annotations.get(ANN_ACTION_VERSION) or "").strip() or None
    by = str(annotations.get(ANN_ACTION_BY) or "").strip()[:64] or None
    problem = None
    if action not in MANUAL_ACTIONS:
        problem = f"{ANN_ACTION} {action[:32]!r} must be {' or '.join(MANUAL_ACTIONS)}"
    elif not _ID.match(request_id):
        problem = f"{ANN_ACTION_ID} must be set to a new id (1-63 of A-Z a-z 0-9 . _ : -) for every request"
    elif action == "rollback" and version is not None:
        problem = f"{ANN_ACTION_VERSION} is for promote only"
    return ManualRequest(action[:32], request_id[:63] or "-", version, by, problem)


def manual_reason(request: ManualRequest, note: str = "") -> str:
    """The decision's reason: ``manual: promote request <id> by <who>[: note]``."""
    who = f" by {request.by}" if request.by else ""
    return f"manual: {request.key}{who}" + (f": {note}" if note else "")


def handled_prefix(request: ManualRequest) -> str:
    """How the :data:`CONDITION` message of a handled request starts."""
    return f"{request.key}: "


def is_handled(conditions: list[dict[str, Any]] | None, request: ManualRequest) -> bool:
    """Whether the status already records ``request`` as handled (applied or refused)."""
    for cond in conditions or []:
        if cond.get("type") == CONDITION:
            return str(cond.get("message") or "").startswith(handled_prefix(request))
    return False


def handled_condition(conditions: list[dict[str, Any]] | None) -> dict[str, Any] | None:
    for cond in conditions or []:
        if cond.get("type") == CONDITION:
            return cond
    return None
