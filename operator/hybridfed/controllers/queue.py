"""A de-duplicating work queue, with client-go's semantics.

A key is queued at most once; a key added while a worker holds it is re-queued when
the worker is done, so the last change is never lost and one object is never
reconciled by two workers at once.

Retries are rate limited per key, like client-go's ItemExponentialFailureRateLimiter: a key
that failed n times in a row comes back after base * 2**n (5 ms, 10 ms, 20 ms ... at most
5 min), with jitter so that keys which failed together do not come back together; `forget`
after a success starts it over. One key failing for good never slows the others down.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)

BASE_DELAY = 0.005  # client-go's DefaultControllerRateLimiter: 5 ms ...
MAX_DELAY = 300.0  # ... to 5 min
JITTER = 0.1  # each delay is drawn from [delay * (1 - JITTER), delay * (1 + JITTER)], never above MAX_DELAY


def backoff_delay(failures: int, *, base: float = BASE_DELAY, cap: float = MAX_DELAY, jitter: float = JITTER,
                  uniform: Callable[[float, float], float] = random.uniform) -> float:
    """The wait before retry number `failures` + 1: base * 2**failures, jittered, at most `cap`."""
    delay = min(cap, base * 2.0 ** min(failures, 64))  # the exponent is bounded: 2**1024 overflows a float
    return min(cap, delay * uniform(1.0 - jitter, 1.0 + jitter))


class WorkQueue(Generic[K]):
    def __init__(self, *, base_delay: float = BASE_DELAY, max_delay: float = MAX_DELAY, jitter: float = JITTER,
                 uniform: Callable[[float, float], float] = random.uniform) -> None:
        self._queue: asyncio.Queue[K] = asyncio.Queue()
        self._queued: set[K] = set()
        self._processing: set[K] = set()
        self._dirty: set[K] = set()
        self._timers: dict[K, list[asyncio.TimerHandle]] = {}
        self._failures: dict[K, int] = {}
        self._base_delay = base_delay
        self._max_delay = max_delay
        self._jitter = jitter
        self._uniform = uniform

    def __len__(self) -> int:
        return len(self._queued)

    def add(self, key: K) -> None:
        if key in self._processing:
            self._dirty.add(key)
        elif key not in self._queued:
            self._queued.add(key)
            self._queue.put_nowait(key)

    def add_after(self, key: K, delay: float) -> None:
        """Add `key` after `delay` seconds. A pending timer for it that fires no later absorbs the request;
        an earlier request never cancels a later one (a retry must not swallow a toleration's expiry)."""
        loop = asyncio.get_running_loop()
        pending = self._timers.setdefault(key, [])
        if any(timer.when() <= loop.time() + delay for timer in pending):
            return

        def fire() -> None:
            pending.remove(handle)
            if not pending and self._timers.get(key) is pending:
                del self._timers[key]
            self.add(key)

        handle = loop.call_later(delay, fire)
        pending.append(handle)

    def add_rate_limited(self, key: K) -> float:
        """Add `key` again after its failure backoff, and count one more failure for it; returns the delay."""
        failures = self._failures.get(key, 0)
        self._failures[key] = failures + 1
        delay = backoff_delay(failures, base=self._base_delay, cap=self._max_delay, jitter=self._jitter,
                              uniform=self._uniform)
        self.add_after(key, delay)
        return delay

    def forget(self, key: K) -> None:
        """`key` succeeded: its next failure waits the base delay again."""
        self._failures.pop(key, None)

    def failures(self, key: K) -> int:
        """How many times in a row `key` failed (was re-added rate limited) since it was last forgotten."""
        return self._failures.get(key, 0)

    async def get(self) -> K:
        key = await self._queue.get()
        self._queued.discard(key)
        self._processing.add(key)
        return key

    def done(self, key: K) -> None:
        self._processing.discard(key)
        if key in self._dirty:
            self._dirty.discard(key)
            self.add(key)

    def idle(self) -> bool:
        return not self._queued and not self._processing
