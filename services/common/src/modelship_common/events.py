"""System events for the dashboard: one call, :func:`record_event`, used by every service."""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy.orm import Session

from modelship_common.db import EVENT_KINDS, Event

log = logging.getLogger(__name__)


def event_row(kind: str, message: str, **details: Any) -> dict[str, Any]:
    """The values of one ``events`` row, for a Core ``insert(Event)`` next to other rows in one transaction."""
    if kind not in EVENT_KINDS:
        raise ValueError(f"unknown event kind {kind!r}; use one of {', '.join(EVENT_KINDS)}")
    log.debug("event %s: %s", kind, message)
    return {"kind": kind, "message": message, "details": details}


def record_event(session: Session, kind: str, message: str, **details: Any) -> Event:
    """Add an :class:`~modelship_common.db.Event` to ``session`` (the caller commits).

    ``kind`` is one of ``upload``, ``prediction``, ``rollout``, ``failure``, ``training``, ``dlq``;
    ``details`` must be JSON-serialisable.
    """
    if kind not in EVENT_KINDS:
        raise ValueError(f"unknown event kind {kind!r}; use one of {', '.join(EVENT_KINDS)}")
    event = Event(kind=kind, message=message, details=details)
    session.add(event)
    log.debug("event %s: %s", kind, message)
    return event
