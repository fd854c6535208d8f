"""The Helm chart against the real hub: install, least-privilege RBAC proven sufficient and not excessive,
upgrade, uninstall.

The hub is a real kube-apiserver; kwok plays the kubelet, so the chart's pods become Running and the
Deployment Available without an image. The operator itself then runs here as a local process that
authenticates as the chart's ServiceAccount (a TokenRequest token) with the chart's own arguments, and
drives the core propagation scenario: if the chart's RBAC lacked anything the operator needs, it fails.
"""

from __future__ import annotations

import json
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from hybridfed.dev import bootstrap
from hybridfed.dev import fleet as fleet_mod

from .conftest import Kubectl, Operator, get_json, service_account_kubeconfig, tenant_namespace, wait_for

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "manifests" / "charts" / "hybridfed"
RELEASE = "hybridfed"
NS = "hybridfed-system"
SA = "hybridfed-operator"
DEPLOYMENT = "hybridfed-operator"
LEASE = "hybridfed-operator"
AS_SA = f"system:serviceaccount:{NS}:{SA}"
CHART_OPERATOR = "hybridfed-operator-chart"  # the local process running as the chart's ServiceAccount
APP_NS = "helm-e2e"
MEMBERS = ("idc-bj", "tke-gz", "eks-sg")
POLICY_KINDS = ("validatingadmissionpolicy", "validatingadmissionpolicybinding")
POLICY = "hybridfed-template-namespace"
#: Every admission policy crds/ ships (the chart ships them too): adopted into the release, then given back.
POLICIES = (POLICY, "hybridfed-cluster-set-label", "hybridfed-cluster-set-bind")
HELM_LABELS = ("app.kubernetes.io/managed-by", "app.kubernetes.io/name", "app.kubernetes.io/instance",
               "app.kubernetes.io/component", "app.kubernetes.io/version", "app.kubernetes.io/part-of",
               "helm.sh/chart")
HELM_ANNOTATIONS = ("meta.helm.sh/release-name", "meta.helm.sh/release-namespace", "helm.sh/resource-policy")


def helm(fleet: fleet_mod.Fleet, *args: str, check: bool = True,
         timeout: float = 180) -> subprocess.CompletedProcess[str]:
    cmd = [str(fleet.bin_dir / "helm"), "--kubeconfig", str(fleet.kubeconfig), "--kube-context", "hub", *args]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(f"helm {' '.join(args)} failed: {result.stderr.strip()}")
    return result


def condition(obj: dict[str, Any] | None, type_: str) -> str | None:
    for c in ((obj or {}).get("status") or {}).get("conditions") or []:
        if c["type"] == type_:
            return str(c["status"])
    return None


def can_i(kubectl: Kubectl, *args: str) -> bool:
    result = kubectl("hub", "auth", "can-i", *args, f"--as={AS_SA}", check=False)
    answer = result.stdout.strip()
    assert answer in ("yes", "no"), result.stderr
    return answer == "yes"


def installed(fleet: fleet_mod.Fleet) -> bool:
    out = helm(fleet, "list", "-n", NS, "-q", "--filter", f"^{RELEASE}$").stdout.split()
    return RELEASE in out


def set_policy_metadata(kubectl: Kubectl, adopt: bool) -> None:
    """`kubectl apply -f crds/` (the session fixture) created the admission policy outside Helm. Adopting it
    is the documented migration (docs/install.md); dropping the marks again leaves the fleet as found."""
    for kind in POLICY_KINDS:
        for policy in POLICIES:
            if adopt:
                kubectl("hub", "label", kind, policy, "app.kubernetes.io/managed-by=Helm", "--overwrite")
                kubectl("hub", "annotate", kind, policy, f"meta.helm.sh/release-name={RELEASE}",
                        f"meta.helm.sh/release-namespace={NS}", "--overwrite")
            else:
                kubectl("hub", "label", kind, policy, *[f"{k}-" for k in HELM_LABELS], check=False)
                kubectl("hub", "annotate", kind, policy, *[f"{k}-" for k in HELM_ANNOTATIONS], check=False)


@pytest.fixture(scope="module")
def install_seconds(federation: Operator, fleet: fleet_mod.Fleet, kubectl: Kubectl) -> Iterator[float]:
    """`helm install` into the hub, timed until the operator Deployment is Available."""
    if installed(fleet):
        helm(fleet, "uninstall", RELEASE, "-n", NS, "--wait")
    set_policy_metadata(kubectl, adopt=True)
    try:
        started = time.monotonic()
        helm(fleet, "install", RELEASE, str(CHART), "-n", NS, "--create-namespace")
        kubectl("hub", "-n", NS, "wait", "--for=condition=Available", f"deployment/{DEPLOYMENT}",
                "--timeout=120s", timeout=130)
        elapsed = time.monotonic() - started
        print(f"\nhelm install -> Deployment/{DEPLOYMENT} Available on the hub: {elapsed:.1f}s")
        yield elapsed
    finally:
        if installed(fleet):
            helm(fleet, "uninstall", RELEASE, "-n", NS, "--wait", check=False)
        set_policy_metadata(kubectl, adopt=False)
        kubectl("hub", "-n", NS, "delete", "lease", LEASE, "--ignore-not-found", check=False)


def test_chart_renders_objects_the_hub_accepts(fleet: fleet_mod.Fleet, kubectl: Kubectl) -> None:
    """`helm template | kubectl apply --dry-run=server`: every object passes the API server's validation."""
    kubectl("hub", "create", "namespace", NS, check=False)  # a dry run still needs the namespace to exist
    variants: list[list[str]] = [[], ["--set", "rbac.memberSecretNamespaces={kube-public}", "--set", "replicaCount=1",
                                      "--set", "leaderElection.enabled=false", "--set", "metrics.enabled=false"]]
    if list((CHART / "files" / "dashboards").glob("*.json")):
        variants.append(["--set", "dashboards.enabled=true"])
    for sets in variants:
        rendered = helm(fleet, "template", RELEASE, str(CHART), "-n", NS, "--include-crds",
                        "--kube-version", "1.34.4", *sets).stdout
        kinds = sorted({d["kind"] for d in yaml.safe_load_all(rendered) if d})
        result = kubectl("hub", "apply", "--dry-run=server", "--server-side", "--force-conflicts",
                         "--field-manager=helm-dry-run", "-f", "-", input=rendered, check=False)
        assert result.returncode == 0, result.stderr
        assert "CustomResourceDefinition" in kinds and "ValidatingAdmissionPolicy" in kinds
        if not sets:
            assert {"Deployment", "Service", "ClusterRole", "Role", "PodDisruptionBudget"} <= set(kinds)
        if "dashboards.enabled=true" in sets:
            assert "ConfigMap" in kinds


def test_reference_examples_pass_the_hubs_validation(federation: Operator, kubectl: Kubectl) -> None:
    """The examples on docs/reference/ pages: schema, CEL rules and the admission policy of a real API server."""
    examples = ROOT / "docs" / "reference" / "examples"
    created = kubectl("hub", "get", "namespace", "shop", check=False).returncode != 0
    tenant_namespace(kubectl, "shop")
    try:
        result = kubectl("hub", "apply", "--dry-run=server", "-f", str(examples), check=False)
        assert result.returncode == 0, result.stderr
        assert len(result.stdout.splitlines()) == len(list(examples.glob("*.yaml"))), result.stdout
    finally:
        if created:
            kubectl("hub", "delete", "namespace", "shop", "--wait=false", check=False)


def test_install_makes_the_operator_available(install_seconds: float, fleet: fleet_mod.Fleet,
                                              kubectl: Kubectl) -> None:
    assert install_seconds < 60
    deployment = get_json(kubectl, "hub", "-n", NS, "deployment", DEPLOYMENT)
    assert deployment is not None
    assert deployment["status"]["availableReplicas"] == 2
    pods = get_json(kubectl, "hub", "-n", NS, "pods", "-l", "app.kubernetes.io/name=hybridfed")
    assert pods is not None and len(pods["items"]) == 2
    assert {p["status"]["phase"] for p in pods["items"]} == {"Running"}
    assert {p["spec"]["serviceAccountName"] for p in pods["items"]} == {SA}
    status = json.loads(helm(fleet, "status", RELEASE, "-n", NS, "-o", "json").stdout)
    assert status["info"]["status"] == "deployed"


def test_operator_pod_passes_the_restricted_pod_security_standard(install_seconds: float,
                                                                  kubectl: Kubectl) -> None:
    """The pod template, created for real (dry run) in a namespace that enforces `restricted`."""
    restricted = "helm-e2e-restricted"
    tenant_namespace(kubectl, restricted)
    kubectl("hub", "label", "namespace", restricted, "pod-security.kubernetes.io/enforce=restricted",
            "--overwrite")
    try:
        deployment = get_json(kubectl, "hub", "-n", NS, "deployment", DEPLOYMENT)
        assert deployment is not None
        template = deployment["spec"]["template"]
        spec = {**template["spec"], "serviceAccountName": "default"}
        pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "restricted-check", "namespace": restricted},
               "spec": spec}
        result = kubectl("hub", "create", "--dry-run=server", "-f", "-", input=json.dumps(pod), check=False)
        assert result.returncode == 0, result.stderr
        # The check is real: the same pod without its securityContext is refused.
        loose = {**spec, "securityContext": {},
                 "containers": [{**c, "securityContext": {}} for c in spec["containers"]]}
        result = kubectl("hub", "create", "--dry-run=server", "-f", "-",
                         input=json.dumps({**pod, "spec": loose}), check=False)
        assert result.returncode != 0 and "restricted" in result.stderr, result.stderr
    finally:
        kubectl("hub", "delete", "namespace", restricted, "--wait=false", check=False)


def test_rbac_is_not_excessive(install_seconds: float, kubectl: Kubectl) -> None:
    # What it needs.
    assert can_i(kubectl, "get", "secrets", "-n", NS)
    assert can_i(kubectl, "watch", "federateddeployments.hybridfed.io", "--all-namespaces")
    assert can_i(kubectl, "patch", "federateddeployments.hybridfed.io", "--subresource=status", "-n", "any")
    assert can_i(kubectl, "patch", "memberclusters.hybridfed.io", "--subresource=status")
    assert can_i(kubectl, "update", f"leases/{LEASE}", "-n", NS)
    # Secrets: by name in its own namespace only; never listed, never anywhere else.
    for ns in ("kube-system", "default", "kube-public", APP_NS):
        assert not can_i(kubectl, "get", "secrets", "-n", ns), ns
    assert not can_i(kubectl, "list", "secrets", "-n", NS)
    assert not can_i(kubectl, "watch", "secrets", "-n", NS)
    assert not can_i(kubectl, "create", "secrets", "-n", NS)
    # No RBAC, no workloads, no deleting what users own, no other Leases.
    assert not can_i(kubectl, "create", "clusterroles")
    assert not can_i(kubectl, "create", "clusterrolebindings")
    assert not can_i(kubectl, "create", "rolebindings", "-n", NS)
    assert not can_i(kubectl, "bind", "clusterroles")
    assert not can_i(kubectl, "escalate", "clusterroles")
    assert not can_i(kubectl, "impersonate", "serviceaccounts")
    assert not can_i(kubectl, "create", "pods", "-n", NS)
    assert not can_i(kubectl, "create", "deployments.apps", "-n", "default")
    assert not can_i(kubectl, "delete", "federateddeployments.hybridfed.io", "-n", "any")
    assert not can_i(kubectl, "create", "federateddeployments.hybridfed.io", "-n", "any")
    assert not can_i(kubectl, "delete", "memberclusters.hybridfed.io")
    assert not can_i(kubectl, "update", "memberclusters.hybridfed.io")  # patch: only the unjoin finalizer
    assert not can_i(kubectl, "update", "leases/kube-scheduler", "-n", "kube-system")
    assert not can_i(kubectl, "update", "leases/other", "-n", NS)
    assert not can_i(kubectl, "delete", "customresourcedefinitions")
    assert not can_i(kubectl, "get", "nodes")


def token_kubeconfig(fleet: fleet_mod.Fleet, kubectl: Kubectl, path: Path) -> None:
    service_account_kubeconfig(kubectl, NS, SA, path, "1h")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def chart_args(kubectl: Kubectl) -> list[str]:
    """The installed Deployment's arguments for `hybridfed operator`, with a free local metrics port."""
    deployment = get_json(kubectl, "hub", "-n", NS, "deployment", DEPLOYMENT)
    assert deployment is not None
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    port = free_port()
    return [f"--metrics-port={port}" if a.startswith("--metrics-port") else a for a in container["args"]]


def apply(kubectl: Kubectl, obj: dict[str, Any]) -> None:
    kubectl("hub", "apply", "-f", "-", input=json.dumps(obj))


def fed(kind: str, name: str, template: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "hybridfed.io/v1alpha1", "kind": kind, "metadata": {"name": name, "namespace": APP_NS},
            "spec": {"template": template, "placement": {"clusters": list(MEMBERS)}}}


@pytest.fixture()
def chart_operator(install_seconds: float, federation: Operator, fleet: fleet_mod.Fleet, kubectl: Kubectl,
                   tmp_path: Path) -> Iterator[Path]:
    """The session's (cluster-admin) operator stopped; an operator running as the chart's ServiceAccount."""
    kubeconfig = tmp_path / "chart-sa.kubeconfig"
    token_kubeconfig(fleet, kubectl, kubeconfig)
    log = fleet.cluster_dir("hub") / "logs" / f"{CHART_OPERATOR}.log"
    log.unlink(missing_ok=True)
    argv = [bootstrap.hybridfed_command(), "operator", "--kubeconfig", str(kubeconfig), *chart_args(kubectl)]
    federation.stop()
    kubectl("hub", "-n", NS, "delete", "lease", LEASE, "--ignore-not-found")
    try:
        fleet.spawn("hub", CHART_OPERATOR, argv)
        yield log
    finally:
        fleet.stop_component("hub", CHART_OPERATOR)
        kubectl("hub", "-n", NS, "delete", "lease", LEASE, "--ignore-not-found", check=False)
        federation.start()
        bootstrap.wait_members_ready(fleet, list(MEMBERS))


def test_operator_runs_the_federation_with_only_the_charts_rbac(chart_operator: Path, fleet: fleet_mod.Fleet,
                                                                kubectl: Kubectl) -> None:
    log = chart_operator

    def alive() -> bool:
        if fleet.pid("hub", CHART_OPERATOR) is None:
            raise AssertionError(f"the operator exited: {log.read_text()[-3000:]}")
        return True

    # Leader election with the chart's Role: the Lease is created and held by this process.
    holder = wait_for("the Lease held by the chart-identity operator", lambda: alive() and kubectl(
        "hub", "-n", NS, "get", "lease", LEASE, "-o", "jsonpath={.spec.holderIdentity}",
        check=False).stdout.strip(), timeout=30)
    assert f"became leader as {holder}" in log.read_text()

    # MemberCluster status writes: knock a field off and watch the probe put it back.
    kubectl("hub", "patch", "membercluster", "idc-bj", "--subresource=status", "--type=merge",
            "-p", '{"status": {"kubernetesVersion": "v0.0.0-stale"}}')
    wait_for("the probe rewriting MemberCluster status", lambda: alive() and (get_json(
        kubectl, "hub", "membercluster", "idc-bj") or {}).get("status", {}).get("kubernetesVersion") == "v1.34.4",
        timeout=30)

    # The core propagation scenario.
    tenant_namespace(kubectl, APP_NS)
    apply(kubectl, fed("FederatedConfigMap", "settings", {"data": {"mode": "chart-rbac"}}))
    apply(kubectl, fed("FederatedDeployment", "web", {
        "metadata": {"labels": {"app": "web"}},
        "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}},
                              "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]}}}}))
    for kind in ("federatedconfigmap/settings", "federateddeployment/web"):
        kubectl("hub", "-n", APP_NS, "wait", "--for=condition=Ready", kind, "--timeout=90s", timeout=100)
    for cluster in MEMBERS:
        cm = get_json(kubectl, cluster, "-n", APP_NS, "configmap", "settings")
        assert cm is not None and cm["data"] == {"mode": "chart-rbac"}
        dep = get_json(kubectl, cluster, "-n", APP_NS, "deployment", "web")
        assert dep is not None and dep["status"].get("availableReplicas") == dep["spec"]["replicas"] >= 1
    fd = get_json(kubectl, "hub", "-n", APP_NS, "federateddeployment", "web")
    assert fd is not None and fd["metadata"]["finalizers"] == ["hybridfed.io/cleanup"]
    assert condition(fd, "Ready") == "True" and fd["status"]["readyReplicas"] == fd["status"]["replicas"] >= 3

    # Deletion: the finalizer path cleans every member, then releases the host object.
    kubectl("hub", "-n", APP_NS, "delete", "federatedconfigmap/settings", "federateddeployment/web",
            "--timeout=60s", timeout=70)
    for cluster in MEMBERS:
        wait_for(f"cleanup on {cluster}", lambda c=cluster: (  # type: ignore[misc]
            get_json(kubectl, c, "-n", APP_NS, "configmap", "settings") is None
            and get_json(kubectl, c, "-n", APP_NS, "deployment", "web") is None), timeout=30)

    alive()
    text = log.read_text()
    for word in ("forbidden", "Forbidden", " 403", "Not enough permissions", "Failed to post an event"):
        assert word not in text, f"{word!r} in the operator log:\n{text[-3000:]}"


def test_upgrade_changes_the_release_and_refuses_bad_values(install_seconds: float, fleet: fleet_mod.Fleet,
                                                            kubectl: Kubectl) -> None:
    helm(fleet, "upgrade", RELEASE, str(CHART), "-n", NS, "--reuse-values", "--set", "replicaCount=3",
         "--set", "operator.logLevel=DEBUG")
    kubectl("hub", "-n", NS, "rollout", "status", f"deployment/{DEPLOYMENT}", "--timeout=120s", timeout=130)
    deployment = get_json(kubectl, "hub", "-n", NS, "deployment", DEPLOYMENT)
    assert deployment is not None
    assert deployment["spec"]["replicas"] == 3 and deployment["status"]["availableReplicas"] == 3
    assert "--log-level=DEBUG" in deployment["spec"]["template"]["spec"]["containers"][0]["args"]
    history = json.loads(helm(fleet, "history", RELEASE, "-n", NS, "-o", "json").stdout)
    assert [h["status"] for h in history][-1] == "deployed" and len(history) == 2

    bad = helm(fleet, "upgrade", RELEASE, str(CHART), "-n", NS, "--reuse-values", "--set", "replicaCount=0",
               check=False)
    assert bad.returncode != 0 and "/replicaCount" in bad.stderr, bad.stderr
    assert len(json.loads(helm(fleet, "history", RELEASE, "-n", NS, "-o", "json").stdout)) == 2


def test_uninstall_keeps_the_crds_and_the_objects(install_seconds: float, fleet: fleet_mod.Fleet,
                                                  kubectl: Kubectl) -> None:
    tenant_namespace(kubectl, APP_NS)
    apply(kubectl, fed("FederatedConfigMap", "survives-uninstall", {"data": {"k": "v"}}))
    try:
        result = helm(fleet, "uninstall", RELEASE, "-n", NS, "--wait")
        assert "kept due to the resource policy" in result.stdout + result.stderr
        assert not installed(fleet)
        for kind, name in (("deployment", DEPLOYMENT), ("serviceaccount", SA), ("role", DEPLOYMENT),
                           ("rolebinding", DEPLOYMENT), ("service", f"{DEPLOYMENT}-metrics")):
            assert get_json(kubectl, "hub", "-n", NS, kind, name) is None, kind
        for kind in ("clusterrole", "clusterrolebinding"):
            assert get_json(kubectl, "hub", kind, DEPLOYMENT) is None, kind
        crds = get_json(kubectl, "hub", "crd")
        assert crds is not None
        names = {c["metadata"]["name"] for c in crds["items"]}
        assert {f"{p}.hybridfed.io" for p in ("memberclusters", "federateddeployments", "federatedconfigmaps",
                                             "federatedobjects")} <= names
        assert get_json(kubectl, "hub", "-n", APP_NS, "federatedconfigmap", "survives-uninstall") is not None
        assert get_json(kubectl, "hub", "membercluster", "idc-bj") is not None
        for kind in POLICY_KINDS:
            assert get_json(kubectl, "hub", kind, POLICY) is not None, kind
    finally:
        kubectl("hub", "-n", APP_NS, "delete", "federatedconfigmap", "survives-uninstall", "--ignore-not-found",
                "--timeout=60s", timeout=70, check=False)
