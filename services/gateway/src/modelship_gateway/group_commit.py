"""Group commit: rows handed in by concurrent requests are written together, one transaction per group.

The first row starts a write at once; rows that arrive while it runs form the next group, and so on. Under
load one transaction carries many rows (one multi-row INSERT per table); alone, a row waits for nobody. Each
caller's ``await`` returns once its own row is committed (with what ``write`` said of that row, if it returns a
result per item), or raises what the group's transaction raised.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")


class GroupCommit(Generic[T, R]):
    """``await submit(item)`` until ``write(items)`` (blocking; run in a worker thread) has committed ``item``.

    ``write`` returns one result per item, in order (``submit`` returns the item's), or None (``submit`` returns
    None).
    """

    def __init__(self, write: Callable[[Sequence[T]], Sequence[R] | None], *, max_group: int = 256) -> None:
        self._write = write
        self._max_group = max_group
        self._pending: list[tuple[T, asyncio.Future[R | None]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def submit(self, item: T) -> R | None:
        done: asyncio.Future[R | None] = asyncio.get_running_loop().create_future()
        self._pending.append((item, done))
        if self._writer is None:
            self._writer = asyncio.create_task(self._drain())
        return await done

    async def _drain(self) -> None:
        try:
            while self._pending:
                group, self._pending = self._pending[: self._max_group], self._pending[self._max_group :]
                try:
                    results = await asyncio.to_thread(self._write, [item for item, _ in group])
                    if results is not None and len(results) != len(group):
                        raise RuntimeError(f"group write returned {len(results)} results for {len(group)} items")
                except Exception as exc:  # every caller of the group gets the transaction's error
                    for _, done in group:
                        if not done.done():
                            done.set_exception(exc)
                else:
                    for i, (_, done) in enumerate(group):
                        if not done.done():
                            done.set_result(None if results is None else results[i])
        finally:
            self._writer = None
