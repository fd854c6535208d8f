from __future__ import annotations

import asyncio

import pytest

from hybridfed.controllers.federation import FederationController
from hybridfed.controllers.queue import BASE_DELAY, JITTER, MAX_DELAY, WorkQueue, backoff_delay
from hybridfed.members.registry import MemberRegistry
from hybridfed.members.watch import LiveCache


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


def steady(low: float, high: float) -> float:
    """No jitter: the middle of the range."""
    return (low + high) / 2


async def test_rate_limited_delays_double_per_failure_from_5ms_to_5min() -> None:
    q: WorkQueue[str] = WorkQueue(uniform=steady)
    delays = [q.add_rate_limited("a") for _ in range(20)]
    assert delays[:4] == pytest.approx([0.005, 0.010, 0.020, 0.040])
    assert delays[10] == pytest.approx(0.005 * 2**10)
    assert max(delays) == delays[-1] == 300.0  # capped at 5 min
    assert q.failures("a") == 20


async def test_rate_limited_delays_are_jittered_within_bounds() -> None:
    q: WorkQueue[str] = WorkQueue()
    for failures in range(25):
        delay = q.add_rate_limited("a")
        nominal = min(MAX_DELAY, BASE_DELAY * 2**failures)
        assert nominal * (1 - JITTER) <= delay <= min(MAX_DELAY, nominal * (1 + JITTER))
    samples = {backoff_delay(3) for _ in range(50)}
    assert len(samples) > 1  # keys that failed together do not come back together
    assert all(0.04 * 0.9 <= s <= 0.04 * 1.1 for s in samples)
    assert backoff_delay(10_000) <= MAX_DELAY  # no overflow after very many failures


async def test_each_key_backs_off_on_its_own_and_forget_starts_over() -> None:
    q: WorkQueue[str] = WorkQueue(uniform=steady)
    for _ in range(5):
        q.add_rate_limited("slow")
    assert q.add_rate_limited("fast") == pytest.approx(0.005)  # one failing key never slows another
    assert (q.failures("slow"), q.failures("fast")) == (5, 1)
    q.forget("slow")
    assert q.failures("slow") == 0
    assert q.add_rate_limited("slow") == pytest.approx(0.005)
    q.forget("never-failed")  # harmless


async def test_a_rate_limited_key_already_queued_is_not_queued_twice() -> None:
    q: WorkQueue[str] = WorkQueue()
    q.add("a")
    q.add_rate_limited("a")
    q.add_rate_limited("a")
    await asyncio.sleep(0.05)  # both retries are due: the key is still queued once
    assert len(q) == 1
    assert await q.get() == "a"
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(q.get(), 0.05)
    q.done("a")


async def test_a_rate_limited_key_being_processed_comes_back_once_when_done() -> None:
    q: WorkQueue[str] = WorkQueue()
    q.add("a")
    assert await q.get() == "a"
    q.add_rate_limited("a")
    q.add("a")
    await asyncio.sleep(0.03)
    assert len(q) == 0  # never handed to a second worker meanwhile
    q.done("a")
    assert len(q) == 1
    assert await asyncio.wait_for(q.get(), 1) == "a"


async def test_a_retry_never_swallows_a_deliberate_later_delay() -> None:
    q: WorkQueue[str] = WorkQueue()
    q.add_after("a", 0.1)  # e.g. a toleration running out
    q.add_rate_limited("a")  # a failure retried at once
    assert await asyncio.wait_for(q.get(), 1) == "a"
    q.done("a")
    q.forget("a")  # the retry succeeded: nothing else would bring the key back
    assert await asyncio.wait_for(q.get(), 1) == "a"  # the toleration's reconcile still comes
    q.done("a")


async def test_the_federation_worker_backs_off_failures_and_forgets_on_success() -> None:
    registry = MemberRegistry(host=None, cache=LiveCache())  # type: ignore[arg-type]
    ctl = FederationController(host=None, registry=registry, workers=1)  # type: ignore[arg-type]
    key = ("FederatedConfigMap", "demo", "web")
    outcomes: list[bool | Exception] = [True, RuntimeError("crash"), True, False]
    failures_seen: list[int] = []
    finished = asyncio.Event()

    async def reconcile(k: tuple[str, str, str]) -> bool:
        failures_seen.append(ctl.queue.failures(k))
        outcome = outcomes.pop(0)
        if not outcomes:
            finished.set()
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    ctl.reconcile = reconcile  # type: ignore[method-assign]
    ctl.start()
    try:
        ctl.queue.add(key)
        await asyncio.wait_for(finished.wait(), 5)  # three retries: 5 + 10 + 20 ms, not 3 x 5 s
        await asyncio.sleep(0.01)
        assert failures_seen == [0, 1, 2, 3]  # a crash counts as a failure too
        assert ctl.queue.failures(key) == 0  # the success forgot them
    finally:
        await ctl.stop()
