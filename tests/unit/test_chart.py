"""The Helm chart, rendered by the real helm binary: lint, RBAC, pod settings, values validation.

What the rendered objects do on a real API server is proven in tests/e2e/test_helm.py; these tests pin
what the chart says (least privilege, restricted pod security, the operator's flags) and that bad values
fail with a message naming the value.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from hybridfed.api import kinds
from hybridfed.cli import main as cli
from tests import helm_support

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "manifests" / "charts" / "hybridfed"
HELM, KUBE_VERSION = helm_support.HELM, helm_support.KUBE_VERSION
NAMESPACE = "hybridfed-system"

pytestmark = pytest.mark.skipif(not HELM.exists(), reason=f"{HELM} is missing: run `make tools`")

Render = Callable[..., list[dict[str, Any]]]


def helm(*args: str, chart: Path = CHART) -> subprocess.CompletedProcess[str]:
    return helm_support.helm(*args, chart=chart)


def render_chart(*sets: str, chart: Path = CHART, check: bool = True) -> list[dict[str, Any]]:
    args = ["template", "hybridfed", str(chart), "--namespace", NAMESPACE, "--kube-version", KUBE_VERSION]
    for s in sets:
        args += ["--set", s]
    result = helm(*args, chart=chart)
    if check:
        assert result.returncode == 0, result.stderr
    return [d for d in yaml.safe_load_all(result.stdout) if d]


def template_error(*sets: str) -> str:
    args = ["template", "hybridfed", str(CHART), "--namespace", NAMESPACE, "--kube-version", KUBE_VERSION]
    for s in sets:
        args += ["--set", s]
    result = helm(*args)
    assert result.returncode != 0, f"{sets} rendered without error"
    return result.stderr


one = helm_support.one


@pytest.fixture(scope="module")
def default_docs() -> list[dict[str, Any]]:
    return render_chart()


def test_helm_lint_is_clean() -> None:
    result = helm("lint", str(CHART), "--strict", "--kube-version", KUBE_VERSION)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "[WARNING]" not in result.stdout and "[ERROR]" not in result.stdout, result.stdout


def test_default_render_has_the_operator_pieces(default_docs: list[dict[str, Any]]) -> None:
    names = sorted((d["kind"], d["metadata"]["name"]) for d in default_docs)
    assert names == sorted([
        ("ServiceAccount", "hybridfed-operator"),
        ("ClusterRole", "hybridfed-operator"),
        ("ClusterRoleBinding", "hybridfed-operator"),
        ("Role", "hybridfed-operator"),
        ("RoleBinding", "hybridfed-operator"),
        ("Service", "hybridfed-operator-metrics"),
        ("Deployment", "hybridfed-operator"),
        ("PodDisruptionBudget", "hybridfed-operator"),
        ("ValidatingAdmissionPolicy", "hybridfed-template-namespace"),
        ("ValidatingAdmissionPolicy", "hybridfed-cluster-set-label"),
        ("ValidatingAdmissionPolicy", "hybridfed-cluster-set-bind"),
        ("ValidatingAdmissionPolicyBinding", "hybridfed-template-namespace"),
        ("ValidatingAdmissionPolicyBinding", "hybridfed-cluster-set-label"),
        ("ValidatingAdmissionPolicyBinding", "hybridfed-cluster-set-bind"),
    ])
    for d in default_docs:
        if d["kind"] not in ("ClusterRole", "ClusterRoleBinding", "ValidatingAdmissionPolicy",
                             "ValidatingAdmissionPolicyBinding"):
            assert d["metadata"]["namespace"] == NAMESPACE, d["metadata"]


def _rules(docs: list[dict[str, Any]], kind: str) -> list[tuple[str, str, str, str]]:
    """Flattened (apiGroup, resource, verb, resourceName or '*') of a ClusterRole or Role."""
    out = []
    for rule in one(docs, kind, "hybridfed-operator")["rules"]:
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                for verb in rule["verbs"]:
                    for name in rule.get("resourceNames") or ["*"]:
                        out.append((group, resource, verb, name))
    return sorted(out)


def test_cluster_role_grants_exactly_what_the_operator_does(default_docs: list[dict[str, Any]]) -> None:
    federated = [row.plural for row in kinds.FEDERATED_KINDS.values()]
    want = [("hybridfed.io", r, v, "*") for r in ("memberclusters", "memberclustersets", "memberclustersetbindings")
            for v in ("list", "watch")]
    want += [("hybridfed.io", "memberclusters/status", "patch", "*")]
    want += [("hybridfed.io", "memberclusters", "patch", "*")]  # the unjoin finalizer
    want += [("", "namespaces", "get", "*")]  # the hub admin's policy labels on a tenant namespace
    for plural in federated:
        want += [("hybridfed.io", plural, v, "*") for v in ("list", "watch", "patch")]  # patch: the finalizer
        want += [("hybridfed.io", f"{plural}/status", "patch", "*")]
    want += [("", "events", "create", "*")]
    # Pull members: their Works (any member namespace) and their agents' heartbeat Leases.
    want += [("hybridfed.io", "works", v, "*") for v in ("get", "list", "watch", "create", "patch", "delete")]
    want += [("coordination.k8s.io", "leases", "get", "*")]
    want += [("apiextensions.k8s.io", "customresourcedefinitions", v, "*") for v in ("list", "watch")]
    assert _rules(default_docs, "ClusterRole") == sorted(want)


def test_namespaced_role_reads_secrets_by_name_and_one_lease(default_docs: list[dict[str, Any]]) -> None:
    assert _rules(default_docs, "Role") == sorted([
        ("", "secrets", "get", "*"),
        ("", "secrets", "patch", "*"),  # renewing a member's time-bound token (members/rotation.py)
        ("coordination.k8s.io", "leases", "create", "*"),
        ("coordination.k8s.io", "leases", "get", "hybridfed-operator"),
        ("coordination.k8s.io", "leases", "update", "hybridfed-operator"),
    ])
    role = one(default_docs, "Role")
    assert role["metadata"]["namespace"] == NAMESPACE


def test_no_rule_anywhere_is_a_wildcard_or_escalation(default_docs: list[dict[str, Any]]) -> None:
    for kind in ("ClusterRole", "Role"):
        for group, resource, verb, _ in _rules(default_docs, kind):
            assert "*" not in (group, resource, verb)
            assert verb not in ("escalate", "bind", "impersonate", "deletecollection")
            # Deleting a Work is how the hub tells a Pull member's agent to remove an object: the only delete.
            assert verb != "delete" or (group, resource) == ("hybridfed.io", "works")
            assert resource not in ("clusterroles", "roles", "clusterrolebindings", "rolebindings", "pods/exec")
            if resource == "secrets":
                assert kind == "Role" and verb in ("get", "patch")


def test_bindings_name_the_chart_service_account(default_docs: list[dict[str, Any]]) -> None:
    for kind, role_kind in (("ClusterRoleBinding", "ClusterRole"), ("RoleBinding", "Role")):
        binding = one(default_docs, kind)
        assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": role_kind,
                                      "name": "hybridfed-operator"}
        assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "hybridfed-operator",
                                        "namespace": NAMESPACE}]


def test_leader_election_off_drops_the_lease_rules_and_the_flag() -> None:
    docs = render_chart("leaderElection.enabled=false", "replicaCount=1")
    assert not [r for r in _rules(docs, "Role") if r[1] == "leases"]
    args = one(docs, "Deployment")["spec"]["template"]["spec"]["containers"][0]["args"]
    assert "--leader-elect" not in args
    assert not [d for d in docs if d["kind"] == "PodDisruptionBudget"]


def test_extra_member_secret_namespaces_get_their_own_secrets_role() -> None:
    docs = render_chart("rbac.memberSecretNamespaces={fleet-creds}")
    role = one(docs, "Role", "hybridfed-operator-member-secrets")
    assert role["metadata"]["namespace"] == "fleet-creds"
    assert role["rules"] == [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get", "patch"]}]
    binding = one(docs, "RoleBinding", "hybridfed-operator-member-secrets")
    assert binding["subjects"][0] == {"kind": "ServiceAccount", "name": "hybridfed-operator", "namespace": NAMESPACE}


def test_rbac_can_be_left_to_the_cluster_admin() -> None:
    docs = render_chart("rbac.create=false", "serviceAccount.create=false", "serviceAccount.name=ops-sa")
    assert not [d for d in docs if d["kind"] in ("ClusterRole", "Role", "ClusterRoleBinding", "RoleBinding",
                                                 "ServiceAccount")]
    assert one(docs, "Deployment")["spec"]["template"]["spec"]["serviceAccountName"] == "ops-sa"
    assert "serviceAccount.name is required" in template_error("serviceAccount.create=false")


def _pod(docs: list[dict[str, Any]]) -> dict[str, Any]:
    spec: dict[str, Any] = one(docs, "Deployment")["spec"]["template"]["spec"]
    return spec


def test_pod_is_restricted(default_docs: list[dict[str, Any]]) -> None:
    pod = _pod(default_docs)
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    (container,) = pod["containers"]
    sc = container["securityContext"]
    assert sc["runAsNonRoot"] is True
    assert sc["readOnlyRootFilesystem"] is True
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"] == {"drop": ["ALL"]}
    assert sc["seccompProfile"] == {"type": "RuntimeDefault"}
    assert container["resources"]["requests"] and container["resources"]["limits"]
    assert {"name": "tmp", "mountPath": "/tmp"} in container["volumeMounts"]
    assert pod["serviceAccountName"] == "hybridfed-operator"
    assert one(default_docs, "ServiceAccount")["automountServiceAccountToken"] is False
    assert pod["automountServiceAccountToken"] is True


def test_operator_args_are_flags_the_operator_accepts(default_docs: list[dict[str, Any]]) -> None:
    (container,) = _pod(default_docs)["containers"]
    args = container["args"]
    assert f"--namespace={NAMESPACE}" in args
    assert "--leader-elect" in args
    assert "--metrics-port=8080" in args
    parsed = cli.build_parser().parse_args(["operator", *args])  # the image's ENTRYPOINT is `hybridfed operator`
    assert parsed.namespace == NAMESPACE and parsed.leader_elect is True
    assert {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}} in container["env"]


def test_two_replicas_spread_and_keep_one_through_disruptions(default_docs: list[dict[str, Any]]) -> None:
    deployment = one(default_docs, "Deployment")
    assert deployment["spec"]["replicas"] == 2
    assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    anti = _pod(default_docs)["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"]
    assert anti[0]["podAffinityTerm"]["topologyKey"] == "kubernetes.io/hostname"
    assert one(default_docs, "PodDisruptionBudget")["spec"]["minAvailable"] == 1


def test_image_pod_placement_and_pull_secrets_come_from_values() -> None:
    docs = render_chart("image.registry=registry.corp.example:5000", "image.repository=platform/hybridfed",
                        "image.tag=1.2.3", "image.pullSecrets={corp-pull}", "nodeSelector.role=infra",
                        "tolerations[0].key=dedicated", "tolerations[0].operator=Exists",
                        "tolerations[0].effect=NoSchedule",
                        "affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution"
                        ".nodeSelectorTerms[0].matchExpressions[0].key=zone",
                        "affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution"
                        ".nodeSelectorTerms[0].matchExpressions[0].operator=Exists",
                        "resources.limits.cpu=2")
    pod = _pod(docs)
    assert pod["containers"][0]["image"] == "registry.corp.example:5000/platform/hybridfed:1.2.3"
    assert pod["imagePullSecrets"] == [{"name": "corp-pull"}]
    assert pod["nodeSelector"] == {"role": "infra"}
    assert pod["tolerations"] == [{"key": "dedicated", "operator": "Exists", "effect": "NoSchedule"}]
    assert "nodeAffinity" in pod["affinity"] and "podAntiAffinity" not in pod["affinity"]
    assert pod["containers"][0]["resources"]["limits"]["cpu"] == 2


def test_image_defaults_to_app_version_and_takes_a_digest() -> None:
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    digest = "sha256:" + "a" * 64
    (container,) = _pod(render_chart("image.registry=", f"image.digest={digest}"))["containers"]
    assert container["image"] == f"hybridfed/operator:{chart['appVersion']}@{digest}"


def test_metrics_service_targets_the_operator_port(default_docs: list[dict[str, Any]]) -> None:
    service = one(default_docs, "Service")
    assert service["spec"]["ports"] == [{"name": "metrics", "port": 8080, "targetPort": "metrics", "protocol": "TCP"}]
    assert service["spec"]["selector"] == one(default_docs, "Deployment")["spec"]["selector"]["matchLabels"]
    (container,) = _pod(default_docs)["containers"]
    assert container["ports"] == [{"name": "metrics", "containerPort": 8080, "protocol": "TCP"}]
    assert container["readinessProbe"]["httpGet"] == {"path": "/metrics", "port": "metrics"}


def test_metrics_off_removes_service_port_and_probes() -> None:
    docs = render_chart("metrics.enabled=false")
    assert not [d for d in docs if d["kind"] == "Service"]
    (container,) = _pod(docs)["containers"]
    assert "ports" not in container and "livenessProbe" not in container
    assert not [a for a in container["args"] if a.startswith("--metrics-port")]


def test_service_monitor_scrapes_the_metrics_service() -> None:
    docs = render_chart("metrics.serviceMonitor.enabled=true", "metrics.serviceMonitor.labels.release=kps")
    monitor = one(docs, "ServiceMonitor")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert monitor["metadata"]["labels"]["release"] == "kps"
    assert monitor["spec"]["endpoints"][0]["port"] == "metrics"
    service_labels = one(docs, "Service")["metadata"]["labels"]
    assert service_labels.items() >= monitor["spec"]["selector"]["matchLabels"].items()


def test_admission_policy_is_the_generated_one_labelled_and_kept(default_docs: list[dict[str, Any]]) -> None:
    generated = list(yaml.safe_load_all((ROOT / "crds" / "admission-policies.hybridfed.io.yaml").read_text()))
    for source in generated:
        rendered = one(default_docs, source["kind"], source["metadata"]["name"])
        assert rendered["spec"] == source["spec"]
        assert rendered["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "Helm"
        assert rendered["metadata"]["annotations"] == {"helm.sh/resource-policy": "keep"}
    docs = render_chart("admissionPolicy.keepOnUninstall=false")
    assert "annotations" not in one(docs, "ValidatingAdmissionPolicy", "hybridfed-template-namespace")["metadata"]
    docs = render_chart("admissionPolicy.enabled=false")
    assert not [d for d in docs if d["kind"].startswith("ValidatingAdmissionPolicy")]


def test_crds_folder_holds_exactly_the_generated_crds() -> None:
    generated = sorted(p.name for p in (ROOT / "crds").glob("*.yaml") if not p.name.startswith("admission-"))
    assert sorted(p.name for p in (CHART / "crds").glob("*.yaml")) == generated
    for name in generated:
        crd = yaml.safe_load((CHART / "crds" / name).read_text())
        assert crd["kind"] == "CustomResourceDefinition"


@pytest.fixture()
def chart_with_monitoring(tmp_path: Path) -> Path:
    """A copy of the chart with a rules file and a dashboard, as hack/sync_chart.py copies them in."""
    chart = tmp_path / "hybridfed"
    shutil.copytree(CHART, chart)
    rules = {"groups": [{"name": "hybridfed", "rules": [
        {"alert": "HybridfedMemberNotReady", "expr": "hybridfed_member_ready == 0", "for": "2m",
         "labels": {"severity": "warning"}, "annotations": {"summary": "member {{ $labels.cluster }} is NotReady"}}]}]}
    (chart / "files" / "prometheus-rules.yaml").write_text(yaml.safe_dump(rules))
    shutil.rmtree(chart / "files" / "dashboards", ignore_errors=True)
    (chart / "files" / "dashboards").mkdir()
    (chart / "files" / "dashboards" / "fleet.json").write_text('{"title": "hybridfed fleet", "panels": []}\n')
    return chart


def test_prometheus_rule_carries_the_rules_file(chart_with_monitoring: Path) -> None:
    docs = render_chart("metrics.prometheusRule.enabled=true", chart=chart_with_monitoring)
    rule = one(docs, "PrometheusRule")
    assert rule["spec"]["groups"][0]["rules"][0]["alert"] == "HybridfedMemberNotReady"
    # Prometheus' own template syntax survives Helm's templating untouched.
    assert rule["spec"]["groups"][0]["rules"][0]["annotations"]["summary"] == "member {{ $labels.cluster }} is NotReady"


def test_prometheus_rule_also_reads_a_prometheusrule_object(chart_with_monitoring: Path) -> None:
    groups = [{"name": "g", "rules": [{"record": "r", "expr": "1"}]}]
    obj = {"apiVersion": "monitoring.coreos.com/v1", "kind": "PrometheusRule", "metadata": {"name": "x"},
           "spec": {"groups": groups}}
    (chart_with_monitoring / "files" / "prometheus-rules.yaml").write_text(yaml.safe_dump(obj))
    rule = one(render_chart("metrics.prometheusRule.enabled=true", chart=chart_with_monitoring), "PrometheusRule")
    assert rule["spec"]["groups"] == groups


def test_dashboards_are_configmaps_for_the_grafana_sidecar(chart_with_monitoring: Path) -> None:
    docs = render_chart("dashboards.enabled=true", chart=chart_with_monitoring)
    cm = one(docs, "ConfigMap")
    assert cm["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert cm["metadata"]["annotations"] == {"grafana_folder": "hybridfed"}
    assert cm["data"] == {"fleet.json": '{"title": "hybridfed fleet", "panels": []}'}


def test_enabling_monitoring_without_its_files_says_which_file(tmp_path: Path) -> None:
    chart = tmp_path / "hybridfed"
    shutil.copytree(CHART, chart)
    (chart / "files" / "prometheus-rules.yaml").unlink(missing_ok=True)
    shutil.rmtree(chart / "files" / "dashboards", ignore_errors=True)
    for value, file in (("metrics.prometheusRule.enabled=true", "files/prometheus-rules.yaml"),
                        ("dashboards.enabled=true", "files/dashboards/*.json")):
        result = helm("template", "x", str(chart), "--kube-version", KUBE_VERSION, "--set", value, chart=chart)
        assert result.returncode != 0 and file in result.stderr, result.stderr


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("replicaCount=0", "/replicaCount"),
        ("replicaCount=two", "/replicaCount"),
        ("image.pullPolicy=Sometimes", "/image/pullPolicy"),
        ("image.digest=latest", "/image/digest"),
        ("image.pullSecrets[0].name=regcred", "/image/pullSecrets/0"),
        ("metrics.port=80", "/metrics/port"),
        ("operator.logLevel=loud", "/operator/logLevel"),
        ("operator.extraArgs={verbose}", "/operator/extraArgs/0"),
        ("securityContext.runAsNonRoot=false", "/securityContext/runAsNonRoot"),
        ("securityContext.allowPrivilegeEscalation=true", "/securityContext/allowPrivilegeEscalation"),
        ("tolerations[0].effect=Sometimes", "/tolerations/0/effect"),
        ("rbac.memberSecretNamespaces={Not_A_Namespace}", "/rbac/memberSecretNamespaces/0"),
        ("replicas=2", "'replicas' not allowed"),
        ("metrics.serviceMonitor.interval=often", "/metrics/serviceMonitor/interval"),
    ],
)
def test_bad_values_fail_naming_the_value(value: str, message: str) -> None:
    error = template_error(value)
    assert "values don't meet the specifications of the schema" in error, error
    assert message in error, error


def test_replicas_without_leader_election_are_refused_with_a_reason() -> None:
    error = template_error("leaderElection.enabled=false")
    assert "replicaCount: 2 replicas need leaderElection.enabled=true" in error, error
    assert "needs metrics.enabled=true" in template_error("metrics.enabled=false",
                                                          "metrics.serviceMonitor.enabled=true")


def test_an_old_cluster_is_refused() -> None:
    result = helm("template", "x", str(CHART), "--kube-version", "1.29.0")
    assert result.returncode != 0 and "kubeVersion" in result.stderr, result.stderr


def test_shipped_rules_and_dashboards_render_verbatim() -> None:
    """The chart's copies of manifests/prometheus/rules.yaml and manifests/grafana/*.json, as rendered."""
    dashboards = sorted((CHART / "files" / "dashboards").glob("*.json"))
    rules = CHART / "files" / "prometheus-rules.yaml"
    assert dashboards, "the chart ships no dashboards: run .venv/bin/python hack/sync_chart.py"
    assert rules.exists(), "the chart ships no Prometheus rules: run .venv/bin/python hack/sync_chart.py"
    docs = render_chart("metrics.prometheusRule.enabled=true", "dashboards.enabled=true")
    source = yaml.safe_load(rules.read_text())
    groups = source.get("groups") or source["spec"]["groups"]
    assert one(docs, "PrometheusRule")["spec"]["groups"] == groups
    configmaps = {d["metadata"]["name"]: d for d in docs if d["kind"] == "ConfigMap"}
    for path in dashboards:
        cm = configmaps[f"hybridfed-dashboard-{path.stem}"[:63].rstrip("-")]
        assert json.loads(cm["data"][path.name]) == json.loads(path.read_text())
        assert len(cm["data"][path.name].encode()) < 1024 * 1024  # a ConfigMap's limit
