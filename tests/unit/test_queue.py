from __future__ import annotations

import asyncio

from hybridfed.controllers.queue import WorkQueue


async def test_dedup_and_requeue_while_processing() -> None:
    q: WorkQueue[str] = WorkQueue()
    q.add("a")
    q.add("a")
    q.add("b")
    assert len(q) == 2
    key = await q.get()
    assert key == "a"
    q.add("a")  # changed while a worker holds it
    assert len(q) == 1  # not queued twice, not handed to a second worker
    q.done("a")
    assert [await q.get(), await q.get()] == ["b", "a"]
    q.done("b")
    q.done("a")
    assert q.idle()


async def test_add_after_keeps_the_earliest() -> None:
    q: WorkQueue[str] = WorkQueue()
    q.add_after("a", 10)
    q.add_after("a", 0.01)
    assert await asyncio.wait_for(q.get(), 1) == "a"
