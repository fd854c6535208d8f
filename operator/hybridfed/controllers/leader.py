"""Active/standby with a coordination.k8s.io Lease, with client-go's leader-election semantics.

Every replica keeps its watches and caches warm; only the holder of the Lease reconciles and probes.

Three durations (client-go's names and defaults): the *lease duration* (15 s) is how long a standby
waits, after it last saw the Lease record change, before it may take the Lease; the *renew deadline*
(10 s, shorter) is how long the leader keeps acting after its last successful renewal; the *retry period*
(2 s) is how often both try.

Two rules keep two writers apart even when the hosts' clocks disagree:

* **The leader stops first.** Its deadline is counted on its own monotonic clock from the moment it
  *sent* the renewal that succeeded; at the deadline it stops leading, whatever the renewal in flight is
  doing. The default reaction is to exit the process (client-go's usual ``OnStoppedLeading``): that cuts
  every in-flight reconcile, probe and request at once, and the supervisor (the Deployment, systemd)
  starts a clean standby. A process frozen past its deadline (SIGSTOP, a stalled event loop) is caught
  the moment it runs again, before it sends anything: by a SIGCONT handler, which Python runs before any
  I/O callback after ``epoll_wait`` is interrupted, and by a watchdog thread that does not need the event
  loop.
* **The standby judges expiry by what it saw, when it saw it.** It notes the record (holder,
  renewTime, resourceVersion, ...) and the *local monotonic time at which it received a different one*;
  the holder has expired only when the record has not changed for a full lease duration by that clock.
  The record's ``renewTime`` is never compared with this host's wall clock, so no skew, however large,
  lets a standby take early. It takes with the resourceVersion it saw: a 409 means someone else won.

Why that is enough: the standby's clock for a record starts no earlier than the holder's renewal was
sent (the standby received the record after the API server wrote it, which was after the holder sent
it), and the holder stops ``renew deadline`` after sending; the standby takes over no earlier than
``lease duration`` after receiving. The two are ``lease duration - renew deadline`` (5 s) apart, and
monotonic clocks drift by parts per million, not by seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import math
import os
import random
import signal
import socket
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from types import FrameType
from typing import Any

from hybridfed.api.errors import ApiError
from hybridfed.members.client import KubeClient

log = logging.getLogger("hybridfed.leader")

LEASE_NAME = "hybridfed-operator"
JITTER_FACTOR = 1.2  # client-go's: a standby retries every retry period * [1, 1 + JITTER_FACTOR)

Clock = Callable[[], float]
OnStopped = Callable[[str], None]


def default_identity() -> str:
    return f"{os.environ.get('POD_NAME') or socket.gethostname()}_{uuid.uuid4().hex[:8]}"


def _fmt(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# ---- the pure part: observations and a monotonic now in, a decision out ------------------------------

@dataclass(frozen=True)
class Timings:
    """client-go's LeaseDuration, RenewDeadline and RetryPeriod, in seconds."""

    lease_duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0

    def __post_init__(self) -> None:
        if self.retry_period <= 0:
            raise ValueError("the retry period must be positive")
        if self.lease_duration <= self.renew_deadline:
            raise ValueError(f"the lease duration ({self.lease_duration:g}s) must be longer than the renew "
                             f"deadline ({self.renew_deadline:g}s): the leader must stop before a standby may take")
        if self.renew_deadline <= JITTER_FACTOR * self.retry_period:
            raise ValueError(f"the renew deadline ({self.renew_deadline:g}s) must be longer than "
                             f"{JITTER_FACTOR:g} x the retry period ({self.retry_period:g}s)")

    @property
    def lease_seconds(self) -> int:
        """What the Lease records as leaseDurationSeconds (an integer there): never shorter than ours."""
        return math.ceil(self.lease_duration)


@dataclass(frozen=True)
class Record:
    """A Lease as one read returned it. Any difference, resourceVersion included, is a change."""

    holder: str
    lease_seconds: int
    acquire_time: str | None
    renew_time: str | None
    transitions: int
    resource_version: str

    @classmethod
    def of(cls, lease: Mapping[str, Any]) -> Record:
        spec = lease.get("spec") or {}
        return cls(holder=spec.get("holderIdentity") or "", lease_seconds=int(spec.get("leaseDurationSeconds") or 0),
                   acquire_time=spec.get("acquireTime"), renew_time=spec.get("renewTime"),
                   transitions=int(spec.get("leaseTransitions") or 0),
                   resource_version=str((lease.get("metadata") or {}).get("resourceVersion") or ""))


class Action(enum.StrEnum):
    CREATE = "create"  # there is no Lease: create it (409 AlreadyExists: someone else won)
    ACQUIRE = "acquire"  # take the Lease, carrying the resourceVersion seen (409 Conflict: someone else won)
    RENEW = "renew"  # we lead: renew, carrying the resourceVersion seen
    STAND_BY = "stand-by"  # someone else holds it, or we have not read it yet
    STOP = "stop"  # we led and may no longer: stop every write now


@dataclass(frozen=True)
class Decision:
    action: Action
    reason: str
    resource_version: str | None = None  # what a write must carry (optimistic concurrency)
    wait: float = 0.0  # STAND_BY: seconds until the holder could have expired, by our clock


class ElectionState:
    """One replica's view of the election: what it last saw of the Lease and when, by its monotonic clock."""

    def __init__(self, identity: str, timings: Timings) -> None:
        self.identity = identity
        self.timings = timings
        self.known = False  # read the Lease (or learnt it is absent) at least once
        self.observed: Record | None = None
        self.observed_at = 0.0  # when we received a record different from the one before
        self.renewed_at: float | None = None  # when we sent the write that last succeeded
        self.leading = False
        self.stopped = False

    def observe(self, record: Record | None, now: float) -> None:
        """Note what a read returned (None: no Lease), received at monotonic `now`. Only a change restarts
        the holder's clock: a holder that keeps renewing keeps changing its record."""
        if not self.known or record != self.observed:
            self.observed, self.observed_at, self.known = record, now, True

    def deadline(self) -> float | None:
        """Monotonic time after which we must not write (None: not leading)."""
        if not self.leading or self.renewed_at is None:
            return None
        return self.renewed_at + self.timings.renew_deadline

    def may_write(self, now: float) -> bool:
        deadline = self.deadline()
        return not self.stopped and deadline is not None and now < deadline

    def expires_at(self) -> float | None:
        """When, by our clock, the observed holder's lease runs out if its record does not change again."""
        if self.observed is None:
            return None
        seconds = max(self.observed.lease_seconds, self.timings.lease_duration)
        return self.observed_at + seconds

    def decide(self, now: float) -> Decision:
        if self.stopped:
            return Decision(Action.STOP, "stopped leading")
        if self.leading and not self.may_write(now):
            return Decision(Action.STOP, f"no renewal succeeded within the renew deadline "
                                         f"({self.timings.renew_deadline:g}s)")
        if not self.known:
            return Decision(Action.STAND_BY, "the Lease has not been read yet")
        record = self.observed
        if record is None:
            if self.leading:
                return Decision(Action.STOP, "the Lease was deleted")
            return Decision(Action.CREATE, "there is no Lease")
        rv = record.resource_version
        if record.holder == self.identity:
            if self.leading:
                return Decision(Action.RENEW, "we hold the Lease", rv)
            return Decision(Action.ACQUIRE, "the Lease names us (a write whose answer we missed)", rv)
        if self.leading:
            return Decision(Action.STOP, f"the Lease is held by {record.holder!r}")
        if not record.holder:
            return Decision(Action.ACQUIRE, "the Lease was released", rv)
        expires = self.expires_at()
        assert expires is not None
        if now < expires:
            return Decision(Action.STAND_BY, f"{record.holder!r} holds the Lease", wait=expires - now)
        return Decision(Action.ACQUIRE, f"the record of {record.holder!r} has not changed for "
                                        f"{now - self.observed_at:.1f}s (lease {expires - self.observed_at:g}s)", rv)

    def succeeded(self, record: Record, sent_at: float, now: float) -> bool:
        """Our write, sent at monotonic `sent_at`, was accepted and answered with `record` (received at `now`).
        True when this starts our leadership."""
        self.observe(record, now)
        self.renewed_at = sent_at
        started = not self.leading
        self.leading = True
        return started

    def stop(self) -> None:
        self.leading = False
        self.stopped = True


def lease_body(identity: str, timings: Timings, namespace: str, observed: Record | None,
               decision: Decision, wall_now: datetime) -> dict[str, Any]:
    """The Lease our write sends. `renewTime` is informational (kubectl shows it): nobody judges expiry by it."""
    now = _fmt(wall_now)
    mine = observed is not None and observed.holder == identity
    transitions = 0 if observed is None else observed.transitions + (0 if mine else 1)
    meta: dict[str, Any] = {"name": LEASE_NAME, "namespace": namespace}
    if decision.resource_version:
        meta["resourceVersion"] = decision.resource_version
    return {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": meta,
            "spec": {"holderIdentity": identity, "leaseDurationSeconds": timings.lease_seconds,
                     "acquireTime": (observed.acquire_time if mine and observed is not None else None) or now,
                     "renewTime": now, "leaseTransitions": transitions}}


def retry_delay(timings: Timings, leading: bool, jitter: float) -> float:
    """client-go: the leader retries every retry period; a standby with jitter (`jitter` in [0, 1))."""
    return timings.retry_period if leading else timings.retry_period * (1 + JITTER_FACTOR * jitter)


# ---- stopping ------------------------------------------------------------------------------------------

def _write_stderr(message: str) -> None:
    with contextlib.suppress(OSError):
        os.write(2, f"{message}\n".encode())


def exit_process(reason: str) -> None:
    """The default reaction to losing the lease: exit at once (no cleanup handlers, which would write), so
    every in-flight reconcile, probe and request ends now; the supervisor starts a fresh standby."""
    log.critical("stopped leading: %s; exiting so that a standby can take over", reason)
    for handler in logging.getLogger().handlers:
        with contextlib.suppress(Exception):
            handler.flush()
    os._exit(1)


def _exit_hard(reason: str) -> None:
    # From a signal handler or the watchdog thread: no logging locks, which a stalled thread may hold.
    _write_stderr(f"hybridfed.leader: stopped leading: {reason}; exiting so that a standby can take over")
    os._exit(1)


# ---- the loop ------------------------------------------------------------------------------------------

class LeaderElector:
    def __init__(self, host: KubeClient, namespace: str, *, identity: str | None = None,
                 timings: Timings | None = None, clock: Clock = time.monotonic,
                 on_stopped_leading: OnStopped = exit_process, process_guards: bool = True) -> None:
        """`on_stopped_leading` must end every write (the default exits the process); `process_guards`
        adds the SIGCONT handler and the watchdog thread, which exit the process (off in unit tests)."""
        self.host = host
        self.namespace = namespace
        self.identity = identity or default_identity()
        self.timings = timings or Timings()
        self.clock = clock
        self.on_stopped_leading = on_stopped_leading
        self.process_guards = process_guards
        self.state = ElectionState(self.identity, self.timings)
        self._path = f"/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases"
        self._timer: asyncio.TimerHandle | None = None
        self._lead_task: asyncio.Task[None] | None = None
        self._watchdog_stop = threading.Event()
        self._stopped = asyncio.Event()
        self._previous_sigcont: Any = None

    @property
    def leading(self) -> bool:
        return self.state.leading

    def may_write(self) -> bool:
        """Whether this replica may write now (usable as a gate right before a write)."""
        return self.state.may_write(self.clock())

    # ---- one round -----------------------------------------------------------------------------------
    async def round(self) -> tuple[Decision, bool]:
        """Read the Lease, decide, write if the decision says so. Returns the decision and whether the
        write was accepted (False on a 409: someone else won; the next round reads again)."""
        try:
            lease = await self.host.request("GET", f"{self._path}/{LEASE_NAME}")
        except ApiError as exc:
            if not exc.not_found:
                raise
            lease = None
        self.state.observe(Record.of(lease) if lease else None, self.clock())
        decision = self.state.decide(self.clock())
        if decision.action not in (Action.CREATE, Action.ACQUIRE, Action.RENEW):
            return decision, False
        body = lease_body(self.identity, self.timings, self.namespace, self.state.observed, decision,
                          datetime.now(UTC))
        sent_at = self.clock()
        try:
            if decision.action is Action.CREATE:
                answer = await self.host.request("POST", self._path, body=body)
            else:
                answer = await self.host.request("PUT", f"{self._path}/{LEASE_NAME}", body=body)
        except ApiError as exc:
            if exc.conflict:
                log.info("lease %s/%s: %s lost to another replica (%s)", self.namespace, LEASE_NAME,
                         decision.action, exc.reason or "Conflict")
                return decision, False
            raise
        self.state.succeeded(Record.of(answer or body), sent_at, self.clock())
        return decision, True

    # ---- the campaign --------------------------------------------------------------------------------
    async def run(self, on_started_leading: Callable[[], Awaitable[None]]) -> None:
        """Campaign until elected, start `on_started_leading`, keep renewing; stop leading at the renew
        deadline. Returns only after stopping (the default reaction never returns: it exits)."""
        if self.process_guards:
            self._install_guards()
        campaign = asyncio.create_task(self._campaign(on_started_leading), name="leader-campaign")
        stopped = asyncio.create_task(self._stopped.wait(), name="leader-stopped")
        try:
            # The deadline timer may stop us while a round is in flight: stop waiting for it then.
            await asyncio.wait({campaign, stopped}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (campaign, stopped, self._lead_task):
                if task is not None and not task.done():
                    task.cancel()
            await asyncio.gather(campaign, stopped, return_exceptions=True)
            self._disarm()
        failure = None if campaign.cancelled() else campaign.exception()
        if failure is not None:
            raise failure

    async def _campaign(self, on_started_leading: Callable[[], Awaitable[None]]) -> None:
        while True:
            deadline = self.state.deadline()
            # A leader's round may take only what is left of its deadline; a standby's, one lease duration.
            budget = self.timings.lease_duration if deadline is None else deadline - self.clock()
            decision: Decision | None = None
            accepted = False
            if budget > 0:
                try:
                    decision, accepted = await asyncio.wait_for(self.round(), budget)
                except TimeoutError:
                    log.warning("lease %s/%s: no answer within %.1fs", self.namespace, LEASE_NAME, budget)
                except ApiError as exc:
                    log.warning("lease %s/%s: %s", self.namespace, LEASE_NAME, exc)
            if self.state.leading and not self.may_write():
                self._stop(f"no renewal succeeded within the renew deadline ({self.timings.renew_deadline:g}s)")
                return
            if decision is not None and decision.action is Action.STOP:
                self._stop(decision.reason)
                return
            if accepted:
                self._arm_timer()
                if self._lead_task is None:
                    log.info("became leader as %s", self.identity)
                    self._lead_task = asyncio.create_task(self._lead(on_started_leading), name="leading")
            await asyncio.sleep(retry_delay(self.timings, self.state.leading, random.random()))

    async def _lead(self, on_started_leading: Callable[[], Awaitable[None]]) -> None:
        try:
            await on_started_leading()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("starting to lead failed")
            self._stop("starting to lead failed")

    def _stop(self, reason: str) -> None:
        if self.state.stopped:
            return
        was_leading = self.state.leading
        self.state.stop()
        self._stopped.set()
        self._disarm()
        if self._lead_task is not None and not self._lead_task.done():
            self._lead_task.cancel()
        if was_leading:
            self.on_stopped_leading(reason)

    # ---- guards: stop at the deadline even if the loop is busy or the process was frozen ---------------
    def _arm_timer(self) -> None:
        deadline = self.state.deadline()
        if deadline is None:
            return
        if self._timer is not None:
            self._timer.cancel()
        self._timer = asyncio.get_running_loop().call_later(max(0.0, deadline - self.clock()), self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        if self.state.leading and not self.may_write():
            self._stop(f"no renewal succeeded within the renew deadline ({self.timings.renew_deadline:g}s)")
        elif self.state.leading:
            self._arm_timer()  # fired a hair early

    def _overdue(self) -> bool:
        return self.state.leading and not self.may_write()

    def _install_guards(self) -> None:
        if threading.current_thread() is threading.main_thread():
            self._previous_sigcont = signal.signal(signal.SIGCONT, self._on_sigcont)
        self._watchdog_stop.clear()
        threading.Thread(target=self._watchdog, name="leader-watchdog", daemon=True).start()

    def _on_sigcont(self, signum: int, frame: FrameType | None) -> None:
        # Runs in the main thread before the event loop handles anything that arrived while we were stopped.
        if self._overdue():
            _exit_hard("resumed after the renew deadline had passed")

    def _watchdog(self) -> None:
        interval = min(0.25, self.timings.retry_period / 4)
        while not self._watchdog_stop.wait(interval):
            if self._overdue():
                _exit_hard("the renew deadline passed")

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._watchdog_stop.set()
        if self._previous_sigcont is not None and threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGCONT, self._previous_sigcont)
            self._previous_sigcont = None
