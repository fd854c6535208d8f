"""Never lose a workload (DESIGN.md "Fault semantics"), each scenario of issue 11 on the real fleet.

Health never deletes; only a spec change or an explicit removal does; unjoin is a clean step; a Job runs
once per template; "up to date" is what we last applied; a kind the member refuses stalls nobody.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from hybridfed.dev import bootstrap, topology
from hybridfed.dev import fleet as fleet_mod

from .conftest import Kubectl, Operator, get_json, tenant_namespace, wait_for

NS = "faults-e2e"
MEMBERS = ("idc-bj", "tke-gz", "eks-sg")


def fed(kind: str, name: str, template: dict[str, Any], placement: dict[str, Any] | None = None,
        **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "hybridfed.io/v1alpha1", "kind": kind, "metadata": {"name": name, "namespace": NS},
            "spec": {"template": template, "placement": placement or {"clusters": list(MEMBERS)}, **spec}}


def deployment(name: str, replicas: int, clusters: tuple[str, ...] = MEMBERS, *, cpu: Any = "100m",
               **spec: Any) -> dict[str, Any]:
    template = {"spec": {
        "replicas": replicas, "selector": {"matchLabels": {"app": name}},
        "template": {"metadata": {"labels": {"app": name}},
                     "spec": {"containers": [{"name": "app", "image": "nginx:1.27",
                                              "resources": {"requests": {"cpu": cpu, "memory": "64Mi"}}}]}}}}
    return fed("FederatedDeployment", name, template,
               {"clusters": list(clusters), "replicas": {"strategy": "Weighted"}}, **spec)


def apply(kubectl: Kubectl, *objs: dict[str, Any]) -> None:
    kubectl("hub", "apply", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List", "items": list(objs)}))


def hub_status(kubectl: Kubectl, kind: str, name: str) -> dict[str, Any]:
    return (get_json(kubectl, "hub", "-n", NS, kind, name) or {}).get("status") or {}


def condition(st: dict[str, Any], type_: str) -> dict[str, Any]:
    return next((c for c in st.get("conditions") or [] if c["type"] == type_), {})


def uid(kubectl: Kubectl, cluster: str, kind: str, name: str) -> str | None:
    obj = get_json(kubectl, cluster, "-n", NS, kind, name)
    return obj["metadata"]["uid"] if obj else None


def member_condition(kubectl: Kubectl, name: str, type_: str) -> dict[str, Any]:
    return condition((get_json(kubectl, "hub", "membercluster", name) or {}).get("status") or {}, type_)


@pytest.fixture(scope="module", autouse=True)
def namespace(federation: Operator, kubectl: Kubectl) -> Iterator[None]:
    tenant_namespace(kubectl, NS)
    yield
    kubectl("hub", "-n", NS, "delete", "federateddeployments,federatedconfigmaps,federatedservices,federatedjobs,"
            "federatedobjects", "--all", "--timeout=120s", check=False, timeout=130)


def test_a_member_that_only_looks_notready_loses_nothing(kubectl: Kubectl) -> None:
    """A misspelled spec.driver makes idc-bj NotReady (its own reason, not Unreachable); after the toleration
    its ConfigMap and Service stay, though its API server is up."""
    apply(kubectl,
          fed("FederatedConfigMap", "looks-down", {"data": {"k": "v"}}, failover={"tolerationSeconds": 3}),
          fed("FederatedService", "looks-down", {"spec": {"ports": [{"port": 80}], "selector": {"app": "x"}}},
              failover={"tolerationSeconds": 3}))
    for kind in ("federatedconfigmap", "federatedservice"):
        kubectl("hub", "-n", NS, "wait", "--for=condition=Ready", f"{kind}/looks-down", "--timeout=60s", timeout=70)
    before = {k: uid(kubectl, "idc-bj", k, "looks-down") for k in ("configmap", "service")}
    kubectl("hub", "patch", "membercluster", "idc-bj", "--type=merge", "-p", '{"spec":{"driver":"idcc"}}')
    try:
        wait_for("idc-bj NotReady for a reason of our own", lambda: member_condition(
            kubectl, "idc-bj", "Ready").get("reason") == "DriverUnavailable", timeout=30)
        time.sleep(3 + 2 * 2 + 2)  # the toleration, two probes, a reconcile
        assert {k: uid(kubectl, "idc-bj", k, "looks-down") for k in ("configmap", "service")} == before
        assert "Unreachable" not in json.dumps(member_condition(kubectl, "idc-bj", "Ready"))
    finally:
        kubectl("hub", "patch", "membercluster", "idc-bj", "--type=json",
                "-p", '[{"op":"remove","path":"/spec/driver"}]')
    wait_for("idc-bj Ready again", lambda: member_condition(kubectl, "idc-bj", "Ready").get("status") == "True",
             timeout=30)
    assert {k: uid(kubectl, "idc-bj", k, "looks-down") for k in ("configmap", "service")} == before


def test_failback_scales_the_returning_member_and_never_recreates(kubectl: Kubectl, fleet: fleet_mod.Fleet) -> None:
    """tke-gz's API server stops for longer than the toleration: its replicas move; when it returns its
    Deployment, Service and ConfigMap are the same objects (same uid: never deleted and recreated)."""
    apply(kubectl, deployment("returning", 6, failover={"tolerationSeconds": 5, "failback": True}),
          fed("FederatedConfigMap", "returning", {"data": {"k": "v"}}, failover={"tolerationSeconds": 5}),
          fed("FederatedService", "returning", {"spec": {"ports": [{"port": 80}], "selector": {"app": "returning"}}},
              failover={"tolerationSeconds": 5}))
    for kind in ("federateddeployment", "federatedconfigmap", "federatedservice"):
        kubectl("hub", "-n", NS, "wait", "--for=condition=Ready", f"{kind}/returning", "--timeout=90s", timeout=100)
    before = {k: uid(kubectl, "tke-gz", k, "returning") for k in ("deployment", "service", "configmap")}
    assert all(before.values()), before
    state = fleet.load()
    assert state is not None
    fleet.stop_component("tke-gz", "kube-apiserver")
    try:
        def moved() -> bool:
            st = hub_status(kubectl, "federateddeployment", "returning")
            where = {p["cluster"] for p in st.get("placement") or []}
            return "tke-gz" not in where and st.get("readyReplicas") == 6
        wait_for("replicas Ready on idc-bj and eks-sg", moved, timeout=60)
    finally:
        fleet.start_cluster(state.cluster("tke-gz"))
    wait_for("failback to tke-gz", lambda: {p["cluster"]: p.get("replicas") for p in hub_status(
        kubectl, "federateddeployment", "returning").get("placement") or []} == {c: 2 for c in MEMBERS}
        and condition(hub_status(kubectl, "federateddeployment", "returning"), "Ready").get("status") == "True",
        timeout=120)
    assert {k: uid(kubectl, "tke-gz", k, "returning") for k in ("deployment", "service", "configmap")} == before


def test_a_placement_typo_keeps_everything_running(kubectl: Kubectl) -> None:
    obj = fed("FederatedConfigMap", "typo", {"data": {"k": "v"}})
    apply(kubectl, obj)
    kubectl("hub", "-n", NS, "wait", "--for=condition=Ready", "federatedconfigmap/typo", "--timeout=60s", timeout=70)
    before = {c: uid(kubectl, c, "configmap", "typo") for c in MEMBERS}
    obj["spec"]["placement"] = {"clusters": ["idc-bjj"]}
    apply(kubectl, obj)
    wait_for("Scheduled=False naming the field", lambda: "spec.placement.clusters[0]" in condition(
        hub_status(kubectl, "federatedconfigmap", "typo"), "Scheduled").get("message", ""), timeout=30)
    scheduled = condition(hub_status(kubectl, "federatedconfigmap", "typo"), "Scheduled")
    assert (scheduled["status"], scheduled["reason"]) == ("False", "NoClusterSelected")
    time.sleep(2)
    assert {c: uid(kubectl, c, "configmap", "typo") for c in MEMBERS} == before
    obj["spec"]["placement"] = {"clusters": ["idc-bj"]}  # fixing it is a spec change: now the others go
    apply(kubectl, obj)
    wait_for("the others removed", lambda: uid(kubectl, "tke-gz", "configmap", "typo") is None
             and uid(kubectl, "eks-sg", "configmap", "typo") is None, timeout=30)
    assert uid(kubectl, "idc-bj", "configmap", "typo") == before["idc-bj"]


def test_a_waves_rollout_with_integer_cpu_requests_completes(kubectl: Kubectl) -> None:
    """The member returns `cpu: 1` as "1": "up to date" is our stamped hash, so every wave completes."""
    obj = deployment("integer-cpu", 3, cpu=1, rollout={"strategy": "Waves", "waves": [
        {"clusters": ["idc-bj"]}, {"clusters": ["tke-gz"]}, {"clusters": ["eks-sg"]}]})
    apply(kubectl, obj)
    wait_for("every wave done", lambda: hub_status(kubectl, "federateddeployment", "integer-cpu").get(
        "waveDisplay") == "done", timeout=120)


def test_a_finished_job_is_not_run_again_when_the_member_removes_it(kubectl: Kubectl) -> None:
    template = {"spec": {"template": {"spec": {"restartPolicy": "Never",
                                               "containers": [{"name": "once", "image": "busybox:1.36"}]}}}}
    apply(kubectl, fed("FederatedJob", "once", template, {"clusters": ["eks-sg"]}))
    wait_for("the Job complete on eks-sg", lambda: any(
        c["type"] == "Complete" and c["status"] == "True"
        for c in ((get_json(kubectl, "eks-sg", "-n", NS, "job", "once") or {}).get("status") or {}).get(
            "conditions") or []), timeout=90)
    wait_for("the result in status", lambda: any(
        r.get("jobResult") == "Complete" for r in hub_status(kubectl, "federatedjob", "once").get("clusters") or []),
        timeout=30)
    kubectl("eks-sg", "-n", NS, "delete", "job", "once", "--cascade=background")
    time.sleep(5)  # a watch event and a reconcile, several times over
    assert get_json(kubectl, "eks-sg", "-n", NS, "job", "once") is None
    kubectl("hub", "-n", NS, "wait", "--for=condition=Ready", "federatedjob/once", "--timeout=10s", timeout=20)


def test_a_kind_the_member_refuses_stalls_nobody_and_deletes(kubectl: Kubectl) -> None:
    """Leases are not in the member credential's role: 25 FederatedObjects of them must not hold the workers,
    and deleting them completes."""
    leases = [fed("FederatedObject", f"lease-{i}", {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                                                      "spec": {"holderIdentity": "x"}}) for i in range(25)]
    apply(kubectl, *leases)
    time.sleep(1)
    apply(kubectl, fed("FederatedConfigMap", "after-leases", {"data": {"k": "v"}}))
    kubectl("hub", "-n", NS, "wait", "--for=condition=Ready", "federatedconfigmap/after-leases", "--timeout=30s",
            timeout=40)
    wait_for("a per-cluster error naming the refusal", lambda: any(
        "forbidden" in (r.get("message") or "").lower()
        for r in hub_status(kubectl, "federatedobject", "lease-0").get("clusters") or []), timeout=60)
    kubectl("hub", "-n", NS, "delete", "federatedobjects", "--all", "--timeout=60s", timeout=70)


def test_a_changed_credential_secret_is_noticed_without_a_write(kubectl: Kubectl, fleet: fleet_mod.Fleet) -> None:
    """A repointed credential (here: a token the member refuses) is picked up by the probe; the reason says
    Unauthorized, not Unreachable; the right one back makes the member Ready again."""
    secret = get_json(kubectl, "hub", "-n", "hybridfed-system", "secret", "eks-sg-credentials")
    assert secret is not None
    good = secret["data"]["token"]
    bad = base64.b64encode(b"not-a-valid-token").decode()
    kubectl("hub", "-n", "hybridfed-system", "patch", "secret", "eks-sg-credentials", "--type=merge",
            "-p", json.dumps({"data": {"token": bad}}))
    try:
        wait_for("eks-sg Unauthorized", lambda: member_condition(kubectl, "eks-sg", "Ready").get(
            "reason") == "Unauthorized", timeout=30)
    finally:
        kubectl("hub", "-n", "hybridfed-system", "patch", "secret", "eks-sg-credentials", "--type=merge",
                "-p", json.dumps({"data": {"token": good}}))
    wait_for("eks-sg Ready", lambda: member_condition(kubectl, "eks-sg", "Ready").get("status") == "True",
             timeout=30)


def test_deleting_a_membercluster_moves_its_replicas_and_nothing_wedges(kubectl: Kubectl,
                                                                        fleet: fleet_mod.Fleet) -> None:
    apply(kubectl, deployment("leaving", 6, ("idc-bj", "tke-gz")),
          fed("FederatedConfigMap", "leaving", {"data": {"k": "v"}}, {"clusters": ["idc-bj", "tke-gz"]}))
    kubectl("hub", "-n", NS, "wait", "--for=condition=Ready", "federateddeployment/leaving", "--timeout=90s",
            timeout=100)
    kubectl("hub", "-n", NS, "wait", "--for=condition=Ready", "federatedconfigmap/leaving", "--timeout=60s",
            timeout=70)
    try:
        kubectl("hub", "delete", "membercluster", "tke-gz", "--timeout=90s", timeout=100)
        st = hub_status(kubectl, "federateddeployment", "leaving")
        wait_for("idc-bj runs all 6", lambda: (get_json(kubectl, "idc-bj", "-n", NS, "deployment", "leaving")
                                               or {}).get("spec", {}).get("replicas") == 6, timeout=60)
        # What was placed on tke-gz is gone with it (it was reachable), and the credential still works there.
        assert uid(kubectl, "tke-gz", "deployment", "leaving") is None, st
        assert uid(kubectl, "tke-gz", "configmap", "leaving") is None
        kubectl("hub", "-n", NS, "delete", "federateddeployment,federatedconfigmap", "leaving", "--timeout=30s",
                timeout=40)
    finally:
        tke = [m for m in topology.parse_members(topology.DEFAULT_MEMBERS) if m.name == "tke-gz"]
        bootstrap.join_members(fleet, tke)
        bootstrap.wait_members_ready(fleet, ["tke-gz"])


def test_one_cluster_joined_twice_is_refused(kubectl: Kubectl, fleet: fleet_mod.Fleet) -> None:
    """Two MemberClusters for one API server would delete each other's objects: the newer one is refused."""
    original = get_json(kubectl, "hub", "membercluster", "eks-sg")
    assert original is not None
    twin = {"apiVersion": "hybridfed.io/v1alpha1", "kind": "MemberCluster", "metadata": {"name": "eks-sg-twin"},
            "spec": {k: v for k, v in original["spec"].items() if k != "taints"}}
    apply(kubectl, fed("FederatedConfigMap", "shared", {"data": {"k": "v"}}, {"clusters": ["eks-sg"]}))
    kubectl("hub", "-n", NS, "wait", "--for=condition=Ready", "federatedconfigmap/shared", "--timeout=60s", timeout=70)
    before = uid(kubectl, "eks-sg", "configmap", "shared")
    kubectl("hub", "apply", "-f", "-", input=json.dumps(twin))
    try:
        wait_for("the twin refused", lambda: member_condition(kubectl, "eks-sg-twin", "Ready").get(
            "reason") == "DuplicateCluster", timeout=30)
        cluster_id = (get_json(kubectl, "hub", "membercluster", "eks-sg") or {})["status"]["clusterID"]
        assert cluster_id and cluster_id in member_condition(kubectl, "eks-sg-twin", "Ready")["message"]
        assert member_condition(kubectl, "eks-sg", "Ready").get("status") == "True"
    finally:
        kubectl("hub", "delete", "membercluster", "eks-sg-twin", "--timeout=60s", timeout=70)
    # Letting the twin go never touches what the original placed on the same API server.
    time.sleep(3)
    assert uid(kubectl, "eks-sg", "configmap", "shared") == before


def test_an_orphan_left_while_the_operator_was_down_is_removed_after_a_restart(
        kubectl: Kubectl, federation: Operator) -> None:
    """A member holds an object this hub placed for a federated object that no longer exists (deleted while
    the member was away, the operator restarted since), of a kind no federated object places there now: the
    restarted operator finds it (it watches every placed kind on Ready members) and removes it."""
    hub = kubectl("hub", "get", "namespace", "kube-system", "-o", "jsonpath={.metadata.uid}").stdout.strip()
    orphan = {"apiVersion": "v1", "kind": "Service",
              "metadata": {"name": "ghost-svc", "namespace": NS,
                           "labels": {"app.kubernetes.io/managed-by": "hybridfed", "hybridfed.io/hub": hub},
                           "annotations": {"hybridfed.io/owner": f"{NS}/FederatedService/ghost-svc"}},
              "spec": {"ports": [{"port": 80}], "selector": {"app": "ghost"}}}
    mine = {**orphan, "metadata": {**orphan["metadata"], "name": "not-ours",
                                   "labels": {"app.kubernetes.io/managed-by": "someone-else"}}}
    federation.stop()
    try:
        kubectl("idc-bj", "create", "namespace", NS, check=False)
        for obj in (orphan, mine):
            kubectl("idc-bj", "apply", "-f", "-", input=json.dumps(obj))
    finally:
        federation.start()
    wait_for("the orphan removed", lambda: get_json(kubectl, "idc-bj", "-n", NS, "service", "ghost-svc") is None,
             timeout=60)
    assert get_json(kubectl, "idc-bj", "-n", NS, "service", "not-ours") is not None  # never touched
    kubectl("idc-bj", "-n", NS, "delete", "service", "not-ours")


def test_a_renamed_port_or_a_dropped_label_reaches_the_members(kubectl: Kubectl) -> None:
    """Found by the chaos run: what a create set was owned by (hybridfed, Update), which server-side apply never
    removes, so a changed port (same name) left two ports named "http" and every later apply was refused."""
    def service(port: int, labels: dict[str, str]) -> dict[str, Any]:
        return fed("FederatedService", "ports", {"metadata": {"labels": labels},
                                                 "spec": {"selector": {"app": "ports"},
                                                          "ports": [{"name": "http", "port": port,
                                                                     "targetPort": 8080}]}})

    apply(kubectl, service(8001, {"team": "a", "tier": "web"}))
    wait_for("ports Ready", lambda: condition(hub_status(kubectl, "fsvc", "ports"), "Ready").get("status") == "True")
    apply(kubectl, service(8002, {"tier": "web"}))

    def updated() -> bool:
        st = hub_status(kubectl, "fsvc", "ports")
        return st.get("observedGeneration") == 2 and condition(st, "Ready").get("status") == "True"

    wait_for("ports Ready at generation 2", updated, timeout=60)
    for member in MEMBERS:
        live = get_json(kubectl, member, "-n", NS, "service", "ports") or {}
        assert [(p["name"], p["port"]) for p in live["spec"]["ports"]] == [("http", 8002)], member
        labels = live["metadata"].get("labels") or {}
        assert labels.get("tier") == "web" and "team" not in labels, (member, labels)
    kubectl("hub", "-n", NS, "delete", "fsvc", "ports")
