"""Two operators with leader election: one reconciles, the other takes over when it dies or freezes.

Short timings (lease 6 s, renew deadline 4 s, retry 1 s) keep the failovers quick.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hybridfed.dev import bootstrap
from hybridfed.dev import fleet as fleet_mod

from .conftest import Kubectl, Operator, get_json, tenant_namespace, wait_for

NS = "leader-e2e"
REPLICAS = ("hybridfed-operator-a", "hybridfed-operator-b")
MEMBERS = ("idc-bj", "tke-gz", "eks-sg")
TIMINGS = ("--lease-duration", "6", "--renew-deadline", "4", "--retry-period", "1")


@pytest.fixture()
def two_operators(federation: Operator, fleet: fleet_mod.Fleet, kubectl: Kubectl) -> Iterator[dict[str, int]]:
    """Two replicas with leader election; yields where each one's log starts (the files are appended to)."""
    federation.stop()
    tenant_namespace(kubectl, NS)
    argv = [bootstrap.hybridfed_command(), "operator", "--kubeconfig", str(fleet.kubeconfig), "--context", "hub",
            "--probe-interval", "2", "--leader-elect", "--metrics-port", "0", *TIMINGS]
    offsets = {name: log_of(fleet, name).stat().st_size if log_of(fleet, name).exists() else 0 for name in REPLICAS}
    try:
        for name in REPLICAS:
            fleet.spawn("hub", name, argv)
        yield offsets
    finally:
        for name in REPLICAS:
            pid = fleet.pid("hub", name)
            if pid is not None:  # a replica a test froze must be able to take its SIGTERM
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGCONT)
            fleet.stop_component("hub", name)
        federation.start()


def log_of(fleet: fleet_mod.Fleet, replica: str) -> Path:
    return fleet.cluster_dir("hub") / "logs" / f"{replica}.log"


def current_leader(kubectl: Kubectl, fleet: fleet_mod.Fleet, offsets: dict[str, int]) -> tuple[str, str] | None:
    """(holder identity, replica) once one of this test's replicas holds the Lease. The Lease may still
    name a process of an earlier test: a new replica must wait out that record's lease before taking it."""
    identity = holder(kubectl)
    for name in REPLICAS:
        text = log_of(fleet, name).read_bytes()[offsets[name]:].decode(errors="replace")
        if identity and f"became leader as {identity}" in text:
            return identity, name
    return None


def holder(kubectl: Kubectl) -> str:
    out = kubectl("hub", "-n", "hybridfed-system", "get", "lease", "hybridfed-operator", "-o",
                  "jsonpath={.spec.holderIdentity}", check=False)
    return out.stdout.strip() if out.returncode == 0 else ""


def placed(kubectl: Kubectl, name: str) -> bool:
    return all(kubectl(c, "-n", NS, "get", "configmap", name, check=False).returncode == 0
               for c in ("idc-bj", "tke-gz", "eks-sg"))


def fcm(name: str, value: str | None = None) -> str:
    return json.dumps({"apiVersion": "hybridfed.io/v1alpha1", "kind": "FederatedConfigMap",
                       "metadata": {"name": name, "namespace": NS},
                       "spec": {"template": {"data": {"k": value or name}},
                                "placement": {"clusters": ["idc-bj", "tke-gz", "eks-sg"]}}})


def test_standby_takes_over_when_the_leader_dies(two_operators: dict[str, int], kubectl: Kubectl,
                                                 fleet: fleet_mod.Fleet) -> None:
    first, leader = wait_for("a leader", lambda: current_leader(kubectl, fleet, two_operators), timeout=30)
    kubectl("hub", "apply", "-f", "-", input=fcm("before-failover"))
    wait_for("placement by the leader", lambda: placed(kubectl, "before-failover"), timeout=30)
    pid = fleet.pid("hub", leader)
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    second = wait_for("a new leader", lambda: (h := holder(kubectl)) != first and h, timeout=40)
    assert second != first
    kubectl("hub", "apply", "-f", "-", input=fcm("after-failover"))
    wait_for("placement by the new leader", lambda: placed(kubectl, "after-failover"), timeout=30)
    kubectl("hub", "-n", NS, "delete", "federatedconfigmaps", "--all", "--timeout=60s", timeout=70)



def member_values(kubectl: Kubectl, name: str) -> dict[str, tuple[str, str] | None]:
    """Each member's copy: (data.k, resourceVersion), or None where it is missing."""
    out: dict[str, tuple[str, str] | None] = {}
    for cluster in MEMBERS:
        cm = get_json(kubectl, cluster, "-n", NS, "configmap", name)
        out[cluster] = None if cm is None else ((cm.get("data") or {}).get("k", ""), cm["metadata"]["resourceVersion"])
    return out


def snapshot(kubectl: Kubectl, name: str) -> dict[str, Any]:
    fed = get_json(kubectl, "hub", "-n", NS, "federatedconfigmap", name)
    return {"federated": fed and fed["metadata"]["resourceVersion"], **member_values(kubectl, name)}


def stable(kubectl: Kubectl, name: str, seconds: float = 3.0) -> dict[str, Any]:
    """A snapshot that did not change for `seconds` (the new leader has nothing left to write)."""
    def settled() -> dict[str, Any] | None:
        first = snapshot(kubectl, name)
        time.sleep(seconds)
        return first if snapshot(kubectl, name) == first else None
    result: dict[str, Any] = wait_for(f"{name} to settle", settled, timeout=60)
    return result


def test_a_frozen_leader_resumed_after_losing_the_lease_never_writes(two_operators: dict[str, int], kubectl: Kubectl,
                                                                      fleet: fleet_mod.Fleet) -> None:
    """SIGSTOP the leader for longer than its lease: the standby takes over and applies changes made
    meanwhile; on SIGCONT the old leader steps down before it writes anything (it exits), so those
    changes are not reverted by the stale events it had buffered."""
    name = "frozen-leader"
    first, old = wait_for("a leader", lambda: current_leader(kubectl, fleet, two_operators), timeout=30)
    kubectl("hub", "apply", "-f", "-", input=fcm(name, "v1"))
    wait_for("v1 on every member", lambda: all(v and v[0] == "v1" for v in member_values(kubectl, name).values()),
             timeout=30)
    pid = fleet.pid("hub", old)
    assert pid is not None
    log_offset = log_of(fleet, old).stat().st_size
    os.kill(pid, signal.SIGSTOP)
    frozen_at = time.monotonic()
    try:
        # The frozen leader's watch receives this change into its socket buffer: stale work for later.
        kubectl("hub", "apply", "-f", "-", input=fcm(name, "v2"))
        second = wait_for("the standby to take the lease", lambda: (h := holder(kubectl)) != first and h, timeout=40)
        assert time.monotonic() - frozen_at >= 4  # never before the old leader's renew deadline
        wait_for("v2 on every member, from the new leader",
                 lambda: all(v and v[0] == "v2" for v in member_values(kubectl, name).values()), timeout=30)
        kubectl("hub", "apply", "-f", "-", input=fcm(name, "v3"))
        wait_for("v3 on every member, from the new leader",
                 lambda: all(v and v[0] == "v3" for v in member_values(kubectl, name).values()), timeout=30)
        before = stable(kubectl, name)
        assert time.monotonic() - frozen_at > 6  # frozen for longer than its lease
    finally:
        os.kill(pid, signal.SIGCONT)
    wait_for("the old leader to step down and exit", lambda: fleet.pid("hub", old) is None, timeout=10)
    time.sleep(3)  # anything it would still write would land now
    assert snapshot(kubectl, name) == before, "something wrote the federated object or its member copies"
    assert holder(kubectl) == second
    after_resume = log_of(fleet, old).read_bytes()[log_offset:].decode(errors="replace")
    assert "stopped leading" in after_resume
    assert "reconciled" not in after_resume, after_resume[-2000:]
    kubectl("hub", "-n", NS, "delete", "federatedconfigmaps", "--all", "--timeout=60s", timeout=70)
