"""Pull mode on real control planes: a member behind NAT (its own network namespace) next to Push members.

Its fleet is its own (hub, idc-bj and tke-gz in Push mode, idc-sh in Pull mode inside a network namespace),
so nothing here disturbs the shared fleet. The hub cannot open a connection to idc-sh's API server; idc-sh's
agent dials the hub. idc-bj is a Push member in a namespace of its own too (reached from the host at its
namespace's address), so that it can be partitioned from the hub and the operator while it runs on. Needs
root (network namespaces): skipped with the reason otherwise.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from hybridfed.api import work
from hybridfed.dev import bootstrap, netns, topology
from hybridfed.dev import fleet as fleet_mod

from .conftest import Kubectl, Operator, get_json, wait_for

PULL = "idc-sh"
PARTITIONED = "idc-bj"
MEMBERS = f"{PARTITIONED}:idc:cn-beijing:netns,tke-gz:tencent:ap-guangzhou,{PULL}:idc:cn-shanghai:pull"
BASE_PORT = int(os.environ.get("HYBRIDFED_E2E_PULL_BASE_PORT", "29400"))
STATE = Path(os.environ.get("HYBRIDFED_E2E_PULL_STATE", fleet_mod.repo_root() / ".hybridfed" / "e2e-pull"))
NS = "pull-e2e"
AGENT_SA = f"system:serviceaccount:{work.member_namespace(PULL)}:{work.AGENT_SERVICE_ACCOUNT}"

pytestmark = pytest.mark.skipif(netns.available() is not None, reason=f"pull mode e2e: {netns.available()}")


@pytest.fixture(scope="module")
def pull_fleet() -> Iterator[fleet_mod.Fleet]:
    f = fleet_mod.Fleet(state_dir=STATE, base_port=BASE_PORT)
    members = topology.parse_members(MEMBERS)
    try:
        f.up(members)
        bootstrap.install_crds(f)
        bootstrap.join_members(f, members, "--heartbeat-seconds", "1", "--probe-seconds", "2")
        bootstrap.bind_namespace(f, NS)
        yield f
    finally:
        if os.environ.get("HYBRIDFED_E2E_KEEP") != "1":
            f.down()


@pytest.fixture(scope="module")
def kc(pull_fleet: fleet_mod.Fleet) -> Kubectl:
    return Kubectl(pull_fleet)


@pytest.fixture(scope="module")
def operator(pull_fleet: fleet_mod.Fleet) -> Iterator[Operator]:
    op = Operator(pull_fleet)
    op.start()
    bootstrap.wait_members_ready(pull_fleet, ["idc-bj", "tke-gz", PULL], timeout=120)
    yield op
    op.stop()


def in_member(fleet: fleet_mod.Fleet, *args: str, check: bool = True, input: str | None = None,
              cluster: str = PULL) -> subprocess.CompletedProcess[str]:
    """kubectl against a namespaced member from inside its network namespace (for the Pull member the only
    place it answers; for a partitioned one the only place it answers meanwhile)."""
    argv = fleet.in_netns(cluster, [str(fleet.bin_dir / "kubectl"), "--kubeconfig", str(fleet.kubeconfig),
                                    "--context", cluster, *args])
    result = subprocess.run(argv, capture_output=True, text=True, timeout=60, input=input)
    if check and result.returncode != 0:
        raise AssertionError(f"kubectl {' '.join(args)} on {cluster}: {result.stderr.strip()}")
    return result


def member_json(fleet: fleet_mod.Fleet, *args: str, cluster: str = PULL) -> dict[str, Any] | None:
    result = in_member(fleet, "get", *args, "-o", "json", check=False, cluster=cluster)
    if result.returncode != 0:
        if "NotFound" in result.stderr:
            return None
        raise AssertionError(result.stderr)
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def apply(kc: Kubectl, doc: dict[str, Any]) -> None:
    kc("hub", "apply", "-f", "-", input=yaml.safe_dump(doc))


def federated(kind: str, name: str, template: dict[str, Any], placement: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "hybridfed.io/v1alpha1", "kind": kind, "metadata": {"name": name, "namespace": NS},
            "spec": {"template": template, "placement": placement, "failover": {"tolerationSeconds": 3}}}


def deployment(replicas: int, cpu: str = "100m") -> dict[str, Any]:
    return {"spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}},
                     "template": {"metadata": {"labels": {"app": "web"}},
                                  "spec": {"containers": [{"name": "web", "image": "nginx:1.27",
                                                           "resources": {"requests": {"cpu": cpu}}}]}}}}


def placement_of(kc: Kubectl, kind: str, name: str) -> dict[str, Any]:
    body = get_json(kc, "hub", kind, name, "-n", NS) or {}
    return {row["cluster"]: row.get("replicas") for row in (body.get("status") or {}).get("placement") or []}


def is_ready(kc: Kubectl, kind: str, name: str) -> bool:
    body = get_json(kc, "hub", kind, name, "-n", NS) or {}
    conditions = (body.get("status") or {}).get("conditions") or []
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


def member_condition(kc: Kubectl, name: str) -> dict[str, Any]:
    body = get_json(kc, "hub", "membercluster", name) or {}
    return next((c for c in (body.get("status") or {}).get("conditions") or [] if c["type"] == "Ready"), {})




def test_the_hub_cannot_open_a_connection_to_the_pull_member(pull_fleet: fleet_mod.Fleet) -> None:
    state = pull_fleet.load()
    assert state is not None
    cluster = state.cluster(PULL)
    assert cluster.net is not None
    for host in (cluster.net.ns_ip, "127.0.0.1"):
        with pytest.raises(OSError):
            socket.create_connection((host, cluster.apiserver_port), timeout=2).close()
    assert json.loads(in_member(pull_fleet, "get", "--raw", "/version").stdout)["gitVersion"] == "v1.34.4"


def test_the_agent_reports_a_ready_member_with_facts(kc: Kubectl, operator: Operator) -> None:
    body = get_json(kc, "hub", "membercluster", PULL)
    assert body is not None and body["spec"]["mode"] == "Pull" and "secretRef" not in body["spec"]
    status = body["status"]
    assert member_condition(kc, PULL)["status"] == "True"
    assert status["kubernetesVersion"] == "v1.34.4"
    assert status["nodes"]["ready"] >= 1 and status.get("allocatable", {}).get("cpu")


def test_the_agent_hub_identity_is_least_privilege(kc: Kubectl, operator: Operator) -> None:
    def can(*args: str) -> bool:
        return kc("hub", "auth", "can-i", "--as", AGENT_SA, *args, check=False).stdout.strip() == "yes"

    own = work.member_namespace(PULL)
    assert can("watch", "works.hybridfed.io", "-n", own)
    assert can("patch", "works.hybridfed.io", "--subresource=status", "-n", own)
    assert can("get", "secrets", "-n", own)
    assert can("patch", f"memberclusters.hybridfed.io/{PULL}", "--subresource=status")
    refused = [
        ("list", "works.hybridfed.io", "-n", work.member_namespace("idc-bj")),
        ("get", "secrets", "-n", "hybridfed-system"),
        ("list", "secrets", "-A"),
        ("create", "works.hybridfed.io", "-n", own),
        ("delete", "works.hybridfed.io", "-n", own),
        ("patch", "memberclusters.hybridfed.io/idc-bj", "--subresource=status"),
        ("list", "federateddeployments.hybridfed.io", "-A"),
        ("create", "secrets", "-n", own),
    ]
    allowed = [args for args in refused if can(*args)]
    assert not allowed, f"the agent's hub identity may {allowed}"
    # The operator (a ServiceAccount of hybridfed's hub namespace, as the chart installs it) writes the data
    # Secrets of this member's Works there, and only there.
    operator_sa = "system:serviceaccount:hybridfed-system:hybridfed-operator"
    def operator_can(*args: str) -> bool:
        return kc("hub", "auth", "can-i", "--as", operator_sa, *args, check=False).stdout.strip() == "yes"
    assert operator_can("create", "secrets", "-n", own) and operator_can("delete", "secrets", "-n", own)
    assert not operator_can("create", "secrets", "-n", "default")


def test_a_tenant_of_one_hub_namespace_cannot_reach_the_pull_members_work(kc: Kubectl, operator: Operator) -> None:
    """A team with admin rights in its own hub namespace only: no Work, no data Secret, no Lease of a Pull member."""
    kc("hub", "-n", NS, "create", "serviceaccount", "team", check=False)
    kc("hub", "-n", NS, "create", "rolebinding", "team-admin", "--clusterrole=admin", f"--serviceaccount={NS}:team",
       check=False)
    tenant = f"system:serviceaccount:{NS}:team"
    own = work.member_namespace(PULL)

    def can(*args: str) -> bool:
        return kc("hub", "auth", "can-i", "--as", tenant, *args, check=False).stdout.strip() == "yes"

    assert can("create", "configmaps", "-n", NS)  # the binding works
    for args in (("list", "works.hybridfed.io", "-n", own), ("create", "works.hybridfed.io", "-n", own),
                 ("patch", "works.hybridfed.io", "--subresource=status", "-n", own), ("get", "secrets", "-n", own),
                 ("update", "leases.coordination.k8s.io", "-n", own),
                 ("patch", f"memberclusters.hybridfed.io/{PULL}", "--subresource=status")):
        assert not can(*args), f"a tenant may {args}"


def test_an_operator_killed_mid_placement_and_mid_delete_loses_and_leaves_nothing(kc: Kubectl,
                                                                                  operator: Operator) -> None:
    apply(kc, federated("FederatedConfigMap", "crash", {"data": {"v": "1"}}, {"clusters": [PULL]}))
    operator.kill()  # whatever it had done of the placement
    operator.start()
    wait_for("crash on the Pull member after the restart",
             lambda: (member_json(kc.fleet, "configmap", "crash", "-n", NS) or {}).get("data") == {"v": "1"},
             timeout=60)
    works = get_json(kc, "hub", "works", "-n", work.member_namespace(PULL)) or {}
    assert [w["metadata"]["name"] for w in works["items"]].count(f"configmap.{NS}.crash") == 1
    kc("hub", "delete", "fcm", "crash", "-n", NS, "--wait=false")
    operator.kill()  # in the middle of the delete
    operator.start()
    wait_for("crash gone from the Pull member", lambda: member_json(kc.fleet, "configmap", "crash", "-n", NS) is None,
             timeout=60)
    wait_for("crash gone from the hub", lambda: get_json(kc, "hub", "fcm", "crash", "-n", NS) is None, timeout=30)


def test_weighted_over_a_mixed_fleet_lands_everywhere_and_is_ready(kc: Kubectl, operator: Operator) -> None:
    apply(kc, federated("FederatedDeployment", "web", deployment(8), {
        "clusters": ["idc-bj", "tke-gz", PULL],
        "replicas": {"strategy": "Weighted", "weights": {"idc-bj": 1, "tke-gz": 1, PULL: 2}}}))
    wait_for("web Ready on the mixed fleet", lambda: is_ready(kc, "fdeploy", "web"), timeout=90)
    assert placement_of(kc, "fdeploy", "web") == {"idc-bj": 2, "tke-gz": 2, PULL: 4}
    live = member_json(kc.fleet, "deployment", "web", "-n", NS)
    assert live is not None and live["spec"]["replicas"] == 4 and live["status"].get("readyReplicas") == 4
    works = get_json(kc, "hub", "works", "-n", work.member_namespace(PULL))
    assert works is not None and [w["metadata"]["name"] for w in works["items"]] == ["deployment.apps.pull-e2e.web"]


def test_the_agent_reverts_drift_on_its_member(kc: Kubectl, operator: Operator) -> None:
    apply(kc, federated("FederatedConfigMap", "settings", {"data": {"mode": "blue"}}, {"clusters": [PULL]}))
    wait_for("settings on the Pull member", lambda: member_json(kc.fleet, "configmap", "settings", "-n", NS))
    in_member(kc.fleet, "scale", "deployment", "web", "-n", NS, "--replicas=1")
    in_member(kc.fleet, "patch", "configmap", "settings", "-n", NS, "--type=merge", "-p", '{"data":{"mode":"red"}}')
    wait_for("web scaled back to 4 by the agent", lambda: (member_json(kc.fleet, "deployment", "web", "-n", NS)
                                                          or {}).get("spec", {}).get("replicas") == 4, timeout=30)
    wait_for("settings reverted by the agent", lambda: (member_json(kc.fleet, "configmap", "settings", "-n", NS)
                                                       or {}).get("data") == {"mode": "blue"}, timeout=30)
    in_member(kc.fleet, "delete", "configmap", "settings", "-n", NS)
    wait_for("settings re-created by the agent", lambda: member_json(kc.fleet, "configmap", "settings", "-n", NS),
             timeout=30)


def test_secret_data_reaches_the_member_but_never_a_work(kc: Kubectl, operator: Operator) -> None:
    apply(kc, federated("FederatedSecret", "creds", {"stringData": {"password": "pull-s3cret-value"}},
                        {"clusters": [PULL]}))
    secret = wait_for("creds on the Pull member", lambda: member_json(kc.fleet, "secret", "creds", "-n", NS))
    assert secret["data"]["password"] == "cHVsbC1zM2NyZXQtdmFsdWU="
    works = kc("hub", "get", "works", "-n", work.member_namespace(PULL), "-o", "json").stdout
    assert "pull-s3cret-value" not in works and "cHVsbC1zM2NyZXQtdmFsdWU=" not in works
    wait_for("creds Ready", lambda: is_ready(kc, "fsecret", "creds"), timeout=30)


def test_capacity_placement_uses_the_capacity_the_agent_reported(kc: Kubectl, operator: Operator) -> None:
    apply(kc, federated("FederatedDeployment", "batch", deployment(6, cpu="500m"), {
        "clusters": ["idc-bj", PULL], "replicas": {"strategy": "Capacity"}}))
    placed = wait_for("batch placed by capacity", lambda: (p := placement_of(kc, "fdeploy", "batch"))
                      and sum(v or 0 for v in p.values()) == 6 and p, timeout=60)
    assert placed.get(PULL, 0) > 0, placed  # the Pull member's capacity is known to the hub
    wait_for("batch Ready", lambda: is_ready(kc, "fdeploy", "batch"), timeout=90)


def test_hub_cut_off_fails_over_keeps_the_member_running_and_catches_up(kc: Kubectl, operator: Operator) -> None:
    fleet = kc.fleet
    fleet.partition(PULL)  # the member's only way out, its veth, drops everything
    try:
        wait_for("idc-sh NotReady (heartbeat stale)",
                 lambda: member_condition(kc, PULL).get("reason") == "AgentHeartbeatStale", timeout=60)
        wait_for("web failed over to the Push members", lambda: (p := placement_of(kc, "fdeploy", "web"))
                 and (p.get("idc-bj") or 0) + (p.get("tke-gz") or 0) == 8, timeout=60)
        wait_for("web Ready on the Push members", lambda: is_ready(kc, "fdeploy", "web"), timeout=90)
        # Edge autonomy: the member keeps its workloads, also across an agent restart without the hub.
        fleet.stop_component(PULL, bootstrap.AGENT)
        bootstrap.start_agent(fleet, PULL, "--heartbeat-seconds", "1", "--probe-seconds", "2")
        # Changes on the hub while the member is away reach it when it is back.
        apply(kc, federated("FederatedConfigMap", "settings", {"data": {"mode": "green"}}, {"clusters": [PULL]}))
        time.sleep(5)
        live = member_json(fleet, "deployment", "web", "-n", NS)
        assert live is not None and live["spec"]["replicas"] == 4, "the member lost its workload while cut off"
        assert (member_json(fleet, "configmap", "settings", "-n", NS) or {}).get("data") == {"mode": "blue"}
    finally:
        fleet.heal(PULL)
    wait_for("idc-sh Ready again", lambda: member_condition(kc, PULL).get("status") == "True", timeout=60)
    wait_for("settings caught up", lambda: (member_json(fleet, "configmap", "settings", "-n", NS) or {})
             .get("data") == {"mode": "green"}, timeout=60)
    wait_for("web failed back to idc-sh", lambda: placement_of(kc, "fdeploy", "web").get(PULL) == 4, timeout=90)
    wait_for("web Ready after failback", lambda: is_ready(kc, "fdeploy", "web"), timeout=90)


def uids_on(fleet: fleet_mod.Fleet, cluster: str, *objects: tuple[str, str]) -> dict[str, str | None]:
    """The uid of each (kind, name) on `cluster`, read from inside its namespace (None: not there)."""
    return {kind: ((member_json(fleet, kind, name, "-n", NS, cluster=cluster) or {}).get("metadata") or {}).get("uid")
            for kind, name in objects}


def test_a_partitioned_push_member_loses_nothing_and_gets_its_replicas_back(kc: Kubectl, operator: Operator) -> None:
    """The issue's first rule under a real partition: the hub and the operator lose idc-bj (every packet
    dropped) while its API server, controllers and kwok run on. Replicas are added on tke-gz; nothing placed
    on idc-bj is deleted, neither while it is cut off nor when it is back; failback scales it back."""
    fleet = kc.fleet
    placement = {"clusters": [PARTITIONED, "tke-gz"],
                 "replicas": {"strategy": "Weighted", "weights": {PARTITIONED: 1, "tke-gz": 1}}}
    doc = federated("FederatedDeployment", "cut", deployment(4), placement)
    doc["spec"]["failover"]["failback"] = True
    apply(kc, doc)
    both = {"clusters": [PARTITIONED, "tke-gz"]}
    apply(kc, federated("FederatedConfigMap", "cut-cfg", {"data": {"v": "1"}}, both))
    apply(kc, federated("FederatedService", "cut-svc", {"spec": {"selector": {"app": "web"},
                                                                 "ports": [{"port": 80}]}}, both))
    wait_for("cut placed 2:2", lambda: placement_of(kc, "fdeploy", "cut") == {PARTITIONED: 2, "tke-gz": 2}, timeout=60)
    wait_for("cut Ready", lambda: is_ready(kc, "fdeploy", "cut"), timeout=90)
    objects = (("deployment", "cut"), ("configmap", "cut-cfg"), ("service", "cut-svc"))
    before = wait_for("every object on idc-bj", lambda: (u := uids_on(fleet, PARTITIONED, *objects))
                      and all(u.values()) and u, timeout=60)
    state = fleet.load()
    assert state is not None
    cluster = state.cluster(PARTITIONED)
    net = cluster.net
    assert net is not None and cluster.endpoint == f"https://{net.ns_ip}:{cluster.apiserver_port}"
    fleet.partition(PARTITIONED)
    try:
        assert fleet.partitioned(PARTITIONED)
        # From the host the member is gone (a silent drop: the connection times out)...
        with pytest.raises(OSError):
            socket.create_connection((net.ns_ip, cluster.apiserver_port), timeout=2).close()
        # A probe that times out where no new connection opens either: Unreachable, not "a slow member".
        wait_for("idc-bj NotReady, Unreachable", lambda: (c := member_condition(kc, PARTITIONED)).get("status")
                 == "False" and c.get("reason") == "Unreachable", timeout=60)
        wait_for("cut's replicas added on tke-gz", lambda: placement_of(kc, "fdeploy", "cut").get("tke-gz") == 4,
                 timeout=60)
        time.sleep(8)  # several reconciles while it is cut off and past every toleration
        # ...while inside it everything placed there is still there, unchanged, its replicas too.
        assert uids_on(fleet, PARTITIONED, *objects) == before
        live = member_json(fleet, "deployment", "cut", "-n", NS, cluster=PARTITIONED)
        assert live is not None and live["spec"]["replicas"] == 2
    finally:
        fleet.heal(PARTITIONED)
    wait_for("idc-bj Ready again", lambda: member_condition(kc, PARTITIONED).get("status") == "True", timeout=60)
    wait_for("cut failed back 2:2", lambda: placement_of(kc, "fdeploy", "cut") == {PARTITIONED: 2, "tke-gz": 2},
             timeout=90)
    wait_for("cut Ready after failback", lambda: is_ready(kc, "fdeploy", "cut"), timeout=90)
    time.sleep(5)  # any delete the operator had queued while idc-bj was away would have reached it by now
    assert uids_on(fleet, PARTITIONED, *objects) == before  # scaled back, never deleted and recreated
    for kind, name in (("fdeploy", "cut"), ("fcm", "cut-cfg"), ("fsvc", "cut-svc")):
        kc("hub", "delete", kind, name, "-n", NS, "--wait=false")
    for kind, name in objects:
        wait_for(f"{kind} {name} removed from idc-bj when deleted on the hub",
                 lambda kind=kind, name=name: member_json(fleet, kind, name, "-n", NS, cluster=PARTITIONED) is None,
                 timeout=60)


def test_delete_cleans_up_the_pull_member(kc: Kubectl, operator: Operator) -> None:
    for kind, name in (("fdeploy", "web"), ("fdeploy", "batch"), ("fcm", "settings"), ("fsecret", "creds")):
        kc("hub", "delete", kind, name, "-n", NS, "--wait=false")
    for kind, name in (("deployment", "web"), ("deployment", "batch"), ("configmap", "settings"), ("secret", "creds")):
        wait_for(f"{kind} {name} gone from idc-sh",
                 lambda kind=kind, name=name: member_json(kc.fleet, kind, name, "-n", NS) is None, timeout=60)
    wait_for("no Works left", lambda: not (get_json(kc, "hub", "works", "-n", work.member_namespace(PULL))
                                           or {}).get("items"), timeout=30)


def test_unjoin_removes_the_pull_member_and_its_agent_identity(kc: Kubectl, operator: Operator) -> None:
    argv = [bootstrap.hybridfed_command(), "unjoin", PULL, "--hub-kubeconfig", str(kc.fleet.kubeconfig),
            "--hub-context", "hub", "--timeout", "60"]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert f"hub: Namespace/{work.member_namespace(PULL)}" in result.stdout
    assert get_json(kc, "hub", "membercluster", PULL) is None
    wait_for("the agent identity gone", lambda: kc("hub", "auth", "can-i", "--as", AGENT_SA, "get",
                                                   f"memberclusters.hybridfed.io/{PULL}", check=False)
             .stdout.strip() == "no", timeout=30)


def test_an_unjoin_after_an_outage_and_an_operator_crash_still_removes_what_was_placed(
        kc: Kubectl, operator: Operator) -> None:
    """The MemberCluster says Unreachable (written during a partition by an operator that then crashed); it is
    deleted meanwhile and the partition ends. The new operator process must not take the old status for its own
    finding and release at once, leaving everything placed on idc-bj behind: it probes, finds idc-bj reachable,
    removes what was placed there, and only then lets the MemberCluster go."""
    fleet = kc.fleet
    placement = {"clusters": [PARTITIONED, "tke-gz"],
                 "replicas": {"strategy": "Weighted", "weights": {PARTITIONED: 1, "tke-gz": 1}}}
    apply(kc, federated("FederatedDeployment", "leaving", deployment(4), placement))
    apply(kc, federated("FederatedConfigMap", "leaving-cfg", {"data": {"v": "1"}},
                        {"clusters": [PARTITIONED, "tke-gz"]}))
    objects = (("deployment", "leaving"), ("configmap", "leaving-cfg"))
    wait_for("leaving placed on idc-bj", lambda: all(uids_on(fleet, PARTITIONED, *objects).values()), timeout=60)
    fleet.partition(PARTITIONED)
    try:
        wait_for("idc-bj Unreachable", lambda: member_condition(kc, PARTITIONED).get("reason") == "Unreachable",
                 timeout=60)
        operator.kill()
        kc("hub", "delete", "membercluster", PARTITIONED, "--wait=false")  # held by the finalizer: nobody runs
    finally:
        fleet.heal(PARTITIONED)
        if fleet.pid("hub", bootstrap.OPERATOR) is None:
            operator.start()
    wait_for("the MemberCluster released by the new operator process",
             lambda: get_json(kc, "hub", "membercluster", PARTITIONED) is None, timeout=90)
    # Released only once empty: what was placed on idc-bj is gone from it (nothing labelled ours is left)...
    assert uids_on(fleet, PARTITIONED, *objects) == {"deployment": None, "configmap": None}
    ours = json.loads(kc(PARTITIONED, "get", "deployments,configmaps,services", "-n", NS, "-l",
                         "app.kubernetes.io/managed-by=hybridfed", "-o", "json").stdout)["items"]
    assert ours == [], [o["metadata"]["name"] for o in ours]
    # ...and tke-gz carries all of it.
    wait_for("all of leaving on tke-gz", lambda: (get_json(kc, "tke-gz", "deployment", "leaving", "-n", NS)
                                                  or {}).get("spec", {}).get("replicas") == 4, timeout=60)
    assert get_json(kc, "tke-gz", "configmap", "leaving-cfg", "-n", NS) is not None
