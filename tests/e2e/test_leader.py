"""Two operators with leader election: one reconciles, the other takes over when it dies."""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Iterator

import pytest

from hybridfed.dev import bootstrap
from hybridfed.dev import fleet as fleet_mod

from .conftest import Kubectl, Operator, wait_for

NS = "leader-e2e"
REPLICAS = ("hybridfed-operator-a", "hybridfed-operator-b")


@pytest.fixture()
def two_operators(federation: Operator, fleet: fleet_mod.Fleet, kubectl: Kubectl) -> Iterator[None]:
    federation.stop()
    kubectl("hub", "create", "namespace", NS, check=False)
    argv = [bootstrap.hybridfed_command(), "operator", "--kubeconfig", str(fleet.kubeconfig), "--context", "hub",
            "--probe-interval", "2", "--leader-elect", "--metrics-port", "0"]
    try:
        for name in REPLICAS:
            fleet.spawn("hub", name, argv)
        yield
    finally:
        for name in REPLICAS:
            fleet.stop_component("hub", name)
        federation.start()


def holder(kubectl: Kubectl) -> str:
    out = kubectl("hub", "-n", "hybridfed-system", "get", "lease", "hybridfed-operator", "-o",
                  "jsonpath={.spec.holderIdentity}", check=False)
    return out.stdout.strip() if out.returncode == 0 else ""


def placed(kubectl: Kubectl, name: str) -> bool:
    return all(kubectl(c, "-n", NS, "get", "configmap", name, check=False).returncode == 0
               for c in ("idc-bj", "tke-gz", "eks-sg"))


def fcm(name: str) -> str:
    return json.dumps({"apiVersion": "hybridfed.io/v1alpha1", "kind": "FederatedConfigMap",
                       "metadata": {"name": name, "namespace": NS},
                       "spec": {"template": {"data": {"k": name}},
                                "placement": {"clusters": ["idc-bj", "tke-gz", "eks-sg"]}}})


def test_standby_takes_over_when_the_leader_dies(two_operators: None, kubectl: Kubectl,
                                                 fleet: fleet_mod.Fleet) -> None:
    first = wait_for("a leader", lambda: holder(kubectl), timeout=30)
    kubectl("hub", "apply", "-f", "-", input=fcm("before-failover"))
    wait_for("placement by the leader", lambda: placed(kubectl, "before-failover"), timeout=30)
    # The holder identity starts with the host name; find the leader among our two processes by its log.
    leader = next(n for n in REPLICAS
                  if f"became leader as {first}" in (fleet.cluster_dir("hub") / "logs" / f"{n}.log").read_text())
    pid = fleet.pid("hub", leader)
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    second = wait_for("a new leader", lambda: (h := holder(kubectl)) != first and h, timeout=40)
    assert second != first
    kubectl("hub", "apply", "-f", "-", input=fcm("after-failover"))
    wait_for("placement by the new leader", lambda: placed(kubectl, "after-failover"), timeout=30)
    kubectl("hub", "-n", NS, "delete", "federatedconfigmaps", "--all", "--timeout=60s", timeout=70)
