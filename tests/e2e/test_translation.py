"""Provider translation, API-version adaptation and a third-party driver, against the real fleet.

One neutral object goes in; each member must hold its provider's dialect, read back from the member's
own API server. Runs on the shared e2e fleet (HYBRIDFED_E2E_KEEP=1): every MemberCluster change made here
is undone at the end, and everything created is deleted.
"""

from __future__ import annotations

import functools
import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from hybridfed.dev import fleet as fleet_mod

from .conftest import Kubectl, Operator, get_json, tenant_namespace, wait_for

MEMBERS = ("idc-bj", "tke-gz", "eks-sg")
NS = "translation-e2e"
SUBNET = "subnet-e2e00001"
#: Each member's registry mirror (spec.translation.registryMirror), as a real fleet would have them.
MIRRORS = {
    "idc-bj": "harbor.idc-bj.example.com/hybridfed",
    "tke-gz": "ccr.ccs.tencentyun.com/hybridfed",
    "eks-sg": "123456789012.dkr.ecr.ap-southeast-1.amazonaws.com/hybridfed",
}
#: DESIGN.md's table: what `hybridfed.io/exposure: internal` must become on each member.
INTERNAL_LB = {
    "idc-bj": {"metallb.universe.tf/address-pool": "default"},
    "tke-gz": {"service.kubernetes.io/qcloud-loadbalancer-internal-subnetid": SUBNET},
    "eks-sg": {"service.beta.kubernetes.io/aws-load-balancer-scheme": "internal",
               "service.beta.kubernetes.io/aws-load-balancer-type": "external"},
}
FAST_CLASS = {"idc-bj": "ceph-rbd", "tke-gz": "cbs-ssd", "eks-sg": "gp3"}
STANDARD_CLASS = {"idc-bj": "local-path", "tke-gz": "cbs", "eks-sg": "gp2"}
#: A kind that only some members serve (its CRD is installed on these).
GADGET_GROUP = "e2e.hybridfed.io"
GADGET_MEMBERS = ("idc-bj", "eks-sg")
EXAMPLE = Path(__file__).parents[2] / "examples" / "third-party-driver"
ACME_MEMBER = "acme-hub"
ACME_TAINT = {"key": "hybridfed.io/e2e-acme", "value": "", "effect": "NoSchedule"}


# ---- helpers -----------------------------------------------------------------------------------
def getter(kubectl: Kubectl, cluster: str, *args: str) -> Callable[[], dict[str, Any] | None]:
    """``get_json`` bound to its arguments, for ``wait_for`` inside loops (a lambda would bind late)."""
    return lambda: get_json(kubectl, cluster, *args)


def apply(kubectl: Kubectl, obj: dict[str, Any]) -> None:
    kubectl("hub", "apply", "-f", "-", input=json.dumps(obj))


def fed(kind: str, name: str, template: dict[str, Any], clusters: tuple[str, ...] = MEMBERS,
        **placement: Any) -> dict[str, Any]:
    return {"apiVersion": "hybridfed.io/v1alpha1", "kind": kind, "metadata": {"name": name, "namespace": NS},
            "spec": {"template": template, "placement": {"clusters": list(clusters), **placement}}}


def patch_member(kubectl: Kubectl, name: str, spec: dict[str, Any]) -> None:
    kubectl("hub", "patch", "membercluster", name, "--type", "merge", "-p", json.dumps({"spec": spec}))


def provider_annotations(obj: dict[str, Any]) -> dict[str, str]:
    """The annotations translation added: hybridfed's own bookkeeping left out."""
    annotations: dict[str, str] = obj["metadata"].get("annotations") or {}
    return {k: v for k, v in annotations.items() if not k.startswith("hybridfed.io/")}


def cluster_row(status_obj: dict[str, Any] | None, cluster: str) -> dict[str, Any]:
    for row in ((status_obj or {}).get("status") or {}).get("clusters") or []:
        if row.get("name") == cluster:
            return dict(row)
    return {}


def applied_version(obj: dict[str, Any]) -> str | None:
    """The apiVersion hybridfed wrote the object in (server-side apply records it per manager)."""
    for entry in obj["metadata"].get("managedFields") or []:
        if entry.get("manager") == "hybridfed":
            return str(entry.get("apiVersion"))
    return None


def delete_quietly(kubectl: Kubectl, cluster: str, *args: str) -> None:
    kubectl(cluster, "delete", "--ignore-not-found", "--wait=false", *args, check=False)


def remove_federated(kubectl: Kubectl, kind: str, *names: str) -> None:
    """Delete federated objects and wait until the operator has removed what they placed.

    A run that failed half-way (say, before the controller could place a kind) may leave a finalizer
    the operator cannot honour; it is dropped after a while, so nothing stays stuck on the shared fleet.
    """
    for name in names:
        delete_quietly(kubectl, "hub", "-n", NS, kind, name)
    try:
        wait_for(f"{kind} {', '.join(names)} deleted",
                 lambda: all(get_json(kubectl, "hub", "-n", NS, kind, n) is None for n in names), timeout=45)
    except AssertionError:
        for name in names:
            kubectl("hub", "-n", NS, "patch", kind, name, "--type", "merge", "-p", '{"metadata":{"finalizers":null}}',
                    check=False)


# ---- fixtures ----------------------------------------------------------------------------------
@pytest.fixture(scope="module", autouse=True)
def namespace(federation: Operator, kubectl: Kubectl) -> Iterator[None]:
    tenant_namespace(kubectl, NS)
    yield
    remove_federated(kubectl, "federatedservice", "api")
    remove_federated(kubectl, "federatedstatefulset", "db")


@pytest.fixture(scope="module")
def translation(kubectl: Kubectl) -> Iterator[None]:
    """A registry mirror on every member (no subnet on tke-gz yet); the fleet's own settings restored after."""
    before = {m: ((get_json(kubectl, "hub", "membercluster", m) or {}).get("spec") or {}).get("translation")
              for m in MEMBERS}
    for member in MEMBERS:
        patch_member(kubectl, member, {"translation": {"registryMirror": MIRRORS[member], "loadBalancer": None}})
    time.sleep(2)  # let the operator's MemberCluster watch deliver the change before objects arrive
    yield
    for member, original in before.items():
        patch_member(kubectl, member, {"translation": None})  # a merge patch would merge into ours
        if original is not None:
            patch_member(kubectl, member, {"translation": original})


@pytest.fixture(scope="module")
def member_rbac(kubectl: Kubectl) -> Iterator[None]:
    """FederatedObject targets need a grant of their own (see the join docs): the kinds used here."""
    rules = [{"apiGroups": ["autoscaling"], "resources": ["horizontalpodautoscalers"], "verbs": ["*"]},
             {"apiGroups": ["policy"], "resources": ["poddisruptionbudgets"], "verbs": ["*"]},
             {"apiGroups": [GADGET_GROUP], "resources": ["gadgets"], "verbs": ["*"]}]
    role = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
            "metadata": {"name": "hybridfed-e2e-translation"}, "rules": rules}
    binding = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
               "metadata": {"name": "hybridfed-e2e-translation"},
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                           "name": "hybridfed-e2e-translation"},
               "subjects": [{"kind": "ServiceAccount", "name": "hybridfed-member", "namespace": "hybridfed-system"}]}
    for member in MEMBERS:
        kubectl(member, "apply", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List",
                                                               "items": [role, binding]}))
    yield
    # The objects first: without the grant the operator could not delete them from the members.
    remove_federated(kubectl, "federatedobject", "hpa-v2beta2", "pdb-v1beta1", "pdb-empty")
    for member in MEMBERS:
        delete_quietly(kubectl, member, "clusterrolebinding,clusterrole", "hybridfed-e2e-translation")


# ---- translation -------------------------------------------------------------------------------
def test_internal_service_gets_each_providers_annotations(kubectl: Kubectl, translation: None) -> None:
    template = {"metadata": {"annotations": {"hybridfed.io/exposure": "internal"}},
                "spec": {"type": "LoadBalancer", "selector": {"app": "api"}, "ports": [{"port": 443}]}}
    apply(kubectl, fed("FederatedService", "api", template))

    # tke-gz has no subnet: the Service is refused there, per cluster, naming the field; the others proceed.
    def refused_on_tencent() -> bool:
        row = cluster_row(get_json(kubectl, "hub", "-n", NS, "federatedservice", "api"), "tke-gz")
        return "spec.translation.loadBalancer.internalSubnetId" in row.get("message", "")

    wait_for("tke-gz to report the missing subnet", refused_on_tencent, timeout=60)
    assert get_json(kubectl, "tke-gz", "-n", NS, "service", "api") is None
    for member in ("idc-bj", "eks-sg"):
        svc = wait_for(f"Service api on {member}", getter(kubectl, member, "-n", NS, "service", "api"))
        assert provider_annotations(svc) == INTERNAL_LB[member], member
        assert svc["metadata"]["annotations"]["hybridfed.io/exposure"] == "internal"

    # With the subnet set, the next reconcile places it on tke-gz too.
    patch_member(kubectl, "tke-gz", {"translation": {"loadBalancer": {"internalSubnetId": SUBNET}}})
    svc = wait_for("Service api on tke-gz", lambda: get_json(kubectl, "tke-gz", "-n", NS, "service", "api"), timeout=60)
    assert provider_annotations(svc) == INTERNAL_LB["tke-gz"]
    wait_for("no cluster reporting an error", lambda: not any(
        cluster_row(get_json(kubectl, "hub", "-n", NS, "federatedservice", "api"), m).get("message")
        for m in MEMBERS), timeout=30)


def test_statefulset_storage_classes_and_images(kubectl: Kubectl, translation: None) -> None:
    template = {
        "metadata": {"labels": {"app": "db"}},
        "spec": {
            "replicas": 1, "serviceName": "db", "selector": {"matchLabels": {"app": "db"}},
            "template": {"metadata": {"labels": {"app": "db"}}, "spec": {
                "initContainers": [{"name": "migrate", "image": "hybridfed.local/shop/db-migrate:2.1"}],
                "containers": [{"name": "db", "image": "hybridfed.local/shop/db:16.4",
                                "volumeMounts": [{"name": "data", "mountPath": "/data"},
                                                 {"name": "wal", "mountPath": "/wal"}]},
                               {"name": "exporter",
                                "image": "quay.io/prometheuscommunity/postgres-exporter:v0.15.0"}]}},
            "volumeClaimTemplates": [
                {"metadata": {"name": "data"}, "spec": {"accessModes": ["ReadWriteOnce"],
                                                        "storageClassName": "hybridfed-fast",
                                                        "resources": {"requests": {"storage": "10Gi"}}}},
                {"metadata": {"name": "wal"}, "spec": {"accessModes": ["ReadWriteOnce"],
                                                       "storageClassName": "hybridfed-standard",
                                                       "resources": {"requests": {"storage": "1Gi"}}}}],
        },
    }  # fmt: skip
    apply(kubectl, fed("FederatedStatefulSet", "db", template, replicas={"strategy": "Duplicated"}))
    for member in MEMBERS:
        sts = wait_for(f"StatefulSet db on {member}", getter(kubectl, member, "-n", NS, "statefulset", "db"),
                       timeout=60)
        claims = {c["metadata"]["name"]: c["spec"]["storageClassName"] for c in sts["spec"]["volumeClaimTemplates"]}
        assert claims == {"data": FAST_CLASS[member], "wal": STANDARD_CLASS[member]}, member
        pod = sts["spec"]["template"]["spec"]
        assert [c["image"] for c in pod["initContainers"]] == [f"{MIRRORS[member]}/shop/db-migrate:2.1"]
        assert [c["image"] for c in pod["containers"]] == [
            f"{MIRRORS[member]}/shop/db:16.4", "quay.io/prometheuscommunity/postgres-exporter:v0.15.0"]
        # The member's own StatefulSet controller made the claims from the translated templates.
        pvc = wait_for(f"PVC data-db-0 on {member}", getter(kubectl, member, "-n", NS, "pvc", "data-db-0"),
                       timeout=60)
        assert pvc["spec"]["storageClassName"] == FAST_CLASS[member]


# ---- API versions ------------------------------------------------------------------------------
HPA_SPEC = {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
            "minReplicas": 1, "maxReplicas": 5,
            "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {
                "type": "Utilization", "averageUtilization": 70}}}]}


@pytest.mark.parametrize(
    ("name", "template", "served_as", "plural"),
    [
        ("hpa-v2beta2", {"apiVersion": "autoscaling/v2beta2", "kind": "HorizontalPodAutoscaler", "spec": HPA_SPEC},
         "autoscaling/v2", "horizontalpodautoscalers.v2.autoscaling"),
        ("pdb-v1beta1", {"apiVersion": "policy/v1beta1", "kind": "PodDisruptionBudget",
                         "spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": "web"}}}},
         "policy/v1", "poddisruptionbudgets.v1.policy"),
    ],
)  # fmt: skip
def test_versions_the_members_do_not_serve_are_converted(kubectl: Kubectl, member_rbac: None, name: str,
                                                         template: dict[str, Any], served_as: str, plural: str) -> None:
    """Kubernetes 1.34 removed autoscaling/v2beta2 and policy/v1beta1; both convert without loss."""
    apply(kubectl, fed("FederatedObject", name, template))
    for member in MEMBERS:
        obj = wait_for(f"{name} on {member}",
                       getter(kubectl, member, "-n", NS, plural, name, "--show-managed-fields"), timeout=60)
        assert obj["apiVersion"] == served_as
        assert applied_version(obj) == served_as, "hybridfed must write the version the member serves"
        assert {k: obj["spec"][k] for k in template["spec"]} == template["spec"]


def test_a_lossy_conversion_is_refused_everywhere(kubectl: Kubectl, member_rbac: None) -> None:
    """An empty selector means no pods in policy/v1beta1 and every pod in policy/v1: not converted."""
    template = {"apiVersion": "policy/v1beta1", "kind": "PodDisruptionBudget",
                "spec": {"minAvailable": 1, "selector": {}}}
    apply(kubectl, fed("FederatedObject", "pdb-empty", template))
    status = wait_for("APIUnavailable on pdb-empty", lambda: (lambda o: o if "APIUnavailable" in json.dumps(
        (o or {}).get("status")) else None)(get_json(kubectl, "hub", "-n", NS, "federatedobject", "pdb-empty")))
    assert "selects no pods" in json.dumps(status["status"])
    for member in MEMBERS:
        assert get_json(kubectl, member, "-n", NS, "poddisruptionbudgets.v1.policy", "pdb-empty") is None


@pytest.fixture()
def gadget_crd(kubectl: Kubectl) -> Iterator[None]:
    crd = {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
           "metadata": {"name": f"gadgets.{GADGET_GROUP}"},
           "spec": {"group": GADGET_GROUP, "scope": "Namespaced",
                    "names": {"plural": "gadgets", "singular": "gadget", "kind": "Gadget"},
                    "versions": [{"name": "v1", "served": True, "storage": True, "schema": {"openAPIV3Schema": {
                        "type": "object", "x-kubernetes-preserve-unknown-fields": True}}}]}}
    for member in GADGET_MEMBERS:
        kubectl(member, "apply", "-f", "-", input=json.dumps(crd))
        kubectl(member, "wait", "--for=condition=Established", f"crd/gadgets.{GADGET_GROUP}", "--timeout=30s")
    yield
    remove_federated(kubectl, "federatedobject", "gadget")  # while the members still serve the kind
    for member in GADGET_MEMBERS:
        delete_quietly(kubectl, member, "crd", f"gadgets.{GADGET_GROUP}")


def test_a_member_without_the_api_is_excluded_with_api_unavailable(kubectl: Kubectl, member_rbac: None,
                                                                   gadget_crd: None) -> None:
    gvk = f"{GADGET_GROUP}/v1/Gadget"

    def serves(member: str) -> bool:
        status = (get_json(kubectl, "hub", "membercluster", member) or {}).get("status") or {}
        return gvk in (status.get("apiResources") or [])

    for member in GADGET_MEMBERS:  # the probe must have seen the new CRD before placement can use it
        wait_for(f"{member} to report {gvk}", functools.partial(serves, member), timeout=60)
    apply(kubectl, fed("FederatedObject", "gadget", {"apiVersion": f"{GADGET_GROUP}/v1", "kind": "Gadget",
                                                     "spec": {"size": 3}}))
    for member in GADGET_MEMBERS:
        obj = wait_for(f"Gadget on {member}", getter(kubectl, member, "-n", NS, "gadgets", "gadget"), timeout=60)
        assert obj["spec"] == {"size": 3}

    def excluded() -> dict[str, Any] | None:
        obj = get_json(kubectl, "hub", "-n", NS, "federatedobject", "gadget")
        text = json.dumps((obj or {}).get("status"))
        return obj if "tke-gz" in text and "APIUnavailable" in text else None

    status = wait_for("tke-gz excluded with APIUnavailable", excluded, timeout=60)["status"]
    assert sorted(p["cluster"] for p in status.get("placement") or []) == sorted(GADGET_MEMBERS)
    # Excluded, not failed: the object is Ready on the members that serve the kind.
    kubectl("hub", "wait", "-n", NS, "--for=condition=Ready", "federatedobject/gadget", "--timeout=60s", timeout=70)


# ---- a third-party driver ----------------------------------------------------------------------
def pip(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pip", *args], capture_output=True, text=True, timeout=300)


@pytest.fixture()
def acme_member(fleet: fleet_mod.Fleet, kubectl: Kubectl) -> Iterator[str]:
    """The example driver installed with pip, and the hub itself joined as a member driven by it.

    The hub is a cluster of its own that no other test places on (and the taint keeps every object
    that does not ask for it away), so switching drivers there cannot disturb the shared members.
    """
    # Not editable: an editable install is only importable by interpreters started after it (a .pth
    # file), and the operator is already running. With build isolation: pip fetches the build backend
    # (setuptools) from the index, as for any package a person installs.
    result = pip("install", "--quiet", "--no-deps", str(EXAMPLE))
    assert result.returncode == 0, result.stderr
    hybridfed = str(Path(sys.executable).parent / "hybridfed")
    join = subprocess.run([hybridfed, "join", ACME_MEMBER, "--kubeconfig", str(fleet.cluster_kubeconfig("hub")),
                           "--provider", "generic", "--region", "local", "--hub-kubeconfig", str(fleet.kubeconfig),
                           "--hub-context", "hub"], capture_output=True, text=True, timeout=120)
    assert join.returncode == 0, join.stderr
    try:
        patch_member(kubectl, ACME_MEMBER, {"taints": [ACME_TAINT]})
        yield ACME_MEMBER
    finally:
        remove_federated(kubectl, "federatedconfigmap", "acme")
        remove_federated(kubectl, "federatedservice", "acme")
        subprocess.run([hybridfed, "unjoin", ACME_MEMBER, "--kubeconfig", str(fleet.cluster_kubeconfig("hub")),
                        "--hub-kubeconfig", str(fleet.kubeconfig), "--hub-context", "hub"],
                       capture_output=True, text=True, timeout=120)
        pip("uninstall", "--yes", "hybridfed-acme")


def test_third_party_driver_installed_from_a_package(kubectl: Kubectl, acme_member: str) -> None:
    # A fresh interpreter finds it through the entry point alone.
    probe = subprocess.run([sys.executable, "-c", "from hybridfed import drivers; "
                            "print(drivers.plugin_names(), drivers.get('acme').name)"],
                           capture_output=True, text=True, timeout=60)
    assert probe.returncode == 0 and probe.stdout.strip() == "['acme'] acme", probe.stderr

    # The running operator picks it up for the member that names it: provider generic, driver acme.
    patch_member(kubectl, acme_member, {"driver": "acme",
                                        "translation": {"loadBalancer": {"billingAccount": "team-7"}}})
    stored = (get_json(kubectl, "hub", "membercluster", acme_member) or {}).get("spec") or {}
    assert stored.get("driver") == "acme", "MemberCluster spec.driver was pruned: the CRD does not have it yet"
    wait_for(f"{acme_member} Ready", lambda: any(
        c["type"] == "Ready" and c["status"] == "True"
        for c in ((get_json(kubectl, "hub", "membercluster", acme_member) or {}).get("status") or {}).get(
            "conditions") or []), timeout=60)
    tolerate = {"tolerations": [{"key": ACME_TAINT["key"], "operator": "Exists", "effect": "NoSchedule"}]}
    apply(kubectl, fed("FederatedConfigMap", "acme", {"data": {"k": "v"}}, (acme_member,), **tolerate))
    apply(kubectl, fed("FederatedService", "acme", {
        "metadata": {"annotations": {"hybridfed.io/exposure": "internal"}},
        "spec": {"type": "LoadBalancer", "selector": {"app": "acme"}, "ports": [{"port": 80}]}}, (acme_member,),
        **tolerate))
    # The member is the hub itself: the placed objects land in the same namespace there.
    cm = wait_for("ConfigMap acme on the acme member",
                  lambda: get_json(kubectl, "hub", "-n", NS, "configmap", "acme"), timeout=60)
    assert provider_annotations(cm) == {"acme.example.com/billing-account": "team-7"}
    svc = wait_for("Service acme on the acme member",
                   lambda: get_json(kubectl, "hub", "-n", NS, "service", "acme"), timeout=60)
    assert provider_annotations(svc) == {"lb.acme.example.com/scheme": "internal",
                                         "lb.acme.example.com/network": "default-vpc",
                                         "acme.example.com/billing-account": "team-7"}
