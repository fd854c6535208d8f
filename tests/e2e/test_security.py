"""The tenancy attack matrix (issue 12), on the real fleet: every attempt fails, naming the field.

The attacker is a namespace-limited hub user, `alice` (group `team-a`), reached through impersonation: a Role in
her namespace `team-a` allows everything on the hybridfed.io federated kinds and nothing else, and a hub admin
has bound the `default` MemberClusterSet into `team-a`. The member credential itself is the other attacker
(`--as system:serviceaccount:hybridfed-system:hybridfed-member` against a member). For the duration of the module
one member (`eks-sg`) is moved into a MemberClusterSet `restricted` that team-a is not bound to.

Each attack is refused either at apply time (the API server's answer names the field) or in the federated
object's status (`status.clusters[].message` or a condition naming the field), and the member never gets the
object. Each prints one line with what it got back; the last test prints "N attacks tried, N refused".
`pytest -s` shows them. An attack that gets through fails its test with the command that reproduces it.
"""

from __future__ import annotations

import base64
import contextlib
import ctypes
import json
import os
import secrets
import shlex
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import pytest
import yaml

from hybridfed.api.kinds import API_VERSION, CLUSTER_SET_LABEL, DEFAULT_CLUSTER_SET, FEDERATED_KINDS, GROUP
from hybridfed.dev import fleet as fleet_mod
from hybridfed.dev import topology
from hybridfed.drivers import access

from .conftest import Kubectl, Operator, get_json, tenant_namespace, wait_for

NS = "team-a"
ALICE = ("--as=alice", f"--as-group={NS}")
MEMBER_SA = access.service_account_username()
MEMBERS = tuple(m.name for m in topology.parse_members(topology.DEFAULT_MEMBERS))
TARGET = "idc-bj"  # the member the tenant's attacks aim at (bound to team-a through `default`)
RESTRICTED = "eks-sg"  # moved into the set `restricted`, which team-a is not bound to
RESTRICTED_SET = "restricted"
TENANT_ROLE = "sec-e2e-federated-kinds"
PATCH_MC_ROLE = "sec-e2e-patch-memberclusters"
FOREIGN_SA = "member-ops"  # a ServiceAccount a member admin made in the tenant's member namespace
PROTECTED = ("kube-system", "kube-public", "kube-node-lease", access.NAMESPACE)
CRD_GROUP = "sec-e2e.hybridfed.test"
STATUS_TIMEOUT = 45.0

ATTACKS = (
    "privileged container",
    "hostPath volume",
    "hostNetwork",
    "hostPID",
    "Service externalIPs",
    "cluster-scoped kind from the member's discovery (CRD SecWidget)",
    "cluster-scoped kind from the fixed list (PriorityClass)",
    "namespace escape through the template",
    "namespace escape through an override",
    "unbound cluster next to a bound one",
    "unbound cluster alone",
    "adoption without permission",
    *(f"member credential writes into {ns}" for ns in PROTECTED),
    "member credential RoleBinding to cluster-admin",
    "http:// apiEndpoint on a MemberCluster",
    "stored credential kubeconfig naming a tokenFile",
    "tenant relabels a MemberCluster into its set",
)
FOREIGN_SA_ATTACK = "foreign serviceAccountName"


@dataclass(frozen=True)
class Outcome:
    attack: str
    refused: bool
    got: str


OUTCOMES: dict[str, Outcome] = {}
KNOWN_GAPS: dict[str, str] = {}


# ---- helpers -----------------------------------------------------------------------------------------------
def command_line(fleet: fleet_mod.Fleet, cluster: str, *args: str, input: str | None = None) -> str:
    """The shell command that repeats one kubectl call (for the failure message of an attack that got through)."""
    line = " ".join(shlex.quote(a) for a in (str(fleet.bin_dir / "kubectl"), "--kubeconfig", str(fleet.kubeconfig),
                                             "--context", cluster, *args))
    return f"{line} <<'EOF'\n{input}\nEOF" if input is not None else line


def alice(kubectl: Kubectl, *args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
    return kubectl("hub", *args, *ALICE, input=input, check=False)


def as_member(kubectl: Kubectl, cluster: str, *args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
    return kubectl(cluster, *args, f"--as={MEMBER_SA}", input=input, check=False)


def record(attack: str, refused: bool, got: str, reproduce: str = "") -> None:
    """One line of the matrix; an attack that got through fails its test, with the command that repeats it."""
    got = " ".join(got.split())
    OUTCOMES[attack] = Outcome(attack, refused, got)
    print(f"\n[{'refused' if refused else 'GOT THROUGH'}] {attack}: {got}")
    if not refused:
        pytest.fail(f"attack got through: {attack}: {got}\nreproduce with:\n{reproduce}", pytrace=False)


def container(**extra: Any) -> dict[str, Any]:
    return {"name": "app", "image": "nginx:1.27", "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}},
            **extra}


def fdeploy(name: str, *, pod: dict[str, Any] | None = None, app: dict[str, Any] | None = None,
            clusters: Sequence[str] = (TARGET,), annotations: dict[str, str] | None = None,
            template_metadata: dict[str, Any] | None = None, overrides: list[dict[str, Any]] | None = None,
            ) -> dict[str, Any]:
    """A one-replica FederatedDeployment of team-a placed on `clusters`."""
    template: dict[str, Any] = {"spec": {
        "replicas": 1, "selector": {"matchLabels": {"app": name}},
        "template": {"metadata": {"labels": {"app": name}},
                     "spec": {"containers": [container(**(app or {}))], **(pod or {})}}}}
    if template_metadata is not None:
        template["metadata"] = template_metadata
    spec: dict[str, Any] = {"template": template, "placement": {"clusters": list(clusters)}}
    if overrides is not None:
        spec["overrides"] = overrides
    metadata: dict[str, Any] = {"name": name, "namespace": NS}
    if annotations:
        metadata["annotations"] = annotations
    return {"apiVersion": API_VERSION, "kind": "FederatedDeployment", "metadata": metadata, "spec": spec}


def exists(kubectl: Kubectl, cluster: str, resource: str, name: str, namespace: str | None = NS) -> bool:
    return get_json(kubectl, cluster, resource, name, *(("-n", namespace) if namespace else ())) is not None


def on_members(kubectl: Kubectl, resource: str, name: str, namespaces: Sequence[str | None] = (NS,),
               clusters: Sequence[str] = MEMBERS) -> str | None:
    """Where a member holds `resource/name` (what an attack must never produce), or None."""
    found = [f"{resource} {ns + '/' if ns else ''}{name} exists on {c}"
             for c in clusters for ns in namespaces if exists(kubectl, c, resource, name, ns)]
    return "; ".join(found) or None


def refusal_in_status(body: dict[str, Any] | None, field: str, reason: str | None = None) -> str | None:
    """The status message naming `field` (a cluster's message or a False condition, of `reason` if given)."""
    status = (body or {}).get("status") or {}
    if reason is None:
        for row in status.get("clusters") or ():
            if field in (row.get("message") or ""):
                return f"status.clusters[{row['name']}].message: {row['message']}"
    for cond in status.get("conditions") or ():
        if cond.get("status") == "False" and field in (cond.get("message") or "") and \
                (reason is None or cond.get("reason") == reason):
            return f"{cond['type']}=False {cond.get('reason')}: {cond['message']}"
    return None


def tenant_attack(fleet: fleet_mod.Fleet, kubectl: Kubectl, attack: str, manifest: dict[str, Any], field: str,
                  placed: Callable[[], str | None], *, reason: str | None = None) -> str:
    """alice creates `manifest`: it must be refused at apply naming `field`, or accepted and then refused in
    its status naming `field` (with condition `reason`, if given); `placed()` (what the members got) must stay
    None throughout. Records the outcome and returns what came back."""
    text = json.dumps(manifest, indent=1)
    reproduce = command_line(fleet, "hub", "create", "-f", "-", *ALICE, input=text)
    result = alice(kubectl, "create", "-f", "-", input=text)
    if result.returncode != 0:
        got = result.stderr.strip()
        leaked = placed()
        record(attack, field in got and leaked is None, f"refused at apply: {got}" + (f"; {leaked}" if leaked else ""),
               reproduce)
        return got
    plural = FEDERATED_KINDS[manifest["kind"]].plural
    name = manifest["metadata"]["name"]
    deadline = time.monotonic() + STATUS_TIMEOUT
    body: dict[str, Any] | None = None
    while time.monotonic() < deadline:
        leaked = placed()
        if leaked is not None:
            record(attack, False, f"accepted, and {leaked}", reproduce)
        body = get_json(kubectl, "hub", plural, name, "-n", NS)
        message = refusal_in_status(body, field, reason)
        if message is not None:
            leaked = placed()  # the write would have come before this status: look once more
            record(attack, leaked is None, f"accepted, refused in status: {message}"
                   + (f"; but {leaked}" if leaked else ""), reproduce)
            return message
        time.sleep(0.5)
    record(attack, False, f"accepted, and no status naming {field} after {STATUS_TIMEOUT:.0f}s; status: "
           f"{json.dumps((body or {}).get('status'))}", reproduce)
    return ""


# ---- the tenant, the restricted set, the member namespace ----------------------------------------------------
def mc_label(kubectl: Kubectl, name: str) -> str | None:
    body = get_json(kubectl, "hub", "membercluster", name) or {}
    value = ((body.get("metadata") or {}).get("labels") or {}).get(CLUSTER_SET_LABEL)
    return str(value) if value is not None else None


def set_mc_label(kubectl: Kubectl, name: str, value: str | None) -> None:
    """As the hub admin: set (or remove, with None) a MemberCluster's cluster-set label."""
    label = f"{CLUSTER_SET_LABEL}={value}" if value is not None else f"{CLUSTER_SET_LABEL}-"
    kubectl("hub", "label", "membercluster", name, label, "--overwrite")


@pytest.fixture(scope="module")
def tenant(fleet: fleet_mod.Fleet, kubectl: Kubectl, federation: Operator) -> Iterator[None]:
    """team-a bound to `default`, alice allowed the federated kinds there (and nothing else), RESTRICTED moved
    into the set `restricted` (restored afterwards); on teardown everything the module made is removed."""
    original = mc_label(kubectl, RESTRICTED)
    plurals = [row.plural for row in FEDERATED_KINDS.values()]
    try:
        tenant_namespace(kubectl, NS)
        rbac = [
            {"apiVersion": access.RBAC_V1, "kind": "Role", "metadata": {"name": TENANT_ROLE, "namespace": NS},
             "rules": [{"apiGroups": [GROUP], "resources": plurals, "verbs": ["*"]}]},
            {"apiVersion": access.RBAC_V1, "kind": "RoleBinding", "metadata": {"name": TENANT_ROLE, "namespace": NS},
             "roleRef": {"apiGroup": access.RBAC_GROUP, "kind": "Role", "name": TENANT_ROLE},
             "subjects": [{"apiGroup": access.RBAC_GROUP, "kind": "User", "name": "alice"}]},
            {"apiVersion": API_VERSION, "kind": "MemberClusterSet", "metadata": {"name": RESTRICTED_SET}},
        ]
        kubectl("hub", "apply", "--server-side", "-f", "-",
                input=json.dumps({"apiVersion": "v1", "kind": "List", "items": rbac}))
        set_mc_label(kubectl, RESTRICTED, RESTRICTED_SET)
        # The operator has seen the move once it refuses RESTRICTED to team-a: a throwaway object of the admin's
        # says so (nothing shows it otherwise: the operator does not write MemberClusterSet status).
        sync = {"apiVersion": API_VERSION, "kind": "FederatedConfigMap",
                "metadata": {"name": "sec-sync", "namespace": NS},
                "spec": {"template": {"data": {"k": "v"}}, "placement": {"clusters": [RESTRICTED]}}}
        kubectl("hub", "apply", "-f", "-", input=json.dumps(sync))
        wait_for(f"the operator to refuse {RESTRICTED} to {NS}", lambda: refusal_in_status(
            get_json(kubectl, "hub", "federatedconfigmaps", "sec-sync", "-n", NS),
            f"spec.placement.clusters[0]: MemberCluster {RESTRICTED} is in no"), timeout=30)
        kubectl("hub", "delete", "federatedconfigmap", "sec-sync", "-n", NS, "--timeout=60s", timeout=70)
        yield
    finally:
        kubectl("hub", "delete", ",".join(plurals), "--all", "-n", NS, "--ignore-not-found", "--timeout=90s",
                check=False, timeout=100)
        if mc_label(kubectl, RESTRICTED) != original:
            set_mc_label(kubectl, RESTRICTED, original)
        kubectl("hub", "delete", "memberclusterset", RESTRICTED_SET, "--ignore-not-found", check=False)
        kubectl("hub", "delete", "clusterrolebinding,clusterrole", PATCH_MC_ROLE, "--ignore-not-found", check=False)
        kubectl("hub", "delete", "namespace", NS, "--ignore-not-found", "--timeout=90s", check=False, timeout=100)
        for member in MEMBERS:
            kubectl(member, "delete", "namespace", NS, "--ignore-not-found", "--timeout=60s", check=False, timeout=70)


def test_control_alice_may_place_a_plain_deployment_and_nothing_else(kubectl: Kubectl, tenant: None) -> None:
    """Not an attack: alice's legitimate object lands (so the refusals below are not vacuous), and her RBAC is
    what the matrix assumes. It also creates team-a on TARGET (hybridfed-managed, with PSA labels)."""
    def can_i(*args: str) -> str:
        return str(alice(kubectl, "auth", "can-i", *args, "-n", NS).stdout.strip())

    assert can_i("create", "federateddeployments.hybridfed.io") == "yes"
    assert can_i("create", "federatedobjects.hybridfed.io") == "yes"
    for forbidden in (("create", "deployments.apps"), ("get", "secrets"), ("patch", "namespaces"),
                      ("create", "memberclustersetbindings.hybridfed.io"), ("patch", "memberclusters.hybridfed.io")):
        assert can_i(*forbidden) == "no", forbidden
    result = alice(kubectl, "create", "-f", "-", input=json.dumps(fdeploy("sec-control")))
    assert result.returncode == 0, result.stderr
    wait_for("the control Deployment on the target member", lambda: exists(kubectl, TARGET, "deployment",
                                                                           "sec-control"), timeout=STATUS_TIMEOUT)
    ns = get_json(kubectl, TARGET, "namespace", NS) or {}
    labels = (ns.get("metadata") or {}).get("labels") or {}
    print(f"\ncontrol: alice's plain FederatedDeployment is on {TARGET}; member namespace {NS} labels: {labels}")
    assert labels.get("pod-security.kubernetes.io/enforce") == "baseline"


# ---- pod security ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("attack", "name", "pod", "app", "field"), [
    ("privileged container", "sec-privileged", None, {"securityContext": {"privileged": True}},
     "containers[0].securityContext.privileged"),
    ("hostPath volume", "sec-hostpath", {"volumes": [{"name": "root", "hostPath": {"path": "/"}}]},
     {"volumeMounts": [{"name": "root", "mountPath": "/host"}]}, "volumes[0].hostPath"),
    ("hostNetwork", "sec-hostnetwork", {"hostNetwork": True}, None, "spec.hostNetwork"),
    ("hostPID", "sec-hostpid", {"hostPID": True}, None, "spec.hostPID"),
], ids=["privileged", "hostPath", "hostNetwork", "hostPID"])
def test_pod_security(fleet: fleet_mod.Fleet, kubectl: Kubectl, tenant: None, attack: str, name: str,
                      pod: dict[str, Any] | None, app: dict[str, Any] | None, field: str) -> None:
    manifest = fdeploy(name, pod=pod, app=app)
    got = tenant_attack(fleet, kubectl, attack, manifest, field, lambda: on_members(kubectl, "deployment", name))
    assert "spec.template.spec.template.spec." in got  # the full path in the FederatedDeployment


def test_foreign_service_account(fleet: fleet_mod.Fleet, kubectl: Kubectl, tenant: None) -> None:
    """A pod spec naming a ServiceAccount the tenant does not own: one a member admin created in the member
    namespace hybridfed made for team-a (its token and whatever RBAC it holds there would be the tenant's).
    A pod can only name a ServiceAccount of its own namespace, so this is the only foreign one it can reach."""
    kubectl(TARGET, "create", "serviceaccount", FOREIGN_SA, "-n", NS)
    name = "sec-foreign-sa"
    manifest = fdeploy(name, pod={"serviceAccountName": FOREIGN_SA})
    text = json.dumps(manifest, indent=1)
    reproduce = command_line(fleet, "hub", "create", "-f", "-", *ALICE, input=text)
    result = alice(kubectl, "create", "-f", "-", input=text)
    if result.returncode != 0:
        record(FOREIGN_SA_ATTACK, "serviceAccountName" in result.stderr, f"refused at apply: {result.stderr}",
               reproduce)
        return

    def verdict() -> tuple[str, str] | None:
        live = get_json(kubectl, TARGET, "deployment", name, "-n", NS)
        if live is not None:
            used = live["spec"]["template"]["spec"].get("serviceAccountName")
            return "through", f"Deployment {NS}/{name} on {TARGET} runs as ServiceAccount {used}"
        message = refusal_in_status(get_json(kubectl, "hub", "federateddeployments", name, "-n", NS),
                                    "serviceAccountName")
        return ("refused", message) if message else None

    outcome, got = wait_for("a refusal naming serviceAccountName or the Deployment on the member", verdict,
                            timeout=STATUS_TIMEOUT)
    if outcome == "refused":
        record(FOREIGN_SA_ATTACK, True, f"accepted, refused in status: {got}", reproduce)
        return
    record(FOREIGN_SA_ATTACK, False, got, reproduce)
    pytest.fail(f"attack got through: {FOREIGN_SA_ATTACK}: {got}. Reproduce: {reproduce}")


def test_service_external_ips(fleet: fleet_mod.Fleet, kubectl: Kubectl, tenant: None) -> None:
    name = "sec-externalips"
    manifest = {"apiVersion": API_VERSION, "kind": "FederatedService", "metadata": {"name": name, "namespace": NS},
                "spec": {"template": {"spec": {"selector": {"app": name}, "ports": [{"port": 80}],
                                               "externalIPs": ["203.0.113.10"]}},
                         "placement": {"clusters": [TARGET]}}}
    tenant_attack(fleet, kubectl, "Service externalIPs", manifest, "spec.template.spec.externalIPs",
                  lambda: on_members(kubectl, "service", name))


# ---- cluster scope and namespace escapes ---------------------------------------------------------------------
def served_on(kubectl: Kubectl, member: str, gvk: str) -> bool:
    body = get_json(kubectl, "hub", "membercluster", member) or {}
    return gvk in ((body.get("status") or {}).get("apiResources") or ())


@pytest.fixture
def cluster_scoped_crd(kubectl: Kubectl, tenant: None) -> Iterator[str]:
    """A cluster-scoped CRD on TARGET (a kind no fixed list knows), once the member's probe has seen it."""
    crd = {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
           "metadata": {"name": f"secwidgets.{CRD_GROUP}"},
           "spec": {"group": CRD_GROUP, "scope": "Cluster",
                    "names": {"plural": "secwidgets", "singular": "secwidget", "kind": "SecWidget"},
                    "versions": [{"name": "v1", "served": True, "storage": True, "schema": {"openAPIV3Schema": {
                        "type": "object", "x-kubernetes-preserve-unknown-fields": True}}}]}}
    kubectl(TARGET, "apply", "-f", "-", input=json.dumps(crd))
    try:
        kubectl(TARGET, "wait", "--for=condition=Established", f"crd/secwidgets.{CRD_GROUP}", "--timeout=30s")
        wait_for("the member's probe to list SecWidget",
                 lambda: served_on(kubectl, TARGET, f"{CRD_GROUP}/v1/SecWidget"), timeout=30)
        yield f"{CRD_GROUP}/v1"
    finally:
        kubectl(TARGET, "delete", "crd", f"secwidgets.{CRD_GROUP}", "--ignore-not-found", check=False)


def test_cluster_scoped_kind_from_discovery(fleet: fleet_mod.Fleet, kubectl: Kubectl, cluster_scoped_crd: str) -> None:
    name = "sec-widget"
    manifest = {"apiVersion": API_VERSION, "kind": "FederatedObject", "metadata": {"name": name, "namespace": NS},
                "spec": {"template": {"apiVersion": cluster_scoped_crd, "kind": "SecWidget", "spec": {"x": 1}},
                         "placement": {"clusters": [TARGET]}}}
    got = tenant_attack(fleet, kubectl, "cluster-scoped kind from the member's discovery (CRD SecWidget)", manifest,
                        "spec.template", lambda: on_members(kubectl, "secwidgets", name, (None,), (TARGET,)))
    assert "cluster-scoped" in got


def test_cluster_scoped_kind_from_the_fixed_list(fleet: fleet_mod.Fleet, kubectl: Kubectl, tenant: None) -> None:
    name = "sec-priority"
    manifest = {"apiVersion": API_VERSION, "kind": "FederatedObject", "metadata": {"name": name, "namespace": NS},
                "spec": {"template": {"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass",
                                      "value": 1000000000, "globalDefault": True},
                         "placement": {"clusters": list(MEMBERS)}}}
    tenant_attack(fleet, kubectl, "cluster-scoped kind from the fixed list (PriorityClass)", manifest,
                  "spec.template.kind", lambda: on_members(kubectl, "priorityclass", name, (None,)))


def test_namespace_escape_through_the_template(fleet: fleet_mod.Fleet, kubectl: Kubectl, tenant: None) -> None:
    name = "sec-escape-template"
    manifest = fdeploy(name, template_metadata={"namespace": "kube-system"})
    tenant_attack(fleet, kubectl, "namespace escape through the template", manifest,
                  "spec.template.metadata.namespace",
                  lambda: on_members(kubectl, "deployment", name, ("kube-system", NS)))


def test_namespace_escape_through_an_override(fleet: fleet_mod.Fleet, kubectl: Kubectl, tenant: None) -> None:
    name = "sec-escape-override"
    manifest = fdeploy(name, overrides=[{"clusters": [TARGET], "patches": [
        {"op": "replace", "path": "/metadata/namespace", "value": "kube-system"}]}])
    got = tenant_attack(fleet, kubectl, "namespace escape through an override", manifest,
                        "spec.overrides[0].patches[0]",
                        lambda: on_members(kubectl, "deployment", name, ("kube-system", NS)))
    assert "metadata.namespace" in got


# ---- cluster sets ----------------------------------------------------------------------------------------------
def test_unbound_cluster_next_to_a_bound_one(fleet: fleet_mod.Fleet, kubectl: Kubectl, tenant: None) -> None:
    name = "sec-unbound"
    manifest = fdeploy(name, clusters=(TARGET, RESTRICTED))
    got = tenant_attack(fleet, kubectl, "unbound cluster next to a bound one", manifest,
                        f"spec.placement.clusters[1]: MemberCluster {RESTRICTED}",
                        lambda: on_members(kubectl, "deployment", name, clusters=(RESTRICTED,)),
                        reason="ClusterNotBound")
    assert "Scheduled=False ClusterNotBound" in got


def test_unbound_cluster_alone(fleet: fleet_mod.Fleet, kubectl: Kubectl, tenant: None) -> None:
    name = "sec-unbound-alone"
    manifest = fdeploy(name, clusters=(RESTRICTED,))
    got = tenant_attack(fleet, kubectl, "unbound cluster alone", manifest,
                        f"spec.placement.clusters[0]: MemberCluster {RESTRICTED}",
                        lambda: on_members(kubectl, "deployment", name))
    assert got.startswith("Scheduled=False")


def test_adoption_without_permission(fleet: fleet_mod.Fleet, kubectl: Kubectl, tenant: None) -> None:
    """A Deployment a member admin made (not hybridfed) and a federated object of the same name asking to adopt
    it: team-a's binding has no allowAdoption, so the member's object stays as it is."""
    name = "sec-adopt"
    kubectl(TARGET, "create", "deployment", name, "--image=registry.example/owned-by-the-member:1", "-n", NS)
    before = get_json(kubectl, TARGET, "deployment", name, "-n", NS)
    assert before is not None

    def taken_over() -> str | None:
        live = get_json(kubectl, TARGET, "deployment", name, "-n", NS) or {}
        owner = ((live.get("metadata") or {}).get("annotations") or {}).get(f"{GROUP}/owner")
        image = live["spec"]["template"]["spec"]["containers"][0]["image"] if live else None
        if owner or image != "registry.example/owned-by-the-member:1":
            return f"the member's Deployment {NS}/{name} on {TARGET} was taken over (owner {owner}, image {image})"
        return None

    tenant_attack(fleet, kubectl, "adoption without permission", fdeploy(name, annotations={f"{GROUP}/adopt": "true"}),
                  f"metadata.annotations[{GROUP}/adopt]", taken_over)


# ---- the member credential -------------------------------------------------------------------------------------
@pytest.mark.parametrize("namespace", PROTECTED)
def test_member_credential_writes_into_protected_namespace(fleet: fleet_mod.Fleet, kubectl: Kubectl, tenant: None,
                                                           namespace: str) -> None:
    args = ("create", "configmap", "sec-attack", "--from-literal=k=v", "-n", namespace)
    result = as_member(kubectl, TARGET, *args)
    try:
        landed = exists(kubectl, TARGET, "configmap", "sec-attack", namespace)
        record(f"member credential writes into {namespace}",
               result.returncode != 0 and f"protected namespace {namespace}" in result.stderr and not landed,
               result.stderr.strip() or f"created: {result.stdout.strip()}",
               command_line(fleet, TARGET, *args, f"--as={MEMBER_SA}"))
    finally:
        if result.returncode == 0:
            kubectl(TARGET, "delete", "configmap", "sec-attack", "-n", namespace, check=False)


def test_member_credential_role_binding_to_cluster_admin(fleet: fleet_mod.Fleet, kubectl: Kubectl,
                                                         tenant: None) -> None:
    """In the tenant's member namespace, which hybridfed manages (the control test made it)."""
    binding = json.dumps({
        "apiVersion": access.RBAC_V1, "kind": "RoleBinding", "metadata": {"name": "sec-attack", "namespace": NS},
        "roleRef": {"apiGroup": access.RBAC_GROUP, "kind": "ClusterRole", "name": "cluster-admin"},
        "subjects": [{"kind": "ServiceAccount", "name": access.SERVICE_ACCOUNT, "namespace": access.NAMESPACE}]})
    result = as_member(kubectl, TARGET, "create", "-f", "-", input=binding)
    try:
        landed = exists(kubectl, TARGET, "rolebinding", "sec-attack")
        named = "cluster-admin" in result.stderr or "roleRef" in result.stderr \
            or "RBAC permissions not currently held" in result.stderr
        record("member credential RoleBinding to cluster-admin",
               result.returncode != 0 and "forbidden" in result.stderr and named and not landed,
               result.stderr.strip() or f"created: {result.stdout.strip()}",
               command_line(fleet, TARGET, "create", "-f", "-", f"--as={MEMBER_SA}", input=binding))
    finally:
        if result.returncode == 0:
            kubectl(TARGET, "delete", "rolebinding", "sec-attack", "-n", NS, check=False)


# ---- MemberClusters: endpoints, stored credentials, set labels ------------------------------------------------
@pytest.fixture
def alice_may_patch_memberclusters(kubectl: Kubectl, tenant: None) -> Iterator[None]:
    """What the issue assumes of someone who labels or taints MemberClusters: get/list/patch on them."""
    rbac = [
        {"apiVersion": access.RBAC_V1, "kind": "ClusterRole", "metadata": {"name": PATCH_MC_ROLE},
         "rules": [{"apiGroups": [GROUP], "resources": ["memberclusters"], "verbs": ["get", "list", "patch"]}]},
        {"apiVersion": access.RBAC_V1, "kind": "ClusterRoleBinding", "metadata": {"name": PATCH_MC_ROLE},
         "roleRef": {"apiGroup": access.RBAC_GROUP, "kind": "ClusterRole", "name": PATCH_MC_ROLE},
         "subjects": [{"apiGroup": access.RBAC_GROUP, "kind": "User", "name": "alice"}]},
    ]
    kubectl("hub", "apply", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List", "items": rbac}))
    try:
        wait_for("alice's patch right", lambda: alice(kubectl, "auth", "can-i", "patch", "memberclusters.hybridfed.io")
                 .stdout.strip() == "yes", timeout=15)
        yield
    finally:
        kubectl("hub", "delete", "clusterrolebinding,clusterrole", PATCH_MC_ROLE, "--ignore-not-found", check=False)


def endpoint_of(kubectl: Kubectl, name: str) -> str | None:
    body = get_json(kubectl, "hub", "membercluster", name) or {}
    value = (body.get("spec") or {}).get("apiEndpoint")
    return str(value) if value is not None else None


def test_http_api_endpoint(fleet: fleet_mod.Fleet, kubectl: Kubectl, alice_may_patch_memberclusters: None) -> None:
    before = endpoint_of(kubectl, RESTRICTED)
    assert before and before.startswith("https://")
    patch = json.dumps({"spec": {"apiEndpoint": "http://127.0.0.1:1/"}})
    args = ("patch", "membercluster", RESTRICTED, "--type=merge", "-p", patch)
    result = alice(kubectl, *args)
    try:
        after = endpoint_of(kubectl, RESTRICTED)
        record("http:// apiEndpoint on a MemberCluster",
               result.returncode != 0 and "spec.apiEndpoint" in result.stderr and after == before,
               f"refused at apply: {result.stderr.strip()}" if result.returncode else f"accepted: endpoint {after}",
               command_line(fleet, "hub", *args, *ALICE))
    finally:
        if endpoint_of(kubectl, RESTRICTED) != before:
            kubectl("hub", "patch", "membercluster", RESTRICTED, "--type=merge",
                    "-p", json.dumps({"spec": {"apiEndpoint": before}}))


def test_tenant_relabels_a_member_cluster_into_its_set(fleet: fleet_mod.Fleet, kubectl: Kubectl,
                                                       alice_may_patch_memberclusters: None) -> None:
    assert mc_label(kubectl, RESTRICTED) == RESTRICTED_SET
    args = ("label", "membercluster", RESTRICTED, f"{CLUSTER_SET_LABEL}={DEFAULT_CLUSTER_SET}", "--overwrite")
    result = alice(kubectl, *args)
    try:
        after = mc_label(kubectl, RESTRICTED)
        record("tenant relabels a MemberCluster into its set",
               result.returncode != 0 and f"metadata.labels[{CLUSTER_SET_LABEL}]" in result.stderr
               and after == RESTRICTED_SET,
               f"refused at apply: {result.stderr.strip()}" if result.returncode else f"accepted: label now {after}",
               command_line(fleet, "hub", *args, *ALICE))
    finally:
        if mc_label(kubectl, RESTRICTED) != RESTRICTED_SET:
            set_mc_label(kubectl, RESTRICTED, RESTRICTED_SET)


class FileOpens:
    """Whether anyone opens or reads a file (Linux inotify: IN_OPEN | IN_ACCESS), whatever the atime mount."""

    IN_ACCESS, IN_OPEN = 0x1, 0x20

    def __init__(self, path: str) -> None:
        self.libc = ctypes.CDLL(None, use_errno=True)
        self.fd = int(self.libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC))
        if self.fd < 0 or self.libc.inotify_add_watch(self.fd, path.encode(), self.IN_OPEN | self.IN_ACCESS) < 0:
            raise OSError(ctypes.get_errno(), f"inotify on {path}")

    def events(self) -> int:
        try:
            return len(os.read(self.fd, 65536))
        except BlockingIOError:
            return 0

    def close(self) -> None:
        os.close(self.fd)


class Listener:
    """A TCP port that records every connection (where the evil kubeconfig's server points)."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while not self.stopped.is_set():
            with contextlib.suppress(TimeoutError, OSError):
                conn, _ = self.sock.accept()
                self.connections += 1
                conn.close()

    def close(self) -> None:
        self.stopped.set()
        self.thread.join(timeout=2)
        self.sock.close()


def ready_condition(kubectl: Kubectl, name: str) -> dict[str, Any] | None:
    body = get_json(kubectl, "hub", "membercluster", name) or {}
    return next((c for c in (body.get("status") or {}).get("conditions") or () if c.get("type") == "Ready"), None)


def test_stored_credential_naming_a_token_file(fleet: fleet_mod.Fleet, kubectl: Kubectl,
                                               federation: Operator, tenant: None) -> None:
    """As the hub admin (whoever may write the credential Secret): a MemberCluster `evil` whose Secret holds a
    kubeconfig with users[].user.tokenFile pointing at a file on the operator's host. It gets InvalidCredentials
    naming the key; the file is never opened, nothing connects to its server, the token never shows up."""
    canary = fleet.state_dir / "sec-canary-token"
    token = f"hf-canary-{secrets.token_hex(12)}"
    canary.write_text(token)
    hub_ca = yaml.safe_load(fleet.kubeconfig.read_text())["clusters"][0]["cluster"]["certificate-authority-data"]
    listener = Listener()
    opens = FileOpens(str(canary))
    kubeconfig = {"apiVersion": "v1", "kind": "Config", "current-context": "evil",
                  "clusters": [{"name": "evil", "cluster": {"server": f"https://127.0.0.1:{listener.port}",
                                                            "certificate-authority-data": hub_ca}}],
                  "users": [{"name": "evil", "user": {"tokenFile": str(canary)}}],
                  "contexts": [{"name": "evil", "context": {"cluster": "evil", "user": "evil"}}]}
    objects = [
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "evil-credentials", "namespace": access.NAMESPACE},
         "data": {"kubeconfig": base64.b64encode(yaml.safe_dump(kubeconfig).encode()).decode()}},
        {"apiVersion": API_VERSION, "kind": "MemberCluster", "metadata": {"name": "evil"},
         "spec": {"provider": "generic", "region": "local", "mode": "Push",
                  "secretRef": {"name": "evil-credentials", "namespace": access.NAMESPACE}}},
    ]
    text = json.dumps({"apiVersion": "v1", "kind": "List", "items": objects}, indent=1)
    reproduce = command_line(fleet, "hub", "create", "-f", "-", input=text)
    try:
        kubectl("hub", "create", "-f", "-", input=text)

        def refused() -> dict[str, Any] | None:
            cond = ready_condition(kubectl, "evil")
            return cond if cond and cond.get("status") == "False" and cond.get("reason") == "InvalidCredentials" \
                else None

        try:
            cond = wait_for("Ready=False InvalidCredentials on MemberCluster evil", refused, timeout=STATUS_TIMEOUT)
        except AssertionError:
            record("stored credential kubeconfig naming a tokenFile", False,
                   f"no InvalidCredentials; Ready: {ready_condition(kubectl, 'evil')}", reproduce)
            raise
        time.sleep(5)  # a few more probes (every 2 s): none of them may read the file or connect
        leaks = []
        if opens.events():
            leaks.append(f"{canary} was opened or read")
        if listener.connections:
            leaks.append(f"{listener.connections} connection(s) to the kubeconfig's server")
        if token in federation.log.read_text(errors="replace"):
            leaks.append("the token file's content is in the operator log")
        # Both watches work (so "never opened, nothing sent" means something): our own read and connection show.
        assert canary.read_text() == token and opens.events() > 0
        socket.create_connection(("127.0.0.1", listener.port), timeout=2).close()
        wait_for("the listener to see our own connection", lambda: listener.connections > 0, timeout=5)
        record("stored credential kubeconfig naming a tokenFile",
               "users[0].user.tokenFile" in cond["message"] and not leaks,
               f"Ready=False {cond['reason']}: {cond['message']}" + (f"; but {'; '.join(leaks)}" if leaks else
                                                                      "; token file never opened, nothing sent"),
               reproduce)
    finally:
        opens.close()
        listener.close()
        kubectl("hub", "delete", "membercluster", "evil", "--ignore-not-found", "--wait=false", check=False)
        with contextlib.suppress(AssertionError):
            wait_for("MemberCluster evil gone", lambda: get_json(kubectl, "hub", "membercluster", "evil") is None,
                     timeout=30)
        if get_json(kubectl, "hub", "membercluster", "evil") is not None:  # a finalizer nobody released
            print("\nMemberCluster evil kept its finalizer 30 s after deletion: removed by hand")
            kubectl("hub", "patch", "membercluster", "evil", "--type=merge", "-p",
                    '{"metadata":{"finalizers":null}}', check=False)
        kubectl("hub", "delete", "secret", "evil-credentials", "-n", access.NAMESPACE, "--ignore-not-found",
                check=False)
        canary.unlink(missing_ok=True)


# ---- the matrix ---------------------------------------------------------------------------------------------
def test_matrix(tenant: None) -> None:
    """Last: the count. Every attack must have been tried (an attack test that errored before recording counts
    as not refused) and refused."""
    lines = [f"  [{'refused' if o.refused else 'GOT THROUGH'}] {o.attack}: {o.got}" for o in OUTCOMES.values()]
    missing = [a for a in ATTACKS if a not in OUTCOMES]
    lines += [f"  [NOT TRIED] {a}: its test failed before recording an outcome" for a in missing]
    lines += [f"  [KNOWN GAP, xfail] {a}: {got}" for a, got in KNOWN_GAPS.items()]
    if FOREIGN_SA_ATTACK in OUTCOMES:
        tried_attacks = [*ATTACKS, FOREIGN_SA_ATTACK]
    else:
        tried_attacks = list(ATTACKS)
    tried = len(tried_attacks)
    refused = sum(1 for a in tried_attacks if a in OUTCOMES and OUTCOMES[a].refused)
    gaps = f" ({len(KNOWN_GAPS)} known gap(s) not counted, xfail: {', '.join(KNOWN_GAPS)})" if KNOWN_GAPS else ""
    print("\n" + "\n".join(lines) + f"\n{tried} attacks tried, {refused} refused{gaps}")
    assert refused == tried, [line for line in lines if "[refused]" not in line]
