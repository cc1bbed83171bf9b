"""The operator's in-memory helpers for Shadow/Canary rollouts: the database engine, the challenger cache, wake-ups.

Nothing here is state that matters: the rollouts tables hold every rollout and decision, ``status.rollout`` records
which decisions were applied. An operator restarted with an empty :class:`RolloutState` goes on from those.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine

from modelship_common import db
from modelship_common.rollout.tables import RolloutRecord, rollout_history

log = logging.getLogger(__name__)


@dataclass
class RolloutState:
    """Per-operator helpers of :mod:`modelship_operator.rollout_loop` (kept on the :class:`Operator`)."""

    #: The predictions store's engine, made (and migrated) on first use; None until then.
    engine_: Engine | None = None
    #: ``(tracking_uri, model) -> (monotonic time read, challenger version or None)``.
    challengers: dict[tuple[str, str], tuple[float, str | None]] = field(default_factory=dict)
    #: ``(namespace, isvc) -> model name`` of the InferenceServices whose rollout loop runs.
    models: dict[tuple[str, str], str] = field(default_factory=dict)
    wakeups: dict[tuple[str, str], asyncio.Event] = field(default_factory=dict)
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def engine(self, url: str, wait_seconds: float = 0.0) -> Engine:
        """The engine for ``url``; the first call migrates the schema (idempotent; the gateway does the same)."""
        if self.engine_ is not None:
            return self.engine_
        async with self._lock:
            if self.engine_ is None:
                await asyncio.to_thread(db.migrate, url, wait_seconds)
                self.engine_ = db.make_engine(url)
        return self.engine_

    def close(self) -> None:
        if self.engine_ is not None:
            self.engine_.dispose()
            self.engine_ = None

    # -- the challenger alias, read at most every ``max_age`` seconds unless invalidated --------------------

    def cached_challenger(self, tracking_uri: str, model: str, max_age: float) -> tuple[bool, str | None]:
        """(whether a fresh value is cached, the value)."""
        hit = self.challengers.get((tracking_uri, model))
        if hit is None or time.monotonic() - hit[0] > max_age:
            return False, None
        return True, hit[1]

    def remember_challenger(self, tracking_uri: str, model: str, version: str | None) -> None:
        self.challengers[(tracking_uri, model)] = (time.monotonic(), version)

    def forget_challenger(self, model: str) -> None:
        for key in [k for k in self.challengers if k[1] == model]:
            self.challengers.pop(key, None)

    # -- wake-ups: a webhook or a candidate that changed runs the loop at once --------------------------------

    def register(self, namespace: str, name: str, model: str) -> None:
        self.models[(namespace, name)] = model

    def unregister(self, namespace: str, name: str) -> None:
        self.models.pop((namespace, name), None)
        self.wakeups.pop((namespace, name), None)

    def wake(self, namespace: str, name: str) -> None:
        event = self.wakeups.get((namespace, name))
        if event is not None:
            event.set()

    def wake_model(self, model: str) -> int:
        """Forget the model's cached challenger and wake the loops of its InferenceServices; how many were woken."""
        self.forget_challenger(model)
        woken = 0
        for key, name in list(self.models.items()):
            if name == model:
                self.wake(*key)
                woken += 1
        return woken

    async def wait(self, namespace: str, name: str, timeout: float) -> None:
        event = self.wakeups.setdefault((namespace, name), asyncio.Event())
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), timeout=timeout)
        event.clear()


def warm_hold(engine: Engine, model: str, champion: str, now: dt.datetime) -> RolloutRecord | None:
    """The promoted rollout whose old champion must keep serving: ``champion`` (what the alias points at now) is its
    candidate and its warm window has not ended. The main predictor then stays on ``rollout.champion_version``."""
    history = rollout_history(engine, model, limit=1)
    if not history:
        return None
    latest = history[0]
    warm_until = latest.warm_until
    if latest.phase == "Promoted" and latest.candidate_version == champion and warm_until and now < warm_until:
        return latest
    return None


def describe(value: Any) -> str:
    """A short text for an exception in logs and status messages."""
    text = str(value).strip().splitlines()[0] if str(value).strip() else type(value).__name__
    return text[:300]
