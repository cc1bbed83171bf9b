"""The rollouts the gateway routes by (the active ones, and promoted ones in their warm window), read from the
database at most every ``ttl_s`` seconds.

Sync and thread-safe; from async code call :meth:`ActiveRollouts.get` in a worker thread, or keep it fresh from a
background task (:meth:`ActiveRollouts.keep_fresh`) and read :attr:`ActiveRollouts.current` (no I/O) on the
request path.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable

from sqlalchemy import Engine

from modelship_common.rollout.tables import RolloutRecord, routing_rollouts

log = logging.getLogger(__name__)


class ActiveRollouts:
    """``{model_name: active rollout}``, refreshed lazily; the last good table is kept if a refresh fails."""

    def __init__(self, engine: Engine, ttl_s: float = 2.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.engine = engine
        self.ttl_s = ttl_s
        self._clock = clock
        self._lock = threading.Lock()
        self._table: dict[str, RolloutRecord] = {}
        self._read_at: float | None = None

    @property
    def current(self) -> dict[str, RolloutRecord]:
        """The table as last read (empty before the first read); no I/O."""
        return self._table

    def refresh(self) -> dict[str, RolloutRecord]:
        """Read the table now."""
        # Oldest first: a model's newer rollout replaces an older promoted one still in its warm window.
        table = {r.model_name: r for r in routing_rollouts(self.engine)}
        with self._lock:
            self._table, self._read_at = table, self._clock()
        return table

    def get(self) -> dict[str, RolloutRecord]:
        """The table, read again if older than ``ttl_s``; on a database error the last one (logged)."""
        read_at = self._read_at
        if read_at is not None and self._clock() - read_at < self.ttl_s:
            return self._table
        try:
            return self.refresh()
        except Exception as exc:  # the request path must not fail because the rollouts cannot be read
            if read_at is None:
                raise
            log.warning("cannot read the active rollouts (%s); routing by the last table", exc)
            return self._table

    async def keep_fresh(self, interval_s: float | None = None) -> None:
        """Refresh the table every ``interval_s`` (default ``ttl_s``) until cancelled; errors are logged, and the
        last good table stays."""
        interval = self.ttl_s if interval_s is None else interval_s
        while True:
            try:
                await asyncio.to_thread(self.refresh)
            except Exception as exc:
                log.warning("cannot read the rollouts (%s); routing by the last table", exc)
            await asyncio.sleep(interval)
