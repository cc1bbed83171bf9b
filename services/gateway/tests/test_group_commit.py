"""GroupCommit: concurrent submissions share a write; each caller learns its own group's outcome."""

from __future__ import annotations

import asyncio
import threading

import pytest

from modelship_gateway.group_commit import GroupCommit


def test_rows_that_arrive_during_a_write_share_the_next_one():
    release = threading.Event()
    groups: list[list[int]] = []

    def write(items):
        groups.append(list(items))
        if len(groups) == 1:
            release.wait(5)  # hold the first write while the others queue up

    async def scenario():
        commit = GroupCommit(write)
        first = asyncio.create_task(commit.submit(0))
        await asyncio.sleep(0.05)  # the first write is running now
        rest = [asyncio.create_task(commit.submit(i)) for i in range(1, 6)]
        await asyncio.sleep(0.05)
        release.set()
        await asyncio.gather(first, *rest)

    asyncio.run(scenario())
    assert groups == [[0], [1, 2, 3, 4, 5]]


def test_a_failed_write_fails_every_caller_of_its_group_and_the_next_group_still_runs():
    calls: list[list[str]] = []

    def write(items):
        calls.append(list(items))
        if "bad" in items:
            raise RuntimeError("database down")

    async def scenario():
        commit = GroupCommit(write)
        results = await asyncio.gather(commit.submit("bad"), commit.submit("x"), return_exceptions=True)
        later = await asyncio.gather(commit.submit("y"), return_exceptions=True)
        return results, later

    results, later = asyncio.run(scenario())
    assert [type(r).__name__ for r in results] == ["RuntimeError", "RuntimeError"]
    assert str(results[0]) == "database down"
    assert later == [None]
    assert calls == [["bad", "x"], ["y"]]


def test_groups_are_capped():
    sizes: list[int] = []

    async def scenario():
        commit = GroupCommit(lambda items: sizes.append(len(items)), max_group=4)
        await asyncio.gather(*(commit.submit(i) for i in range(10)))

    asyncio.run(scenario())
    assert sum(sizes) == 10
    assert max(sizes) <= 4


@pytest.mark.parametrize("n", [1, 3])
def test_every_submission_is_written_exactly_once(n):
    written: list[int] = []

    async def scenario():
        commit = GroupCommit(written.extend)
        for round_ in range(3):
            await asyncio.gather(*(commit.submit(round_ * 10 + i) for i in range(n)))

    asyncio.run(scenario())
    assert sorted(written) == sorted(r * 10 + i for r in range(3) for i in range(n))
