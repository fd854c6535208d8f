"""Federation core against the real fleet: propagation, status, validation, drift, deletion, conflicts, recovery."""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from hybridfed.dev import fleet as fleet_mod

from .conftest import Kubectl, Operator, get_json, tenant_namespace, wait_for

MEMBERS = ("idc-bj", "tke-gz", "eks-sg")
NS = "fed-e2e"


def fed(kind: str, name: str, template: dict[str, Any], placement: dict[str, Any] | None = None,
        annotations: dict[str, str] | None = None, **spec: Any) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": NS}
    if annotations:
        meta["annotations"] = annotations
    body: dict[str, Any] = {"apiVersion": "hybridfed.io/v1alpha1", "kind": kind, "metadata": meta,
                            "spec": {"template": template, **spec}}
    body["spec"]["placement"] = placement if placement is not None else {"clusters": list(MEMBERS)}
    return body


def deployment_template(replicas: int, image: str = "nginx:1.27", app: str = "web") -> dict[str, Any]:
    return {"metadata": {"labels": {"app": app}},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": app}},
                     "template": {"metadata": {"labels": {"app": app}},
                                  "spec": {"containers": [{"name": "app", "image": image}]}}}}


def apply(kubectl: Kubectl, obj: dict[str, Any]) -> None:
    kubectl("hub", "apply", "-f", "-", input=json.dumps(obj))


def condition(obj: dict[str, Any] | None, type_: str) -> str | None:
    for c in ((obj or {}).get("status") or {}).get("conditions") or []:
        if c["type"] == type_:
            return str(c["status"])
    return None


@pytest.fixture(scope="module", autouse=True)
def namespace(federation: Operator, kubectl: Kubectl) -> Iterator[None]:
    tenant_namespace(kubectl, NS)
    yield


def test_weighted_deployment_lands_4_2_2_and_reports_ready(kubectl: Kubectl) -> None:
    obj = fed("FederatedDeployment", "web", deployment_template(8),
              {"clusters": list(MEMBERS), "replicas": {"strategy": "Weighted",
                                                        "weights": {"idc-bj": 2, "tke-gz": 1, "eks-sg": 1}}})
    apply(kubectl, obj)
    kubectl("hub", "wait", "-n", NS, "--for=condition=Ready", "federateddeployment/web", "--timeout=90s",
            timeout=100)
    for cluster, want in {"idc-bj": 4, "tke-gz": 2, "eks-sg": 2}.items():
        dep = get_json(kubectl, cluster, "-n", NS, "deployment", "web", "--show-managed-fields")
        assert dep is not None
        assert dep["spec"]["replicas"] == want
        assert dep["status"]["availableReplicas"] == want
        assert dep["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "hybridfed"
        assert dep["metadata"]["annotations"]["hybridfed.io/owner"] == f"{NS}/FederatedDeployment/web"
        managers = {m["manager"] for m in dep["metadata"]["managedFields"]}
        assert "hybridfed" in managers
    status = get_json(kubectl, "hub", "-n", NS, "federateddeployment", "web")
    assert status is not None
    assert status["status"]["replicas"] == 8 and status["status"]["readyReplicas"] == 8
    table = kubectl("hub", "get", "-n", NS, "federateddeployments").stdout
    line = next(row for row in table.splitlines() if row.startswith("web "))
    assert "8/8" in line and "3/3" in line, table


def test_configmap_lands_identically_on_all_members(kubectl: Kubectl) -> None:
    apply(kubectl, fed("FederatedConfigMap", "settings", {"data": {"mode": "fast", "level": "3"}}))
    kubectl("hub", "wait", "-n", NS, "--for=condition=Ready", "federatedconfigmap/settings", "--timeout=60s")
    seen = []
    for cluster in MEMBERS:
        cm = get_json(kubectl, cluster, "-n", NS, "configmap", "settings")
        assert cm is not None
        seen.append((cm["data"], cm["metadata"]["labels"]["app.kubernetes.io/managed-by"]))
    assert seen == [({"mode": "fast", "level": "3"}, "hybridfed")] * 3


@pytest.mark.parametrize(
    ("case", "mutate", "field"),
    [
        ("negative replicas", lambda o: o["spec"]["template"]["spec"].update(replicas=-1), "replicas"),
        ("unknown strategy", lambda o: o["spec"]["placement"].update(replicas={"strategy": "Random"}), "strategy"),
        ("other namespace", lambda o: o["spec"]["template"]["metadata"].update(namespace="kube-system"),
         "namespace"),
        ("weights with Duplicated",
         lambda o: o["spec"]["placement"].update(replicas={"strategy": "Duplicated", "weights": {"idc-bj": 1}}),
         "weights"),
    ],
)
def test_invalid_objects_are_rejected_at_apply_naming_the_field(kubectl: Kubectl, case: str, mutate: Any,
                                                                field: str) -> None:
    obj = fed("FederatedDeployment", "bad", deployment_template(2))
    mutate(obj)
    result = kubectl("hub", "apply", "-f", "-", input=json.dumps(obj), check=False)
    assert result.returncode != 0, f"{case} was accepted"
    assert field in result.stderr, result.stderr
    assert get_json(kubectl, "hub", "-n", NS, "federateddeployment", "bad") is None


def test_drift_is_reverted(kubectl: Kubectl) -> None:
    apply(kubectl, fed("FederatedConfigMap", "drifty", {"data": {"k": "v"}}))
    kubectl("hub", "wait", "-n", NS, "--for=condition=Ready", "federatedconfigmap/drifty", "--timeout=60s")
    kubectl("tke-gz", "-n", NS, "patch", "configmap", "drifty", "--type=merge", "-p", '{"data":{"k":"edited"}}')
    wait_for("edit reverted", lambda: (get_json(kubectl, "tke-gz", "-n", NS, "configmap", "drifty")
                                       or {}).get("data") == {"k": "v"}, timeout=15)
    kubectl("eks-sg", "-n", NS, "delete", "configmap", "drifty")
    wait_for("deletion reverted", lambda: get_json(kubectl, "eks-sg", "-n", NS, "configmap", "drifty"), timeout=15)


def test_member_no_longer_selected_loses_the_object(kubectl: Kubectl) -> None:
    obj = fed("FederatedConfigMap", "narrowing", {"data": {"k": "v"}})
    apply(kubectl, obj)
    kubectl("hub", "wait", "-n", NS, "--for=condition=Ready", "federatedconfigmap/narrowing", "--timeout=60s")
    obj["spec"]["placement"] = {"clusters": ["idc-bj"]}
    apply(kubectl, obj)
    for cluster in ("tke-gz", "eks-sg"):
        wait_for(f"removal from {cluster}",
                 lambda c=cluster: get_json(kubectl, c, "-n", NS, "configmap", "narrowing") is None, timeout=20)
    assert get_json(kubectl, "idc-bj", "-n", NS, "configmap", "narrowing") is not None


def test_delete_cleans_up_everywhere_and_orphan_keeps(kubectl: Kubectl) -> None:
    apply(kubectl, fed("FederatedConfigMap", "doomed", {"data": {"k": "v"}}))
    apply(kubectl, fed("FederatedConfigMap", "kept", {"data": {"k": "v"}}, annotations={"hybridfed.io/orphan": "true"}))
    for name in ("doomed", "kept"):
        kubectl("hub", "wait", "-n", NS, "--for=condition=Ready", f"federatedconfigmap/{name}", "--timeout=60s")
    kubectl("hub", "-n", NS, "delete", "federatedconfigmap", "doomed", "kept", "--timeout=60s", timeout=70)
    for cluster in MEMBERS:
        wait_for(f"cleanup on {cluster}",
                 lambda c=cluster: get_json(kubectl, c, "-n", NS, "configmap", "doomed") is None, timeout=20)
        assert get_json(kubectl, cluster, "-n", NS, "configmap", "kept") is not None


def test_existing_object_is_a_conflict_unless_adopted(kubectl: Kubectl) -> None:
    # Re-runnable on a kept fleet: start from no federated object and no member object.
    kubectl("hub", "-n", NS, "delete", "federatedconfigmap", "legacy", "--ignore-not-found", "--timeout=30s")
    kubectl("idc-bj", "create", "namespace", NS, check=False)
    # As if hybridfed had created it: its member credential binds Secret access only in namespaces it manages.
    kubectl("idc-bj", "label", "namespace", NS, "app.kubernetes.io/managed-by=hybridfed", "--overwrite")
    kubectl("idc-bj", "-n", NS, "delete", "configmap", "legacy", "--ignore-not-found")
    kubectl("idc-bj", "-n", NS, "create", "configmap", "legacy", "--from-literal=owner=ops")
    obj = fed("FederatedConfigMap", "legacy", {"data": {"owner": "hybridfed"}}, {"clusters": ["idc-bj"]})
    apply(kubectl, obj)

    def conflict_reported() -> bool:
        got = get_json(kubectl, "hub", "-n", NS, "federatedconfigmap", "legacy") or {}
        rows = (got.get("status") or {}).get("clusters") or []
        return any("conflict" in r.get("message", "") for r in rows)

    wait_for("conflict in status", conflict_reported, timeout=30)
    cm = get_json(kubectl, "idc-bj", "-n", NS, "configmap", "legacy")
    assert cm is not None and cm["data"] == {"owner": "ops"}  # not overwritten
    obj["metadata"]["annotations"] = {"hybridfed.io/adopt": "true"}
    apply(kubectl, obj)
    # Adopting is the hub admin's call per namespace: refused until the binding allows it.
    wait_for("adoption refused", lambda: any("allowAdoption" in r.get("message", "") for r in (
        (get_json(kubectl, "hub", "-n", NS, "federatedconfigmap", "legacy") or {}).get("status") or {}).get(
        "clusters") or []), timeout=30)
    assert (get_json(kubectl, "idc-bj", "-n", NS, "configmap", "legacy") or {}).get("data") == {"owner": "ops"}
    kubectl("hub", "-n", NS, "patch", "memberclustersetbinding", "default", "--type=merge",
            "-p", '{"spec":{"allowAdoption":true}}')
    try:
        wait_for("adoption", lambda: (get_json(kubectl, "idc-bj", "-n", NS, "configmap", "legacy")
                                      or {}).get("data") == {"owner": "hybridfed"}, timeout=30)
    finally:
        kubectl("hub", "-n", NS, "patch", "memberclustersetbinding", "default", "--type=merge",
                "-p", '{"spec":{"allowAdoption":false}}')
    kubectl("hub", "wait", "-n", NS, "--for=condition=Ready", "federatedconfigmap/legacy", "--timeout=30s")


def test_secret_is_placed_with_per_namespace_access(kubectl: Kubectl) -> None:
    apply(kubectl, fed("FederatedSecret", "creds", {"type": "Opaque", "stringData": {"password": "s3cr3t"}}))
    kubectl("hub", "wait", "-n", NS, "--for=condition=Ready", "federatedsecret/creds", "--timeout=60s")
    for cluster in MEMBERS:
        secret = get_json(kubectl, cluster, "-n", NS, "secret", "creds")
        assert secret is not None
        assert secret["data"]["password"] == "czNjcjN0"
    hub_obj = kubectl("hub", "-n", NS, "get", "federatedsecret", "creds", "-o", "jsonpath={.status}").stdout
    assert "s3cr3t" not in hub_obj and "czNjcjN0" not in hub_obj


def _apiserver_writes(fleet: fleet_mod.Fleet, cluster: str, resource: str) -> float:
    """Write requests the member's real kube-apiserver has served for `resource` (its own metrics)."""
    state = fleet.load()
    assert state is not None
    c = state.cluster(cluster)
    req = urllib.request.Request(c.endpoint + "/metrics")
    with urllib.request.urlopen(req, context=fleet._ssl(cluster), timeout=10) as resp:
        text = resp.read().decode()
    total = 0.0
    for line in text.splitlines():
        if line.startswith("apiserver_request_total{") and f'resource="{resource}"' in line and any(
                f'verb="{v}"' in line for v in ("POST", "PATCH", "PUT", "APPLY")):
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_unchanged_manifests_are_not_resent(kubectl: Kubectl, fleet: fleet_mod.Fleet) -> None:
    obj = fed("FederatedConfigMap", "steady", {"data": {"k": "v"}})
    apply(kubectl, obj)
    kubectl("hub", "wait", "-n", NS, "--for=condition=Ready", "federatedconfigmap/steady", "--timeout=60s")
    time.sleep(1)
    before = _apiserver_writes(fleet, "tke-gz", "configmaps")
    # A label on the federated object makes the operator reconcile it, but the manifest is unchanged.
    kubectl("hub", "-n", NS, "label", "federatedconfigmap", "steady", "touched=yes")
    time.sleep(3)
    assert _apiserver_writes(fleet, "tke-gz", "configmaps") == before


def test_stopped_member_catches_up_when_it_returns(kubectl: Kubectl, fleet: fleet_mod.Fleet) -> None:
    obj = fed("FederatedConfigMap", "catchup", {"data": {"v": "1"}}, failover={"tolerationSeconds": 600})
    apply(kubectl, obj)
    kubectl("hub", "wait", "-n", NS, "--for=condition=Ready", "federatedconfigmap/catchup", "--timeout=60s")
    fleet.stop_component("eks-sg", "kube-apiserver")
    try:
        obj["spec"]["template"]["data"] = {"v": "2"}
        apply(kubectl, obj)
        wait_for("update on the live members", lambda: all(
            (get_json(kubectl, c, "-n", NS, "configmap", "catchup") or {}).get("data") == {"v": "2"}
            for c in ("idc-bj", "tke-gz")), timeout=30)
    finally:
        state = fleet.load()
        assert state is not None
        fleet.start_cluster(state.cluster("eks-sg"))
    wait_for("eks-sg caught up", lambda: (get_json(kubectl, "eks-sg", "-n", NS, "configmap", "catchup")
                                          or {}).get("data") == {"v": "2"}, timeout=60)
    kubectl("hub", "wait", "-n", NS, "--for=condition=Ready", "federatedconfigmap/catchup", "--timeout=60s")


def test_sigkill_mid_propagation_converges_without_orphans(kubectl: Kubectl, federation: Operator) -> None:
    count = 40
    objs = [fed("FederatedConfigMap", f"burst-{i}", {"data": {"i": str(i)}}) for i in range(count)]
    kubectl("hub", "apply", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List", "items": objs}))
    time.sleep(0.5)
    federation.kill()
    federation.start()

    def burst_names(cluster: str) -> list[str]:
        items = json.loads(kubectl(cluster, "-n", NS, "get", "configmaps", "-o", "json").stdout)["items"]
        return sorted(i["metadata"]["name"] for i in items if i["metadata"]["name"].startswith("burst-"))

    def all_placed() -> bool:
        return all(burst_names(c) == sorted(f"burst-{i}" for i in range(count)) for c in MEMBERS)

    wait_for("all placements after restart", all_placed, timeout=90)
    kubectl("hub", "-n", NS, "delete", "federatedconfigmaps", *[f"burst-{i}" for i in range(count)],
            "--timeout=90s", timeout=100)
    for cluster in MEMBERS:
        wait_for(f"no orphans on {cluster}", lambda c=cluster: not burst_names(c), timeout=30)


def test_a_delete_met_first_after_restart_removes_what_status_never_listed(kubectl: Kubectl,
                                                                            federation: Operator) -> None:
    names = [f"unlisted-{i}" for i in range(5)]
    kubectl("hub", "apply", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List", "items": [
        fed("FederatedConfigMap", n, {"data": {"n": n}}) for n in names]}))

    def placed(cluster: str) -> list[str]:
        items = json.loads(kubectl(cluster, "-n", NS, "get", "configmaps", "-o", "json").stdout)["items"]
        return sorted(i["metadata"]["name"] for i in items if i["metadata"]["name"].startswith("unlisted-"))

    wait_for("placements", lambda: all(placed(c) == names for c in MEMBERS), timeout=60)
    # An operator killed after placing but before writing status: status names no cluster, and the
    # restarted operator meets the deletion before it has watched anything.
    federation.kill()
    for n in names:
        kubectl("hub", "-n", NS, "patch", "federatedconfigmap", n, "--subresource=status", "--type=merge",
                "-p", json.dumps({"status": {"placement": None}}))
    kubectl("hub", "-n", NS, "delete", "federatedconfigmaps", *names, "--wait=false")
    federation.start()
    def remaining() -> list[str]:
        items = json.loads(kubectl("hub", "-n", NS, "get", "federatedconfigmaps", "-o", "json").stdout)["items"]
        return [i["metadata"]["name"] for i in items if i["metadata"]["name"] in names]

    wait_for("federated objects gone", lambda: not remaining(), timeout=60)
    for cluster in MEMBERS:
        assert placed(cluster) == [], f"orphans left on {cluster}"
