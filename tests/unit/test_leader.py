"""Leader election: the leader stops before its lease can be taken; the standby counts on its own clock.

The decision logic is pure (observations and a monotonic now in, a decision out) and tested directly;
the elector's loop is tested against an in-memory Lease API that enforces resourceVersions as the API
server does (a write carrying a stale one gets 409), and the process guards in a real child process.
"""

from __future__ import annotations

import asyncio
import copy
import os
import signal
import subprocess
import sys
import textwrap
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from hybridfed.api.errors import ApiError
from hybridfed.controllers.leader import (
    LEASE_NAME,
    Action,
    ElectionState,
    LeaderElector,
    Record,
    Timings,
    lease_body,
    retry_delay,
)

T = Timings(lease_duration=15, renew_deadline=10, retry_period=2)
NS = "hybridfed-system"


def record(holder: str = "other", rv: str = "1", renew: str = "2024-01-01T00:00:00.000000Z",
           seconds: int = 15) -> Record:
    return Record(holder=holder, lease_seconds=seconds, acquire_time=renew, renew_time=renew, transitions=0,
                  resource_version=rv)


# ---- timings -----------------------------------------------------------------------------------------

def test_timings_default_to_client_go_and_refuse_a_deadline_that_outlives_the_lease() -> None:
    assert (Timings().lease_duration, Timings().renew_deadline, Timings().retry_period) == (15, 10, 2)
    with pytest.raises(ValueError, match="longer than the renew deadline"):
        Timings(lease_duration=10, renew_deadline=10, retry_period=2)
    with pytest.raises(ValueError, match="retry period"):
        Timings(lease_duration=15, renew_deadline=2, retry_period=2)
    assert Timings(lease_duration=6.5, renew_deadline=4, retry_period=1).lease_seconds == 7


def test_a_standby_retries_with_jitter_the_leader_on_the_period() -> None:
    assert retry_delay(T, True, 0.99) == 2
    assert retry_delay(T, False, 0.0) == 2
    assert retry_delay(T, False, 0.5) == pytest.approx(3.2)


# ---- the standby's clock -------------------------------------------------------------------------------

@pytest.mark.parametrize("renew_time", ["2000-01-01T00:00:00.000000Z", "2099-12-31T23:59:59.999999Z", None])
def test_skewed_renew_time_never_lets_the_standby_take_early(renew_time: str | None) -> None:
    """Whatever the record's renewTime says (far past, far future, missing), the standby waits a full lease
    from when it first received that record, by its own monotonic clock."""
    s = ElectionState("me", T)
    s.observe(record(renew=renew_time) if renew_time else record(renew=""), now=1000.0)
    for now in (1000.0, 1005.0, 1014.99):
        d = s.decide(now)
        assert d.action is Action.STAND_BY
        assert d.wait == pytest.approx(1015.0 - now)
    s.observe(record(renew=renew_time) if renew_time else record(renew=""), now=1014.0)  # same record again
    assert s.decide(1015.0).action is Action.ACQUIRE


def test_the_holders_declared_lease_is_honoured_when_longer_than_ours() -> None:
    s = ElectionState("me", T)
    s.observe(record(seconds=60), now=0.0)
    assert s.decide(59.0).action is Action.STAND_BY
    assert s.decide(60.0).action is Action.ACQUIRE


def test_a_fresh_observation_resets_the_standbys_timer() -> None:
    s = ElectionState("me", T)
    s.observe(record(rv="1", renew="2024-01-01T00:00:00.000000Z"), now=0.0)
    s.observe(record(rv="2", renew="2024-01-01T00:00:02.000000Z"), now=12.0)  # the holder renewed
    assert s.decide(15.0).action is Action.STAND_BY
    assert s.decide(26.9).action is Action.STAND_BY
    assert s.decide(27.0).action is Action.ACQUIRE
    # A change of resourceVersion alone is a change too (someone wrote the Lease).
    s.observe(record(rv="3", renew="2024-01-01T00:00:02.000000Z"), now=27.5)
    assert s.decide(30.0).action is Action.STAND_BY


def test_an_unchanged_record_read_again_does_not_reset_the_timer() -> None:
    s = ElectionState("me", T)
    for now in range(0, 15, 2):
        s.observe(record(), now=float(now))
    assert s.decide(15.0).action is Action.ACQUIRE


def test_nothing_is_decided_before_the_first_read_and_a_missing_lease_is_created() -> None:
    s = ElectionState("me", T)
    assert s.decide(0.0).action is Action.STAND_BY
    s.observe(None, now=0.0)
    assert s.decide(0.0).action is Action.CREATE


def test_a_released_lease_is_taken_at_once() -> None:
    s = ElectionState("me", T)
    s.observe(record(holder="", rv="9"), now=0.0)
    d = s.decide(0.0)
    assert (d.action, d.resource_version) == (Action.ACQUIRE, "9")


# ---- acquiring with the resourceVersion seen -----------------------------------------------------------

def test_an_acquire_carries_the_resource_version_seen() -> None:
    s = ElectionState("me", T)
    seen = record(holder="other", rv="4711")
    s.observe(seen, now=0.0)
    d = s.decide(15.0)
    assert (d.action, d.resource_version) == (Action.ACQUIRE, "4711")
    body = lease_body("me", T, NS, s.observed, d, datetime(2024, 5, 1, 12, 0, tzinfo=UTC))
    assert body["metadata"] == {"name": LEASE_NAME, "namespace": NS, "resourceVersion": "4711"}
    assert body["spec"]["holderIdentity"] == "me"
    assert body["spec"]["leaseDurationSeconds"] == 15
    assert body["spec"]["leaseTransitions"] == 1  # a new holder
    assert body["spec"]["acquireTime"] == body["spec"]["renewTime"] == "2024-05-01T12:00:00.000000Z"


def test_a_renewal_keeps_the_acquire_time_and_the_transition_count() -> None:
    s = ElectionState("me", T)
    mine = Record("me", 15, "2024-05-01T11:00:00.000000Z", "2024-05-01T11:59:58.000000Z", 3, "88")
    s.succeeded(mine, sent_at=0.0, now=0.1)
    d = s.decide(2.0)
    assert (d.action, d.resource_version) == (Action.RENEW, "88")
    body = lease_body("me", T, NS, s.observed, d, datetime(2024, 5, 1, 12, 0, tzinfo=UTC))
    assert body["spec"]["acquireTime"] == "2024-05-01T11:00:00.000000Z"
    assert body["spec"]["leaseTransitions"] == 3


# ---- the leader stops first ----------------------------------------------------------------------------

def test_a_leader_whose_renewals_fail_stops_at_the_renew_deadline_before_the_lease_expires() -> None:
    s = ElectionState("me", T)
    s.observe(None, now=0.0)
    assert s.succeeded(record(holder="me", rv="1"), sent_at=100.0, now=100.2)  # the deadline counts from the send
    assert s.may_write(109.99)
    assert s.decide(109.99).action is Action.RENEW
    assert not s.may_write(110.0)
    d = s.decide(110.0)
    assert d.action is Action.STOP and "renew deadline" in d.reason
    assert 110.0 < 100.0 + T.lease_duration  # stops 5 s before anyone may take
    s.stop()
    assert not s.may_write(100.5) and s.decide(100.5).action is Action.STOP


def test_a_successful_renewal_moves_the_deadline() -> None:
    s = ElectionState("me", T)
    s.succeeded(record(holder="me", rv="1"), sent_at=0.0, now=0.1)
    s.succeeded(record(holder="me", rv="2"), sent_at=8.0, now=8.1)
    assert s.may_write(17.9) and not s.may_write(18.0)


def test_a_leader_that_sees_another_holder_or_no_lease_stops() -> None:
    s = ElectionState("me", T)
    s.succeeded(record(holder="me", rv="1"), sent_at=0.0, now=0.1)
    s.observe(record(holder="usurper", rv="2"), now=1.0)
    assert s.decide(1.0).action is Action.STOP
    s = ElectionState("me", T)
    s.succeeded(record(holder="me", rv="1"), sent_at=0.0, now=0.1)
    s.observe(None, now=1.0)
    assert s.decide(1.0).action is Action.STOP


@pytest.mark.parametrize("offset_b", [-1e6, -3.7, 0.0, 42.0, 1e9])
@pytest.mark.parametrize("read_lag", [0.0, 0.4, 1.9])
def test_two_replicas_never_write_at_the_same_time(offset_b: float, read_lag: float) -> None:
    """A timeline on two hosts whose monotonic clocks have unrelated origins (and whose wall clocks say
    anything): A leads and renews every retry period, then is cut off; B reads every retry period, `read_lag`
    after the write it sees. A's last writable instant is before B's first."""
    a, b = ElectionState("a", T), ElectionState("b", T)
    rv = 0
    t = 0.0
    a.observe(None, t)
    assert a.decide(t).action is Action.CREATE
    rv += 1
    a.succeeded(record(holder="a", rv=str(rv), renew="1970-01-01T00:00:00.000000Z"), sent_at=t, now=t)
    last_a_write = t
    while t < 30.0:  # A renews; B watches
        t += T.retry_period
        assert a.decide(t).action is Action.RENEW
        rv += 1
        a.succeeded(record(holder="a", rv=str(rv)), sent_at=t, now=t + 0.1)
        last_a_write = t
        b.observe(record(holder="a", rv=str(rv)), now=t + read_lag + offset_b)
        assert b.decide(t + read_lag + offset_b).action is Action.STAND_BY
    # A is cut off from the API server from now on: it can only consult its clock.
    a_stops = next(x / 100 for x in range(int(t * 100), int((t + 60) * 100)) if not a.may_write(x / 100))
    assert a_stops == pytest.approx(last_a_write + T.renew_deadline)
    b_takes = next(x / 100 for x in range(int(t * 100), int((t + 60) * 100))
                   if b.decide(x / 100 + offset_b).action is Action.ACQUIRE)
    assert b_takes - a_stops >= T.lease_duration - T.renew_deadline - 1e-9


# ---- the elector's loop against an in-memory Lease API -------------------------------------------------

class LeaseApi:
    """The Lease endpoint of an API server: resourceVersions, 404 and 409 as the real one answers."""

    def __init__(self) -> None:
        self.lease: dict[str, Any] | None = None
        self.rv = 0
        self.writes: list[tuple[str, float]] = []  # (holder, monotonic time accepted)

    def handle(self, method: str, path: str, body: Any) -> Any:
        if method == "GET":
            if self.lease is None:
                raise ApiError(404, "NotFound", "leases not found")
            return copy.deepcopy(self.lease)
        if method == "POST" and self.lease is not None:
            raise ApiError(409, "AlreadyExists", "already exists")
        if method == "PUT":
            assert self.lease is not None
            if body["metadata"].get("resourceVersion") != self.lease["metadata"]["resourceVersion"]:
                raise ApiError(409, "Conflict", "the object has been modified")
        self.rv += 1
        self.lease = copy.deepcopy(body)
        self.lease["metadata"]["resourceVersion"] = str(self.rv)
        self.writes.append((body["spec"]["holderIdentity"], time.monotonic()))
        return copy.deepcopy(self.lease)


class Host:
    """One replica's connection to the LeaseApi; it can be cut (errors) or hang (no answer)."""

    def __init__(self, api: LeaseApi) -> None:
        self.api = api
        self.mode = "ok"

    async def request(self, method: str, path: str, *, body: Any = None, **_: Any) -> Any:
        await asyncio.sleep(0.005)
        if self.mode == "hang":
            await asyncio.sleep(3600)
        if self.mode == "down":
            raise ApiError(0, "Unreachable", "connection refused")
        return self.api.handle(method, path, body)


FAST = Timings(lease_duration=0.8, renew_deadline=0.5, retry_period=0.1)


def elector(host: Host, identity: str, stopped: list[tuple[str, float]]) -> LeaderElector:
    return LeaderElector(host, NS, identity=identity, timings=FAST, process_guards=False,  # type: ignore[arg-type]
                         on_stopped_leading=lambda reason: stopped.append((reason, time.monotonic())))


async def wait_until(check: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.01)


@pytest.mark.parametrize("failure", ["down", "hang"])
async def test_elector_stops_at_the_renew_deadline_and_the_standby_takes_only_after(failure: str) -> None:
    api = LeaseApi()
    stopped_a: list[tuple[str, float]] = []
    stopped_b: list[tuple[str, float]] = []
    host_a, host_b = Host(api), Host(api)
    a, b = elector(host_a, "a", stopped_a), elector(host_b, "b", stopped_b)
    working = asyncio.Event()
    cancelled = asyncio.Event()

    async def lead_forever() -> None:
        working.set()
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    async def lead_b() -> None:
        return None

    task_a = asyncio.create_task(a.run(lead_forever))
    await asyncio.wait_for(working.wait(), 5)
    task_b = asyncio.create_task(b.run(lead_b))
    await asyncio.sleep(0.5)
    assert a.leading and not b.leading
    host_a.mode = failure
    last_renewal_sent = a.state.renewed_at
    assert last_renewal_sent is not None
    await asyncio.wait_for(task_a, 5)  # run() returns once it stopped leading (the default would exit)
    (reason, stop_time), = stopped_a
    assert "renew deadline" in reason
    # Never early; late only by the event loop's scheduling (generous: machines running tests are busy).
    assert FAST.renew_deadline <= stop_time - last_renewal_sent < FAST.renew_deadline + 0.3
    assert cancelled.is_set()  # the in-flight work was cancelled
    assert not a.may_write()
    await wait_until(lambda: b.leading)
    taken = next(t for holder, t in api.writes if holder == "b")
    assert taken - last_renewal_sent >= FAST.lease_duration  # B counted a full lease from what it saw
    assert all(t < taken for holder, t in api.writes if holder == "a")
    task_b.cancel()
    await asyncio.gather(task_b, return_exceptions=True)
    assert not stopped_b


async def test_only_one_of_two_racing_standbys_wins_the_conflict_decides() -> None:
    api = LeaseApi()
    api.lease = {"metadata": {"name": LEASE_NAME, "resourceVersion": "0"},
                 "spec": {"holderIdentity": "gone", "leaseDurationSeconds": 1,
                          "renewTime": "2099-01-01T00:00:00.000000Z"}}
    stopped: list[tuple[str, float]] = []
    x, y = elector(Host(api), "x", stopped), elector(Host(api), "y", stopped)
    for e in (x, y):  # both read the same record at the same time ...
        e.state.observe(Record.of(api.lease), time.monotonic() - 10)
    outcomes = await asyncio.gather(x.round(), y.round())  # ... and both try to take it with its version
    assert sorted(accepted for _, accepted in outcomes) == [False, True]
    assert [d.action for d, _ in outcomes] == [Action.ACQUIRE, Action.ACQUIRE]
    assert x.leading != y.leading
    assert api.lease["spec"]["holderIdentity"] == ("x" if x.leading else "y")
    assert api.lease["spec"]["leaseTransitions"] == 1


async def test_two_electors_creating_the_lease_at_once_elect_one() -> None:
    api = LeaseApi()
    stopped: list[tuple[str, float]] = []
    x, y = elector(Host(api), "x", stopped), elector(Host(api), "y", stopped)

    async def nothing() -> None:
        return None

    tasks = [asyncio.create_task(e.run(nothing)) for e in (x, y)]
    await wait_until(lambda: x.leading or y.leading)
    await asyncio.sleep(0.5)
    assert x.leading != y.leading
    assert not stopped
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


# ---- the process guards: frozen past the deadline, the process exits before it writes -----------------

CHILD = textwrap.dedent("""
    import asyncio, sys, time
    from hybridfed.api.errors import ApiError
    from hybridfed.controllers.leader import LeaderElector, Timings

    class Host:
        lease = None
        async def request(self, method, path, *, body=None, **_):
            if method == "GET":
                if self.lease is None:
                    raise ApiError(404, "NotFound", "no lease")
                return self.lease
            body["metadata"]["resourceVersion"] = str(time.monotonic())
            self.lease = body
            return body

    async def lead():
        print("leading", flush=True)
        while True:  # in-flight work: a "write" every 20 ms
            print("write", flush=True)
            await asyncio.sleep(0.02)

    elector = LeaderElector(Host(), "ns", identity="child",
                            timings=Timings(lease_duration=1.5, renew_deadline=1.0, retry_period=0.2))
    asyncio.run(elector.run(lead))
""")


def test_a_leader_frozen_past_its_deadline_exits_on_resume_before_writing() -> None:
    src = Path(__file__).resolve().parents[2] / "operator"
    child = subprocess.Popen([sys.executable, "-c", CHILD], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             env={**os.environ, "PYTHONPATH": str(src)})
    assert child.stdout is not None and child.stderr is not None
    try:
        assert child.stdout.readline() == b"leading\n"
        time.sleep(0.5)  # leads and renews
        os.kill(child.pid, signal.SIGSTOP)
        time.sleep(0.2)
        os.set_blocking(child.stdout.fileno(), False)
        before = child.stdout.read() or b""  # everything written before the freeze
        assert before.count(b"write") > 5
        time.sleep(1.3)  # past the renew deadline (1.0 s) since the last renewal
        os.kill(child.pid, signal.SIGCONT)
        assert child.wait(timeout=5) == 1
        os.set_blocking(child.stdout.fileno(), True)
        after = child.stdout.read()
        assert after == b"", f"the child wrote after it was resumed: {after!r}"
        assert b"stopped leading" in child.stderr.read()
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
